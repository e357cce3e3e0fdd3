//! Store throughput, measured against raw signature verification in the same
//! run: `cargo bench -p kith-node --bench store`.
//!
//! - `verify_strict`: ed25519-dalek `verify_strict` over the same entries (baseline)
//! - `ingest`: decode + verify + chain check + store of foreign entries, in
//!   batches of 256 as catch-up delivers them
//! - `append_flush_each`: own appends, each flushed to disk before returning
//! - `append_group_commit`: own appends, 100 per flush
#![allow(clippy::unwrap_used)]

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ed25519_dalek::{Signature, VerifyingKey};
use kith_node::store::kv::KvConfig;
use kith_node::store::{Scope, Store};
use kith_protocol::{Body, Entry, Keypair, Limits, Post, PostKind};

const N: usize = 2_000;
const NOW: u64 = 1_700_000_000_000;

fn body(i: usize) -> Body {
    Body::Post(Post {
        kind: PostKind::Note,
        text: format!(
            "Working on entry {i}: a typical short note of about a hundred bytes of text."
        ),
        reply_to: None,
        tags: vec!["bench".into()],
        files: Vec::new(),
        mentions: Vec::new(),
    })
}

fn foreign_entries(kp: &Keypair) -> Vec<Vec<u8>> {
    let scratch = Store::temporary().unwrap();
    let bodies: Vec<Body> = (0..N).map(body).collect();
    scratch
        .append_many(kp, &bodies, NOW)
        .unwrap()
        .iter()
        .map(Entry::encode)
        .collect()
}

fn on_disk_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &KvConfig::default(), Limits::default()).unwrap();
    (dir, store)
}

fn benches(c: &mut Criterion) {
    let alice = Keypair::from_secret(&[1; 32]);
    let wire = foreign_entries(&alice);
    let decoded: Vec<Entry> = wire
        .iter()
        .map(|b| Entry::decode(b, &Limits::default()).unwrap())
        .collect();
    let scope = Scope::of([alice.author()]);

    let mut group = c.benchmark_group("store");
    group.sample_size(10);
    group.throughput(Throughput::Elements(N as u64));

    group.bench_function("verify_strict", |b| {
        let key = VerifyingKey::from_bytes(alice.author().as_bytes()).unwrap();
        let msgs: Vec<(Vec<u8>, Signature)> = decoded
            .iter()
            .map(|e| (e.signed_message(), Signature::from_bytes(e.signature())))
            .collect();
        b.iter(|| {
            for (msg, sig) in &msgs {
                key.verify_strict(msg, sig).unwrap();
            }
        })
    });

    group.bench_function("ingest", |b| {
        b.iter_batched(
            on_disk_store,
            |(_dir, store)| {
                for chunk in wire.chunks(256) {
                    let entries: Vec<Entry> = chunk
                        .iter()
                        .map(|b| Entry::decode(b, store.limits()).unwrap())
                        .collect();
                    let outcome = store.ingest_batch(&entries, NOW, &scope);
                    assert!(outcome.error.is_none());
                }
            },
            BatchSize::PerIteration,
        )
    });

    let bodies: Vec<Body> = (0..N).map(body).collect();
    group.throughput(Throughput::Elements(200));
    group.bench_function("append_flush_each", |b| {
        b.iter_batched(
            on_disk_store,
            |(_dir, store)| {
                for body in &bodies[..200] {
                    store.append(&alice, body, NOW).unwrap();
                }
            },
            BatchSize::PerIteration,
        )
    });
    group.throughput(Throughput::Elements(N as u64));
    group.bench_function("append_group_commit_100", |b| {
        b.iter_batched(
            on_disk_store,
            |(_dir, store)| {
                for chunk in bodies.chunks(100) {
                    store.append_many(&alice, chunk, NOW).unwrap();
                }
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(store, benches);
criterion_main!(store);
