//! The arrival order: one record per write batch, and the records of
//! stores written one location per key.

use super::*;

#[test]
fn arrivals_are_one_record_per_write_and_read_across_records() {
    let store = Store::temporary().unwrap();
    let alice = keypair(1);
    let bob = keypair(2);
    let scope = Scope::of([alice.author(), bob.author()]);
    let a = foreign_log(&alice, 300);
    let b = foreign_log(&bob, 2);
    let ids: Vec<EntryId> = a.iter().chain(&b).map(Entry::id).collect();
    for chunk in [&a[..], &b[..]] {
        let verified = chunk.iter().map(|e| store.verified(e.clone())).collect();
        let outcome = store.ingest_verified(verified, &scope, Indexing::All);
        assert!(outcome.error.is_none(), "{:?}", outcome.error);
    }
    // 302 entries written in bounded batches: a handful of records, not 302.
    let records = store
        .kv()
        .scan_prefix(super::keyspace::Space::Arrival.prefix())
        .count();
    assert!((3..20).contains(&records), "{records} arrival records");
    assert_eq!(store.last_arrival(), 302);
    let all: Vec<(u64, EntryId)> = (1..).zip(ids.iter().copied()).collect();
    assert_eq!(arrival_ids(&store, 0, usize::MAX), all);
    // Every starting point and limit, across record boundaries.
    for after in [0, 1, 63, 64, 65, 150, 299, 300, 301, 302, 400] {
        for limit in [1, 7, 100, 1000] {
            let want: Vec<_> = all
                .iter()
                .filter(|(n, _)| *n > after)
                .take(limit)
                .copied()
                .collect();
            assert_eq!(
                arrival_ids(&store, after, limit),
                want,
                "after {after} limit {limit}"
            );
        }
    }
}

#[test]
fn arrivals_written_one_per_key_read_the_same_and_number_on() {
    // Stores written before arrival records held one location per key.
    let dir = tempfile::tempdir().unwrap();
    let alice = keypair(1);
    let entries = {
        let store = Store::open(dir.path(), &KvConfig::default(), Limits::default()).unwrap();
        let entries = store
            .append_many(&alice, &[note("a"), note("b"), note("c")], NOW)
            .unwrap();
        let prefix = super::keyspace::Space::Arrival.prefix();
        let old: Vec<_> = store
            .kv()
            .scan_prefix(prefix)
            .map(|r| r.unwrap().0)
            .collect();
        for key in old {
            store.kv().remove(key).unwrap();
        }
        for (n, e) in (1u64..).zip(&entries) {
            let key = super::keyspace::Space::Arrival.key(&[&n.to_be_bytes()]);
            store
                .kv()
                .insert(key, entry_key(&e.author(), e.seq()).0)
                .unwrap();
        }
        entries
    };
    let store = Store::open(dir.path(), &KvConfig::default(), Limits::default()).unwrap();
    assert_eq!(store.last_arrival(), 3);
    let next = store.append(&alice, &note("d"), NOW).unwrap();
    let want: Vec<(u64, EntryId)> = (1..)
        .zip(entries.iter().map(Entry::id).chain([next.id()]))
        .collect();
    assert_eq!(arrival_ids(&store, 0, 10), want);
    assert_eq!(arrival_ids(&store, 2, 1), want[2..3].to_vec());
}
