//! Test vectors for `docs/PROTOCOL.md`: three entries by a fixed-seed key.
//! `cargo run -p kith-protocol --example vectors` prints them; a unit test
//! checks that the document and the code agree.

use crate::{Body, Draft, Entry, Keypair, Post, PostKind, Profile, TrustStatement};

/// The secret seed of the vector key: bytes 0x00, 0x01, …, 0x1f.
pub fn seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    for (i, b) in seed.iter_mut().enumerate() {
        *b = i as u8;
    }
    seed
}

/// The three vector entries, in log order.
pub fn entries() -> Vec<Entry> {
    let keypair = Keypair::from_secret(&seed());
    let other = Keypair::from_secret(&[0x42; 32]).author();
    let bodies = [
        Body::Profile(Profile {
            name: "Vector".into(),
            about: "test key".into(),
        }),
        Body::Post(Post {
            kind: PostKind::Question,
            text: "Hello, Kith?".into(),
            reply_to: None,
            tags: vec!["intro".into()],
        }),
        Body::Trust(TrustStatement {
            subject: other,
            vouch: true,
        }),
    ];
    let mut out: Vec<Entry> = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        let entry = Entry::sign(
            &keypair,
            Draft {
                seq: i as u64 + 1,
                prev: out.last().map(Entry::id),
                timestamp_ms: 1_700_000_000_000 + i as u64 * 1000,
                body: body.encode(),
            },
        );
        out.push(entry);
    }
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
    for entry in entries() {
        out.push('\n');
        out.push_str(&format!("seq       {}\n", entry.seq()));
        out.push_str(&format!(
            "body      {}\n",
            hex::encode(entry.body().expect("vectors have bodies"))
        ));
        out.push_str(&format!(
            "header    {}\n",
            hex::encode(entry.header_bytes())
        ));
        out.push_str(&format!("signature {}\n", hex::encode(entry.signature())));
        out.push_str(&format!("id        {}\n", entry.id()));
        out.push_str(&format!("wire      {}\n", hex::encode(entry.encode())));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Limits;

    const DOC: &str = include_str!("../../docs/PROTOCOL.md");

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
    fn vectors_decode_and_verify_from_their_hex() {
        let now = 1_700_000_000_000 + 10_000;
        let mut prev = None;
        for line in markdown().lines().filter(|l| l.starts_with("wire")) {
            let bytes = hex::decode(line.split_whitespace().nth(1).unwrap()).unwrap();
            let entry = Entry::decode(&bytes, &Limits::default()).unwrap();
            entry.verify(&Limits::default(), now).unwrap();
            assert_eq!(entry.header().prev, prev);
            Body::decode(entry.body().unwrap()).unwrap();
            prev = Some(entry.id());
        }
        assert!(prev.is_some());
    }
}
