//! Relaying between hosts that cannot reach each other, in network
//! namespaces made by the test (needs root, as in CI; `.ci/run` installs
//! iproute2):
//!
//! ```text
//!   A (10.201.1.2) ── B (10.201.1.1 | 10.201.2.1 | 10.201.3.1) ── C (10.201.2.2)
//!                                   │
//!                                   D (10.201.3.2, not trusted by B)
//! ```
//!
//! B does not forward IP: A and C can each reach only B. B trusts A and C
//! and relays for them; A finds C's relayed address through B (peer
//! exchange), connects over the circuit, and A's posts reach C. D, whom B
//! does not trust, gets no connection and so no relay slot.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use kith_testkit::netns::{Lab, is_root};
use kith_testkit::process;
use serde_json::Value;

const KITH: &str = env!("CARGO_BIN_EXE_kith");

/// B in the middle, linked to A, C and D, forwarding nothing.
fn lab() -> Lab {
    let lab = Lab::new(KITH, 'k', &["a", "b", "c", "d"]);
    for (host, subnet) in [("a", 1), ("c", 2), ("d", 3)] {
        lab.link(
            (host, &format!("10.201.{subnet}.2/24")),
            ("b", &format!("10.201.{subnet}.1/24")),
        );
    }
    // B must not route between A and C.
    lab.exec("b", &["sysctl", "-qw", "net.ipv4.ip_forward=0"]);
    lab
}

fn wait_for(what: &str, done: impl FnMut() -> bool) {
    process::wait_for(
        what,
        Duration::from_secs(120),
        Duration::from_millis(500),
        done,
    );
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

#[test]
fn isolated_nodes_connect_through_a_trusted_relay_and_an_untrusted_one_gets_no_slot() {
    assert!(
        is_root(),
        "this test creates network namespaces and must run as root (CI does)"
    );
    let mut net = lab();
    let a = net.up("a", &["10.201.1.2"], "a");
    let b = net.up("b", &["10.201.1.1", "10.201.2.1", "10.201.3.1"], "b");
    let c = net.up("c", &["10.201.2.2"], "c");
    let d = net.up("d", &["10.201.3.2"], "d");
    let (da, db, dc, dd) = (net.dir(a), net.dir(b), net.dir(c), net.dir(d));
    let id = |host: &str, dir: &std::path::Path| net.run(host, dir, &["id"]).trim().to_string();
    let (ia, ib, ic) = (id("a", &da), id("b", &db), id("c", &dc));
    for (host, dir, others) in [
        ("a", &da, [&ib, &ic]),
        ("c", &dc, [&ia, &ib]),
        ("b", &db, [&ia, &ic]),
    ] {
        for other in others {
            net.run(host, dir, &["trust", "add", other]);
        }
    }
    net.run("d", &dd, &["trust", "add", &ib]);
    net.run(
        "a",
        &da,
        &["dial", &format!("/ip4/10.201.1.1/tcp/4001/p2p/{ib}")],
    );
    net.run(
        "c",
        &dc,
        &["dial", &format!("/ip4/10.201.2.1/tcp/4001/p2p/{ib}")],
    );
    // B does not trust D: the dial starts, and D does not wait for it.
    net.run(
        "d",
        &dd,
        &[
            "dial",
            "--wait",
            "0",
            &format!("/ip4/10.201.3.1/tcp/4001/p2p/{ib}"),
        ],
    );

    // A and C reach each other only through B's relay.
    wait_for("A and C to connect through B", || {
        let peers = json(&net.run("c", &dc, &["peers", "--json"]));
        peers
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["author"] == ia.as_str() && p["connected"] == true)
    });
    let peers = json(&net.run("c", &dc, &["peers", "--json"]));
    let pa = peers
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["author"] == ia.as_str())
        .unwrap();
    assert_eq!(pa["connection"], "relayed", "{pa}");
    assert!(
        pa["remote_addr"].as_str().unwrap().contains("/p2p-circuit"),
        "{pa}"
    );
    // A and C have no route to each other: hole punching fails, and the
    // side whose attempt failed (whichever dialled the circuit) says why
    // the connection stays relayed (issue 27).
    wait_for("A or C to say why they stay relayed", || {
        [("a", &da, &ic), ("c", &dc, &ia)]
            .iter()
            .any(|(host, dir, other)| {
                let peers = json(&net.run(host, dir, &["peers", "--json"]));
                peers.as_array().unwrap().iter().any(|p| {
                    p["author"] == other.as_str()
                        && p["relayed_why"]
                            .as_str()
                            .is_some_and(|w| w.contains("hole punching failed"))
                })
            })
    });
    let b_status = json(&net.run("b", &db, &["status", "--json"]));
    let relaying: Vec<&str> = b_status["relaying_for"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        relaying.contains(&ic.as_str()),
        "B relays for C: {b_status}"
    );

    // A's posts reach C over that connection.
    let post = net.run("a", &da, &["post", "hello through the relay"]);
    let post = post.trim().lines().last().unwrap().to_string();
    wait_for("A's post at C", || {
        let feed = json(&net.run("c", &dc, &["feed", "--json"]));
        feed.as_array()
            .unwrap()
            .iter()
            .any(|e| e["id"] == post.as_str())
    });

    // D, untrusted by B, is refused: no connection, no relay slot.
    wait_for("B to refuse D", || {
        json(&net.run("b", &db, &["status", "--json"]))["refused_connections"]
            .as_u64()
            .unwrap()
            >= 1
    });
    let d_status = json(&net.run("d", &dd, &["status", "--json"]));
    assert_eq!(d_status["connected_peers"], 0, "{d_status}");
    assert!(
        d_status["relays"].as_array().unwrap().is_empty(),
        "{d_status}"
    );
    let b_status = json(&net.run("b", &db, &["status", "--json"]));
    let id_d = net.run("d", &dd, &["id"]).trim().to_string();
    assert!(
        !b_status["relaying_for"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x == id_d.as_str())
    );

    // C goes away: B no longer says it relays for C (issue 29: "Relaying
    // for Ben" beside "Ben: not connected").
    net.kill(c);
    wait_for("B to stop relaying for C", || {
        !json(&net.run("b", &db, &["status", "--json"]))["relaying_for"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x == ic.as_str())
    });
}
