//! The automerge-perf editing trace (259,778 single-character edits of a
//! LaTeX paper) through Kith's full wiki path, against raw Automerge in the
//! same run. Prints figures; run with
//!
//! ```sh
//! cargo bench -p kith-node --bench wiki
//! ```
//!
//! Kith's path: each edit is its own Automerge change (as raw Automerge with
//! a commit per edit); the changes of each save (`KITH_BENCH_SAVE_EVERY`
//! edits, default 1,000: an editor's autosave) are packed into signed
//! wiki-change entries, stored durably (flushed), and materialized.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::time::{Duration, Instant};

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT, ReadDoc, TextEncoding};
use kith_node::ops;
use kith_node::{Config, Core, DataDir};
use kith_protocol::Keypair;
use serde::Deserialize;

#[derive(Deserialize)]
struct Trace {
    #[serde(rename = "endContent")]
    end_content: String,
    txns: Vec<Txn>,
}

#[derive(Deserialize)]
struct Txn {
    patches: Vec<(usize, usize, String)>,
}

fn load_trace() -> Trace {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/data/automerge-paper.json.gz"
    );
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut json = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut json)
        .unwrap();
    serde_json::from_str(&json).unwrap()
}

fn raw(trace: &Trace, commit_each: bool) -> (Duration, AutoCommit) {
    let t = Instant::now();
    let mut doc = AutoCommit::new_with_encoding(TextEncoding::UnicodeCodePoint);
    let text = doc.put_object(ROOT, "body", ObjType::Text).unwrap();
    for txn in &trace.txns {
        for (pos, del, ins) in &txn.patches {
            doc.splice_text(&text, *pos, *del as isize, ins).unwrap();
        }
        if commit_each {
            doc.commit();
        }
    }
    doc.commit();
    let elapsed = t.elapsed();
    assert_eq!(doc.text(&text).unwrap(), trace.end_content);
    (elapsed, doc)
}

/// Bytes the files under `path` take on disk (allocated blocks: sled's
/// file has holes where it freed segments), and their apparent length.
fn dir_size(path: &std::path::Path) -> u64 {
    dir_sizes(path).0
}

fn dir_sizes(path: &std::path::Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let (mut allocated, mut apparent) = (0, 0);
    for entry in std::fs::read_dir(path).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        if meta.is_dir() {
            let (a, b) = dir_sizes(&entry.path());
            allocated += a;
            apparent += b;
        } else {
            allocated += meta.blocks() * 512;
            apparent += meta.len();
        }
    }
    (allocated, apparent)
}

fn main() {
    let trace = load_trace();
    let save_every: usize = std::env::var("KITH_BENCH_SAVE_EVERY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let edits: Vec<(usize, usize, String)> =
        trace.txns.iter().flat_map(|t| t.patches.clone()).collect();
    println!(
        "trace: {} edits, final text {} chars",
        edits.len(),
        trace.end_content.chars().count()
    );

    let (raw_each, mut raw_doc) = raw(&trace, true);
    let (raw_once, _) = raw(&trace, false);
    let raw_bytes = raw_doc.save();
    let raw_saved = raw_bytes.len();
    let t = Instant::now();
    let loaded = AutoCommit::load(&raw_bytes).unwrap();
    let raw_load = t.elapsed();
    drop(loaded);

    // Kith: a node's core on an on-disk store.
    let dir = tempfile::tempdir().unwrap();
    let data_dir = DataDir::new(dir.path());
    let keypair = Keypair::from_secret(&[1; 32]);
    let config = Config::new(data_dir.clone());
    // As a node does: the store and the search index on disk.
    let mut core = Core::open(config.clone(), keypair.clone()).unwrap();
    let t = Instant::now();
    let page = core
        .run(ops::WikiNew {
            circle: None,
            title: "Paper".into(),
            body: String::new(),
        })
        .unwrap()
        .id;
    let mut entries = 1;
    for chunk in edits.chunks(save_every) {
        entries += core.wiki_splices(&page, chunk).unwrap().len();
    }
    let kith = t.elapsed();
    let shown = core
        .run(ops::WikiShow {
            page: page.to_string(),
        })
        .unwrap();
    assert_eq!(shown.body, trace.end_content);
    assert_eq!(shown.changes as usize, edits.len() + 1);
    let entry_bytes: usize = core
        .store()
        .log(&core.me(), 1, usize::MAX)
        .unwrap()
        .iter()
        .map(|e| e.encoded_len())
        .sum();
    let exported = core
        .run(ops::WikiAutomerge {
            page: "Paper".into(),
        })
        .map(|b| b.0)
        .unwrap()
        .len();
    // As a node does when it stops.
    core.close().unwrap();
    drop(core);
    let on_disk = dir_size(&data_dir.store());
    let (_, apparent) = dir_sizes(&data_dir.store());
    println!("store files: {on_disk} bytes allocated, {apparent} bytes apparent length");

    // Opening the page from the store in a fresh process-like state: the
    // store, the node's core (which catches views up), then the page.
    let t = Instant::now();
    let mut core = Core::open(config, keypair).unwrap();
    let started = t.elapsed();
    let reopened = core
        .run(ops::WikiShow {
            page: "Paper".into(),
        })
        .unwrap();
    let open = t.elapsed();
    println!("(of which opening the store and the core: {started:.2?})");
    // Live data by key prefix (what sled's file holds besides garbage).
    let live = core.store().usage().unwrap();
    let total: u64 = live.values().map(|v| v.1).sum();
    let parts: Vec<String> = live
        .iter()
        .map(|(t, (n, b))| format!("{t}:{n}/{b}"))
        .collect();
    println!(
        "live keys and bytes by prefix ({total} bytes): {}",
        parts.join(" ")
    );
    assert_eq!(reopened.body, trace.end_content);

    println!("## editing trace (save every {save_every} edits)");
    println!("raw automerge, commit per edit: {raw_each:.2?}");
    println!("raw automerge, one commit:      {raw_once:.2?}");
    println!("kith full path, commit per edit: {kith:.2?} ({entries} signed entries)");
    println!(
        "ratio kith / raw (commit per edit): {:.2}",
        kith.as_secs_f64() / raw_each.as_secs_f64()
    );
    println!("## opening the page from the store");
    println!("raw automerge load of its save(): {raw_load:.2?}");
    println!(
        "kith: open the store, start the core, wiki show: {open:.2?} (ratio {:.2})",
        open.as_secs_f64() / raw_load.as_secs_f64()
    );
    println!("## stored bytes");
    println!("automerge save() of the same document: {raw_saved} bytes");
    println!("kith .automerge export:                {exported} bytes");
    println!(
        "signed entries (source of truth):      {entry_bytes} bytes ({:.2}x automerge save)",
        entry_bytes as f64 / raw_saved as f64
    );
    println!(
        "whole store on disk (entries, views, sled overhead): {on_disk} bytes ({:.2}x automerge save)",
        on_disk as f64 / raw_saved as f64
    );
    println!(
        "wiki-storage: entries_ratio={:.2} store_ratio={:.2} path_ratio={:.2} open_ratio={:.2}",
        entry_bytes as f64 / raw_saved as f64,
        on_disk as f64 / raw_saved as f64,
        kith.as_secs_f64() / raw_each.as_secs_f64(),
        open.as_secs_f64() / raw_load.as_secs_f64(),
    );
}
