//! The CLI against running nodes: two `kith up` processes on loopback.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use predicates::prelude::PredicateBooleanExt;
use serde_json::Value;

struct Up {
    child: Child,
    dir: tempfile::TempDir,
}

impl Up {
    fn start() -> Up {
        Up::start_with(&[])
    }

    fn start_with(env: &[(&str, &str)]) -> Up {
        let dir = tempfile::tempdir().unwrap();
        let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin("kith"))
            .env("KITH_DATA_DIR", dir.path())
            .env(
                "KITH_STATE_DIR",
                std::path::Path::new(dir.path()).join("witness"),
            )
            .envs(env.iter().copied())
            .args([
                "up",
                "--listen",
                "/ip4/127.0.0.1/tcp/0",
                "--api",
                "127.0.0.1:0",
                "--no-mdns",
            ])
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.path().join("up.log")).unwrap())
            .spawn()
            .unwrap();
        // Ready once it has printed its invite code.
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let mut saw = Vec::new();
        loop {
            let line = lines.next().expect("kith up exited early").unwrap();
            let ready = line.trim_start().starts_with("invite");
            saw.push(line);
            if ready {
                break;
            }
        }
        assert!(saw.iter().any(|l| l.contains("author id")), "{saw:?}");
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Up { child, dir }
    }

    fn kith(&self) -> Command {
        let mut cmd = Command::cargo_bin("kith").unwrap();
        cmd.env("KITH_DATA_DIR", self.dir.path()).env(
            "KITH_STATE_DIR",
            std::path::Path::new(self.dir.path()).join("witness"),
        );
        cmd
    }

    fn stdout(&self, args: &[&str]) -> String {
        let out = self
            .kith()
            .args(args)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        String::from_utf8(out).unwrap()
    }

    /// Stops the node; returns what it logged.
    fn stop(mut self) -> String {
        #[cfg(unix)]
        {
            let pid = self.child.id().to_string();
            StdCommand::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap();
        }
        let status = self.child.wait().unwrap();
        assert!(status.success(), "kith up exited with {status}");
        assert!(
            !self.dir.path().join("api.json").exists(),
            "api.json left behind"
        );
        std::fs::read_to_string(self.dir.path().join("up.log")).unwrap_or_default()
    }
}

impl Up {
    /// Stops the node and hands back its data directory.
    fn stop_and_keep(mut self) -> tempfile::TempDir {
        let kept = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        let pid = self.child.id().to_string();
        StdCommand::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "kith up exited with {status}");
        kept
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn cli_post_on_a_running_node_is_seen_on_its_peer() {
    let a = Up::start();
    let b = Up::start();
    let code_a = a.stdout(&["invite"]);
    let code_b = b.stdout(&["invite"]);
    assert!(code_a.trim().starts_with("kith1"));
    a.stdout(&["join", code_b.trim(), "--name", "B"]);
    b.stdout(&["join", code_a.trim(), "--name", "A"]);
    let b_id = b.stdout(&["id"]);
    wait_for("A and B to connect", || {
        let peers: Value = serde_json::from_str(&a.stdout(&["peers", "--json"])).unwrap();
        peers
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["author"] == b_id.trim() && p["connected"] == true)
    });

    // `kith post` while A runs goes through A's API (the store is locked).
    let out = a.stdout(&["post", "hello through the API", "--tag", "cli"]);
    let id = out.trim().lines().last().unwrap().to_string();
    wait_for("the post to reach B", || {
        let feed: Value = serde_json::from_str(&b.stdout(&["feed", "--json"])).unwrap();
        feed.as_array()
            .unwrap()
            .iter()
            .any(|e| e["id"] == id.as_str())
    });
    let feed: Value = serde_json::from_str(&b.stdout(&["feed", "--json"])).unwrap();
    let post = feed
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id.as_str())
        .unwrap();
    assert_eq!(post["text"], "hello through the API");
    assert_eq!(post["author_name"], "A", "B's petname for A");

    let status: Value = serde_json::from_str(&b.stdout(&["status", "--json"])).unwrap();
    assert_eq!(status["connected_peers"], 1);
    // Dialing a connected peer by its address says so at once.
    let b_addr = {
        let status: Value = serde_json::from_str(&b.stdout(&["status", "--json"])).unwrap();
        let listen = status["listen"].as_array().unwrap().clone();
        let tcp = listen
            .iter()
            .filter_map(|a| a.as_str())
            .find(|a| a.starts_with("/ip4/127.0.0.1/tcp/"))
            .unwrap()
            .to_string();
        format!("{tcp}/p2p/{}", b_id.trim())
    };
    let said = a.stdout(&["dial", &b_addr]);
    assert!(said.starts_with("connected to B"), "{said}");
    // A node that does not trust A refuses the connection: the dial fails.
    let c = Up::start();
    let c_status: Value = serde_json::from_str(&c.stdout(&["status", "--json"])).unwrap();
    let c_addr = c_status["listen"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str())
        .find(|a| a.starts_with("/ip4/127.0.0.1/tcp/"))
        .unwrap()
        .to_string();
    let c_id = c.stdout(&["id"]);
    a.stdout(&["trust", "add", c_id.trim()]);
    a.kith()
        .args([
            "dial",
            &format!("{c_addr}/p2p/{}", c_id.trim()),
            "--wait",
            "3",
        ])
        .assert()
        .failure()
        .stderr(predicates::str::contains("no connection to"))
        .stderr(predicates::str::contains("must trust each other"));
    c.stop();
    // A dial without a host or a port is an error, not a silent success.
    for bad in ["", "/ip4/127.0.0.1"] {
        a.kith()
            .args(["dial", bad])
            .assert()
            .failure()
            .stderr(predicates::str::contains("not an address to dial"));
    }
    // `--watch` returns once the node is up to date with its peers.
    let watched = b.stdout(&["status", "--watch"]);
    assert!(
        watched.contains("1 peer(s) connected, up to date"),
        "{watched}"
    );
    a.stop();
    b.stop();
}

#[test]
fn network_commands_without_a_node_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut init = Command::cargo_bin("kith").unwrap();
    init.env("KITH_DATA_DIR", dir.path())
        .env(
            "KITH_STATE_DIR",
            std::path::Path::new(dir.path()).join("witness"),
        )
        .arg("init")
        .assert()
        .success();
    for args in [vec!["invite"], vec!["dial", "/ip4/127.0.0.1/tcp/1"]] {
        let mut cmd = Command::cargo_bin("kith").unwrap();
        cmd.env("KITH_DATA_DIR", dir.path())
            .env(
                "KITH_STATE_DIR",
                std::path::Path::new(dir.path()).join("witness"),
            )
            .args(&args)
            .assert()
            .failure()
            .stderr(predicates::str::contains("no node is running"));
    }
    let mut cmd = Command::cargo_bin("kith").unwrap();
    cmd.env("KITH_DATA_DIR", dir.path())
        .env(
            "KITH_STATE_DIR",
            std::path::Path::new(dir.path()).join("witness"),
        )
        .args(["join", "kith1garbage"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("not a usable invite code"))
        .stderr(predicates::str::contains("damaged or incomplete"))
        .stderr(predicates::str::contains("buffer").not());
}

#[test]
fn the_first_up_takes_a_name() {
    let up = Up::start_with(&[("KITH_NAME", "Ada")]);
    let id: Value = serde_json::from_str(&up.stdout(&["id", "--json"])).unwrap();
    assert_eq!(id["name"], "Ada", "{id}");
    let log = up.stop();
    assert!(log.contains("your name is \"Ada\""), "{log}");
}

#[test]
fn a_fresh_node_is_quiet_and_says_what_it_lacks() {
    let up = Up::start();
    // Alone: said plainly, with what to do.
    let status = up.stdout(&["status"]);
    assert!(status.contains("no peers connected"), "{status}");
    assert!(status.contains("kith invite"), "{status}");
    assert!(!status.contains("up to date with"), "{status}");
    // A prefix too short to name an entry says so.
    up.kith()
        .args(["thread", "e2"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("too short"));
    std::thread::sleep(Duration::from_secs(2));
    let dir = tempfile::tempdir().unwrap();
    let log = up.stop();
    assert!(!log.contains("WARN"), "a fresh node warns: {log}");
    assert!(log.contains("no display name yet"), "{log}");
    // Logs into a pipe carry no colour codes.
    Command::cargo_bin("kith")
        .unwrap()
        .env("KITH_DATA_DIR", dir.path())
        .env(
            "KITH_STATE_DIR",
            std::path::Path::new(dir.path()).join("witness"),
        )
        .arg("init")
        .assert()
        .success();
    let out = Command::cargo_bin("kith")
        .unwrap()
        .env("KITH_DATA_DIR", dir.path())
        .env(
            "KITH_STATE_DIR",
            std::path::Path::new(dir.path()).join("witness"),
        )
        .env("RUST_LOG", "debug")
        .args(["status"])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("DEBUG"), "{log}");
    assert!(!log.contains('\u{1b}'), "colour codes in a pipe: {log}");
}

/// `kith bundle export` on a running node streams the bundle into the
/// file and reads it back; the same export with no node running holds the
/// same entries. An export the node refuses leaves the file that was
/// there as it was, and no partial file beside it.
#[test]
fn a_bundle_streams_from_a_running_node_and_a_refused_export_keeps_the_old_file() {
    let a = Up::start();
    for i in 0..30 {
        a.stdout(&[
            "post",
            &format!("note {i}: streaming a bundle, one page at a time"),
        ]);
    }
    let out = a.dir.path().join("out.bundle");
    let through_api = a.stdout(&["bundle", "export", out.to_str().unwrap()]);
    assert!(through_api.starts_with("wrote "), "{through_api}");
    let entries = |line: &str| line.split_whitespace().nth(1).unwrap().to_string();
    let stranger = tempfile::tempdir().unwrap();
    Command::cargo_bin("kith")
        .unwrap()
        .env("KITH_DATA_DIR", stranger.path())
        .arg("init")
        .assert()
        .success();
    let stranger_id = String::from_utf8(
        Command::cargo_bin("kith")
            .unwrap()
            .env("KITH_DATA_DIR", stranger.path())
            .arg("id")
            .assert()
            .success()
            .get_output()
            .stdout
            .clone(),
    )
    .unwrap();
    let keep = a.dir.path().join("keep.bundle");
    std::fs::write(&keep, b"what was here before").unwrap();
    a.kith()
        .args([
            "bundle",
            "export",
            keep.to_str().unwrap(),
            "--for",
            stranger_id.trim(),
        ])
        .assert()
        .failure()
        .stderr(predicates::str::contains("you do not trust"));
    assert_eq!(std::fs::read(&keep).unwrap(), b"what was here before");
    assert!(!a.dir.path().join("keep.bundle.partial").exists());
    let mut kith = a.kith();
    let dir = a.stop_and_keep();
    let direct = dir.path().join("direct.bundle");
    let without_node = String::from_utf8(
        kith.args(["bundle", "export", direct.to_str().unwrap()])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone(),
    )
    .unwrap();
    assert_eq!(entries(&through_api), entries(&without_node));
    assert_eq!(entries(&through_api), "31", "{through_api}");
}
