use super::*;

const DOC: &str = include_str!("../../../docs/PROTOCOL.md");

#[test]
fn protocol_md_vectors_match_the_code() {
    let start = DOC
        .find("<!-- vectors:begin -->")
        .expect("vectors block in PROTOCOL.md");
    let end = DOC.find("<!-- vectors:end -->").expect("vectors block end");
    let block = &DOC[start..end];
    let block = block
        .split("```text\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a text code block");
    assert_eq!(block, markdown(), "docs/PROTOCOL.md vectors are stale");
}

#[test]
fn the_certificate_vectors_resolve_to_one_person() {
    let mut registry = crate::identity::Registry::new();
    for entry in entries() {
        let body = Body::decode(entry.body().unwrap()).unwrap();
        if let Some(cert) = crate::identity::CertBody::of(&body) {
            registry.add(entry.author(), entry.seq(), cert);
        }
    }
    let succession = succession_entry();
    assert!(succession.verify(&Limits::default(), NOW_MS).is_ok());
    let body = Body::decode(succession.body().unwrap()).unwrap();
    registry.add(
        succession.author(),
        succession.seq(),
        crate::identity::CertBody::of(&body).unwrap(),
    );
    let author = Keypair::from_secret(&seed()).author();
    let phone = Keypair::from_secret(&[0x42; 32]).author();
    let new = Keypair::from_secret(&[0x43; 32]).author();
    let person = registry.person_of(&phone);
    assert_eq!((person.root, person.identity), (author, new));
    assert_eq!(person.key(&phone).unwrap().last_seq, Some(3));
    assert_eq!(person.key(&author).unwrap().last_seq, None);
    assert_eq!(
        person.key(&author).unwrap().role,
        crate::identity::Role::FormerIdentity
    );
    let restored = person
        .key(&succession.author())
        .expect("the successor is a key");
    assert_eq!(restored.role, crate::identity::Role::Device);
    assert!(restored.active());
}

#[test]
fn vectors_decode_and_verify_from_their_hex() {
    let text = markdown();
    let (log, rest) = text.split_once("\ndeleted form").unwrap();
    let (log, succession) = log.split_once("\nsuccession:").unwrap();
    let wire = succession.lines().find(|l| l.starts_with("wire")).unwrap();
    let entry = check(&hex::decode(wire.split_whitespace().nth(1).unwrap()).unwrap()).unwrap();
    assert_eq!((entry.seq(), entry.header().prev), (1, None));
    assert_eq!(Body::decode(entry.body().unwrap()).unwrap().kind(), 14);
    let offer = succession.lines().find(|l| l.starts_with("offer")).unwrap();
    let bytes = hex::decode(offer.split_whitespace().nth(1).unwrap()).unwrap();
    match crate::sync::decode::<crate::sync::Request>(&bytes).unwrap() {
        crate::sync::Request::Offer { entries } => {
            let list = crate::sync::decode_any_entries(&entries, &Limits::default()).unwrap();
            assert_eq!(list, vec![entry]);
        }
        other => panic!("not an offer: {other:?}"),
    }
    let mut prev = None;
    let mut kinds = Vec::new();
    for line in log.lines().filter(|l| l.starts_with("wire")) {
        let bytes = hex::decode(line.split_whitespace().nth(1).unwrap()).unwrap();
        let entry = check(&bytes).unwrap();
        assert_eq!(entry.header().prev, prev);
        kinds.push(Body::decode(entry.body().unwrap()).unwrap().kind());
        prev = Some(entry.id());
    }
    assert_eq!(
        kinds,
        [4, 1, 5, 1, 2, 7, 3, 6, 99, 8, 9, 10, 11, 12, 13],
        "every body kind (14 is the succession vector), and an unknown one"
    );
    let (deleted, negatives) = rest.split_once("negative vectors").unwrap();
    let wire = deleted.lines().find(|l| l.starts_with("wire")).unwrap();
    let entry = check(&hex::decode(wire.split_whitespace().nth(1).unwrap()).unwrap()).unwrap();
    assert_eq!((entry.seq(), entry.body()), (DELETED_SEQ, None));
    let wires: Vec<_> = negatives
        .lines()
        .filter(|l| l.starts_with("wire"))
        .collect();
    assert_eq!(wires.len(), negative().len());
    for (line, negative) in wires.iter().zip(negative()) {
        let bytes = hex::decode(line.split_whitespace().nth(1).unwrap()).unwrap();
        assert_eq!(
            check(&bytes).unwrap_err(),
            negative.error,
            "{}",
            negative.name
        );
    }
}

#[test]
fn negative_vectors_fail_for_their_stated_reason() {
    let classes: Vec<_> = negative()
        .iter()
        .map(|n| (n.name, error_class(&n.error)))
        .collect();
    let expect = [
        ("overlong varint (header length)", "malformed"),
        ("trailing byte after the entry", "malformed"),
        ("body flag 2", "malformed"),
        ("header version 2", "unsupported version"),
        ("seq 0", "malformed"),
        ("prev present at seq 1", "malformed"),
        ("signature with s >= L", "bad signature"),
        ("signature with one bit flipped", "bad signature"),
        ("small-order author key", "bad key"),
        ("body does not match its hash", "body hash mismatch"),
        ("timestamp 11 minutes in the future", "future timestamp"),
    ];
    assert_eq!(classes, expect);
}

/// §6 names the error classes once, and they are exactly the classes the
/// code gives (so §10's vectors and an outside implementation share one list).
#[test]
fn section_6_lists_every_error_class_and_no_other() {
    let listed: Vec<&str> = DOC
        .split("These ten names (")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .expect("§6 lists the error classes")
        .split(',')
        .map(|name| name.trim().trim_start_matches("and ").trim_matches('`'))
        .collect();
    let author = crate::Keypair::from_secret(&seed()).author();
    let log = entries();
    let proof = crate::ForkProof {
        first: log[0].clone(),
        second: log[1].clone(),
    };
    let every = [
        ValidationError::Malformed(String::new()),
        ValidationError::TooLarge {
            what: "entry",
            size: 2,
            limit: 1,
        },
        ValidationError::UnsupportedVersion(2),
        ValidationError::BadKey(crate::KeyError::WeakKey),
        ValidationError::BadSignature,
        ValidationError::BodyHashMismatch,
        ValidationError::FutureTimestamp {
            timestamp_ms: 2,
            ahead_ms: 1,
            limit_ms: 0,
        },
        ValidationError::Fork(Box::new(proof)),
        ValidationError::SeqGap {
            author,
            have: 1,
            got: 3,
        },
        ValidationError::PrevMismatch { author, seq: 2 },
    ];
    let classes: Vec<&str> = every.iter().map(error_class).collect();
    assert_eq!(listed, classes);
    let mut distinct = classes.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), every.len(), "one class per variant");
}

/// §4's table gives each kind number the code gives it, and says which
/// numbers are unknown kinds (stored and forwarded, never opened).
#[test]
fn section_4_numbers_the_kinds_as_the_code_does() {
    use crate::body::kind;
    let rows: Vec<(u64, &str)> = DOC
        .split("## 4. Body")
        .nth(1)
        .and_then(|rest| rest.split("## 5.").next())
        .expect("§4")
        .lines()
        .filter_map(|line| {
            let mut cells = line.split('|').map(str::trim).skip(1);
            let number = cells.next()?.parse().ok()?;
            Some((number, cells.next()?))
        })
        .collect();
    let named = [
        (kind::POST, "post"),
        (kind::ENDORSEMENT, "endorsement"),
        (kind::WIKI_CHANGE, "wiki change"),
        (kind::PROFILE, "profile"),
        (kind::TRUST, "trust"),
        (kind::DELETION, "deletion"),
        (kind::ACCEPT, "accept"),
        (kind::WIKI_BUNDLE, "wiki bundle"),
        (kind::DEVICE_LINK, "device link"),
        (kind::DEVICE_REVOKE, "device revoke"),
        (kind::ROTATE, "rotate"),
        (kind::RECOVERY_CONTACTS, "recovery contacts"),
        (kind::RECOVERY_APPROVAL, "recovery approval"),
        (kind::SUCCESSION, "succession"),
        (kind::ENCRYPTION_KEY, "encryption key"),
        (kind::CIRCLE_EPOCH, "circle epoch"),
        (kind::SEALED, "sealed"),
        (kind::POST_WITH_FILES, "post with files"),
        (kind::FILES, "files"),
        (kind::PROMOTION, "promotion"),
    ];
    for (number, name) in &rows {
        let mut bytes = Vec::new();
        crate::varint::encode(*number, &mut bytes);
        let unknown = matches!(Body::decode(&bytes), Ok(Body::Unknown { .. }));
        if name.starts_with('(') {
            assert!(unknown, "§4 says kind {number} is unknown");
        } else {
            assert!(!unknown, "§4 names kind {number} {name}");
            assert!(
                named.contains(&(*number, *name)),
                "§4: kind {number} {name}"
            );
        }
    }
    for (number, name) in named {
        assert!(
            rows.contains(&(number, name)),
            "§4 lacks kind {number} {name}"
        );
    }
}

#[test]
fn the_wiki_vector_holds_a_well_framed_group() {
    let log = entries();
    let Ok(Body::WikiChange(change)) = Body::decode(log[6].body().unwrap()) else {
        panic!("entry 7 is a wiki change");
    };
    change_group::check_part(&change).unwrap();
    let parts = change_group::split(&change.data).unwrap();
    assert_eq!(parts, [hex::decode(AUTOMERGE_CHANGE).unwrap().as_slice()]);
}

#[test]
fn the_compact_wiki_vector_inflates_to_an_automerge_bundle() {
    let log = entries();
    let Ok(Body::WikiBundle(change)) = Body::decode(log[9].body().unwrap()) else {
        panic!("entry 10 is a compact wiki change");
    };
    change_group::check_part(&change).unwrap();
    let bundle = change_group::decompress(&change.data).unwrap();
    // Automerge's chunk magic, then a checksum and the bundle chunk type.
    assert_eq!(&bundle[..4], &[0x85, 0x6f, 0x4a, 0x83]);
}

/// The sync messages and the address record of the vectors block decode as
/// a receiver reads them: each message canonical and whole, the record's
/// signature valid for the vector key.
#[test]
fn the_message_vectors_decode_and_the_record_verifies() {
    use crate::sync::{Request, Response, decode};
    let block = markdown();
    let hexes = |prefix: &str| -> Vec<Vec<u8>> {
        block
            .lines()
            .filter_map(|l| l.strip_prefix(prefix))
            .map(|h| hex::decode(h.trim()).unwrap())
            .collect()
    };
    let messages = hexes("message   ");
    assert_eq!(messages.len(), 6);
    for bytes in &messages[..3] {
        decode::<Request>(bytes).unwrap();
    }
    for bytes in &messages[3..] {
        decode::<Response>(bytes).unwrap();
    }
    let Ok(Response::Entries { entries, .. }) = decode::<Response>(&messages[4]) else {
        panic!("the fifth message is Response::Entries");
    };
    let got = crate::sync::decode_any_entries(&entries, &Limits::default()).unwrap();
    assert_eq!(got.iter().map(Entry::seq).collect::<Vec<_>>(), [9, 10]);
    let record = &hexes("record    ")[0];
    let me = crate::Keypair::from_secret(&seed()).author();
    let verified = crate::addr_record::AddrRecord::verify(record, &me).unwrap();
    assert_eq!(verified.timestamp_ms, TIMESTAMP_MS);
    assert_eq!(
        hexes("dht key   ")[0],
        crate::addr_record::dht_key(&me),
        "the DHT key is /kith/addr/ and the 32 key bytes"
    );
}
