use proptest::prelude::*;

use std::collections::{BTreeMap, BTreeSet};

use super::*;

fn kp(n: u8) -> Keypair {
    Keypair::from_secret(&[n; 32])
}

#[test]
fn consent_binds_the_pair() {
    let (alice, laptop, bob) = (kp(1), kp(2), kp(3));
    let link = DeviceLink::new(&alice.author(), &laptop, "laptop");
    assert!(link.consented(&alice.author()));
    // The same consent does not let Bob claim the laptop.
    assert!(!link.consented(&bob.author()));
    let mut forged = link.clone();
    forged.device = bob.author();
    assert!(!forged.consented(&alice.author()));
    let rotate = Rotate::new(&alice.author(), &kp(4));
    assert!(rotate.consented(&alice.author()));
    assert!(!rotate.consented(&bob.author()));
}

#[test]
fn link_revoke_rotate() {
    let (alice, laptop, phone, new) = (kp(1), kp(2), kp(3), kp(4));
    let a = alice.author();
    let mut reg = Registry::new();
    reg.add(a, 2, CertBody::Link(DeviceLink::new(&a, &laptop, "laptop")));
    reg.add(a, 3, CertBody::Link(DeviceLink::new(&a, &phone, "phone")));
    reg.add(
        a,
        5,
        CertBody::Revoke(DeviceRevoke {
            device: phone.author(),
            last_seq: 7,
        }),
    );
    reg.add(a, 6, CertBody::Rotate(Rotate::new(&a, &new)));
    // After the rotation the old key certifies nothing.
    reg.add(a, 7, CertBody::Link(DeviceLink::new(&a, &kp(9), "late")));

    for key in [a, laptop.author(), phone.author(), new.author()] {
        let p = reg.person_of(&key);
        assert_eq!(p.root, a, "{key}");
        assert_eq!(p.identity, new.author());
    }
    let p = reg.person_of(&a);
    assert_eq!(p.keys.len(), 4);
    // The old key certifies nothing more, but stays a device.
    let old = p.key(&a).unwrap();
    assert_eq!((old.role, old.last_seq), (Role::FormerIdentity, None));
    assert!(old.accepts(7));
    let ph = p.key(&phone.author()).unwrap();
    assert!(ph.accepts(7) && !ph.accepts(8) && !ph.active());
    assert!(p.key(&laptop.author()).unwrap().active());
    assert_eq!(
        reg.person_of(&kp(9).author()),
        Person::single(kp(9).author())
    );
}

#[test]
fn a_revoked_key_is_never_linked_again_and_forged_links_do_not_count() {
    let (alice, laptop) = (kp(1), kp(2));
    let a = alice.author();
    let mut reg = Registry::new();
    reg.add(a, 1, CertBody::Link(DeviceLink::new(&a, &laptop, "")));
    reg.add(
        a,
        2,
        CertBody::Revoke(DeviceRevoke {
            device: laptop.author(),
            last_seq: 0,
        }),
    );
    reg.add(a, 3, CertBody::Link(DeviceLink::new(&a, &laptop, "")));
    let mut forged = DeviceLink::new(&a, &kp(5), "");
    forged.device = kp(6).author();
    reg.add(a, 4, CertBody::Link(forged));
    let p = reg.person_of(&a);
    assert_eq!(p.key(&laptop.author()).unwrap().last_seq, Some(0));
    assert!(p.key(&kp(6).author()).is_none());
}

#[test]
fn a_forked_identity_log_freezes_the_person() {
    let (alice, laptop, thief) = (kp(1), kp(2), kp(3));
    let a = alice.author();
    let mut reg = Registry::new();
    reg.add(a, 1, CertBody::Link(DeviceLink::new(&a, &laptop, "")));
    // Two rotations signed by the same old key at one sequence number.
    reg.add(a, 2, CertBody::Rotate(Rotate::new(&a, &kp(4))));
    reg.add(a, 2, CertBody::Rotate(Rotate::new(&a, &thief)));
    let p = reg.person_of(&a);
    assert_eq!(p.identity, a);
    assert_eq!(p.conflict, Some(Conflict::Fork { key: a, seq: 2 }));
    assert!(p.key(&laptop.author()).unwrap().active());
    // Neither new key is the person's.
    assert_eq!(reg.person_of(&thief.author()).root, thief.author());
}

#[test]
fn a_key_claimed_by_two_persons_stands_alone() {
    let (alice, bob, shared) = (kp(1), kp(2), kp(3));
    let mut reg = Registry::new();
    let (a, b) = (alice.author(), bob.author());
    reg.add(a, 1, CertBody::Link(DeviceLink::new(&a, &shared, "")));
    reg.add(b, 1, CertBody::Link(DeviceLink::new(&b, &shared, "")));
    assert_eq!(reg.person_of(&shared.author()).root, shared.author());
}

/// An identity handover by `old`, whose log reached `at`.
fn succeed(old: &Keypair, new: &Keypair, at: u64) -> CertBody {
    CertBody::Succession(Succession::new(old, &new.author(), true, at))
}

fn succeed_device(old: &Keypair, new: &Keypair) -> CertBody {
    CertBody::Succession(Succession::new(old, &new.author(), false, 0))
}

#[test]
fn a_handover_of_the_identity_key_makes_the_new_key_the_identity() {
    let (alice, laptop, new, phone) = (kp(1), kp(2), kp(5), kp(6));
    let a = alice.author();
    let mut reg = Registry::new();
    reg.add(a, 2, CertBody::Link(DeviceLink::new(&a, &laptop, "laptop")));
    reg.add(new.author(), 1, succeed(&alice, &new, 2));
    // The new key certifies from now on.
    reg.add(
        new.author(),
        2,
        CertBody::Link(DeviceLink::new(&new.author(), &phone, "phone")),
    );
    let p = reg.person_of(&new.author());
    assert_eq!(
        (p.root, p.identity, p.conflict.clone()),
        (a, new.author(), None)
    );
    assert_eq!(p.key(&a).unwrap().role, Role::FormerIdentity);
    assert!(p.key(&a).unwrap().active(), "the old key may still write");
    assert_eq!(p.key(&new.author()).unwrap().since, Some((new.author(), 1)));
    assert_eq!(reg.person_of(&phone.author()), p);
    assert_eq!(reg.person_of(&laptop.author()), p);
}

#[test]
fn a_forged_or_misplaced_handover_counts_for_nothing() {
    let (alice, mallory, new) = (kp(1), kp(3), kp(5));
    let mut reg = Registry::new();
    // Signed by someone else than the key it claims to take over from.
    let mut forged = Succession::new(&mallory, &new.author(), true, 0);
    forged.from = alice.author();
    reg.add(new.author(), 1, CertBody::Succession(forged));
    // Valid signature, but not the first entry of the new log.
    reg.add(kp(7).author(), 2, succeed(&alice, &kp(7), 0));
    // The flag is signed: a device handover cannot be replayed as an
    // identity handover.
    let mut flipped = Succession::new(&alice, &kp(8).author(), false, 0);
    flipped.identity = true;
    reg.add(kp(8).author(), 1, CertBody::Succession(flipped));
    // A handover to the signing key itself.
    reg.add(alice.author(), 1, succeed(&alice, &alice, 0));
    assert_eq!(
        reg.person_of(&alice.author()),
        Person::single(alice.author())
    );
    assert_eq!(reg.person_of(&new.author()), Person::single(new.author()));
    assert_eq!(
        reg.person_of(&kp(7).author()),
        Person::single(kp(7).author())
    );
    assert_eq!(
        reg.person_of(&kp(8).author()),
        Person::single(kp(8).author())
    );
}

#[test]
fn an_identity_handover_counts_like_a_rotation_at_its_point() {
    let (alice, new, late, rotated) = (kp(1), kp(5), kp(6), kp(4));
    let a = alice.author();
    let mut reg = Registry::new();
    reg.add(new.author(), 1, succeed(&alice, &new, 2));
    // Whoever still holds the old key certifies nothing after the point,
    // and a rotation it signs there is ignored, not a conflict.
    reg.add(a, 3, CertBody::Link(DeviceLink::new(&a, &late, "late")));
    reg.add(a, 4, CertBody::Rotate(Rotate::new(&a, &rotated)));
    let p = reg.person_of(&a);
    assert_eq!((p.identity, p.conflict.clone()), (new.author(), None));
    assert!(p.key(&late.author()).is_none());
    assert!(p.key(&rotated.author()).is_none());
}

#[test]
fn a_recovery_that_holds_wins_over_a_handover_by_the_lost_key() {
    let (alice, bob, carol, thief_key, recovered) = (kp(1), kp(2), kp(3), kp(6), kp(7));
    let a = alice.author();
    let mut reg = Registry::new();
    reg.add(a, 1, contacts(2, &[&bob, &carol]));
    reg.add(bob.author(), 1, approval(&a, &recovered, 1));
    reg.add(carol.author(), 1, approval(&a, &recovered, 1));
    // A thief with the lost key hands the identity to a key of theirs.
    reg.add(thief_key.author(), 1, succeed(&alice, &thief_key, 1));
    let p = reg.person_of(&a);
    assert_eq!((p.identity, p.conflict.clone()), (recovered.author(), None));
    assert!(p.key(&thief_key.author()).is_none());
}

#[test]
fn a_device_has_at_most_one_successor_and_chains_are_short() {
    let (alice, laptop) = (kp(1), kp(2));
    let a = alice.author();
    let mut reg = Registry::new();
    reg.add(a, 1, CertBody::Link(DeviceLink::new(&a, &laptop, "laptop")));
    reg.add(kp(40).author(), 1, succeed_device(&laptop, &kp(40)));
    reg.add(kp(41).author(), 1, succeed_device(&laptop, &kp(41)));
    let p = reg.person_of(&a);
    let lowest = kp(40).author().min(kp(41).author());
    let highest = kp(40).author().max(kp(41).author());
    assert!(p.key(&lowest).is_some() && p.key(&highest).is_none());
    // A chain of handovers counts up to MAX_SUCCESSION_CHAIN keys.
    let mut reg = Registry::new();
    reg.add(a, 1, CertBody::Link(DeviceLink::new(&a, &laptop, "laptop")));
    let mut old = kp(2);
    for i in 0..(MAX_SUCCESSION_CHAIN as u8 + 3) {
        let new = kp(60 + i);
        reg.add(new.author(), 1, succeed_device(&old, &new));
        old = new;
    }
    assert_eq!(reg.person_of(&a).keys.len(), 2 + MAX_SUCCESSION_CHAIN);
}

#[test]
fn a_former_identity_hands_over_its_device_place_without_a_conflict() {
    let (alice, rotated, restored) = (kp(1), kp(4), kp(5));
    let a = alice.author();
    let mut reg = Registry::new();
    reg.add(a, 1, CertBody::Rotate(Rotate::new(&a, &rotated)));
    reg.add(restored.author(), 1, succeed_device(&alice, &restored));
    let p = reg.person_of(&restored.author());
    assert_eq!(
        (p.root, p.identity, p.conflict.clone()),
        (a, rotated.author(), None)
    );
    assert_eq!(p.key(&restored.author()).unwrap().role, Role::Device);
}

#[test]
fn a_handover_competing_with_a_rotation_or_another_handover_is_a_conflict() {
    let (alice, rotated, one, two) = (kp(1), kp(4), kp(5), kp(6));
    let a = alice.author();
    let mut reg = Registry::new();
    reg.add(a, 2, CertBody::Rotate(Rotate::new(&a, &rotated)));
    reg.add(one.author(), 1, succeed(&alice, &one, 5));
    let p = reg.person_of(&a);
    assert_eq!(p.identity, a, "frozen at the key that handed over twice");
    // The candidates are not the person's keys until the user decides.
    assert_eq!(reg.person_of(&one.author()).root, one.author());
    assert_eq!(
        p.conflict,
        Some(Conflict::Succession {
            key: a,
            candidates: {
                let mut c = vec![rotated.author(), one.author()];
                c.sort();
                c
            }
        })
    );
    let mut reg = Registry::new();
    reg.add(one.author(), 1, succeed(&alice, &one, 5));
    reg.add(two.author(), 1, succeed(&alice, &two, 5));
    let p = reg.person_of(&a);
    assert_eq!(p.identity, a);
    assert!(matches!(p.conflict, Some(Conflict::Succession { .. })));
}

#[test]
fn a_device_hands_over_to_a_device_and_a_revocation_takes_both() {
    let (alice, laptop, restored, again) = (kp(1), kp(2), kp(5), kp(6));
    let a = alice.author();
    let mut reg = Registry::new();
    reg.add(a, 1, CertBody::Link(DeviceLink::new(&a, &laptop, "laptop")));
    reg.add(restored.author(), 1, succeed_device(&laptop, &restored));
    reg.add(again.author(), 1, succeed_device(&restored, &again));
    let p = reg.person_of(&again.author());
    assert_eq!((p.root, p.identity), (a, a));
    for k in [laptop.author(), restored.author(), again.author()] {
        let key = p.key(&k).unwrap();
        assert_eq!(
            (key.role, key.name.as_str(), key.active()),
            (Role::Device, "laptop", true)
        );
    }
    // Revoking the laptop ends the keys it vouched for, from their start.
    reg.add(
        a,
        2,
        CertBody::Revoke(DeviceRevoke {
            device: laptop.author(),
            last_seq: 9,
        }),
    );
    let p = reg.person_of(&a);
    assert!(p.key(&laptop.author()).unwrap().accepts(9));
    for k in [restored.author(), again.author()] {
        let key = p.key(&k).unwrap();
        assert!(!key.accepts(1), "{k}");
        assert_eq!(key.ended_by, Some((a, 2)));
    }
}

/// One step a person takes with their identity.
#[derive(Debug, Clone)]
enum Step {
    Link(u8),
    Revoke(u8, u64),
    Rotate(u8),
    ForgedLink(u8),
    /// The identity key hands over (kind 14) to a fresh key.
    Succeed(u8),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (10u8..30).prop_map(Step::Link),
        2 => (10u8..30, 0u64..20).prop_map(|(d, s)| Step::Revoke(d, s)),
        1 => (20u8..40).prop_map(Step::Rotate),
        1 => (10u8..30).prop_map(Step::ForgedLink),
        1 => (40u8..60).prop_map(Step::Succeed),
    ]
}

proptest! {
    /// Any history of link / revoke / rotate, delivered to nodes in any
    /// order, resolves the same on every node, and as the person meant it.
    #[test]
    fn every_order_gives_one_view(steps in prop::collection::vec(step(), 1..24), seed in any::<u64>()) {
        let root = kp(1).author();
        let mut identity = root;
        let mut identity_seed = 1u8;
        let mut seq_of: BTreeMap<AuthorId, u64> = BTreeMap::new();
        let mut certs = Vec::new();
        // The model: what the person meant.
        let mut active: BTreeSet<AuthorId> = BTreeSet::from([root]);
        // Revoked keys, and keys that were the identity.
        let mut gone: BTreeSet<AuthorId> = BTreeSet::new();
        let mut former: BTreeSet<AuthorId> = BTreeSet::new();
        for s in &steps {
            let seq = seq_of.entry(identity).or_insert(0);
            *seq += 1;
            let cert = match *s {
                Step::Link(d) => {
                    let k = kp(d).author();
                    if !gone.contains(&k) && !active.contains(&k) && !former.contains(&k) { active.insert(k); }
                    CertBody::Link(DeviceLink::new(&identity, &kp(d), "d"))
                }
                Step::Revoke(d, last) => {
                    let k = kp(d).author();
                    if active.contains(&k) && k != identity { active.remove(&k); gone.insert(k); }
                    CertBody::Revoke(DeviceRevoke { device: k, last_seq: last })
                }
                Step::Rotate(n) => {
                    let k = kp(n).author();
                    if gone.contains(&k) || former.contains(&k) || k == identity {
                        CertBody::Rotate(Rotate::new(&identity, &kp(n)))
                    } else {
                        former.insert(identity);
                        active.insert(k);
                        let c = CertBody::Rotate(Rotate::new(&identity, &kp(n)));
                        certs.push((identity, *seq, c));
                        identity = k;
                        identity_seed = n;
                        continue;
                    }
                }
                Step::Succeed(n) => {
                    *seq -= 1;
                    let at = *seq;
                    let k = kp(n).author();
                    if seq_of.contains_key(&k) || active.contains(&k) || gone.contains(&k) {
                        continue; // The new key's log must start with it.
                    }
                    seq_of.insert(k, 1);
                    former.insert(identity);
                    active.insert(k);
                    certs.push((k, 1, succeed(&kp(identity_seed), &kp(n), at)));
                    identity = k;
                    identity_seed = n;
                    continue;
                }
                Step::ForgedLink(d) => {
                    let mut l = DeviceLink::new(&identity, &kp(d), "");
                    l.device = kp(d + 100).author();
                    CertBody::Link(l)
                }
            };
            certs.push((identity, *seq, cert));
        }
        // Two nodes, two delivery orders.
        let mut shuffled = certs.clone();
        let mut x = seed | 1;
        for i in (1..shuffled.len()).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            shuffled.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let (mut one, mut two) = (Registry::new(), Registry::new());
        for (a, s, c) in certs { one.add(a, s, c); }
        for (a, s, c) in shuffled { two.add(a, s, c); }
        let p1 = one.person_of(&root);
        prop_assert_eq!(&p1, &two.person_of(&root));
        prop_assert_eq!(p1.identity, identity);
        let resolved: BTreeSet<AuthorId> = p1.active_keys().map(|k| k.key).collect();
        // Rotating to a key that was revoked or retired is refused by both.
        prop_assert_eq!(resolved, active.clone());
        for k in &active {
            prop_assert_eq!(&one.person_of(k), &p1);
        }
    }
}

fn contacts(threshold: u8, keys: &[&Keypair]) -> CertBody {
    CertBody::Contacts(RecoveryContacts {
        threshold,
        contacts: keys.iter().map(|k| k.author()).collect(),
    })
}

fn approval(old: &AuthorId, new: &Keypair, seen_seq: u64) -> CertBody {
    CertBody::Approval(RecoveryApproval {
        old: *old,
        new: new.author(),
        consent: RecoveryApproval::request(old, new),
        seen_seq,
    })
}

#[test]
fn two_of_three_contacts_recover_one_does_not_and_forgeries_do_not_count() {
    let (alice, bob, carol, dave, eve) = (kp(1), kp(2), kp(3), kp(4), kp(5));
    let (laptop, fresh) = (kp(6), kp(7));
    let a = alice.author();
    let mut reg = Registry::new();
    reg.add(a, 1, CertBody::Link(DeviceLink::new(&a, &laptop, "laptop")));
    reg.add(a, 2, contacts(2, &[&bob, &carol, &dave]));
    // One contact, and someone who is not one.
    reg.add(bob.author(), 10, approval(&a, &fresh, 2));
    reg.add(eve.author(), 3, approval(&a, &fresh, 2));
    // A forged approval: the consent is not the new key's.
    let mut forged = RecoveryApproval {
        old: a,
        new: fresh.author(),
        consent: RecoveryApproval::request(&a, &eve),
        seen_seq: 2,
    };
    reg.add(dave.author(), 4, CertBody::Approval(forged.clone()));
    assert_eq!(
        reg.person_of(&a).identity,
        a,
        "one real approval is not enough"
    );
    // Bob's second device approving is still Bob.
    let bob_phone = kp(8);
    let b = bob.author();
    reg.add(b, 1, CertBody::Link(DeviceLink::new(&b, &bob_phone, "")));
    reg.add(bob_phone.author(), 1, approval(&a, &fresh, 2));
    assert_eq!(reg.person_of(&a).identity, a, "one person, one vote");

    forged.consent = RecoveryApproval::request(&a, &fresh);
    reg.add(carol.author(), 7, CertBody::Approval(forged));
    let p = reg.person_of(&a);
    assert_eq!(p.identity, fresh.author());
    assert_eq!(p.recovered_by, {
        let mut v = vec![b, carol.author()];
        v.sort();
        v
    });
    // The lost key ends where the contacts saw it; the laptop stays.
    assert_eq!(p.key(&a).unwrap().last_seq, Some(2));
    assert!(p.key(&laptop.author()).unwrap().active());
    assert_eq!(reg.person_of(&fresh.author()).root, a);
    // What the lost key certifies after that point does not count.
    reg.add(a, 3, CertBody::Link(DeviceLink::new(&a, &kp(9), "thief")));
    assert!(reg.person_of(&a).key(&kp(9).author()).is_none());
}

/// PROTOCOL.md §6 "What a receiver enforces": a received kind 12 whose
/// threshold is 0 or above its number of contacts is kept but never holds,
/// and it takes the earlier set's place from its seq on: the earlier set
/// does not hold at a point the contacts saw after it.
#[test]
fn a_contact_set_that_cannot_hold_is_kept_and_replaces_the_earlier_one() {
    let (alice, bob, carol, fresh) = (kp(1), kp(2), kp(3), kp(7));
    let a = alice.author();
    for impossible in [contacts(0, &[&bob, &carol]), contacts(3, &[&bob, &carol])] {
        let mut reg = Registry::new();
        reg.add(a, 1, contacts(2, &[&bob, &carol]));
        reg.add(bob.author(), 1, approval(&a, &fresh, 1));
        reg.add(carol.author(), 1, approval(&a, &fresh, 1));
        assert_eq!(reg.person_of(&a).identity, fresh.author(), "2 of 2 hold");

        let mut reg = Registry::new();
        reg.add(a, 1, contacts(2, &[&bob, &carol]));
        reg.add(a, 2, impossible);
        reg.add(bob.author(), 1, approval(&a, &fresh, 2));
        reg.add(carol.author(), 1, approval(&a, &fresh, 2));
        assert_eq!(
            reg.person_of(&a).identity,
            a,
            "a set that cannot hold, named later, is the one that counts"
        );
    }
}

#[test]
fn two_recoveries_each_at_threshold_are_a_conflict() {
    let (alice, bob, carol) = (kp(1), kp(2), kp(3));
    let a = alice.author();
    let mut reg = Registry::new();
    reg.add(a, 1, contacts(1, &[&bob, &carol]));
    reg.add(bob.author(), 1, approval(&a, &kp(6), 1));
    reg.add(carol.author(), 1, approval(&a, &kp(7), 1));
    let p = reg.person_of(&a);
    assert_eq!(p.identity, a);
    assert!(matches!(p.conflict, Some(Conflict::Recovery { .. })));
}

/// The thief's best move, acting first: with the stolen identity key, a
/// rotation to a key of his own and, from it, a revocation of the owner's
/// phone — all seen by the contacts before they approve. The recovery by
/// the contacts named before the theft still holds: a rotation made with
/// the lost key after its contacts were named does not pre-empt it, the
/// thief's key is nobody's, and the phone stays.
#[test]
fn a_thief_who_rotates_and_revokes_first_cannot_block_the_recovery() {
    let (alice, bob, carol, dave) = (kp(1), kp(2), kp(3), kp(4));
    let (phone, thief, fresh) = (kp(5), kp(6), kp(7));
    let a = alice.author();
    let t = thief.author();
    let history = |reg: &mut Registry| {
        reg.add(a, 1, CertBody::Link(DeviceLink::new(&a, &phone, "phone")));
        reg.add(a, 2, contacts(2, &[&bob, &carol, &dave]));
        // The theft.
        reg.add(a, 3, CertBody::Rotate(Rotate::new(&a, &thief)));
        reg.add(
            t,
            1,
            CertBody::Revoke(DeviceRevoke {
                device: phone.author(),
                last_seq: 0,
            }),
        );
    };
    let mut reg = Registry::new();
    history(&mut reg);
    assert_eq!(
        reg.person_of(&a).identity,
        t,
        "the thief's rotation counts, for now"
    );
    // Two contacts who saw all of it vouch for the owner's new key.
    reg.add(bob.author(), 1, approval(&a, &fresh, 3));
    reg.add(carol.author(), 1, approval(&a, &fresh, 3));
    let p = reg.person_of(&a);
    assert_eq!(p.identity, fresh.author());
    assert!(p.conflict.is_none(), "{:?}", p.conflict);
    assert!(p.key(&t).is_none(), "the thief's key is not the person's");
    assert!(p.key(&phone.author()).unwrap().active(), "the phone stays");
    assert_eq!(reg.person_of(&t).root, t);
    // In any order of arrival, the same.
    let mut other = Registry::new();
    other.add(carol.author(), 1, approval(&a, &fresh, 3));
    other.add(bob.author(), 1, approval(&a, &fresh, 3));
    history(&mut other);
    assert_eq!(other.person_of(&a), p);
}

/// One contact claiming to have seen the lost key's log to `u64::MAX`
/// cannot keep it alive: the point is the highest seq a threshold of the
/// contacts saw.
#[test]
fn one_contact_cannot_keep_the_lost_key_alive() {
    let (alice, bob, carol, dave) = (kp(1), kp(2), kp(3), kp(4));
    let fresh = kp(7);
    let a = alice.author();
    let mut reg = Registry::new();
    reg.add(a, 1, contacts(2, &[&bob, &carol, &dave]));
    reg.add(bob.author(), 1, approval(&a, &fresh, 4));
    reg.add(carol.author(), 1, approval(&a, &fresh, u64::MAX));
    let p = reg.person_of(&a);
    assert_eq!(p.identity, fresh.author());
    assert_eq!(p.key(&a).unwrap().last_seq, Some(4));
    // What the lost key certifies after the point does not count.
    reg.add(a, 5, CertBody::Link(DeviceLink::new(&a, &kp(9), "thief")));
    assert!(reg.person_of(&a).key(&kp(9).author()).is_none());
    // Nor can one contact claiming to have seen nothing void what came
    // before the contacts were named.
    let mut reg = Registry::new();
    reg.add(a, 1, CertBody::Link(DeviceLink::new(&a, &kp(8), "laptop")));
    reg.add(a, 2, contacts(2, &[&bob, &carol, &dave]));
    reg.add(bob.author(), 1, approval(&a, &fresh, 0));
    reg.add(carol.author(), 1, approval(&a, &fresh, 0));
    let p = reg.person_of(&a);
    assert_eq!(p.identity, fresh.author());
    assert_eq!(p.key(&a).unwrap().last_seq, Some(2));
    assert!(p.key(&kp(8).author()).unwrap().active());
}

/// The thief names contacts of his own (puppets) with the stolen key and
/// has them vouch for a key of his: the set named first, by the owner,
/// decides; there is no conflict to freeze the person with.
#[test]
fn a_thief_cannot_name_contacts_of_his_own_to_win_or_block() {
    let (alice, bob, carol) = (kp(1), kp(2), kp(3));
    let (p1, p2, fresh, thief) = (kp(10), kp(11), kp(7), kp(6));
    let a = alice.author();
    let mut reg = Registry::new();
    reg.add(a, 1, contacts(2, &[&bob, &carol]));
    // After the theft.
    reg.add(a, 2, contacts(2, &[&p1, &p2]));
    reg.add(p1.author(), 1, approval(&a, &thief, 2));
    reg.add(p2.author(), 1, approval(&a, &thief, 2));
    assert_eq!(
        reg.person_of(&a).identity,
        thief.author(),
        "nobody contests it yet"
    );
    // The owner's contacts vouch that the key was lost after seq 1.
    reg.add(bob.author(), 1, approval(&a, &fresh, 1));
    reg.add(carol.author(), 1, approval(&a, &fresh, 1));
    let p = reg.person_of(&a);
    assert_eq!(p.identity, fresh.author());
    assert!(p.conflict.is_none(), "{:?}", p.conflict);
}

/// A person who links thousands of keys (ground to sort first) gets 64:
/// the rest are nobody's, so they neither enter friends' replication sets
/// nor crowd the frontier.
#[test]
fn a_person_has_at_most_64_keys() {
    let alice = kp(1);
    let a = alice.author();
    let mut reg = Registry::new();
    for i in 0..200u32 {
        let mut seed = [0x77u8; 32];
        seed[..4].copy_from_slice(&i.to_le_bytes());
        let device = Keypair::from_secret(&seed);
        reg.add(
            a,
            u64::from(i) + 1,
            CertBody::Link(DeviceLink::new(&a, &device, "")),
        );
    }
    let p = reg.person_of(&a);
    assert_eq!(p.keys.len(), crate::identity::MAX_KEYS_PER_PERSON);
}

/// Rotations count against the same 64 keys: a person who rotates along
/// a chain of 200 fresh keys (one log each) stops at the 64th, so the
/// keys friends replicate and the logs a resolution reads stay bounded.
#[test]
fn a_chain_of_rotations_stops_at_64_keys() {
    let root = kp(1);
    let a = root.author();
    let mut reg = Registry::new();
    let mut identity = root;
    let mut chain = Vec::new();
    for i in 0..200u32 {
        let mut seed = [0x78u8; 32];
        seed[..4].copy_from_slice(&i.to_le_bytes());
        let new = Keypair::from_secret(&seed);
        reg.add(
            identity.author(),
            1,
            CertBody::Rotate(Rotate::new(&identity.author(), &new)),
        );
        chain.push(new.author());
        identity = new;
    }
    let p = reg.person_of(&a);
    assert_eq!(p.keys.len(), crate::identity::MAX_KEYS_PER_PERSON);
    // The root and 63 rotations: the identity is the 63rd new key.
    assert_eq!(p.identity, chain[62]);
    assert!(p.conflict.is_none());
}
