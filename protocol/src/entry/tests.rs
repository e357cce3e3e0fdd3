use super::*;

fn keypair(seed: u8) -> Keypair {
    Keypair::from_secret(&[seed; 32])
}

fn draft(seq: u64, prev: Option<EntryId>, body: &[u8]) -> Draft {
    Draft {
        seq,
        prev,
        timestamp_ms: 1_700_000_000_000,
        body: body.to_vec(),
    }
}

const NOW: u64 = 1_700_000_000_000;

#[test]
fn round_trip_and_verify() {
    let kp = keypair(1);
    let entry = Entry::sign(&kp, draft(1, None, b"hello"));
    let bytes = entry.encode();
    assert_eq!(bytes.len(), entry.encoded_len());
    let back = Entry::decode(&bytes, &Limits::default()).unwrap();
    assert_eq!(back, entry);
    back.verify(&Limits::default(), NOW).unwrap();
}

#[test]
fn malformed_bytes_are_rejected() {
    let limits = Limits::default();
    for bytes in [&[][..], &[0x05, 1, 2], &[0xff; 3]] {
        assert!(matches!(
            Entry::decode(bytes, &limits),
            Err(ValidationError::Malformed(_))
        ));
    }
    let entry = Entry::sign(&keypair(1), draft(1, None, b"x"));
    let mut bytes = entry.encode();
    bytes.push(0);
    assert!(matches!(
        Entry::decode(&bytes, &limits),
        Err(ValidationError::Malformed(_))
    ));
}

#[test]
fn unsupported_version_is_its_own_error() {
    let kp = keypair(1);
    let mut header = Entry::sign(&kp, draft(1, None, b"x")).header().clone();
    header.version = 2;
    let bytes = header.encode();
    let sig = kp.sign(&signed_message(&bytes));
    let err = Entry::from_parts(bytes, sig, None, &Limits::default()).unwrap_err();
    assert_eq!(err, ValidationError::UnsupportedVersion(2));
}

#[test]
fn non_canonical_header_is_malformed() {
    let entry = Entry::sign(&keypair(1), draft(1, None, b"x"));
    // Re-encode seq (a varint) with a redundant continuation byte.
    let mut bytes = entry.header_bytes().to_vec();
    let seq_pos = 1 + 32;
    assert_eq!(bytes[seq_pos], 1);
    bytes.splice(seq_pos..seq_pos + 1, [0x81, 0x00]);
    let err = Entry::from_parts(bytes, *entry.signature(), None, &Limits::default());
    assert!(matches!(err, Err(ValidationError::Malformed(_))), "{err:?}");
}

#[test]
fn bad_signature() {
    let entry = Entry::sign(&keypair(1), draft(1, None, b"x"));
    let mut sig = *entry.signature();
    sig[10] ^= 1;
    let forged = Entry::from_parts(
        entry.header_bytes().to_vec(),
        sig,
        entry.body().map(<[u8]>::to_vec),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(
        forged.verify(&Limits::default(), NOW),
        Err(ValidationError::BadSignature)
    );
}

#[test]
fn signature_by_another_key_is_bad() {
    let entry = Entry::sign(&keypair(1), draft(1, None, b"x"));
    let other = keypair(2).sign(&entry.signed_message());
    let forged = Entry::from_parts(
        entry.header_bytes().to_vec(),
        other,
        None,
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(
        forged.verify_signature(),
        Err(ValidationError::BadSignature)
    );
}

#[test]
fn body_hash_mismatch() {
    let entry = Entry::sign(&keypair(1), draft(1, None, b"hello"));
    let swapped = Entry::from_parts(
        entry.header_bytes().to_vec(),
        *entry.signature(),
        Some(b"jello".to_vec()),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(
        swapped.verify(&Limits::default(), NOW),
        Err(ValidationError::BodyHashMismatch)
    );
    // Without the body the header alone still verifies.
    entry
        .without_body()
        .verify(&Limits::default(), NOW)
        .unwrap();
}

#[test]
fn too_large() {
    let limits = Limits {
        max_body_bytes: 8,
        ..Limits::default()
    };
    let entry = Entry::sign(&keypair(1), draft(1, None, &[0u8; 9]));
    let err = Entry::decode(&entry.encode(), &limits).unwrap_err();
    assert!(matches!(
        err,
        ValidationError::TooLarge {
            what: "body",
            size: 9,
            limit: 8
        }
    ));
}

#[test]
fn future_timestamp() {
    let limits = Limits::default();
    let mut d = draft(1, None, b"x");
    d.timestamp_ms = NOW + limits.max_clock_skew_ms + 1;
    let entry = Entry::sign(&keypair(1), d);
    assert!(matches!(
        entry.verify(&limits, NOW),
        Err(ValidationError::FutureTimestamp { .. })
    ));
    let mut d = draft(1, None, b"x");
    d.timestamp_ms = NOW + limits.max_clock_skew_ms;
    Entry::sign(&keypair(1), d).verify(&limits, NOW).unwrap();
}

#[test]
fn chain_rules() {
    let kp = keypair(1);
    let e1 = Entry::sign(&kp, draft(1, None, b"1"));
    let e2 = Entry::sign(&kp, draft(2, Some(e1.id()), b"2"));
    let e3 = Entry::sign(&kp, draft(3, Some(e2.id()), b"3"));
    let head1 = Head {
        seq: 1,
        id: e1.id(),
    };
    assert_eq!(check_chain(None, None, &e1), Ok(ChainStep::Append));
    assert_eq!(
        check_chain(Some(head1), Some(&e1), &e1),
        Ok(ChainStep::Duplicate)
    );
    assert_eq!(check_chain(Some(head1), None, &e2), Ok(ChainStep::Append));
    assert!(matches!(
        check_chain(Some(head1), None, &e3),
        Err(ValidationError::SeqGap {
            have: 1,
            got: 3,
            ..
        })
    ));
    let stray = Entry::sign(&kp, draft(2, Some(EntryId([9; 32])), b"2"));
    assert!(matches!(
        check_chain(Some(head1), None, &stray),
        Err(ValidationError::PrevMismatch { seq: 2, .. })
    ));
    let fork = Entry::sign(&kp, draft(1, None, b"other"));
    match check_chain(Some(head1), Some(&e1), &fork) {
        Err(ValidationError::Fork(proof)) => {
            proof.verify().unwrap();
            assert_eq!(proof.seq(), 1);
        }
        other => panic!("expected fork, got {other:?}"),
    }
}

#[test]
fn prev_must_be_absent_exactly_at_seq_one() {
    let kp = keypair(1);
    let bad = Entry::sign(&kp, draft(1, Some(EntryId([1; 32])), b"x"));
    assert!(matches!(
        Entry::decode(&bad.encode(), &Limits::default()),
        Err(ValidationError::Malformed(_))
    ));
    let bad = Entry::sign(&kp, draft(2, None, b"x"));
    assert!(matches!(
        Entry::decode(&bad.encode(), &Limits::default()),
        Err(ValidationError::Malformed(_))
    ));
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// Flipping any single bit of any byte of a signed entry makes it
        /// fail decoding or verification.
        #[test]
        fn any_flipped_byte_fails(
            body in proptest::collection::vec(any::<u8>(), 0..200),
            seq in 1u64..1_000_000,
            pos in any::<prop::sample::Index>(),
            bit in 0u8..8,
        ) {
            let kp = keypair(3);
            let prev = (seq > 1).then_some(EntryId([4; 32]));
            let entry = Entry::sign(&kp, Draft { seq, prev, timestamp_ms: NOW, body });
            let mut bytes = entry.encode();
            let i = pos.index(bytes.len());
            bytes[i] ^= 1 << bit;
            let limits = Limits::default();
            let result = Entry::decode(&bytes, &limits).and_then(|e| e.verify(&limits, NOW));
            prop_assert!(result.is_err(), "flip at {} bit {} accepted", i, bit);
        }
    }
}
