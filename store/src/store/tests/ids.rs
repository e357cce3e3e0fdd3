//! The id index's log, tail and runs (`store::ids`): every id stays
//! findable while ids move from the tail into runs, runs merge, the store
//! restarts, a store of the previous layout is converted, a merge is cut
//! short, and a log is cut.

use std::sync::Arc;

use super::super::ids::{FAN_IN, IdRuns, Params};
use super::super::keyspace::Space;
use super::*;

const SMALL: Params = Params {
    flush_at: 32,
    block_ids: 4,
    step_blocks: 3,
};

/// A store on disk whose id index uses `params`.
fn with_params(dir: &std::path::Path, params: Params) -> Store {
    let mut store = Store::open(dir, &KvConfig::default(), Limits::default()).unwrap();
    store.ids = Arc::new(IdRuns::open(store.kv(), params).unwrap());
    store
}

const UNBOUNDED: Params = Params {
    flush_at: usize::MAX / 4,
    ..SMALL
};

/// A store of the layout before runs, every id a key of its own: written
/// with a tail that never flushes, then its log turned into such keys.
fn old_layout(dir: &std::path::Path, n: usize) -> Vec<Entry> {
    let store = with_params(dir, UNBOUNDED);
    let entries = ingest(&store, n);
    let mut batch = super::super::kv::Batch::default();
    for item in store.kv().scan_prefix(Space::IdLog.prefix()) {
        let (k, v) = item.unwrap();
        for record in v.chunks(72) {
            batch.insert(Space::Id.key(&[&record[..32]]), &record[32..]);
        }
        batch.remove(k);
    }
    store.kv().apply(batch).unwrap();
    assert_eq!(count(&store, Space::Id), entries.len());
    entries
}

/// Three authors' logs, `n` entries each, ingested in batches of 50.
fn ingest(store: &Store, n: usize) -> Vec<Entry> {
    let keys = [keypair(1), keypair(2), keypair(3)];
    let scope = Scope::of(keys.iter().map(Keypair::author));
    let mut all = Vec::new();
    for kp in &keys {
        let log = foreign_log(kp, n);
        for chunk in log.chunks(50) {
            let verified = chunk.iter().map(|e| store.verified(e.clone())).collect();
            let outcome = store.ingest_verified(verified, &scope, Indexing::All);
            assert!(outcome.error.is_none(), "{:?}", outcome.error);
        }
        all.extend(log);
    }
    all
}

fn count(store: &Store, space: Space) -> usize {
    store.kv().scan_prefix(space.prefix()).count()
}

/// Steps until nothing is left to do; returns how many steps it took.
fn settle(store: &Store) -> usize {
    let mut steps = 0;
    while store.tidy_ids().unwrap() {
        steps += 1;
        assert!(steps < 100_000, "the upkeep never ends");
    }
    steps
}

/// Every id is found, with its own entry, and by a short prefix of it.
fn all_found(store: &Store, entries: &[Entry]) {
    for entry in entries {
        let id = entry.id();
        let got = store.get(&id).unwrap().expect("every id is found");
        assert_eq!(got.id(), id);
        assert_eq!(store.resolve_id(&id.to_hex()[..10]).unwrap(), id);
    }
}

/// What the listed runs and their blocks say of the index's shape: the
/// blocks are exactly the listed runs' (none left behind), nothing waits
/// to be dropped, and each level holds fewer than `FAN_IN` runs.
fn tidy_shape(store: &Store, params: &Params) {
    assert_eq!(count(store, Space::IdDrop), 0, "nothing left to drop");
    let mut blocks = 0;
    let mut per_level = std::collections::BTreeMap::<u32, usize>::new();
    for item in store.kv().scan_prefix(Space::IdRun.prefix()) {
        let (_, v) = item.unwrap();
        let ids = u64::from_be_bytes(v[..8].try_into().unwrap()) as usize;
        blocks += ids.div_ceil(params.block_ids);
        let mut level = 0;
        let mut size = params.flush_at * FAN_IN;
        while ids >= size {
            level += 1;
            size *= FAN_IN;
        }
        *per_level.entry(level).or_default() += 1;
    }
    assert_eq!(count(store, Space::IdBlock), blocks, "no block of an unlisted run");
    assert!(
        per_level.values().all(|&n| n < FAN_IN),
        "runs per level {per_level:?}"
    );
}

#[test]
fn ids_move_from_the_tail_into_merged_runs_and_stay_found() {
    let dir = tempfile::tempdir().unwrap();
    let store = with_params(dir.path(), SMALL);
    let mut entries = ingest(&store, 400);
    // The upkeep ran as the entries were written; then five posts of one's
    // own stay in the tail (fewer than a run).
    settle(&store);
    let bodies: Vec<Body> = (0..5).map(|i| note(&format!("own {i}"))).collect();
    entries.extend(store.append_many(&keypair(9), &bodies, NOW).unwrap());
    settle(&store);
    assert_eq!(count(&store, Space::Id), 0, "no id is a key of its own");
    let logged: usize = store
        .kv()
        .scan_prefix(Space::IdLog.prefix())
        .map(|item| item.unwrap().1.len() / 72)
        .sum();
    assert_eq!(logged, 5, "the log holds the tail's ids");
    assert!(count(&store, Space::IdRun) >= 2, "runs of several levels");
    tidy_shape(&store, &SMALL);
    all_found(&store, &entries);
    assert!(
        store.get(&EntryId([7; 32])).unwrap().is_none(),
        "an unknown id is not found"
    );
    assert!(matches!(
        store.resolve_id("07070707"),
        Err(Error::NotFound(_))
    ));

    // After a restart the tail is read back from the log.
    drop(store);
    let store = with_params(dir.path(), SMALL);
    all_found(&store, &entries);
    // More writes go on from there.
    let more = foreign_log(&keypair(4), 100);
    let scope = Scope::of([keypair(4).author()]);
    let verified = more.iter().map(|e| store.verified(e.clone())).collect();
    assert!(store.ingest_verified(verified, &scope, Indexing::All).error.is_none());
    settle(&store);
    tidy_shape(&store, &SMALL);
    all_found(&store, &entries);
    all_found(&store, &more);
}

#[test]
fn a_store_with_every_id_a_key_of_its_own_is_converted_in_bounded_steps() {
    let dir = tempfile::tempdir().unwrap();
    let entries = old_layout(dir.path(), 200);
    let store = with_params(dir.path(), SMALL);
    all_found(&store, &entries);
    let steps = settle(&store);
    assert!(steps > 600 / SMALL.flush_at, "{steps} steps, each bounded");
    assert_eq!(count(&store, Space::Id), 0);
    tidy_shape(&store, &SMALL);
    all_found(&store, &entries);
}

#[test]
fn a_merge_cut_short_is_dropped_and_every_id_stays_found() {
    let dir = tempfile::tempdir().unwrap();
    let entries = old_layout(dir.path(), 200);
    {
        let store = with_params(dir.path(), SMALL);
        // Step until a merge has written part of its run, then stop there
        // (the process dies: the merge's state was in its memory).
        loop {
            assert!(store.tidy_ids().unwrap(), "a merge comes before the end");
            if let Some(partial) = store.ids.merging_into()
                && count(&store, Space::IdDrop) == 1
            {
                let start = Space::IdBlock.key(&[&partial.to_be_bytes()]);
                let end = Space::IdBlock.key(&[&(partial + 1).to_be_bytes()]);
                if store.kv().range(&start, &end).count() > 0 {
                    break;
                }
            }
        }
        all_found(&store, &entries);
    }
    let store = with_params(dir.path(), SMALL);
    assert_eq!(count(&store, Space::IdDrop), 1, "the half-written run");
    all_found(&store, &entries);
    settle(&store);
    tidy_shape(&store, &SMALL);
    all_found(&store, &entries);
}

#[test]
fn ids_of_a_cut_log_are_not_found_through_the_runs() {
    let dir = tempfile::tempdir().unwrap();
    let store = with_params(dir.path(), SMALL);
    let entries = ingest(&store, 100);
    settle(&store);
    let alice = keypair(1).author();
    assert_eq!(store.truncate_log(&alice, 40).unwrap(), 60);
    // Alice's log goes on from 40 with other entries, in the places the
    // cut ones had (their records in the runs now point at these).
    let kp = keypair(1);
    let again = store.append_many(&kp, &[note("again 41"), note("again 42")], NOW).unwrap();
    assert_eq!(again[0].seq(), 41);
    settle(&store);
    all_found(&store, &again);
    for entry in &entries {
        let id = entry.id();
        let cut = entry.author() == alice && entry.seq() > 40;
        assert_eq!(store.get(&id).unwrap().is_some(), !cut, "seq {}", entry.seq());
        match store.resolve_id(&id.to_hex()[..12]) {
            Ok(found) => assert!(!cut && found == id),
            Err(Error::NotFound(_)) => assert!(cut),
            Err(e) => panic!("{e}"),
        }
    }
}
