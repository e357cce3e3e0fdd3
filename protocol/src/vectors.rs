//! Test vectors for `docs/PROTOCOL.md`: one log by a fixed-seed key with
//! every body kind (and an unknown one), a deleted entry, wiki change
//! groups in both forms, and negative vectors with the error each must produce.
//! `cargo run -p kith-protocol --example vectors` prints them; a unit test
//! checks that the document and the code agree.

use crate::{
    Accept, Body, Deletion, Draft, Endorsement, Entry, Keypair, Limits, PageId, Post, PostKind,
    Profile, TrustStatement, ValidationError, WikiChange, change_group, varint,
};

/// The secret seed of the vector key: bytes 0x00, 0x01, …, 0x1f.
pub fn seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    for (i, b) in seed.iter_mut().enumerate() {
        *b = i as u8;
    }
    seed
}

/// First timestamp of the vector log; entry `n` is `n - 1` seconds later.
pub const TIMESTAMP_MS: u64 = 1_700_000_000_000;

/// "Now" for checking the vectors (ten minutes after the first entry).
pub const NOW_MS: u64 = TIMESTAMP_MS + 600_000;

/// An Automerge change (binary change format) by the vector key's actor:
/// it sets `title` to "Hi" in a new document. Opaque at the entry layer.
pub const AUTOMERGE_CHANGE: &str = "856f4a830b3aec710144002003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b80101000000061507340142025602570270027f057469746c65017f017f2648697f00";

/// A compact wiki group (kind 8): the raw DEFLATE of an Automerge change
/// bundle of two changes by the vector key's actor, which set `title` to
/// "Hi" and then `body` to the text "Hello" (commit times 0).
pub const AUTOMERGE_BUNDLE: &str = "6bcdf76abefbe9e13ee6c58c0c8c0acc0bd9f77f3e27b04fb6e0aec473ef0333d39f5c3398bd94375ef64e5b8a50a8e10e4e4626662661266566632657a600e660a604262606264626c63a4636260606a63a06c67a0626061e4616663641166176513e45261326279630d670f602a6cd8c6c0c4cac4065f54c2c0c0ccc2c600dcccc8c752c49f92995ac25992539a90cacec4035f52c6c8c750c6aac621e991ea93939f9ec0cb58c404d8c00";

/// The vector log's bodies, in log order.
pub fn bodies() -> Vec<Body> {
    let other = Keypair::from_secret(&[0x42; 32]).author();
    let group = change_group::frame(&[hex::decode(AUTOMERGE_CHANGE).expect("hex constant")]);
    // Later bodies name earlier entries: their ids are known because the
    // log is fixed.
    let mut out = vec![
        profile(),
        question(),
        Body::Trust(TrustStatement {
            subject: other,
            vouch: true,
        }),
    ];
    let question_id = entries_of(&out)[1].id();
    let answer = Body::Post(Post {
        kind: PostKind::Answer,
        text: "Yes.".into(),
        reply_to: Some(question_id),
        tags: vec![],
        files: Vec::new(),
        mentions: Vec::new(),
    });
    out.push(answer.clone());
    let answer_id = entries_of(&out)[3].id();
    out.push(Body::Endorsement(Endorsement {
        target: answer_id,
        note: Some("clear".into()),
        withdraw: false,
    }));
    out.push(Body::Accept(Accept {
        question: question_id,
        answer: Some(answer_id),
    }));
    out.push(Body::WikiChange(WikiChange {
        page: PageId([0xab; 16]),
        group_hash: *blake3::hash(&group).as_bytes(),
        part: 0,
        parts: 1,
        data: group,
    }));
    let endorsement_id = entries_of(&out)[4].id();
    out.push(Body::Deletion(Deletion {
        target: endorsement_id,
    }));
    out.push(Body::Unknown {
        kind: 99,
        payload: vec![1, 2, 3],
    });
    let bundle = hex::decode(AUTOMERGE_BUNDLE).expect("hex constant");
    out.push(Body::WikiBundle(WikiChange {
        page: PageId([0xab; 16]),
        group_hash: *blake3::hash(&bundle).as_bytes(),
        part: 0,
        parts: 1,
        data: bundle,
    }));
    // Entries 11-13: a device certificate, its revocation, a rotation
    // (PROTOCOL.md §11), the device and the new key from fixed seeds.
    let device = Keypair::from_secret(&[0x42; 32]);
    let author = Keypair::from_secret(&seed()).author();
    out.push(Body::DeviceLink(crate::identity::DeviceLink::new(
        &author, &device, "phone",
    )));
    out.push(Body::DeviceRevoke(crate::identity::DeviceRevoke {
        device: device.author(),
        last_seq: 3,
    }));
    out.push(Body::Rotate(crate::identity::Rotate::new(
        &author,
        &Keypair::from_secret(&[0x43; 32]),
    )));
    // Entries 14-15: recovery contacts (written before the rotation would
    // be read; here they only show the encoding), and this key vouching
    // for the key with seed 0x45 as the new identity of the key with seed
    // 0x44.
    out.push(Body::RecoveryContacts(crate::identity::RecoveryContacts {
        threshold: 2,
        contacts: vec![
            Keypair::from_secret(&[0x42; 32]).author(),
            Keypair::from_secret(&[0x44; 32]).author(),
            Keypair::from_secret(&[0x45; 32]).author(),
        ],
    }));
    let lost = Keypair::from_secret(&[0x44; 32]).author();
    let new = Keypair::from_secret(&[0x45; 32]);
    out.push(Body::RecoveryApproval(crate::identity::RecoveryApproval {
        old: lost,
        new: new.author(),
        consent: crate::identity::RecoveryApproval::request(&lost, &new),
        seen_seq: 7,
    }));
    out
}

fn profile() -> Body {
    Body::Profile(Profile {
        name: "Vector".into(),
        about: "test key".into(),
    })
}

fn question() -> Body {
    Body::Post(Post {
        kind: PostKind::Question,
        text: "Hello, Kith?".into(),
        reply_to: None,
        tags: vec!["intro".into()],
        files: Vec::new(),
        mentions: Vec::new(),
    })
}

fn entries_of(bodies: &[Body]) -> Vec<Entry> {
    let keypair = Keypair::from_secret(&seed());
    let mut out: Vec<Entry> = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        let entry = Entry::sign(
            &keypair,
            Draft {
                seq: i as u64 + 1,
                prev: out.last().map(Entry::id),
                timestamp_ms: TIMESTAMP_MS + i as u64 * 1000,
                body: body.encode(),
            },
        );
        out.push(entry);
    }
    out
}

/// The vector log, in order.
pub fn entries() -> Vec<Entry> {
    entries_of(&bodies())
}

/// The secret seed of the key that takes over in [`succession_entry`].
pub const SUCCESSOR_SEED: [u8; 32] = [0x46; 32];

/// The key with seed `0x46` takes over the vector key's place as a device
/// (kind 14, the first entry of its own log).
pub fn succession_entry() -> Entry {
    let old = Keypair::from_secret(&seed());
    let new = Keypair::from_secret(&SUCCESSOR_SEED);
    let at = entries().len() as u64;
    let body = Body::Succession(crate::identity::Succession::new(
        &old,
        &new.author(),
        false,
        at,
    ));
    Entry::sign(
        &new,
        Draft {
            seq: 1,
            prev: None,
            timestamp_ms: TIMESTAMP_MS + 60_000,
            body: body.encode(),
        },
    )
}

/// The seq of the entry the log's deletion targets: its wire form without
/// the body is the deleted-entry vector.
pub const DELETED_SEQ: u64 = 5;

/// Every vector entry, and the deleted form of entry [`DELETED_SEQ`].
pub fn all_entries() -> Vec<Entry> {
    let mut out = entries();
    let deleted = out[DELETED_SEQ as usize - 1].without_body();
    out.push(deleted);
    out
}

/// What a decoder must answer for a negative vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negative {
    pub name: &'static str,
    pub wire: Vec<u8>,
    /// The error class (`malformed`, `unsupported version`, …) and message.
    pub error: ValidationError,
}

/// The error an entry's wire bytes produce when decoded and verified at
/// [`NOW_MS`], if any.
pub fn check(wire: &[u8]) -> Result<Entry, ValidationError> {
    let limits = Limits::default();
    let entry = Entry::decode(wire, &limits)?;
    entry.verify(&limits, NOW_MS)?;
    Ok(entry)
}

/// Re-frames a header into an envelope with the given signature and body.
fn envelope(header: &[u8], signature: &[u8; 64], body: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    varint::encode(header.len() as u64, &mut out);
    out.extend_from_slice(header);
    out.extend_from_slice(signature);
    match body {
        None => out.push(0),
        Some(body) => {
            out.push(1);
            varint::encode(body.len() as u64, &mut out);
            out.extend_from_slice(body);
        }
    }
    out
}

/// Signs arbitrary header bytes with the vector key.
fn signed(header: &[u8], body: Option<&[u8]>) -> Vec<u8> {
    let keypair = Keypair::from_secret(&seed());
    let mut message = crate::SIGNING_DOMAIN.to_vec();
    message.extend_from_slice(header);
    envelope(header, &keypair.sign(&message), body)
}

/// Negative vectors: wire bytes every implementation must refuse, each
/// with the error this one gives. All are derived from entry 1 or 2.
pub fn negative() -> Vec<Negative> {
    let log = entries();
    let first = &log[0];
    let second = &log[1];
    let body1 = first.body().expect("vectors have bodies");
    let wire1 = first.encode();
    let mut out = Vec::new();
    let mut push = |name: &'static str, wire: Vec<u8>| {
        let error = check(&wire).expect_err("a negative vector is refused");
        out.push(Negative { name, wire, error });
    };

    // The header length as a two-byte varint (0xca 0x00 for 0x4a).
    let mut overlong = vec![wire1[0] | 0x80, 0x00];
    overlong.extend_from_slice(&wire1[1..]);
    push("overlong varint (header length)", overlong);

    let mut trailing = wire1.clone();
    trailing.push(0);
    push("trailing byte after the entry", trailing);

    let header = first.header_bytes();
    let body_start = wire1.len() - body1.len();
    let mut flag = wire1[..body_start - 2].to_vec();
    flag.push(2);
    flag.extend_from_slice(&wire1[body_start - 1..]);
    push("body flag 2", flag);

    let mut version = header.to_vec();
    version[0] = 2;
    push("header version 2", signed(&version, Some(body1)));

    // seq 0: the seq varint is the byte after version (1) and author (32).
    let mut seq0 = header.to_vec();
    seq0[33] = 0;
    push("seq 0", signed(&seq0, Some(body1)));

    // seq 1 with a prev: entry 2's header with seq set to 1.
    let mut prev_at_1 = second.header_bytes().to_vec();
    prev_at_1[33] = 1;
    push("prev present at seq 1", signed(&prev_at_1, second.body()));

    // s + L, where L is the order of the ed25519 group: the same signature
    // in a non-canonical form, which verify_strict refuses.
    let mut high_s = *first.signature();
    add_group_order(&mut high_s[32..]);
    push(
        "signature with s >= L",
        envelope(header, &high_s, Some(body1)),
    );

    let mut flipped = *first.signature();
    flipped[0] ^= 1;
    push(
        "signature with one bit flipped",
        envelope(header, &flipped, Some(body1)),
    );

    // The identity point (order 1) as the author key.
    let mut weak = header.to_vec();
    weak[1..33].copy_from_slice(&{
        let mut point = [0u8; 32];
        point[0] = 1;
        point
    });
    push("small-order author key", signed(&weak, Some(body1)));

    let mut body = body1.to_vec();
    body[1] ^= 1;
    push(
        "body does not match its hash",
        envelope(header, first.signature(), Some(&body)),
    );

    // A header whose timestamp is eleven minutes after NOW_MS.
    let future = Entry::sign(
        &Keypair::from_secret(&seed()),
        Draft {
            seq: 1,
            prev: None,
            timestamp_ms: NOW_MS + 11 * 60_000,
            body: body1.to_vec(),
        },
    );
    push("timestamp 11 minutes in the future", future.encode());
    out
}

/// Adds L = 2^252 + 27742317777372353535851937790883648493 to a 32-byte
/// little-endian scalar.
fn add_group_order(s: &mut [u8]) {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut carry = 0u16;
    for (byte, l) in s.iter_mut().zip(L) {
        let sum = u16::from(*byte) + u16::from(l) + carry;
        *byte = sum as u8;
        carry = sum >> 8;
    }
}

/// Short name of an error's class, as PROTOCOL.md §6 names it.
pub fn error_class(error: &ValidationError) -> &'static str {
    match error {
        ValidationError::Malformed(_) => "malformed",
        ValidationError::UnsupportedVersion(_) => "unsupported version",
        ValidationError::BadKey(_) => "bad key",
        ValidationError::BadSignature => "bad signature",
        ValidationError::BodyHashMismatch => "body hash mismatch",
        ValidationError::TooLarge { .. } => "too large",
        ValidationError::FutureTimestamp { .. } => "future timestamp",
        ValidationError::SeqGap { .. } => "seq gap",
        ValidationError::PrevMismatch { .. } => "prev mismatch",
        ValidationError::Fork(_) => "fork",
    }
}

/// Sync messages (§8.2) about the vector log, and a signed address
/// record (§8.3), each as the bytes of one message (unframed).
fn messages(log: &[Entry]) -> String {
    use crate::sync::{FrontierItem, Request, Response, encode};
    let me = log[0].author();
    let last = &log[log.len() - 1];
    let empty = Keypair::from_secret(&SUCCESSOR_SEED).author();
    let frontier = vec![
        FrontierItem {
            author: me,
            head: Some(crate::Head {
                seq: last.seq(),
                id: last.id(),
            }),
        },
        FrontierItem {
            author: empty,
            head: None,
        },
    ];
    let concat = |entries: &[Entry]| entries.iter().flat_map(Entry::encode).collect::<Vec<u8>>();
    let hash = [0xab; 32];
    let messages: Vec<(String, Vec<u8>)> = vec![
        (
            format!(
                "Request::Frontier: the vector key at seq {} and the succession key with no head",
                last.seq()
            ),
            encode(&Request::Frontier(frontier.clone())),
        ),
        (
            "Request::Fetch: the vector key's entries after seq 8, at most 1 MiB".into(),
            encode(&Request::Fetch {
                author: me,
                after_seq: 8,
                max_bytes: 1 << 20,
            }),
        ),
        (
            "Request::Changes: one change hash, ab…ab".into(),
            encode(&Request::Changes { hashes: vec![hash] }),
        ),
        (
            "Response::Frontier: the same two items".into(),
            encode(&Response::Frontier(frontier)),
        ),
        (
            "Response::Entries: the vector key's seq 9 and 10".into(),
            encode(&Response::Entries {
                author: me,
                entries: concat(&log[8..10]),
            }),
        ),
        (
            "Response::Changes: entry 7 (the one-change wiki group)".into(),
            encode(&Response::Changes {
                entries: concat(&log[6..7]),
            }),
        ),
    ];
    let mut out =
        String::from("\nsync messages (§8.2; each is framed as u32 BE length || message)\n");
    for (what, bytes) in messages {
        out.push_str(&format!(
            "\ncase      {what}\nmessage   {}\n",
            hex::encode(bytes)
        ));
    }
    let keypair = Keypair::from_secret(&seed());
    let addr = hex::decode("04c0000201060fa1").expect("hex"); // /ip4/192.0.2.1/tcp/4001
    let record = crate::addr_record::AddrRecord::sign(&keypair, &[addr], TIMESTAMP_MS);
    out.push_str(&format!(
        "\naddress record (§8.3) of the vector key: /ip4/192.0.2.1/tcp/4001 at timestamp {TIMESTAMP_MS}\n"
    ));
    out.push_str(&format!(
        "dht key   {}\n",
        hex::encode(crate::addr_record::dht_key(&keypair.author()))
    ));
    out.push_str(&format!("record    {}\n", hex::encode(record)));
    out
}

/// The vectors as the markdown block in `docs/PROTOCOL.md`.
pub fn markdown() -> String {
    let mut out = String::new();
    let keypair = Keypair::from_secret(&seed());
    out.push_str(&format!("seed      {}\n", hex::encode(seed())));
    out.push_str(&format!(
        "public    {}\n",
        hex::encode(keypair.author().as_bytes())
    ));
    out.push_str(&format!("author    {}\n", keypair.author()));
    out.push_str(&format!("now       {NOW_MS}\n"));
    let log = entries();
    for entry in &log {
        let body = entry.body().expect("vectors have bodies");
        let decoded = Body::decode(body).expect("vector bodies decode");
        out.push('\n');
        out.push_str(&format!("seq       {}\n", entry.seq()));
        out.push_str(&format!("timestamp {}\n", entry.header().timestamp_ms));
        out.push_str(&format!(
            "kind      {} ({})\n",
            decoded.kind(),
            decoded.kind_name()
        ));
        if let Some((change, form)) = decoded.wiki_part() {
            out.push_str(&format!("group     {}\n", hex::encode(&change.data)));
            out.push_str(&format!("grouphash {}\n", hex::encode(change.group_hash)));
            if form == crate::GroupForm::Bundle {
                let bundle =
                    change_group::decompress(&change.data).expect("vector bundle inflates");
                out.push_str(&format!("bundle    {}\n", hex::encode(bundle)));
            }
        }
        let author = entry.author();
        match &decoded {
            Body::DeviceLink(l) => out.push_str(&format!(
                "consent   by {} over {}\n",
                hex::encode(l.device.as_bytes()),
                hex::encode(crate::identity::link_message(&author, &l.device))
            )),
            Body::Rotate(r) => out.push_str(&format!(
                "consent   by {} over {}\n",
                hex::encode(r.new.as_bytes()),
                hex::encode(crate::identity::rotate_message(&author, &r.new))
            )),
            Body::RecoveryApproval(a) => out.push_str(&format!(
                "consent   by {} over {}\n",
                hex::encode(a.new.as_bytes()),
                hex::encode(crate::identity::recover_message(&a.old, &a.new))
            )),
            _ => {}
        }
        out.push_str(&format!("body      {}\n", hex::encode(body)));
        out.push_str(&format!(
            "header    {}\n",
            hex::encode(entry.header_bytes())
        ));
        out.push_str(&format!("signature {}\n", hex::encode(entry.signature())));
        out.push_str(&format!("id        {}\n", entry.id()));
        out.push_str(&format!("wire      {}\n", hex::encode(entry.encode())));
    }
    let succession = succession_entry();
    let Ok(Body::Succession(handover)) = Body::decode(succession.body().expect("a body")) else {
        unreachable!("the succession vector is kind 14")
    };
    out.push_str("\nsuccession: the key of this seed takes the vector key's place as a device\n");
    out.push_str(&format!("seed      {}\n", hex::encode(SUCCESSOR_SEED)));
    out.push_str(&format!(
        "public    {}\n",
        hex::encode(succession.author().as_bytes())
    ));
    out.push_str(&format!("author    {}\n", succession.author()));
    out.push_str(&format!("seq       {}\n", succession.seq()));
    out.push_str(&format!("timestamp {}\n", succession.header().timestamp_ms));
    out.push_str(&format!(
        "kind      {} (succession)\n",
        crate::body::kind::SUCCESSION
    ));
    out.push_str(&format!(
        "consent   by {} over {}\n",
        hex::encode(handover.from.as_bytes()),
        hex::encode(crate::identity::succeed_message(
            &handover.from,
            &succession.author(),
            handover.identity,
            handover.at
        ))
    ));
    out.push_str(&format!(
        "body      {}\n",
        hex::encode(succession.body().expect("a body"))
    ));
    out.push_str(&format!(
        "header    {}\n",
        hex::encode(succession.header_bytes())
    ));
    out.push_str(&format!(
        "signature {}\n",
        hex::encode(succession.signature())
    ));
    out.push_str(&format!("id        {}\n", succession.id()));
    out.push_str(&format!("wire      {}\n", hex::encode(succession.encode())));
    let offer = crate::sync::encode(&crate::sync::Request::Offer {
        entries: succession.encode(),
    });
    out.push_str(&format!(
        "offer     {} (sync message: Request::Offer with this entry; framed as u32 BE length || message)\n",
        hex::encode(offer)
    ));
    let deleted = log[DELETED_SEQ as usize - 1].without_body();
    out.push_str(&format!(
        "\ndeleted form of seq {DELETED_SEQ} (flag 00, no body)\nwire      {}\n",
        hex::encode(deleted.encode())
    ));
    out.push_str(&messages(&log));
    out.push_str("\nnegative vectors (decode, then verify at `now`)\n");
    for negative in negative() {
        out.push_str(&format!("\ncase      {}\n", negative.name));
        out.push_str(&format!("wire      {}\n", hex::encode(&negative.wire)));
        out.push_str(&format!(
            "error     {}: {}\n",
            error_class(&negative.error),
            negative.error
        ));
    }
    out
}

#[cfg(test)]
mod tests;
