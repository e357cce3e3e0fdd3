//! Friends behind NATs, in the NAT lab of network namespaces
//! (`kith_testkit::nat`: needs root and nftables, as in CI; `.ci/run`
//! installs nftables; where either is missing each test says so and
//! passes without running). One test per pairing of NATs, each asserting
//! what must happen: through home routers the two friends end up directly
//! connected over TCP and over QUIC; behind port-randomizing NATs they stay
//! relayed and still exchange posts. The rates over many attempts are the
//! bench's (`tests/benches/nat.rs`, docs/BENCHMARKS.md).
#![allow(clippy::unwrap_used)]

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use kith_testkit::nat::{Meeting, Nat, NatLab, Transports, available};

const KITH: &str = env!("CARGO_BIN_EXE_kith");

/// One lab at a time: hole punching is timed, and five labs of three nodes
/// at once on a 2-core machine would measure the machine.
static ONE_LAB: Mutex<()> = Mutex::new(());

/// A lab from `start`, held alone; `None` (said) where it cannot run here.
fn lab(start: impl FnOnce() -> NatLab) -> Option<(MutexGuard<'static, ()>, NatLab)> {
    if let Err(why) = available() {
        eprintln!("skipped: {why}");
        return None;
    }
    let one = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    Some((one, start()))
}

/// A and B behind `a` and `b` meet through R; `None` where the lab cannot
/// run here.
fn meet(prefix: char, a: Nat, b: Nat, transports: Transports, direct: u64) -> Option<Meeting> {
    meet_then(prefix, a, b, transports, direct, |_, _| {})
}

/// As [`meet`], then `then` on the lab while it runs.
fn meet_then(
    prefix: char,
    a: Nat,
    b: Nat,
    transports: Transports,
    direct: u64,
    then: impl FnOnce(&NatLab, &Meeting),
) -> Option<Meeting> {
    let (_one, lab) = lab(|| NatLab::start(KITH, prefix, a, b, transports))?;
    let meeting = lab.meet(Duration::from_secs(60), Duration::from_secs(direct));
    eprintln!("{a:?}↔{b:?} over {transports:?}: {meeting:?}");
    then(&lab, &meeting);
    Some(meeting)
}

#[test]
fn friends_behind_home_routers_connect_directly_over_tcp_and_quic() {
    let Some(m) = meet_then('n', Nat::Home, Nat::Home, Transports::Both, 30, |lab, _| {
        // R, reachable, relays for both; A and B, behind NATs, for nobody
        // (they refuse reservations: no circuits through a NATed node).
        let [_, a, b] = lab.ids().clone();
        kith_testkit::process::wait_for(
            "R to relay for A and B",
            Duration::from_secs(30),
            Duration::from_millis(500),
            || {
                let r = lab.relaying_for("r");
                r.contains(&a) && r.contains(&b)
            },
        );
        assert_eq!(lab.relaying_for("a"), Vec::<String>::new());
        assert_eq!(lab.relaying_for("b"), Vec::<String>::new());
    }) else {
        return;
    };
    assert!(
        m.direct_after.is_some(),
        "still relayed after 30 s behind two home routers: {m:?}"
    );
    assert!(m.delivered_in < Duration::from_secs(10), "{m:?}");
}

#[test]
fn friends_behind_home_routers_connect_directly_over_quic_alone() {
    let Some(m) = meet('q', Nat::Home, Nat::Home, Transports::Quic, 30) else {
        return;
    };
    assert!(
        m.direct_after.is_some(),
        "still relayed after 30 s behind two home routers (QUIC): {m:?}"
    );
}

#[test]
fn friends_behind_port_randomizing_nats_stay_relayed_and_still_exchange_posts() {
    let mut why = None;
    let Some(m) = meet_then(
        's',
        Nat::Symmetric,
        Nat::Symmetric,
        Transports::Both,
        10,
        |lab, _| why = lab.why_relayed(Duration::from_secs(90)),
    ) else {
        return;
    };
    assert_eq!(m.connection, "relayed", "{m:?}");
    assert!(m.delivered_in < Duration::from_secs(10), "{m:?}");
    let why = why.expect("a connection that stays relayed says why");
    assert!(why.contains("direct connection is not possible"), "{why}");
}

#[test]
fn a_friend_behind_a_carrier_nat_and_a_home_router_connect_directly() {
    let Some(m) = meet('c', Nat::Carrier, Nat::Home, Transports::Both, 20) else {
        return;
    };
    // Both layers of this carrier NAT keep ports, so the punch works.
    assert!(m.direct_after.is_some(), "still relayed after 20 s: {m:?}");
    assert!(m.delivered_in < Duration::from_secs(10), "{m:?}");
}

#[test]
fn a_port_randomizing_nat_and_a_home_router_meet_and_exchange_posts() {
    let Some(m) = meet('h', Nat::Symmetric, Nat::Home, Transports::Both, 20) else {
        return;
    };
    assert!(m.delivered_in < Duration::from_secs(10), "{m:?}");
}

#[test]
fn a_failed_hole_punch_is_tried_again_and_succeeds_once_the_way_opens() {
    let Some((_one, lab)) = lab(|| NatLab::start(KITH, 'r', Nat::Home, Nat::Home, Transports::Tcp))
    else {
        return;
    };
    // A firewall between the two routers: they meet through R, and every
    // punch fails.
    lab.block_between(true);
    let m = lab.meet(Duration::from_secs(60), Duration::from_secs(5));
    assert_eq!(m.connection, "relayed", "{m:?}");
    lab.why_relayed(Duration::from_secs(90))
        .expect("the hole punch fails while the way is blocked");
    // The way opens: the next try (30 s after the failure) punches through.
    lab.block_between(false);
    let opened = std::time::Instant::now();
    let mut direct = None;
    while opened.elapsed() < Duration::from_secs(120) {
        if lab.connection().is_some_and(|c| c != "relayed") {
            direct = Some(opened.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let after = direct.expect("direct within 120 s of the way opening");
    eprintln!("direct {after:?} after the way opened");
}

#[test]
fn a_relayed_connection_cut_by_the_relays_limit_is_made_again() {
    // R lets a circuit last 10 s (config.toml [relay] circuit_secs).
    let Some((_one, lab)) = lab(|| {
        let (a, b) = (Nat::Symmetric, Nat::Symmetric);
        NatLab::start_with_relay(KITH, 'l', a, b, Transports::Tcp, "circuit_secs = 10")
    }) else {
        return;
    };
    let m = lab.meet(Duration::from_secs(60), Duration::from_secs(2));
    assert_eq!(m.connection, "relayed", "{m:?}");
    let gone = lab
        .reconnected(Duration::from_secs(30))
        .expect("R closes the circuit after 10 s");
    eprintln!("the circuit ended; A and B were apart for {gone:?}");
    assert!(gone < Duration::from_secs(30), "{gone:?}");
    let again = lab.deliver();
    assert!(again < Duration::from_secs(10), "{again:?}");
}
