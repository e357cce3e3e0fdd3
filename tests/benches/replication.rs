//! Replication benchmarks (prints figures; not a timed test):
//!
//! ```sh
//! cargo build --release -p kith-cli && cargo bench -p kith-tests --bench replication
//! ```
//!
//! 1. Propagation: 10 in-process nodes in a trusted circle (full mesh on
//!    loopback); delay from post to arrival at every other node, p50/p99
//!    over 1,000 posts.
//! 2. Catch-up: a fresh `kith up` process pulls N entries (default 100,000;
//!    `KITH_BENCH_ENTRIES`) from another; entries/s against the local
//!    ingest rate of the same entries measured in the same run.
//! 3. Memory: resident memory of that node, idle holding N entries and the
//!    peak during catch-up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use kith_node::handle::{Event, Origin};
use kith_node::ops;
use kith_node::store::kv::KvConfig;
use kith_node::store::{Scope, Store};
use kith_node::{DataDir, identity};
use kith_protocol::{Body, Entry, EntryId, Limits, Post, PostKind};
use kith_testkit::TestNode;
use kith_testkit::process::{Kith, Up};

fn note(i: usize) -> Body {
    Body::Post(Post {
        kind: PostKind::Note,
        text: format!("Benchmark note {i}: what I am working on today, in about a hundred bytes."),
        reply_to: None,
        tags: vec!["bench".into()],
        files: Vec::new(),
        mentions: Vec::new(),
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

async fn propagation() {
    const NODES: usize = 10;
    const POSTS: usize = 1_000;
    let mut nodes = Vec::new();
    for i in 0..NODES {
        nodes.push(TestNode::start("bench", 10 + i as u8).await);
    }
    for a in &nodes {
        for b in &nodes {
            if a.author() != b.author() {
                a.trust(b).await;
            }
        }
    }
    for (i, a) in nodes.iter().enumerate() {
        for b in &nodes[i + 1..] {
            a.dial(b).await;
        }
    }
    for a in &nodes {
        for b in &nodes {
            if a.author() != b.author() {
                a.wait_connected(b).await;
            }
        }
    }
    // Let gossipsub form its meshes (a few heartbeats).
    tokio::time::sleep(Duration::from_secs(3)).await;

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, EntryId, Instant)>();
    for (i, n) in nodes.iter().enumerate() {
        let mut events = n.handle().subscribe();
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Ok(event) = events.recv().await {
                if let Event::Entry { entry, origin } = event
                    && origin != Origin::Local
                {
                    let _ = tx.send((i, entry.id(), Instant::now()));
                }
            }
        });
    }
    let mut posted: HashMap<EntryId, Instant> = HashMap::new();
    let started = Instant::now();
    for i in 0..POSTS {
        let author = &nodes[i % NODES];
        let t = Instant::now();
        let view = author
            .handle()
            .call(ops::Post {
                circle: None,
                text: format!("propagation {i}"),
                kind: PostKind::Note,
                reply_to: None,
                tags: vec![],
                files: Vec::new(),
            })
            .await
            .unwrap();
        posted.insert(view.id, t);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut delays = Vec::new();
    let mut via_sync = 0;
    let expected = POSTS * (NODES - 1);
    let deadline = Instant::now() + Duration::from_secs(120);
    while delays.len() + via_sync < expected && Instant::now() < deadline {
        if let Ok(Some((_, id, at))) = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await
        {
            match posted.get(&id) {
                Some(t) => delays.push(at - *t),
                None => via_sync += 1,
            }
        }
    }
    let total = started.elapsed();
    delays.sort();
    println!("## propagation: {NODES} nodes, {POSTS} posts (one every ~2 ms, round robin)");
    println!("arrivals:  {} of {expected}", delays.len());
    println!("p50:       {:?}", percentile(&delays, 0.50));
    println!("p99:       {:?}", percentile(&delays, 0.99));
    println!("max:       {:?}", delays.last().unwrap());
    println!("wall time: {total:?}");
    for mut n in nodes {
        n.stop().await;
    }
}

fn catch_up_and_memory() {
    let n: usize = std::env::var("KITH_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let source_dir = tempfile::tempdir().unwrap();
    let sink_dir = tempfile::tempdir().unwrap();
    let alice = identity::create_from_secret(&DataDir::new(source_dir.path()).identity(), &[1; 32])
        .unwrap();
    identity::create_from_secret(&DataDir::new(sink_dir.path()).identity(), &[2; 32]).unwrap();
    // KITH_BENCH_CACHE_MIB sets the catching-up node's store cache.
    if let Ok(mib) = std::env::var("KITH_BENCH_CACHE_MIB") {
        std::fs::write(
            DataDir::new(sink_dir.path()).config_file(),
            format!("cache_mib = {mib}\n"),
        )
        .unwrap();
    }

    // Alice's log, written straight into her store before her node starts.
    let entries: Vec<Entry> = {
        let store = Store::open(
            &DataDir::new(source_dir.path()).store(),
            &KvConfig::default(),
            Limits::default(),
        )
        .unwrap();
        let bodies: Vec<Body> = (0..n).map(note).collect();
        let mut all = Vec::with_capacity(n);
        for chunk in bodies.chunks(1000) {
            all.extend(store.append_many(&alice, chunk, 1_700_000_000_000).unwrap());
        }
        store.flush().unwrap();
        all
    };

    // Baseline: local ingest of the same entries (decode + verify + store),
    // in the batch size catch-up uses.
    let baseline = {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &KvConfig::default(), Limits::default()).unwrap();
        let scope = Scope::of([alice.author()]);
        let wire: Vec<Vec<u8>> = entries.iter().map(Entry::encode).collect();
        let t = Instant::now();
        for chunk in wire.chunks(4096) {
            let decoded: Vec<Entry> = chunk
                .iter()
                .map(|b| Entry::decode(b, &Limits::default()).unwrap())
                .collect();
            let outcome = store.ingest_batch(&decoded, 1_700_000_000_000, &scope);
            assert!(outcome.error.is_none());
        }
        store.flush().unwrap();
        n as f64 / t.elapsed().as_secs_f64()
    };
    drop(entries);

    let a = Up::start(&Kith::release(), source_dir.path());
    let b = Up::start(&Kith::release(), sink_dir.path());
    let idle_empty = b.rss_kib();
    let (ca, cb) = (a.client(), b.client());
    let code_a = ca.call(ops::Invite {}).unwrap().code;
    let code_b = cb.call(ops::Invite {}).unwrap().code;
    ca.call(ops::Join {
        code: code_b,
        petname: None,
    })
    .unwrap();
    let t = Instant::now();
    cb.call(ops::Join {
        code: code_a,
        petname: None,
    })
    .unwrap();
    let mut peak = 0;
    let mut peak_anon = 0;
    loop {
        peak = peak.max(b.rss_kib());
        peak_anon = peak_anon.max(b.status_kib("RssAnon:"));
        let status = cb.call(ops::Status {}).unwrap();
        let have = status
            .authors
            .iter()
            .find(|s| s.author == alice.author())
            .map_or(0, |s| s.local_seq);
        if have as usize >= n {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(600),
            "catch-up stalled at {have}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let elapsed = t.elapsed();
    let rate = n as f64 / elapsed.as_secs_f64();
    std::thread::sleep(Duration::from_secs(3));
    let idle_full = b.rss_kib();
    let idle_anon = b.status_kib("RssAnon:");
    let a_idle = a.rss_kib();

    println!("## catch-up: fresh node pulls {n} entries from one peer (separate processes)");
    println!("local ingest (baseline): {baseline:.0} entries/s");
    println!("catch-up:                {rate:.0} entries/s in {elapsed:.2?}");
    println!("ratio:                   {:.2}", rate / baseline);
    println!("## memory (VmRSS)");
    println!("fresh node, empty, idle:         {} MiB", idle_empty / 1024);
    println!(
        "during catch-up, peak:           {} MiB ({} MiB of it heap, RssAnon)",
        peak / 1024,
        peak_anon / 1024
    );
    println!(
        "after catch-up, {n} entries, idle: {} MiB ({} MiB heap)",
        idle_full / 1024,
        idle_anon / 1024
    );
    println!("serving node, {n} entries, idle:   {} MiB", a_idle / 1024);
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let only = std::env::var("KITH_BENCH").unwrap_or_default();
    if only.is_empty() || only == "propagation" {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(propagation());
    }
    if only.is_empty() || only == "catchup" {
        catch_up_and_memory();
    }
}
