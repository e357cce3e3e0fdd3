//! What private circles cost (docs/BENCHMARKS.md, "Private circles"):
//! per entry, encrypt + sign and verify + decrypt against plain sign and
//! verify measured in the same run; an epoch rotation of a 50-member
//! circle (one and two devices each) against one plain signature; and
//! the cost bounds of resolving a circle's membership: as a function of
//! its epochs (a chain, concurrent branches, concurrent removals that
//! conflict), and of the wraps a remote author can make a node try.
//!
//! `cargo run --release -p kith-protocol --example circle_bench`
//! (`KITH_BENCH_ROUNDS`, default 7: the median round is reported).

#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Instant;

use kith_protocol::circle::{
    self, Change, CircleId, CircleKey, DeviceSecret, EpochId, EpochState, NewEpoch, Op, Randomness,
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
        files: Vec::new(),
        mentions: Vec::new(),
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
        let circle_key = CircleKey([6; 32]);
        let new = NewEpoch {
            parents: vec![epoch],
            change: Change::Remove {
                person: keys[1].author(),
                seen: vec![],
            },
            recipients: keys
                .iter()
                .map(Keypair::author)
                .zip(pks.iter().copied())
                .collect(),
            history: vec![],
        };
        let iters = 20;
        let rotate = time(rounds, iters, |_| {
            let e = circle::seal_epoch(Some((circle, circle_key)), &author, new.clone(), &mut rng)
                .unwrap();
            black_box(Entry::sign(
                &alice,
                draft(Body::CircleEpoch(e.body).encode(), 0),
            ));
        });
        let e = circle::seal_epoch(Some((circle, circle_key)), &author, new.clone(), &mut rng)
            .unwrap()
            .body;
        let size = Body::CircleEpoch(e.clone()).encode().len();
        // Every wrap is tried (a decoy may come first), by members and
        // non-members alike.
        let outsider = DeviceSecret::of(&Keypair::from_secret(&[0xee; 32]));
        let all_wraps = time(rounds, iters, |_| {
            black_box(e.unwrap_all(&author, &outsider));
        });
        let member = time(rounds, iters, |i| {
            let s = &secrets[(i * 7) % secrets.len()];
            let st = e.open_state(&author, &circle_key).unwrap();
            black_box(e.keys_for(&author, s, &circle_key, &st).unwrap());
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

    // The most wraps a remote author can make a node try: 512 (an epoch
    // with more is junk, tried by nobody).
    {
        let keys: Vec<Keypair> = (0..circle::MAX_RECIPIENTS)
            .map(|i| {
                let mut seed = [0x33u8; 32];
                seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
                Keypair::from_secret(&seed)
            })
            .collect();
        let new = NewEpoch {
            parents: vec![epoch],
            change: Change::Rekey,
            recipients: keys
                .iter()
                .map(|k| (k.author(), DeviceSecret::of(k).public()))
                .collect(),
            history: vec![],
        };
        let e = circle::seal_epoch(Some((circle, CircleKey([6; 32]))), &author, new, &mut rng)
            .unwrap()
            .body;
        let outsider = DeviceSecret::of(&Keypair::from_secret(&[0xee; 32]));
        let all = time(rounds, 3, |_| {
            black_box(e.unwrap_all(&author, &outsider));
        });
        println!(
            "the most wraps one epoch makes a node try ({} wraps)",
            e.wraps.len()
        );
        println!(
            "  try every wrap           {:8.0} µs   {:.0}× verify",
            all,
            all / verify
        );
    }

    resolution_bounds(rounds, verify);
}

fn op(
    i: usize,
    person: kith_protocol::AuthorId,
    seq: u64,
    change: Change,
    parents: Vec<EpochId>,
) -> Op {
    let mut id = [0u8; 32];
    id[..8].copy_from_slice(&(i as u64).to_be_bytes());
    let mut ep = [0u8; 16];
    ep[..8].copy_from_slice(&(i as u64).to_be_bytes());
    ep[15] = 1;
    Op {
        id: EntryId(id),
        person,
        device: person,
        seq,
        epoch: EpochId(ep),
        state: EpochState {
            parents,
            change,
            recipients: vec![],
            key_check: [0; 32],
        },
    }
}

/// Resolution's cost as a function of epochs, in three shapes: a chain
/// (every change follows the last), branches (each change follows one of
/// the 8 latest), and conflicts (pairs of members removing each other
/// concurrently, the worst the strong-removal rule meets).
fn resolution_bounds(rounds: usize, verify: f64) {
    let people: Vec<_> = (0..50u8)
        .map(|i| Keypair::from_secret(&[i + 1; 32]).author())
        .collect();
    let create = op(
        0,
        people[0],
        1,
        Change::Create {
            name: "big".into(),
            members: people[1..].to_vec(),
        },
        vec![],
    );
    let root = create.epoch;
    println!("resolving a 50-member circle (µs; × one signature check)");
    println!("  epochs   chain            branches         conflicts");
    let sizes: Vec<usize> = std::env::var("KITH_BENCH_EPOCHS")
        .ok()
        .map(|v| v.split(',').filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_else(|| vec![100, 400, 1600, circle::MAX_EPOCHS]);
    for n in sizes {
        let mut times = Vec::new();
        for shape in 0..3 {
            let mut ops = vec![create.clone()];
            let mut seqs = vec![1u64; 50];
            for i in 1..n {
                let who = i % 50;
                seqs[who] += 1;
                let target = people[(i * 7 + 3) % 50];
                let change = match (shape, i % 3) {
                    (2, _) if i % 10 == 0 => Change::Remove {
                        person: people[(who + 1) % 50],
                        seen: vec![],
                    },
                    (2, _) if i % 10 == 1 => Change::Remove {
                        person: people[(who + 49) % 50],
                        seen: vec![],
                    },
                    (_, 0) => Change::Rekey,
                    (_, 1) => Change::Remove {
                        person: target,
                        seen: vec![],
                    },
                    _ => Change::Add {
                        person: target,
                        history: false,
                    },
                };
                let last = ops.len() - 1;
                let parent = match shape {
                    1 => last - (i * 5) % ops.len().min(8),
                    2 if i % 10 == 1 => last.saturating_sub(1),
                    _ => last,
                };
                let parents = vec![ops[parent].epoch];
                ops.push(op(i, people[who], seqs[who], change, parents));
            }
            let iters = if n > 1000 { 1 } else { 3 };
            times.push(time(rounds.min(3), iters, |_| {
                black_box(circle::resolve(&root, ops.clone()));
            }));
            eprintln!("  ({n} epochs, shape {shape}: {:.0} µs)", times[shape]);
        }
        println!(
            "  {n:>6}   {:>8.0} ({:>5.0}×) {:>8.0} ({:>5.0}×) {:>8.0} ({:>5.0}×)",
            times[0],
            times[0] / verify,
            times[1],
            times[1] / verify,
            times[2],
            times[2] / verify
        );
    }
}
