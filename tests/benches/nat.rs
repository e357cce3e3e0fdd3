//! The NAT lab, many times over (prints figures; not a timed test): per
//! pairing of NATs and transport, how often two friends end up directly
//! connected and how long it takes, and how fast a post goes through the
//! relay where they stay relayed. Needs root and nftables (as the suite's
//! `cli/tests/nat_netns.rs`, which shares the lab: `kith_testkit::nat`).
//!
//! ```sh
//! cargo build --release -p kith-cli
//! cargo bench -p kith-tests --bench nat            # 20 attempts per cell
//! KITH_NAT_ATTEMPTS=5 cargo bench -p kith-tests --bench nat
//! KITH_NAT_LOSS=5 KITH_NAT_CELLS=2 cargo bench -p kith-tests --bench nat
//! ```
//!
//! `KITH_NAT_LOSS`: percent of packets dropped at random on the public
//! segment, each way (`NatLab::lossy`; default 0). `KITH_NAT_CELLS`: the
//! cells to run, as comma-separated indices into the list below (default:
//! all).
//!
//! A relayed attempt waits 10 s for a direct connection. (Whether a node
//! then says why it stays relayed is the suite's check: a punch gives up
//! after ~30 s.) The baseline, measured in the same attempt: how long `kith dial` of the
//! public friend R takes (one connection, no NAT in the way). "Direct
//! after" counts from the moment the three nodes are up and trust each
//! other, before either has reached R.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use kith_testkit::nat::{Nat, NatLab, Transports, available};
use kith_testkit::process::kith_binary;

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    if let Err(why) = available() {
        eprintln!("skipped: {why}");
        return;
    }
    let kith = kith_binary();
    let kith = kith.to_str().unwrap();
    let attempts: usize = std::env::var("KITH_NAT_ATTEMPTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let loss: u8 = std::env::var("KITH_NAT_LOSS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let only: Option<Vec<usize>> = std::env::var("KITH_NAT_CELLS")
        .ok()
        .map(|v| v.split(',').filter_map(|i| i.trim().parse().ok()).collect());
    let cells = [
        (Nat::Home, Nat::Home, Transports::Tcp),
        (Nat::Home, Nat::Home, Transports::Quic),
        (Nat::Home, Nat::Home, Transports::Both),
        (Nat::Carrier, Nat::Home, Transports::Both),
        (Nat::Symmetric, Nat::Home, Transports::Both),
        (Nat::Symmetric, Nat::Symmetric, Transports::Both),
    ];
    println!("loss on the public segment: {loss} % each way");
    println!(
        "| pairing | transport | direct | direct after p50 / p95 | reaching R (baseline) p50 | ratio p50 | post delivered p50 / max | stayed relayed |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for (n, (a, b, transports)) in cells.into_iter().enumerate() {
        if only.as_ref().is_some_and(|o| !o.contains(&n)) {
            continue;
        }
        let mut direct = Vec::new();
        let mut reach = Vec::new();
        let mut delivered = Vec::new();
        let mut relayed = 0;
        for i in 0..attempts {
            let lab = NatLab::start(kith, 'm', a, b, transports);
            lab.lossy(loss);
            let m = lab.meet(Duration::from_secs(60), Duration::from_secs(10));
            reach.push(m.reach_r);
            delivered.push(m.delivered_in);
            match m.direct_after {
                Some(d) => direct.push(d),
                None => relayed += 1,
            }
            eprintln!("{a:?}↔{b:?} {transports:?} #{i}: {m:?}");
        }
        direct.sort();
        reach.sort();
        delivered.sort();
        let p50 = pct(&direct, 0.5);
        let base = pct(&reach, 0.5);
        println!(
            "| {a:?}↔{b:?} | {transports:?} | {}/{attempts} | {} / {} | {} | {} | {} / {} | {relayed} |",
            direct.len(),
            ms(p50),
            ms(pct(&direct, 0.95)),
            ms(base),
            if direct.is_empty() {
                "—".to_string()
            } else {
                format!("{:.1}×", p50.as_secs_f64() / base.as_secs_f64())
            },
            ms(pct(&delivered, 0.5)),
            ms(*delivered.last().unwrap()),
        );
    }
}
