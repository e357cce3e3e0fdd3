//! What private circles cost (docs/BENCHMARKS.md, "Private circles"):
//! per entry, encrypt + sign and verify + decrypt against plain sign and
//! verify measured in the same run; an epoch rotation of a 50-member
//! circle (one and two devices each) against one plain signature; and
//! resolving a circle's membership from its epochs.
//!
//! `cargo run --release -p kith-protocol --example circle_bench`
//! (`KITH_BENCH_ROUNDS`, default 7: the median round is reported).

#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Instant;

use kith_protocol::circle::{
    self, Change, CircleId, DeviceSecret, EpochId, EpochState, Op, ParentKey, Randomness,
};
use kith_protocol::{Body, Draft, Entry, EntryId, Keypair, Limits, Post, PostKind, Verified};

/// Median time per iteration of `f`, in microseconds.
fn time(rounds: usize, iters: usize, mut f: impl FnMut(usize)) -> f64 {
    let mut samples: Vec<f64> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            for i in 0..iters {
                f(i);
            }
            start.elapsed().as_secs_f64() * 1e6 / iters as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[rounds / 2]
}

fn post(i: usize) -> Body {
    Body::Post(Post {
        kind: PostKind::Note,
        text: format!(
            "Working out loud #{i}: the migration plan needs a second pair of eyes on the rollback steps before Friday."
        ),
        reply_to: None,
        tags: vec!["ops".into()],
    })
}

fn main() {
    let rounds: usize = std::env::var("KITH_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    let alice = Keypair::from_secret(&[1; 32]);
    let author = alice.author();
    let limits = Limits::default();
    let circle = CircleId([7; 16]);
    let epoch = EpochId([9; 16]);
    let key = [5u8; 32];
    let mut rng = Randomness::from_seed([3; 32]);
    let n = 2_000;

    let draft = |body: Vec<u8>, i: usize| Draft {
        seq: i as u64 + 1,
        prev: None,
        timestamp_ms: 1_700_000_000_000,
        body,
    };
    let sign = time(rounds, n, |i| {
        black_box(Entry::sign(&alice, draft(post(i).encode(), i)));
    });
    let seal_sign = time(rounds, n, |i| {
        let sealed = circle::seal(&post(i), circle, epoch, &author, &key, &mut rng).unwrap();
        black_box(Entry::sign(&alice, draft(Body::Sealed(sealed).encode(), i)));
    });
    let plain: Vec<Entry> = (0..n)
        .map(|i| Entry::sign(&alice, draft(post(i).encode(), i)))
        .collect();
    let sealed: Vec<Entry> = (0..n)
        .map(|i| {
            let s = circle::seal(&post(i), circle, epoch, &author, &key, &mut rng).unwrap();
            Entry::sign(&alice, draft(Body::Sealed(s).encode(), i))
        })
        .collect();
    let now = 1_700_000_000_000;
    let verify = time(rounds, n, |i| {
        black_box(Verified::check(plain[i].clone(), &limits, now).unwrap());
    });
    let verify_open = time(rounds, n, |i| {
        let v = Verified::check(sealed[i].clone(), &limits, now).unwrap();
        let Some(Body::Sealed(s)) = v.body() else {
            unreachable!()
        };
        black_box(s.open(&author, &key).unwrap());
    });
    let plain_len = plain[0].encode().len();
    let sealed_len = sealed[0].encode().len();

    println!("per entry (a {plain_len}-byte post entry; sealed {sealed_len} bytes)");
    println!("  sign (baseline)        {sign:8.1} µs");
    println!(
        "  encrypt + sign         {seal_sign:8.1} µs   {:.2}× sign",
        seal_sign / sign
    );
    println!("  verify (baseline)      {verify:8.1} µs");
    println!(
        "  verify + decrypt       {verify_open:8.1} µs   {:.2}× verify",
        verify_open / verify
    );

    for devices_each in [1usize, 2] {
        let members = 50;
        let keys: Vec<Keypair> = (0..members * devices_each)
            .map(|i| {
                Keypair::from_secret(&[
                    (i % 250) as u8 + 1,
                    (i / 250) as u8 + 1,
                    0x5a,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                ])
            })
            .collect();
        let secrets: Vec<DeviceSecret> = keys.iter().map(DeviceSecret::of).collect();
        let pks: Vec<[u8; 32]> = secrets.iter().map(DeviceSecret::public).collect();
        let state = EpochState {
            parents: vec![ParentKey {
                epoch,
                state_key: key,
            }],
            change: Change::Remove {
                person: keys[1].author(),
                seen: vec![],
            },
            recipients: keys.iter().map(Keypair::author).collect(),
            history: vec![],
        };
        let iters = 20;
        let rotate = time(rounds, iters, |_| {
            let (e, _) = circle::seal_epoch(Some(circle), &author, &state, &pks, &mut rng).unwrap();
            black_box(Entry::sign(&alice, draft(Body::CircleEpoch(e).encode(), 0)));
        });
        let (e, _) = circle::seal_epoch(Some(circle), &author, &state, &pks, &mut rng).unwrap();
        let size = Body::CircleEpoch(e.clone()).encode().len();
        // A member tries the wraps in order: on average half, at worst all
        // (wraps are sorted by their random `enc`, so which one is ours is
        // random); a non-member always tries all.
        let outsider = DeviceSecret::of(&Keypair::from_secret(&[0xee; 32]));
        let all_wraps = time(rounds, iters, |_| {
            black_box(e.unwrap_keys(&author, &outsider));
        });
        let member = time(rounds, iters, |i| {
            let s = &secrets[(i * 7) % secrets.len()];
            let k = e.unwrap_keys(&author, s).unwrap();
            black_box(e.open_state(&author, &k.state).unwrap());
        });
        println!(
            "epoch rotation, 50 members × {devices_each} device(s) ({} wraps, {size}-byte body)",
            pks.len()
        );
        println!(
            "  new epoch (wrap + sign)  {:8.0} µs   {:.0}× sign",
            rotate,
            rotate / sign
        );
        println!(
            "  a member opens it        {:8.0} µs   {:.0}× verify",
            member,
            member / verify
        );
        println!(
            "  a non-member tries all   {:8.0} µs   {:.0}× verify",
            all_wraps,
            all_wraps / verify
        );
    }

    // Resolving a 50-member circle after 200 changes (adds, removes, rekeys).
    let people: Vec<_> = (0..50u8)
        .map(|i| Keypair::from_secret(&[i + 1; 32]).author())
        .collect();
    let mut ops = vec![Op {
        id: EntryId([0; 32]),
        person: people[0],
        device: people[0],
        seq: 1,
        epoch: EpochId([0; 16]),
        state: EpochState {
            parents: vec![],
            change: Change::Create {
                name: "big".into(),
                members: people[1..].to_vec(),
            },
            recipients: vec![],
            history: vec![],
        },
    }];
    for i in 1..200u32 {
        let mut id = [0u8; 32];
        id[..4].copy_from_slice(&i.to_be_bytes());
        let mut ep = [0u8; 16];
        ep[..4].copy_from_slice(&i.to_be_bytes());
        let target = people[1 + (i as usize % 49)];
        let change = match i % 3 {
            0 => Change::Rekey,
            1 => Change::Remove {
                person: target,
                seen: vec![],
            },
            _ => Change::Add {
                person: target,
                history: false,
            },
        };
        let prev = ops.last().map(|o: &Op| o.epoch).unwrap_or(EpochId([0; 16]));
        ops.push(Op {
            id: EntryId(id),
            person: people[0],
            device: people[0],
            seq: u64::from(i) + 1,
            epoch: EpochId(ep),
            state: EpochState {
                parents: vec![ParentKey {
                    epoch: prev,
                    state_key: key,
                }],
                change,
                recipients: vec![],
                history: vec![],
            },
        });
    }
    let big = circle::circle_id(&EpochId([0; 16]));
    let resolved = circle::resolve(&big, ops.clone());
    assert_eq!(resolved.order.len(), 200, "every change counts");
    let resolve = time(rounds, 20, |_| {
        black_box(circle::resolve(&big, ops.clone()));
    });
    println!("resolving 200 epochs of a 50-member circle");
    println!(
        "  resolve                  {resolve:8.0} µs   {:.0}× verify",
        resolve / verify
    );
}
