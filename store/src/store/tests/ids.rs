//! The id index's tail and runs (`store::ids`): every id stays findable
//! while ids move from the tail into runs, after a restart (the tail read
//! again from the entries), in a store of the previous layout converted in
//! steps, after a crash left a run half written, and after a log is cut.

use std::sync::Arc;

use super::super::ids::{IdRuns, Params};
use super::super::keyspace::Space;
use super::*;

const SMALL: Params = Params {
    flush_at: 32,
    block_ids: 4,
};

const UNBOUNDED: Params = Params {
    flush_at: usize::MAX / 4,
    ..SMALL
};

/// A store on disk whose id index uses `params`.
fn with_params(dir: &std::path::Path, params: Params) -> Store {
    let mut store = Store::open(dir, &KvConfig::default(), Limits::default()).unwrap();
    store.ids = Arc::new(IdRuns::open(store.kv(), params, &Limits::default()).unwrap());
    store
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

/// A store of the layout before runs, every id a key of its own.
fn old_layout(dir: &std::path::Path, n: usize) -> Vec<Entry> {
    let store = with_params(dir, UNBOUNDED);
    let entries = ingest(&store, n);
    assert_eq!(count(&store, Space::IdRun), 0);
    let mut batch = super::super::kv::Batch::default();
    for entry in &entries {
        batch.insert(
            Space::Id.key(&[entry.id().as_bytes()]),
            entry_key(&entry.author(), entry.seq()).0,
        );
    }
    store.kv().apply(batch).unwrap();
    entries
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

/// Every block belongs to a listed run, and nothing waits to be dropped.
fn no_blocks_left_behind(store: &Store) {
    assert_eq!(count(store, Space::IdDrop), 0, "nothing left to drop");
    let listed: Vec<Vec<u8>> = store
        .kv()
        .scan_prefix(Space::IdRun.prefix())
        .map(|item| item.unwrap().0[2..10].to_vec())
        .collect();
    for item in store.kv().scan_prefix(Space::IdBlock.prefix()) {
        let (k, _) = item.unwrap();
        assert!(listed.contains(&k[2..10].to_vec()), "a block of no run");
    }
}

#[test]
fn ids_move_from_the_tail_into_runs_and_are_found_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = with_params(dir.path(), SMALL);
    let mut entries = ingest(&store, 400);
    // The upkeep ran as the entries were written; then five posts of one's
    // own stay in the tail (fewer than a run).
    settle(&store);
    let bodies: Vec<Body> = (0..5).map(|i| note(&format!("own {i}"))).collect();
    entries.extend(store.append_many(&keypair(9), &bodies, NOW).unwrap());
    settle(&store);
    assert_eq!(store.ids.tail_len(), 5, "the tail holds what no run does");
    assert_eq!(count(&store, Space::Id), 0, "no id is a key of its own");
    assert!(count(&store, Space::IdRun) >= 10, "a run per full tail");
    no_blocks_left_behind(&store);
    all_found(&store, &entries);
    assert!(
        store.get(&EntryId([7; 32])).unwrap().is_none(),
        "an unknown id is not found"
    );
    assert!(matches!(
        store.resolve_id("07070707"),
        Err(Error::NotFound(_))
    ));

    // A restart (nothing flushed by hand): the tail is read again from the
    // entries above each author's mark.
    drop(store);
    let store = with_params(dir.path(), SMALL);
    assert_eq!(store.ids.tail_len(), 5);
    all_found(&store, &entries);
    // More writes go on from there.
    let more = foreign_log(&keypair(4), 100);
    let scope = Scope::of([keypair(4).author()]);
    let verified = more.iter().map(|e| store.verified(e.clone())).collect();
    assert!(
        store
            .ingest_verified(verified, &scope, Indexing::All)
            .error
            .is_none()
    );
    settle(&store);
    no_blocks_left_behind(&store);
    all_found(&store, &entries);
    all_found(&store, &more);
}

#[test]
fn a_store_with_every_id_a_key_of_its_own_is_converted_in_bounded_steps() {
    let dir = tempfile::tempdir().unwrap();
    let entries = old_layout(dir.path(), 200);
    let store = with_params(dir.path(), SMALL);
    assert_eq!(store.ids.tail_len(), 0, "the old keys hold every id");
    all_found(&store, &entries);
    let steps = settle(&store);
    assert!(steps > 600 / SMALL.flush_at, "{steps} steps, each bounded");
    assert_eq!(count(&store, Space::Id), 0);
    no_blocks_left_behind(&store);
    all_found(&store, &entries);
    // Written after the conversion began, and found after a restart.
    let own = store
        .append_many(&keypair(9), &[note("after")], NOW)
        .unwrap();
    drop(store);
    let store = with_params(dir.path(), SMALL);
    all_found(&store, &entries);
    all_found(&store, &own);
}

#[test]
fn a_run_a_crash_left_half_written_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let entries = {
        let store = with_params(dir.path(), SMALL);
        let entries = ingest(&store, 100);
        settle(&store);
        // What a crash while writing run 999 leaves: its mark in `IdDrop`
        // and some of its blocks, not listed.
        store
            .kv()
            .insert(Space::IdDrop.key(&[&999u64.to_be_bytes()]), [])
            .unwrap();
        for n in 0u8..10 {
            store
                .kv()
                .insert(
                    Space::IdBlock.key(&[&999u64.to_be_bytes(), &[n; 32]]),
                    [n; 72],
                )
                .unwrap();
        }
        entries
    };
    let store = with_params(dir.path(), SMALL);
    all_found(&store, &entries);
    settle(&store);
    no_blocks_left_behind(&store);
    assert_eq!(
        store
            .kv()
            .scan_prefix(Space::IdBlock.key(&[&999u64.to_be_bytes()]))
            .count(),
        0
    );
    all_found(&store, &entries);
}

#[test]
fn ids_of_a_cut_log_are_not_found_and_those_in_their_places_are() {
    let dir = tempfile::tempdir().unwrap();
    let kp = keypair(1);
    let alice = kp.author();
    let (entries, again) = {
        let store = with_params(dir.path(), SMALL);
        let entries = ingest(&store, 100);
        settle(&store);
        assert_eq!(store.truncate_log(&alice, 40).unwrap(), 60);
        // Alice's log goes on from 40 with other entries, in the places the
        // cut ones had (their records in the runs point at these).
        let again = store
            .append_many(&kp, &[note("again 41"), note("again 42")], NOW)
            .unwrap();
        assert_eq!(again[0].seq(), 41);
        all_found(&store, &again);
        (entries, again)
    };
    // After a restart too: the mark was lowered to the cut, so the new
    // entries are read into the tail again.
    let store = with_params(dir.path(), SMALL);
    all_found(&store, &again);
    for entry in &entries {
        let id = entry.id();
        let cut = entry.author() == alice && entry.seq() > 40;
        assert_eq!(
            store.get(&id).unwrap().is_some(),
            !cut,
            "seq {}",
            entry.seq()
        );
        match store.resolve_id(&id.to_hex()[..12]) {
            Ok(found) => assert!(!cut && found == id),
            Err(Error::NotFound(_)) => assert!(cut),
            Err(e) => panic!("{e}"),
        }
    }
}

/// A feed page reads its posts at their place (the feed record holds it),
/// and a record written before places were kept (the author alone) by id.
#[test]
fn the_feed_reads_posts_at_their_place_and_older_records_by_id() {
    let dir = tempfile::tempdir().unwrap();
    let store = with_params(dir.path(), SMALL);
    let alice = keypair(1);
    let bob = keypair(2);
    let a = store
        .append_many(&alice, &[note("a1"), note("a2")], NOW)
        .unwrap();
    let b = store.append_many(&bob, &[note("b1")], NOW + 1).unwrap();
    let page = |author: Option<AuthorId>| -> Vec<EntryId> {
        store
            .feed(&FeedQuery {
                limit: 10,
                before: None,
                author,
                kind: None,
                tag: None,
            })
            .unwrap()
            .iter()
            .map(Entry::id)
            .collect()
    };
    let records: Vec<(Vec<u8>, Vec<u8>)> = store
        .kv()
        .scan_prefix(Space::Feed.prefix())
        .map(|item| {
            let (k, v) = item.unwrap();
            (k.to_vec(), v.to_vec())
        })
        .collect();
    assert!(records.iter().all(|(_, v)| v.len() == 40), "author and seq");
    let all = page(None);
    assert_eq!(all.len(), 3);
    assert_eq!(page(Some(alice.author())).len(), 2);
    // The same records as an older version wrote them: the author alone.
    for (k, v) in &records {
        store.kv().insert(k, &v[..32]).unwrap();
    }
    assert_eq!(page(None), all);
    let of_alice = page(Some(alice.author()));
    assert_eq!(of_alice.len(), 2);
    assert!(of_alice.iter().all(|id| a.iter().any(|e| e.id() == *id)));
    assert_eq!(page(Some(bob.author())), vec![b[0].id()]);
}
