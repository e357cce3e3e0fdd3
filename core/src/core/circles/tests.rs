//! Circles on in-process cores: who reads what, removal, concurrent
//! membership changes, circle pages and circle Q&A.

use kith_protocol::circle::{Change, Randomness};
use kith_protocol::{AuthorId, Body, Keypair, PostKind};

use super::*;
use crate::config::{Config, DataDir};
use crate::model::{CircleView, EntryView};
use crate::ops;
use crate::testing;

const NAMES: [&str; 5] = ["alice", "bob", "carol", "dave", "eve"];

fn node(seed: u8) -> Core {
    let mut core = testing::core(seed);
    core.run(ops::ProfileSet {
        name: NAMES[usize::from(seed - 1)].into(),
        about: String::new(),
    })
    .unwrap();
    core.ensure_encryption_key().unwrap();
    core
}

/// `n` people who all trust each other, each holding the others' logs.
pub(super) fn people(n: u8) -> Vec<Core> {
    let mut cores: Vec<Core> = (1..=n).map(node).collect();
    testing::trust_all(&mut cores);
    everyone(&mut cores);
    cores
}

/// Everything `from` wrote that `to` lacks.
pub(super) fn sync(cores: &mut [Core], from: usize, to: usize) {
    let (from, to) = testing::pair(cores, from, to);
    testing::copy_log(from, to);
}

pub(super) use testing::everyone;

pub(super) fn post(core: &mut Core, text: &str, circle: Option<&str>) -> EntryView {
    core.run(ops::Post {
        circle: circle.map(String::from),
        text: text.into(),
        kind: PostKind::Note,
        reply_to: None,
        tags: vec![],
        files: Vec::new(),
    })
    .unwrap()
}

/// `core`'s person removes `member` from the circle "team".
pub(super) fn remove(core: &mut Core, member: &str) {
    core.run(ops::CircleRemove {
        circle: "team".into(),
        member: member.into(),
    })
    .unwrap();
}

fn feed_texts(core: &mut Core) -> Vec<Option<String>> {
    core.run(ops::Feed::default())
        .unwrap()
        .into_iter()
        .map(|v| v.text)
        .collect()
}

pub(super) fn reads(core: &mut Core, text: &str) -> bool {
    feed_texts(core).iter().any(|t| t.as_deref() == Some(text))
}

fn finds(core: &mut Core, word: &str) -> bool {
    !core
        .run(ops::Search {
            q: word.into(),
            ..Default::default()
        })
        .unwrap()
        .is_empty()
}

/// Whether any value in the store holds `needle` (the plaintext check).
fn store_holds(core: &Core, needle: &[u8]) -> bool {
    core.store()
        .kv()
        .scan_prefix(b"")
        .any(|kv| kv.is_ok_and(|(_, v)| v.windows(needle.len()).any(|w| w == needle)))
}

#[test]
fn members_read_and_search_a_circle_and_a_trusted_non_member_carries_only_ciphertext() {
    let mut p = people(4);
    let view = p[0]
        .run(ops::CircleCreate {
            name: "team".into(),
            members: vec!["bob".into(), "dave".into()],
        })
        .unwrap();
    assert_eq!(view.members.len(), 3);
    let secret = post(&mut p[0], "the launch moves to friday", Some("team"));
    assert_eq!(secret.circle.as_deref(), Some("team"));
    everyone(&mut p);

    assert!(reads(&mut p[1], "the launch moves to friday"));
    assert!(finds(&mut p[1], "friday"));
    let bobs = p[1].run(ops::Feed::default()).unwrap();
    assert_eq!(bobs[0].circle.as_deref(), Some("team"));
    // Carol holds the entry (she replicates Alice) but cannot read it.
    let carols = p[2].run(ops::Feed::default()).unwrap();
    assert!(
        carols.iter().all(|v| v.id != secret.id),
        "an unreadable entry is not a post"
    );
    assert!(p[2].store().get(&secret.id).unwrap().is_some());
    assert!(!finds(&mut p[2], "friday"));
    assert!(!store_holds(&p[2], b"friday"));
    assert!(store_holds(&p[1], b"friday"));
    let list = p[2].run(ops::CircleList {}).unwrap();
    assert_eq!(list.len(), 1);
    assert!(!list[0].member && list[0].name.is_none());

    // A reply stays in the circle without being told.
    let reply = p[1]
        .run(ops::Reply {
            id: secret.id.into(),
            text: "friday works for me".into(),
            tags: vec![],
            files: Vec::new(),
        })
        .unwrap();
    let raw = p[1].store().get(&reply.id).unwrap().unwrap();
    assert!(matches!(
        Body::decode(raw.body().unwrap()),
        Ok(Body::Sealed(_))
    ));
    everyone(&mut p);
    let thread = p[0]
        .run(ops::Thread {
            id: secret.id.into(),
        })
        .unwrap();
    assert_eq!(thread.replies.len(), 1);
    assert!(!store_holds(&p[2], b"works for me"));

    // A deleted circle post takes no replies (they could go out public).
    p[0].run(ops::Delete {
        id: secret.id.into(),
    })
    .unwrap();
    everyone(&mut p);
    let refused = p[1].run(ops::Reply {
        id: secret.id.into(),
        text: "too late".into(),
        tags: vec![],
        files: Vec::new(),
    });
    assert!(refused.is_err(), "{refused:?}");
    // Public posts are untouched.
    post(&mut p[0], "public hello", None);
    everyone(&mut p);
    assert!(reads(&mut p[2], "public hello"));
}

#[test]
fn a_removed_member_keeps_what_they_had_and_reads_nothing_new() {
    let mut p = people(3);
    p[0].run(ops::CircleCreate {
        name: "team".into(),
        members: vec!["bob".into(), "carol".into()],
    })
    .unwrap();
    post(&mut p[0], "before the removal", Some("team"));
    everyone(&mut p);
    assert!(reads(&mut p[2], "before the removal"));

    let view = p[0]
        .run(ops::CircleRemove {
            circle: "team".into(),
            member: "carol".into(),
        })
        .unwrap();
    assert_eq!(view.members.len(), 2);
    post(&mut p[0], "after the removal", Some("team"));
    everyone(&mut p);
    assert!(reads(&mut p[1], "after the removal"));
    assert!(
        reads(&mut p[2], "before the removal"),
        "she keeps what she had"
    );
    assert!(!reads(&mut p[2], "after the removal"));
    assert!(!store_holds(&p[2], b"after the removal"));
    let carol = p[2]
        .run(ops::CircleShow {
            circle: "team".into(),
        })
        .unwrap();
    // She reads the change that removed her (every holder of the circle
    // key does), so her node agrees with everyone else's.
    assert!(!carol.member, "{carol:?}");
    assert_eq!(carol.members.len(), 2);
    assert!(
        carol
            .changes
            .iter()
            .any(|c| c.change == "removed carol" && c.counted),
        "{carol:?}"
    );
    // She can no longer write into it either.
    let refused = p[2].run(ops::Post {
        circle: Some("team".into()),
        text: "still here?".into(),
        kind: PostKind::Note,
        reply_to: None,
        tags: vec![],
        files: Vec::new(),
    });
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.to_string().contains("not a member")),
        "{refused:?}"
    );
    // Bob leaves: the epoch that says so is his, so the next post starts
    // a new one he cannot read.
    remove(&mut p[1], "me");
    everyone(&mut p);
    post(&mut p[0], "after bob left", Some("team"));
    everyone(&mut p);
    assert!(!reads(&mut p[1], "after bob left"));
    assert!(!store_holds(&p[1], b"after bob left"));
    // A reindex on Bob rebuilds the circle's views from the entries.
    p[1].run(ops::Reindex {}).unwrap();
    assert!(reads(&mut p[1], "after the removal"));
    assert!(finds(&mut p[1], "removal"));
}

#[test]
fn concurrent_offline_membership_changes_converge_and_cut_off_the_removed() {
    let mut p = people(4);
    p[0].run(ops::CircleCreate {
        name: "team".into(),
        members: vec!["bob".into(), "carol".into(), "dave".into()],
    })
    .unwrap();
    everyone(&mut p);
    // Offline at once: Alice removes Carol, Bob removes Dave, and Carol,
    // not knowing, posts.
    remove(&mut p[0], "carol");
    remove(&mut p[1], "dave");
    post(&mut p[2], "carol was not told", Some("team"));
    // Different delivery orders.
    for (from, to) in [(2, 0), (1, 0), (0, 1), (2, 1), (0, 3), (1, 3), (2, 3)] {
        sync(&mut p, from, to);
    }
    let a = p[0]
        .run(ops::CircleShow {
            circle: "team".into(),
        })
        .unwrap();
    let b = p[1]
        .run(ops::CircleShow {
            circle: "team".into(),
        })
        .unwrap();
    let names = |v: &CircleView| -> Vec<Option<String>> {
        v.members.iter().map(|m| m.name.clone()).collect()
    };
    assert_eq!(names(&a), names(&b));
    assert_eq!(a.members.len(), 2, "{a:?}");
    assert_eq!(a.epoch, b.epoch);
    assert!(a.needs_new_epoch, "two concurrent epochs to merge");
    assert!(!reads(&mut p[0], "carol was not told"));
    assert!(!reads(&mut p[1], "carol was not told"));
    // The next write merges: only Alice and Bob read it.
    post(&mut p[1], "just us two", Some("team"));
    everyone(&mut p);
    assert!(reads(&mut p[0], "just us two"));
    assert!(!reads(&mut p[2], "just us two"));
    assert!(!reads(&mut p[3], "just us two"));
    let a = p[0]
        .run(ops::CircleShow {
            circle: "team".into(),
        })
        .unwrap();
    assert!(!a.needs_new_epoch);
}

#[test]
fn an_added_member_reads_from_the_join_on_unless_given_history() {
    let mut p = people(3);
    p[0].run(ops::CircleCreate {
        name: "team".into(),
        members: vec!["bob".into()],
    })
    .unwrap();
    post(&mut p[0], "old news", Some("team"));
    p[0].run(ops::CircleAdd {
        circle: "team".into(),
        member: "carol".into(),
        history: false,
    })
    .unwrap();
    post(&mut p[0], "fresh news", Some("team"));
    everyone(&mut p);
    assert!(reads(&mut p[2], "fresh news"));
    assert!(!reads(&mut p[2], "old news"));
    let c = p[2]
        .run(ops::CircleShow {
            circle: "team".into(),
        })
        .unwrap();
    assert!(c.member);
    assert_eq!(
        c.changes.len(),
        2,
        "she reads every membership change: {c:?}"
    );

    let mut q = people(3);
    q[0].run(ops::CircleCreate {
        name: "team".into(),
        members: vec!["bob".into()],
    })
    .unwrap();
    post(&mut q[0], "old news", Some("team"));
    q[0].run(ops::CircleAdd {
        circle: "team".into(),
        member: "carol".into(),
        history: true,
    })
    .unwrap();
    everyone(&mut q);
    assert!(reads(&mut q[2], "old news"));
}

#[test]
fn circle_pages_merge_concurrent_edits_and_stay_in_the_circle() {
    let mut p = people(3);
    p[0].run(ops::CircleCreate {
        name: "team".into(),
        members: vec!["bob".into()],
    })
    .unwrap();
    let page = p[0]
        .run(ops::WikiNew {
            title: "Plan".into(),
            body: "We ship on Monday.\n\nThe demo is at noon.\n".into(),
            circle: Some("team".into()),
        })
        .unwrap();
    everyone(&mut p);
    let id = page.id.to_string();
    // Offline at once: both rewrite the same sentence and Bob another one.
    p[0].run(ops::WikiEdit {
        page: id.clone(),
        body: "We ship on Friday.\n\nThe demo is at noon.\n".into(),
        base: None,
    })
    .unwrap();
    p[1].run(ops::WikiEdit {
        page: id.clone(),
        body: "We ship on Tuesday.\n\nThe demo is at three.\n".into(),
        base: None,
    })
    .unwrap();
    everyone(&mut p);
    let a = p[0].run(ops::WikiShow { page: id.clone() }).unwrap();
    let b = p[1].run(ops::WikiShow { page: id.clone() }).unwrap();
    assert_eq!(a.body, b.body);
    assert!(a.body.contains("three"), "{}", a.body);
    assert!(
        a.body.contains("Friday") || a.body.contains("Tuesday"),
        "{}",
        a.body
    );
    // Every edit was sealed; Carol has no page and no plaintext.
    for e in p[1].store().log(&p[1].me(), 1, usize::MAX).unwrap() {
        if let Some(Ok(body)) = e.body().map(Body::decode) {
            assert!(
                body.wiki_part().is_none(),
                "a circle page's edit went out in the clear"
            );
        }
    }
    assert!(p[2].run(ops::WikiShow { page: id }).is_err());
    assert!(!store_holds(&p[2], b"demo is at"));
}

/// A page id is its author's choice. One that starts with a byte of a
/// wiki record's sub-space (`m`, 0x6d: page metadata) once made the
/// circle's page record read as wiki metadata and stopped the store thread
/// of every member listing pages.
#[test]
fn a_circle_page_whose_id_reads_as_a_wiki_record_breaks_nothing() {
    let mut p = people(2);
    p[0].run(ops::CircleCreate {
        name: "team".into(),
        members: vec!["bob".into()],
    })
    .unwrap();
    everyone(&mut p);
    let circle = p[1].circle_named("team").unwrap();
    // The page is named by the circle and the id written: grind the
    // written id until that name starts with the byte.
    let written = (0u32..)
        .map(|n| {
            let mut id = [0u8; 16];
            id[..4].copy_from_slice(&n.to_le_bytes());
            kith_protocol::PageId(id)
        })
        .find(|w| circle::circle_page(&circle, w).0[0] == 0x6d)
        .unwrap();
    p[1].wiki_new_with_id(
        written,
        "Crafted",
        "An id chosen to collide.\n",
        Some(circle),
    )
    .unwrap();
    everyone(&mut p);
    for core in &mut p {
        let pages = core.run(ops::WikiList { archived: false }).unwrap();
        assert_eq!(pages.len(), 1, "{pages:?}");
        assert_eq!(pages[0].title, "Crafted");
        let page = core
            .run(ops::WikiShow {
                page: "Crafted".into(),
            })
            .unwrap();
        assert_eq!(page.body, "An id chosen to collide.\n");
        assert_eq!(page.id.0[0], 0x6d);
        assert_eq!(core.store().page_circle(&page.id).unwrap(), Some(circle));
    }
}

/// A member of two circles (or anyone, in the clear) writes a change
/// under the id another circle's page carries. Once, the page went to the
/// circle whose change a node opened first, so the order of arrival
/// decided what each member saw. Now the circle is part of a page's
/// identity: the same pages on every node, whatever the order.
#[test]
fn a_page_id_written_in_another_circle_names_another_page_whatever_arrives_first() {
    let mut p = people(4); // alice, bob, carol (the adversary), dave
    p[0].run(ops::CircleCreate {
        name: "team".into(),
        members: vec!["bob".into(), "carol".into(), "dave".into()],
    })
    .unwrap();
    p[2].run(ops::CircleCreate {
        name: "side".into(),
        members: vec!["bob".into(), "dave".into()],
    })
    .unwrap();
    everyone(&mut p);
    let plan = p[0]
        .run(ops::WikiNew {
            title: "Plan".into(),
            body: "We ship on Monday.\n".into(),
            circle: Some("team".into()),
        })
        .unwrap();
    sync(&mut p, 0, 2);
    // Carol reads the id Alice's changes carry and writes under it in her
    // own circle, and in the clear.
    let team = p[2].circle_named("team").unwrap();
    let side = p[2].circle_named("side").unwrap();
    let (circle, written) = p[2].store().circle_page(&plan.id).unwrap().unwrap();
    assert_eq!(circle, team);
    p[2].wiki_new_with_id(written, "Side plan", "We ship never.\n", Some(side))
        .unwrap();
    p[2].wiki_new_with_id(written, "Public plan", "Public notes.\n", None)
        .unwrap();
    // Bob hears Alice first, Dave hears Carol first.
    sync(&mut p, 0, 1);
    sync(&mut p, 2, 1);
    sync(&mut p, 2, 3);
    sync(&mut p, 0, 3);
    let mut seen = Vec::new();
    for i in [1, 3] {
        let shown = p[i]
            .run(ops::WikiShow {
                page: plan.id.to_string(),
            })
            .unwrap();
        assert_eq!(shown.body, "We ship on Monday.\n", "node {i}");
        assert_eq!(shown.authors, vec![p[0].me()], "node {i}");
        assert_eq!(p[i].store().page_circle(&plan.id).unwrap(), Some(team));
        let mut pages: Vec<(String, Option<CircleId>, String)> = p[i]
            .run(ops::WikiList { archived: false })
            .unwrap()
            .into_iter()
            .map(|s| {
                let id = s.id;
                let body = p[i]
                    .run(ops::WikiShow {
                        page: id.to_string(),
                    })
                    .unwrap()
                    .body;
                (id.to_string(), p[i].store().page_circle(&id).unwrap(), body)
            })
            .collect();
        pages.sort();
        seen.push(pages);
    }
    assert_eq!(seen[0], seen[1], "Bob and Dave see different pages");
    let bodies: BTreeSet<(Option<CircleId>, &str)> =
        seen[0].iter().map(|(_, c, b)| (*c, b.as_str())).collect();
    assert_eq!(
        bodies,
        BTreeSet::from([
            (Some(team), "We ship on Monday.\n"),
            (Some(side), "We ship never.\n"),
            (None, "Public notes.\n"),
        ])
    );
    // Each page's edits stay in its own circle: Bob edits the side page,
    // and Alice (not in it) still sees only her own page.
    let side_page = circle::circle_page(&side, &written);
    p[1].run(ops::WikiEdit {
        page: side_page.to_string(),
        body: "We ship never, says Bob.\n".into(),
        base: None,
    })
    .unwrap();
    everyone(&mut p);
    assert!(
        p[0].run(ops::WikiShow {
            page: side_page.to_string()
        })
        .is_err()
    );
    let alice = p[0]
        .run(ops::WikiShow {
            page: plan.id.to_string(),
        })
        .unwrap();
    assert_eq!(alice.body, "We ship on Monday.\n");
    let dave = p[3]
        .run(ops::WikiShow {
            page: side_page.to_string(),
        })
        .unwrap();
    assert_eq!(dave.body, "We ship never, says Bob.\n");
}

#[test]
fn circle_questions_rank_their_answers() {
    let mut p = people(3);
    p[0].run(ops::CircleCreate {
        name: "team".into(),
        members: vec!["bob".into(), "carol".into()],
    })
    .unwrap();
    let asked = p[0]
        .run(ops::Ask {
            circle: Some("team".into()),
            text: "which database for the cache?".into(),
            tags: vec![],
            yes: true,
        })
        .unwrap()
        .posted
        .unwrap();
    everyone(&mut p);
    let bob = p[1]
        .run(ops::Answer {
            id: asked.id.into(),
            text: "sled, it is embedded".into(),
            tags: vec![],
            files: Vec::new(),
        })
        .unwrap();
    let carol = p[2]
        .run(ops::Answer {
            id: asked.id.into(),
            text: "redis".into(),
            tags: vec![],
            files: Vec::new(),
        })
        .unwrap();
    everyone(&mut p);
    p[0].run(ops::Endorse {
        id: bob.id.into(),
        note: None,
        withdraw: false,
    })
    .unwrap();
    p[2].run(ops::Endorse {
        id: bob.id.into(),
        note: None,
        withdraw: false,
    })
    .unwrap();
    p[0].run(ops::Accept {
        id: carol.id.into(),
        withdraw: false,
    })
    .unwrap();
    everyone(&mut p);
    let thread = p[1]
        .run(ops::Thread {
            id: asked.id.into(),
        })
        .unwrap();
    assert_eq!(thread.answers.len(), 2);
    assert_eq!(thread.answers[0].entry.id, carol.id, "accepted first");
    assert!(thread.answers[0].accepted);
    assert_eq!(thread.answers[1].endorsed_by.len(), 2);
    assert!(thread.answers[1].score > 0.0);
}

#[test]
fn a_trusted_non_member_can_neither_take_over_a_circle_nor_block_it() {
    let mut p = people(3);
    let view = p[0]
        .run(ops::CircleCreate {
            name: "team".into(),
            members: vec!["bob".into()],
        })
        .unwrap();
    post(&mut p[0], "first words", Some("team"));
    everyone(&mut p);
    // Carol sees the circle's id on the entries she carries. She signs a
    // creation of her own, relabelled with that id and wrapped to the
    // members, listing herself; and an epoch of that circle wrapped to
    // nobody but herself.
    let keys: Vec<[u8; 32]> = [0, 1, 2]
        .iter()
        .map(|i| p[*i].store().encryption_key(&p[*i].me()).unwrap().unwrap())
        .collect();
    let carol = p[2].me();
    let recipients: Vec<(AuthorId, [u8; 32])> = [0, 1, 2]
        .iter()
        .map(|i| p[*i].me())
        .zip(keys.iter().copied())
        .collect();
    let mut rng = Randomness::from_seed([4; 32]);
    let fake = circle::NewEpoch {
        parents: vec![],
        change: Change::Create {
            name: "team".into(),
            members: vec![p[0].me(), p[1].me()],
        },
        recipients: recipients.clone(),
        history: vec![],
    };
    let mut takeover = circle::seal_epoch(None, &carol, fake, &mut rng)
        .unwrap()
        .body;
    takeover.circle = view.id;
    // Without the circle key she can only make up one of her own.
    let junk = circle::NewEpoch {
        parents: vec![],
        change: Change::Rekey,
        recipients: recipients[2..].to_vec(),
        history: vec![],
    };
    let noise = circle::seal_epoch(
        Some((view.id, circle::CircleKey([9; 32]))),
        &carol,
        junk,
        &mut rng,
    )
    .unwrap()
    .body;
    p[2].append_raw(&[Body::CircleEpoch(takeover), Body::CircleEpoch(noise)])
        .unwrap();
    everyone(&mut p);
    for i in [0, 1] {
        let v = p[i]
            .run(ops::CircleShow {
                circle: "team".into(),
            })
            .unwrap();
        assert_eq!(v.members.len(), 2, "{v:?}");
        assert_eq!(v.unreadable, 2, "both of Carol's epochs are junk: {v:?}");
        assert!(reads(&mut p[i], "first words"));
    }
    post(&mut p[1], "still ours", Some("team"));
    everyone(&mut p);
    assert!(reads(&mut p[0], "still ours"));
    assert!(!reads(&mut p[2], "still ours"));
}

#[test]
fn a_member_restored_from_an_old_backup_goes_on_under_a_new_key_in_her_circles() {
    let (data, state) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let open = || {
        let mut config = Config::new(DataDir::new(data.path()));
        config.witness_dir = Some(state.path().to_path_buf());
        Core::open(config, Keypair::from_secret(&[1; 32])).unwrap()
    };
    let mut alice = open();
    alice.ensure_encryption_key().unwrap();
    let mut bob = node(2);
    let old = alice.me();
    alice
        .run(ops::TrustAdd {
            author: bob.me().into(),
            petname: Some("bob".into()),
        })
        .unwrap();
    bob.run(ops::TrustAdd {
        author: old.into(),
        petname: None,
    })
    .unwrap();
    let copy = |from: &Core, key: AuthorId, to: &mut Core| {
        let have = to.store().head(&key).unwrap().map_or(0, |h| h.seq);
        let entries = from.store().log(&key, have + 1, usize::MAX).unwrap();
        let outcome = to.ingest(&entries);
        assert!(outcome.error.is_none(), "{:?}", outcome.error);
    };
    copy(&bob, bob.me(), &mut alice);
    alice
        .run(ops::CircleCreate {
            name: "team".into(),
            members: vec!["bob".into()],
        })
        .unwrap();
    post(&mut alice, "written before the restore", Some("team"));
    copy(&alice, old, &mut bob);
    assert!(reads(&mut bob, "written before the restore"));

    // Alice's node goes on under a new log key (PROTOCOL.md §11.6).
    let new = alice.succeed().unwrap();
    alice.close().unwrap();
    drop(alice);
    let mut alice = open();
    assert_eq!(alice.me(), new);
    post(&mut alice, "written under the new key", Some("team"));
    // Bob follows her to the new key (the handover is offered to him).
    let handover = alice.store().entry_at(&new, 1).unwrap().unwrap();
    let checked = Verified::check(handover, &Default::default(), crate::core::now_ms()).unwrap();
    assert_eq!(bob.ingest_offered(vec![checked]).appended.len(), 1);
    copy(&alice, new, &mut bob);
    // The new key is hers in the circle: its post counts for Bob, and she
    // still reads what was wrapped to her old key.
    assert!(reads(&mut bob, "written under the new key"));
    assert!(reads(&mut alice, "written before the restore"));
    let view = bob
        .run(ops::CircleShow {
            circle: "team".into(),
        })
        .unwrap();
    assert_eq!(view.members.len(), 2, "{view:?}");
}

#[test]
fn a_members_new_device_reads_what_every_member_could_read_before_it() {
    let mut p = people(2);
    p[0].run(ops::CircleCreate {
        name: "team".into(),
        members: vec!["bob".into()],
    })
    .unwrap();
    post(&mut p[0], "before the laptop", Some("team"));
    everyone(&mut p);
    // Bob links a laptop; it holds his and Alice's logs.
    let laptop_key = Keypair::from_secret(&[9; 32]);
    let bob = p[1].me();
    p[1].run(ops::DeviceAdd {
        link: kith_protocol::DeviceLink::new(&bob, &laptop_key, "laptop"),
    })
    .unwrap();
    let mut laptop = testing::core(9);
    laptop.ensure_encryption_key().unwrap();
    for core in &p {
        laptop
            .run(ops::TrustAdd {
                author: core.me().into(),
                petname: None,
            })
            .unwrap();
    }
    everyone(&mut p);
    let copy = |from: &Core, to: &mut Core| {
        let key = from.me();
        let have = to.store().head(&key).unwrap().map_or(0, |h| h.seq);
        let entries = from.store().log(&key, have + 1, usize::MAX).unwrap();
        let outcome = to.ingest(&entries);
        assert!(outcome.error.is_none(), "{:?}", outcome.error);
    };
    copy(&p[1], &mut laptop);
    copy(&laptop, &mut p[0]);
    // Alice's next post starts an epoch wrapped to the laptop too, with
    // the earlier content keys every member already had.
    post(&mut p[0], "after the laptop", Some("team"));
    copy(&p[0], &mut laptop);
    assert!(reads(&mut laptop, "after the laptop"));
    assert!(reads(&mut laptop, "before the laptop"));
}

#[test]
fn a_merging_epoch_gives_newcomers_nothing_from_before_they_joined() {
    let mut p = people(4);
    p[0].run(ops::CircleCreate {
        name: "team".into(),
        members: vec!["bob".into()],
    })
    .unwrap();
    post(&mut p[0], "old news", Some("team"));
    everyone(&mut p);
    // At once, apart: Alice adds Carol, Bob adds Dave, neither with history.
    p[0].run(ops::CircleAdd {
        circle: "team".into(),
        member: "carol".into(),
        history: false,
    })
    .unwrap();
    p[1].run(ops::CircleAdd {
        circle: "team".into(),
        member: "dave".into(),
        history: false,
    })
    .unwrap();
    everyone(&mut p);
    // Alice's next post merges the two epochs (a Rekey with history).
    post(&mut p[0], "merged news", Some("team"));
    everyone(&mut p);
    for i in [2, 3] {
        assert!(reads(&mut p[i], "merged news"));
        assert!(!reads(&mut p[i], "old news"), "a newcomer got history");
    }
    assert!(reads(&mut p[1], "old news") && reads(&mut p[1], "merged news"));
}

/// A rebuild adds posts to the emptied search index without replacing
/// them first (tantivy holds a delete query per replacement until the
/// commit); circle posts, which open again after the walk, are still
/// replaced: every post is found once, before and after `reindex`.
#[test]
fn a_reindex_finds_every_post_once_circle_posts_included() {
    let mut p = people(2);
    p[0].run(ops::CircleCreate {
        name: "team".into(),
        members: vec!["bob".into()],
    })
    .unwrap();
    for i in 0..3 {
        post(&mut p[0], &format!("public wombat {i}"), None);
        post(&mut p[0], &format!("circle wombat {i}"), Some("team"));
    }
    everyone(&mut p);
    let hits = |core: &mut Core| {
        let mut ids: Vec<String> = core
            .run(ops::Search {
                q: "wombat".into(),
                ..Default::default()
            })
            .unwrap()
            .into_iter()
            .map(|h| h.id)
            .collect();
        ids.sort();
        ids
    };
    for core in p.iter_mut() {
        let before = hits(core);
        assert_eq!(before.len(), 6, "{before:?}");
        core.reindex().unwrap();
        assert_eq!(hits(core), before);
        core.reindex().unwrap();
        assert_eq!(hits(core), before);
    }
}
