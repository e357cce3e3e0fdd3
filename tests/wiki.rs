//! Wiki pages across nodes: offline edits that merge, and dependencies
//! fetched through a trusted author.

use kith_node::ops;
use kith_testkit::{TestNode, connect, wait_until};

const BASE: &str = "# Trip notes\n\nWe leave on Friday morning.\n\nBring the tent and two stoves.\n\nMeet at the station.\n";

async fn body(node: &TestNode, page: &str) -> Option<String> {
    node.handle()
        .call(ops::WikiShow {
            page: page.to_string(),
        })
        .await
        .ok()
        .map(|p| p.body)
}

async fn wait_for_body(node: &TestNode, page: &str, want: impl Fn(&str) -> bool) {
    wait_until(
        node.handle(),
        || async { body(node, page).await.is_some_and(|b| want(&b)) },
        || async { format!("{} shows {:?}", node.name, body(node, page).await) },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_editing_offline_converge_to_identical_text() {
    let mut nodes = [
        TestNode::start("alice", 1).await,
        TestNode::start("bob", 2).await,
        TestNode::start("carol", 3).await,
    ];
    connect(&nodes[0], &nodes[1]).await;
    connect(&nodes[1], &nodes[2]).await;
    connect(&nodes[0], &nodes[2]).await;
    let page = nodes[0]
        .handle()
        .call(ops::WikiNew {
            circle: None,
            title: "Trip".into(),
            body: BASE.into(),
        })
        .await
        .unwrap();
    let id = page.id.to_string();
    for n in &nodes[1..] {
        wait_for_body(n, &id, |b| b == BASE).await;
    }

    // Everyone goes offline: restarted elsewhere (new ports), so the
    // addresses their peers remember lead nowhere.
    for n in nodes.iter_mut() {
        n.stop().await;
    }
    for n in nodes.iter_mut() {
        n.restart_elsewhere().await;
    }
    let edits = [
        // Alice: the first paragraph. Bob and Carol: the same sentence.
        BASE.replace("Friday morning", "Friday at 7"),
        BASE.replace("the tent and two stoves", "the big tent and two stoves"),
        BASE.replace("two stoves", "two stoves and matches"),
    ];
    for (n, edit) in nodes.iter().zip(&edits) {
        assert_eq!(
            n.handle()
                .call(ops::Status {})
                .await
                .unwrap()
                .connected_peers,
            0,
            "{} is not offline",
            n.name
        );
        n.handle()
            .call(ops::WikiEdit {
                page: id.clone(),
                base: None,
                body: edit.clone(),
            })
            .await
            .unwrap();
    }
    // Still apart: each sees only its own edit.
    assert_eq!(body(&nodes[1], &id).await.unwrap(), edits[1]);

    // Back together.
    nodes[0].dial(&nodes[1]).await;
    nodes[1].dial(&nodes[2]).await;
    let expected = "# Trip notes\n\nWe leave on Friday at 7.\n\nBring the big tent and two stoves and matches.\n\nMeet at the station.\n";
    for n in &nodes {
        wait_for_body(n, &id, |b| b == expected).await;
    }
    let shown: Vec<_> = bodies(&nodes, &id).await;
    assert!(shown.windows(2).all(|w| w[0].as_bytes() == w[1].as_bytes()));
    let view = nodes[2]
        .handle()
        .call(ops::WikiShow { page: id.clone() })
        .await
        .unwrap();
    assert_eq!(view.authors.len(), 3, "every editor is credited");
    let history = nodes[2]
        .handle()
        .call(ops::WikiHistory { page: id })
        .await
        .unwrap();
    assert_eq!(history.len(), 4);
}

async fn bodies(nodes: &[TestNode], id: &str) -> Vec<String> {
    let mut out = Vec::new();
    for n in nodes {
        out.push(body(n, id).await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_authors_change_brings_its_untrusted_dependencies_along() {
    // Alice trusts only Bob; Bob trusts Alice and Carol; Carol trusts Bob.
    let alice = TestNode::start("alice", 1).await;
    let bob = TestNode::start("bob", 2).await;
    let carol = TestNode::start("carol", 3).await;
    connect(&alice, &bob).await;
    connect(&bob, &carol).await;
    let page = carol
        .handle()
        .call(ops::WikiNew {
            circle: None,
            title: "Carol's page".into(),
            body: "Written by Carol.\n".into(),
        })
        .await
        .unwrap();
    let id = page.id.to_string();
    wait_for_body(&bob, &id, |b| b == "Written by Carol.\n").await;
    bob.handle()
        .call(ops::WikiEdit {
            page: id.clone(),
            base: None,
            body: "Written by Carol.\nImproved by Bob.\n".into(),
        })
        .await
        .unwrap();
    // Alice replicates Bob only, yet gets the page whole: Bob's change needs
    // Carol's, which Alice fetches from Bob.
    wait_for_body(&alice, &id, |b| {
        b == "Written by Carol.\nImproved by Bob.\n"
    })
    .await;
    let view = alice
        .handle()
        .call(ops::WikiShow { page: id })
        .await
        .unwrap();
    assert_eq!(view.authors, vec![carol.author(), bob.author()]);
    assert_eq!(view.waiting, 0);
    // Carol's log itself is not replicated to Alice.
    assert_eq!(alice.seq(carol.author()).await, 0);
}
