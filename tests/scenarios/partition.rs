//! A network split in two while both sides keep writing: posts, and edits
//! to the same pages (the same line rewritten on both sides), then healed.
//! The integration test runs a short version and checks that nothing is
//! lost; `cargo bench -p kith-tests --bench partition` runs the full one
//! (5 nodes, 2 | 3, 60 s, 200 posts, 100 edits to 5 pages) and reports how
//! long the healed network takes to agree.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kith_node::ops;
use kith_protocol::{AuthorId, Head};

use kith_testkit::{TestNode, WAIT, connect};

/// How big a partition run is.
#[derive(Debug, Clone)]
pub struct Plan {
    pub nodes: usize,
    /// Nodes `0..split` are one side, the rest the other.
    pub split: usize,
    /// How long the sides stay apart while writing.
    pub apart: Duration,
    pub posts: usize,
    pub edits: usize,
    pub pages: usize,
}

/// What a run measured.
#[derive(Debug)]
pub struct Outcome {
    /// From the healing dial until every node holds the same heads and the
    /// same page texts.
    pub converged: Duration,
    /// Baseline in the same run: one post from node 0 reaching every node
    /// of the healed network.
    pub propagation: Duration,
    pub posts: usize,
    pub edits: usize,
}

const NAMES: [&str; 8] = ["n0", "n1", "n2", "n3", "n4", "n5", "n6", "n7"];

/// Runs a partition and checks that, after healing, every node holds every
/// entry and every page reads the same everywhere, with every line any
/// side appended. Panics on any difference.
pub async fn run(plan: &Plan) -> Outcome {
    assert!(plan.nodes <= NAMES.len() && plan.split > 0 && plan.split < plan.nodes);
    let mut nodes = Vec::new();
    for (i, name) in NAMES.iter().enumerate().take(plan.nodes) {
        nodes.push(TestNode::start(name, 40 + i as u8).await);
    }
    for a in &nodes {
        for b in &nodes {
            if a.author() != b.author() {
                a.trust(b).await;
            }
        }
    }
    // Together first: a chain of connections, and the pages everyone edits.
    for pair in nodes.windows(2) {
        connect(&pair[0], &pair[1]).await;
    }
    let mut pages = Vec::new();
    for p in 0..plan.pages {
        let page = nodes[0]
            .handle()
            .call(ops::WikiNew {
                circle: None,
                title: format!("Plan {p}"),
                body: "status: draft\n\nnotes:\n".into(),
            })
            .await
            .unwrap();
        pages.push(page.id.to_string());
    }
    // Everyone holds everything written so far (the pages, and each
    // node's encryption key from its start).
    for m in &nodes {
        let head = m.seq(m.author()).await;
        for n in &nodes {
            n.wait_for_seq(m.author(), head).await;
        }
    }

    // Apart: every node moves (new ports), so no one can reach the other
    // side at the addresses it remembers; each side reconnects within.
    for n in &mut nodes {
        n.stop().await;
    }
    for n in &mut nodes {
        n.restart_elsewhere().await;
    }
    let (left, right) = nodes.split_at(plan.split);
    for side in [left, right] {
        for pair in side.windows(2) {
            connect(&pair[0], &pair[1]).await;
        }
    }
    let before: Vec<u64> = {
        let mut out = Vec::new();
        for n in &nodes {
            out.push(n.seq(n.author()).await);
        }
        out
    };

    // Writing, on every node at once, spread over `apart`.
    let steps = plan.posts.max(plan.edits).div_ceil(plan.nodes).max(1);
    let pause = plan.apart / steps as u32;
    let writers = nodes.iter().enumerate().map(|(i, n)| {
        let pages = &pages;
        async move {
            let mut posts = 0;
            let mut edits = 0;
            for step in 0..steps {
                let k = step * plan.nodes + i;
                if k < plan.posts {
                    n.post(&format!("{} post {step}", n.name)).await;
                    posts += 1;
                }
                if k < plan.edits {
                    edit(n, &pages[k % pages.len()], step).await;
                    edits += 1;
                }
                tokio::time::sleep(pause).await;
            }
            (posts, edits)
        }
    });
    let written = futures::future::join_all(writers).await;
    let posts: usize = written.iter().map(|w| w.0).sum();
    let edits: usize = written.iter().map(|w| w.1).sum();
    assert_eq!((posts, edits), (plan.posts, plan.edits));

    // The split held: neither side has anything the other wrote apart.
    for (i, n) in nodes.iter().enumerate() {
        for (j, m) in nodes.iter().enumerate() {
            if (i < plan.split) != (j < plan.split) {
                assert_eq!(
                    n.seq(m.author()).await,
                    before[j],
                    "{} saw {}'s writes across the partition",
                    n.name,
                    m.name
                );
            }
        }
    }

    // Heal: one link across.
    let healed = Instant::now();
    connect(&nodes[plan.split - 1], &nodes[plan.split]).await;
    let authors: Vec<AuthorId> = nodes.iter().map(TestNode::author).collect();
    let mut expected = BTreeMap::new();
    for n in &nodes {
        expected.insert(n.author(), n.head(n.author()).await);
    }
    let deadline = Instant::now() + WAIT;
    loop {
        if agree(&nodes, &authors, &expected, &pages).await {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the healed network did not converge within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let converged = healed.elapsed();

    // Nothing missing: every line any node appended is on its page.
    for (p, page) in pages.iter().enumerate() {
        let text = show(&nodes[0], page).await;
        for (i, n) in nodes.iter().enumerate() {
            for step in 0..steps {
                let k = step * plan.nodes + i;
                if k < plan.edits && k % pages.len() == p {
                    let line = format!("- {} edit {step}", n.name);
                    assert!(
                        text.contains(&line),
                        "{line:?} is missing from page {p}:\n{text}"
                    );
                }
            }
        }
    }
    let sent = Instant::now();
    let last = nodes[0].post("after healing").await;
    for n in &nodes[1..] {
        n.wait_for_seq(nodes[0].author(), last.seq).await;
    }
    let propagation = sent.elapsed();
    Outcome {
        converged,
        propagation,
        posts,
        edits,
    }
}

/// One edit as a person makes it: rewrite the shared status line (the
/// other side may be rewriting it too) and add a line of notes.
async fn edit(n: &TestNode, page: &str, step: usize) {
    let view = n
        .handle()
        .call(ops::WikiShow {
            page: page.to_string(),
        })
        .await
        .unwrap();
    let mut lines: Vec<String> = view.body.lines().map(str::to_string).collect();
    if let Some(status) = lines.iter_mut().find(|l| l.starts_with("status:")) {
        *status = format!("status: {} at step {step}", n.name);
    }
    lines.push(format!("- {} edit {step}", n.name));
    n.handle()
        .call(ops::WikiEdit {
            page: page.to_string(),
            body: lines.join("\n") + "\n",
            base: Some(view.heads),
        })
        .await
        .unwrap();
}

async fn show(n: &TestNode, page: &str) -> String {
    n.handle()
        .call(ops::WikiShow {
            page: page.to_string(),
        })
        .await
        .unwrap()
        .body
}

/// Whether every node holds every author's last entry and reads every page
/// the same.
async fn agree(
    nodes: &[TestNode],
    authors: &[AuthorId],
    expected: &BTreeMap<AuthorId, Option<Head>>,
    pages: &[String],
) -> bool {
    for n in nodes {
        for a in authors {
            if n.head(*a).await != expected[a] {
                return false;
            }
        }
    }
    for page in pages {
        let text = show(&nodes[0], page).await;
        for n in &nodes[1..] {
            if show(n, page).await != text {
                return false;
            }
        }
    }
    true
}
