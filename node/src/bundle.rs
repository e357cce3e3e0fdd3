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
    /// Damage found (truncation, checksum, malformed entries). Entries read
    /// before the damage are still returned: each is signed, and the
    /// importer checks every one of them.
    pub problems: Vec<String>,
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
    while (entries.len() as u64) < header.entries {
        let n = entries.len() + 1;
        let Ok((len, after)) = varint::decode(cursor) else {
            problems.push(format!(
                "truncated: {} of {} entries present",
                entries.len(),
                header.entries
            ));
            break;
        };
        let len = len as usize;
        if after.len() < len {
            problems.push(format!(
                "truncated: {} of {} entries present",
                entries.len(),
                header.entries
            ));
            break;
        }
        match Entry::decode(&after[..len], limits) {
            Ok(entry) => entries.push(entry),
            Err(e) => problems.push(format!("entry {n} is malformed: {e}")),
        }
        cursor = &after[len..];
    }
    let body_len = bytes.len() - cursor.len();
    if problems.iter().all(|p| !p.starts_with("truncated")) {
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
