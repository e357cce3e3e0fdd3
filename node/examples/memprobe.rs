//! Where a node's memory goes while it ingests many entries: prints RSS
//! (heap and mapped files) after each stage. Not part of the test suite.
//!
//! `cargo run --release -p kith-node --example memprobe -- [store|core] [N] [CACHE_MIB]`
//! (also `bundle`, `import` and `reindex DATA_DIR`: see `main`)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::dir_bytes;

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

/// Peak RSS of this process so far.
fn peak() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    format!("peak {:>4} MiB", kib / 1024)
}

fn import(path: &str, how: &str) {
    use kith_node::bundle;
    const CHUNK: usize = 4096;
    let limits = Limits::default();
    let dir = tempfile::tempdir().unwrap();
    let data_dir = DataDir::new(dir.path());
    let me = identity::create_from_secret(&data_dir.identity(), &[1; 32]).unwrap();
    let mut core = Core::open(Config::new(data_dir), me).unwrap();
    let authors: std::collections::BTreeSet<_> =
        bundle::Reader::new(std::fs::File::open(path).unwrap(), limits.clone())
            .unwrap()
            .map(|(_, e)| e.author())
            .collect();
    for a in authors {
        core.run(ops::TrustAdd {
            author: a.into(),
            petname: None,
        })
        .unwrap();
    }
    println!("opened core, {how}: {} {}", rss(), peak());
    let t = std::time::Instant::now();
    let mut stored = 0;
    let mut report = |core: &mut Core, entries: Vec<kith_protocol::Entry>| {
        let n = entries.len();
        let r = core.run(ops::ImportEntries { entries }).unwrap();
        assert!(r.rejected.is_empty(), "{:?}", r.rejected);
        stored += n;
        if stored % (25 * CHUNK) < CHUNK {
            println!("  {stored:>8} imported: {} {}", rss(), peak());
        }
    };
    if how == "whole" {
        let bytes = std::fs::read(path).unwrap();
        let read = bundle::read(&bytes, &limits).unwrap();
        println!("read the file: {} {}", rss(), peak());
        for chunk in read.entries.chunks(CHUNK) {
            report(&mut core, chunk.to_vec());
        }
    } else {
        // `reopen`: the store is closed and opened again after
        // every REOPEN_EVERY entries (100,000 unless set).
        let every: usize = std::env::var("REOPEN_EVERY")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(100_000);
        let mut reader = bundle::Reader::new(std::fs::File::open(path).unwrap(), limits).unwrap();
        let mut since = 0;
        loop {
            let chunk: Vec<_> = reader.by_ref().take(CHUNK).map(|(_, e)| e).collect();
            if chunk.is_empty() {
                break;
            }
            since += chunk.len();
            report(&mut core, chunk);
            if how == "reopen" && since >= every {
                since = 0;
                core.close().unwrap();
                drop(core);
                let config = Config::new(DataDir::new(dir.path()));
                let me = identity::load(&config.data_dir.identity()).unwrap();
                core = Core::open(config, me).unwrap();
                println!("  reopened: {} {}", rss(), peak());
            }
        }
        assert!(reader.finish().problems.is_empty());
    }
    core.search_flush().unwrap();
    println!(
        "imported {stored} in {:.1?}: {} {}",
        t.elapsed(),
        rss(),
        peak()
    );
    core.close().unwrap();
    drop(core);
    println!(
        "on disk: store {} MB, search {} MB (the bundle: {} MB)",
        dir_bytes(&dir.path().join("store")) / 1_000_000,
        dir_bytes(&dir.path().join("search")) / 1_000_000,
        std::fs::metadata(path).unwrap().len() / 1_000_000
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map_or("core", String::as_str).to_string();
    if mode == "bundle" {
        // `memprobe bundle FILE N [AUTHORS]`: N varied notes by AUTHORS
        // authors (10 unless given), as a bundle file written as a stream;
        // prints the authors' ids.
        let path = args.get(2).expect("a file");
        let n: usize = args.get(3).and_then(|v| v.parse().ok()).unwrap_or(100_000);
        let authors: usize = args.get(4).and_then(|v| v.parse().ok()).unwrap_or(10);
        let keys: Vec<_> = (0..authors)
            .map(|a| {
                let mut secret = [50u8; 32];
                secret[..8].copy_from_slice(&(a as u64).to_le_bytes());
                if a < 10 {
                    secret = [50 + a as u8; 32];
                }
                kith_protocol::Keypair::from_secret(&secret)
            })
            .collect();
        let header = kith_node::bundle::Header {
            created_ms: 1_700_000_000_000,
            from: keys[0].author(),
            recipient: None,
            entries: n as u64,
        };
        let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
        let mut writer = kith_node::bundle::Writer::new(file, &header).unwrap();
        for (a, key) in keys.iter().enumerate() {
            println!("{}", key.author());
            let mut prev = None;
            for i in 0..n / authors {
                let body = Body::Post(Post {
                    kind: PostKind::Note,
                    text: format!(
                        "Note {i} by {a}: working on sync, gossip and the wiki today, {}.",
                        i * 7919 % 1000
                    ),
                    reply_to: None,
                    tags: vec![format!("t{}", i % 5)],
                    files: Vec::new(),
                    mentions: Vec::new(),
                });
                let e = kith_protocol::Entry::sign(
                    key,
                    kith_protocol::Draft {
                        seq: i as u64 + 1,
                        prev,
                        timestamp_ms: 1_700_000_000_000 + i as u64,
                        body: body.encode(),
                    },
                );
                prev = Some(e.id());
                writer.push(&e).unwrap();
            }
        }
        writer.finish().unwrap();
        return;
    }
    if mode == "reindex" {
        // `memprobe reindex DATA_DIR`: `kith reindex` with no node running,
        // on an existing store (copy it first: the views are rebuilt).
        let data_dir = DataDir::new(&args[2]);
        let keypair = identity::load(&data_dir.identity()).unwrap();
        let mut core = Core::open(Config::load(data_dir).unwrap(), keypair).unwrap();
        println!("opened: {}", rss());
        let t = std::time::Instant::now();
        let report = core.run(ops::Reindex {}).unwrap();
        println!(
            "rebuilt {} entries in {:.1} s: {}",
            report.entries,
            t.elapsed().as_secs_f64(),
            rss()
        );
        core.close().unwrap();
        return;
    }
    if mode == "import" {
        // `memprobe import FILE [whole|stream|reopen]`: `kith bundle import` with no
        // node running, as the CLI does it: the whole file read and split
        // first (`whole`, before issue 24), or read as a stream (`stream`),
        // or as a stream with the store reopened every REOPEN_EVERY entries
        // (`reopen`, a refuted idea: docs/BENCHMARKS.md).
        import(&args[2], args.get(3).map_or("stream", String::as_str));
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
            files: Vec::new(),
            mentions: Vec::new(),
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
