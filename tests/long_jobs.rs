//! Long jobs run beside replication: while a node rebuilds its views from
//! tens of thousands of entries, its friend's posts still arrive within a
//! small fraction of the rebuild's time, and its status answers at once.

use std::time::{Duration, Instant};

use kith_node::jobs::JobKind;
use kith_node::ops;
use kith_protocol::{Body, Post, PostKind};
use kith_testkit::{TestNode, connect};

/// Entries alice's log holds before the test (her own notes).
const HISTORY: usize = 30_000;

fn notes(from: usize, n: usize) -> Vec<Body> {
    (from..from + n)
        .map(|i| {
            Body::Post(Post {
                kind: PostKind::Note,
                text: format!("note {i} about the sync protocol, batch {}", i / 1000),
                reply_to: None,
                tags: vec![format!("t{}", i % 7)],
                files: Vec::new(),
                mentions: Vec::new(),
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_keeps_flowing_while_a_long_reindex_runs() {
    let alice = TestNode::prepared(
        "alice",
        1,
        |_| {},
        |core| {
            for from in (0..HISTORY).step_by(1_000) {
                core.append(&notes(from, 1_000)).unwrap();
            }
        },
    )
    .await;
    let bob = TestNode::start("bob", 2).await;
    connect(&alice, &bob).await;

    let started = Instant::now();
    let reindex = tokio::spawn({
        let h = alice.handle().clone();
        async move { h.call(ops::Reindex {}).await }
    });
    let mut delays = Vec::new();
    let mut status_times = Vec::new();
    let mut saw_job = false;
    let mut i = 0;
    while !reindex.is_finished() {
        let post = bob.post(&format!("live post {i} during the reindex")).await;
        let sent = Instant::now();
        alice.wait_for_seq(bob.author(), post.seq).await;
        delays.push(sent.elapsed());
        let asked = Instant::now();
        let status = alice.handle().call(ops::Status {}).await.unwrap();
        status_times.push(asked.elapsed());
        saw_job |= status.jobs.iter().any(|j| j.kind == JobKind::Reindex);
        i += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = started.elapsed();
    let report = reindex.await.unwrap().unwrap();
    eprintln!(
        "reindex of {} entries took {took:?}; {} posts arrived meanwhile, slowest {:?}; slowest status {:?}",
        report.entries,
        delays.len(),
        delays.iter().max(),
        status_times.iter().max()
    );
    assert!(report.entries >= HISTORY as u64, "{report:?}");
    assert!(
        delays.len() >= 3,
        "the reindex ({took:?}) was too short to post during it"
    );
    assert!(saw_job, "status showed no reindex job");
    let worst = delays.iter().max().copied().unwrap_or_default();
    assert!(
        worst * 4 < took,
        "a post took {worst:?} to arrive during a reindex of {took:?} (all: {delays:?})"
    );
    let slowest_status = status_times.iter().max().copied().unwrap_or_default();
    assert!(
        slowest_status * 4 < took,
        "status took {slowest_status:?} during a reindex of {took:?}"
    );
    // Afterwards the rebuilt views hold everything, old and new.
    let feed = alice.feed(1).await;
    assert_eq!(feed[0].author, bob.author());
    let found = alice
        .handle()
        .call(ops::Search {
            q: format!("\"note {}\"", HISTORY - 1),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "the search index was rebuilt: {found:?}");
    let verify = alice.handle().call(ops::Verify {}).await.unwrap();
    assert!(verify.problems.is_empty(), "{:?}", verify.problems);
}
