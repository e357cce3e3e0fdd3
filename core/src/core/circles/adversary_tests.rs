//! Circles against a participant who signs valid entries chosen to win:
//! a removed member's counter-removal, a member's selective wraps, junk
//! from a stolen device revoked later. Every node must end with the same
//! members, whatever it can decrypt.

use kith_protocol::circle;
use kith_protocol::{AuthorId, Body, Keypair};

use super::tests::{everyone, people, post, reads, remove, sync};
use crate::core::Core;
use crate::model::CircleView;
use crate::ops;

fn show(core: &mut Core) -> CircleView {
    core.run(ops::CircleShow {
        circle: "team".into(),
    })
    .unwrap()
}

fn names(v: &CircleView) -> Vec<String> {
    let mut n: Vec<String> = v
        .members
        .iter()
        .map(|m| m.name.clone().unwrap_or_default())
        .collect();
    n.sort();
    n
}

/// The attack, with the stock client: Alice removes Mallory;
/// Mallory, from a copy of her store taken before the removal (she never
/// syncs it), removes Alice. Whatever the entry ids, every node ends with
/// the same members — both removals count — and says so; before, each of
/// the two believed her own removal won, forever.
#[test]
fn a_counter_removal_takes_its_author_out_and_every_node_agrees() {
    let mut p = people(3); // alice, bob, carol (carol plays Mallory)
    p[0].run(ops::CircleCreate {
        name: "team".into(),
        members: vec!["bob".into(), "carol".into()],
    })
    .unwrap();
    everyone(&mut p);
    remove(&mut p[0], "carol");
    // Carol has not seen it: she removes Alice.
    remove(&mut p[2], "alice");
    everyone(&mut p);
    let views: Vec<CircleView> = p.iter_mut().map(show).collect();
    for v in &views {
        assert_eq!(names(v), vec!["bob".to_string()], "{v:?}");
    }
    assert!(!views[0].member && views[1].member && !views[2].member);
    // Bob writes on; neither of the two reads it.
    post(&mut p[1], "only bob now", Some("team"));
    everyone(&mut p);
    assert!(!reads(&mut p[0], "only bob now"));
    assert!(!reads(&mut p[2], "only bob now"));
    // Both learn they are out: their writes are refused with a reason.
    for i in [0, 2] {
        let e = p[i]
            .run(ops::Post {
                circle: Some("team".into()),
                text: "still here?".into(),
                kind: kith_protocol::PostKind::Note,
                reply_to: None,
                tags: vec![],
                files: Vec::new(),
            })
            .unwrap_err();
        assert!(e.to_string().contains("not a member"), "{e}");
    }
}

/// A member's modified client lists Bob among an epoch's recipients but
/// wraps Bob's copy to a key that is not his. Bob's node says so, and Bob
/// still writes: his next post starts an epoch of his own, wrapped to
/// everyone, which every member reads.
#[test]
fn a_member_left_without_a_key_is_warned_and_still_writes() {
    let mut p = people(3);
    p[0].run(ops::CircleCreate {
        name: "team".into(),
        members: vec!["bob".into(), "carol".into()],
    })
    .unwrap();
    everyone(&mut p);
    // Carol's crafted Rekey: Bob listed, his wrap sealed to a stranger.
    let stranger = circle::DeviceSecret::of(&Keypair::from_secret(&[0x99; 32])).public();
    let bob = p[1].me();
    p[2].rekey_with_a_wrong_wrap("team", bob, stranger).unwrap();
    everyone(&mut p);
    let bob = show(&mut p[1]);
    assert!(
        bob.warnings
            .iter()
            .any(|w| w.contains("lists this device but gives it no key")),
        "{bob:?}"
    );
    assert!(bob.member && bob.needs_new_epoch);
    post(&mut p[1], "bob writes anyway", Some("team"));
    everyone(&mut p);
    assert!(reads(&mut p[0], "bob writes anyway"));
    assert!(reads(&mut p[2], "bob writes anyway"));
    // Every node still agrees on the members.
    let all: Vec<Vec<String>> = p.iter_mut().map(|c| names(&show(c))).collect();
    assert!(all.windows(2).all(|w| w[0] == w[1]), "{all:?}");
}

/// A thief with Alice's phone removes Bob from her circle. Alice revokes
/// the phone keeping only what it wrote before the theft: the removal no
/// longer counts on any node, and Bob is a member again everywhere.
#[test]
fn a_stolen_devices_change_stops_counting_when_the_device_is_revoked_before_it() {
    let mut p = people(2); // alice, bob
    let phone_key = Keypair::from_secret(&[0x50; 32]);
    let mut phone = Core::with_store(
        crate::config::Config::new(crate::config::DataDir::new("/nonexistent")),
        phone_key.clone(),
        crate::store::Store::temporary().unwrap(),
    )
    .unwrap();
    let link = kith_protocol::identity::DeviceLink::new(&p[0].me(), &phone_key, "phone");
    p[0].run(ops::DeviceAdd { link }).unwrap();
    everyone(&mut p);
    phone.device_joined(p[0].me(), p[0].me(), &[]).unwrap();
    for other in [p[1].me(), p[0].me()] {
        phone
            .run(ops::TrustAdd {
                author: other.into(),
                petname: None,
            })
            .unwrap();
    }
    let copy = |from: &Core, key: AuthorId, to: &mut Core| {
        let have = to.store().head(&key).unwrap().map_or(0, |h| h.seq);
        let entries = from.store().log(&key, have + 1, usize::MAX).unwrap();
        let outcome = to.ingest(&entries);
        assert!(outcome.error.is_none(), "{:?}", outcome.error);
    };
    copy(&p[0], p[0].me(), &mut phone);
    copy(&p[1], p[1].me(), &mut phone);
    phone.ensure_encryption_key().unwrap();
    for core in p.iter_mut() {
        copy(&phone, phone_key.author(), core);
    }
    p[0].run(ops::CircleCreate {
        name: "team".into(),
        members: vec!["bob".into()],
    })
    .unwrap();
    everyone(&mut p);
    copy(&p[0], p[0].me(), &mut phone);
    let before_theft = phone
        .store()
        .head(&phone_key.author())
        .unwrap()
        .unwrap()
        .seq;
    // The thief removes Bob from the phone.
    phone
        .run(ops::CircleRemove {
            circle: "team".into(),
            member: "bob".into(),
        })
        .unwrap();
    for core in p.iter_mut() {
        copy(&phone, phone_key.author(), core);
    }
    assert_eq!(names(&show(&mut p[1])), vec!["alice".to_string()]);
    // Alice revokes the phone, keeping what it wrote before the theft.
    p[0].run(ops::DeviceRevoke {
        device: phone_key.author().into(),
        keep: Some(before_theft),
    })
    .unwrap();
    sync(&mut p, 0, 1);
    for core in p.iter_mut() {
        let v = show(core);
        assert_eq!(
            names(&v),
            vec!["alice".to_string(), "bob".to_string()],
            "{v:?}"
        );
    }
}

/// A member's modified client deletes the epoch everything follows (the
/// stock client refuses to): the epoch's body stays on every node, and the
/// circle goes on for everyone.
#[test]
fn deleting_a_circle_epoch_freezes_nothing() {
    let mut p = people(3);
    let view = p[0]
        .run(ops::CircleCreate {
            name: "team".into(),
            members: vec!["bob".into(), "carol".into()],
        })
        .unwrap();
    everyone(&mut p);
    let create = p[0]
        .store()
        .circle_epochs(&view.id)
        .unwrap()
        .into_iter()
        .next()
        .unwrap();
    let refused = p[0].run(ops::Delete {
        id: create.id().to_string().parse().unwrap(),
    });
    assert!(refused.is_err_and(|e| e.to_string().contains("cannot be deleted")));
    p[0].append_raw(&[Body::Deletion(kith_protocol::Deletion {
        target: create.id(),
    })])
    .unwrap();
    everyone(&mut p);
    for core in p.iter_mut() {
        assert!(
            core.store()
                .get(&create.id())
                .unwrap()
                .unwrap()
                .body()
                .is_some()
        );
    }
    post(&mut p[1], "after the deletion", Some("team"));
    everyone(&mut p);
    assert!(reads(&mut p[2], "after the deletion"));
    assert_eq!(names(&show(&mut p[2])).len(), 3);
}
