//! Private circles over real libp2p nodes: members read, a trusted
//! non-member relays ciphertext it cannot read (checked on its store's
//! bytes), a removed member reads nothing new.

use std::path::Path;

use kith_node::model::EntryView;
use kith_node::ops;
use kith_tests::{TestNode, connect};

/// Whether any file under `dir` contains `needle`.
fn bytes_hold(dir: &Path, needle: &[u8]) -> bool {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for item in std::fs::read_dir(&d).unwrap() {
            let path = item.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path)
                && bytes.windows(needle.len()).any(|w| w == needle)
            {
                return true;
            }
        }
    }
    false
}

async fn circle_post(node: &TestNode, text: &str) -> EntryView {
    node.handle()
        .call(ops::Post {
            circle: Some("team".into()),
            text: text.into(),
            kind: kith_protocol::PostKind::Note,
            reply_to: None,
            tags: vec![],
        })
        .await
        .unwrap()
}

async fn reads(node: &TestNode, text: &str) -> bool {
    node.feed(100)
        .await
        .iter()
        .any(|e| e.text.as_deref() == Some(text))
}

async fn wait_reads(node: &TestNode, text: &'static str) {
    node.wait_for(
        &format!("{} never read {text:?}", node.name),
        |h| async move {
            h.call(ops::Feed::default())
                .await
                .unwrap()
                .iter()
                .any(|e| e.text.as_deref() == Some(text))
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_read_a_relay_carries_ciphertext_and_a_removed_member_reads_nothing_new() {
    let mut alice = TestNode::start("alice", 61).await;
    let mut bob = TestNode::start("bob", 62).await;
    let mut carol = TestNode::start("carol", 63).await;
    let mut dave = TestNode::start("dave", 64).await;
    connect(&alice, &bob).await;
    connect(&alice, &carol).await;
    connect(&alice, &dave).await;
    connect(&bob, &carol).await;
    // Each node published its encryption key when it started.
    for other in [&bob, &dave] {
        alice.wait_for_seq(other.author(), 1).await;
    }

    let team = alice
        .handle()
        .call(ops::CircleCreate {
            name: "team".into(),
            members: vec![bob.author().to_string(), dave.author().to_string()],
        })
        .await
        .unwrap();
    assert_eq!(team.members.len(), 3);
    let secret = circle_post(&alice, "the launch moves to friday").await;
    wait_reads(&bob, "the launch moves to friday").await;
    wait_reads(&dave, "the launch moves to friday").await;
    carol.wait_for_seq(alice.author(), secret.seq).await;
    assert!(!reads(&carol, "the launch moves to friday").await);
    let bobs = bob
        .handle()
        .call(ops::CircleShow {
            circle: "team".into(),
        })
        .await
        .unwrap();
    assert!(bobs.member && bobs.members.len() == 3);

    // Dave is removed; what Alice writes next he receives and cannot read.
    alice
        .handle()
        .call(ops::CircleRemove {
            circle: "team".into(),
            member: dave.author().to_string(),
        })
        .await
        .unwrap();
    let after = circle_post(&alice, "dave is not told this").await;
    wait_reads(&bob, "dave is not told this").await;
    dave.wait_for_seq(alice.author(), after.seq).await;
    assert!(
        reads(&dave, "the launch moves to friday").await,
        "he keeps what he had"
    );
    assert!(!reads(&dave, "dave is not told this").await);

    // Bob is away; Alice writes, Carol carries it, Alice leaves; Bob comes
    // back to Carol alone and reads it.
    bob.stop().await;
    let away = circle_post(&alice, "written while bob was away").await;
    carol.wait_for_seq(alice.author(), away.seq).await;
    alice.stop().await;
    bob.restart().await;
    bob.dial(&carol).await;
    wait_reads(&bob, "written while bob was away").await;
    assert!(!reads(&carol, "written while bob was away").await);

    // On disk: the relay and the removed member hold no plaintext of what
    // they could not read; a member's store does hold it (the check works).
    carol.stop().await;
    dave.stop().await;
    bob.stop().await;
    assert!(!bytes_hold(carol.dir.path(), b"moves to friday"));
    assert!(!bytes_hold(carol.dir.path(), b"bob was away"));
    assert!(!bytes_hold(dave.dir.path(), b"is not told this"));
    assert!(bytes_hold(dave.dir.path(), b"moves to friday"));
    assert!(bytes_hold(bob.dir.path(), b"bob was away"));
}
