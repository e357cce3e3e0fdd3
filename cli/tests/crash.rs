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

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kith_testkit::corpus::Rng;
use kith_testkit::process::{Kith, ok};
use serde_json::Value;

fn kith(dir: &std::path::Path) -> Command {
    Kith::at(env!("CARGO_BIN_EXE_kith")).command(dir)
}

/// The data directory, kept (and its path printed) when the test fails,
/// so a store that does not open can be looked at.
struct KeepOnPanic(Option<tempfile::TempDir>);

impl Drop for KeepOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Some(dir) = self.0.take()
        {
            eprintln!(
                "crash test: data directory kept at {}",
                dir.keep().display()
            );
        }
    }
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
    let kept = KeepOnPanic(Some(tempfile::tempdir().unwrap()));
    let dir = kept.0.as_ref().unwrap().path().to_path_buf();
    ok(kith(&dir).args(["init", "--name", "Crashy"]));
    ok(kith(&dir).args(["wiki", "new", "Journal"]));
    let acked = Arc::new(Mutex::new(Acked::default()));
    let started = Instant::now();
    let mut startup_kills = 0;
    for cycle in 0..cycles {
        let mut up = Kith::at(env!("CARGO_BIN_EXE_kith")).up(&dir).spawn();
        if rng.below(10) == 0 {
            // During start-up.
            std::thread::sleep(Duration::from_millis(rng.below(150) as u64));
            up.kill9();
            startup_kills += 1;
        } else {
            up.wait_ready();
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
            std::thread::sleep(Duration::from_millis(100 + rng.below(500) as u64));
            up.kill9();
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
    let mut up = Kith::at(env!("CARGO_BIN_EXE_kith")).up(&dir).ready();
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
    up.kill9();
    eprintln!(
        "crash test: {cycles} cycles ({startup_kills} during start-up), {} posts acknowledged, all kept, in {:.1?}",
        acked.posts.len(),
        started.elapsed()
    );
}
