//! Where a node's memory goes while it ingests many entries: prints RSS
//! (heap and mapped files) after each stage. Not part of the test suite.
//!
//! `cargo run --release -p kith-node --example memprobe -- [store|core] [N] [CACHE_MIB]`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kith_node::store::kv::KvConfig;
use kith_node::store::{Indexing, Scope, Store};
use kith_node::{Config, Core, DataDir, identity, ops};
use kith_protocol::{Body, Limits, Post, PostKind, Verified};

fn rss() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            / 1024
    };
    format!(
        "RSS {:>4} MiB (heap {:>4}, files {:>4})",
        field("VmRSS:"),
        field("RssAnon:"),
        field("RssFile:")
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map_or("core", String::as_str).to_string();
    if mode == "bundle" {
        // `memprobe bundle FILE N`: N notes by 10 authors, as a bundle file;
        // prints the authors' ids.
        let path = args.get(2).expect("a file");
        let n: usize = args.get(3).and_then(|v| v.parse().ok()).unwrap_or(100_000);
        let mut all = Vec::new();
        for a in 0..10u8 {
            let key = kith_protocol::Keypair::from_secret(&[50 + a; 32]);
            println!("{}", key.author());
            let mut prev = None;
            for i in 0..n / 10 {
                let body = Body::Post(Post {
                    kind: PostKind::Note,
                    text: format!(
                        "Note {i} by {a}: working on sync, gossip and the wiki today, {}.",
                        i * 7919 % 1000
                    ),
                    reply_to: None,
                    tags: vec![format!("t{}", i % 5)],
                });
                let e = kith_protocol::Entry::sign(
                    &key,
                    kith_protocol::Draft {
                        seq: i as u64 + 1,
                        prev,
                        timestamp_ms: 1_700_000_000_000 + i as u64,
                        body: body.encode(),
                    },
                );
                prev = Some(e.id());
                all.push(e);
            }
        }
        let header = kith_node::bundle::Header {
            created_ms: 1_700_000_000_000,
            from: all[0].author(),
            recipient: None,
            entries: all.len() as u64,
        };
        std::fs::write(path, kith_node::bundle::write(&header, &all)).unwrap();
        return;
    }
    let n: usize = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let cache_mib: u64 = args.get(3).and_then(|v| v.parse().ok()).unwrap_or(64);
    let author = kith_protocol::Keypair::from_secret(&[9; 32]);
    println!("start: {}", rss());
    // A chained log, signed without a store.
    let mut entries = Vec::with_capacity(n);
    let mut prev = None;
    for i in 0..n {
        let body = Body::Post(Post {
            kind: PostKind::Note,
            text: format!(
                "Probe note {i}: what I am working on today, about a hundred bytes of it."
            ),
            reply_to: None,
            tags: vec!["probe".into()],
        });
        let entry = kith_protocol::Entry::sign(
            &author,
            kith_protocol::Draft {
                seq: i as u64 + 1,
                prev,
                timestamp_ms: 1_700_000_000_000,
                body: body.encode(),
            },
        );
        prev = Some(entry.id());
        entries.push(entry);
    }
    println!("signed {n} entries: {}", rss());
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits::default();
    match mode.as_str() {
        "store" => {
            let store = Store::open(
                dir.path(),
                &KvConfig {
                    cache_bytes: cache_mib << 20,
                    temporary: false,
                },
                limits.clone(),
            )
            .unwrap();
            println!("opened store: {}", rss());
            let scope = Scope::of([author.author()]);
            let per_call: usize = std::env::var("PER_CALL")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(4096);
            for (i, chunk) in entries.chunks(per_call).enumerate() {
                let verified: Vec<Verified> =
                    chunk.iter().cloned().map(Verified::from_store).collect();
                let indexing = if std::env::var("NOVIEWS").is_ok() {
                    Indexing::Through(None)
                } else {
                    Indexing::All
                };
                let outcome = store.ingest_verified(verified, &scope, indexing);
                assert!(outcome.error.is_none());
                if std::env::var("FLUSH").is_ok() {
                    store.flush().unwrap();
                }
                if (i * per_call) % 20_480 < per_call {
                    println!("  {:>6} stored: {}", (i + 1) * per_call, rss());
                }
            }
            store.flush().unwrap();
            println!("stored all: {}", rss());
            if std::env::var("SMAPS").is_ok() {
                let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
                let mut regions: Vec<(u64, String)> = Vec::new();
                let mut header = String::new();
                for line in smaps.lines() {
                    if line.contains('-') && !line.starts_with(char::is_uppercase) {
                        header = line.to_string();
                    } else if let Some(v) = line.strip_prefix("Rss:") {
                        let kb: u64 = v.trim().trim_end_matches(" kB").trim().parse().unwrap_or(0);
                        regions.push((kb, header.clone()));
                    }
                }
                regions.sort();
                for (kb, h) in regions.iter().rev().take(12) {
                    println!("{:>8} KiB  {h}", kb);
                }
            }
        }
        _ => {
            let data_dir = DataDir::new(dir.path());
            let me = identity::create_from_secret(&data_dir.identity(), &[1; 32]).unwrap();
            let mut config = Config::new(data_dir);
            config.cache_bytes = cache_mib << 20;
            let mut core = Core::open(config, me).unwrap();
            core.run(ops::TrustAdd {
                author: author.author().into(),
                petname: None,
            })
            .unwrap();
            println!("opened core: {}", rss());
            for (i, chunk) in entries.chunks(4096).enumerate() {
                let verified: Vec<Verified> =
                    chunk.iter().cloned().map(Verified::from_store).collect();
                let outcome = core.ingest_verified(verified);
                assert!(outcome.error.is_none());
                core.search_tick();
                if i % 5 == 0 {
                    println!("  {:>6} stored: {}", (i + 1) * 4096, rss());
                }
            }
            core.search_flush().unwrap();
            println!("stored all: {}", rss());
            core.close().unwrap();
        }
    }
    drop(entries);
    println!("entries dropped: {}", rss());
}
