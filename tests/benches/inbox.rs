//! Inbox latency (prints figures; not a timed test):
//!
//! ```sh
//! cargo bench -p kith-tests --bench inbox
//! ```
//!
//! Two in-process nodes on loopback that trust each other. Bob answers
//! Alice's question, mentions her and endorses her post, 100 times each
//! kind in turn; the delay is from Bob's call returning (the entry signed
//! and durable) to the item being in Alice's inbox, polled every 2 ms. The
//! baseline, in the same run, is the delay until the same entry is in
//! Alice's store (replication alone).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use kith_node::ops;
use kith_testkit::{TestNode, connect};

const ROUNDS: usize = 100;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let alice = TestNode::start("alice", 81).await;
    let bob = TestNode::start("bob", 82).await;
    connect(&alice, &bob).await;
    alice
        .handle()
        .call(ops::ProfileSet {
            name: "Alice".into(),
            about: String::new(),
        })
        .await
        .unwrap();
    let mut stored = Vec::new();
    let mut inboxed = Vec::new();
    for round in 0..ROUNDS {
        let question = alice
            .handle()
            .call(ops::Ask {
                circle: None,
                text: format!("Question {round}: how do we do thing {round}?"),
                tags: vec![],
                yes: true,
            })
            .await
            .unwrap()
            .posted
            .unwrap();
        bob.wait_for_seq(alice.author(), question.seq).await;
        let t = Instant::now();
        let entry = match round % 3 {
            0 => bob
                .handle()
                .call(ops::Answer {
                    id: question.id.into(),
                    text: format!("Answer {round}"),
                    tags: vec![],
                    files: vec![],
                })
                .await
                .unwrap(),
            1 => bob
                .handle()
                .call(ops::Post::note(format!("@Alice see round {round}")))
                .await
                .unwrap(),
            _ => bob
                .handle()
                .call(ops::Endorse {
                    id: question.id.into(),
                    note: None,
                    withdraw: false,
                })
                .await
                .unwrap(),
        };
        let start = Instant::now();
        let mut got_store = None;
        loop {
            if got_store.is_none() && alice.seq(bob.author()).await >= entry.seq {
                got_store = Some(start.elapsed());
            }
            let items = alice
                .handle()
                .call(ops::Inbox {
                    unread: true,
                    since: None,
                    limit: Some(5),
                })
                .await
                .unwrap();
            if items.iter().any(|i| i.entry == entry.id) {
                inboxed.push(start.elapsed());
                stored.push(got_store.unwrap_or(start.elapsed()));
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "round {round} never arrived"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        alice
            .handle()
            .call(ops::InboxRead {
                entry: None,
                all: true,
            })
            .await
            .unwrap();
    }
    stored.sort();
    inboxed.sort();
    println!("## inbox: {ROUNDS} answers, mentions and endorsements between two nodes on loopback");
    println!(
        "in alice's store (baseline): p50 {:.1?}, p99 {:.1?}, max {:.1?}",
        percentile(&stored, 0.5),
        percentile(&stored, 0.99),
        stored.last().unwrap()
    );
    println!(
        "in alice's inbox:            p50 {:.1?}, p99 {:.1?}, max {:.1?}",
        percentile(&inboxed, 0.5),
        percentile(&inboxed, 0.99),
        inboxed.last().unwrap()
    );
}
