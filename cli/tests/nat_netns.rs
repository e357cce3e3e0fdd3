//! Two friends behind home routers that do NAT, and a public friend who
//! relays, in network namespaces made by the test (needs root and
//! nftables, as in CI; `.ci/run` installs both; without nftables the test
//! says so and passes without running):
//!
//! ```text
//!   A (192.168.1.2) ── router 1 (NAT, 198.51.100.2) ──┐
//!                                                      R (198.51.100.1 | 203.0.113.1)
//!   B (192.168.2.2) ── router 2 (NAT, 203.0.113.2) ───┘
//! ```
//!
//! Each router masquerades its home network behind its public address
//! (endpoint-independent mapping) and drops connections that start
//! outside it (stateful filtering), as home routers do. A and B trust each
//! other and R; each joins R. They should reach each other through R's
//! relay, then punch a hole for a direct connection (issue 27): the first
//! part works today, the second does not yet (see the test).
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use kith_testkit::netns::{Lab, is_root, sh};
use kith_testkit::process;
use serde_json::Value;

const KITH: &str = env!("CARGO_BIN_EXE_kith");

/// R public, two routers doing NAT, A and B behind them.
fn lab() -> Lab {
    let lab = Lab::new(KITH, 'n', &["pub", "r1", "r2", "a", "b"]);
    lab.link(("pub", "198.51.100.1/24"), ("r1", "198.51.100.2/24"));
    lab.link(("pub", "203.0.113.1/24"), ("r2", "203.0.113.2/24"));
    lab.link(("a", "192.168.1.2/24"), ("r1", "192.168.1.1/24"));
    lab.link(("b", "192.168.2.2/24"), ("r2", "192.168.2.1/24"));
    // The public internet: R's namespace routes between the routers.
    lab.exec("pub", &["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    for (host, gw) in [("a", "192.168.1.1"), ("b", "192.168.2.1")] {
        sh(&[
            "ip",
            "-n",
            &lab.ns(host),
            "route",
            "add",
            "default",
            "via",
            gw,
        ]);
    }
    for (router, upstream) in [("r1", "198.51.100.1"), ("r2", "203.0.113.1")] {
        sh(&[
            "ip",
            "-n",
            &lab.ns(router),
            "route",
            "add",
            "default",
            "via",
            upstream,
        ]);
        lab.exec(router, &["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
        // Masquerade the home network behind the router's public address;
        // let in only what answers a connection from inside.
        let wan = lab.dev(router, "pub");
        let rules = format!(
            "table ip nat {{\n chain post {{\n  type nat hook postrouting priority 100;\n  \
             oifname \"{wan}\" masquerade\n }}\n}}\n\
             table ip filter {{\n chain forward {{\n  \
             type filter hook forward priority 0; policy drop;\n  \
             ct state established,related accept\n  oifname \"{wan}\" accept\n }}\n}}\n"
        );
        let ns = lab.ns(router);
        let mut nft = Command::new("ip")
            .args(["netns", "exec", &ns, "nft", "-f", "-"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        nft.stdin
            .take()
            .unwrap()
            .write_all(rules.as_bytes())
            .unwrap();
        assert!(nft.wait().unwrap().success(), "nft rules in {router}");
    }
    lab
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// Fails today (2026-12-06), so it is ignored: A and B meet through R's
/// relay within seconds, but every hole punch dials the routers' public
/// addresses at the listen port (`203.0.113.2:4001`), which nothing maps:
/// outgoing connections leave from other ports, so the NAT's mapping is
/// elsewhere ("Giving up after 3 dial attempts"). The fix is issue 27's
/// "correct observed addresses" and "try QUIC and TCP". Run it with
/// `cargo test -p kith-cli --test nat_netns -- --ignored` (as root, with
/// nftables; `KITH_TEST_LOG_DIR=dir` keeps the nodes' logs).
#[test]
#[ignore = "issue 27: hole punching through masquerade fails today (see above)"]
fn friends_behind_home_nats_meet_through_a_relay_then_directly() {
    assert!(
        is_root(),
        "this test creates network namespaces and must run as root (CI does)"
    );
    if Command::new("nft").arg("--version").output().is_err() {
        eprintln!(
            "skipped: the NAT lab needs nftables (`apt-get install nftables`; .ci/run installs it)"
        );
        return;
    }
    let mut lab = lab();
    let r = lab.up("pub", &["198.51.100.1"], "nat-pub");
    let a = lab.up("a", &["192.168.1.2"], "nat-a");
    let b = lab.up("b", &["192.168.2.2"], "nat-b");
    let (dr, da, db) = (lab.dir(r), lab.dir(a), lab.dir(b));
    let id = |host: &str, dir: &std::path::Path| lab.run(host, dir, &["id"]).trim().to_string();
    let (ir, ia, ib) = (id("pub", &dr), id("a", &da), id("b", &db));
    for (host, dir, others) in [
        ("pub", &dr, [&ia, &ib]),
        ("a", &da, [&ir, &ib]),
        ("b", &db, [&ir, &ia]),
    ] {
        for other in others {
            lab.run(host, dir, &["trust", "add", other]);
        }
    }
    let started = Instant::now();
    for (host, dir) in [("a", &da), ("b", &db)] {
        lab.run(
            host,
            dir,
            &["dial", &format!("/ip4/198.51.100.1/tcp/4001/p2p/{ir}")],
        );
    }
    // A and B meet, then go direct (hole punched) as home NATs allow.
    let mut relayed_after = None;
    process::wait_for(
        "A and B to connect directly through their NATs",
        Duration::from_secs(150),
        Duration::from_millis(500),
        || {
            let peers = json(&lab.run("a", &da, &["peers", "--json"]));
            if std::env::var("KITH_TEST_LOG_DIR").is_ok() {
                eprintln!("A's peers: {peers}");
            }
            let Some(b) = peers
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["author"] == ib.as_str() && p["connected"] == true)
            else {
                return false;
            };
            if b["connection"] == "relayed" && relayed_after.is_none() {
                relayed_after = Some(started.elapsed());
            }
            b["connection"] == "hole_punched" || b["connection"] == "direct"
        },
    );
    let direct_after = started.elapsed();
    eprintln!(
        "home↔home: relayed after {relayed_after:?}, direct after {direct_after:?} (from the joins)"
    );
    let post = lab.run("a", &da, &["post", "hello from behind a NAT"]);
    let post = post.trim().lines().last().unwrap().to_string();
    process::wait_for(
        "A's post at B",
        Duration::from_secs(30),
        Duration::from_millis(300),
        || {
            json(&lab.run("b", &db, &["feed", "--json"]))
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["id"] == post.as_str())
        },
    );
}
