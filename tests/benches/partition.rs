//! Partition benchmark (prints figures; not a timed test):
//!
//! ```sh
//! cargo bench -p kith-tests --bench partition
//! ```
//!
//! Five in-process nodes split 2 | 3 for 60 s while they write 200 posts
//! and 100 edits to 5 pages (the same status line rewritten on both sides),
//! then one link heals them. Reports the time until every node holds the
//! same heads and reads the same pages (goal: ≤ 10 s), against one post's
//! propagation through the healed network in the same run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use kith_tests::scenarios::partition::{Plan, run};

fn main() {
    let secs = std::env::var("KITH_BENCH_APART_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let plan = Plan {
        nodes: 5,
        split: 2,
        apart: Duration::from_secs(secs),
        posts: 200,
        edits: 100,
        pages: 5,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let out = runtime.block_on(run(&plan));
    println!("## partition: {plan:?}");
    println!(
        "written apart:          {} posts, {} edits",
        out.posts, out.edits
    );
    println!("converged after heal:   {:?}", out.converged);
    println!("one post, healed (base): {:?}", out.propagation);
    println!(
        "ratio:                  {:.1}x",
        out.converged.as_secs_f64() / out.propagation.as_secs_f64()
    );
    println!(
        "goal ≤ 10 s:            {}",
        if out.converged <= Duration::from_secs(10) {
            "met"
        } else {
            "MISSED"
        }
    );
}
