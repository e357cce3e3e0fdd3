#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use super::*;
use crate::entry::EntryId;

const DOC: &str = include_str!("../../../../docs/PROTOCOL.md");

#[test]
fn protocol_md_circle_vectors_match_the_code() {
    let start = DOC
        .find("<!-- circle-vectors:begin -->")
        .expect("circle vectors block");
    let end = DOC.find("<!-- circle-vectors:end -->").expect("block end");
    let block = DOC[start..end]
        .split("```text\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a text code block");
    assert_eq!(
        block,
        markdown(),
        "docs/PROTOCOL.md circle vectors are stale"
    );
}

#[test]
fn device_a_log_verifies_as_a_chain_and_its_bodies_decode() {
    let log = log();
    let limits = crate::Limits::default();
    let mut head = None;
    for entry in &log {
        let wire = crate::Entry::decode(&entry.encode(), &limits).unwrap();
        wire.verify(&limits, crate::vectors::NOW_MS).unwrap();
        assert_eq!(
            crate::check_chain(head, None, &wire).unwrap(),
            crate::ChainStep::Append
        );
        head = Some(crate::Head {
            seq: wire.seq(),
            id: wire.id(),
        });
        assert!(!matches!(
            Body::decode(wire.body().unwrap()).unwrap(),
            Body::Unknown { .. }
        ));
    }
}

#[test]
fn the_contested_cases_resolve_as_documented() {
    for case in cases() {
        let (members, counted) = case.outcome();
        assert_eq!(members, case.members, "{}", case.name);
        assert_eq!(counted, case.counted, "{}", case.name);
    }
}

#[test]
fn every_device_opens_the_vector_epochs_and_post_from_their_bytes() {
    let built = build();
    let [a, b, c] = devices();
    let author = a.author();
    let create = &built.create.body;
    let key = built.create.circle_key;
    assert!(create.ids_hold(&author));
    assert!(key.is_of(&create.circle, &create.epoch));
    assert_eq!(
        EpochKeys::derive(&built.create_secret, &create.circle, &create.epoch),
        built.create.keys
    );
    let body = Body::decode(&Body::CircleEpoch(create.clone()).encode()).unwrap();
    let Body::CircleEpoch(create) = body else {
        panic!()
    };
    for device in [&a, &b] {
        let d = DeviceSecret::of(device);
        let got = create.unwrap_all(&author, &d);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].secret, built.create_secret);
        assert_eq!(got[0].circle_key, key);
        let state = create.open_state(&author, &key).unwrap();
        assert_eq!(state, built.create_state);
        assert_eq!(
            create.keys_for(&author, &d, &key, &state),
            Some(built.create.keys.clone())
        );
    }
    assert!(create.unwrap_all(&author, &DeviceSecret::of(&c)).is_empty());
    assert_eq!(
        built
            .sealed
            .open(&author, &built.create.keys.content)
            .unwrap(),
        built.inner
    );
    // C, added later, reads the Add with its own wrap, the creation's
    // state with the circle key it got, and the post with the history.
    let add = &built.add.body;
    let dc = DeviceSecret::of(&c);
    let got = add.unwrap_all(&author, &dc);
    assert_eq!(got[0].circle_key, key);
    let add_state = add.open_state(&author, &key).unwrap();
    let keys = add.keys_for(&author, &dc, &key, &add_state).unwrap();
    assert_eq!(
        add.open_history(&author, &keys.history).unwrap(),
        built.add_history
    );
    assert_eq!(
        create.open_state(&author, &key).unwrap(),
        built.create_state
    );
    assert_eq!(
        built
            .sealed
            .open(&author, &built.add_history[0].key)
            .unwrap(),
        built.inner
    );
}

/// The `Remove` and `Rekey` vectors read back as their bytes say: B opens
/// both with its wraps, C (removed) opens neither and still reads their
/// states with the circle key, as everyone who was ever a member does.
#[test]
fn the_remove_and_rekey_vectors_open_for_b_and_not_for_c() {
    let built = build();
    let [a, b, c] = devices();
    let author = a.author();
    let key = built.create.circle_key;
    for (sealed, secret, state, parent) in [
        (
            &built.remove,
            built.remove_secret,
            &built.remove_state,
            built.add.body.epoch,
        ),
        (
            &built.rekey,
            built.rekey_secret,
            &built.rekey_state,
            built.remove.body.epoch,
        ),
    ] {
        let Body::CircleEpoch(epoch) =
            Body::decode(&Body::CircleEpoch(sealed.body.clone()).encode()).unwrap()
        else {
            panic!()
        };
        assert!(epoch.ids_hold(&author));
        assert_eq!(epoch.circle, built.create.body.circle);
        let opened = epoch.open_state(&author, &key).unwrap();
        assert_eq!(&opened, state);
        assert_eq!(opened.parents, vec![parent]);
        let db = DeviceSecret::of(&b);
        let got = epoch.unwrap_all(&author, &db);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].secret, secret);
        assert_eq!(
            epoch.keys_for(&author, &db, &key, &opened),
            Some(EpochKeys::derive(&secret, &epoch.circle, &epoch.epoch))
        );
        assert!(epoch.unwrap_all(&author, &DeviceSecret::of(&c)).is_empty());
    }
    assert_eq!(
        built.remove_state.change,
        Change::Remove {
            person: c.author(),
            seen: vec![Seen {
                key: c.author(),
                seq: 2
            }],
        }
    );
    assert_eq!(built.rekey_state.change, Change::Rekey);
}

/// An outsider's check of §12.4: the JSON cases of PROTOCOL.md, read with a
/// JSON parser and nothing from this module but `resolve`, give the
/// members and counted epochs the document says.
#[test]
fn protocol_md_circle_cases_resolve_from_their_json() {
    let start = DOC
        .find("<!-- circle-cases:begin -->")
        .expect("cases block");
    let end = DOC.find("<!-- circle-cases:end -->").expect("block end");
    let block = DOC[start..end]
        .split("```json\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a json code block");
    assert_eq!(
        block,
        cases_json(),
        "docs/PROTOCOL.md circle cases are stale"
    );
    let doc: serde_json::Value = serde_json::from_str(block).unwrap();
    let bytes = |v: &serde_json::Value| hex::decode(v.as_str().unwrap()).unwrap();
    let key = |v: &serde_json::Value| AuthorId::from_bytes(bytes(v).try_into().unwrap());
    let epoch = |v: &serde_json::Value| EpochId(bytes(v).try_into().unwrap());
    let cases = doc["cases"].as_array().unwrap();
    assert_eq!(cases.len(), super::cases().len());
    for case in cases {
        let ops: Vec<Op> = case["epochs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let c = &e["change"];
                let change = if c == "rekey" {
                    Change::Rekey
                } else if let Some(x) = c.get("create") {
                    Change::Create {
                        name: "case".into(),
                        members: x["members"].as_array().unwrap().iter().map(key).collect(),
                    }
                } else if let Some(x) = c.get("add") {
                    Change::Add {
                        person: key(&x["person"]),
                        history: x["history"].as_bool().unwrap(),
                    }
                } else {
                    let x = &c["remove"];
                    Change::Remove {
                        person: key(&x["person"]),
                        seen: x["seen"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|s| Seen {
                                key: key(&s["key"]),
                                seq: s["seq"].as_u64().unwrap(),
                            })
                            .collect(),
                    }
                };
                Op {
                    id: EntryId(bytes(&e["entry"]).try_into().unwrap()),
                    person: key(&e["person"]),
                    device: key(&e["device"]),
                    seq: e["seq"].as_u64().unwrap(),
                    epoch: epoch(&e["epoch"]),
                    state: EpochState {
                        parents: e["parents"].as_array().unwrap().iter().map(epoch).collect(),
                        change,
                        recipients: vec![],
                        key_check: [0; 32],
                    },
                }
            })
            .collect();
        let resolved = resolve(&epoch(&case["root"]), ops);
        let members: BTreeSet<AuthorId> = case["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(key)
            .collect();
        assert_eq!(resolved.members, members, "{}", case["name"]);
        let counted: BTreeSet<EpochId> = case["counted"]
            .as_array()
            .unwrap()
            .iter()
            .map(epoch)
            .collect();
        let got: BTreeSet<EpochId> = resolved.epochs.keys().copied().collect();
        assert_eq!(got, counted, "{}", case["name"]);
    }
}
