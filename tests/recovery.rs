//! A recovered person finds their friends by themselves (PROTOCOL.md
//! §11.5): the recovery code carries where the fresh install listens, each
//! approving contact's node dials it, and the fresh install's door lets
//! them in before it knows who they are. And the door as an attacker
//! would use it: a stranger holding the code is let in, asked, served
//! nothing, and shut out.

use std::time::Duration;

use kith_node::device_link::RecoveryCode;
use kith_node::ops;
use kith_testkit::{TestNode, connect, wait_until};
use kith_tests::scenarios::recovery::{approve, identity_of, lose, run};

/// No invite, no `trust`, no `dial` on the fresh install: the two
/// approving contacts' nodes dial it, it fetches the lost key's log from
/// them, trusts them as the contacts that log names, sees the recovery
/// hold, and a friend of Alice's gets her next post through them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovered_person_finds_friends_without_an_invite() {
    let (world, _) = run().await;
    let (a, new, fresh) = (world.lost.alice, world.lost.new, &world.lost.fresh);
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
    fresh.wait_connected(&world.bob).await;
    fresh.wait_connected(&world.carol).await;
    let status = fresh.handle().call(ops::Status {}).await.unwrap();
    assert_eq!(status.recovering, None, "the door shuts once it holds");
    // Frank followed the recovery and holds Alice's post from the fresh
    // install (`run` waited for it), shown as Alice's.
    assert_eq!(identity_of(&world.frank, a).await, new);
    let feed = world.frank.feed(10).await;
    let seen = feed
        .iter()
        .find(|e| e.author == fresh.author())
        .expect("frank holds the fresh install's post");
    assert_eq!(seen.author_name.as_deref(), Some("Alice"));
    assert_eq!(identity_of(&world.bob, a).await, new);
}

/// Mallory got hold of the code (it travels by chat or mail). Her
/// modified client trusts the fresh install and dials it: she is let in,
/// never sees a byte of its logs (not even a post it writes meanwhile), is
/// shut out after the probation and not let in again, and once the
/// recovery holds the door refuses her outright. Bob, who
/// approves meanwhile, gets in beside her.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_with_the_code_is_let_in_served_nothing_and_shut_out() {
    let alice = TestNode::start("alice", 1).await;
    let bob = TestNode::start("bob", 2).await;
    let carol = TestNode::start("carol", 3).await;
    let mallory = TestNode::start("mallory", 13).await;
    connect(&alice, &bob).await;
    connect(&alice, &carol).await;
    let lost = lose(alice, 1, &[&bob, &carol], Duration::from_secs(3)).await;
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
    // What the install writes meanwhile does not reach her by gossip.
    fresh.post("written while mallory is let in").await;
    let peers = fresh.handle().call(ops::Peers {}).await.unwrap();
    assert!(
        peers.iter().all(|p| p.author != mallory.author()),
        "a peer let in is not a trusted peer: {peers:?}"
    );
    // The probation (3 s here) ends with her connection closed, and her
    // node's redials are refused while the door stays open.
    wait_until(
        mallory.handle(),
        || async { !mallory.is_connected(fresh.author()).await },
        || async { "the fresh install never shut mallory out".to_string() },
    )
    .await;
    fresh
        .wait_for("mallory was let in again", |h| async move {
            h.call(ops::Status {}).await.unwrap().refused_connections > 0
        })
        .await;
    let status = fresh.handle().call(ops::Status {}).await.unwrap();
    assert_eq!((status.recovering, status.let_in), (Some(lost.alice), 0));
    for author in [fresh.author(), new] {
        assert_eq!(
            mallory.head(author).await,
            None,
            "mallory got entries of {author}"
        );
    }
    // Not a gossip message came to her (she is connected to nobody else).
    let gossip = mallory.handle().call(ops::Status {}).await.unwrap().gossip;
    assert_eq!(
        gossip.accepted + gossip.ignored + gossip.rejected,
        0,
        "the fresh install gossiped to mallory: {gossip:?}"
    );

    // Bob approves while the door is open: he gets in, and the recovery
    // (threshold 1) holds.
    approve(&bob, &lost.code).await;
    fresh.wait_identity(lost.alice, new).await;
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
