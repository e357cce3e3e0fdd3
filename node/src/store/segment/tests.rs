//! Logs in sealed segments: written, read across segment boundaries,
//! deleted from, cut short, left half sealed by a crash, and migrated from
//! one key per entry.

use kith_protocol::{Body, Deletion, Entry, Keypair, Limits, Post, PostKind};

use super::*;
use crate::store::kv::KvConfig;
use crate::store::{FeedQuery, Scope};

const NOW: u64 = 1_700_000_000_000;

fn keypair(seed: u8) -> Keypair {
    Keypair::from_secret(&[seed; 32])
}

fn note(i: usize) -> Body {
    Body::Post(Post {
        kind: PostKind::Note,
        text: format!("note {i}"),
        reply_to: None,
        tags: vec![],
    })
}

fn notes(range: std::ops::Range<usize>) -> Vec<Body> {
    range.map(note).collect()
}

fn count(store: &Store, space: Space) -> usize {
    store.kv.scan_prefix(space.prefix()).count()
}

/// Puts every sealed segment back as single records, as a store of schema
/// 1 (or a crash between an append and its seal) holds them.
fn unseal_all(store: &Store) {
    let segments: Vec<_> = store
        .kv
        .scan_prefix(Space::Segment.prefix())
        .map(Result::unwrap)
        .collect();
    for (key, value) in segments {
        let (author, n) = parse_key(&key).unwrap();
        let mut batch = Batch::default();
        for (i, record) in records(&value).unwrap().into_iter().enumerate() {
            batch.insert(
                entry_key(&author, first_seq(n) + i as u64).with_prefix(ENTRY),
                record,
            );
        }
        batch.remove(&key);
        store.apply(batch).unwrap();
    }
}

/// `author`'s log reads as `entries` every way; the store verifies and
/// holds `total` entries.
fn assert_log_reads(store: &Store, author: &AuthorId, entries: &[Entry], total: usize) {
    let all = store.log(author, 1, usize::MAX).unwrap();
    assert_eq!(all, entries);
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(
            store.entry_at(author, i as u64 + 1).unwrap().as_ref(),
            Some(e)
        );
        assert_eq!(store.get(&e.id()).unwrap().as_ref(), Some(e));
    }
    assert_eq!(
        store.entry_at(author, entries.len() as u64 + 1).unwrap(),
        None
    );
    // Pages that cross segment boundaries and end inside them.
    assert_eq!(store.log(author, 60, 10).unwrap(), entries[59..69]);
    assert_eq!(store.log(author, 128, 2).unwrap(), entries[127..129]);
    let batch = store.log_batch(author, 63, usize::MAX, 3).unwrap();
    assert_eq!(batch, entries[63..66]);
    let report = store.verify().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.entries, total as u64);
}

#[test]
fn own_appends_seal_each_run_of_64_and_every_read_crosses_segments() {
    let store = Store::temporary().unwrap();
    let alice = keypair(1);
    let mut entries = store.append_many(&alice, &notes(0..100), NOW).unwrap();
    for i in 100..200 {
        entries.push(store.append(&alice, &note(i), NOW).unwrap());
    }
    assert_eq!(count(&store, Space::Segment), 3, "seqs 1..=192");
    assert_eq!(
        count(&store, Space::Entry),
        8,
        "seqs 193..=200, the open tail"
    );
    assert_log_reads(&store, &alice.author(), &entries, entries.len());
}

#[test]
fn ingested_logs_are_sealed_whatever_the_batch_sizes() {
    let alice = keypair(1);
    let scratch = Store::temporary().unwrap();
    let entries = scratch.append_many(&alice, &notes(0..200), NOW).unwrap();
    let store = Store::temporary().unwrap();
    let scope = Scope::of([alice.author()]);
    for chunk in entries.chunks(7) {
        let outcome = store.ingest_batch(chunk, NOW, &scope);
        assert!(outcome.error.is_none(), "{:?}", outcome.error);
    }
    assert_eq!(count(&store, Space::Segment), 3);
    assert_log_reads(&store, &alice.author(), &entries, entries.len());
    // A replay of a sealed entry is a duplicate, not a fork.
    assert_eq!(
        store.ingest(&entries[5], NOW, &scope).unwrap(),
        crate::store::Ingested::Duplicate
    );
    // The walk a rebuild takes sees every entry once, in order.
    let mut walked = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.entries_after_key(cursor, 50).unwrap();
        let Some(last) = page.last() else { break };
        cursor = Some((last.author(), last.seq()));
        walked.extend(page);
    }
    assert_eq!(walked, entries);
}

#[test]
fn deleting_a_sealed_entry_drops_its_body_inside_the_segment() {
    let store = Store::temporary().unwrap();
    let alice = keypair(1);
    let entries = store.append_many(&alice, &notes(0..70), NOW).unwrap();
    let target = entries[9].id();
    // The deletion is seq 71; a second one in the same call targets the
    // same segment.
    store
        .append_many(
            &alice,
            &[
                Body::Deletion(Deletion { target }),
                Body::Deletion(Deletion {
                    target: entries[10].id(),
                }),
            ],
            NOW,
        )
        .unwrap();
    assert_eq!(count(&store, Space::Segment), 1);
    for id in [target, entries[10].id()] {
        assert!(store.get(&id).unwrap().unwrap().body().is_none());
    }
    let feed = store
        .feed(&FeedQuery {
            limit: 100,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(feed.len(), 68);
    let report = store.verify().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.bodies_dropped, 2);
    // A rebuild of the views agrees.
    store.reindex().unwrap();
    assert_eq!(
        store
            .feed(&FeedQuery {
                limit: 100,
                ..Default::default()
            })
            .unwrap(),
        feed
    );
}

#[test]
fn cutting_a_log_inside_a_segment_unseals_what_is_kept() {
    let store = Store::temporary().unwrap();
    let alice = keypair(1);
    let entries = store.append_many(&alice, &notes(0..200), NOW).unwrap();
    assert_eq!(store.truncate_log(&alice.author(), 100).unwrap(), 100);
    assert_eq!(count(&store, Space::Segment), 1, "seqs 1..=64 stay sealed");
    assert_eq!(
        count(&store, Space::Entry),
        36,
        "65..=100 as single records"
    );
    assert_eq!(store.head(&alice.author()).unwrap().unwrap().seq, 100);
    assert_eq!(
        store.log(&alice.author(), 1, usize::MAX).unwrap(),
        entries[..100]
    );
    for e in &entries[100..] {
        assert_eq!(store.get(&e.id()).unwrap(), None);
    }
    let report = store.verify().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

#[test]
fn runs_left_unsealed_by_a_crash_are_read_and_sealed_at_the_next_run() {
    let store = Store::temporary().unwrap();
    let alice = keypair(1);
    let mut entries = store.append_many(&alice, &notes(0..130), NOW).unwrap();
    unseal_all(&store); // a crash after the appends, before their seals
    assert_eq!(count(&store, Space::Segment), 0);
    assert_log_reads(&store, &alice.author(), &entries, entries.len());
    entries.extend(store.append_many(&alice, &notes(130..192), NOW).unwrap());
    assert_eq!(count(&store, Space::Segment), 3);
    assert_eq!(count(&store, Space::Entry), 0);
    assert_log_reads(&store, &alice.author(), &entries, entries.len());
}

#[test]
fn a_store_of_one_key_per_entry_is_migrated_once_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let (alice, bob) = (keypair(1), keypair(2));
    let open = || Store::open(dir.path(), &KvConfig::default(), Limits::default()).unwrap();
    let (a, b) = {
        let store = open();
        let a = store.append_many(&alice, &notes(0..150), NOW).unwrap();
        let b = store.append_many(&bob, &notes(0..64), NOW).unwrap();
        // What schema 1 wrote: single records, schema 1.
        unseal_all(&store);
        store
            .kv
            .insert(super::super::meta_key("schema"), 1u32.to_be_bytes())
            .unwrap();
        store.flush().unwrap();
        (a, b)
    };
    let store = open();
    assert_eq!(count(&store, Space::Segment), 3, "alice 2, bob 1");
    assert_eq!(count(&store, Space::Entry), 22);
    assert_eq!(
        store
            .kv
            .get(super::super::meta_key("schema"))
            .unwrap()
            .unwrap()
            .as_ref(),
        2u32.to_be_bytes()
    );
    assert!(!store.kv.contains(super::super::meta_key(SEALING)).unwrap());
    assert_log_reads(&store, &alice.author(), &a, a.len() + b.len());
    assert_eq!(store.log(&bob.author(), 1, 100).unwrap(), b);
    drop(store);

    // A migration a crash cut short (marked, part sealed) is finished.
    {
        let store = open();
        unseal_all(&store);
        store.seal(&bob.author()).unwrap();
        store
            .kv
            .insert(super::super::meta_key(SEALING), [1])
            .unwrap();
        store.flush().unwrap();
    }
    let store = open();
    assert_eq!(count(&store, Space::Segment), 3);
    assert!(!store.kv.contains(super::super::meta_key(SEALING)).unwrap());
    let report = store.verify().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    drop(store);

    // A layout newer than this binary knows is refused, not misread.
    {
        let store = open();
        store
            .kv
            .insert(super::super::meta_key("schema"), 3u32.to_be_bytes())
            .unwrap();
        store.flush().unwrap();
    }
    let err = Store::open(dir.path(), &KvConfig::default(), Limits::default())
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .contains("schema version 3 is not supported"),
        "{err}"
    );
}

#[test]
fn damaged_segments_are_reported_never_read_short() {
    let store = Store::temporary().unwrap();
    let alice = keypair(1);
    let entries = store.append_many(&alice, &notes(0..64), NOW).unwrap();
    let key = segment_key(&alice.author(), 0);
    let good = store.kv.get(&key).unwrap().unwrap();
    for bad in [
        &good[..good.len() - 1],         // cut short in an entry
        &good[..1],                      // no entries
        &[2u8][..],                      // an unknown format
        &[][..],                         // empty
        &encode(&[entries[0].encode()]), // one entry, not 64
    ] {
        store.kv.insert(&key, bad).unwrap();
        let err = store.entry_at(&alice.author(), 3).unwrap_err();
        assert!(err.to_string().contains("log segment"), "{err}");
        assert!(store.log(&alice.author(), 1, 10).is_err());
        let report = store.verify().unwrap();
        assert!(
            report.problems.iter().any(|p| p.contains("segment 0")),
            "{:?}",
            report.problems
        );
    }
    // One entry's bytes changed inside a segment: verify names it.
    let mut changed = entries[4].encode();
    let n = changed.len();
    changed[n - 2] ^= 0xff;
    store.kv.insert(&key, &good).unwrap();
    store
        .corrupt_for_test(&alice.author(), 5, &changed)
        .unwrap();
    let report = store.verify().unwrap();
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert!(
        report.problems[0].contains("seq 5"),
        "{:?}",
        report.problems
    );
}
