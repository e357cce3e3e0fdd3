use kith_protocol::{Body, Keypair, Post, PostKind};

use super::*;
use crate::store::Store;

fn entries(n: usize) -> Vec<Entry> {
    let store = Store::temporary().unwrap();
    let kp = Keypair::from_secret(&[1; 32]);
    let bodies: Vec<Body> = (0..n)
        .map(|i| {
            Body::Post(Post {
                kind: PostKind::Note,
                text: format!("n{i}"),
                reply_to: None,
                tags: vec![],
                files: Vec::new(),
                mentions: Vec::new(),
            })
        })
        .collect();
    store.append_many(&kp, &bodies, 1).unwrap()
}

fn header(n: usize) -> Header {
    Header {
        created_ms: 1,
        from: Keypair::from_secret(&[1; 32]).author(),
        recipient: None,
        entries: n as u64,
    }
}

#[test]
fn round_trip() {
    let e = entries(5);
    let bytes = write(&header(5), &e);
    let r = read(&bytes, &Limits::default()).unwrap();
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert_eq!(r.entries, e);
}

#[test]
fn truncated_and_tampered_files_say_what_is_wrong() {
    let e = entries(5);
    let bytes = write(&header(5), &e);
    let cut = read(&bytes[..bytes.len() - 100], &Limits::default()).unwrap();
    assert!(cut.entries.len() < 5);
    assert!(
        cut.problems[0].starts_with("truncated"),
        "{:?}",
        cut.problems
    );
    let no_sum = read(&bytes[..bytes.len() - 32], &Limits::default()).unwrap();
    assert_eq!(no_sum.entries.len(), 5);
    assert!(
        no_sum.problems[0].contains("checksum"),
        "{:?}",
        no_sum.problems
    );
    let mut flipped = bytes.clone();
    let i = flipped.len() - 60;
    flipped[i] ^= 1;
    let r = read(&flipped, &Limits::default()).unwrap();
    assert!(
        r.problems.iter().any(|p| p.contains("checksum")),
        "{:?}",
        r.problems
    );
    assert!(matches!(
        read(b"hello", &Limits::default()),
        Err(Error::NotABundle)
    ));
    let mut v3 = bytes;
    v3[8] = 3;
    assert!(matches!(
        read(&v3, &Limits::default()),
        Err(Error::Version(3))
    ));
}

/// Re-frames entry `i` of a written bundle with an overlong header
/// length varint (the framing length stays right), or overlong framing.
fn with_overlong(entries: &[Entry], i: usize, in_framing: bool) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.push(VERSION);
    let h = postcard::to_stdvec(&header(entries.len())).unwrap();
    varint::encode(h.len() as u64, &mut out);
    out.extend_from_slice(&h);
    for (n, entry) in entries.iter().enumerate() {
        let mut wire = entry.encode();
        if n == i && !in_framing {
            wire[0] |= 0x80;
            wire.insert(1, 0);
        }
        if n == i && in_framing {
            let mut prefix = Vec::new();
            varint::encode(wire.len() as u64, &mut prefix);
            *prefix.last_mut().unwrap() |= 0x80;
            prefix.push(0);
            out.extend_from_slice(&prefix);
        } else {
            varint::encode(wire.len() as u64, &mut out);
        }
        out.extend_from_slice(&wire);
    }
    let sum = blake3::hash(&out);
    out.extend_from_slice(sum.as_bytes());
    out
}

#[test]
fn each_damaged_entry_is_reported_with_its_own_cause() {
    let e = entries(4);
    assert!(e.iter().all(|e| e.header_bytes().len() < 0x80));
    let r = read(&with_overlong(&e, 1, false), &Limits::default()).unwrap();
    assert_eq!(
        r.problems,
        ["entry 2 is malformed: malformed entry: overlong varint"]
    );
    assert_eq!(r.entries.len(), 3);
    assert_eq!(
        r.malformed,
        [Malformed {
            number: 2,
            before: 1
        }]
    );
    // Entry 3 (seq 3) follows the damage: the importer says so.
    let at = r.position(&e[2].author(), 3).unwrap();
    assert_eq!(r.malformed_before(at), Some(2));
    assert_eq!(r.malformed_before(0), None);

    let r = read(&with_overlong(&e, 1, true), &Limits::default()).unwrap();
    assert_eq!(
        r.problems,
        [
            "entry 2: its length prefix is malformed (overlong varint), so the rest of the file cannot be read"
        ]
    );
    assert_eq!(r.entries.len(), 1);
}

/// A reader that hands out one byte per call, as a slow pipe would.
struct Trickle<'a>(&'a [u8]);

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let Some((first, rest)) = self.0.split_first() else {
            return Ok(0);
        };
        if buf.is_empty() {
            return Ok(0);
        }
        buf[0] = *first;
        self.0 = rest;
        Ok(1)
    }
}

#[test]
fn a_stream_reads_what_the_whole_file_reads() {
    let e = entries(6);
    let mut bytes = with_overlong(&e, 2, false);
    let whole = read(&bytes, &Limits::default()).unwrap();
    let mut reader = Reader::new(Trickle(&bytes), Limits::default()).unwrap();
    let streamed: Vec<(usize, Entry)> = reader.by_ref().collect();
    assert_eq!(
        streamed.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        [1, 2, 4, 5, 6]
    );
    assert_eq!(reader.malformed_before(4), Some(3));
    assert_eq!(reader.malformed_before(2), None);
    let end = reader.finish();
    assert_eq!(end.problems, whole.problems);
    assert_eq!(end.entries, 5);
    assert_eq!(
        streamed.into_iter().map(|(_, e)| e).collect::<Vec<_>>(),
        whole.entries
    );
    // Finishing early still reads the rest and checks the checksum.
    let i = bytes.len() - 40;
    bytes[i] ^= 1;
    let mut reader = Reader::new(&bytes[..], Limits::default()).unwrap();
    assert!(reader.next().is_some());
    let end = reader.finish();
    assert!(
        end.problems.iter().any(|p| p.contains("checksum")),
        "{:?}",
        end.problems
    );
}

#[test]
fn a_frame_larger_than_any_entry_is_skipped_not_held() {
    let e = entries(2);
    let mut out = MAGIC.to_vec();
    out.push(VERSION);
    let h = postcard::to_stdvec(&header(3)).unwrap();
    varint::encode(h.len() as u64, &mut out);
    out.extend_from_slice(&h);
    varint::encode(e[0].encoded_len() as u64, &mut out);
    e[0].encode_into(&mut out);
    let huge = 1 << 20;
    varint::encode(huge, &mut out);
    out.resize(out.len() + huge as usize, 7);
    varint::encode(e[1].encoded_len() as u64, &mut out);
    e[1].encode_into(&mut out);
    let sum = blake3::hash(&out);
    out.extend_from_slice(sum.as_bytes());
    let r = read(&out, &Limits::default()).unwrap();
    assert_eq!(r.entries, e);
    assert_eq!(
        r.problems,
        ["entry 2 is malformed: 1048576 bytes, more than an entry can hold"]
    );
    // A length that runs past the end is a truncation, whatever it says.
    let cut = &out[..out.len() - 40_000];
    let r = read(cut, &Limits::default()).unwrap();
    assert_eq!(r.entries.len(), 1);
    assert_eq!(r.problems, ["truncated: 1 of 3 entries present"]);
}

/// The bundle vector of docs/PROTOCOL.md §9.
fn vector_block() -> String {
    use kith_protocol::vectors;
    let log = vectors::entries();
    let header = Header {
        created_ms: vectors::NOW_MS,
        from: log[0].author(),
        recipient: None,
        entries: log.len() as u64,
    };
    let bytes = write(&header, &log);
    let mut out = String::from("```text\n");
    for chunk in hex::encode(&bytes).as_bytes().chunks(96) {
        out.push_str(std::str::from_utf8(chunk).unwrap());
        out.push('\n');
    }
    out.push_str("```\n");
    out
}

#[test]
fn protocol_md_bundle_vector_matches() {
    const DOC: &str = include_str!("../../../docs/PROTOCOL.md");
    let start = DOC.find("<!-- bundle-vector:begin -->\n").unwrap() + 29;
    let end = DOC.find("<!-- bundle-vector:end -->").unwrap();
    let block = vector_block();
    if std::env::var_os("KITH_WRITE_VECTORS").is_some() {
        let doc = format!("{}{block}{}", &DOC[..start], &DOC[end..]);
        std::fs::write(
            concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/PROTOCOL.md"),
            doc,
        )
        .unwrap();
        return;
    }
    assert_eq!(
        &DOC[start..end],
        block,
        "docs/PROTOCOL.md's bundle vector is stale (KITH_WRITE_VECTORS=1 rewrites it)"
    );
    let bytes = hex::decode(
        block
            .lines()
            .filter(|l| !l.starts_with("```"))
            .collect::<String>(),
    )
    .unwrap();
    let r = read(&bytes, &Limits::default()).unwrap();
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert_eq!(r.entries, kith_protocol::vectors::entries());
}

#[test]
fn frontier_files_round_trip() {
    let kp = Keypair::from_secret(&[1; 32]);
    let heads = BTreeMap::from([(
        kp.author(),
        Head {
            seq: 7,
            id: EntryId([3; 32]),
        },
    )]);
    let file = FrontierFile::new(kp.author(), 5, &heads);
    let text = serde_json::to_string(&file).unwrap();
    let back = FrontierFile::parse(&text).unwrap();
    assert_eq!(back.seqs().unwrap()[&kp.author()], 7);
    assert!(FrontierFile::parse("{}").is_err());
}
