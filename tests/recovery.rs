//! A recovered person finds their friends by themselves (PROTOCOL.md
//! §11.5): the recovery code carries where the fresh install listens, each
//! approving contact's node dials it, and the fresh install's door lets
//! them in before it knows who they are. And the door as an attacker
//! would use it: a stranger holding the code is let in, asked, served
//! nothing, and shut out.

use std::time::Duration;

use kith_node::device_link::RecoveryCode;
use kith_node::ops;
use kith_protocol::AuthorId;
use kith_testkit::{TestNode, connect, wait_until};

/// Alice names contacts, loses every key, and asks from a fresh install
/// whose code carries its addresses.
struct Lost {
    alice: AuthorId,
    fresh: TestNode,
    code: String,
    new: AuthorId,
}

async fn lose(mut alice: TestNode, threshold: u8, contacts: &[&TestNode]) -> Lost {
    alice
        .handle()
        .call(ops::ProfileSet {
            name: "Alice".into(),
            about: String::new(),
        })
        .await
        .unwrap();
    alice
        .handle()
        .call(ops::RecoverySet {
            threshold,
            contacts: contacts.iter().map(|c| c.author().into()).collect(),
        })
        .await
        .unwrap();
    let a = alice.author();
    let head = alice.seq(a).await;
    for c in contacts {
        c.wait_for_seq(a, head).await;
    }
    alice.stop().await;
    let fresh = TestNode::start_with("fresh", 9, |c| {
        c.recovery_probation = Duration::from_secs(3);
    })
    .await;
    let addrs = fresh.handle().call(ops::Invite {}).await.unwrap().addrs;
    let request = fresh
        .handle()
        .call(ops::RecoveryRequest {
            old: a.into(),
            addrs: addrs.clone(),
        })
        .await
        .unwrap();
    assert!(request.code.starts_with("kithr2"), "{}", request.code);
    assert_eq!(request.addrs, addrs);
    Lost {
        alice: a,
        fresh,
        code: request.code,
        new: request.new,
    }
}

async fn approve(contact: &TestNode, code: &str) {
    let view = contact
        .handle()
        .call(ops::RecoveryApprove {
            code: code.to_string(),
            seen: None,
        })
        .await
        .unwrap();
    assert!(!view.dialled.is_empty(), "the code's addresses are dialled");
}

async fn identity_of(node: &TestNode, person: AuthorId) -> AuthorId {
    node.handle()
        .call(ops::Devices {
            of: Some(person.into()),
        })
        .await
        .unwrap()
        .identity
}

/// No invite, no `trust`, no `dial` on the fresh install: the two
/// approving contacts' nodes dial it, it fetches the lost key's log from
/// them, trusts them as the contacts that log names, sees the recovery
/// hold, and a friend of Alice's gets her next post through them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovered_person_finds_friends_without_an_invite() {
    let alice = TestNode::start("alice", 1).await;
    let bob = TestNode::start("bob", 2).await;
    let carol = TestNode::start("carol", 3).await;
    let dave = TestNode::start("dave", 4).await;
    let frank = TestNode::start("frank", 6).await;
    for other in [&bob, &carol, &dave, &frank] {
        connect(&alice, other).await;
    }
    // Frank, Alice's friend, knows bob and carol.
    for c in [&bob, &carol] {
        connect(c, &frank).await;
    }
    let lost = lose(alice, 2, &[&bob, &carol, &dave]).await;
    let (a, fresh, new) = (lost.alice, &lost.fresh, lost.new);
    approve(&bob, &lost.code).await;
    approve(&carol, &lost.code).await;

    fresh
        .wait_for(
            "the recovery never held on the fresh install",
            |h| async move {
                h.call(ops::Devices { of: Some(a.into()) })
                    .await
                    .unwrap()
                    .identity
                    == new
            },
        )
        .await;
    let person = fresh
        .handle()
        .call(ops::Devices { of: None })
        .await
        .unwrap();
    assert_eq!(person.root, a, "the fresh install is Alice again");
    assert_eq!(person.recovered_by.len(), 2);
    // It trusts nobody by hand: the contacts are in its set because the
    // lost key's log names them, and they are connected as trusted peers.
    let trusted = fresh.handle().call(ops::TrustList {}).await.unwrap();
    assert!(trusted.is_empty(), "{trusted:?}");
    fresh.wait_connected(&bob).await;
    fresh.wait_connected(&carol).await;
    let status = fresh.handle().call(ops::Status {}).await.unwrap();
    assert_eq!(status.recovering, None, "the door shuts once it holds");

    frank
        .wait_for("frank never followed the recovery", |h| async move {
            h.call(ops::Devices { of: Some(a.into()) })
                .await
                .unwrap()
                .identity
                == new
        })
        .await;
    let post = fresh.post("I am back, and found you all").await;
    frank.wait_for_seq(fresh.author(), post.seq).await;
    let feed = frank.feed(10).await;
    let seen = feed.iter().find(|e| e.id == post.id).unwrap();
    assert_eq!(seen.author_name.as_deref(), Some("Alice"));
    assert_eq!(identity_of(&bob, a).await, new);
}

/// Mallory got hold of the code (it travels by chat or mail). Her
/// modified client trusts the fresh install and dials it: she is let in,
/// never sees a byte of its logs, is shut out after the probation, and
/// once the recovery holds the door refuses her outright. Bob, who
/// approves meanwhile, gets in beside her.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_with_the_code_is_let_in_served_nothing_and_shut_out() {
    let alice = TestNode::start("alice", 1).await;
    let bob = TestNode::start("bob", 2).await;
    let carol = TestNode::start("carol", 3).await;
    let mallory = TestNode::start("mallory", 13).await;
    connect(&alice, &bob).await;
    connect(&alice, &carol).await;
    let lost = lose(alice, 1, &[&bob, &carol]).await;
    let (fresh, new) = (&lost.fresh, lost.new);
    let code = RecoveryCode::decode(&lost.code).unwrap();

    mallory.trust(fresh).await;
    for addr in &code.addrs {
        let _ = mallory
            .handle()
            .call(ops::Dial {
                addr: format!("{addr}/p2p/{}", code.device),
            })
            .await;
    }
    mallory.wait_connected(fresh).await;
    fresh
        .wait_for("mallory was not let in", |h| async move {
            h.call(ops::Status {}).await.unwrap().let_in == 1
        })
        .await;
    let status = fresh.handle().call(ops::Status {}).await.unwrap();
    assert_eq!(status.recovering, Some(lost.alice));
    let peers = fresh.handle().call(ops::Peers {}).await.unwrap();
    assert!(
        peers.iter().all(|p| p.author != mallory.author()),
        "a peer let in is not a trusted peer: {peers:?}"
    );
    // The probation (3 s here) ends with her connection closed.
    wait_until(
        mallory.handle(),
        || async { !mallory.is_connected(fresh.author()).await },
        || async { "the fresh install never shut mallory out".to_string() },
    )
    .await;
    for author in [fresh.author(), new] {
        assert_eq!(
            mallory.head(author).await,
            None,
            "mallory got entries of {author}"
        );
    }

    // Bob approves while the door is open: he gets in, and the recovery
    // (threshold 1) holds.
    approve(&bob, &lost.code).await;
    let a = lost.alice;
    fresh
        .wait_for("the recovery never held", |h| async move {
            h.call(ops::Devices { of: Some(a.into()) })
                .await
                .unwrap()
                .identity
                == new
        })
        .await;
    fresh.wait_connected(&bob).await;
    // Shut now: mallory's next connection is refused.
    let before = fresh
        .handle()
        .call(ops::Status {})
        .await
        .unwrap()
        .refused_connections;
    let _ = mallory
        .handle()
        .call(ops::Dial {
            addr: format!("{}/p2p/{}", code.addrs[0], code.device),
        })
        .await;
    fresh
        .wait_for("mallory's connection was not refused", |h| async move {
            h.call(ops::Status {}).await.unwrap().refused_connections > before
        })
        .await;
    let status = fresh.handle().call(ops::Status {}).await.unwrap();
    assert_eq!((status.recovering, status.let_in), (None, 0));
    for author in [fresh.author(), new] {
        assert_eq!(mallory.head(author).await, None);
    }
}
