//! Load benchmarks of the node's house (prints figures; not a timed test):
//!
//! ```sh
//! cargo build --release -p kith-cli
//! KITH_BEFORE=/path/to/an/older/kith cargo bench -p kith-tests --bench load
//! ```
//!
//! 1. Ingest scaling, in this process: the single-thread `verify_strict`
//!    rate over 100,000 varied notes by 10 authors is the baseline;
//!    parallel verification and the node's in-process import path are
//!    reported against it.
//! 2. Network under local load, two `kith up` processes per binary (the
//!    current one, and `KITH_BEFORE` if set, in the same run): node A holds
//!    100,000 entries, imported with `kith bundle import` (the product
//!    path, timed). B posts every 20 ms. Idle, then while A rebuilds its
//!    views (`reindex`), imports another 100,000-entry bundle and serves
//!    20 concurrent searches: B→A propagation p50/p99 (seen by polling A's
//!    status every 10 ms) and A's `status` and `feed` latency p99.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kith_node::store::Store;
use kith_node::{Config, Core, DataDir, identity, ops};
use kith_protocol::{AuthorId, Body, Entry, Keypair, Limits, Post, PostKind};
use kith_testkit::process::{Kith, Up, kith_binary};

const AUTHORS: usize = 10;
const PER_AUTHOR: usize = 10_000;
/// B posts this often while measuring.
const POST_EVERY: Duration = Duration::from_millis(20);
const IDLE_FOR: Duration = Duration::from_secs(8);
const SEARCHERS: usize = 20;

const WORDS: &[&str] = &[
    "sync",
    "protocol",
    "gossip",
    "backfill",
    "wiki",
    "merge",
    "offline",
    "trust",
    "circle",
    "entry",
    "signature",
    "ed25519",
    "automerge",
    "sled",
    "tantivy",
    "latency",
    "bundle",
    "frontier",
    "replication",
    "review",
    "release",
    "deploy",
    "benchmark",
    "profile",
    "memory",
    "question",
    "answer",
    "endorse",
    "runbook",
    "design",
    "today",
    "tomorrow",
    "learned",
    "stuck",
    "because",
    "maybe",
    "faster",
    "slower",
    "works",
    "breaks",
    "the",
    "a",
    "with",
    "without",
];

/// A ~150-byte note, different for every (author, i).
fn note(author: usize, i: usize) -> Body {
    let mut x =
        ((author as u64 + 1) * 0x9e37_79b9_7f4a_7c15) ^ (i as u64).wrapping_mul(0xbf58_476d);
    let mut text = format!("Note {i} by author {author}:");
    while text.len() < 140 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        text.push(' ');
        text.push_str(WORDS[(x % WORDS.len() as u64) as usize]);
    }
    Body::Post(Post {
        kind: PostKind::Note,
        text,
        reply_to: None,
        tags: vec![WORDS[(x % 7) as usize].to_string()],
        files: Vec::new(),
        mentions: Vec::new(),
    })
}

/// `parts` consecutive stretches of every author's log, `PER_AUTHOR`
/// entries each, signed in a scratch store.
fn corpus(parts: usize) -> (Vec<Keypair>, Vec<Vec<Entry>>) {
    let keys: Vec<Keypair> = (0..AUTHORS)
        .map(|a| Keypair::from_secret(&[40 + a as u8; 32]))
        .collect();
    let scratch = Store::temporary().unwrap();
    let mut out = vec![Vec::new(); parts];
    for (a, key) in keys.iter().enumerate() {
        for (p, part) in out.iter_mut().enumerate() {
            let bodies: Vec<Body> = (0..PER_AUTHOR)
                .map(|i| note(a, p * PER_AUTHOR + i))
                .collect();
            for chunk in bodies.chunks(1_000) {
                part.extend(scratch.append_many(key, chunk, 1_700_000_000_000).unwrap());
            }
        }
    }
    (keys, out)
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn ingest_scaling(keys: &[Keypair], entries: &[Entry]) -> f64 {
    let limits = Limits::default();
    let now = kith_node::core::now_ms();
    let t = Instant::now();
    for e in entries {
        e.verify(&limits, now).unwrap();
    }
    let single = rate(entries.len(), t.elapsed());
    let t = Instant::now();
    let checked = kith_node::verify_all(entries.to_vec(), &limits, now);
    let parallel = rate(entries.len(), t.elapsed());
    assert!(checked.failed.is_none());

    let dir = tempfile::tempdir().unwrap();
    let data_dir = DataDir::new(dir.path());
    let me = identity::create_from_secret(&data_dir.identity(), &[1; 32]).unwrap();
    let mut core = Core::open(Config::new(data_dir), me).unwrap();
    for k in keys {
        core.run(ops::TrustAdd {
            author: k.author().into(),
            petname: None,
        })
        .unwrap();
    }
    let t = Instant::now();
    let report = core
        .run(ops::ImportEntries {
            entries: entries.to_vec(),
        })
        .unwrap();
    core.search_flush().unwrap();
    let in_process = rate(entries.len(), t.elapsed());
    assert_eq!(report.appended as usize, entries.len());
    core.close().unwrap();

    println!(
        "## ingest scaling: {} varied notes by {AUTHORS} authors, {} cores",
        entries.len(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("single-thread verify_strict (baseline): {single:>8.0} entries/s");
    println!(
        "parallel verification (pool):          {parallel:>8.0} entries/s  {:.2}x",
        parallel / single
    );
    println!(
        "in-process import (verify + store + search): {in_process:>8.0} entries/s  {:.2}x",
        in_process / single
    );
    single
}

fn kith(bin: &Path, dir: &Path, args: &[&str]) -> Duration {
    let t = Instant::now();
    Kith::at(bin).run(dir, args);
    t.elapsed()
}

fn p(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

/// What one measurement window saw.
#[derive(Default)]
struct Window {
    propagation: Vec<Duration>,
    lost: usize,
    status: Vec<Duration>,
    feed: Vec<Duration>,
}

impl Window {
    fn print(&mut self, name: &str) {
        for v in [&mut self.propagation, &mut self.status, &mut self.feed] {
            v.sort();
        }
        println!(
            "{name:<7} propagation p50 {:>9.1?} p99 {:>9.1?} max {:>9.1?} ({} posts, {} not arrived) | status p99 {:>9.1?} max {:>9.1?} | feed p99 {:>9.1?} max {:>9.1?}",
            p(&self.propagation, 0.5),
            p(&self.propagation, 0.99),
            p(&self.propagation, 1.0),
            self.propagation.len(),
            self.lost,
            p(&self.status, 0.99),
            p(&self.status, 1.0),
            p(&self.feed, 0.99),
            p(&self.feed, 1.0),
        );
    }
}

/// B posts every `POST_EVERY` and A's status and feed are polled, until
/// `done` is set.
fn measure(a: &Up, b: &Up, b_author: AuthorId, done: Arc<AtomicBool>) -> Window {
    let posted: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::default();
    let poster = {
        let (client, posted, done) = (b.client(), posted.clone(), done.clone());
        std::thread::spawn(move || {
            let mut i = 0;
            while !done.load(Ordering::SeqCst) {
                let next = Instant::now() + POST_EVERY;
                let view = client
                    .call(ops::Post::note(format!("load test post {i}")))
                    .unwrap();
                posted.lock().unwrap().push((view.seq, Instant::now()));
                i += 1;
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
        })
    };
    let feed = {
        let (client, done) = (a.client(), done.clone());
        std::thread::spawn(move || {
            let mut times = Vec::new();
            while !done.load(Ordering::SeqCst) {
                let t = Instant::now();
                client
                    .call(ops::Feed {
                        limit: Some(20),
                        ..Default::default()
                    })
                    .unwrap();
                times.push(t.elapsed());
                std::thread::sleep(Duration::from_millis(50));
            }
            times
        })
    };
    // Status polling, which also sees B's posts arrive at A.
    let client = a.client();
    let mut window = Window::default();
    let mut arrived_seq = 0;
    let mut arrivals: Vec<(u64, Instant)> = Vec::new();
    while !done.load(Ordering::SeqCst) {
        let t = Instant::now();
        let status = client.call(ops::Status {}).unwrap();
        window.status.push(t.elapsed());
        let seq = status
            .authors
            .iter()
            .find(|s| s.author == b_author)
            .map_or(0, |s| s.local_seq);
        if seq > arrived_seq {
            arrivals.push((seq, Instant::now()));
            arrived_seq = seq;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    poster.join().unwrap();
    window.feed = feed.join().unwrap();
    // Give the last posts a moment, then match posts to arrivals.
    let deadline = Instant::now() + Duration::from_secs(10);
    let last_posted = posted.lock().unwrap().last().map_or(0, |p| p.0);
    while arrived_seq < last_posted && Instant::now() < deadline {
        let status = client.call(ops::Status {}).unwrap();
        let seq = status
            .authors
            .iter()
            .find(|s| s.author == b_author)
            .map_or(0, |s| s.local_seq);
        if seq > arrived_seq {
            arrivals.push((seq, Instant::now()));
            arrived_seq = seq;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    for (seq, at) in posted.lock().unwrap().iter() {
        match arrivals.iter().find(|(s, _)| s >= seq) {
            Some((_, seen)) => window.propagation.push(seen.saturating_duration_since(*at)),
            None => window.lost += 1,
        }
    }
    window
}

fn write_bundle(path: &Path, from: AuthorId, entries: &[Entry]) {
    let header = kith_node::bundle::Header {
        created_ms: 1_700_000_000_000,
        from,
        recipient: None,
        entries: entries.len() as u64,
    };
    std::fs::write(path, kith_node::bundle::write(&header, entries)).unwrap();
}

fn network_under_load(
    label: &str,
    bin: &Path,
    keys: &[Keypair],
    parts: &[Vec<Entry>],
    baseline: f64,
) {
    let root = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (root.path().join("a"), root.path().join("b"));
    identity::create_from_secret(&DataDir::new(&a_dir).identity(), &[1; 32]).unwrap();
    let b_key = identity::create_from_secret(&DataDir::new(&b_dir).identity(), &[2; 32]).unwrap();
    for k in keys {
        kith(bin, &a_dir, &["trust", "add", &k.author().to_string()]);
    }
    let (first, second) = (root.path().join("1.bundle"), root.path().join("2.bundle"));
    write_bundle(&first, keys[0].author(), &parts[0]);
    write_bundle(&second, keys[0].author(), &parts[1]);

    let a = Up::start(&Kith::at(bin), &a_dir);
    let b = Up::start(&Kith::at(bin), &b_dir);
    let import = kith(bin, &a_dir, &["bundle", "import", first.to_str().unwrap()]);
    let product = rate(parts[0].len(), import);
    let (ca, cb) = (a.client(), b.client());
    let code_a = ca.call(ops::Invite {}).unwrap().code;
    let code_b = cb.call(ops::Invite {}).unwrap().code;
    ca.call(ops::Join {
        code: code_b,
        petname: None,
    })
    .unwrap();
    cb.call(ops::Join {
        code: code_a,
        petname: None,
    })
    .unwrap();
    let t = Instant::now();
    while ca.call(ops::Status {}).unwrap().connected_peers == 0 {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "A and B never connected"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(2)); // gossip meshes form

    let done = Arc::new(AtomicBool::new(false));
    let stop = {
        let done = done.clone();
        std::thread::spawn(move || {
            std::thread::sleep(IDLE_FOR);
            done.store(true, Ordering::SeqCst);
        })
    };
    let mut idle = measure(&a, &b, b_key.author(), done);
    stop.join().unwrap();

    if std::env::var("KITH_LOAD").as_deref() == Ok("jobs") {
        println!("## {label}: {}", bin.display());
        println!(
            "product path `kith bundle import` of {} entries: {product:.0} entries/s = {:.2}x single-thread verify; A's peak RSS {} MiB",
            parts[0].len(),
            product / baseline,
            a.status_kib("VmHWM:") / 1024
        );
        idle.print("idle");
        one_job_at_a_time(&a, &b, b_key.author(), bin, &a_dir, &second, parts[1].len());
        return;
    }

    // Loaded: reindex, a second import and 20 searchers at once.
    let done = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let reindex = {
        let client = a.client();
        std::thread::spawn(move || {
            let t = Instant::now();
            client.call(ops::Reindex {}).unwrap();
            t.elapsed()
        })
    };
    let importer = {
        let (bin, dir, file) = (bin.to_path_buf(), a_dir.clone(), second.clone());
        std::thread::spawn(move || kith(&bin, &dir, &["bundle", "import", file.to_str().unwrap()]))
    };
    let searches: Vec<_> = (0..SEARCHERS)
        .map(|i| {
            let (client, done) = (a.client(), done.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                while !done.load(Ordering::SeqCst) {
                    let q = format!(
                        "{} {}",
                        WORDS[(i + n) % WORDS.len()],
                        WORDS[(i * 7 + n) % WORDS.len()]
                    );
                    let _ = client.call(ops::Search {
                        q,
                        ..Default::default()
                    });
                    n += 1;
                }
                n
            })
        })
        .collect();
    let watcher = {
        let done = done.clone();
        std::thread::spawn(move || {
            let reindex = reindex.join().unwrap();
            let import = importer.join().unwrap();
            done.store(true, Ordering::SeqCst);
            (reindex, import)
        })
    };
    let peak = Arc::new(Mutex::new(0u64));
    let mut loaded = measure(&a, &b, b_key.author(), done);
    let (reindex_took, import_took) = watcher.join().unwrap();
    let searched: usize = searches.into_iter().map(|s| s.join().unwrap()).sum();
    let window = started.elapsed();
    *peak.lock().unwrap() = a.rss_kib() / 1024;

    println!("## {label}: {}", bin.display());
    println!(
        "product path `kith bundle import` of {} entries: {product:.0} entries/s = {:.2}x single-thread verify",
        parts[0].len(),
        product / baseline
    );
    idle.print("idle");
    loaded.print("loaded");
    println!(
        "loaded window {window:.1?}: reindex {reindex_took:.1?}, second import {import_took:.1?} ({:.0} entries/s), {searched} searches; A's RSS after: {} MiB",
        rate(parts[1].len(), import_took),
        *peak.lock().unwrap()
    );
}

/// `KITH_LOAD=jobs`: each long job alone (a reindex, then an import of
/// the second bundle), with B posting and A's status and feed polled
/// throughout, as the goals of the storage issue state them.
fn one_job_at_a_time(
    a: &Up,
    b: &Up,
    b_author: AuthorId,
    bin: &Path,
    a_dir: &Path,
    bundle: &Path,
    entries: usize,
) {
    let job = |name: &str, run: Box<dyn FnOnce() + Send>| {
        let done = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let worker = {
            let done = done.clone();
            std::thread::spawn(move || {
                run();
                done.store(true, Ordering::SeqCst);
            })
        };
        let mut window = measure(a, b, b_author, done);
        worker.join().unwrap();
        let took = started.elapsed();
        window.print(name);
        println!(
            "{name}: {took:.1?}; A's RSS after {} MiB, peak so far {} MiB",
            a.rss_kib() / 1024,
            a.status_kib("VmHWM:") / 1024
        );
    };
    let client = a.client();
    job(
        "reindex",
        Box::new(move || {
            client.call(ops::Reindex {}).unwrap();
        }),
    );
    let (bin, dir, file) = (bin.to_path_buf(), a_dir.to_path_buf(), bundle.to_path_buf());
    let t = Instant::now();
    job(
        "import",
        Box::new(move || {
            kith(&bin, &dir, &["bundle", "import", file.to_str().unwrap()]);
        }),
    );
    println!(
        "import under measurement: {:.0} entries/s",
        rate(entries, t.elapsed())
    );
}

fn main() {
    let (keys, parts) = corpus(2);
    let baseline = ingest_scaling(&keys, &parts[0]);
    network_under_load("this build", &kith_binary(), &keys, &parts, baseline);
    if let Ok(before) = std::env::var("KITH_BEFORE") {
        network_under_load(
            "before (KITH_BEFORE)",
            Path::new(&before),
            &keys,
            &parts,
            baseline,
        );
    }
}
