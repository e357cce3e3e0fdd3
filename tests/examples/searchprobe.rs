//! Search latency on an existing index, in this process (no HTTP): the four
//! query shapes of the million-entry benchmark (`tests/benches/million.rs`),
//! from the same words and generator (the very same queries at 300 per
//! shape, the bench's count). Not part of the test suite.
//!
//! `cargo run --release -p kith-tests --example searchprobe -- DATA_DIR [QUERIES]`
//! (on a copy of a store no node is running on: the index is opened for
//! writing). The stores `KITH_MILLION_KEEP=1` keeps serve. Hits are read
//! from the store, as on a node; `SEARCHPROBE_NO_STORE=1` makes every hit
//! one fixed post instead, to see what those reads cost.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use kith_node::DataDir;
use kith_node::reader::post_at;
use kith_node::search::{Query, Search};
use kith_node::store::Store;
use kith_node::store::kv::KvConfig;
use kith_protocol::Limits;
use kith_testkit::corpus::{Rng, vocabulary};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::Path::new(args.get(1).expect("DATA_DIR")).join("search");
    if args.get(2).map(String::as_str) == Some("merge") {
        // `searchprobe DATA_DIR merge`: merges the index into one segment
        // (to measure what the number of segments costs a search).
        let index = tantivy::Index::open_in_dir(&dir).unwrap();
        let mut writer: tantivy::IndexWriter = index.writer(64 << 20).unwrap();
        let ids = index.searchable_segment_ids().unwrap();
        let t = Instant::now();
        writer.merge(&ids).wait().unwrap();
        writer.wait_merging_threads().unwrap();
        println!("merged {} segments in {:.1?}", ids.len(), t.elapsed());
        return;
    }
    let queries: usize = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(300);
    let search = Search::open(Some(&dir)).unwrap();
    let reader = search.reader();
    // A hit's text is read from the store, as the node does.
    let store = Store::open(
        &DataDir::new(&args[1]).store(),
        &KvConfig::default(),
        Limits::default(),
    )
    .unwrap();
    let words = vocabulary();
    let long: Vec<String> = words.iter().filter(|w| w.len() >= 6).cloned().collect();
    // `SEARCHPROBE_NO_STORE=1`: every hit is one fixed post instead, to
    // measure what reading hits from the store costs a search.
    let fixed = std::env::var_os("SEARCHPROBE_NO_STORE").map(|_| kith_node::search::Found {
        id: kith_protocol::EntryId([0; 32]),
        timestamp_ms: 0,
        post: kith_protocol::Post {
            kind: kith_protocol::PostKind::Note,
            text: words[..40].join(" "),
            reply_to: None,
            tags: vec![],
            files: Vec::new(),
            mentions: Vec::new(),
        },
    });
    println!("{} documents, {} words", search.len(), words.len());
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    type Shape = fn(&mut Rng, &[String], &[String]) -> String;
    let shapes: [(&str, Shape); 4] = [
        ("one word", |rng, words, _| rng.pick(words).clone()),
        ("three words", |rng, words, _| {
            let q: Vec<&str> = (0..3).map(|_| rng.pick(words).as_str()).collect();
            q.join(" ")
        }),
        ("a begun word", |rng, _, long| {
            let w = rng.pick(long);
            w[..w.len() - 2].to_string()
        }),
        ("one typo", |rng, _, long| {
            let w = rng.pick(long);
            let at = 1 + rng.below(w.len() - 2);
            format!("{}{}", &w[..at], &w[at + 1..])
        }),
    ];
    // `SEARCHPROBE_DUMP=FILE`: each query and the ids it found, one line
    // each, to compare what two builds find.
    let mut dump = std::env::var_os("SEARCHPROBE_DUMP")
        .map(|path| std::io::BufWriter::new(std::fs::File::create(path).unwrap()));
    for (name, shape) in shapes {
        let mut times: Vec<Duration> = Vec::with_capacity(queries);
        let mut found = 0;
        for _ in 0..queries {
            let text = shape(&mut rng, &words, &long);
            let t = Instant::now();
            let hits = reader
                .search(
                    &Query {
                        text: &text,
                        author: None,
                        tag: None,
                        kind: None,
                        limit: Some(10),
                    },
                    &|author, seq| match &fixed {
                        Some(found) => Some(found.clone()),
                        None => post_at(&store, author, seq),
                    },
                )
                .unwrap();
            times.push(t.elapsed());
            found += usize::from(!hits.is_empty());
            if let Some(dump) = dump.as_mut() {
                use std::io::Write;
                let ids: Vec<&str> = hits.iter().map(|h| h.id.as_str()).collect();
                writeln!(dump, "{name}\t{text}\t{}", ids.join(",")).unwrap();
            }
        }
        times.sort();
        let p = |q: f64| times[((times.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
        println!(
            "{name:>14}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({found} of {queries} found)",
            p(0.5),
            p(0.99),
            p(1.0)
        );
    }
}
