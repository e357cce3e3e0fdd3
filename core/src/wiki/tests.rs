use crate::store::keyspace::Space;
use automerge::transaction::Transactable;
use kith_protocol::{Draft, Keypair};
use proptest::prelude::*;

use super::doc::{actor_of, new_doc};
use super::*;
use crate::config::{Config, DataDir};
use crate::core::Core;
use crate::ops;
use crate::store::Store;
use automerge::ROOT;
use automerge::{AutoCommit, ObjType, ReadDoc, Value};
use kith_protocol::change_group;
use kith_protocol::{AuthorId, Body, Entry, EntryId, PageId, Verified, WikiChange};

fn verified(entries: &[Entry]) -> Vec<Verified> {
    entries.iter().cloned().map(Verified::from_store).collect()
}

use crate::testing::{copy_log as sync, core as replica, everyone as all_to_all};

/// Replicas that all trust each other.
fn circle(n: u8) -> Vec<Core> {
    let mut cores: Vec<Core> = (1..=n).map(replica).collect();
    crate::testing::trust_all(&mut cores);
    cores
}

#[test]
fn create_edit_show_history_rename_archive_restore() {
    let mut alice = replica(1);
    let page = alice
        .run(ops::WikiNew {
            circle: None,
            title: "Release checklist".into(),
            body: "1. Tag\n2. Build\n".into(),
        })
        .unwrap();
    assert_eq!(page.title, "Release checklist");
    assert_eq!(page.authors, vec![alice.me()]);
    let edited = alice
        .run(ops::WikiEdit {
            page: "release CHECKLIST".into(),
            base: None,
            body: "1. Tag\n2. Build\n3. Announce\n".into(),
        })
        .unwrap();
    assert_eq!(edited.body, "1. Tag\n2. Build\n3. Announce\n");
    let history = alice
        .run(ops::WikiHistory {
            page: page.id.to_string(),
        })
        .unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].chars_before, 16);
    assert_eq!(history[0].chars_after, 28);
    assert_eq!(history[1].chars_before, 0);
    assert!(history.iter().all(|h| h.author == alice.me() && h.ops > 0));

    // Links and backlinks.
    alice
        .run(ops::WikiNew {
            circle: None,
            title: "Onboarding".into(),
            body: "Read the [[Release Checklist]] and [[Missing|a page]].".into(),
        })
        .unwrap();
    let shown = alice
        .run(ops::WikiShow {
            page: "Release checklist".into(),
        })
        .unwrap();
    assert_eq!(shown.backlinks.len(), 1);
    assert_eq!(shown.backlinks[0].title, "Onboarding");

    // Titles are unique among live pages.
    assert!(matches!(
        alice.run(ops::WikiNew {
            circle: None,
            title: "onboarding".into(),
            body: String::new()
        }),
        Err(crate::Error::Wiki(Error::TitleTaken(..)))
    ));

    alice
        .run(ops::WikiRename {
            page: "Release checklist".into(),
            update_links: false,
            title: "Releasing".into(),
        })
        .unwrap();
    // The old title is an alias now.
    assert_eq!(
        alice
            .run(ops::WikiShow {
                page: "Release checklist".into()
            })
            .unwrap()
            .title,
        "Releasing"
    );
    assert_eq!(
        alice
            .run(ops::WikiShow {
                page: "releasing".into()
            })
            .unwrap()
            .id,
        page.id
    );

    let archived = alice
        .run(ops::WikiArchive {
            page: "Releasing".into(),
        })
        .unwrap();
    assert!(archived.archived);
    assert!(
        alice
            .run(ops::WikiList { archived: false })
            .unwrap()
            .iter()
            .all(|p| p.id != page.id)
    );
    assert!(matches!(
        alice.run(ops::WikiEdit {
            page: "Releasing".into(),
            base: None,
            body: "x".into()
        }),
        Err(crate::Error::Wiki(Error::Archived(_)))
    ));
    let restored = alice
        .run(ops::WikiRestore {
            page: "Releasing".into(),
            at: None,
        })
        .unwrap();
    assert!(!restored.archived);
    assert_eq!(restored.body, "1. Tag\n2. Build\n3. Announce\n");
}

#[test]
fn concurrent_edits_of_different_paragraphs_and_one_sentence_keep_every_word() {
    let mut cores = circle(3);
    let base = "Intro paragraph.\n\nThe quick fox jumps.\n\nClosing paragraph.\n";
    let page = cores[0]
        .run(ops::WikiNew {
            circle: None,
            title: "Shared".into(),
            body: base.into(),
        })
        .unwrap();
    all_to_all(&mut cores);
    // Offline, each edits.
    let id = page.id.to_string();
    cores[0]
        .run(ops::WikiEdit {
            page: id.clone(),
            base: None,
            body: base.replace("Intro", "Opening"),
        })
        .unwrap();
    cores[1]
        .run(ops::WikiEdit {
            page: id.clone(),
            base: None,
            body: base.replace("quick", "very quick"),
        })
        .unwrap();
    cores[2]
        .run(ops::WikiEdit {
            page: id.clone(),
            base: None,
            body: base.replace("jumps", "jumps high"),
        })
        .unwrap();
    all_to_all(&mut cores);
    let texts: Vec<String> = cores
        .iter_mut()
        .map(|c| c.run(ops::WikiShow { page: id.clone() }).unwrap().body)
        .collect();
    assert_eq!(texts[0], texts[1]);
    assert_eq!(texts[1], texts[2]);
    assert_eq!(
        texts[0],
        "Opening paragraph.\n\nThe very quick fox jumps high.\n\nClosing paragraph.\n"
    );
    let view = cores[2].run(ops::WikiShow { page: id.clone() }).unwrap();
    assert_eq!(view.authors.len(), 3);
}

/// An entry by `author` carrying `changes` (not chained: for `Wiki::apply`).
fn entry_with(author: &Keypair, seq: u64, page: PageId, changes: &[Vec<u8>]) -> Vec<Entry> {
    change_group::pack(page, changes, 64 * 1024)
        .into_iter()
        .map(|(b, _)| b)
        .enumerate()
        .map(|(i, body)| {
            Entry::sign(
                author,
                Draft {
                    seq: seq + i as u64,
                    prev: (seq + i as u64 > 1).then_some(EntryId([0; 32])),
                    timestamp_ms: 1_700_000_000_000 + seq,
                    body: body.encode(),
                },
            )
        })
        .collect()
}

/// The changes of a page titled "Forged" made under `actor`'s id.
fn changes_as(actor: &AuthorId) -> Vec<Vec<u8>> {
    let mut doc = new_doc().with_actor(actor_of(actor));
    doc.put(ROOT, "title", "Forged").unwrap();
    doc.commit();
    doc.get_changes(&[])
        .iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect()
}

#[test]
fn a_change_whose_actor_is_not_the_author_is_rejected() {
    let store = Store::temporary().unwrap();
    let mut wiki = Wiki::default();
    let mallory = Keypair::from_secret(&[6; 32]);
    let alice = Keypair::from_secret(&[1; 32]);
    let page = PageId([1; 16]);
    // Mallory makes a change with Alice's actor id and signs the entry herself.
    let entries = entry_with(&mallory, 1, page, &changes_as(&alice.author()));
    let report = wiki.apply(&store, &verified(&entries)).unwrap();
    assert_eq!(report.applied, 0);
    assert_eq!(report.rejected.len(), 1);
    assert!(
        report.rejected[0].1.contains("not the entry's author"),
        "{:?}",
        report.rejected
    );
    assert_eq!(meta(&store, &page).unwrap().unwrap().rejected, 1);
    assert!(wiki.text(&store, &page).is_err(), "no document was made");
}

#[test]
fn garbage_and_mismatched_groups_are_rejected_without_panicking() {
    let store = Store::temporary().unwrap();
    let mut wiki = Wiki::default();
    let alice = Keypair::from_secret(&[1; 32]);
    let page = PageId([2; 16]);
    let bodies = [
        // Not an Automerge change.
        WikiChange {
            page,
            group_hash: *blake3::hash(&change_group::frame(&[vec![
                0x85, 0x6f, 0x4a, 0x83, 1, 2, 3,
            ]]))
            .as_bytes(),
            part: 0,
            parts: 1,
            data: change_group::frame(&[vec![0x85, 0x6f, 0x4a, 0x83, 1, 2, 3]]),
        },
        // Hash does not match the data.
        WikiChange {
            page,
            group_hash: [9; 32],
            part: 0,
            parts: 1,
            data: change_group::frame(&[vec![1, 2, 3]]),
        },
        // Truncated framing.
        WikiChange {
            page,
            group_hash: *blake3::hash(&[0x7f, 1]).as_bytes(),
            part: 0,
            parts: 1,
            data: vec![0x7f, 1],
        },
    ];
    for (i, body) in bodies.into_iter().enumerate() {
        let entry = Entry::sign(
            &alice,
            Draft {
                seq: i as u64 + 1,
                prev: (i > 0).then_some(EntryId([0; 32])),
                timestamp_ms: 1,
                body: Body::WikiChange(body).encode(),
            },
        );
        let report = wiki.apply(&store, &verified(&[entry])).unwrap();
        assert_eq!(report.rejected.len(), 1, "body {i} was not rejected");
    }
}

#[test]
fn a_change_with_missing_dependencies_waits_and_applies_when_they_arrive() {
    let mut alice = replica(1);
    let mut bob = replica(2);
    let page = alice
        .run(ops::WikiNew {
            circle: None,
            title: "Deps".into(),
            body: "hello".into(),
        })
        .unwrap();
    // Bob gets the page, edits it.
    let create = alice.store().log(&alice.me(), 1, 10).unwrap();
    let bob_store = bob.store().clone();
    bob.wiki_mut()
        .apply(&bob_store, &verified(&create))
        .unwrap();
    let bob_me = bob.me();
    let changes = bob
        .wiki_mut()
        .edit(&bob_store, &bob_me, &page.id, "hello world")
        .unwrap();
    let edit = entry_with(bob.keypair(), 1, page.id, &changes.bytes());

    // Carol receives Bob's edit before Alice's creation.
    let store = Store::temporary().unwrap();
    let mut carol = Wiki::default();
    let report = carol.apply(&store, &verified(&edit)).unwrap();
    assert_eq!(report.applied, 0);
    assert_eq!(report.waiting, 1);
    assert_eq!(report.missing.len(), 1, "the creation change is missing");
    assert_eq!(meta(&store, &page.id).unwrap().unwrap().waiting, 1);
    let report = carol.apply(&store, &verified(&create)).unwrap();
    assert_eq!(report.applied, 2);
    assert_eq!(report.waiting, 0);
    assert!(report.missing.is_empty());
    assert_eq!(carol.text(&store, &page.id).unwrap(), "hello world");
    let meta = meta(&store, &page.id).unwrap().unwrap();
    assert_eq!(meta.waiting, 0);
    assert_eq!(meta.title, "Deps");
    // The change index can serve both entries to others.
    assert_eq!(history(&store, &page.id).unwrap().len(), 2);
}

#[test]
fn a_change_larger_than_an_entry_is_split_and_applied_once_complete() {
    let mut alice = replica(1);
    // Words that do not compress, so the bundle needs several entries.
    let big: String = (0..40_000u32)
        .map(|i| format!("{} ", &blake3::hash(&i.to_le_bytes()).to_hex()[..12]))
        .collect();
    assert!(big.len() > 64 * 1024 * 4);
    let page = alice
        .run(ops::WikiNew {
            circle: None,
            title: "Big".into(),
            body: big.clone(),
        })
        .unwrap();
    // Seq 1 is the encryption key.
    let entries = alice.store().log(&alice.me(), 2, 100).unwrap();
    assert!(
        entries.len() >= 2,
        "expected several parts, got {}",
        entries.len()
    );
    for e in &entries {
        let Some(Ok(Body::WikiBundle(w))) = e.body().map(Body::decode) else {
            panic!("not a compact wiki change")
        };
        assert_eq!(w.parts as usize, entries.len());
    }
    // Parts in reverse order: nothing applies until the last one arrives.
    let store = Store::temporary().unwrap();
    let mut bob = Wiki::default();
    for (i, e) in entries.iter().rev().enumerate() {
        let report = bob
            .apply(&store, &verified(std::slice::from_ref(e)))
            .unwrap();
        if i + 1 < entries.len() {
            assert_eq!(report.applied, 0);
        } else {
            assert_eq!(report.applied, 1, "{:?}", report.rejected);
        }
    }
    assert_eq!(bob.text(&store, &page.id).unwrap(), big);
}

#[test]
fn the_automerge_export_loads_back_with_the_automerge_crate() {
    let mut alice = replica(1);
    alice
        .run(ops::WikiNew {
            circle: None,
            title: "Export me".into(),
            body: "Some *markdown*\n".into(),
        })
        .unwrap();
    alice
        .run(ops::WikiEdit {
            page: "Export me".into(),
            base: None,
            body: "Some *markdown*, edited\n".into(),
        })
        .unwrap();
    let bytes = alice
        .run(ops::WikiAutomerge {
            page: "Export me".into(),
        })
        .map(|b| b.0)
        .unwrap();
    let doc = AutoCommit::load(&bytes).unwrap();
    let Ok(Some((Value::Object(ObjType::Text), body))) = doc.get(ROOT, "body") else {
        panic!("no body text")
    };
    assert_eq!(doc.text(&body).unwrap(), "Some *markdown*, edited\n");
    let Ok(Some((title, _))) = doc.get(ROOT, "title") else {
        panic!("no title")
    };
    assert_eq!(title.as_str(), Some("Export me"));
}

#[test]
fn reindex_rebuilds_pages() {
    let mut alice = replica(1);
    let page = alice
        .run(ops::WikiNew {
            circle: None,
            title: "Rebuild".into(),
            body: "one".into(),
        })
        .unwrap();
    alice
        .run(ops::WikiEdit {
            page: "Rebuild".into(),
            base: None,
            body: "one two [[Other]]".into(),
        })
        .unwrap();
    let before = alice
        .run(ops::WikiShow {
            page: "Rebuild".into(),
        })
        .unwrap();
    let history = alice
        .run(ops::WikiHistory {
            page: "Rebuild".into(),
        })
        .unwrap();
    alice.reindex().unwrap();
    assert_eq!(
        alice
            .run(ops::WikiShow {
                page: page.id.to_string()
            })
            .unwrap(),
        before
    );
    let rebuilt = alice
        .run(ops::WikiHistory {
            page: "Rebuild".into(),
        })
        .unwrap();
    assert_eq!(rebuilt.len(), history.len());
    assert_eq!(
        rebuilt.iter().map(|h| (h.entry, h.ops)).collect::<Vec<_>>(),
        history.iter().map(|h| (h.entry, h.ops)).collect::<Vec<_>>()
    );
    assert_eq!(backlinks(alice.store(), "other").unwrap(), vec![page.id]);
}

#[test]
fn links_are_parsed() {
    let links = links_in("see [[A Page]] and [[b|label]], not [[\n]] or [[ ]] [[unclosed");
    assert_eq!(
        links.into_iter().collect::<Vec<_>>(),
        vec!["a page".to_string(), "b".to_string()]
    );
}

#[test]
fn many_small_changes_share_entries() {
    let mut alice = replica(1);
    let page = alice
        .run(ops::WikiNew {
            circle: None,
            title: "Typing".into(),
            body: String::new(),
        })
        .unwrap();
    let splices: Vec<(usize, usize, String)> = (0..500).map(|i| (i, 0, "x".to_string())).collect();
    let entries = alice.wiki_splices(&page.id, &splices).unwrap();
    assert!(
        entries.len() < 10,
        "{} entries for 500 keystrokes",
        entries.len()
    );
    assert_eq!(
        alice
            .run(ops::WikiShow {
                page: "Typing".into()
            })
            .unwrap()
            .body,
        "x".repeat(500)
    );
    assert_eq!(
        alice
            .run(ops::WikiShow {
                page: "Typing".into()
            })
            .unwrap()
            .changes,
        501
    );
}

// ----- convergence property ------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    Insert { at: usize, text: String },
    Delete { at: usize, len: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any::<usize>(), "[a-z ]{1,6}").prop_map(|(at, text)| Op::Insert { at, text }),
        (any::<usize>(), 1usize..5).prop_map(|(at, len)| Op::Delete { at, len }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// Replicas edit concurrently (with syncs in between); all entries are
    /// then delivered to fresh observers in random orders, with duplicates.
    /// Everyone ends with the same text.
    #[test]
    fn random_edits_delivered_in_any_order_converge(
        rounds in proptest::collection::vec(proptest::collection::vec((0usize..3, op()), 1..6), 1..5),
        seed in any::<u64>(),
    ) {
        let mut cores = circle(3);
        let page = cores[0].run(ops::WikiNew { title: "P".into(), body: "start".into(), circle: None }).unwrap().id;
        all_to_all(&mut cores);
        for round in rounds {
            for (who, op) in round {
                let core = &mut cores[who];
                let text = core.run(ops::WikiShow { page: page.to_string() }).unwrap().body;
                let chars: Vec<char> = text.chars().collect();
                let new = match op {
                    Op::Insert { at, text: ins } => {
                        let at = at % (chars.len() + 1);
                        let mut c = chars.clone();
                        c.splice(at..at, ins.chars());
                        c.into_iter().collect::<String>()
                    }
                    Op::Delete { at, len } => {
                        if chars.is_empty() { continue; }
                        let at = at % chars.len();
                        let end = (at + len).min(chars.len());
                        let mut c = chars.clone();
                        c.drain(at..end);
                        c.into_iter().collect::<String>()
                    }
                };
                core.run(ops::WikiEdit { page: page.to_string(), base: None, body: new }).unwrap();
            }
            // Partial sync: only a random pair exchanges.
            let (a, b) = ((seed as usize) % 3, (seed as usize + 1) % 3);
            let (x, y) = if a < b { let (l, r) = cores.split_at_mut(b); (&mut l[a], &mut r[0]) } else { let (l, r) = cores.split_at_mut(a); (&mut r[0], &mut l[b]) };
            sync(x, y);
        }
        all_to_all(&mut cores);
        let texts: Vec<String> = cores.iter_mut().map(|c| c.run(ops::WikiShow { page: page.to_string() }).unwrap().body).collect();
        prop_assert_eq!(&texts[0], &texts[1]);
        prop_assert_eq!(&texts[1], &texts[2]);

        // Observers get every wiki entry in a shuffled order, some twice.
        let mut all: Vec<Entry> = Vec::new();
        for c in &cores {
            all.extend(c.store().log(&c.me(), 1, usize::MAX).unwrap());
        }
        let mut rng = seed;
        for observer in 0..2 {
            let mut order = all.clone();
            for i in (1..order.len()).rev() {
                rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407 + observer);
                let j = (rng >> 33) as usize % (i + 1);
                order.swap(i, j);
            }
            let dupes: Vec<Entry> = order.iter().step_by(3).cloned().collect();
            order.extend(dupes);
            let store = Store::temporary().unwrap();
            let mut wiki = Wiki::default();
            for e in &order {
                wiki.apply(&store, &verified(std::slice::from_ref(e))).unwrap();
            }
            prop_assert_eq!(wiki.text(&store, &page).unwrap(), texts[0].clone());
            prop_assert_eq!(meta(&store, &page).unwrap().unwrap().waiting, 0);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    /// Corrupted changes (with a correct group hash, so they reach Automerge)
    /// are rejected or harmless; nothing panics and the page stays readable.
    #[test]
    fn corrupted_changes_never_take_the_node_down(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let alice = Keypair::from_secret(&[1; 32]);
        let page = PageId([3; 16]);
        let mut doc = new_doc().with_actor(actor_of(&alice.author()));
        doc.put(ROOT, "title", "T").unwrap();
        let body = doc.put_object(ROOT, "body", ObjType::Text).unwrap();
        doc.splice_text(&body, 0, 0, "some text").unwrap();
        doc.commit();
        let mut raw = doc.get_changes(&[])[0].raw_bytes().to_vec();
        for (i, b) in flips {
            let i = i.index(raw.len());
            raw[i] ^= b | 1;
        }
        let entries = entry_with(&alice, 1, page, &[raw]);
        let store = Store::temporary().unwrap();
        let mut wiki = Wiki::default();
        let report = wiki.apply(&store, &verified(&entries));
        prop_assert!(report.is_ok());
        // Whatever happened, reading the page does not panic.
        let _ = wiki.text(&store, &page);
        let _ = meta(&store, &page);
    }
}

#[test]
fn an_edit_from_an_older_version_keeps_what_changed_meanwhile() {
    let mut cores = circle(2);
    let page = cores[0]
        .run(ops::WikiNew {
            circle: None,
            title: "Plan".into(),
            body: "Monday: design.\nTuesday: build.\n".into(),
        })
        .unwrap();
    let id = page.id.to_string();
    all_to_all(&mut cores);
    // Alice opens the editor (base = these heads)…
    let base = cores[0]
        .run(ops::WikiShow { page: id.clone() })
        .unwrap()
        .heads;
    // …meanwhile Bob's edit arrives…
    cores[1]
        .run(ops::WikiEdit {
            page: id.clone(),
            body: "Monday: design.\nTuesday: build.\nWednesday: ship.\n".into(),
            base: None,
        })
        .unwrap();
    all_to_all(&mut cores);
    // …and Alice saves the text she edited from the old version.
    let saved = cores[0]
        .run(ops::WikiEdit {
            page: id.clone(),
            body: "Monday: design review.\nTuesday: build.\n".into(),
            base: Some(base.clone()),
        })
        .unwrap();
    assert_eq!(
        saved.body,
        "Monday: design review.\nTuesday: build.\nWednesday: ship.\n"
    );
    // Without the base, Bob's line would have been deleted.
    assert!(
        cores[0]
            .run(ops::WikiEdit {
                page: id.clone(),
                body: "x".into(),
                base: Some(vec!["00".repeat(32)])
            })
            .is_err()
    );
}

#[test]
fn a_change_peers_would_refuse_is_never_made_and_refusals_show_in_status() {
    let mut alice = replica(1);
    let before = alice.run(ops::Whoami {}).unwrap().entries;
    // 1,000,000 characters: within the page size, but over the operations
    // every receiver accepts in one change.
    let big = "w".repeat(1_000_000);
    let err = alice
        .run(ops::WikiNew {
            circle: None,
            title: "Big".into(),
            body: big.clone(),
        })
        .unwrap_err()
        .to_string();
    assert!(err.contains("peers accept at most"), "{err}");
    assert!(alice.run(ops::WikiList::default()).unwrap().is_empty());
    assert_eq!(
        alice.run(ops::Whoami {}).unwrap().entries,
        before,
        "nothing signed"
    );
    // (Edits are checked the same way, on the exact operation count of the
    // change, before it is committed: `check_pending_ops`.)
    // A change this node refuses shows in status, not only in the log.
    let mallory = Keypair::from_secret(&[6; 32]);
    alice
        .run(ops::TrustAdd {
            author: mallory.author().into(),
            petname: None,
        })
        .unwrap();
    let forged_page = PageId([7; 16]);
    let outcome = alice.ingest(&entry_with(
        &mallory,
        1,
        forged_page,
        &changes_as(&alice.me()),
    ));
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    let status = alice.run(ops::Status {}).unwrap();
    assert_eq!(status.refused_wiki_changes.len(), 1, "{status:?}");
    assert_eq!(status.refused_wiki_changes[0].page, forged_page);
    assert_eq!(status.refused_wiki_changes[0].refused, 1);
}

/// The defect of issue 13: two offline rewrites of one sentence used to
/// interleave letters ("bcobncrren wedrding"). Each side's words now stay
/// whole, side by side.
#[test]
fn concurrent_rewrites_of_one_sentence_keep_each_sides_words_whole() {
    let mut cores = circle(2);
    let page = cores[0]
        .run(ops::WikiNew {
            circle: None,
            title: "CRDT".into(),
            body: "A CRDT merges without conflicts.".into(),
        })
        .unwrap();
    all_to_all(&mut cores);
    let id = page.id.to_string();
    for (core, body) in cores.iter_mut().zip([
        "A CRDT merges concurrent edits (alice wording).",
        "A CRDT always converges (bob wording).",
    ]) {
        core.run(ops::WikiEdit {
            page: id.clone(),
            base: None,
            body: body.into(),
        })
        .unwrap();
    }
    all_to_all(&mut cores);
    let texts: Vec<String> = cores
        .iter_mut()
        .map(|c| c.run(ops::WikiShow { page: id.clone() }).unwrap().body)
        .collect();
    assert_eq!(texts[0], texts[1]);
    assert!(
        texts[0].contains("concurrent edits (alice wording)"),
        "{}",
        texts[0]
    );
    assert!(
        texts[0].contains("always converges (bob wording)"),
        "{}",
        texts[0]
    );
    assert!(texts[0].starts_with("A CRDT "), "{}", texts[0]);
    // Each side's replacement keeps the space before it: the two stay apart.
    assert!(
        texts[0] == "A CRDT always converges (bob wording) concurrent edits (alice wording)."
            || texts[0]
                == "A CRDT concurrent edits (alice wording) always converges (bob wording).",
        "{}",
        texts[0]
    );
}

fn sentence(pool: &'static [&'static str]) -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(pool), 1..12)
        .prop_map(|words| format!("{}.", words.join(" ")))
}

const BASE_WORDS: &[&str] = &[
    "a",
    "crdt",
    "merges",
    "without",
    "conflicts",
    "every",
    "edit",
];
const SIDE_WORDS: [&[&str]; 3] = [
    &["alice", "apple", "a", "crdt", "merges", "edit"],
    &["bob", "banana", "crdt", "without", "every"],
    &["carol", "cherry", "conflicts", "a", "merges"],
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    /// 2–3 nodes rewrite one sentence offline, then sync: all converge, and
    /// every run of text each side inserted survives whole and contiguous.
    #[test]
    fn random_concurrent_rewrites_keep_every_inserted_run_whole(
        base in sentence(BASE_WORDS),
        n in 2usize..=3,
        versions in (sentence(SIDE_WORDS[0]), sentence(SIDE_WORDS[1]), sentence(SIDE_WORDS[2])),
    ) {
        let mut cores = circle(n as u8);
        let page = cores[0].run(ops::WikiNew { title: "S".into(), body: base.clone(), circle: None }).unwrap();
        all_to_all(&mut cores);
        let id = page.id.to_string();
        let versions = [versions.0, versions.1, versions.2];
        for (core, body) in cores.iter_mut().zip(&versions) {
            core.run(ops::WikiEdit { page: id.clone(), base: None, body: body.clone() }).unwrap();
        }
        all_to_all(&mut cores);
        let texts: Vec<String> = cores
            .iter_mut()
            .map(|c| c.run(ops::WikiShow { page: id.clone() }).unwrap().body)
            .collect();
        for t in &texts[1..] {
            prop_assert_eq!(t, &texts[0]);
        }
        for version in &versions[..n] {
            for (_, _, inserted) in words::splices(&base, version) {
                prop_assert!(
                    texts[0].contains(&inserted),
                    "{:?} (from {:?}) is not whole in {:?}", inserted, version, texts[0]
                );
            }
        }
    }
}

fn history_of(core: &mut Core, page: &str) -> Vec<crate::model::HistoryView> {
    core.run(ops::WikiHistory { page: page.into() }).unwrap()
}

fn body_of(core: &mut Core, page: &str) -> String {
    core.run(ops::WikiShow { page: page.into() }).unwrap().body
}

#[test]
fn blame_names_who_last_wrote_each_line_on_every_node() {
    let mut cores = circle(2);
    let page = cores[0]
        .run(ops::WikiNew {
            circle: None,
            title: "Notes".into(),
            body: "line one\nline two\n\nline four".into(),
        })
        .unwrap();
    all_to_all(&mut cores);
    let id = page.id.to_string();
    cores[1]
        .run(ops::WikiEdit {
            page: id.clone(),
            base: None,
            body: "line one\nline two by bob\n\nline four".into(),
        })
        .unwrap();
    all_to_all(&mut cores);
    let (alice, bob) = (cores[0].me(), cores[1].me());
    let bob_entry = history_of(&mut cores[1], &id)[0].entry;
    for core in &mut cores {
        let blame = core.run(ops::WikiBlame { page: id.clone() }).unwrap();
        let got: Vec<(usize, &str, Option<AuthorId>)> = blame
            .lines
            .iter()
            .map(|l| (l.line, l.text.as_str(), l.author))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, "line one", Some(alice)),
                (2, "line two by bob", Some(bob)),
                (3, "", Some(alice)),
                (4, "line four", Some(alice)),
            ]
        );
        assert_eq!(blame.lines[1].entry, Some(bob_entry));
        assert!(
            blame
                .lines
                .iter()
                .all(|l| l.timestamp > 0 && l.entry.is_some())
        );
    }
}

#[test]
fn a_change_shows_as_a_word_diff_and_the_page_as_it_was() {
    let mut alice = replica(1);
    let page = alice
        .run(ops::WikiNew {
            circle: None,
            title: "Plan".into(),
            body: "We ship on Monday.\n".into(),
        })
        .unwrap();
    let id = page.id.to_string();
    alice
        .run(ops::WikiEdit {
            page: id.clone(),
            base: None,
            body: "We ship on Friday, after review.\n".into(),
        })
        .unwrap();
    let history = history_of(&mut alice, &id);
    assert_eq!(history.len(), 2);
    let change = history[0].entry.to_string()[..12].to_string();
    let diff = alice
        .run(ops::WikiDiff {
            page: id.clone(),
            change: change.clone(),
        })
        .unwrap();
    assert_eq!(
        diff.pieces,
        vec![
            Piece::Same("We ship on ".into()),
            Piece::Removed("Monday".into()),
            Piece::Added("Friday, after review".into()),
            Piece::Same(".\n".into()),
        ]
    );
    let first = history[1].entry.to_string();
    let then = alice
        .run(ops::WikiAt {
            page: id.clone(),
            change: first.clone(),
        })
        .unwrap();
    assert_eq!(
        (then.title.as_str(), then.body.as_str()),
        ("Plan", "We ship on Monday.\n")
    );
    // Names that match nothing, or everything, are refused clearly.
    let err = alice
        .run(ops::WikiDiff {
            page: id.clone(),
            change: "zzzz".into(),
        })
        .unwrap_err();
    assert!(err.to_string().contains("no change"), "{err}");
    // Restoring that version is a new change; history keeps everything.
    let restored = alice
        .run(ops::WikiRestore {
            page: id.clone(),
            at: Some(first),
        })
        .unwrap();
    assert_eq!(restored.body, "We ship on Monday.\n");
    assert_eq!(history_of(&mut alice, &id).len(), 3);
}

#[test]
fn reverting_a_change_keeps_later_edits_and_converges() {
    let mut cores = circle(3);
    let page = cores[0]
        .run(ops::WikiNew {
            circle: None,
            title: "Guide".into(),
            body: "Install it.\nRun it.\nEnjoy.\n".into(),
        })
        .unwrap();
    all_to_all(&mut cores);
    let id = page.id.to_string();
    // Bob rewrites the first line and deletes the last; later Carol edits
    // the middle one.
    cores[1]
        .run(ops::WikiEdit {
            page: id.clone(),
            base: None,
            body: "Install it with cargo.\nRun it.\n".into(),
        })
        .unwrap();
    all_to_all(&mut cores);
    cores[2]
        .run(ops::WikiEdit {
            page: id.clone(),
            base: None,
            body: "Install it with cargo.\nRun it daily.\n".into(),
        })
        .unwrap();
    all_to_all(&mut cores);
    let bob = cores[1].me();
    let bobs = history_of(&mut cores[0], &id)
        .into_iter()
        .find(|h| h.author == bob)
        .unwrap();
    // Alice reverts Bob's change.
    let reverted = cores[0]
        .run(ops::WikiRevert {
            page: id.clone(),
            change: bobs.entry.to_string(),
        })
        .unwrap();
    assert_eq!(reverted.body, "Install it.\nRun it daily.\nEnjoy.\n");
    all_to_all(&mut cores);
    for core in &mut cores {
        assert_eq!(body_of(core, &id), "Install it.\nRun it daily.\nEnjoy.\n");
    }
    let newest = &history_of(&mut cores[2], &id)[0];
    assert_eq!(
        newest.author,
        cores[0].me(),
        "the revert is the reverter's change"
    );
}

#[test]
fn reverting_a_rename_restores_the_title_unless_retitled_since() {
    let mut alice = replica(1);
    let page = alice
        .run(ops::WikiNew {
            circle: None,
            title: "Old name".into(),
            body: "text".into(),
        })
        .unwrap();
    let id = page.id.to_string();
    alice
        .run(ops::WikiRename {
            page: id.clone(),
            update_links: false,
            title: "New name".into(),
        })
        .unwrap();
    let rename = history_of(&mut alice, &id)[0].entry.to_string();
    let view = alice
        .run(ops::WikiRevert {
            page: id.clone(),
            change: rename,
        })
        .unwrap();
    assert_eq!(view.title, "Old name");
}

#[derive(Debug, Clone)]
enum PageOp {
    Rewrite(String),
    Revert(usize),
}

fn page_op() -> impl Strategy<Value = PageOp> {
    prop_oneof![
        3 => proptest::collection::vec(
            proptest::sample::select(&["alpha", "beta", "gamma", "delta", "\n", "x"][..]),
            0..8
        )
        .prop_map(|w| PageOp::Rewrite(w.join(" "))),
        1 => (0usize..100).prop_map(PageOp::Revert),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]
    /// Three nodes edit and revert offline in rounds, syncing between
    /// rounds: all converge to the same text, blame attributes every line
    /// with text to one of the page's authors, and reverts never break
    /// convergence.
    #[test]
    fn random_edits_and_reverts_on_three_nodes_converge_and_blame_covers_every_line(
        rounds in proptest::collection::vec(proptest::collection::vec((0usize..3, page_op()), 1..4), 1..4),
    ) {
        let mut cores = circle(3);
        let page = cores[0].run(ops::WikiNew { title: "P".into(), body: "start text\nsecond".into(), circle: None }).unwrap();
        all_to_all(&mut cores);
        let id = page.id.to_string();
        for round in rounds {
            for (who, op) in round {
                match op {
                    PageOp::Rewrite(body) => {
                        cores[who].run(ops::WikiEdit { page: id.clone(), base: None, body }).unwrap();
                    }
                    PageOp::Revert(n) => {
                        let history = history_of(&mut cores[who], &id);
                        let item = &history[n % history.len()];
                        // A revert may find nothing left to undo; it must not fail otherwise.
                        cores[who].run(ops::WikiRevert { page: id.clone(), change: item.entry.to_string() }).unwrap();
                    }
                }
            }
            all_to_all(&mut cores);
        }
        let texts: Vec<String> = cores.iter_mut().map(|c| body_of(c, &id)).collect();
        prop_assert_eq!(&texts[0], &texts[1]);
        prop_assert_eq!(&texts[1], &texts[2]);
        let authors = cores[0].run(ops::WikiShow { page: id.clone() }).unwrap().authors;
        for core in &mut cores {
            let blame = core.run(ops::WikiBlame { page: id.clone() }).unwrap();
            let joined: Vec<&str> = blame.lines.iter().map(|l| l.text.as_str()).collect();
            let text = texts[0].strip_suffix('\n').unwrap_or(&texts[0]);
            prop_assert_eq!(joined.join("\n"), text.to_string());
            for line in &blame.lines {
                if !line.text.is_empty() {
                    prop_assert!(line.author.is_some_and(|a| authors.contains(&a)), "{:?}", line);
                    prop_assert!(line.entry.is_some(), "{:?}", line);
                }
            }
        }
    }
}

#[test]
fn renamed_pages_keep_their_links_and_can_rewrite_them() {
    let mut cores = circle(2);
    let glossary = cores[0]
        .run(ops::WikiNew {
            circle: None,
            title: "Glossary".into(),
            body: "Terms.".into(),
        })
        .unwrap();
    let guide = cores[0]
        .run(ops::WikiNew {
            circle: None,
            title: "Guide".into(),
            body: "See [[Glossary]] and [[glossary|the terms]]; [[Nowhere Yet]] is to come.".into(),
        })
        .unwrap();
    all_to_all(&mut cores);
    let renamed = cores[1]
        .run(ops::WikiRename {
            page: "Glossary".into(),
            title: "Terms".into(),
            update_links: false,
        })
        .unwrap();
    assert!(renamed.relinked.is_empty());
    assert_eq!(renamed.page.aliases, vec!["Glossary".to_string()]);
    all_to_all(&mut cores);
    for core in &mut cores {
        // The old title still finds the page, and links to it still count.
        let by_old = core
            .run(ops::WikiShow {
                page: "glossary".into(),
            })
            .unwrap();
        assert_eq!((by_old.id, by_old.title.as_str()), (glossary.id, "Terms"));
        assert_eq!(by_old.backlinks.len(), 1, "{:?}", by_old.backlinks);
        assert_eq!(by_old.backlinks[0].id, guide.id);
        let g = core
            .run(ops::WikiShow {
                page: "Guide".into(),
            })
            .unwrap();
        assert_eq!(g.missing_links, vec!["Nowhere Yet".to_string()]);
    }
    // Rewriting the links: both spellings, the label kept.
    let outcome = cores[0]
        .run(ops::WikiRename {
            page: "Terms".into(),
            title: "Vocabulary".into(),
            update_links: true,
        })
        .unwrap();
    assert_eq!(outcome.relinked.len(), 1);
    assert_eq!(
        outcome.page.aliases,
        vec!["Glossary".to_string(), "Terms".into()]
    );
    let g = cores[0]
        .run(ops::WikiShow {
            page: "Guide".into(),
        })
        .unwrap();
    assert_eq!(
        g.body,
        "See [[Vocabulary]] and [[Vocabulary|the terms]]; [[Nowhere Yet]] is to come."
    );
    // Aliases are a view: a reindex rebuilds them from the entries.
    cores[0].reindex().unwrap();
    let again = cores[0]
        .run(ops::WikiShow {
            page: "Glossary".into(),
        })
        .unwrap();
    assert_eq!(again.id, glossary.id);
    assert_eq!(again.aliases, vec!["Glossary".to_string(), "Terms".into()]);
}

#[test]
fn pages_created_concurrently_with_one_title_are_both_kept() {
    let mut cores = circle(2);
    let a = cores[0]
        .run(ops::WikiNew {
            circle: None,
            title: "Meeting notes".into(),
            body: "Alice's notes".into(),
        })
        .unwrap();
    let b = cores[1]
        .run(ops::WikiNew {
            circle: None,
            title: "meeting notes".into(),
            body: "Bob's notes".into(),
        })
        .unwrap();
    all_to_all(&mut cores);
    for core in &mut cores {
        let list = core.run(ops::WikiList { archived: false }).unwrap();
        assert_eq!(list.len(), 2);
        assert!(list.iter().all(|p| p.namesakes == 2));
        let err = core
            .run(ops::WikiShow {
                page: "Meeting Notes".into(),
            })
            .unwrap_err();
        assert!(err.to_string().contains("names several pages"), "{err}");
        let shown = core
            .run(ops::WikiShow {
                page: a.id.to_string(),
            })
            .unwrap();
        assert_eq!(shown.body, "Alice's notes");
        assert_eq!(shown.namesakes.len(), 1);
        assert_eq!(shown.namesakes[0].id, b.id);
    }
}

/// Three nodes edit offline: Alice and Bob rewrite one paragraph, Carol
/// another. The merge is marked on every node until someone edits.
#[test]
fn merged_concurrent_edits_of_one_paragraph_are_marked_until_edited_or_reviewed() {
    let mut cores = circle(3);
    let base = "A CRDT merges without conflicts.\n\nSecond paragraph stays.\n";
    let page = cores[0]
        .run(ops::WikiNew {
            circle: None,
            title: "CRDTs".into(),
            body: base.into(),
        })
        .unwrap();
    all_to_all(&mut cores);
    let id = page.id.to_string();
    let edits = [
        base.replace("merges without conflicts", "merges concurrent edits"),
        base.replace("merges without conflicts", "always converges"),
        base.replace("stays", "stays here"),
    ];
    for (core, body) in cores.iter_mut().zip(&edits) {
        core.run(ops::WikiEdit {
            page: id.clone(),
            base: None,
            body: body.clone(),
        })
        .unwrap();
    }
    all_to_all(&mut cores);
    let (alice, bob) = (cores[0].me(), cores[1].me());
    for core in &mut cores {
        let view = core.run(ops::WikiShow { page: id.clone() }).unwrap();
        let merged = view.merged.expect("the merge is marked");
        let mut authors = merged.authors.clone();
        authors.sort();
        let mut expect = vec![alice, bob];
        expect.sort();
        assert_eq!(
            authors, expect,
            "Carol's separate paragraph is not part of it"
        );
        assert_eq!(merged.paragraphs.len(), 1);
        assert_eq!(merged.paragraphs[0].index, 0);
        assert!(merged.paragraphs[0].start.starts_with("A CRDT"));
        let list = core.run(ops::WikiList { archived: false }).unwrap();
        assert!(list[0].merged.is_some());
        assert_eq!(
            core.reader().pages_to_review().unwrap(),
            vec![crate::model::PageRef {
                id: page.id,
                title: "CRDTs".into()
            }]
        );
    }
    // Each side's version, for the review: the page as each wrote it.
    let sides = cores[0].run(ops::WikiSides { page: id.clone() }).unwrap();
    let mut versions: Vec<&str> = sides.iter().map(|s| s.body.as_str()).collect();
    versions.sort();
    let mut expect: Vec<&str> = edits.iter().map(String::as_str).collect();
    expect.sort();
    assert_eq!(versions, expect);
    for side in &sides {
        let who = cores
            .iter()
            .position(|c| c.me() == side.authors[0])
            .unwrap();
        assert_eq!(
            (side.authors.len(), side.body.as_str()),
            (1, edits[who].as_str())
        );
    }
    // Carol reviews it: the mark ends everywhere.
    cores[2]
        .run(ops::WikiReviewed { page: id.clone() })
        .unwrap();
    all_to_all(&mut cores);
    for core in &mut cores {
        let view = core.run(ops::WikiShow { page: id.clone() }).unwrap();
        assert!(view.merged.is_none());
        assert!(core.reader().pages_to_review().unwrap().is_empty());
        let sides = core.run(ops::WikiSides { page: id.clone() }).unwrap();
        assert!(sides.is_empty(), "one head: nothing to review");
    }
    // Concurrent edits of different paragraphs are no merge to review.
    let a = body_of(&mut cores[0], &id).replace("A CRDT", "Any CRDT");
    cores[0]
        .run(ops::WikiEdit {
            page: id.clone(),
            base: None,
            body: a,
        })
        .unwrap();
    let b = body_of(&mut cores[1], &id).replace("here", "there");
    cores[1]
        .run(ops::WikiEdit {
            page: id.clone(),
            base: None,
            body: b,
        })
        .unwrap();
    all_to_all(&mut cores);
    let view = cores[2].run(ops::WikiShow { page: id.clone() }).unwrap();
    assert!(view.merged.is_none(), "{:?}", view.merged);
}

/// A store from before compact groups: a page with framed groups (what
/// older nodes write) and compact ones that an older node kept as an
/// unknown kind without applying them (its wiki views skip them, its
/// catch-up marker is past them). Opened by this version, its views are
/// rebuilt from the entries and no change is lost.
#[test]
fn a_store_from_before_compact_groups_upgrades_without_losing_a_change() {
    use crate::store::kv::KvConfig;
    let dir = tempfile::tempdir().unwrap();
    let data_dir = DataDir::new(dir.path());
    let open = |seed: u8| {
        let store = Store::open(
            &data_dir.store(),
            &KvConfig::default(),
            kith_protocol::Limits::default(),
        )
        .unwrap();
        Core::with_store(
            Config::new(data_dir.clone()),
            Keypair::from_secret(&[seed; 32]),
            store,
        )
        .unwrap()
    };
    let mut alice = open(1);
    let mut bob = replica(2);
    let carol = Keypair::from_secret(&[3; 32]);
    let (alice_id, bob_id) = (alice.me(), bob.me());
    for (core, other) in [(&mut alice, bob_id), (&mut bob, alice_id)] {
        core.run(ops::TrustAdd {
            author: other.into(),
            petname: None,
        })
        .unwrap();
    }
    alice
        .run(ops::TrustAdd {
            author: carol.author().into(),
            petname: None,
        })
        .unwrap();
    // Bob, on a new node, writes a page: compact groups.
    let page = bob
        .run(ops::WikiNew {
            circle: None,
            title: "Shared".into(),
            body: "Bob's line.\n".into(),
        })
        .unwrap();
    let bob_entries = bob.store().log(&bob.me(), 1, usize::MAX).unwrap();
    assert!(
        bob_entries
            .iter()
            .any(|e| matches!(e.body().map(Body::decode), Some(Ok(Body::WikiBundle(_)))))
    );
    // Carol, on an older node, adds a line: one framed group (kind 3).
    let bytes = bob
        .run(ops::WikiAutomerge {
            page: page.id.to_string(),
        })
        .unwrap()
        .0;
    let mut doc = AutoCommit::load(&bytes).unwrap();
    let heads = doc.get_heads();
    doc.set_actor(actor_of(&carol.author()));
    let body = match doc.get(ROOT, "body").unwrap() {
        Some((_, id)) => id,
        None => panic!("no body"),
    };
    let end = doc.length(&body);
    doc.splice_text(&body, end, 0, "Carol's line.\n").unwrap();
    doc.commit();
    let changes: Vec<Vec<u8>> = doc
        .get_changes(&heads)
        .iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect();
    let framed = change_group::pack(page.id, &changes, 64 * 1024);
    let carol_entries: Vec<Entry> = framed
        .into_iter()
        .enumerate()
        .scan(None, |prev: &mut Option<EntryId>, (i, (body, _))| {
            let e = Entry::sign(
                &carol,
                Draft {
                    seq: i as u64 + 1,
                    prev: *prev,
                    timestamp_ms: crate::clock::now_ms(),
                    body: body.encode(),
                },
            );
            *prev = Some(e.id());
            Some(e)
        })
        .collect();
    for entries in [&bob_entries, &carol_entries] {
        let outcome = alice.ingest(entries);
        assert!(outcome.error.is_none(), "{:?}", outcome.error);
    }
    assert_eq!(
        alice
            .run(ops::WikiShow {
                page: "Shared".into()
            })
            .unwrap()
            .body,
        "Bob's line.\nCarol's line.\n"
    );
    // What an older node's store looks like: wiki views without the
    // page (it skipped kind 8), catch-up markers past everything, views
    // version 1.
    {
        let kv = alice.store().kv();
        let markers = key(Space::WikiProcessed, &[]);
        let doomed: Vec<_> = kv
            .scan_prefix(crate::store::keyspace::WIKI)
            .map(|item| item.unwrap().0)
            .filter(|k| !k.starts_with(&markers))
            .collect();
        for k in doomed {
            kv.remove(&k).unwrap();
        }
        alice.store().set_views_version(1).unwrap();
    }
    alice.close().unwrap();
    drop(alice);
    let mut alice = open(1);
    let shown = alice
        .run(ops::WikiShow {
            page: "Shared".into(),
        })
        .unwrap();
    assert_eq!(shown.body, "Bob's line.\nCarol's line.\n");
    assert_eq!(shown.authors.len(), 2);
    assert_eq!(
        alice.store().views_version().unwrap(),
        crate::store::VIEWS_VERSION
    );
}

/// The wiki's per-author marker moves past entries that carry no wiki
/// change, own and a friend's, so an open does not read every note after
/// an author's last wiki edit again (a million-entry store's first start
/// spent seconds on that); it never jumps over a run left unprocessed.
#[test]
fn the_wiki_marker_moves_past_notes_but_never_over_a_gap() {
    use kith_protocol::{Post, PostKind};
    let notes = |from: usize, n: usize| -> Vec<Body> {
        (from..from + n)
            .map(|i| {
                Body::Post(Post {
                    kind: PostKind::Note,
                    text: format!("note {i}"),
                    reply_to: None,
                    tags: vec![],
                    files: Vec::new(),
                    mentions: Vec::new(),
                })
            })
            .collect()
    };
    let mut cores = circle(2);
    let (alice, bob) = cores.split_at_mut(1);
    let (alice, bob) = (&mut alice[0], &mut bob[0]);
    let b = bob.me();
    let head = |core: &Core| core.store().head(&b).unwrap().unwrap().seq;
    bob.run(ops::WikiNew {
        circle: None,
        title: "Notes".into(),
        body: "One.\n".into(),
    })
    .unwrap();
    let page_seq = head(bob);
    bob.append(&notes(0, 50)).unwrap();
    assert_eq!(head(bob), page_seq + 50);
    assert_eq!(processed_through(bob.store(), &b).unwrap(), head(bob));

    sync(bob, alice);
    assert_eq!(processed_through(alice.store(), &b).unwrap(), head(alice));
    assert_eq!(
        alice
            .run(ops::WikiShow {
                page: "Notes".into()
            })
            .unwrap()
            .body,
        "One.\n"
    );

    // A run that does not follow the marker (as after a wiki change that
    // failed to apply) is left to the catch-up at the next open.
    alice
        .store()
        .kv()
        .insert(
            key(Space::WikiProcessed, &[b.as_bytes()]),
            page_seq.to_be_bytes(),
        )
        .unwrap();
    let before = head(alice);
    bob.append(&notes(50, 5)).unwrap();
    sync(bob, alice);
    assert_eq!(head(alice), before + 5);
    assert_eq!(processed_through(alice.store(), &b).unwrap(), page_seq);
}

/// Text typed in a browser arrives with `\r\n` line ends (issue 29): every
/// write path stores `\n`; a page stored with `\r\n` before that keeps its
/// untouched lines and their author when someone edits it with `\n`, and
/// an edit that changes only line endings changes nothing.
#[test]
fn line_endings_never_change_a_page_or_its_authors() {
    let mut cores = circle(2);
    // Written through every path that takes text: stored with `\n`.
    let page = cores[0]
        .run(ops::WikiNew {
            circle: None,
            title: "Typed in a browser".into(),
            body: "one\r\ntwo\r\n".into(),
        })
        .unwrap();
    assert_eq!(page.body, "one\ntwo\n");
    let edited = cores[0]
        .run(ops::WikiEdit {
            page: page.id.to_string(),
            base: None,
            body: "one\r\ntwo\r\nthree\r\n".into(),
        })
        .unwrap();
    assert_eq!(edited.body, "one\ntwo\nthree\n");
    let post = cores[0].run(ops::Post::note("a\r\nb\rc")).unwrap();
    assert_eq!(post.text.as_deref(), Some("a\nb\nc"));

    // A page from before: its text written with `\r\n` by Alice.
    let old = cores[0]
        .run(ops::WikiNew {
            circle: None,
            title: "Old page".into(),
            body: "x".into(),
        })
        .unwrap();
    let crlf = "first line by alice\r\nsecond line by alice\r\nthird line\r\n";
    cores[0]
        .wiki_splices(&old.id, &[(0, 1, crlf.to_string())])
        .unwrap();
    all_to_all(&mut cores);
    let id = old.id.to_string();
    let changes = |core: &mut Core| history_of(core, &id).len();
    let before = changes(&mut cores[1]);
    // Bob's browser sends the same text with `\n`: nothing changes.
    cores[1]
        .run(ops::WikiEdit {
            page: id.clone(),
            base: None,
            body: crlf.replace("\r\n", "\n"),
        })
        .unwrap();
    assert_eq!(changes(&mut cores[1]), before, "a line-ending-only edit");
    // Bob rewrites one word of the second line.
    let after = cores[1]
        .run(ops::WikiEdit {
            page: id.clone(),
            base: None,
            body: "first line by alice\nsecond line by bob\nthird line\n".into(),
        })
        .unwrap();
    assert_eq!(
        after.body, "first line by alice\r\nsecond line by bob\r\nthird line\r\n",
        "untouched line ends are left as they were"
    );
    all_to_all(&mut cores);
    let (alice, bob) = (cores[0].me(), cores[1].me());
    for core in &mut cores {
        let blame = core.run(ops::WikiBlame { page: id.clone() }).unwrap();
        let authors: Vec<Option<AuthorId>> = blame.lines.iter().map(|l| l.author).collect();
        assert_eq!(
            authors[..3],
            [Some(alice), Some(bob), Some(alice)],
            "{:?}",
            blame.lines
        );
    }
}
