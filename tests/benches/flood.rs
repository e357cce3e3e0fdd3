//! Flood benchmark (prints figures; not a timed test):
//!
//! ```sh
//! cargo build --release -p kith-cli && cargo bench -p kith-tests --bench flood
//! ```
//!
//! A `kith up` process (the target) holds a friend's 2,000 entries. First
//! a quiet run: the friend posts 200 times, 50 ms apart, and nothing else
//! happens (the baseline delays and resident memory). Then the same posts
//! under every flood at once (`kith_tests::scenarios::flood`): 1,000
//! connection attempts from unknown keys, 50,000 invalid and duplicate
//! gossip messages from a trusted peer, 500 whole-log fetches, 48 requests
//! whose answers are never read, 20 HTTP bodies of 64 MiB and 8 bundle
//! downloads never read. Goals: peak RSS < baseline + 64 MiB, honest posts'
//! p99 ≤ 2 s, the target alive, nothing from the flood stored.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use kith_node::{DataDir, identity, ops};
use kith_protocol::{Body, Keypair, Post, PostKind};
use kith_testkit::TestNode;
use kith_testkit::process::{Kith, Up};
use kith_tests::scenarios::flood::{self, MALLORY, Plan, Target, percentile};

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(bench());
}

async fn bench() {
    let dir = tempfile::tempdir().unwrap();
    identity::create_from_secret(&DataDir::new(dir.path()).identity(), &[70; 32]).unwrap();
    let mut up = Up::start(&Kith::release(), dir.path());
    let target = Target::of(&up.data_dir());
    let friend = TestNode::prepared(
        "friend",
        71,
        |_| {},
        |core| {
            let bodies: Vec<Body> = (0..2_000)
                .map(|i| {
                    Body::Post(Post {
                        kind: PostKind::Note,
                        text: format!("history {i}: {}", "words of a working note ".repeat(20)),
                        reply_to: None,
                        tags: vec![],
                        files: Vec::new(),
                        mentions: Vec::new(),
                    })
                })
                .collect();
            for chunk in bodies.chunks(500) {
                core.append(chunk).unwrap();
            }
        },
    )
    .await;
    for author in [friend.author(), Keypair::from_secret(&MALLORY).author()] {
        target
            .client
            .call(ops::TrustAdd {
                author: author.into(),
                petname: None,
            })
            .unwrap();
    }
    friend
        .handle()
        .call(ops::TrustAdd {
            author: target.author.into(),
            petname: None,
        })
        .await
        .unwrap();
    friend
        .handle()
        .call(ops::Dial {
            addr: target.addr.to_string(),
        })
        .await
        .unwrap();
    while target
        .client
        .call(ops::Status {})
        .unwrap()
        .authors
        .iter()
        .all(|a| a.author != friend.author() || a.local_seq < 2_000)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let quiet = Plan {
        strangers: 0,
        gossip: 0,
        fetches: 0,
        stalled: 0,
        oversized: 0,
        unread_downloads: 0,
        honest: 200,
        every: Duration::from_millis(50),
    };
    let base = flood::run(&quiet, &target, &friend).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_base = up.rss_kib();

    let mut full = Plan {
        strangers: 1_000,
        gossip: 50_000,
        fetches: 500,
        stalled: 48,
        oversized: 20,
        unread_downloads: 8,
        ..quiet.clone()
    };
    // KITH_FLOOD_ONLY=fetches,stalled runs only those parts (to find
    // which one costs what).
    if let Ok(only) = std::env::var("KITH_FLOOD_ONLY") {
        let on = |part: &str| only.split(',').any(|p| p.trim() == part);
        if !on("strangers") {
            full.strangers = 0;
        }
        if !on("gossip") {
            full.gossip = 0;
        }
        if !on("fetches") {
            full.fetches = 0;
        }
        if !on("stalled") {
            full.stalled = 0;
        }
        if !on("oversized") {
            full.oversized = 0;
        }
        if !on("unread") {
            full.unread_downloads = 0;
        }
    }
    let peak = Arc::new(AtomicU64::new(rss_base));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done, pid) = (peak.clone(), done.clone(), up.pid());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
                    .unwrap_or_default()
                    .lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                    .unwrap_or(0);
                peak.fetch_max(rss, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let out = flood::run(&full, &target, &friend).await;
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let peak = peak.load(Ordering::Relaxed);
    let alive = up.alive();
    let report = target.client.call(ops::Verify {}).unwrap();
    let mallory_seq = out
        .status
        .authors
        .iter()
        .find(|a| a.author == Keypair::from_secret(&MALLORY).author())
        .map_or(0, |a| a.local_seq);

    let (b50, b99) = (
        percentile(&base.delays, 0.5),
        percentile(&base.delays, 0.99),
    );
    let (f50, f99) = (percentile(&out.delays, 0.5), percentile(&out.delays, 0.99));
    println!("## flood: {full:?}");
    println!("quiet (baseline):  honest p50 {b50:?}  p99 {b99:?}");
    println!(
        "under the flood:   honest p50 {f50:?}  p99 {f99:?}  ({:.1}x the quiet p99; goal ≤ 2 s: {})",
        f99.as_secs_f64() / b99.as_secs_f64().max(1e-3),
        if f99 <= Duration::from_secs(2) {
            "met"
        } else {
            "MISSED"
        }
    );
    println!(
        "resident memory:   baseline {} MiB, peak {} MiB, +{} MiB (goal < +64 MiB: {})",
        rss_base / 1024,
        peak / 1024,
        peak.saturating_sub(rss_base) / 1024,
        if peak < rss_base + 64 * 1024 {
            "met"
        } else {
            "MISSED"
        }
    );
    println!(
        "flood:             {} strangers refused, {} gossip messages published, {} fetch answers ({} MiB), {} oversized bodies refused, wall {:?}",
        out.strangers_refused,
        out.gossip_published,
        out.fetch_answers,
        out.fetch_bytes >> 20,
        out.oversized_refused,
        out.wall
    );
    println!(
        "target:            alive {alive}; gossip accepted {} ignored {} rejected {}; refused connections {}",
        out.status.gossip.accepted,
        out.status.gossip.ignored,
        out.status.gossip.rejected,
        out.status.refused_connections
    );
    println!(
        "stored from the flood: Mallory's entries {mallory_seq}; verify problems {}",
        report.problems.len()
    );
}
