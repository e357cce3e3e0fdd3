//! Search: 100,000 posts. Prints figures; run with
//!
//! ```sh
//! cargo bench -p kith-node --bench search
//! ```
//!
//! - baseline: plain store ingest (decode + verify + store) of the posts
//! - the node's ingest path with full-text indexing (and the final commit)
//! - search latency p50/p99 for one-word and three-word queries
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use kith_node::ops;
use kith_node::store::kv::KvConfig;
use kith_node::store::{Scope, Store};
use kith_node::{Config, Core, DataDir, identity};
use kith_protocol::{Body, Entry, Keypair, Limits, Post, PostKind};
use kith_testkit::corpus::{self, Rng};

const POSTS: usize = 100_000;
const AUTHORS: usize = 10;

/// Words of a real text (the automerge paper), for realistic term
/// statistics: in text order, a word repeated back to back kept once.
fn vocabulary() -> Vec<String> {
    let mut words = corpus::paper_words();
    words.dedup();
    words
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let words = vocabulary();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let authors: Vec<Keypair> = (0..AUTHORS)
        .map(|i| Keypair::from_secret(&[10 + i as u8; 32]))
        .collect();
    let tags = ["rust", "ops", "crdt", "sync", "ui", "docs"];

    // 100,000 signed posts, 10,000 per author.
    let mut logs: Vec<Vec<Entry>> = Vec::new();
    for kp in &authors {
        let scratch = Store::temporary().unwrap();
        let bodies: Vec<Body> = (0..POSTS / AUTHORS)
            .map(|_| {
                let len = 8 + (rng.next_u64() % 30) as usize;
                let text: Vec<&str> = (0..len).map(|_| rng.pick(&words).as_str()).collect();
                Body::Post(Post {
                    kind: if rng.next_u64().is_multiple_of(4) {
                        PostKind::Question
                    } else {
                        PostKind::Note
                    },
                    text: text.join(" "),
                    reply_to: None,
                    tags: vec![rng.pick(&tags).to_string()],
                    files: Vec::new(),
                    mentions: Vec::new(),
                })
            })
            .collect();
        let mut log = Vec::new();
        for chunk in bodies.chunks(1000) {
            log.extend(scratch.append_many(kp, chunk, 1_700_000_000_000).unwrap());
        }
        logs.push(log);
    }
    let wire: Vec<Vec<Vec<u8>>> = logs
        .iter()
        .map(|l| l.iter().map(Entry::encode).collect())
        .collect();
    drop(logs);
    let decode = |chunk: &[Vec<u8>]| -> Vec<Entry> {
        chunk
            .iter()
            .map(|b| Entry::decode(b, &Limits::default()).unwrap())
            .collect()
    };

    // Baseline: plain store ingest.
    let base_dir = tempfile::tempdir().unwrap();
    let store = Store::open(base_dir.path(), &KvConfig::default(), Limits::default()).unwrap();
    let scope = Scope::of(authors.iter().map(Keypair::author));
    let t = Instant::now();
    for log in &wire {
        for chunk in log.chunks(4096) {
            let outcome = store.ingest_batch(&decode(chunk), 1_700_000_000_000, &scope);
            assert!(outcome.error.is_none());
        }
    }
    store.flush().unwrap();
    let plain = t.elapsed();
    drop(store);

    // The node's path: store ingest + search indexing, then a commit.
    let dir = tempfile::tempdir().unwrap();
    let data_dir = DataDir::new(dir.path());
    let me = identity::create_from_secret(&data_dir.identity(), &[1; 32]).unwrap();
    let mut core = Core::open(Config::new(data_dir), me).unwrap();
    for kp in &authors {
        core.run(ops::TrustAdd {
            author: kp.author().into(),
            petname: None,
        })
        .unwrap();
    }
    let t = Instant::now();
    for log in &wire {
        for chunk in log.chunks(4096) {
            let outcome = core.ingest(&decode(chunk));
            assert!(outcome.error.is_none());
        }
    }
    core.search_flush().unwrap();
    let indexed = t.elapsed();

    // How a query is typed: whole words, words begun (all but the last two
    // letters), or words with one letter dropped (a typo).
    #[derive(Clone, Copy)]
    enum Typed {
        /// In quotes: exact words only, no expansion (the baseline).
        Quoted,
        Whole,
        Begun,
        Typo,
    }
    let mut latency = |n_words: usize, typed: Typed| {
        let mut times = Vec::new();
        let mut found = 0;
        for _ in 0..1000 {
            let q: Vec<String> = (0..n_words)
                .map(|_| {
                    let w = rng.pick(&words).as_str();
                    let chars: Vec<char> = w.chars().collect();
                    match typed {
                        Typed::Quoted => format!("\"{w}\""),
                        Typed::Whole => w.to_string(),
                        Typed::Begun => chars[..chars.len().saturating_sub(2).max(2)]
                            .iter()
                            .collect(),
                        Typed::Typo => chars
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| *i != chars.len() / 2)
                            .map(|(_, c)| c)
                            .collect(),
                    }
                })
                .collect();
            let t = Instant::now();
            let hits = core
                .run(ops::Search {
                    q: q.join(" "),
                    limit: Some(10),
                    ..Default::default()
                })
                .unwrap();
            times.push(t.elapsed());
            found += usize::from(!hits.is_empty());
        }
        times.sort();
        (percentile(&times, 0.5), percentile(&times, 0.99), found)
    };
    let quoted = latency(1, Typed::Quoted);
    let quoted3 = latency(3, Typed::Quoted);
    let one = latency(1, Typed::Whole);
    let three = latency(3, Typed::Whole);
    let begun = latency(1, Typed::Begun);
    let typo = latency(1, Typed::Typo);

    let rate = |d: Duration| POSTS as f64 / d.as_secs_f64();
    println!("## indexing {POSTS} posts ({AUTHORS} authors)");
    println!(
        "plain store ingest (baseline): {:.0} posts/s ({plain:.2?})",
        rate(plain)
    );
    println!(
        "ingest + full-text indexing:   {:.0} posts/s ({indexed:.2?})",
        rate(indexed)
    );
    println!("ratio: {:.2}", rate(indexed) / rate(plain));
    println!("## search latency (top 10 with snippets, 1,000 queries each)");
    println!(
        "one word in quotes, exact only (baseline): p50 {:.2?}  p99 {:.2?}",
        quoted.0, quoted.1
    );
    println!(
        "three words in quotes, exact only (baseline): p50 {:.2?}  p99 {:.2?}",
        quoted3.0, quoted3.1
    );
    println!(
        "one word:    p50 {:.2?}  p99 {:.2?}  ({} of 1000 found something)  ratio to quoted p50 {:.2}",
        one.0,
        one.1,
        one.2,
        one.0.as_secs_f64() / quoted.0.as_secs_f64()
    );
    println!(
        "three words: p50 {:.2?}  p99 {:.2?}  ({} of 1000 found something)  ratio to quoted p50 {:.2}",
        three.0,
        three.1,
        three.2,
        three.0.as_secs_f64() / quoted3.0.as_secs_f64()
    );
    println!(
        "one word begun (prefix):    p50 {:.2?}  p99 {:.2?}  ({} of 1000 found something)  ratio to quoted p50 {:.2}",
        begun.0,
        begun.1,
        begun.2,
        begun.0.as_secs_f64() / quoted.0.as_secs_f64()
    );
    println!(
        "one word, one letter dropped: p50 {:.2?}  p99 {:.2?}  ({} of 1000 found something)  ratio to quoted p50 {:.2}",
        typo.0,
        typo.1,
        typo.2,
        typo.0.as_secs_f64() / quoted.0.as_secs_f64()
    );
}
