use kith_protocol::{Deletion, Post, PostKind, TrustStatement};

use super::*;

const NOW: u64 = 1_700_000_000_000;

fn keypair(seed: u8) -> Keypair {
    Keypair::from_secret(&[seed; 32])
}

fn note(text: &str) -> Body {
    Body::Post(Post {
        kind: PostKind::Note,
        text: text.into(),
        reply_to: None,
        tags: vec!["t".into()],
        files: Vec::new(),
        mentions: Vec::new(),
    })
}

/// A log of `n` signed entries by `kp`, made in a scratch store.
fn foreign_log(kp: &Keypair, n: usize) -> Vec<Entry> {
    let scratch = Store::temporary().unwrap();
    let bodies: Vec<Body> = (0..n).map(|i| note(&format!("post {i}"))).collect();
    scratch.append_many(kp, &bodies, NOW).unwrap()
}

fn view_dump(store: &Store) -> Vec<(Vec<u8>, Vec<u8>)> {
    store
        .kv()
        .scan_prefix(super::keyspace::VIEWS)
        .map(|r| {
            let (k, v) = r.unwrap();
            (k.to_vec(), v.to_vec())
        })
        .collect()
}

#[test]
fn append_builds_a_chain_and_persists_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let kp = keypair(1);
    let ids: Vec<EntryId> = {
        let store = Store::open(dir.path(), &KvConfig::default(), Limits::default()).unwrap();
        (0..3)
            .map(|i| {
                store
                    .append(&kp, &note(&format!("n{i}")), NOW + i)
                    .unwrap()
                    .id()
            })
            .collect()
    };
    let store = Store::open(dir.path(), &KvConfig::default(), Limits::default()).unwrap();
    let log = store.log(&kp.author(), 1, 10).unwrap();
    assert_eq!(log.len(), 3);
    assert_eq!(log.iter().map(Entry::id).collect::<Vec<_>>(), ids);
    assert_eq!(log[1].header().prev, Some(ids[0]));
    assert_eq!(store.head(&kp.author()).unwrap().unwrap().seq, 3);
    // The next append continues the chain rather than restarting it.
    let next = store.append(&kp, &note("n3"), NOW).unwrap();
    assert_eq!(next.seq(), 4);
    assert_eq!(next.header().prev, Some(ids[2]));
    assert!(store.verify().unwrap().problems.is_empty());
}

#[test]
fn second_open_of_a_locked_store_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Store::open(dir.path(), &KvConfig::default(), Limits::default()).unwrap();
    let err = Store::open(dir.path(), &KvConfig::default(), Limits::default())
        .err()
        .unwrap();
    assert!(matches!(err, Error::Kv(KvError::Locked(_))), "{err}");
    assert!(err.to_string().contains("locked"));
}

#[test]
fn timestamps_of_own_entries_never_go_backwards() {
    let store = Store::temporary().unwrap();
    let kp = keypair(1);
    store.append(&kp, &note("a"), NOW).unwrap();
    let b = store.append(&kp, &note("b"), NOW - 5_000).unwrap();
    assert_eq!(b.header().timestamp_ms, NOW);
}

#[test]
fn ingest_is_idempotent_on_replay() {
    let alice = keypair(1);
    let log = foreign_log(&alice, 5);
    let store = Store::temporary().unwrap();
    let scope = Scope::of([alice.author()]);
    for e in &log {
        assert_eq!(store.ingest(e, NOW, &scope).unwrap(), Ingested::Appended);
    }
    for e in &log {
        assert_eq!(store.ingest(e, NOW, &scope).unwrap(), Ingested::Duplicate);
    }
    let outcome = store.ingest_batch(&log, NOW, &scope);
    assert!(outcome.error.is_none());
    assert_eq!(outcome.duplicates, 5);
    assert_eq!(store.log(&alice.author(), 1, 100).unwrap().len(), 5);
    assert_eq!(
        store
            .feed(&FeedQuery {
                limit: 100,
                ..Default::default()
            })
            .unwrap()
            .len(),
        5
    );
}

#[test]
fn gap_is_reported_not_dropped_silently() {
    let alice = keypair(1);
    let log = foreign_log(&alice, 4);
    let store = Store::temporary().unwrap();
    let scope = Scope::of([alice.author()]);
    store.ingest(&log[0], NOW, &scope).unwrap();
    let err = store.ingest(&log[2], NOW, &scope).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Invalid(ValidationError::SeqGap {
                have: 1,
                got: 3,
                ..
            })
        ),
        "{err}"
    );
    // A batch stops at the gap but keeps what came before it.
    let outcome = store.ingest_batch(&[log[1].clone(), log[3].clone()], NOW, &scope);
    assert_eq!(outcome.appended.len(), 1);
    assert!(matches!(
        outcome.error,
        Some(Error::Invalid(ValidationError::SeqGap {
            have: 2,
            got: 4,
            ..
        }))
    ));
}

#[test]
fn fork_is_stored_as_proof_and_flags_the_author() {
    let alice = keypair(1);
    let log = foreign_log(&alice, 2);
    let fork = Entry::sign(
        &alice,
        Draft {
            seq: 2,
            prev: Some(log[0].id()),
            timestamp_ms: NOW + 1,
            body: note("something else").encode(),
        },
    );
    let store = Store::temporary().unwrap();
    let scope = Scope::of([alice.author()]);
    store.ingest_batch(&log, NOW, &scope);
    let err = store.ingest(&fork, NOW, &scope).unwrap_err();
    let Error::Invalid(ValidationError::Fork(proof)) = err else {
        panic!("expected a fork, got {err}");
    };
    proof.verify().unwrap();
    assert!(store.is_flagged(&alice.author()).unwrap());
    let forks = store.forks().unwrap();
    assert_eq!(forks.len(), 1);
    assert_eq!(forks[0].second.id(), fork.id());
    // Flagged: further entries are held back.
    let third = Entry::sign(
        &alice,
        Draft {
            seq: 3,
            prev: Some(log[1].id()),
            timestamp_ms: NOW,
            body: note("3").encode(),
        },
    );
    assert!(matches!(
        store.ingest(&third, NOW, &scope),
        Err(Error::AuthorForked(_))
    ));
    store.clear_fork(&alice.author()).unwrap();
    assert_eq!(
        store.ingest(&third, NOW, &scope).unwrap(),
        Ingested::Appended
    );
}

#[test]
fn entries_outside_the_scope_are_refused() {
    let alice = keypair(1);
    let log = foreign_log(&alice, 1);
    let store = Store::temporary().unwrap();
    let err = store
        .ingest(&log[0], NOW, &Scope::of([keypair(2).author()]))
        .unwrap_err();
    assert!(matches!(err, Error::NotReplicated(a) if a == alice.author()));
    assert!(store.get(&log[0].id()).unwrap().is_none());
}

#[test]
fn forged_entries_are_refused() {
    let alice = keypair(1);
    let log = foreign_log(&alice, 1);
    let mut sig = *log[0].signature();
    sig[0] ^= 0x20;
    let forged = Entry::from_parts(
        log[0].header_bytes().to_vec(),
        sig,
        log[0].body().map(<[u8]>::to_vec),
        &Limits::default(),
    )
    .unwrap();
    let store = Store::temporary().unwrap();
    let err = store
        .ingest(&forged, NOW, &Scope::of([alice.author()]))
        .unwrap_err();
    assert!(matches!(err, Error::Invalid(ValidationError::BadSignature)));
}

#[test]
fn reindex_rebuilds_identical_views() {
    let store = Store::temporary().unwrap();
    let alice = keypair(1);
    let bob = keypair(2);
    let entries = store
        .append_many(&alice, &[note("a"), note("b"), note("c")], NOW)
        .unwrap();
    store
        .append(
            &alice,
            &Body::Deletion(Deletion {
                target: entries[1].id(),
            }),
            NOW,
        )
        .unwrap();
    store
        .append(
            &alice,
            &Body::Trust(TrustStatement {
                subject: bob.author(),
                vouch: true,
            }),
            NOW,
        )
        .unwrap();
    let before = view_dump_but_arrivals(&store);
    let arrivals = arrival_ids(&store, 0, usize::MAX);
    assert!(!before.is_empty());
    let report = store.reindex().unwrap();
    assert_eq!(report.entries, 5);
    assert_eq!(view_dump_but_arrivals(&store), before);
    // Arrival records group entries by write batch, so their keys differ;
    // the numbering they give does not.
    assert_eq!(arrival_ids(&store, 0, usize::MAX), arrivals);
    assert_eq!(store.last_arrival(), 5);
}

/// The views but the arrival records.
fn view_dump_but_arrivals(store: &Store) -> Vec<(Vec<u8>, Vec<u8>)> {
    let arrivals = super::keyspace::Space::Arrival.prefix();
    let mut dump = view_dump(store);
    dump.retain(|(k, _)| !k.starts_with(arrivals));
    dump
}

/// Arrival numbers and entry ids after `after`, at most `limit`.
fn arrival_ids(store: &Store, after: u64, limit: usize) -> Vec<(u64, EntryId)> {
    store
        .arrivals_after(after, limit)
        .unwrap()
        .into_iter()
        .map(|(n, e)| (n, e.id()))
        .collect()
}

#[test]
fn deletion_drops_the_body_and_keeps_the_log_verifiable() {
    let store = Store::temporary().unwrap();
    let alice = keypair(1);
    let entries = store
        .append_many(&alice, &[note("keep"), note("secret")], NOW)
        .unwrap();
    store
        .append(
            &alice,
            &Body::Deletion(Deletion {
                target: entries[1].id(),
            }),
            NOW,
        )
        .unwrap();
    let stored = store.get(&entries[1].id()).unwrap().unwrap();
    assert!(stored.body().is_none());
    let feed = store
        .feed(&FeedQuery {
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        feed.iter().map(Entry::id).collect::<Vec<_>>(),
        vec![entries[0].id()]
    );
    let report = store.verify().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.bodies_dropped, 1);
}

#[test]
fn deletion_by_someone_else_is_ignored() {
    let store = Store::temporary().unwrap();
    let alice = keypair(1);
    let bob = keypair(2);
    let post = store.append(&alice, &note("mine"), NOW).unwrap();
    let scratch = Store::temporary().unwrap();
    let del = scratch
        .append(&bob, &Body::Deletion(Deletion { target: post.id() }), NOW)
        .unwrap();
    store
        .ingest(&del, NOW, &Scope::of([alice.author(), bob.author()]))
        .unwrap();
    assert!(store.get(&post.id()).unwrap().unwrap().body().is_some());
}

#[test]
fn deletion_in_the_same_batch_as_its_target_applies() {
    let alice = keypair(1);
    let scratch = Store::temporary().unwrap();
    let post = scratch.append(&alice, &note("oops"), NOW).unwrap();
    let del = scratch
        .append(&alice, &Body::Deletion(Deletion { target: post.id() }), NOW)
        .unwrap();
    let store = Store::temporary().unwrap();
    let outcome = store.ingest_batch(&[post.clone(), del], NOW, &Scope::of([alice.author()]));
    assert!(outcome.error.is_none());
    assert!(store.get(&post.id()).unwrap().unwrap().body().is_none());
    assert!(
        store
            .feed(&FeedQuery {
                limit: 10,
                ..Default::default()
            })
            .unwrap()
            .is_empty()
    );
}

#[test]
fn verify_catches_a_corrupted_entry() {
    let store = Store::temporary().unwrap();
    let alice = keypair(1);
    let entries = store
        .append_many(&alice, &[note("a"), note("b")], NOW)
        .unwrap();
    assert!(store.verify().unwrap().problems.is_empty());
    let mut bytes = entries[1].encode();
    let n = bytes.len();
    bytes[n - 2] ^= 0xff; // inside the body
    store.corrupt_for_test(&alice.author(), 2, &bytes).unwrap();
    let report = store.verify().unwrap();
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert!(report.problems[0].contains("body"), "{:?}", report.problems);
    // A record that no longer decodes at all is reported too.
    store
        .corrupt_for_test(&alice.author(), 1, b"garbage")
        .unwrap();
    let report = store.verify().unwrap();
    assert!(report.problems.iter().any(|p| p.contains("cannot decode")));
}

#[test]
fn frontier_and_log_batches() {
    let alice = keypair(1);
    let bob = keypair(2);
    let store = Store::temporary().unwrap();
    let a = store
        .append_many(&alice, &[note("1"), note("2"), note("3")], NOW)
        .unwrap();
    let b = store.append(&bob, &note("x"), NOW).unwrap();
    let frontier = store.frontier().unwrap();
    assert_eq!(frontier.len(), 2);
    assert_eq!(
        frontier[&alice.author()],
        Head {
            seq: 3,
            id: a[2].id()
        }
    );
    assert_eq!(frontier[&bob.author()], Head { seq: 1, id: b.id() });
    let two = a[0].encoded_len() + a[1].encoded_len();
    let batch = store.log_batch(&alice.author(), 0, two, 100).unwrap();
    assert_eq!(batch.len(), 2);
    let batch = store.log_batch(&alice.author(), 2, 1, 100).unwrap();
    assert_eq!(batch.len(), 1, "at least one entry even above the byte cap");
    assert!(
        store
            .log_batch(&alice.author(), 3, 1 << 20, 100)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn feed_is_newest_first_with_pagination_and_filters() {
    let store = Store::temporary().unwrap();
    let alice = keypair(1);
    let bob = keypair(2);
    for i in 0..5 {
        store
            .append(&alice, &note(&format!("a{i}")), NOW + i * 10)
            .unwrap();
        store
            .append(&bob, &note(&format!("b{i}")), NOW + i * 10 + 5)
            .unwrap();
    }
    let page1 = store
        .feed(&FeedQuery {
            limit: 4,
            ..Default::default()
        })
        .unwrap();
    let ts: Vec<u64> = page1.iter().map(|e| e.header().timestamp_ms).collect();
    assert_eq!(ts, vec![NOW + 45, NOW + 40, NOW + 35, NOW + 30]);
    let last = page1.last().unwrap();
    let page2 = store
        .feed(&FeedQuery {
            limit: 4,
            before: Some((last.header().timestamp_ms, last.id())),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(page2[0].header().timestamp_ms, NOW + 25);
    let only_bob = store
        .feed(&FeedQuery {
            limit: 100,
            author: Some(bob.author()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(only_bob.len(), 5);
    assert!(only_bob.iter().all(|e| e.author() == bob.author()));
}

#[test]
fn trust_list_with_petnames_and_scope() {
    let store = Store::temporary().unwrap();
    let me = keypair(1);
    let bob = keypair(2);
    let carol = keypair(3);
    store
        .trust_add(bob.author(), Some("Bob".into()), NOW)
        .unwrap();
    let list = store.trust_list().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].petname.as_deref(), Some("Bob"));
    // Bob vouches for Carol publicly.
    let scratch = Store::temporary().unwrap();
    let vouch = scratch
        .append(
            &bob,
            &Body::Trust(TrustStatement {
                subject: carol.author(),
                vouch: true,
            }),
            NOW,
        )
        .unwrap();
    let scope1 = store.scope(me.author(), 1).unwrap();
    store.ingest(&vouch, NOW, &scope1).unwrap();
    assert!(scope1.contains(&bob.author()) && scope1.contains(&me.author()));
    assert!(!scope1.contains(&carol.author()));
    let scope2 = store.scope(me.author(), 2).unwrap();
    assert!(scope2.contains(&carol.author()));
    assert!(!scope2.is_direct(&carol.author()));
    // Renaming keeps the original date; removing takes the author out.
    let since = list[0].since_ms;
    assert_eq!(
        store
            .trust_add(bob.author(), None, NOW + 99)
            .unwrap()
            .since_ms,
        since
    );
    assert!(store.trust_remove(&bob.author()).unwrap());
    assert!(!store.trust_remove(&bob.author()).unwrap());
    assert!(
        !store
            .scope(me.author(), 2)
            .unwrap()
            .contains(&carol.author())
    );
}

#[test]
fn resolve_id_prefixes() {
    let store = Store::temporary().unwrap();
    let e = store.append(&keypair(1), &note("x"), NOW).unwrap();
    let hex = e.id().to_hex();
    assert_eq!(store.resolve_id(&hex[..8]).unwrap(), e.id());
    assert_eq!(store.resolve_id(&hex[..7]).unwrap(), e.id());
    assert!(matches!(store.resolve_id("abc"), Err(Error::TooShort(_))));
    assert!(matches!(
        store.resolve_id("zzzzzz"),
        Err(Error::NotFound(_))
    ));
    // Two entries sharing a 4-character prefix: both are listed.
    let kp = keypair(1);
    let mut entries = vec![e];
    let (a, b) = loop {
        let next = store
            .append(&kp, &note(&format!("n{}", entries.len())), NOW)
            .unwrap();
        let p = next.id().to_hex()[..4].to_string();
        if let Some(other) = entries.iter().find(|o| o.id().to_hex().starts_with(&p)) {
            break (other.id(), next.id());
        }
        entries.push(next);
    };
    let prefix = &a.to_hex()[..4];
    let err = store.resolve_id(prefix).unwrap_err().to_string();
    assert!(
        err.contains(&a.to_hex()[..12])
            && err.contains(&b.to_hex()[..12])
            && err.contains("give more characters"),
        "{err}"
    );
}

mod arrivals;
mod ids;
