//! The CLI against running nodes: two `kith up` processes on loopback.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use assert_cmd::Command;
use kith_testkit::process::{self, Kith, Up};
use predicates::prelude::PredicateBooleanExt;
use serde_json::Value;

/// `kith up` on a temporary data dir, its log kept in `up.log` there.
fn up_with(env: &[(&str, &str)]) -> Up {
    let mut start = Kith::at(env!("CARGO_BIN_EXE_kith")).up_temporary();
    let log = start.dir().join("up.log");
    for (key, value) in env {
        start = start.env(key, value);
    }
    let mut up = start.log_to(log).spawn();
    let printed = up.wait_ready();
    assert!(
        printed.iter().any(|l| l.contains("author id")),
        "{printed:?}"
    );
    up
}

fn up() -> Up {
    up_with(&[])
}

/// `kith` against the node, as assert_cmd's command.
fn kith(up: &Up) -> Command {
    Command::from_std(up.command())
}

/// `kith` on a data dir, as assert_cmd's command.
fn cli(dir: &std::path::Path) -> Command {
    Command::from_std(Kith::at(env!("CARGO_BIN_EXE_kith")).command(dir))
}

/// Stops the node cleanly; returns what it logged.
fn stop(mut up: Up) -> String {
    up.stop();
    std::fs::read_to_string(up.dir().join("up.log")).unwrap_or_default()
}

fn wait_for(what: &str, done: impl FnMut() -> bool) {
    process::wait_for(
        what,
        Duration::from_secs(60),
        Duration::from_millis(200),
        done,
    );
}

#[test]
fn cli_post_on_a_running_node_is_seen_on_its_peer() {
    let a = up();
    let b = up();
    let code_a = a.run(&["invite"]);
    let code_b = b.run(&["invite"]);
    assert!(code_a.trim().starts_with("kith1"));
    a.run(&["join", code_b.trim(), "--name", "B"]);
    b.run(&["join", code_a.trim(), "--name", "A"]);
    let b_id = b.run(&["id"]);
    wait_for("A and B to connect", || {
        let peers: Value = serde_json::from_str(&a.run(&["peers", "--json"])).unwrap();
        peers
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["author"] == b_id.trim() && p["connected"] == true)
    });

    // `kith post` while A runs goes through A's API (the store is locked).
    let out = a.run(&["post", "hello through the API", "--tag", "cli"]);
    let id = out.trim().lines().last().unwrap().to_string();
    wait_for("the post to reach B", || {
        let feed: Value = serde_json::from_str(&b.run(&["feed", "--json"])).unwrap();
        feed.as_array()
            .unwrap()
            .iter()
            .any(|e| e["id"] == id.as_str())
    });
    let feed: Value = serde_json::from_str(&b.run(&["feed", "--json"])).unwrap();
    let post = feed
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id.as_str())
        .unwrap();
    assert_eq!(post["text"], "hello through the API");
    assert_eq!(post["author_name"], "A", "B's petname for A");

    let status: Value = serde_json::from_str(&b.run(&["status", "--json"])).unwrap();
    assert_eq!(status["connected_peers"], 1);
    // Dialing a connected peer by its address says so at once.
    let b_addr = {
        let status: Value = serde_json::from_str(&b.run(&["status", "--json"])).unwrap();
        let listen = status["listen"].as_array().unwrap().clone();
        let tcp = listen
            .iter()
            .filter_map(|a| a.as_str())
            .find(|a| a.starts_with("/ip4/127.0.0.1/tcp/"))
            .unwrap()
            .to_string();
        format!("{tcp}/p2p/{}", b_id.trim())
    };
    let said = a.run(&["dial", &b_addr]);
    assert!(said.starts_with("connected to B"), "{said}");
    // A node that does not trust A refuses the connection: the dial fails.
    let c = up();
    let c_status: Value = serde_json::from_str(&c.run(&["status", "--json"])).unwrap();
    let c_addr = c_status["listen"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str())
        .find(|a| a.starts_with("/ip4/127.0.0.1/tcp/"))
        .unwrap()
        .to_string();
    let c_id = c.run(&["id"]);
    a.run(&["trust", "add", c_id.trim()]);
    kith(&a)
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
    stop(c);
    // A dial without a host or a port is an error, not a silent success.
    for bad in ["", "/ip4/127.0.0.1"] {
        kith(&a)
            .args(["dial", bad])
            .assert()
            .failure()
            .stderr(predicates::str::contains("not an address to dial"));
    }
    // `--watch` returns once the node is up to date with its peers.
    let watched = b.run(&["status", "--watch"]);
    assert!(
        watched.contains("1 peer connected, up to date"),
        "{watched}"
    );
    stop(a);
    stop(b);
}

#[test]
fn network_commands_without_a_node_say_so() {
    let dir = tempfile::tempdir().unwrap();
    cli(dir.path()).arg("init").assert().success();
    for args in [vec!["invite"], vec!["dial", "/ip4/127.0.0.1/tcp/1"]] {
        cli(dir.path())
            .args(&args)
            .assert()
            .failure()
            .stderr(predicates::str::contains("no node is running"));
    }
    cli(dir.path())
        .args(["join", "kith1garbage"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("not a usable invite code"))
        .stderr(predicates::str::contains("damaged or incomplete"))
        .stderr(predicates::str::contains("buffer").not());
}

#[test]
fn the_first_up_takes_a_name() {
    let up = up_with(&[("KITH_NAME", "Ada")]);
    let id: Value = serde_json::from_str(&up.run(&["id", "--json"])).unwrap();
    assert_eq!(id["name"], "Ada", "{id}");
    let log = stop(up);
    assert!(log.contains("your name is \"Ada\""), "{log}");
}

#[test]
fn a_fresh_node_is_quiet_and_says_what_it_lacks() {
    let up = up();
    // Alone: said plainly, with what to do.
    let status = up.run(&["status"]);
    assert!(status.contains("no peers connected"), "{status}");
    assert!(status.contains("kith invite"), "{status}");
    assert!(!status.contains("up to date with"), "{status}");
    // A prefix too short to name an entry says so.
    kith(&up)
        .args(["thread", "e2"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("too short"));
    std::thread::sleep(Duration::from_secs(2));
    let dir = tempfile::tempdir().unwrap();
    let log = stop(up);
    assert!(!log.contains("WARN"), "a fresh node warns: {log}");
    assert!(log.contains("no display name yet"), "{log}");
    // Logs into a pipe carry no colour codes.
    cli(dir.path()).arg("init").assert().success();
    let out = cli(dir.path())
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
    let a = up();
    for i in 0..30 {
        a.run(&[
            "post",
            &format!("note {i}: streaming a bundle, one page at a time"),
        ]);
    }
    let out = a.dir().join("out.bundle");
    let through_api = a.run(&["bundle", "export", out.to_str().unwrap()]);
    assert!(through_api.starts_with("wrote "), "{through_api}");
    let entries = |line: &str| line.split_whitespace().nth(1).unwrap().to_string();
    let stranger = tempfile::tempdir().unwrap();
    let cli = Kith::at(env!("CARGO_BIN_EXE_kith"));
    cli.run(stranger.path(), &["init"]);
    let stranger_id = cli.run(stranger.path(), &["id"]);
    let keep = a.dir().join("keep.bundle");
    std::fs::write(&keep, b"what was here before").unwrap();
    kith(&a)
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
    assert!(!a.dir().join("keep.bundle.partial").exists());
    let mut kith = kith(&a);
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

/// `kith recovery request` on a running fresh install prints a `kithr2`
/// code with the node's addresses and says the contacts' nodes connect;
/// `kith status` says the recovery is pending. With no node running the
/// code carries no address (`kithr1`), and the command says what to do.
#[test]
fn a_recovery_request_carries_the_running_nodes_addresses() {
    let old = "12D3KooWA4Xop1JaT3MHxwYMkCepYsv4iPVopMXwCz5iHYdBfeSB";
    // What a successful command printed, and what it said on stderr.
    let printed = |cmd: &mut Command| {
        let out = cmd.assert().success().get_output().clone();
        (
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let up = up();
    let (code, said) = printed(kith(&up).args(["recovery", "request", old]));
    assert!(code.trim().starts_with("kithr2"), "{code}");
    assert!(
        said.contains("Their nodes connect to this one at /ip4/127.0.0.1/"),
        "{said}"
    );
    let status = up.run(&["status"]);
    assert!(status.contains("recovering "), "{status}");
    assert!(status.contains("0 peers let in"), "{status}");
    let mut up = up;
    up.stop();
    let dir = up.dir().to_path_buf();
    // The node stopped: the same request (same key) has no address to give.
    let (again, said) = printed(cli(&dir).args(["recovery", "request", old]));
    assert!(again.trim().starts_with("kithr1"), "{again}");
    assert!(said.contains("carries no address"), "{said}");
    assert!(said.contains("kith up"), "{said}");
}
