//! Recovery without an invite (PROTOCOL.md §11.5): Alice names recovery
//! contacts, loses every key, and asks from a fresh install whose code
//! carries the addresses it listens on. The approving contacts' nodes dial
//! it; a friend of Alice's then gets her posts from the fresh install.
//! Shared by `tests/recovery.rs` (what happens) and `benches/recovery.rs`
//! (how long it takes).

use std::time::{Duration, Instant};

use kith_node::ops;
use kith_protocol::AuthorId;
use kith_testkit::{TestNode, connect};

/// Alice lost every key and asks from `fresh`.
pub struct Lost {
    pub alice: AuthorId,
    pub fresh: TestNode,
    /// The recovery code (`kithr2…`).
    pub code: String,
    /// The new identity key it asks for.
    pub new: AuthorId,
}

/// Alice (already connected to `contacts`) names them with `threshold`,
/// stops for good, and a fresh install (probation `probation`) asks with
/// its addresses in the code.
pub async fn lose(
    mut alice: TestNode,
    threshold: u8,
    contacts: &[&TestNode],
    probation: Duration,
) -> Lost {
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
    let fresh = TestNode::start_with("fresh", 9, |c| c.recovery_probation = probation).await;
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

/// `contact` vouches for the code; its node dials the fresh install.
pub async fn approve(contact: &TestNode, code: &str) {
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

/// The identity key of `person` as `node` resolves it.
pub async fn identity_of(node: &TestNode, person: AuthorId) -> AuthorId {
    node.handle()
        .call(ops::Devices {
            of: Some(person.into()),
        })
        .await
        .unwrap()
        .identity
}

/// Every node of one run, after the recovery.
pub struct World {
    pub lost: Lost,
    pub bob: TestNode,
    pub carol: TestNode,
    pub dave: TestNode,
    pub frank: TestNode,
}

/// What one run measured.
#[derive(Debug, Clone, Copy)]
pub struct Timings {
    /// From the second approval until the fresh install holds the
    /// recovery (it resolves Alice's identity to the new key).
    pub holds: Duration,
    /// From the second approval until frank holds a post the fresh
    /// install wrote once its recovery held.
    pub friend_has_post: Duration,
    /// Baseline of the same run: a post from bob reaching frank, directly
    /// connected.
    pub direct_post: Duration,
}

/// Alice with contacts bob, carol, dave (2 of 3) and friend frank, who
/// knows bob and carol; Alice loses every key; bob and carol approve; the
/// fresh install posts as soon as its recovery holds.
pub async fn run() -> (World, Timings) {
    let alice = TestNode::start("alice", 1).await;
    let bob = TestNode::start("bob", 2).await;
    let carol = TestNode::start("carol", 3).await;
    let dave = TestNode::start("dave", 4).await;
    let frank = TestNode::start("frank", 6).await;
    for other in [&bob, &carol, &dave, &frank] {
        connect(&alice, other).await;
    }
    for c in [&bob, &carol] {
        connect(c, &frank).await;
    }
    let lost = lose(alice, 2, &[&bob, &carol, &dave], Duration::from_secs(30)).await;
    let (a, new) = (lost.alice, lost.new);
    approve(&bob, &lost.code).await;
    let start = Instant::now();
    approve(&carol, &lost.code).await;
    lost.fresh.wait_identity(a, new).await;
    let holds = start.elapsed();
    let post = lost.fresh.post("I am back, and found you all").await;
    frank.wait_for_seq(lost.fresh.author(), post.seq).await;
    let friend_has_post = start.elapsed();
    let base = Instant::now();
    let post = bob.post("welcome back").await;
    frank.wait_for_seq(bob.author(), post.seq).await;
    let direct_post = base.elapsed();
    let world = World {
        lost,
        bob,
        carol,
        dave,
        frank,
    };
    (
        world,
        Timings {
            holds,
            friend_has_post,
            direct_post,
        },
    )
}
