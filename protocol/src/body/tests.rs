use super::*;

#[test]
fn overlong_varints_inside_a_payload_are_malformed() {
    let body = Body::Profile(Profile {
        name: "x".repeat(200),
        about: String::new(),
    });
    let canonical = body.encode();
    assert_eq!(Body::decode(&canonical).unwrap(), body);
    // The name's length (200 = c8 01) as three bytes: c8 81 00.
    let mut overlong = canonical.clone();
    overlong.splice(2..3, [0x81, 0x00]);
    assert_eq!(
        Body::decode(&overlong),
        Err(BodyError::Malformed(
            "body is not canonically encoded".into()
        ))
    );
}

fn samples() -> Vec<Body> {
    vec![
        Body::Post(Post {
            kind: PostKind::Question,
            text: "How do I *merge*?".into(),
            reply_to: Some(EntryId([3; 32])),
            tags: vec!["rust".into(), "crdt".into()],
            files: Vec::new(),
            mentions: Vec::new(),
        }),
        Body::Endorsement(Endorsement {
            target: EntryId([1; 32]),
            note: Some("clear".into()),
            withdraw: false,
        }),
        Body::WikiChange(WikiChange {
            page: PageId([5; 16]),
            group_hash: [6; 32],
            part: 0,
            parts: 1,
            data: vec![1, 2, 3],
        }),
        Body::Profile(Profile {
            name: "Alice".into(),
            about: "".into(),
        }),
        Body::Trust(TrustStatement {
            subject: AuthorId::from_bytes([8; 32]),
            vouch: true,
        }),
        Body::Deletion(Deletion {
            target: EntryId([2; 32]),
        }),
        Body::Accept(Accept {
            question: EntryId([2; 32]),
            answer: None,
        }),
        Body::Post(Post {
            kind: PostKind::Note,
            text: "the crash".into(),
            reply_to: None,
            tags: vec![],
            files: vec![file("log.txt")],
            mentions: Vec::new(),
        }),
        Body::Files(Files {
            files: vec![file("a.png"), file("b.pdf")],
        }),
    ]
}

fn file(name: &str) -> BlobRef {
    BlobRef {
        hash: crate::blob::BlobHash([9; 32]),
        size: 1234,
        media_type: "text/plain".into(),
        name: name.into(),
        key: None,
    }
}

/// Kind 20 is kind 1's payload followed by the files, so a post keeps
/// kind 1 (and its bytes) when it has none, and a kind 20 without
/// files is not canonical.
#[test]
fn a_post_with_files_is_kind_20_and_without_them_kind_1() {
    let with = &samples()[samples().len() - 2];
    let Body::Post(post) = with else { panic!() };
    let bytes = with.encode();
    assert_eq!(bytes[0] as u64, kind::POST_WITH_FILES);
    let without = Body::Post(Post {
        files: vec![],
        ..post.clone()
    });
    let plain = without.encode();
    assert_eq!(plain[0] as u64, kind::POST);
    assert!(bytes[1..].starts_with(&plain[1..]));
    let mut empty = plain.clone();
    empty[0] = kind::POST_WITH_FILES as u8;
    empty.push(0);
    assert!(Body::decode(&empty).is_err());
    // A bad name from a peer decodes (stored, forwarded) but fails the check.
    let mut bad = post.clone();
    bad.files[0].name = "../../etc/passwd".into();
    assert!(Body::Post(bad).check(&Limits::default()).is_err());
    assert!(
        Body::Files(Files { files: vec![] })
            .check(&Limits::default())
            .is_err()
    );
}

#[test]
fn every_kind_round_trips() {
    for body in samples() {
        assert_eq!(Body::decode(&body.encode()).unwrap(), body);
    }
}

#[test]
fn unknown_kinds_are_kept_verbatim() {
    let bytes = [0x63, 0xde, 0xad];
    let body = Body::decode(&bytes).unwrap();
    assert_eq!(
        body,
        Body::Unknown {
            kind: 0x63,
            payload: vec![0xde, 0xad]
        }
    );
    assert_eq!(body.encode(), bytes);
}

#[test]
fn malformed_known_kind() {
    assert!(Body::decode(&[kind::POST as u8, 9, 9]).is_err());
    let mut bytes = samples()[0].encode();
    bytes.push(0);
    assert!(Body::decode(&bytes).is_err());
}

#[test]
fn content_rules() {
    let limits = Limits::default();
    let post = |text: &str, tags: &[&str]| {
        Body::Post(Post {
            kind: PostKind::Note,
            text: text.into(),
            reply_to: None,
            tags: tags.iter().map(|s| s.to_string()).collect(),
            files: Vec::new(),
            mentions: Vec::new(),
        })
    };
    assert!(post("hi", &["ok"]).check(&limits).is_ok());
    assert!(post("  ", &[]).check(&limits).is_err());
    assert!(post("hi", &["two words"]).check(&limits).is_err());
    let big = "x".repeat(limits.max_body_bytes);
    assert!(post(&big, &[]).check(&limits).is_err());
}
