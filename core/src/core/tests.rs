//! Knowledge exchange on in-process cores: questions, answers, ranking,
//! deletion, search.

use kith_protocol::{EntryId, Keypair, PostKind};

use super::*;
use crate::config::DataDir;
use crate::model::EntryView;
use crate::ops;
use crate::refs::AuthorRef;
use crate::search::SearchKind;
use crate::testing::{copy_log as sync, trust};
use ingest::SEARCH_CATCH_UP_REPLACING;

fn core(seed: u8, hops: u8) -> Core {
    crate::testing::core_with(seed, |config| config.hops = hops)
}

fn note(core: &mut Core, text: &str, tags: &[&str]) -> EntryView {
    core.run(ops::Post {
        circle: None,
        text: text.into(),
        kind: PostKind::Note,
        reply_to: None,
        tags: tags.iter().map(|t| t.to_string()).collect(),
        files: Vec::new(),
    })
    .unwrap()
}

#[test]
fn endorsement_weights_follow_the_trust_graph() {
    let mut alice = core(1, 2);
    let mut bob = core(2, 1);
    let mut carol = core(3, 1);
    let mut dave = core(4, 1);
    trust(&mut alice, &bob);
    trust(&mut alice, &dave);
    for c in [&mut bob, &mut carol, &mut dave] {
        trust(c, &alice);
    }
    trust(&mut carol, &bob);
    trust(&mut dave, &bob);
    // Bob vouches for Carol publicly: Carol is two hops from Alice.
    bob.vouch(carol.me(), true).unwrap();
    sync(&bob, &mut alice);
    assert!(alice.scope().contains(&carol.me()));

    let q = alice
        .run(ops::Ask {
            circle: None,
            text: "Which linker is fastest?".into(),
            tags: vec![],
            yes: true,
        })
        .unwrap()
        .posted
        .unwrap();
    for c in [&mut bob, &mut carol, &mut dave] {
        sync(&alice, c);
    }
    let answer = bob
        .run(ops::Answer {
            id: q.id.into(),
            text: "mold".into(),
            tags: vec![],
            files: Vec::new(),
        })
        .unwrap();
    sync(&bob, &mut alice);
    for c in [&mut carol, &mut dave] {
        sync(&bob, c);
        c.run(ops::Endorse {
            id: answer.id.into(),
            note: None,
            withdraw: false,
        })
        .unwrap();
        sync(c, &mut alice);
    }
    // Dave was trusted when his endorsement arrived; now he is not.
    alice
        .run(ops::TrustRemove {
            author: dave.me().into(),
        })
        .unwrap();
    let thread = alice.run(ops::Thread { id: q.id.into() }).unwrap();
    let a = &thread.answers[0];
    let weights: std::collections::BTreeMap<AuthorId, f64> =
        a.endorsed_by.iter().map(|e| (e.author, e.weight)).collect();
    assert_eq!(weights[&carol.me()], 0.5, "two hops counts half");
    assert_eq!(
        weights[&dave.me()],
        0.0,
        "an untrusted author counts nothing"
    );
    assert_eq!(a.score, 0.5);
}

#[test]
fn answers_rank_accepted_first_then_by_score_then_by_time() {
    let mut alice = core(1, 1);
    let mut bob = core(2, 1);
    let mut carol = core(3, 1);
    let all = [alice.me(), bob.me(), carol.me()];
    for c in [&mut alice, &mut bob, &mut carol] {
        for a in all {
            if a != c.me() {
                c.run(ops::TrustAdd {
                    author: a.into(),
                    petname: None,
                })
                .unwrap();
            }
        }
    }
    let q = alice
        .run(ops::Ask {
            circle: None,
            text: "How to profile Rust?".into(),
            tags: vec!["rust".into()],
            yes: true,
        })
        .unwrap()
        .posted
        .unwrap();
    sync(&alice, &mut bob);
    sync(&alice, &mut carol);
    let b = bob
        .run(ops::Answer {
            id: q.id.into(),
            text: "perf record".into(),
            tags: vec![],
            files: Vec::new(),
        })
        .unwrap();
    // Oldest first is by the authors' clocks: one millisecond apart at least.
    std::thread::sleep(std::time::Duration::from_millis(3));
    let c = carol
        .run(ops::Answer {
            id: q.id.into(),
            text: "cargo flamegraph".into(),
            tags: vec![],
            files: Vec::new(),
        })
        .unwrap();
    sync(&bob, &mut alice);
    sync(&carol, &mut alice);
    // No endorsements: oldest first.
    let order: Vec<EntryId> = alice
        .run(ops::Thread { id: q.id.into() })
        .unwrap()
        .answers
        .iter()
        .map(|a| a.entry.id)
        .collect();
    assert_eq!(order, vec![b.id, c.id]);
    sync(&bob, &mut carol);
    carol
        .run(ops::Endorse {
            id: b.id.into(),
            note: Some("works".into()),
            withdraw: false,
        })
        .unwrap();
    alice
        .run(ops::Endorse {
            id: c.id.into(),
            note: None,
            withdraw: false,
        })
        .unwrap();
    sync(&bob, &mut alice);
    sync(&carol, &mut alice);
    alice
        .run(ops::Endorse {
            id: b.id.into(),
            note: None,
            withdraw: false,
        })
        .unwrap();
    let t = alice.run(ops::Thread { id: q.id.into() }).unwrap();
    assert_eq!(t.answers[0].entry.id, b.id);
    assert_eq!(t.answers[0].score, 2.0);
    assert_eq!(t.answers[1].score, 1.0);
    assert_eq!(
        t.answers[0]
            .endorsed_by
            .iter()
            .find(|e| e.author == carol.me())
            .unwrap()
            .note
            .as_deref(),
        Some("works")
    );
    // One endorsement per author; withdrawing lowers the score.
    assert!(
        alice
            .run(ops::Endorse {
                id: b.id.into(),
                note: None,
                withdraw: false
            })
            .is_err()
    );
    alice
        .run(ops::Endorse {
            id: b.id.into(),
            note: None,
            withdraw: true,
        })
        .unwrap();
    assert_eq!(
        alice.run(ops::Thread { id: q.id.into() }).unwrap().answers[0].score,
        1.0
    );
    // Accepting puts an answer first whatever its score.
    assert!(
        bob.run(ops::Accept {
            id: c.id.into(),
            withdraw: false
        })
        .is_err(),
        "only the asker accepts"
    );
    alice
        .run(ops::Accept {
            id: c.id.into(),
            withdraw: false,
        })
        .unwrap();
    let t = alice.run(ops::Thread { id: b.id.into() }).unwrap(); // any entry of the thread shows the thread
    assert_eq!(t.entry.id, q.id);
    assert_eq!(t.answers[0].entry.id, c.id);
    assert!(t.answers[0].accepted);
    assert!(!t.answers[1].accepted);
    // Questions list.
    let qs = alice.run(ops::Questions::default()).unwrap();
    assert_eq!(qs.len(), 1);
    assert_eq!(qs[0].answers, 2);
    assert!(qs[0].accepted);
    assert!(
        alice
            .run(ops::Questions {
                unanswered: true,
                ..Default::default()
            })
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        alice
            .run(ops::Questions {
                tag: Some("go".into()),
                ..Default::default()
            })
            .unwrap()
            .len(),
        0
    );
}

#[test]
fn replies_form_a_tree_and_answers_need_a_question() {
    let mut alice = core(1, 1);
    let n = note(&mut alice, "Working on the sync protocol", &[]);
    assert!(
        alice
            .run(ops::Answer {
                id: n.id.into(),
                text: "x".into(),
                tags: vec![],
                files: Vec::new(),
            })
            .is_err()
    );
    let r1 = alice
        .run(ops::Reply {
            id: n.id.into(),
            text: "first reply".into(),
            tags: vec![],
            files: Vec::new(),
        })
        .unwrap();
    let r2 = alice
        .run(ops::Reply {
            id: r1.id.into(),
            text: "nested".into(),
            tags: vec![],
            files: Vec::new(),
        })
        .unwrap();
    let t = alice.run(ops::Thread { id: r2.id.into() }).unwrap();
    assert_eq!(t.entry.id, n.id);
    assert_eq!(t.replies[0].entry.id, r1.id);
    assert_eq!(t.replies[0].replies[0].entry.id, r2.id);
}

#[test]
fn search_matches_prefixes_and_typos_below_exact_hits() {
    let mut alice = core(1, 1);
    note(&mut alice, "We merge the pages with Automerge.", &[]);
    note(
        &mut alice,
        "Merging **conflicts** is what a CRDT is for.",
        &[],
    );
    note(&mut alice, "Notes on the sync protocol.", &[]);
    note(&mut alice, "Lunch was great", &[]);
    let search = |alice: &mut Core, q: &str| {
        alice
            .run(ops::Search {
                q: q.into(),
                ..Default::default()
            })
            .unwrap()
    };
    // A word begun: "merg" finds "merge" and "merging".
    let hits = search(&mut alice, "merg");
    assert_eq!(hits.len(), 2, "{hits:?}");
    for hit in &hits {
        let [start, end] = hit.snippet.matches[0];
        let word = hit.snippet.text[start..end].to_lowercase();
        assert!(word.starts_with("merg"), "highlights {word}");
    }
    // One typo.
    let hits = search(&mut alice, "protocl");
    assert_eq!(hits.len(), 1);
    let [start, end] = hits[0].snippet.matches[0];
    assert_eq!(&hits[0].snippet.text[start..end], "protocol");
    // Exact hits rank above prefix hits, even when the prefix hit is newer
    // and its word is in a shorter text.
    note(&mut alice, "Merged.", &[]);
    let hits = search(&mut alice, "merge");
    assert_eq!(hits.len(), 2, "{hits:?}");
    assert!(hits[0].snippet.text.starts_with("We merge"), "{hits:?}");
    assert_eq!(hits[1].snippet.text, "Merged.");
    // A snippet reads as words, without markdown marks (issue 29); nothing
    // is cut off the end.
    let hits = search(&mut alice, "conflicts");
    assert_eq!(
        hits[0].snippet.text,
        "Merging conflicts is what a CRDT is for."
    );
    assert_eq!(hits[0].snippet.matches, vec![[8, 17]]);
    // Short words are not expanded to everything.
    assert!(search(&mut alice, "w").is_empty());
}

#[test]
fn search_finds_posts_and_pages_with_filters_and_snippets() {
    let mut alice = core(1, 1);
    note(
        &mut alice,
        "Benchmarking sled against redb for the store",
        &["storage"],
    );
    note(&mut alice, "Lunch was great", &[]);
    alice
        .run(ops::WikiNew {
            circle: None,
            title: "Release process".into(),
            body: "Tag, build, then announce on the mailing list.\n".into(),
        })
        .unwrap();
    let hits = alice
        .run(ops::Search {
            q: "sled".into(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].kind, SearchKind::Note);
    let snippet = &hits[0].snippet;
    assert_eq!(snippet.text, "Benchmarking sled against redb for the store");
    assert_eq!(snippet.matches, vec![[13, 17]], "the range of \"sled\"");
    assert_eq!(hits[0].tags, vec!["storage".to_string()]);
    let pages = alice
        .run(ops::Search {
            q: "mailing".into(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(pages[0].kind, SearchKind::Wiki);
    assert_eq!(pages[0].title.as_deref(), Some("Release process"));
    let by_title = alice
        .run(ops::Search {
            q: "release".into(),
            kind: Some(SearchKind::Wiki),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(by_title.len(), 1);
    assert!(
        alice
            .run(ops::Search {
                q: "sled".into(),
                tag: Some("other".into()),
                ..Default::default()
            })
            .unwrap()
            .is_empty()
    );
    assert!(
        alice
            .run(ops::Search {
                q: "sled".into(),
                author: Some(AuthorRef::Me),
                ..Default::default()
            })
            .unwrap()
            .len()
            == 1
    );
    assert!("poem".parse::<SearchKind>().is_err());
    // Odd syntax is not an error.
    alice
        .run(ops::Search {
            q: "sled\" AND (".into(),
            ..Default::default()
        })
        .unwrap();
    // A page edit is searchable at once.
    alice
        .run(ops::WikiEdit {
            page: "Release process".into(),
            base: None,
            body: "Now with a changelog.\n".into(),
        })
        .unwrap();
    assert_eq!(
        alice
            .run(ops::Search {
                q: "changelog".into(),
                ..Default::default()
            })
            .unwrap()
            .len(),
        1
    );
    assert!(
        alice
            .run(ops::Search {
                q: "mailing".into(),
                ..Default::default()
            })
            .unwrap()
            .is_empty()
    );
}

#[test]
fn deletion_hides_a_post_everywhere() {
    let mut alice = core(1, 1);
    let mut bob = core(2, 1);
    trust(&mut alice, &bob);
    trust(&mut bob, &alice);
    let q = alice
        .run(ops::Ask {
            circle: None,
            text: "Where is the wiki backup?".into(),
            tags: vec![],
            yes: true,
        })
        .unwrap()
        .posted
        .unwrap();
    sync(&alice, &mut bob);
    let a = bob
        .run(ops::Answer {
            id: q.id.into(),
            text: "On the NAS, secret path xyzzy".into(),
            tags: vec![],
            files: Vec::new(),
        })
        .unwrap();
    sync(&bob, &mut alice);
    assert_eq!(
        alice
            .run(ops::Search {
                q: "xyzzy".into(),
                ..Default::default()
            })
            .unwrap()
            .len(),
        1
    );
    assert!(
        alice.run(ops::Delete { id: a.id.into() }).is_err(),
        "not alice's to delete"
    );
    bob.run(ops::Delete { id: a.id.into() }).unwrap();
    assert!(
        bob.run(ops::Delete { id: a.id.into() }).is_err(),
        "already deleted"
    );
    sync(&bob, &mut alice);
    for c in [&mut alice, &mut bob] {
        assert!(
            c.run(ops::Search {
                q: "xyzzy".into(),
                ..Default::default()
            })
            .unwrap()
            .is_empty()
        );
        assert!(
            c.run(ops::Thread { id: q.id.into() })
                .unwrap()
                .answers
                .is_empty()
        );
        assert!(
            c.run(ops::Feed::default())
                .unwrap()
                .iter()
                .all(|e| e.id != a.id)
        );
        assert!(
            c.store().get(&a.id).unwrap().unwrap().body().is_none(),
            "body dropped, header kept"
        );
    }
}

#[test]
fn ask_offers_similar_questions_first() {
    let mut alice = core(1, 1);
    alice
        .run(ops::Ask {
            circle: None,
            text: "How do I rotate the TLS certificates on the staging cluster?".into(),
            tags: vec![],
            yes: true,
        })
        .unwrap();
    let outcome = alice
        .run(ops::Ask {
            circle: None,
            text: "Rotating TLS certificates for staging?".into(),
            tags: vec![],
            yes: false,
        })
        .unwrap();
    assert!(outcome.posted.is_none());
    assert_eq!(outcome.similar[0].kind, SearchKind::Question);
    assert!(outcome.similar[0].snippet.text.contains("TLS"));
    let unrelated = alice
        .run(ops::Ask {
            circle: None,
            text: "What is the wifi password?".into(),
            tags: vec![],
            yes: false,
        })
        .unwrap();
    assert!(unrelated.posted.is_some());
    let forced = alice
        .run(ops::Ask {
            circle: None,
            text: "Rotating TLS certificates for staging?".into(),
            tags: vec![],
            yes: true,
        })
        .unwrap();
    assert!(forced.posted.is_some());
}

#[test]
fn the_search_index_catches_up_after_a_crash_and_rebuilds_on_reindex() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::new(DataDir::new(dir.path()));
    let keypair = Keypair::from_secret(&[1; 32]);
    {
        let mut c = Core::open(config.clone(), keypair.clone()).unwrap();
        note(&mut c, "committed before the crash: aardvark", &[]);
        c.search_flush().unwrap();
        note(&mut c, "never committed: zebra", &[]);
        // Dropped without `close`: the second note is not in the index.
    }
    let mut c = Core::open(config, keypair).unwrap();
    for word in ["aardvark", "zebra"] {
        assert_eq!(
            c.run(ops::Search {
                q: word.into(),
                ..Default::default()
            })
            .unwrap()
            .len(),
            1,
            "{word}"
        );
    }
    c.reindex().unwrap();
    assert_eq!(
        c.run(ops::Search {
            q: "zebra".into(),
            ..Default::default()
        })
        .unwrap()
        .len(),
        1
    );
}

/// A search index far behind its store (deleted here; a schema change or
/// a restore leave the same) catches up in slices: opening does one chunk
/// within its budget, and each step after it another. Walked posts are
/// only added (no delete query held); opened circle posts replace, and
/// those replacements are committed as they gather; a post stored
/// meanwhile waits for the walk and is found once.
#[test]
fn a_search_index_far_behind_catches_up_in_slices_with_bounded_replacements() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(DataDir::new(dir.path()));
    config.open_search_budget = std::time::Duration::ZERO;
    let keypair = Keypair::from_secret(&[1; 32]);
    let peer = Keypair::from_secret(&[2; 32]);
    let scratch = Store::temporary().unwrap();
    let bodies: Vec<kith_protocol::Body> = (0..4_001)
        .map(|i| {
            crate::testing::note_body(if i == 4_000 {
                "stored while the index catches up: zebra".to_string()
            } else {
                format!("note {i} about the aardvark")
            })
        })
        .collect();
    let log = scratch
        .append_many(&peer, &bodies, 1_700_000_000_000)
        .unwrap();
    {
        let mut c = Core::open(config.clone(), keypair.clone()).unwrap();
        c.run(ops::TrustAdd {
            author: peer.author().into(),
            petname: None,
        })
        .unwrap();
        assert!(c.ingest(&log[..4_000]).error.is_none());
        c.run(ops::CircleCreate {
            name: "team".into(),
            members: vec![],
        })
        .unwrap();
        for i in 0..5 {
            c.run(ops::Post {
                circle: Some("team".into()),
                text: format!("circle note {i}: wombat"),
                kind: PostKind::Note,
                reply_to: None,
                tags: vec![],
                files: Vec::new(),
            })
            .unwrap();
        }
        c.close().unwrap();
    }
    std::fs::remove_dir_all(config.data_dir.search_index()).unwrap();

    let mut c = Core::open(config, keypair).unwrap();
    assert!(c.search_behind());
    c.search_flush().unwrap();
    let at_open = c.search.len();
    assert!(
        (1..4_000).contains(&at_open),
        "one chunk at open, not all: {at_open}"
    );
    // A post arrives from the peer while the index catches up.
    assert!(c.ingest(&log[4_000..]).error.is_none());
    let mut steps = 0;
    let mut most_replacing = 0;
    while c.search_catch_up_step(std::time::Duration::ZERO).unwrap() {
        steps += 1;
        most_replacing = most_replacing.max(c.search.replacing());
    }
    assert!(steps >= 2, "the rest took steps of its own: {steps}");
    assert!(
        most_replacing < SEARCH_CATCH_UP_REPLACING,
        "the circle posts' replacements were committed as they gathered: {most_replacing}"
    );
    assert!(!c.search_behind());
    assert_eq!(c.search.len(), 4_006, "every post once");
    let replaced = c.search.replaced();
    assert!(
        (5..=10).contains(&replaced),
        "the 4,001 notes were only added; the five circle posts replaced (when opened, when walked): {replaced}"
    );
    let hits = |c: &mut Core, q: &str| {
        c.run(ops::Search {
            q: q.into(),
            limit: Some(100),
            ..Default::default()
        })
        .unwrap()
        .len()
    };
    assert_eq!(hits(&mut c, "zebra"), 1);
    assert_eq!(hits(&mut c, "wombat"), 5);
    assert_eq!(hits(&mut c, "\"note 3999\""), 1);
}

/// An upgrade from the index that stored posts (its schema had a text
/// `key` and a stored `body`; its last commit said it covered everything):
/// the node starts that index over and catches up, and every post is found
/// again, its hit made from the store: the entry's id, its text (a circle
/// post's opened text), its kind.
#[test]
fn an_index_of_the_previous_schema_is_rebuilt_and_hits_come_from_the_store() {
    use tantivy::schema::{STORED, STRING, TEXT};
    let dir = tempfile::tempdir().unwrap();
    let config = Config::new(DataDir::new(dir.path()));
    let keypair = Keypair::from_secret(&[1; 32]);
    let (note, secret) = {
        let mut c = Core::open(config.clone(), keypair.clone()).unwrap();
        let note = c.run(ops::Post::note("the quokka smiles")).unwrap();
        c.run(ops::CircleCreate {
            name: "team".into(),
            members: vec![],
        })
        .unwrap();
        let secret = c
            .run(ops::Post {
                circle: Some("team".into()),
                text: "a quokka in the circle".into(),
                kind: PostKind::Question,
                reply_to: None,
                tags: vec![],
                files: Vec::new(),
            })
            .unwrap();
        c.close().unwrap();
        (note, secret)
    };
    let index_dir = config.data_dir.search_index();
    std::fs::remove_dir_all(&index_dir).unwrap();
    std::fs::create_dir_all(&index_dir).unwrap();
    {
        let mut b = tantivy::schema::Schema::builder();
        let key = b.add_text_field("key", STRING | STORED);
        let body = b.add_text_field("body", TEXT | STORED);
        let index = tantivy::Index::create_in_dir(&index_dir, b.build()).unwrap();
        let mut writer: tantivy::IndexWriter =
            index.writer_with_num_threads(1, 15_000_000).unwrap();
        writer
            .add_document(tantivy::doc!(key => "e:00", body => "a stale quokka"))
            .unwrap();
        let mut prepared = writer.prepare_commit().unwrap();
        prepared.set_payload("1000000");
        prepared.commit().unwrap();
    }

    let mut c = Core::open(config, keypair).unwrap();
    let mut hits = c
        .run(ops::Search {
            q: "quokka".into(),
            ..Default::default()
        })
        .unwrap();
    hits.sort_by(|a, b| a.id.cmp(&b.id));
    let mut expected = vec![
        (note.id.to_string(), "the quokka smiles", SearchKind::Note),
        (
            secret.id.to_string(),
            "a quokka in the circle",
            SearchKind::Question,
        ),
    ];
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    let found: Vec<(String, &str, SearchKind)> = hits
        .iter()
        .map(|h| (h.id.clone(), h.snippet.text.as_str(), h.kind))
        .collect();
    assert_eq!(found, expected);
    assert_eq!(c.search.len(), 2, "the old index's documents are gone");
}

/// A store restored from an older copy beside a newer search index: the
/// index is rebuilt at open, so it neither finds what the store no longer
/// holds nor finds a post twice once a peer sends it again (a post stored
/// anew is only added to the index, never replaced).
#[test]
fn a_store_restored_from_an_older_copy_rebuilds_a_newer_search_index() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::new(DataDir::new(dir.path()));
    let keypair = Keypair::from_secret(&[1; 32]);
    let peer = Keypair::from_secret(&[2; 32]);
    let scratch = Store::temporary().unwrap();
    let post = crate::testing::note_body;
    let log = scratch
        .append_many(
            &peer,
            &[
                post("kept in the backup: aardvark"),
                post("after the backup: zebra"),
            ],
            1_700_000_000_000,
        )
        .unwrap();
    let copy = dir.path().join("store-backup");
    {
        let mut c = Core::open(config.clone(), keypair.clone()).unwrap();
        c.run(ops::TrustAdd {
            author: peer.author().into(),
            petname: None,
        })
        .unwrap();
        assert!(c.ingest(&log[..1]).error.is_none());
        c.close().unwrap();
    }
    crate::testing::copy_dir(&config.data_dir.store(), &copy);
    {
        let mut c = Core::open(config.clone(), keypair.clone()).unwrap();
        assert!(c.ingest(&log[1..]).error.is_none());
        c.close().unwrap();
    }
    std::fs::remove_dir_all(config.data_dir.store()).unwrap();
    crate::testing::copy_dir(&copy, &config.data_dir.store());
    let mut c = Core::open(config, keypair).unwrap();
    c.finish_pending_rebuild().unwrap();
    let hits = |c: &mut Core, q: &str| {
        c.run(ops::Search {
            q: q.into(),
            ..Default::default()
        })
        .unwrap()
        .len()
    };
    assert_eq!(hits(&mut c, "aardvark"), 1);
    assert_eq!(hits(&mut c, "zebra"), 0, "not in the restored store");
    assert!(c.ingest(&log[1..]).error.is_none());
    assert_eq!(hits(&mut c, "zebra"), 1, "sent again: found once");
}

#[test]
fn profiles_name_authors_unless_a_petname_wins() {
    let mut alice = core(1, 1);
    let mut bob = core(2, 1);
    trust(&mut alice, &bob);
    bob.run(ops::ProfileSet {
        name: "Robert".into(),
        about: "Rust, storage".into(),
    })
    .unwrap();
    sync(&bob, &mut alice);
    let p = alice
        .run(ops::Profile {
            author: bob.me().into(),
        })
        .unwrap();
    assert_eq!(p.name.as_deref(), Some("Robert"));
    assert_eq!(p.about.as_deref(), Some("Rust, storage"));
    assert_eq!(p.display_name.as_deref(), Some("Robert"));
    alice
        .run(ops::TrustAdd {
            author: bob.me().into(),
            petname: Some("Bobby".into()),
        })
        .unwrap();
    assert_eq!(
        alice
            .run(ops::Profile {
                author: bob.me().into()
            })
            .unwrap()
            .display_name
            .as_deref(),
        Some("Bobby")
    );
    let b = note(&mut bob, "hi", &[]);
    sync(&bob, &mut alice);
    assert_eq!(
        alice
            .run(ops::Feed::default())
            .unwrap()
            .iter()
            .find(|e| e.id == b.id)
            .unwrap()
            .author_name
            .as_deref(),
        Some("Bobby")
    );
}

/// An own post is durable before it is acknowledged: the post's write is
/// followed by one `fdatasync` of the store's data file (sled 0.34's own
/// flush ends with `sync_file_range`, which leaves the disk's write cache
/// unflushed), inside the call that returns the post's id. Entries from
/// peers are not synced one by one.
#[test]
fn an_own_post_is_fdatasynced_before_its_id_is_returned() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(DataDir::new(dir.path()));
    config.witness_dir = Some(dir.path().join("witness"));
    let mut c = Core::open(config, Keypair::from_secret(&[1; 32])).unwrap();
    note(&mut c, "first", &[]);
    let before = c.store().kv().durable_syncs();
    let posted = note(&mut c, "acknowledged means on the platter", &[]);
    assert_eq!(c.store().kv().durable_syncs(), before + 1);
    assert!(c.store().get(&posted.id).unwrap().is_some());
    // A peer's entries: stored, not synced each.
    let peer = Keypair::from_secret(&[2; 32]);
    c.run(ops::TrustAdd {
        author: peer.author().into(),
        petname: None,
    })
    .unwrap();
    let scratch = Store::temporary().unwrap();
    let entries = scratch
        .append_many(
            &peer,
            &[kith_protocol::Body::Post(kith_protocol::Post {
                kind: kith_protocol::PostKind::Note,
                text: "from a peer".into(),
                reply_to: None,
                tags: vec![],
                files: Vec::new(),
                mentions: Vec::new(),
            })],
            1_700_000_000_000,
        )
        .unwrap();
    let synced = c.store().kv().durable_syncs();
    assert!(c.ingest(&entries).error.is_none());
    assert_eq!(c.store().kv().durable_syncs(), synced);

    // They are made durable before the search index that holds them is
    // committed, so no committed index holds a post a crash could take
    // from the store, and a post stored anew is only added to the index
    // (a replacement would hold a delete query until the commit).
    assert_eq!(c.search.replacing(), 0);
    c.search_flush().unwrap();
    assert_eq!(c.store().kv().durable_syncs(), synced + 1);
    c.search_flush().unwrap();
    assert_eq!(
        c.store().kv().durable_syncs(),
        synced + 1,
        "nothing written since: no sync"
    );
}

#[test]
fn an_export_of_many_pages_carries_each_entry_once_in_log_order() {
    let a = core(1, 1);
    let key = Keypair::from_secret(&[1; 32]);
    let bodies: Vec<kith_protocol::Body> = (0..2_500)
        .map(|i| {
            kith_protocol::Body::Post(kith_protocol::Post {
                kind: PostKind::Note,
                text: format!("note {i}"),
                reply_to: None,
                tags: vec![],
                files: Vec::new(),
                mentions: Vec::new(),
            })
        })
        .collect();
    a.store()
        .append_many(&key, &bodies, 1_700_000_000_000)
        .unwrap();
    // The recipient has the first 700: the export reads the other 1,800
    // across pages of EXPORT_PAGE entries.
    let since = crate::bundle::FrontierFile::new(
        a.me(),
        0,
        &[(
            a.me(),
            kith_protocol::Head {
                seq: 700,
                id: a.store().entry_at(&a.me(), 700).unwrap().unwrap().id(),
            },
        )]
        .into(),
    );
    let mut reported = Vec::new();
    let bytes = a
        .reader()
        .bundle(
            &ops::Bundle {
                recipient: None,
                authors: vec![],
                since: Some(serde_json::to_string(&since).unwrap()),
                with_blobs: false,
            },
            |done, total| reported.push((done, total)),
        )
        .unwrap();
    let read = crate::bundle::read(&bytes, &kith_protocol::Limits::default()).unwrap();
    assert!(read.problems.is_empty(), "{:?}", read.problems);
    assert_eq!(read.header.entries, 1_800);
    let seqs: Vec<u64> = read.entries.iter().map(|e| e.seq()).collect();
    assert_eq!(seqs, (701..=2_500).collect::<Vec<_>>());
    assert_eq!(reported, vec![(1_800, 1_800)]);

    // A log with a record missing is not exported short without a word.
    let key = crate::store::entry_key(&a.me(), 2_000)
        .with_prefix(crate::store::keyspace::Space::Entry.prefix()[0]);
    a.store().kv().remove(key).unwrap();
    let err = a
        .reader()
        .bundle(&ops::Bundle::default(), |_, _| {})
        .unwrap_err();
    assert!(
        matches!(&err, Error::Conflict(m) if m.contains("2499 of the 2500")),
        "{err}"
    );
}

/// PROTOCOL.md §6 "What a receiver enforces": a peer's entry whose body
/// does not decode as its kind is stored, so the chain stays intact and
/// the next entry is accepted, but it feeds no view (a post that does not
/// decode is not in the feed). A device link whose consent is not 64 bytes
/// is such a body.
#[test]
fn a_peer_body_that_does_not_decode_is_kept_but_feeds_no_view() {
    use kith_protocol::{Body, Draft, Entry, Post};
    let mut a = core(1, 1);
    let b = core(2, 1);
    trust(&mut a, &b);
    let author = Keypair::from_secret(&[2; 32]);
    let device = Keypair::from_secret(&[3; 32]).author();
    // Kind 9 with a 63-byte consent: postcard reads a `consent` of another
    // length as malformed.
    let mut link = vec![9];
    link.extend_from_slice(device.as_bytes());
    link.push(0); // an empty name
    link.push(63);
    link.extend_from_slice(&[7; 63]);
    let post = |text: &str| {
        Body::Post(Post {
            kind: PostKind::Note,
            text: text.into(),
            reply_to: None,
            tags: vec![],
            files: Vec::new(),
            mentions: Vec::new(),
        })
        .encode()
    };
    let bodies = [vec![1, 0xff, 0xff], link, post("after the damage")];
    let mut prev = None;
    let mut entries = Vec::new();
    for (i, body) in bodies.into_iter().enumerate() {
        let entry = Entry::sign(
            &author,
            Draft {
                seq: i as u64 + 1,
                prev,
                timestamp_ms: now_ms(),
                body,
            },
        );
        prev = Some(entry.id());
        entries.push(entry);
    }
    assert!(matches!(
        Body::decode(entries[1].body().unwrap()),
        Err(kith_protocol::BodyError::Malformed(_))
    ));
    let outcome = a.ingest(&entries);
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(a.store().head(&author.author()).unwrap().unwrap().seq, 3);
    let feed = a.run(ops::Feed::default()).unwrap();
    let theirs: Vec<&str> = feed
        .iter()
        .filter(|e| e.author == author.author())
        .filter_map(|e| e.text.as_deref())
        .collect();
    assert_eq!(theirs, ["after the damage"]);
}
