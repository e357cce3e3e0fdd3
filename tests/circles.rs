//! Private circles over real libp2p nodes: members read, a trusted
//! non-member relays ciphertext it cannot read (checked on its store's
//! bytes), a removed member reads nothing new.

use std::path::Path;

use kith_node::model::EntryView;
use kith_node::ops;
use kith_testkit::{TestNode, connect};

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

pub(crate) async fn circle_post(node: &TestNode, text: &str) -> EntryView {
    node.handle()
        .call(ops::Post {
            circle: Some("team".into()),
            text: text.into(),
            kind: kith_protocol::PostKind::Note,
            reply_to: None,
            tags: vec![],
            files: Vec::new(),
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

pub(crate) async fn wait_reads(node: &TestNode, text: &'static str) {
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

async fn page_text(node: &TestNode, page: &str) -> String {
    node.handle()
        .call(ops::WikiShow {
            page: page.to_string(),
        })
        .await
        .unwrap()
        .body
}

/// The members of the circle "team" as `node` resolves them, in key order.
pub(crate) async fn members(node: &TestNode) -> Vec<kith_protocol::AuthorId> {
    let mut m: Vec<_> = node
        .handle()
        .call(ops::CircleShow {
            circle: "team".into(),
        })
        .await
        .unwrap()
        .members
        .iter()
        .map(|m| m.person)
        .collect();
    m.sort();
    m
}

/// Four members split two and two. Apart, Alice removes Dave, Bob
/// removes Carol, Carol (not told) posts, and Alice and Bob rewrite the
/// same sentence of the circle's page. Healed, every node agrees on the
/// members, the page merges, Carol's post is shown to nobody (Alice had
/// shown it while apart: her node takes it back), and the next post is
/// read by Alice and Bob alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_circle_split_in_two_converges_when_healed() {
    let mut nodes = Vec::new();
    for (name, seed) in [("alice", 71), ("bob", 72), ("carol", 73), ("dave", 74)] {
        nodes.push(TestNode::start(name, seed).await);
    }
    for a in &nodes {
        for b in &nodes {
            if a.author() != b.author() {
                a.trust(b).await;
            }
        }
    }
    for pair in nodes.windows(2) {
        connect(&pair[0], &pair[1]).await;
    }
    for m in &nodes {
        for n in &nodes {
            n.wait_for_seq(m.author(), 1).await; // everyone's encryption key
        }
    }
    let ids: Vec<String> = nodes.iter().map(|n| n.author().to_string()).collect();
    nodes[0]
        .handle()
        .call(ops::CircleCreate {
            name: "team".into(),
            members: ids[1..].to_vec(),
        })
        .await
        .unwrap();
    let page = nodes[0]
        .handle()
        .call(ops::WikiNew {
            circle: Some("team".into()),
            title: "Plan".into(),
            body: "We ship on Monday.\n\nThe demo is at noon.\n".into(),
        })
        .await
        .unwrap()
        .id
        .to_string();
    let head = nodes[0].seq(nodes[0].author()).await;
    for n in &nodes[1..] {
        n.wait_for_seq(nodes[0].author(), head).await;
    }
    for n in &nodes {
        let p = page.clone();
        n.wait_for(&format!("{} never read the page", n.name), |h| {
            let p = p.clone();
            async move { h.call(ops::WikiShow { page: p }).await.is_ok() }
        })
        .await;
    }

    // Apart: {alice, carol} and {bob, dave}, on new ports.
    for n in &mut nodes {
        n.stop().await;
    }
    for n in &mut nodes {
        n.restart_elsewhere().await;
    }
    connect(&nodes[0], &nodes[2]).await;
    connect(&nodes[1], &nodes[3]).await;
    let (alice, bob, carol, dave) = (&nodes[0], &nodes[1], &nodes[2], &nodes[3]);
    alice
        .handle()
        .call(ops::CircleRemove {
            circle: "team".into(),
            member: ids[3].clone(),
        })
        .await
        .unwrap();
    bob.handle()
        .call(ops::CircleRemove {
            circle: "team".into(),
            member: ids[2].clone(),
        })
        .await
        .unwrap();
    let told = circle_post(carol, "carol was not told").await;
    alice.wait_for_seq(carol.author(), told.seq).await;
    wait_reads(alice, "carol was not told").await;
    for (n, text) in [
        (alice, "We ship on Friday.\n\nThe demo is at noon.\n"),
        (bob, "We ship on Tuesday.\n\nThe demo is at three.\n"),
    ] {
        n.handle()
            .call(ops::WikiEdit {
                page: page.clone(),
                body: text.into(),
                base: None,
            })
            .await
            .unwrap();
    }

    // Healed.
    connect(alice, bob).await;
    connect(carol, dave).await;
    for m in &nodes {
        let head = m.seq(m.author()).await;
        for n in &nodes {
            n.wait_for_seq(m.author(), head).await;
        }
    }
    let (a, b) = (members(alice).await, members(bob).await);
    assert_eq!(a, b, "alice and bob agree on the members");
    assert_eq!(a.len(), 2);
    assert!(a.contains(&alice.author()) && a.contains(&bob.author()));
    alice
        .wait_for(
            "alice still shows carol's post after the heal",
            |h| async move {
                h.call(ops::Feed::default()).await.is_ok_and(|f| {
                    f.iter()
                        .all(|e| e.text.as_deref() != Some("carol was not told"))
                })
            },
        )
        .await;
    assert!(!reads(bob, "carol was not told").await);
    let p = page.clone();
    alice
        .wait_for("the page never merged", |h| {
            let p = p.clone();
            async move {
                h.call(ops::WikiShow { page: p }).await.is_ok_and(|v| {
                    v.body.contains("three")
                        && (v.body.contains("Friday") || v.body.contains("Tuesday"))
                })
            }
        })
        .await;
    let merged = page_text(alice, &page).await;
    let p = page.clone();
    let want = merged.clone();
    bob.wait_for("bob's page differs from alice's", |h| {
        let (p, want) = (p.clone(), want.clone());
        async move {
            h.call(ops::WikiShow { page: p })
                .await
                .is_ok_and(|v| v.body == want)
        }
    })
    .await;

    // The next post merges the two epochs: only alice and bob read it.
    let next = circle_post(bob, "just the two of us").await;
    for n in [carol, dave] {
        n.wait_for_seq(bob.author(), next.seq).await;
    }
    wait_reads(alice, "just the two of us").await;
    assert!(!reads(carol, "just the two of us").await);
    assert!(!reads(dave, "just the two of us").await);
}
