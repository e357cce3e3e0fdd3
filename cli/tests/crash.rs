//! Crash safety: `kith up` killed with SIGKILL at random moments while the
//! CLI posts and edits a page through its API (one kill in ten during
//! start-up). After every kill: every acknowledged post and edit survives,
//! `kith log verify` is clean, the node never forked its own log; at the
//! end the search index and the wiki cache have caught up.
//!
//! 20 cycles run in the test suite. The same test is the soak:
//!
//! ```sh
//! KITH_SOAK_CYCLES=500 cargo test --release -p kith-cli --test crash -- --nocapture
//! ```
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command as StdCommand, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

fn kith(dir: &std::path::Path) -> StdCommand {
    let mut cmd = StdCommand::new(assert_cmd::cargo::cargo_bin("kith"));
    cmd.env("KITH_DATA_DIR", dir)
        .env("KITH_STATE_DIR", std::path::Path::new(dir).join("witness"))
        .env("RUST_LOG", "error");
    cmd
}

fn ok(cmd: &mut StdCommand) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A small deterministic generator (the seed is printed for replays).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn start(dir: &std::path::Path) -> Child {
    kith(dir)
        .args([
            "up",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--api",
            "127.0.0.1:0",
            "--no-mdns",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits until the node printed its invite code (it serves its API).
fn wait_ready(child: &mut Child) {
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    loop {
        let line = lines.next().expect("kith up exited early").unwrap();
        if line.trim_start().starts_with("invite") {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
}

fn kill9(child: &mut Child) {
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
}

#[derive(Default)]
struct Acked {
    posts: Vec<(String, String)>,
    /// Every page body sent, in order, and how many were acknowledged.
    page_sent: Vec<String>,
    page_acked: usize,
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    let cycles: u64 = std::env::var("KITH_SOAK_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("crash test: {cycles} cycles, seed {seed}");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path().to_path_buf();
    ok(kith(&dir).args(["init", "--name", "Crashy"]));
    ok(kith(&dir).args(["wiki", "new", "Journal"]));
    let acked = Arc::new(Mutex::new(Acked::default()));
    let started = Instant::now();
    let mut startup_kills = 0;
    for cycle in 0..cycles {
        let mut child = start(&dir);
        if rng.below(10) == 0 {
            // During start-up.
            std::thread::sleep(Duration::from_millis(rng.below(150)));
            kill9(&mut child);
            startup_kills += 1;
        } else {
            wait_ready(&mut child);
            let stop = Arc::new(AtomicBool::new(false));
            let writer = {
                let (stop, acked, dir) = (stop.clone(), acked.clone(), dir.clone());
                std::thread::spawn(move || {
                    let mut i = 0;
                    while !stop.load(Ordering::SeqCst) {
                        i += 1;
                        if i % 4 == 0 {
                            let body = format!("entry {cycle}-{i}\n");
                            acked.lock().unwrap().page_sent.push(body.clone());
                            let mut edit = kith(&dir)
                                .args(["wiki", "edit", "Journal", "--file", "-"])
                                .stdin(Stdio::piped())
                                .stdout(Stdio::null())
                                .stderr(Stdio::null())
                                .spawn()
                                .unwrap();
                            edit.stdin
                                .take()
                                .unwrap()
                                .write_all(body.as_bytes())
                                .unwrap();
                            if edit.wait().unwrap().success() {
                                let mut a = acked.lock().unwrap();
                                a.page_acked = a.page_sent.len();
                            }
                        } else {
                            let text = format!("post {cycle}-{i}");
                            let out = kith(&dir).args(["post", &text]).output().unwrap();
                            if out.status.success() {
                                let id = String::from_utf8(out.stdout).unwrap();
                                let id = id.trim().lines().last().unwrap().to_string();
                                acked.lock().unwrap().posts.push((id, text));
                            }
                        }
                    }
                })
            };
            std::thread::sleep(Duration::from_millis(100 + rng.below(500)));
            kill9(&mut child);
            stop.store(true, Ordering::SeqCst);
            writer.join().unwrap();
        }
        // The node is dead: the CLI works on the store directly.
        ok(kith(&dir).args(["log", "verify"]));
        let feed: Value = serde_json::from_str(&ok(
            kith(&dir).args(["feed", "--json", "--limit", "1000000"])
        ))
        .unwrap();
        let ids: std::collections::HashSet<&str> = feed
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap())
            .collect();
        let acked = acked.lock().unwrap();
        for (id, text) in &acked.posts {
            assert!(
                ids.contains(id.as_str()),
                "cycle {cycle}: acknowledged {text:?} ({id}) lost (seed {seed})"
            );
        }
        let status: Value =
            serde_json::from_str(&ok(kith(&dir).args(["status", "--json"]))).unwrap();
        let me = status["me"].as_str().unwrap();
        for a in status["authors"].as_array().unwrap() {
            if a["author"] == me {
                assert_eq!(
                    a["forked"], false,
                    "cycle {cycle}: my own log forked (seed {seed})"
                );
            }
        }
        // The page shows the last acknowledged edit, or one sent after it
        // that was written but whose answer the kill cut off.
        if acked.page_acked > 0 {
            let page: Value =
                serde_json::from_str(&ok(kith(&dir).args(["wiki", "show", "Journal", "--json"])))
                    .unwrap();
            let body = page["body"].as_str().unwrap();
            assert!(
                acked.page_sent[acked.page_acked - 1..]
                    .iter()
                    .any(|b| b == body),
                "cycle {cycle}: acknowledged edit {:?} lost, page shows {body:?} (seed {seed})",
                acked.page_sent[acked.page_acked - 1]
            );
        }
    }
    // One last clean run: the views (search index, wiki cache) caught up.
    let mut child = start(&dir);
    wait_ready(&mut child);
    let acked = acked.lock().unwrap();
    if let Some((id, text)) = acked.posts.last() {
        let hits: Value = serde_json::from_str(&ok(kith(&dir).args([
            "search",
            &format!("\"{text}\""),
            "--json",
        ])))
        .unwrap();
        assert!(
            hits.as_array()
                .unwrap()
                .iter()
                .any(|h| h["id"] == id.as_str()),
            "the search index did not catch up on {text:?}: {hits}"
        );
    }
    kill9(&mut child);
    eprintln!(
        "crash test: {cycles} cycles ({startup_kills} during start-up), {} posts acknowledged, all kept, in {:.1?}",
        acked.posts.len(),
        started.elapsed()
    );
}
