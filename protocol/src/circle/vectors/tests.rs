#![allow(clippy::unwrap_used)]

use super::*;

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
