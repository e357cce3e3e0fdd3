//! Circles on a node (docs/BENCHMARKS.md, "Private circles"): writing a
//! post into a 50-member circle against a public post, reading a peer's
//! circle post into the views against a public one, and removing a
//! member (a new epoch for 49 people), and a certificate storm: a friend
//! looping `kith recovery set` while a member holds 1,000 circle posts
//! (each certificate against a public post of the same friend) — all
//! through `Core` on a temporary store, measured in the same run.
//!
//! `cargo run --release -p kith-node --example circle_node_bench`

#![allow(clippy::unwrap_used)]

use std::time::Instant;

use kith_node::{Core, ops};
use kith_protocol::PostKind;

fn core(seed: u8) -> Core {
    let mut c = kith_testkit::core::core(seed);
    c.ensure_encryption_key().unwrap();
    c
}

fn post(text: String, circle: Option<&str>) -> ops::Post {
    ops::Post {
        circle: circle.map(String::from),
        text,
        kind: PostKind::Note,
        reply_to: None,
        tags: vec![],
        files: Vec::new(),
    }
}

/// Median µs per post of `rounds` rounds of `n` posts.
fn per_post(rounds: usize, n: usize, mut f: impl FnMut(usize)) -> f64 {
    let mut samples: Vec<f64> = (0..rounds)
        .map(|r| {
            let start = Instant::now();
            for i in 0..n {
                f(r * n + i);
            }
            start.elapsed().as_secs_f64() * 1e6 / n as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[rounds / 2]
}

fn main() {
    let members = 50u8;
    let mut alice = core(1);
    let mut others: Vec<Core> = (2..=members).map(core).collect();
    // Alice trusts and holds everyone's log (with their encryption keys).
    for o in &others {
        alice
            .run(ops::TrustAdd {
                author: o.me().into(),
                petname: None,
            })
            .unwrap();
        let log = o.store().log(&o.me(), 1, usize::MAX).unwrap();
        alice.ingest(&log);
    }
    let names: Vec<String> = others.iter().map(|o| o.me().to_string()).collect();
    alice
        .run(ops::CircleCreate {
            name: "big".into(),
            members: names,
        })
        .unwrap();
    let rounds = 5;
    let n = 200;
    let plain = per_post(rounds, n, |i| {
        alice.run(post(format!("public note {i}"), None)).unwrap();
    });
    let sealed = per_post(rounds, n, |i| {
        alice
            .run(post(format!("circle note {i}"), Some("big")))
            .unwrap();
    });
    println!("writing a post (Core::run(Post), group of one, flushed), 50-member circle");
    println!("  public (baseline)        {plain:8.0} µs");
    println!(
        "  in the circle            {sealed:8.0} µs   {:.2}× public",
        sealed / plain
    );

    // Bob, a member, ingests Alice's log: public and circle posts.
    let bob = &mut others[0];
    bob.run(ops::TrustAdd {
        author: alice.me().into(),
        petname: None,
    })
    .unwrap();
    // In log order, in batches as sync delivers them.
    let all = alice.store().log(&alice.me(), 1, usize::MAX).unwrap();
    let mut public_us = 0.0;
    let mut circle_us = 0.0;
    let (mut np, mut nc) = (0usize, 0usize);
    for chunk in all.chunks(50) {
        let is_circle = chunk.iter().any(|e| {
            matches!(
                kith_protocol::Body::decode(e.body().unwrap()),
                Ok(kith_protocol::Body::Sealed(_))
            )
        });
        let t = Instant::now();
        let outcome = bob.ingest(chunk);
        assert!(outcome.error.is_none(), "{:?}", outcome.error);
        let us = t.elapsed().as_secs_f64() * 1e6;
        if is_circle {
            circle_us += us;
            nc += chunk.len();
        } else {
            public_us += us;
            np += chunk.len();
        }
    }
    let feed = bob
        .run(ops::Feed {
            limit: Some(5),
            ..Default::default()
        })
        .unwrap();
    assert!(feed[0].text.as_deref().unwrap().starts_with("circle note"));
    println!("a member ingests them (verify, store, views, search; batches of 50)");
    println!(
        "  public (baseline)        {:8.0} µs per entry",
        public_us / np as f64
    );
    println!(
        "  circle entries           {:8.0} µs per entry   {:.2}× public",
        circle_us / nc as f64,
        (circle_us / nc as f64) / (public_us / np as f64)
    );

    // Removing a member: a new epoch for the other 49.
    let t = Instant::now();
    alice
        .run(ops::CircleRemove {
            circle: "big".into(),
            member: others[1].me().to_string(),
        })
        .unwrap();
    let remove = t.elapsed().as_secs_f64() * 1e6;
    println!("removing one member of 50 (new epoch, 49 wraps, stored)");
    println!(
        "  circle remove            {remove:8.0} µs   {:.0}× a public post",
        remove / plain
    );

    // A re-read: Bob, holding the circle's 1,000 posts, ingests the new
    // epoch the removal made (every state read again, the circle
    // resolved, every post checked against the new membership).
    let epoch_entry = alice.store().head(&alice.me()).unwrap().unwrap();
    let e = alice
        .store()
        .entry_at(&alice.me(), epoch_entry.seq)
        .unwrap()
        .unwrap();
    let t = Instant::now();
    let outcome = others[0].ingest(&[e]);
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    let reread = t.elapsed().as_secs_f64() * 1e6;
    println!("a member ingests a new epoch of the circle (a re-read: 1,000 posts, 50 members)");
    println!(
        "  new epoch, re-read       {reread:8.0} µs   {:.0}× a public entry",
        reread / (public_us / np as f64)
    );

    // A certificate storm: Carol, a friend of Bob's, names recovery
    // contacts over and over; Bob, a member holding 1,000 circle posts,
    // ingests each as it arrives. Against Carol's public posts.
    let (bob_slice, rest) = others.split_at_mut(1);
    let bob = &mut bob_slice[0];
    let carol = &mut rest[1];
    bob.run(ops::TrustAdd {
        author: carol.me().into(),
        petname: None,
    })
    .unwrap();
    let log = carol.store().log(&carol.me(), 1, usize::MAX).unwrap();
    bob.ingest(&log);
    let bob_key = bob.me();
    let storm = 200;
    let mut certs = Vec::new();
    let mut posts = Vec::new();
    for i in 0..storm {
        carol
            .run(ops::RecoverySet {
                threshold: 1,
                contacts: vec![bob_key.into()],
            })
            .unwrap();
        certs.push(carol.store().head(&carol.me()).unwrap().unwrap().seq);
        carol.run(post(format!("carol's note {i}"), None)).unwrap();
        posts.push(carol.store().head(&carol.me()).unwrap().unwrap().seq);
    }
    let (mut cert_us, mut post_us) = (Vec::new(), Vec::new());
    for (c, p) in certs.iter().zip(&posts) {
        for (seq, out) in [(*c, &mut cert_us), (*p, &mut post_us)] {
            let e = carol.store().entry_at(&carol.me(), seq).unwrap().unwrap();
            let t = Instant::now();
            let outcome = bob.ingest(&[e]);
            assert!(outcome.error.is_none(), "{:?}", outcome.error);
            out.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (cert, public) = (median(&mut cert_us), median(&mut post_us));
    let worst = cert_us.last().copied().unwrap_or(0.0);
    println!("a friend's certificate storm while a member holds 1,000 circle posts ({storm} each)");
    println!("  a friend's public post   {public:8.0} µs (median ingest)");
    println!(
        "  a friend's certificate   {cert:8.0} µs   {:.2}× a post (median; worst {worst:.0} µs)",
        cert / public
    );
}
