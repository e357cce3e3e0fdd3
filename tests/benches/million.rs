//! The million-entry benchmark (issue 24; prints figures, not a timed test):
//!
//! ```sh
//! cargo build --release -p kith-cli
//! cargo bench -p kith-tests --bench million
//! ```
//!
//! A store of `KITH_MILLION` entries (default 1,000,000) by 100 authors:
//! varied notes in the words of a real paper, questions, answers to other
//! people's questions, replies, endorsements, and a few hundred wiki pages
//! with history (written by real `Core`s, so they are what a node writes).
//! Then, as a user would meet it, with the release `kith`: `kith bundle
//! import` with no node running (time, peak RSS, bytes on disk), `kith up`
//! until its API answers (the first start after the import, and a later
//! one), search p50/p99 for four query shapes, feed pages and threads
//! through the API, `kith reindex`, and the node's RSS idle and at peak.
//!
//! The baseline is the same store at a tenth of the size (100 authors,
//! a tenth of the entries each), built and measured in the same run, so a
//! ratio says how each figure grows with the store on this (noisy, shared)
//! machine. Bundles are cached under the system temp dir between runs
//! (`KITH_MILLION_CACHE` to put them elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use kith_node::api::Client;
use kith_node::{Config, Core, DataDir, identity, ops};
use kith_protocol::{AuthorId, Body, Draft, Endorsement, Entry, EntryId, Keypair, Post, PostKind};
use kith_testkit::corpus::{Rng, vocabulary};
use kith_testkit::process::{Kith, Up, status_kib};

const AUTHORS: usize = 100;
/// Authors who keep wiki pages, and how many pages and edits each.
const WIKI_AUTHORS: usize = 60;
const PAGES_EACH: usize = 5;
const EDITS_EACH: usize = 6;
/// Queries per measured shape.
const QUERIES: usize = 300;
/// Bumped whenever the generator changes, so a cached bundle is remade.
const GENERATOR: u32 = 1;

fn sentence(rng: &mut Rng, words: &[String], min: usize, spread: usize) -> String {
    let len = min + rng.below(spread);
    let mut text: Vec<&str> = (0..len).map(|_| rng.pick(words).as_str()).collect();
    let first = text[0].to_string();
    let mut capital = first[..1].to_uppercase();
    capital.push_str(&first[1..]);
    text[0] = &capital;
    text.join(" ")
}

fn key_of(author: usize) -> [u8; 32] {
    let mut secret = [0x4b; 32];
    secret[..8].copy_from_slice(&(author as u64).to_le_bytes());
    secret
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The wiki entries an author's own node writes for `PAGES_EACH` pages,
/// each created and then edited `EDITS_EACH` times (a paragraph rewritten
/// or added per edit), signed by that node.
fn wiki_log(author: usize, words: &[String], rng: &mut Rng) -> Vec<Entry> {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = DataDir::new(dir.path());
    let secret = key_of(author);
    let me = identity::create_from_secret(&data_dir.identity(), &secret).unwrap();
    let mut config = Config::new(data_dir);
    config.witness_dir = Some(dir.path().join("witness"));
    let mut core = Core::open(config, me.clone()).unwrap();
    for p in 0..PAGES_EACH {
        let title = format!("{} {author}-{p}", sentence(rng, words, 2, 3));
        let mut paragraphs: Vec<String> = (0..4).map(|_| sentence(rng, words, 20, 40)).collect();
        core.run(ops::WikiNew {
            title: title.clone(),
            body: paragraphs.join("\n\n"),
            circle: None,
        })
        .unwrap();
        for _ in 0..EDITS_EACH {
            if rng.below(3) == 0 {
                paragraphs.push(sentence(rng, words, 20, 40));
            } else {
                let at = rng.below(paragraphs.len());
                paragraphs[at] = sentence(rng, words, 20, 40);
            }
            core.run(ops::WikiEdit {
                page: title.clone(),
                body: paragraphs.join("\n\n"),
                base: None,
            })
            .unwrap();
        }
    }
    let log = core.store().log(&me.author(), 1, usize::MAX).unwrap();
    core.close().unwrap();
    assert!(!log.is_empty(), "the wiki log of author {author} is empty");
    log
}

/// What a generated store is made of, for the queries.
struct Corpus {
    bundle: PathBuf,
    authors: Vec<AuthorId>,
    questions: Vec<EntryId>,
    bytes: u64,
}

/// `n` entries by `AUTHORS` authors as a bundle file (made once, cached).
fn corpus(n: usize, words: &[String]) -> Corpus {
    let cache = std::env::var("KITH_MILLION_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir().join("kith-million"));
    std::fs::create_dir_all(&cache).unwrap();
    let bundle = cache.join(format!("g{GENERATOR}-{n}.bundle"));
    let meta = cache.join(format!("g{GENERATOR}-{n}.questions"));
    let authors: Vec<AuthorId> = (0..AUTHORS)
        .map(|a| Keypair::from_secret(&key_of(a)).author())
        .collect();
    if bundle.exists() && meta.exists() {
        let questions = std::fs::read_to_string(&meta)
            .unwrap()
            .lines()
            .map(|l| l.parse().unwrap())
            .collect();
        let bytes = std::fs::metadata(&bundle).unwrap().len();
        return Corpus {
            bundle,
            authors,
            questions,
            bytes,
        };
    }
    let started = Instant::now();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ n as u64);
    let tags: Vec<String> = (0..40).map(|_| rng.pick(words).clone()).collect();
    let header = kith_node::bundle::Header {
        created_ms: now_ms(),
        from: authors[0],
        recipient: None,
        entries: n as u64,
    };
    let partial = bundle.with_extension("partial");
    let file = std::io::BufWriter::new(std::fs::File::create(&partial).unwrap());
    let mut writer = kith_node::bundle::Writer::new(file, &header).unwrap();
    let mut questions: Vec<EntryId> = Vec::new();
    // Recent entries of anyone, for replies and endorsements.
    let mut recent: VecDeque<EntryId> = VecDeque::new();
    let per_author = n / AUTHORS;
    for a in 0..AUTHORS {
        let key = Keypair::from_secret(&key_of(a));
        let mut log = if a < WIKI_AUTHORS {
            wiki_log(a, words, &mut rng)
        } else {
            Vec::new()
        };
        log.truncate(per_author);
        let mut prev = log.last().map(Entry::id);
        let start = now_ms() - per_author as u64 * 60_000;
        for seq in log.len() + 1..=per_author {
            let roll = rng.below(100);
            let body = if roll < 10 {
                Body::Post(Post {
                    kind: PostKind::Question,
                    text: format!("{}?", sentence(&mut rng, words, 6, 20)),
                    reply_to: None,
                    tags: vec![rng.pick(&tags).clone()],
                    files: Vec::new(),
                    mentions: Vec::new(),
                })
            } else if roll < 30 && !questions.is_empty() {
                let question = *rng.pick(&questions);
                Body::Post(Post {
                    kind: PostKind::Answer,
                    text: sentence(&mut rng, words, 15, 40),
                    reply_to: Some(question),
                    tags: Vec::new(),
                    files: Vec::new(),
                    mentions: Vec::new(),
                })
            } else if roll < 36 && !recent.is_empty() {
                Body::Post(Post {
                    kind: PostKind::Note,
                    text: sentence(&mut rng, words, 5, 20),
                    reply_to: Some(*rng.pick(recent.make_contiguous())),
                    tags: Vec::new(),
                    files: Vec::new(),
                    mentions: Vec::new(),
                })
            } else if roll < 40 && !recent.is_empty() {
                Body::Endorsement(Endorsement {
                    target: *rng.pick(recent.make_contiguous()),
                    note: None,
                    withdraw: false,
                })
            } else {
                Body::Post(Post {
                    kind: PostKind::Note,
                    text: sentence(&mut rng, words, 8, 30),
                    reply_to: None,
                    tags: vec![rng.pick(&tags).clone()],
                    files: Vec::new(),
                    mentions: Vec::new(),
                })
            };
            let is_question = matches!(&body, Body::Post(p) if p.kind == PostKind::Question);
            let entry = Entry::sign(
                &key,
                Draft {
                    seq: seq as u64,
                    prev,
                    timestamp_ms: start + seq as u64 * 60_000,
                    body: body.encode(),
                },
            );
            let id = entry.id();
            if is_question {
                questions.push(id);
            }
            recent.push_back(id);
            if recent.len() > 500 {
                recent.pop_front();
            }
            prev = Some(id);
            log.push(entry);
        }
        for entry in &log {
            writer.push(entry).unwrap();
        }
    }
    writer.finish().unwrap();
    std::fs::rename(&partial, &bundle).unwrap();
    let lines: Vec<String> = questions.iter().map(EntryId::to_hex).collect();
    std::fs::write(&meta, lines.join("\n")).unwrap();
    println!(
        "generated {n} entries in {:.1?} ({} questions)",
        started.elapsed(),
        questions.len()
    );
    let bytes = std::fs::metadata(&bundle).unwrap().len();
    Corpus {
        bundle,
        authors,
        questions,
        bytes,
    }
}

fn kith(dir: &Path, args: &[&str]) {
    Kith::release().run(dir, args);
}

/// `kith ARGS` with its time, its peak RSS (VmHWM) and the largest heap
/// seen (RssAnon, polled every 10 ms): RSS also counts the pages of files it
/// maps, such as the search index's segments read while tantivy merges them.
fn kith_measured(dir: &Path, args: &[&str]) -> (Duration, u64, u64) {
    let started = Instant::now();
    let mut child = Kith::release()
        .command(dir)
        .args(args)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (mut peak, mut heap) = (0, 0);
    loop {
        if let Some(hwm) = status_kib(child.id(), "VmHWM:") {
            peak = peak.max(hwm);
        }
        if let Some(anon) = status_kib(child.id(), "RssAnon:") {
            heap = heap.max(anon);
        }
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "kith {args:?} failed");
            return (started.elapsed(), peak, heap);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn dir_bytes(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let meta = e.metadata().unwrap();
            if meta.is_dir() {
                dir_bytes(&e.path())
            } else {
                meta.len()
            }
        })
        .sum()
}

fn p(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

/// `kith up`, timed until its API answers `status`.
fn start(dir: &Path) -> (Up, Duration) {
    let started = Instant::now();
    let up = Up::start(&Kith::release(), dir);
    up.client().call(ops::Status {}).unwrap();
    (up, started.elapsed())
}

/// Latencies of `QUERIES` calls, sorted, and how many found something.
fn latencies(mut call: impl FnMut(usize) -> bool) -> (Vec<Duration>, usize) {
    let mut times = Vec::with_capacity(QUERIES);
    let mut found = 0;
    for i in 0..QUERIES {
        let t = Instant::now();
        if call(i) {
            found += 1;
        }
        times.push(t.elapsed());
    }
    times.sort();
    (times, found)
}

/// One store's figures, in the order they are printed.
struct Figures {
    rows: Vec<(String, f64, String)>,
}

impl Figures {
    fn add(&mut self, name: &str, value: f64, unit: &str) {
        println!("  {name}: {value:.2} {unit}");
        self.rows.push((name.to_string(), value, unit.to_string()));
    }

    fn lat(&mut self, name: &str, (times, found): (Vec<Duration>, usize)) {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        self.add(&format!("{name} p50"), ms(p(&times, 0.5)), "ms");
        self.add(&format!("{name} p99"), ms(p(&times, 0.99)), "ms");
        println!("    ({found} of {QUERIES} found something)");
    }
}

fn search(client: &Client, q: String) -> bool {
    !client
        .call(ops::Search {
            q,
            author: None,
            tag: None,
            kind: None,
            limit: Some(10),
        })
        .unwrap()
        .is_empty()
}

fn measure(n: usize, words: &[String]) -> Figures {
    let corpus = corpus(n, words);
    let mut f = Figures { rows: Vec::new() };
    println!(
        "store of {n} entries ({} bytes of bundle, {} questions):",
        corpus.bytes,
        corpus.questions.len()
    );
    let scratch = tempfile::tempdir_in(
        std::env::var("KITH_MILLION_DIR")
            .unwrap_or_else(|_| std::env::temp_dir().display().to_string()),
    )
    .unwrap();
    let dir = scratch.path();
    kith(dir, &["init"]);
    for author in &corpus.authors {
        kith(dir, &["trust", "add", &author.to_string()]);
    }
    let (took, peak, heap) =
        kith_measured(dir, &["bundle", "import", corpus.bundle.to_str().unwrap()]);
    f.add("import time", took.as_secs_f64(), "s");
    f.add("import rate", n as f64 / took.as_secs_f64(), "entries/s");
    f.add("import peak RSS", peak as f64 / 1024.0, "MiB");
    f.add("import peak heap (RssAnon)", heap as f64 / 1024.0, "MiB");
    let store = dir_bytes(&dir.join("store"));
    f.add("store on disk", store as f64 / 1e6, "MB");
    f.add("store / bundle", store as f64 / corpus.bytes as f64, "x");
    f.add(
        "search index on disk",
        dir_bytes(&dir.join("search")) as f64 / 1e6,
        "MB",
    );

    // `KITH_MILLION_KEEP=1`: keep the store as the import left it (beside
    // the scratch dir, `…-imported`) and the scratch dir itself, to inspect.
    let keep = std::env::var_os("KITH_MILLION_KEEP").is_some();
    if keep {
        let copy = format!("{}-imported", dir.display());
        let copied = Command::new("cp").arg("-a").arg(dir).arg(&copy).status();
        assert!(copied.unwrap().success(), "cp -a {} {copy}", dir.display());
        println!("  (kept the imported store in {copy})");
    }

    let (up, first) = start(dir);
    f.add(
        "first start after import, until status answers",
        first.as_secs_f64(),
        "s",
    );
    drop(up);
    let (up, later) = start(dir);
    f.add(
        "a later start, until status answers",
        later.as_secs_f64(),
        "s",
    );
    std::thread::sleep(Duration::from_secs(2));
    f.add("idle RSS", up.rss_kib() as f64 / 1024.0, "MiB");
    let client = up.client();

    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let long: Vec<&String> = words.iter().filter(|w| w.len() >= 6).collect();
    f.lat(
        "search one word",
        latencies(|_| search(&client, rng.pick(words).clone())),
    );
    f.lat(
        "search three words",
        latencies(|_| {
            let q: Vec<&str> = (0..3).map(|_| rng.pick(words).as_str()).collect();
            search(&client, q.join(" "))
        }),
    );
    f.lat(
        "search a begun word",
        latencies(|_| {
            let w = rng.pick(&long);
            search(&client, w[..w.len() - 2].to_string())
        }),
    );
    f.lat(
        "search one typo",
        latencies(|_| {
            let w = rng.pick(&long);
            let at = 1 + rng.below(w.len() - 2);
            search(&client, format!("{}{}", &w[..at], &w[at + 1..]))
        }),
    );
    f.lat(
        "feed first page",
        latencies(|_| {
            !client
                .call(ops::Feed {
                    limit: Some(20),
                    ..Default::default()
                })
                .unwrap()
                .is_empty()
        }),
    );
    f.lat(
        "feed of one author",
        latencies(|_| {
            !client
                .call(ops::Feed {
                    limit: Some(20),
                    author: Some((*rng.pick(&corpus.authors)).into()),
                    ..Default::default()
                })
                .unwrap()
                .is_empty()
        }),
    );
    f.lat(
        "thread of a question",
        latencies(|_| {
            let thread = client
                .call(ops::Thread {
                    id: (*rng.pick(&corpus.questions)).into(),
                })
                .unwrap();
            !thread.answers.is_empty()
        }),
    );
    let t = Instant::now();
    let node = up.pid();
    let done = std::sync::atomic::AtomicBool::new(false);
    let heap = std::thread::scope(|scope| {
        let poll = scope.spawn(|| {
            let mut heap = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                heap = status_kib(node, "RssAnon:").unwrap_or(0).max(heap);
                std::thread::sleep(Duration::from_millis(10));
            }
            heap
        });
        client.call(ops::Reindex {}).unwrap();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        poll.join().unwrap()
    });
    f.add("reindex", t.elapsed().as_secs_f64(), "s");
    f.add(
        "peak heap of the node during reindex (RssAnon)",
        heap as f64 / 1024.0,
        "MiB",
    );
    f.add("RSS after reindex", up.rss_kib() as f64 / 1024.0, "MiB");
    f.add(
        "peak RSS of the node",
        up.status_kib("VmHWM:") as f64 / 1024.0,
        "MiB",
    );
    drop(up);
    if keep {
        println!("  (kept the store in {})", scratch.keep().display());
    }
    f
}

fn main() {
    let n: usize = std::env::var("KITH_MILLION")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let words = vocabulary();
    let base = measure(n / 10, &words);
    let full = measure(n, &words);
    println!(
        "\n| measure | {} entries (baseline) | {n} entries | ratio |\n|---|---:|---:|---:|",
        n / 10
    );
    for ((name, b, unit), (_, v, _)) in base.rows.iter().zip(&full.rows) {
        println!("| {name} ({unit}) | {b:.2} | {v:.2} | {:.2} |", v / b);
    }
}
