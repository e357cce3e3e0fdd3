//! Bundle files: entries carried between nodes that never connect (a USB
//! stick, a mail attachment), and frontier files that say what a node has.
//!
//! A bundle is (see `docs/PROTOCOL.md`, "Bundles"):
//!
//! ```text
//! "KITHBNDL" version(1) varint(len) header  entry*  blake3(all before)(32)
//! header = postcard { created_ms: u64, from: [u8;32], recipient: Option<[u8;32]>, entries: u64 }
//! entry  = varint(len) entry-envelope
//! ```
//!
//! Reading a bundle never trusts it: entries are only split out here, and
//! the importer validates each exactly as if it came from the network.

use std::collections::BTreeMap;

use kith_protocol::{AuthorId, Entry, EntryId, Head, Limits, varint};
use serde::{Deserialize, Serialize};

pub const MAGIC: &[u8; 8] = b"KITHBNDL";
pub const VERSION: u8 = 1;

/// Errors that make a file unusable as a whole.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not a Kith bundle (bad magic bytes)")]
    NotABundle,
    #[error("bundle format version {0} is not supported (this node reads version {VERSION})")]
    Version(u8),
    #[error("the bundle header is damaged: {0}")]
    Header(String),
    #[error("not a Kith frontier file: {0}")]
    Frontier(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub created_ms: u64,
    pub from: AuthorId,
    pub recipient: Option<AuthorId>,
    pub entries: u64,
}

/// Writes a bundle.
pub fn write(header: &Header, entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    let h = postcard::to_stdvec(header).expect("encoding into a Vec cannot fail");
    varint::encode(h.len() as u64, &mut out);
    out.extend_from_slice(&h);
    for entry in entries {
        varint::encode(entry.encoded_len() as u64, &mut out);
        entry.encode_into(&mut out);
    }
    let sum = blake3::hash(&out);
    out.extend_from_slice(sum.as_bytes());
    out
}

/// What could be read from a bundle: the entries that are well-formed, and
/// what was wrong with the rest of the file.
#[derive(Debug)]
pub struct Read {
    pub header: Header,
    pub entries: Vec<Entry>,
    /// Damage found (truncation, checksum, malformed entries), one line
    /// each. Entries read before the damage are still returned: each is
    /// signed, and the importer checks every one of them.
    pub problems: Vec<String>,
    /// The malformed entries, by where they sit among `entries`.
    pub malformed: Vec<Malformed>,
}

/// An entry of the file that did not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    /// Its number in the file, from 1.
    pub number: usize,
    /// Index in [`Read::entries`] of the well-formed entry that follows it.
    pub before: usize,
}

impl Read {
    /// Why the entry at `index` in [`Read::entries`] may not continue its
    /// author's chain: the file entry just before it was malformed. A
    /// sequence gap there is a consequence of that damage, not its own cause.
    pub fn malformed_before(&self, index: usize) -> Option<usize> {
        self.malformed
            .iter()
            .find(|m| m.before == index)
            .map(|m| m.number)
    }

    /// Index in [`Read::entries`] of `author`'s entry at `seq`.
    pub fn position(&self, author: &AuthorId, seq: u64) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| e.author() == *author && e.seq() == seq)
    }
}

/// Splits a bundle into entries. Fails only if the file is not a bundle.
pub fn read(bytes: &[u8], limits: &Limits) -> Result<Read, Error> {
    if bytes.len() < MAGIC.len() + 1 || &bytes[..8] != MAGIC {
        return Err(Error::NotABundle);
    }
    if bytes[8] != VERSION {
        return Err(Error::Version(bytes[8]));
    }
    let (len, rest) = varint::decode(&bytes[9..]).map_err(|e| Error::Header(e.to_string()))?;
    let len = usize::try_from(len).map_err(|_| Error::Header("length".into()))?;
    if rest.len() < len || len > 4096 {
        return Err(Error::Header("truncated".into()));
    }
    let header: Header =
        postcard::from_bytes(&rest[..len]).map_err(|e| Error::Header(e.to_string()))?;
    let mut cursor = &rest[len..];
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    let mut malformed = Vec::new();
    // Whether the framing broke, so the checksum cannot be found.
    let mut lost = false;
    let mut n = 0;
    while (n as u64) < header.entries {
        n += 1;
        let truncated = |entries: &Vec<Entry>| {
            format!(
                "truncated: {} of {} entries present",
                entries.len() + malformed.len(),
                header.entries
            )
        };
        let (len, after) = match varint::decode(cursor) {
            Ok(v) => v,
            Err(_) if cursor.len() < 10 && cursor.iter().all(|b| b & 0x80 != 0) => {
                problems.push(truncated(&entries));
                lost = true;
                break;
            }
            Err(e) => {
                problems.push(format!(
                    "entry {n}: its length prefix is malformed ({e}), so the rest of the file cannot be read"
                ));
                lost = true;
                break;
            }
        };
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if after.len() < len {
            problems.push(truncated(&entries));
            lost = true;
            break;
        }
        match Entry::decode(&after[..len], limits) {
            Ok(entry) => entries.push(entry),
            Err(e) => {
                problems.push(format!("entry {n} is malformed: {e}"));
                malformed.push(Malformed {
                    number: n,
                    before: entries.len(),
                });
            }
        }
        cursor = &after[len..];
    }
    let body_len = bytes.len() - cursor.len();
    if !lost {
        if cursor.len() < 32 {
            problems.push("truncated: the checksum at the end is missing".into());
        } else {
            let expected = blake3::hash(&bytes[..body_len]);
            if &cursor[..32] != expected.as_bytes() {
                problems.push("checksum mismatch: the file was damaged or modified".into());
            }
            if cursor.len() > 32 {
                problems.push(format!(
                    "{} unexpected bytes after the checksum",
                    cursor.len() - 32
                ));
            }
        }
    }
    Ok(Read {
        header,
        entries,
        problems,
        malformed,
    })
}

/// A node's frontier, written by `kith frontier export`: what it holds of
/// each author it replicates, so a friend can bundle just what it lacks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrontierFile {
    /// Always "kith-frontier/1".
    pub format: String,
    pub author: AuthorId,
    pub created_ms: u64,
    pub heads: BTreeMap<String, FrontierHead>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrontierHead {
    pub seq: u64,
    pub id: EntryId,
}

pub const FRONTIER_FORMAT: &str = "kith-frontier/1";

impl FrontierFile {
    pub fn new(author: AuthorId, created_ms: u64, heads: &BTreeMap<AuthorId, Head>) -> Self {
        FrontierFile {
            format: FRONTIER_FORMAT.to_string(),
            author,
            created_ms,
            heads: heads
                .iter()
                .map(|(a, h)| {
                    (
                        a.to_string(),
                        FrontierHead {
                            seq: h.seq,
                            id: h.id,
                        },
                    )
                })
                .collect(),
        }
    }

    pub fn parse(text: &str) -> Result<Self, Error> {
        let file: FrontierFile =
            serde_json::from_str(text).map_err(|e| Error::Frontier(e.to_string()))?;
        if file.format != FRONTIER_FORMAT {
            return Err(Error::Frontier(format!("unknown format {:?}", file.format)));
        }
        Ok(file)
    }

    /// Seq held per author.
    pub fn seqs(&self) -> Result<BTreeMap<AuthorId, u64>, Error> {
        self.heads
            .iter()
            .map(|(a, h)| {
                Ok((
                    a.parse().map_err(|e| Error::Frontier(format!("{e}")))?,
                    h.seq,
                ))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
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
        let mut v2 = bytes;
        v2[8] = 2;
        assert!(matches!(
            read(&v2, &Limits::default()),
            Err(Error::Version(2))
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
        const DOC: &str = include_str!("../../docs/PROTOCOL.md");
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
}
