use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;
use crate::body::{Post, PostKind};
use crate::entry::EntryId;

fn key(n: u8) -> Keypair {
    Keypair::from_secret(&[n; 32])
}

fn post(text: &str) -> Body {
    Body::Post(Post {
        kind: PostKind::Note,
        text: text.into(),
        reply_to: None,
        tags: vec![],
    })
}

fn state(change: Change, parents: Vec<ParentKey>) -> EpochState {
    EpochState {
        parents,
        change,
        recipients: vec![],
        history: vec![],
    }
}

#[test]
fn a_recipient_opens_an_epoch_and_its_content_and_nobody_else_does() {
    let (alice, bob, carol) = (key(1), key(2), key(3));
    let (da, db, dc) = (
        DeviceSecret::of(&alice),
        DeviceSecret::of(&bob),
        DeviceSecret::of(&carol),
    );
    let mut rng = Randomness::from_seed([9; 32]);
    let st = state(
        Change::Create {
            name: "team".into(),
            members: vec![bob.author()],
        },
        vec![],
    );
    let (epoch, keys) = seal_epoch(
        None,
        &alice.author(),
        &st,
        &[da.public(), db.public()],
        &mut rng,
    )
    .unwrap();
    let circle = epoch.circle;
    assert!(epoch.ids_hold(&alice.author(), true));
    assert!(
        !epoch.ids_hold(&carol.author(), true),
        "ids are bound to the author"
    );
    // Round trip through the wire encoding.
    let body = Body::CircleEpoch(epoch.clone());
    assert_eq!(Body::decode(&body.encode()).unwrap(), body);

    let got = epoch
        .unwrap_keys(&alice.author(), &db)
        .expect("Bob is a recipient");
    assert_eq!(got, keys);
    assert_eq!(epoch.open_state(&alice.author(), &got.state).unwrap(), st);
    assert!(
        epoch.unwrap_keys(&alice.author(), &dc).is_none(),
        "Carol is not"
    );
    // The wraps are bound to the epoch's author.
    assert!(epoch.unwrap_keys(&carol.author(), &db).is_none());

    let sealed = seal(
        &post("secret plan"),
        circle,
        epoch.epoch,
        &alice.author(),
        &keys.content,
        &mut rng,
    )
    .unwrap();
    assert_eq!(
        sealed.open(&alice.author(), &keys.content).unwrap(),
        post("secret plan")
    );
    // Another author cannot claim it, another key cannot open it, a flipped
    // bit is refused.
    assert_eq!(
        sealed.open(&bob.author(), &keys.content),
        Err(CircleError::Decrypt)
    );
    assert_eq!(
        sealed.open(&alice.author(), &keys.state),
        Err(CircleError::Decrypt)
    );
    let mut bad = sealed.clone();
    bad.ct[3] ^= 1;
    assert_eq!(
        bad.open(&alice.author(), &keys.content),
        Err(CircleError::Decrypt)
    );
    // The plaintext appears nowhere in the entry's body.
    let bytes = Body::Sealed(sealed).encode();
    assert!(!bytes.windows(6).any(|w| w == b"secret"));
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
    let alice = key(1);
    let da = DeviceSecret::of(&alice);
    let st = state(Change::Rekey, vec![]);
    let one = seal_epoch(
        Some(CircleId([1; 16])),
        &alice.author(),
        &st,
        &[da.public()],
        &mut Randomness::from_seed([5; 32]),
    )
    .unwrap();
    let two = seal_epoch(
        Some(CircleId([1; 16])),
        &alice.author(),
        &st,
        &[da.public()],
        &mut Randomness::from_seed([5; 32]),
    )
    .unwrap();
    assert_eq!(one.0, two.0);
}

// ---- resolution ----

struct Sim {
    ops: Vec<Op>,
    n: u8,
}

impl Sim {
    fn new() -> Sim {
        Sim {
            ops: Vec::new(),
            n: 0,
        }
    }

    /// `who` writes `change` at `seq`, following `parents`.
    fn op(&mut self, who: u8, seq: u64, change: Change, parents: &[EpochId]) -> EpochId {
        self.n += 1;
        let epoch = EpochId([self.n; 16]);
        let mut id = [0u8; 32];
        id[0] = self.n.wrapping_mul(37);
        id[1] = self.n;
        self.ops.push(Op {
            id: EntryId(id),
            person: person(who),
            device: person(who),
            seq,
            epoch,
            state: state(
                change,
                parents
                    .iter()
                    .map(|e| ParentKey {
                        epoch: *e,
                        state_key: [0; 32],
                    })
                    .collect(),
            ),
        });
        epoch
    }
}

/// Resolves the circle the first op creates.
fn res(ops: &[Op]) -> Resolved {
    resolve(&circle_id(&ops[0].epoch), ops.to_vec())
}

fn person(n: u8) -> AuthorId {
    key(n).author()
}

fn create(members: &[u8]) -> Change {
    Change::Create {
        name: "c".into(),
        members: members.iter().map(|m| person(*m)).collect(),
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

fn members(r: &Resolved) -> BTreeSet<AuthorId> {
    r.members.clone()
}

#[test]
fn concurrent_removals_both_count_and_a_removed_members_later_writes_do_not() {
    let mut s = Sim::new();
    let e0 = s.op(1, 1, create(&[2, 3, 4]), &[]);
    // Offline at once: Alice removes Carol, Bob removes Dave.
    let a = s.op(1, 2, remove(3, 0), &[e0]);
    let b = s.op(2, 1, remove(4, 0), &[e0]);
    // Carol, not knowing, adds Eve: concurrent with her removal, not accepted.
    let c = s.op(
        3,
        5,
        Change::Add {
            person: person(5),
            history: false,
        },
        &[e0],
    );
    let r = res(&s.ops);
    assert_eq!(members(&r), [1, 2].map(person).into_iter().collect());
    assert_eq!(
        r.heads.len(),
        2,
        "two concurrent epochs to merge: {:?}",
        r.heads
    );
    assert!(r.epochs.contains_key(&a) && r.epochs.contains_key(&b));
    assert!(!r.epochs.contains_key(&c));
    // Content: Carol's post in e0 she wrote after Alice last saw her (seq 9
    // > 0) is cut off; Bob's stays.
    assert!(!r.accepts(&person(3), &person(3), 9, &e0));
    assert!(r.accepts(&person(2), &person(2), 9, &e0));
    // A merge epoch by Bob settles it.
    let m = s.op(2, 2, Change::Rekey, &[a, b]);
    let r = res(&s.ops);
    assert_eq!(r.heads, vec![m]);
    assert_eq!(r.current(), Some(&m));
}

#[test]
fn mutual_removal_is_settled_by_entry_id_and_not_by_arrival() {
    let mut s = Sim::new();
    let e0 = s.op(1, 1, create(&[2]), &[]);
    let x = s.op(1, 2, remove(2, 0), &[e0]);
    let y = s.op(2, 3, remove(1, 1), &[e0]);
    let r = res(&s.ops);
    assert_eq!(
        r.members.len(),
        1,
        "exactly one of them is left: {:?}",
        r.members
    );
    assert!(r.epochs.contains_key(&x) != r.epochs.contains_key(&y));
}

#[test]
fn a_removed_member_readded_later_writes_again() {
    let mut s = Sim::new();
    let e0 = s.op(1, 1, create(&[2]), &[]);
    let e1 = s.op(1, 2, remove(2, 3), &[e0]);
    let e2 = s.op(
        1,
        3,
        Change::Add {
            person: person(2),
            history: false,
        },
        &[e1],
    );
    let r = res(&s.ops);
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

#[test]
fn changes_without_their_parents_wait_and_strangers_cannot_change_a_circle() {
    let mut s = Sim::new();
    let e0 = s.op(1, 1, create(&[2]), &[]);
    let missing = EpochId([200; 16]);
    s.op(1, 2, Change::Rekey, &[missing]);
    s.op(
        9,
        1,
        Change::Add {
            person: person(9),
            history: false,
        },
        &[e0],
    );
    s.op(2, 1, create(&[9]), &[]);
    let r = res(&s.ops);
    assert_eq!(r.waiting.len(), 1);
    assert_eq!(r.rejected.len(), 2, "{:?}", r.rejected);
    assert_eq!(r.creator, Some(person(1)));
    assert_eq!(r.members, [1, 2].map(person).into_iter().collect());
}

proptest! {
    /// Whatever order the epochs arrive in, and however many of them were
    /// written concurrently, every node resolves the same circle.
    #[test]
    fn resolution_does_not_depend_on_arrival_order(
        steps in proptest::collection::vec((1u8..6, 0u8..4, 1u8..6, any::<bool>()), 1..14),
        seed in any::<u64>(),
    ) {
        let mut s = Sim::new();
        let mut epochs = vec![s.op(1, 1, create(&[2, 3]), &[])];
        let mut seq = [1u64; 8];
        for (i, (who, what, target, concurrent)) in steps.into_iter().enumerate() {
            let who_i = usize::from(who);
            seq[who_i] += 1;
            // Follow the last epoch, or an older one (concurrent).
            let parent = if concurrent && epochs.len() > 1 {
                epochs[i % (epochs.len() - 1)]
            } else {
                *epochs.last().unwrap()
            };
            let change = match what {
                0 => Change::Add { person: person(target), history: false },
                1 => remove(target, seq[usize::from(target)] / 2),
                2 => Change::Rekey,
                _ => Change::Remove { person: person(target), seen: vec![] },
            };
            epochs.push(s.op(who, seq[who_i], change, &[parent]));
        }
        let first = res(&s.ops);
        let mut shuffled = s.ops.clone();
        let mut x = seed;
        for i in (1..shuffled.len()).rev() {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (x >> 33) as usize % (i + 1));
        }
        let second = resolve(&circle_id(&s.ops[0].epoch), shuffled);
        prop_assert_eq!(&first.members, &second.members);
        prop_assert_eq!(&first.order, &second.order);
        prop_assert_eq!(&first.heads, &second.heads);
        prop_assert_eq!(first.rejected.len(), second.rejected.len());
    }
}
