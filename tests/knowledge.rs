//! Questions, answers, endorsements, deletion and search across nodes.

use kith_node::model::ThreadView;
use kith_node::ops;
use kith_protocol::PostKind;
use kith_testkit::{TestNode, connect, wait_until};

async fn thread(node: &TestNode, id: &str) -> ThreadView {
    node.handle()
        .call(ops::Thread {
            id: id.to_string().parse().unwrap(),
        })
        .await
        .unwrap()
}

/// Waits until `node`'s view of the thread satisfies `ok`.
async fn wait_thread(node: &TestNode, id: &str, ok: impl Fn(&ThreadView) -> bool) {
    wait_until(
        node.handle(),
        || async {
            node.handle()
                .call(ops::Thread {
                    id: id.to_string().parse().unwrap(),
                })
                .await
                .is_ok_and(|t| ok(&t))
        },
        || async {
            format!(
                "{}: {:?}",
                node.name,
                node.handle()
                    .call(ops::Thread {
                        id: id.to_string().parse().unwrap()
                    })
                    .await
                    .map(|t| t.answers)
            )
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endorsements_rank_answers_the_same_on_every_node_until_one_is_accepted() {
    let nodes = [
        TestNode::start("alice", 1).await,
        TestNode::start("bob", 2).await,
        TestNode::start("carol", 3).await,
    ];
    connect(&nodes[0], &nodes[1]).await;
    connect(&nodes[1], &nodes[2]).await;
    connect(&nodes[0], &nodes[2]).await;
    let [alice, bob, carol] = &nodes;
    let question = alice
        .handle()
        .call(ops::Ask {
            circle: None,
            text: "How should we back up the wiki?".into(),
            tags: vec!["ops".into()],
            yes: true,
        })
        .await
        .unwrap()
        .posted
        .unwrap();
    let q = question.id.to_hex();
    for n in [bob, carol] {
        n.wait_for_seq(alice.author(), question.seq).await;
    }
    let b = bob
        .handle()
        .call(ops::Answer {
            id: q.clone().parse().unwrap(),
            text: "Export nightly to the NAS".into(),
            tags: vec![],
            files: Vec::new(),
        })
        .await
        .unwrap();
    let c = carol
        .handle()
        .call(ops::Answer {
            id: q.clone().parse().unwrap(),
            text: "Bundle files on a USB stick".into(),
            tags: vec![],
            files: Vec::new(),
        })
        .await
        .unwrap();
    for n in &nodes {
        wait_thread(n, &q, |t| t.answers.len() == 2).await;
    }
    for n in [alice, carol] {
        n.handle()
            .call(ops::Endorse {
                id: b.id.to_hex().parse().unwrap(),
                note: Some("tried it".into()),
                withdraw: false,
            })
            .await
            .unwrap();
    }
    for n in &nodes {
        wait_thread(n, &q, |t| {
            t.answers[0].entry.id == b.id && t.answers[0].score == 2.0
        })
        .await;
        let t = thread(n, &q).await;
        let endorsers: Vec<_> = t.answers[0].endorsed_by.iter().map(|e| e.author).collect();
        assert!(endorsers.contains(&alice.author()) && endorsers.contains(&carol.author()));
        assert_eq!(t.answers[1].entry.id, c.id);
        assert_eq!(t.answers[1].score, 0.0);
    }
    alice
        .handle()
        .call(ops::Accept {
            id: c.id.to_hex().parse().unwrap(),
            withdraw: false,
        })
        .await
        .unwrap();
    for n in &nodes {
        wait_thread(n, &q, |t| {
            t.answers[0].entry.id == c.id && t.answers[0].accepted
        })
        .await;
        let t = thread(n, &q).await;
        assert_eq!(t.answers[1].entry.id, b.id);
        assert_eq!(t.answers[1].score, 2.0, "{} keeps the score", n.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_sees_fresh_posts_and_pages_and_forgets_deleted_ones() {
    let alice = TestNode::start("alice", 1).await;
    let bob = TestNode::start("bob", 2).await;
    connect(&alice, &bob).await;
    let post = bob
        .handle()
        .call(ops::Post {
            circle: None,
            text: "Profiling showed the flamegraph hotspot in the tokenizer".into(),
            kind: PostKind::Note,
            reply_to: None,
            tags: vec!["perf".into()],
            files: Vec::new(),
        })
        .await
        .unwrap();
    let search = |q: &'static str| {
        let h = alice.handle().clone();
        async move {
            h.call(ops::Search {
                q: q.into(),
                ..Default::default()
            })
            .await
            .unwrap()
        }
    };
    // A post that arrived from a peer moments ago.
    wait_until(
        alice.handle(),
        || async { search("flamegraph").await.len() == 1 },
        || async { "alice never found bob's post".to_string() },
    )
    .await;
    assert_eq!(search("flamegraph").await[0].id, post.id.to_hex());
    // A wiki page by a word in its body.
    bob.handle()
        .call(ops::WikiNew {
            circle: None,
            title: "Runbook".into(),
            body: "Restart the indexer with systemctl.\n".into(),
        })
        .await
        .unwrap();
    wait_until(
        alice.handle(),
        || async { search("systemctl").await.len() == 1 },
        || async { "alice never found the page".to_string() },
    )
    .await;
    let hit = &search("systemctl").await[0];
    assert_eq!(hit.kind, kith_node::search::SearchKind::Wiki);
    assert_eq!(hit.title.as_deref(), Some("Runbook"));
    // Deleted: gone from feed, thread and search on both nodes.
    bob.handle()
        .call(ops::Delete {
            id: post.id.to_hex().parse().unwrap(),
        })
        .await
        .unwrap();
    for n in [&alice, &bob] {
        let h = n.handle().clone();
        let id = post.id;
        wait_until(
            n.handle(),
            || {
                let h = h.clone();
                async move {
                    h.call(ops::Search {
                        q: "flamegraph".into(),
                        ..Default::default()
                    })
                    .await
                    .unwrap()
                    .is_empty()
                        && h.call(ops::Feed::default())
                            .await
                            .unwrap()
                            .iter()
                            .all(|e| e.id != id)
                }
            },
            || async { format!("{} still shows the deleted post", n.name) },
        )
        .await;
        let t = n
            .handle()
            .call(ops::Thread {
                id: post.id.to_hex().parse().unwrap(),
            })
            .await
            .unwrap();
        assert_eq!(t.entry.kind, "deleted");
        assert!(t.entry.text.is_none());
    }
}
