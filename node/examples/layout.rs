//! What a key layout costs sled on disk: the entries of a bundle written
//! into fresh sled trees, one layout at a time, with nothing else changed
//! (same entries, same order, same batch size). Not part of the suite.
//!
//! `cargo run --release -p kith-node --example layout -- BUNDLE [LAYOUT…]`
//!
//! Layouts: `entry` (one key per entry: author seq → wire bytes), `entry+id`
//! (and entry id → author seq), `seg64` (64 consecutive entries of a log
//! under one key), `seg64+id`, `seg64-live` (segments rewritten at every
//! append, as single posts write them), `id`, `id-short`, `id-sorted` (the
//! id index alone: full, 8-byte ids and short locators, full in key order),
//! `entry+id-apart`, `seg64+id-apart` (the id index in a second sled
//! database beside the first), `entry+feed`, `entry+id+feed` (and the feed
//! view: time, id → author).
//!
//! `LAYOUT_HEAP_EVERY=N` prints the process's heap (RssAnon) after every N
//! entries, to see what sled's memory grows with (run one layout per
//! process); `LAYOUT_CACHE_MIB` sets sled's page cache (16 MiB unless set;
//! a node's is 8).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::dir_bytes;

use std::collections::BTreeMap;

use kith_node::bundle;
use kith_protocol::Limits;

const SEG: u64 = 64;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = &args[1];
    let layouts: Vec<&str> = if args.len() > 2 {
        args[2..].iter().map(String::as_str).collect()
    } else {
        vec!["entry", "entry+id", "seg64", "seg64+id", "seg64-live"]
    };
    let bundle_bytes = std::fs::metadata(path).unwrap().len();
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    let heap_every = env("LAYOUT_HEAP_EVERY");
    let cache = env("LAYOUT_CACHE_MIB").unwrap_or(16) << 20;
    for layout in layouts {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new()
            .path(dir.path())
            .cache_capacity(cache)
            .open()
            .unwrap();
        let tree = db.open_tree("kith").unwrap();
        // `…+id-apart`: the id index in a sled database of its own (its
        // own log), written in the same batches.
        let apart = layout.ends_with("+id-apart").then(|| {
            let db = sled::Config::new()
                .path(dir.path().join("ids"))
                .cache_capacity(16 << 20)
                .open()
                .unwrap();
            let tree = db.open_tree("ids").unwrap();
            (db, tree)
        });
        let mut id_batch = sled::Batch::default();
        let mut id_ops = 0;
        let reader =
            bundle::Reader::new(std::fs::File::open(path).unwrap(), Limits::default()).unwrap();
        let t = std::time::Instant::now();
        let (mut keys, mut live) = (0u64, 0u64);
        let mut batch = sled::Batch::default();
        let mut ops = 0;
        // Open segments: (author, segment number) → packed entries.
        let mut open: BTreeMap<([u8; 32], u64), Vec<u8>> = BTreeMap::new();
        let put = |batch: &mut sled::Batch, ops: &mut usize, k: Vec<u8>, v: &[u8]| {
            batch.insert(k, v);
            *ops += 1;
            if *ops >= 256 {
                tree.apply_batch(std::mem::take(batch)).unwrap();
                *ops = 0;
            }
        };
        let mut sorted: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        for (n, (_, entry)) in reader.enumerate() {
            if let Some(every) = heap_every
                && n > 0
                && (n as u64).is_multiple_of(every)
            {
                println!("{layout:>11}: {n:>8} entries, heap {:>5} MiB", heap_mib());
            }
            let author = *entry.author().as_bytes();
            if layout.starts_with("id") {
                // The id index alone: full (id → author seq), short (8
                // bytes of the id → a 4-byte author number and the seq),
                // or full but inserted in key order at the end.
                let (k, v) = if layout == "id-short" {
                    let mut k = vec![b'I'];
                    k.extend_from_slice(&entry.id().as_bytes()[..8]);
                    let mut v = (author[0] as u32).to_be_bytes().to_vec();
                    kith_protocol::varint::encode(entry.seq(), &mut v);
                    (k, v)
                } else {
                    let mut k = vec![b'I'];
                    k.extend_from_slice(entry.id().as_bytes());
                    let mut v = author.to_vec();
                    v.extend_from_slice(&entry.seq().to_be_bytes());
                    (k, v)
                };
                keys += 1;
                live += (k.len() + v.len()) as u64;
                if layout == "id-sorted" {
                    sorted.push((k, v));
                } else {
                    put(&mut batch, &mut ops, k, &v);
                }
                continue;
            }
            let wire = entry.encode();
            if layout.contains("+id") || apart.is_some() {
                let mut k = vec![b'I'];
                k.extend_from_slice(entry.id().as_bytes());
                let mut v = author.to_vec();
                v.extend_from_slice(&entry.seq().to_be_bytes());
                keys += 1;
                live += (k.len() + v.len()) as u64;
                if let Some((_, ids)) = &apart {
                    id_batch.insert(k, v);
                    id_ops += 1;
                    if id_ops >= 256 {
                        ids.apply_batch(std::mem::take(&mut id_batch)).unwrap();
                        id_ops = 0;
                    }
                } else {
                    put(&mut batch, &mut ops, k, &v);
                }
            }
            if layout.contains("+feed") {
                // The feed view: time, id → author (one key per post).
                let mut k = b"vf".to_vec();
                k.extend_from_slice(&entry.header().timestamp_ms.to_be_bytes());
                k.extend_from_slice(entry.id().as_bytes());
                keys += 1;
                live += (k.len() + 32) as u64;
                put(&mut batch, &mut ops, k, &author);
            }
            if layout.starts_with("entry") {
                let mut k = vec![b'E'];
                k.extend_from_slice(&author);
                k.extend_from_slice(&entry.seq().to_be_bytes());
                keys += 1;
                live += (k.len() + wire.len()) as u64;
                put(&mut batch, &mut ops, k, &wire);
                continue;
            }
            let seg = (entry.seq() - 1) / SEG;
            let buf = open.entry((author, seg)).or_default();
            kith_protocol::varint::encode(wire.len() as u64, buf);
            buf.extend_from_slice(&wire);
            let full = entry.seq() % SEG == 0;
            if layout == "seg64-live" || full {
                let mut k = vec![b'E'];
                k.extend_from_slice(&author);
                k.extend_from_slice(&seg.to_be_bytes());
                let v = if full {
                    open.remove(&(author, seg)).unwrap()
                } else {
                    buf.clone()
                };
                if full {
                    keys += 1;
                    live += (k.len() + v.len()) as u64;
                }
                put(&mut batch, &mut ops, k, &v);
            }
        }
        sorted.sort();
        for (k, v) in sorted {
            put(&mut batch, &mut ops, k, &v);
        }
        for ((author, seg), v) in std::mem::take(&mut open) {
            let mut k = vec![b'E'];
            k.extend_from_slice(&author);
            k.extend_from_slice(&seg.to_be_bytes());
            keys += 1;
            live += (k.len() + v.len()) as u64;
            put(&mut batch, &mut ops, k, &v);
        }
        tree.apply_batch(batch).unwrap();
        db.flush().unwrap();
        if let Some((ids_db, ids)) = apart {
            ids.apply_batch(id_batch).unwrap();
            ids_db.flush().unwrap();
        }
        let written = t.elapsed();
        let flushed = dir_bytes(dir.path());
        drop(tree);
        drop(db);
        // Reopened: what stays after sled's recovery and cleanup.
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        db.flush().unwrap();
        drop(db);
        let reopened = dir_bytes(dir.path());
        println!(
            "{layout:>11}: {keys:>8} keys, live {:>6.1} MB, disk {:>6.1} MB ({:.2}× live, {:.2}× bundle), reopened {:>6.1} MB ({:.2}× bundle), written in {written:.1?}",
            live as f64 / 1e6,
            flushed as f64 / 1e6,
            flushed as f64 / live as f64,
            flushed as f64 / bundle_bytes as f64,
            reopened as f64 / 1e6,
            reopened as f64 / bundle_bytes as f64,
        );
    }
}

/// This process's resident anonymous memory (its heap), in MiB.
fn heap_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        / 1024
}
