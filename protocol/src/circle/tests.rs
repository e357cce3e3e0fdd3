use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;
use crate::body::{Post, PostKind};
use crate::entry::EntryId;

mod adversary;

fn key(n: u8) -> Keypair {
    Keypair::from_secret(&[n; 32])
}

fn post(text: &str) -> Body {
    Body::Post(Post {
        kind: PostKind::Note,
        text: text.into(),
        reply_to: None,
        tags: vec![],
        files: Vec::new(),
        mentions: Vec::new(),
    })
}

fn recipient(k: &Keypair) -> (AuthorId, [u8; 32]) {
    (k.author(), DeviceSecret::of(k).public())
}

fn create_for(author: &Keypair, others: &[&Keypair], seed: u8) -> SealedEpoch {
    let mut recipients = vec![recipient(author)];
    recipients.extend(others.iter().map(|k| recipient(k)));
    seal_epoch(
        None,
        &author.author(),
        NewEpoch {
            parents: vec![],
            change: Change::Create {
                name: "team".into(),
                members: others.iter().map(|k| k.author()).collect(),
            },
            recipients,
            history: vec![],
        },
        &mut Randomness::from_seed([seed; 32]),
    )
    .unwrap()
}

#[test]
fn a_recipient_opens_an_epoch_and_its_content_and_nobody_else_does() {
    let (alice, bob, carol) = (key(1), key(2), key(3));
    let created = create_for(&alice, &[&bob], 9);
    let epoch = &created.body;
    let circle = epoch.circle;
    assert!(epoch.ids_hold(&alice.author()));
    assert!(
        !epoch.ids_hold(&carol.author()),
        "ids are bound to the author"
    );
    assert!(created.circle_key.is_of(&circle, &epoch.epoch));
    assert!(
        !CircleKey([7; 32]).is_of(&circle, &epoch.epoch),
        "the id commits to the circle key"
    );
    let body = Body::CircleEpoch(epoch.clone());
    assert_eq!(Body::decode(&body.encode()).unwrap(), body);

    let state = epoch
        .open_state(&alice.author(), &created.circle_key)
        .unwrap();
    let db = DeviceSecret::of(&bob);
    assert_eq!(
        epoch.keys_for(&alice.author(), &db, &created.circle_key, &state),
        Some(created.keys.clone())
    );
    assert!(
        epoch
            .unwrap_all(&alice.author(), &DeviceSecret::of(&carol))
            .is_empty(),
        "Carol is not a recipient"
    );
    // The wraps and the state are bound to the epoch's author.
    assert!(epoch.unwrap_all(&carol.author(), &db).is_empty());
    assert!(
        epoch
            .open_state(&carol.author(), &created.circle_key)
            .is_err()
    );

    let mut rng = Randomness::from_seed([3; 32]);
    let sealed = seal(
        &post("secret plan"),
        circle,
        epoch.epoch,
        &alice.author(),
        &created.keys.content,
        &mut rng,
    )
    .unwrap();
    assert_eq!(
        sealed.open(&alice.author(), &created.keys.content).unwrap(),
        post("secret plan")
    );
    assert_eq!(
        sealed.open(&bob.author(), &created.keys.content),
        Err(CircleError::Decrypt)
    );
    assert_eq!(
        sealed.open(&alice.author(), &created.keys.history),
        Err(CircleError::Decrypt)
    );
    let mut bad = sealed.clone();
    bad.ct[3] ^= 1;
    assert_eq!(
        bad.open(&alice.author(), &created.keys.content),
        Err(CircleError::Decrypt)
    );
    let bytes = Body::Sealed(sealed).encode();
    assert!(!bytes.windows(6).any(|w| w == b"secret"));
}

/// A modified client that wraps a decoy secret (or another circle key) to
/// a recipient, before or after the real wrap: every wrap is tried, and a
/// wrap counts only if its circle key is the circle's and its secret gives
/// the state's key check.
#[test]
fn decoy_wraps_are_tried_and_refused_and_the_real_one_still_opens() {
    let (alice, bob) = (key(1), key(2));
    let created = create_for(&alice, &[&bob], 4);
    let db = DeviceSecret::of(&bob);
    let state = created
        .body
        .open_state(&alice.author(), &created.circle_key)
        .unwrap();
    // Decoys made with the same primitives: a wrong secret, a wrong
    // circle key.
    let decoy = |secret: [u8; 32], key: [u8; 32], seed: u8| -> Wrap {
        let mut plain = secret.to_vec();
        plain.extend_from_slice(&key);
        let pk = <Wrapper as hpke::Kem>::PublicKey::from_bytes(&db.public()).unwrap();
        let (enc, ct) = hpke::single_shot_seal_with_rng::<WrapAead, WrapKdf, Wrapper>(
            &OpModeS::Base,
            &pk,
            &wrap_info(&created.body.circle, &created.body.epoch),
            &plain,
            alice.author().as_bytes(),
            &mut Randomness::from_seed([seed; 32]).0,
        )
        .unwrap();
        Wrap {
            enc: enc.to_bytes().into(),
            ct,
        }
    };
    let wrong_secret = decoy([9; 32], created.circle_key.0, 1);
    let wrong_key = decoy([9; 32], [8; 32], 2);
    let mut epoch = created.body.clone();
    epoch.wraps.insert(0, wrong_secret.clone());
    epoch.wraps.insert(0, wrong_key.clone());
    assert_eq!(epoch.unwrap_all(&alice.author(), &db).len(), 3);
    assert_eq!(
        epoch.keys_for(&alice.author(), &db, &created.circle_key, &state),
        Some(created.keys.clone()),
        "the real wrap is found after the decoys"
    );
    // Only decoys: Bob is listed in `recipients` but holds no key.
    epoch.wraps = vec![wrong_key, wrong_secret];
    assert_eq!(
        epoch.keys_for(&alice.author(), &db, &created.circle_key, &state),
        None
    );
}

#[test]
fn junk_epochs_are_not_tried() {
    let (alice, bob) = (key(1), key(2));
    let created = create_for(&alice, &[&bob], 5);
    let db = DeviceSecret::of(&bob);
    let mut many = created.body.clone();
    while many.wraps.len() <= MAX_RECIPIENTS {
        many.wraps.push(many.wraps[0].clone());
    }
    assert!(!many.well_formed());
    assert!(many.unwrap_all(&alice.author(), &db).is_empty());
    let mut short = created.body.clone();
    short.wraps[0].ct.truncate(48);
    assert!(!short.well_formed());
    let mut none = created.body.clone();
    none.wraps.clear();
    assert!(!none.well_formed());
}

/// Someone who holds the circle key (every former member) reads every
/// epoch's state, but not the content keys an epoch hands out as history.
#[test]
fn the_circle_key_opens_states_and_not_history() {
    let (alice, bob, carol) = (key(1), key(2), key(3));
    let created = create_for(&alice, &[&bob], 6);
    let circle = created.body.circle;
    let add = seal_epoch(
        Some((circle, created.circle_key)),
        &alice.author(),
        NewEpoch {
            parents: vec![created.body.epoch],
            change: Change::Add {
                person: carol.author(),
                history: true,
            },
            recipients: vec![recipient(&alice), recipient(&carol)],
            history: vec![ContentKey {
                epoch: created.body.epoch,
                key: created.keys.content,
            }],
        },
        &mut Randomness::from_seed([7; 32]),
    )
    .unwrap();
    // Bob (not a recipient of the Add) reads its state with the circle key.
    let state = add
        .body
        .open_state(&alice.author(), &created.circle_key)
        .unwrap();
    assert!(matches!(state.change, Change::Add { .. }));
    assert!(
        add.body
            .keys_for(
                &alice.author(),
                &DeviceSecret::of(&bob),
                &created.circle_key,
                &state
            )
            .is_none()
    );
    // The history opens only with the epoch's own keys.
    let wrong = EpochKeys::derive(&[0; 32], &circle, &add.body.epoch);
    assert!(
        add.body
            .open_history(&alice.author(), &wrong.history)
            .is_err()
    );
    let keys = add
        .body
        .keys_for(
            &alice.author(),
            &DeviceSecret::of(&carol),
            &created.circle_key,
            &state,
        )
        .unwrap();
    assert_eq!(
        add.body
            .open_history(&alice.author(), &keys.history)
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn keys_and_certificates_cannot_be_sealed() {
    let alice = key(1);
    let mut rng = Randomness::from_seed([1; 32]);
    let body = Body::EncryptionKey(DeviceSecret::of(&alice).announcement());
    assert!(
        seal(
            &body,
            CircleId([0; 16]),
            EpochId([0; 16]),
            &alice.author(),
            &[0; 32],
            &mut rng
        )
        .is_err()
    );
}

#[test]
fn the_same_seed_gives_the_same_bytes() {
    let (alice, bob) = (key(1), key(2));
    assert_eq!(
        create_for(&alice, &[&bob], 5).body,
        create_for(&alice, &[&bob], 5).body
    );
}

// ---- resolution ----

fn person(n: u8) -> AuthorId {
    key(n).author()
}

fn create(members: &[u8]) -> Change {
    Change::Create {
        name: "c".into(),
        members: members.iter().map(|m| person(*m)).collect(),
    }
}

fn add(who: u8) -> Change {
    Change::Add {
        person: person(who),
        history: false,
    }
}

fn remove(who: u8, seen: u64) -> Change {
    Change::Remove {
        person: person(who),
        seen: vec![Seen {
            key: person(who),
            seq: seen,
        }],
    }
}

/// A history written by hand: persons are numbers, each writing with one
/// device at increasing seqs.
#[derive(Clone, Default)]
struct Sim {
    ops: Vec<Op>,
    seqs: BTreeMap<u8, u64>,
}

impl Sim {
    fn op(&mut self, who: u8, change: Change, parents: &[EpochId]) -> EpochId {
        let n = self.ops.len();
        let seq = self.seqs.entry(who).or_default();
        *seq += 1;
        let epoch = EpochId(
            blake3::hash(&(n as u64).to_le_bytes()).as_bytes()[..16]
                .try_into()
                .unwrap(),
        );
        self.ops.push(Op {
            id: EntryId(*blake3::hash(&(n as u64 + 1_000_000).to_le_bytes()).as_bytes()),
            person: person(who),
            device: person(who),
            seq: *seq,
            epoch,
            state: EpochState {
                parents: parents.to_vec(),
                change,
                recipients: vec![],
                key_check: [0; 32],
            },
        });
        epoch
    }

    fn root(&self) -> EpochId {
        self.ops[0].epoch
    }

    fn resolve(&self) -> Resolved {
        resolve(&self.root(), self.ops.clone())
    }
}

fn set(ps: &[u8]) -> BTreeSet<AuthorId> {
    ps.iter().map(|p| person(*p)).collect()
}

#[test]
fn concurrent_removals_both_count_and_a_removed_members_concurrent_writes_do_not() {
    let mut s = Sim::default();
    let e0 = s.op(1, create(&[2, 3, 4]), &[]);
    // Offline at once: Alice removes Carol, Bob removes Dave.
    let a = s.op(1, remove(3, 0), &[e0]);
    let b = s.op(2, remove(4, 0), &[e0]);
    // Carol, not knowing, adds Eve: concurrent with her removal.
    let c = s.op(3, add(5), &[e0]);
    let r = s.resolve();
    assert_eq!(r.members, set(&[1, 2]));
    assert_eq!(r.heads.len(), 3, "{:?}", r.heads);
    assert!(r.epochs.contains_key(&a) && r.epochs.contains_key(&b));
    assert!(!r.epochs.contains_key(&c));
    assert_eq!(r.current(), None, "three heads to merge");
    // Content: Carol's post in e0 written after what Alice saw of her is
    // cut off; Bob's stays.
    assert!(!r.accepts(&person(3), &person(3), 9, &e0));
    assert!(r.accepts(&person(2), &person(2), 9, &e0));
    // A merge epoch by Bob settles it.
    let m = s.op(2, Change::Rekey, &[a, b, c]);
    let r = s.resolve();
    assert_eq!(r.heads, vec![m]);
    assert_eq!(r.current(), Some(&m));
}

#[test]
fn a_removed_member_readded_later_writes_again() {
    let mut s = Sim::default();
    let e0 = s.op(1, create(&[2]), &[]);
    let e1 = s.op(1, remove(2, 3), &[e0]);
    let e2 = s.op(1, add(2), &[e1]);
    let r = s.resolve();
    assert!(r.members.contains(&person(2)));
    assert!(
        r.accepts(&person(2), &person(2), 10, &e2),
        "after re-adding"
    );
    assert!(
        r.accepts(&person(2), &person(2), 3, &e0),
        "seen by the remover"
    );
    assert!(
        !r.accepts(&person(2), &person(2), 4, &e0),
        "in the old epoch after removal"
    );
    assert!(
        !r.accepts(&person(2), &person(2), 10, &e1),
        "not a member of the removal epoch"
    );
}

/// A member who removes herself is out, whoever removes her concurrently
/// and adds her back after that: the other removal does not drop hers
/// (they agree), and her removal wins over the concurrent re-add.
#[test]
fn a_self_removal_stands_beside_a_concurrent_removal_and_readd() {
    let mut s = Sim::default();
    let e0 = s.op(1, create(&[2, 3]), &[]);
    let own = s.op(2, remove(2, 1), &[e0]);
    let other = s.op(1, remove(2, 0), &[e0]);
    s.op(1, add(2), &[other]);
    let r = s.resolve();
    assert!(r.epochs.contains_key(&own) && r.epochs.contains_key(&other));
    assert_eq!(r.members, set(&[1, 3]));
}

#[test]
fn changes_without_their_parents_wait_and_strangers_cannot_change_a_circle() {
    let mut s = Sim::default();
    let e0 = s.op(1, create(&[2]), &[]);
    s.op(1, Change::Rekey, &[EpochId([200; 16])]);
    s.op(9, add(9), &[e0]);
    s.op(2, create(&[9]), &[]);
    let r = s.resolve();
    assert_eq!(r.waiting.len(), 1);
    assert_eq!(r.rejected.len(), 2, "{:?}", r.rejected);
    assert_eq!(r.creator, Some(person(1)));
    assert_eq!(r.members, set(&[1, 2]));
}

/// Two entries under one epoch id (only its author can make them): neither
/// counts, whichever arrives first, and what follows either still places.
#[test]
fn an_epoch_id_signed_twice_counts_for_neither() {
    let mut s = Sim::default();
    let e0 = s.op(1, create(&[2, 3]), &[]);
    let e1 = s.op(2, remove(3, 0), &[e0]);
    let mut twin = s.ops[1].clone();
    twin.id = EntryId([0xee; 32]);
    twin.seq = 9;
    twin.state.change = add(7);
    s.ops.push(twin);
    let e2 = s.op(1, Change::Rekey, &[e1]);
    let r = s.resolve();
    assert!(!r.epochs.contains_key(&e1));
    assert!(r.epochs.contains_key(&e2));
    assert_eq!(r.members, set(&[1, 2, 3]));
}

/// The attack: M, removed, writes a removal of her remover that
/// follows an older epoch, with an entry id ground to sort first. Both
/// removals count, whatever the ids; M does not stay.
#[test]
fn a_removed_member_cannot_undo_her_removal_with_a_ground_id() {
    for grind in [[0u8; 32], [0xff; 32]] {
        let mut s = Sim::default();
        let e0 = s.op(1, create(&[2, 3]), &[]);
        let e1 = s.op(2, Change::Rekey, &[e0]);
        s.op(1, remove(3, 1), &[e1]);
        s.op(3, remove(1, 0), &[e0]);
        s.ops[3].id = EntryId(grind);
        let r = s.resolve();
        assert_eq!(r.members, set(&[2]), "grind {grind:?}");
    }
}

/// A crafted `seen` erases nothing the removal follows: removing the
/// creator with `seen = []` keeps the creation and everyone the creator
/// added.
#[test]
fn a_crafted_seen_list_erases_no_history() {
    let mut s = Sim::default();
    let e0 = s.op(1, create(&[2]), &[]);
    let e1 = s.op(1, add(3), &[e0]);
    let e2 = s.op(1, add(4), &[e1]);
    s.op(
        2,
        Change::Remove {
            person: person(1),
            seen: vec![],
        },
        &[e2],
    );
    let r = s.resolve();
    assert_eq!(r.members, set(&[2, 3, 4]));
    assert_eq!(r.order.len(), 4);
    // The creator's content up to her last epoch the removal follows
    // stays, whatever `seen` says.
    assert!(r.accepts(&person(1), &person(1), 3, &e1));
    assert!(!r.accepts(&person(1), &person(1), 4, &e1));
}

/// M, removed by A, removes B (who added A) in an epoch that follows only
/// the epochs before B added A, so that dropping B's add takes A's
/// membership away. The same history, read the other way, is B adding A
/// as a puppet to remove M: no rule over the epochs can tell them apart,
/// so the removals in such a cycle all stand. M never stays; nor does a
/// puppet she adds.
#[test]
fn a_removed_member_who_pulls_the_ground_from_under_her_removal_leaves_with_everyone_in_the_cycle()
{
    let mut s = Sim::default();
    let e0 = s.op(2, create(&[3, 5]), &[]); // B creates with M and E
    let e1 = s.op(2, add(1), &[e0]); // B adds A
    s.op(1, remove(3, 0), &[e1]); // A removes M
    s.op(3, remove(2, 0), &[e0]); // M removes B, "before" B added A
    let r = s.resolve();
    assert_eq!(r.members, set(&[5]));
    // With a puppet doing it for her, the same.
    let mut s = Sim::default();
    let e0 = s.op(1, create(&[2, 3]), &[]);
    s.op(1, remove(3, 0), &[e0]);
    let p = s.op(3, add(9), &[e0]);
    s.op(9, remove(1, 0), &[p]);
    let r = s.resolve();
    assert_eq!(r.members, set(&[2]));
}

/// A removal can only drop what its author's device did not provably know:
/// a member who writes a removal following an old epoch, from a device
/// whose earlier epochs followed newer ones, erases nothing they followed.
#[test]
fn a_removal_cannot_forget_what_its_own_device_followed() {
    let mut s = Sim::default();
    let e0 = s.op(1, create(&[2, 3]), &[]);
    let e1 = s.op(2, add(4), &[e0]); // B adds D
    let e2 = s.op(3, Change::Rekey, &[e1]); // C follows it
    s.op(3, remove(2, 0), &[e0]); // then C removes B "before" it
    let r = s.resolve();
    assert!(r.epochs.contains_key(&e1) && r.epochs.contains_key(&e2));
    assert_eq!(r.members, set(&[1, 3, 4]));
}

/// What a removal that names old parents can do: drop the removed
/// person's writes since then that its device never followed (as an honest
/// removal written offline that long would), and nothing its device's log
/// shows it had seen.
#[test]
fn a_backdated_removal_drops_only_what_its_device_never_followed() {
    let mut s = Sim::default();
    let e0 = s.op(1, create(&[2, 3]), &[]);
    let e1 = s.op(2, add(4), &[e0]); // B adds D
    let e2 = s.op(2, add(5), &[e1]); // B adds E
    let m1 = s.op(3, Change::Rekey, &[e1]); // M follows the first add
    s.op(3, remove(2, 0), &[e0]); // then removes B "before" either
    let r = s.resolve();
    assert!(r.epochs.contains_key(&e1) && r.epochs.contains_key(&m1));
    assert!(!r.epochs.contains_key(&e2), "never followed by M's device");
    assert_eq!(r.members, set(&[1, 3, 4]));
}

/// A device's changes past [`MAX_EPOCHS_PER_DEVICE`] do not count, on
/// every node alike, and say why.
#[test]
fn a_device_counts_at_most_its_first_1024_changes() {
    let mut s = Sim::default();
    let mut last = s.op(1, create(&[2]), &[]);
    for _ in 0..1100 {
        last = s.op(1, Change::Rekey, &[last]);
    }
    let r = s.resolve();
    assert_eq!(r.epochs.len(), MAX_EPOCHS_PER_DEVICE);
    let over = r
        .rejected
        .iter()
        .filter(|x| x.reason.contains("more than 1024 changes"))
        .count();
    assert_eq!(over, 1101 - MAX_EPOCHS_PER_DEVICE);
    assert_eq!(r.members, set(&[1, 2]));
}

/// Past [`MAX_EPOCHS`] in all, every device's first changes come before
/// anyone's later ones: two members who flood the circle with a thousand
/// changes each cannot push out the creator's first ones.
#[test]
fn a_flood_past_the_circle_cap_pushes_out_nobodys_first_changes() {
    let mut s = Sim::default();
    let e0 = s.op(1, create(&[2, 3]), &[]);
    let mut last = e0;
    for _ in 0..1000 {
        last = s.op(1, Change::Rekey, &[last]);
    }
    let honest = s.ops.iter().map(|o| o.epoch).collect::<Vec<_>>();
    for who in [2, 3] {
        let mut last = e0;
        for _ in 0..MAX_EPOCHS_PER_DEVICE {
            last = s.op(who, Change::Rekey, &[last]);
        }
    }
    let r = s.resolve();
    assert_eq!(r.epochs.len(), MAX_EPOCHS);
    // 2,048 = 3 × 682 + 2: every device's first 682 count.
    let counted = honest.iter().filter(|e| r.epochs.contains_key(e)).count();
    assert!(counted >= MAX_EPOCHS / 3, "{counted}");
    assert!(
        honest[..MAX_EPOCHS / 3]
            .iter()
            .all(|e| r.epochs.contains_key(e))
    );
    assert!(
        r.rejected
            .iter()
            .any(|x| x.reason.contains("more than 2048 changes"))
    );
    assert_eq!(r.members, set(&[1, 2, 3]));
}
