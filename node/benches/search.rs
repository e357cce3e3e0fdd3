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

use std::io::Read;
use std::time::{Duration, Instant};

use kith_node::ops;
use kith_node::store::kv::KvConfig;
use kith_node::store::{Scope, Store};
use kith_node::{Config, Core, DataDir, identity};
use kith_protocol::{Body, Entry, Keypair, Limits, Post, PostKind};

const POSTS: usize = 100_000;
const AUTHORS: usize = 10;

/// Words of a real text (the automerge paper), for realistic term statistics.
fn vocabulary() -> Vec<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/data/automerge-paper.json.gz"
    );
    let file = std::fs::File::open(path).unwrap();
    let mut json = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut json)
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let text = v["endContent"].as_str().unwrap();
    let mut words: Vec<String> = text
        .split(|c: char| !c.is_alphabetic())
        .filter(|w| w.len() >= 3)
        .map(str::to_lowercase)
        .collect();
    words.dedup();
    words
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
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
                let len = 8 + (rng.next() % 30) as usize;
                let text: Vec<&str> = (0..len).map(|_| rng.pick(&words).as_str()).collect();
                Body::Post(Post {
                    kind: if rng.next().is_multiple_of(4) {
                        PostKind::Question
                    } else {
                        PostKind::Note
                    },
                    text: text.join(" "),
                    reply_to: None,
                    tags: vec![rng.pick(&tags).to_string()],
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

    let mut latency = |n_words: usize| {
        let mut times = Vec::new();
        let mut found = 0;
        for _ in 0..1000 {
            let q: Vec<&str> = (0..n_words).map(|_| rng.pick(&words).as_str()).collect();
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
    let one = latency(1);
    let three = latency(3);

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
        "one word:    p50 {:.2?}  p99 {:.2?}  ({} of 1000 found something)",
        one.0, one.1, one.2
    );
    println!(
        "three words: p50 {:.2?}  p99 {:.2?}  ({} of 1000 found something)",
        three.0, three.1, three.2
    );
}
