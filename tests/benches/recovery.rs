//! Recovery without an invite (prints figures; not a timed test):
//!
//! ```sh
//! cargo bench -p kith-tests --bench recovery
//! ```
//!
//! Six in-process nodes on 127.0.0.1: Alice names three recovery contacts
//! (2 of 3) and has a friend; every key of hers is lost; a fresh install
//! asks with a code carrying its addresses; two contacts approve, and
//! nobody exchanges an invite. Reports, from the second approval, the time
//! until the fresh install holds the recovery and until the friend holds
//! the post it wrote then (goal: ≤ 30 s), against a post between two
//! directly connected nodes of the same run. `KITH_RECOVERY_RUNS` runs
//! (default 10).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use kith_tests::scenarios::recovery::run;

fn main() {
    let runs: usize = std::env::var("KITH_RECOVERY_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut holds = Vec::new();
    let mut post = Vec::new();
    let mut base = Vec::new();
    for i in 0..runs {
        let (world, t) = runtime.block_on(run());
        runtime.block_on(async move { drop(world) });
        println!(
            "run {:>2}: holds {:>7.3} s, friend has the post {:>7.3} s, direct post {:>6.3} s",
            i + 1,
            t.holds.as_secs_f64(),
            t.friend_has_post.as_secs_f64(),
            t.direct_post.as_secs_f64()
        );
        holds.push(t.holds);
        post.push(t.friend_has_post);
        base.push(t.direct_post);
    }
    println!("## recovery without an invite: {runs} runs");
    for (name, list) in [
        ("recovery holds", &mut holds),
        ("friend has the post", &mut post),
        ("direct post (base)", &mut base),
    ] {
        list.sort();
        println!(
            "{name:<22} p50 {:>7.3} s  max {:>7.3} s",
            percentile(list, 50).as_secs_f64(),
            list.last().copied().unwrap_or_default().as_secs_f64()
        );
    }
    let worst = post.last().copied().unwrap_or_default();
    println!(
        "ratio (p50 friend / p50 base): {:.0}x",
        percentile(&post, 50).as_secs_f64() / percentile(&base, 50).as_secs_f64().max(1e-9)
    );
    println!(
        "goal ≤ 30 s: {}",
        if worst <= Duration::from_secs(30) {
            "met"
        } else {
            "MISSED"
        }
    );
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}
