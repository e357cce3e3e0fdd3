//! Reading compact groups: Kith's own reader of a bundle (PROTOCOL.md §7.1,
//! `wiki::unbundle`) against Automerge 0.12.0's `Bundle::try_from` and
//! `to_changes` (the baseline, which Kith no longer runs on peers' bytes),
//! on the vectors of `docs/vectors/compact-group/`, both giving the same
//! change chunks. Prints the median time of each per bundle and the ratio.
//!
//! `cargo bench -p kith-core --features testing --bench unbundle`

use std::time::{Duration, Instant};

fn bundle_of(block: &str) -> Vec<u8> {
    let line = block
        .lines()
        .find_map(|l| l.strip_prefix("bundle"))
        .expect("a bundle line");
    hex::decode(line.trim()).expect("hex")
}

/// The median of `rounds` timings of `f`, each repeating it until 20 ms.
fn median(rounds: usize, mut f: impl FnMut() -> usize) -> (Duration, usize) {
    let mut times = Vec::with_capacity(rounds);
    let mut out = 0;
    for _ in 0..rounds {
        let start = Instant::now();
        let mut n = 0u32;
        while start.elapsed() < Duration::from_millis(20) {
            out = std::hint::black_box(f());
            n += 1;
        }
        times.push(start.elapsed() / n);
    }
    times.sort();
    (times[rounds / 2], out)
}

fn main() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/vectors/compact-group/"
    );
    println!("| bundle | bytes | changes | Automerge 0.12.0 (baseline) | Kith's reader | ratio |");
    println!("|---|---:|---:|---:|---:|---:|");
    for name in ["cg", "types", "whole", "sizes", "deflated"] {
        let block = std::fs::read_to_string(format!("{dir}{name}.block")).expect("vector");
        let bundle = bundle_of(&block);
        let ours = kith_core::wiki::read_bundle(&bundle).expect("Kith reads it");
        let theirs: Vec<Vec<u8>> = automerge::Bundle::try_from(&bundle[..])
            .expect("Automerge reads it")
            .to_changes()
            .expect("changes")
            .into_iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect();
        assert_eq!(ours, theirs, "{name}: the same change chunks");
        let (base, _) = median(15, || {
            automerge::Bundle::try_from(&bundle[..])
                .and_then(|b| b.to_changes().map_err(|_| unreachable!()))
                .map(|c| c.len())
                .unwrap_or(0)
        });
        let (own, n) = median(15, || {
            kith_core::wiki::read_bundle(&bundle)
                .map(|c| c.len())
                .unwrap_or(0)
        });
        println!(
            "| {name} | {} | {n} | {:.1} µs | {:.1} µs | {:.2} |",
            bundle.len(),
            base.as_secs_f64() * 1e6,
            own.as_secs_f64() * 1e6,
            own.as_secs_f64() / base.as_secs_f64()
        );
    }
}
