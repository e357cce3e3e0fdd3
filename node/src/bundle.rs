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
use std::io::Read as _;

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
    let mut writer = Writer::new(Vec::new(), header).expect("writing into a Vec cannot fail");
    for entry in entries {
        writer.push(entry).expect("writing into a Vec cannot fail");
    }
    writer.finish().expect("writing into a Vec cannot fail")
}

/// Writes a bundle as a stream, entry by entry: memory stays the same
/// whatever the number of entries.
pub struct Writer<W: std::io::Write> {
    out: W,
    hasher: blake3::Hasher,
    frame: Vec<u8>,
}

impl<W: std::io::Write> Writer<W> {
    /// Writes the magic bytes, the version and `header`.
    pub fn new(out: W, header: &Header) -> std::io::Result<Self> {
        let mut writer = Writer {
            out,
            hasher: blake3::Hasher::new(),
            frame: Vec::new(),
        };
        writer.frame.extend_from_slice(MAGIC);
        writer.frame.push(VERSION);
        let h = postcard::to_stdvec(header).expect("encoding into a Vec cannot fail");
        varint::encode(h.len() as u64, &mut writer.frame);
        writer.frame.extend_from_slice(&h);
        writer.emit()?;
        Ok(writer)
    }

    pub fn push(&mut self, entry: &Entry) -> std::io::Result<()> {
        varint::encode(entry.encoded_len() as u64, &mut self.frame);
        entry.encode_into(&mut self.frame);
        self.emit()
    }

    /// Writes the checksum and returns the output.
    pub fn finish(mut self) -> std::io::Result<W> {
        let sum = self.hasher.finalize();
        self.out.write_all(sum.as_bytes())?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn emit(&mut self) -> std::io::Result<()> {
        self.hasher.update(&self.frame);
        self.out.write_all(&self.frame)?;
        self.frame.clear();
        Ok(())
    }
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

/// Splits a bundle held in memory into entries. Fails only if the file is
/// not a bundle. Large files are better read with a [`Reader`].
pub fn read(bytes: &[u8], limits: &Limits) -> Result<Read, Error> {
    let mut reader = Reader::new(bytes, limits.clone())?;
    let mut entries = Vec::new();
    let mut numbers = Vec::new();
    for (number, entry) in reader.by_ref() {
        numbers.push(number);
        entries.push(entry);
    }
    let end = reader.finish();
    let malformed = end
        .malformed
        .iter()
        .map(|&number| Malformed {
            number,
            before: numbers.partition_point(|&n| n < number),
        })
        .collect();
    Ok(Read {
        header: end.header,
        entries,
        problems: end.problems,
        malformed,
    })
}

/// Reads a bundle as a stream, one entry at a time: memory stays the same
/// whatever the size of the file. Iterating yields each well-formed entry
/// with its number in the file (from 1); [`Reader::finish`] then says what
/// was wrong with the rest (truncation, checksum, malformed entries).
pub struct Reader<R: std::io::Read> {
    src: Source<R>,
    header: Header,
    limits: Limits,
    /// File entries consumed, well-formed or not.
    number: usize,
    good: usize,
    problems: Vec<String>,
    malformed: Vec<usize>,
    /// The framing broke: nothing after it can be read, the checksum
    /// cannot be found.
    lost: bool,
}

/// The file, and the blake3 of every byte read from it so far (the
/// checksum covers all before it).
struct Source<R: std::io::Read> {
    input: std::io::BufReader<R>,
    hasher: blake3::Hasher,
}

/// What [`Reader::finish`] found, besides the entries.
#[derive(Debug)]
pub struct End {
    pub header: Header,
    /// Well-formed entries read.
    pub entries: usize,
    /// Damage found, one line each.
    pub problems: Vec<String>,
    /// Numbers in the file (from 1) of the entries that did not decode.
    pub malformed: Vec<usize>,
}

/// Why a frame could not be read.
enum Frame {
    /// The file ended inside it.
    Truncated,
    /// Its length prefix is no varint.
    Prefix(&'static str),
    /// Reading the file failed.
    Io(std::io::Error),
}

impl<R: std::io::Read> Reader<R> {
    /// Reads the magic bytes, the version and the header.
    pub fn new(input: R, limits: Limits) -> Result<Self, Error> {
        let mut src = Source {
            input: std::io::BufReader::with_capacity(1 << 16, input),
            hasher: blake3::Hasher::new(),
        };
        let mut start = [0u8; 9];
        if src.fill(&mut start).is_err() || &start[..8] != MAGIC {
            return Err(Error::NotABundle);
        }
        if start[8] != VERSION {
            return Err(Error::Version(start[8]));
        }
        let len = match src.varint() {
            Ok(len) => len,
            Err(Frame::Truncated) => return Err(Error::Header("truncated".into())),
            Err(Frame::Prefix(e)) => return Err(Error::Header(e.to_string())),
            Err(Frame::Io(e)) => return Err(Error::Header(e.to_string())),
        };
        if len > 4096 {
            return Err(Error::Header("truncated".into()));
        }
        let mut bytes = vec![0; len as usize];
        src.fill(&mut bytes)
            .map_err(|_| Error::Header("truncated".into()))?;
        let header = postcard::from_bytes(&bytes).map_err(|e| Error::Header(e.to_string()))?;
        Ok(Reader {
            src,
            header,
            limits,
            number: 0,
            good: 0,
            problems: Vec::new(),
            malformed: Vec::new(),
            lost: false,
        })
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Numbers in the file of the malformed entries found so far.
    pub fn malformed(&self) -> &[usize] {
        &self.malformed
    }

    /// The first of the malformed entries that come right before entry
    /// `number` of the file: a sequence gap at `number` is a consequence
    /// of that damage, not its own cause.
    pub fn malformed_before(&self, number: usize) -> Option<usize> {
        let mut first = None;
        let mut at = number;
        while at > 1 && self.malformed.binary_search(&(at - 1)).is_ok() {
            at -= 1;
            first = Some(at);
        }
        first
    }

    /// Reads what is left (the entries not yet taken, then the checksum)
    /// and says what was wrong with the file.
    pub fn finish(mut self) -> End {
        for _ in self.by_ref() {}
        if !self.lost {
            let expected = self.src.hasher.finalize();
            let mut sum = [0u8; 32];
            let mut got = 0;
            while got < 32 {
                match self.src.input.read(&mut sum[got..]) {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        self.problems.push(format!("cannot read the file: {e}"));
                        break;
                    }
                }
            }
            if got < 32 {
                self.problems
                    .push("truncated: the checksum at the end is missing".into());
            } else {
                if &sum != expected.as_bytes() {
                    self.problems
                        .push("checksum mismatch: the file was damaged or modified".into());
                }
                let extra = std::io::copy(&mut self.src.input, &mut std::io::sink()).unwrap_or(0);
                if extra > 0 {
                    self.problems
                        .push(format!("{extra} unexpected bytes after the checksum"));
                }
            }
        }
        End {
            header: self.header,
            entries: self.good,
            problems: self.problems,
            malformed: self.malformed,
        }
    }

    /// The largest frame an entry can fill: a longer one is malformed, and
    /// its bytes are skipped, never held.
    fn max_frame(&self) -> u64 {
        (self.limits.max_header_bytes + self.limits.max_body_bytes + 64 + 2 * 10 + 1) as u64
    }

    /// Records that the framing broke at entry `n`: nothing more is read.
    fn lose(&mut self, n: usize, why: Frame) {
        self.lost = true;
        self.problems.push(match why {
            Frame::Truncated => format!(
                "truncated: {} of {} entries present",
                self.good + self.malformed.len(),
                self.header.entries
            ),
            Frame::Prefix(e) => format!(
                "entry {n}: its length prefix is malformed ({e}), so the rest of the file cannot be read"
            ),
            Frame::Io(e) => format!("entry {n}: cannot read the file ({e})"),
        });
    }
}

impl<R: std::io::Read> Source<R> {
    /// Fills `buf` from the file, hashing what it read.
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), Frame> {
        match self.input.read_exact(buf) {
            Ok(()) => {
                self.hasher.update(buf);
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(Frame::Truncated),
            Err(e) => Err(Frame::Io(e)),
        }
    }

    /// Reads one varint, byte by byte.
    fn varint(&mut self) -> Result<u64, Frame> {
        let mut bytes = [0u8; 10];
        for i in 0..10 {
            self.fill(&mut bytes[i..=i])?;
            if bytes[i] & 0x80 == 0 {
                return varint::decode(&bytes[..=i])
                    .map(|(v, _)| v)
                    .map_err(Frame::Prefix);
            }
        }
        varint::decode(&bytes)
            .map(|(v, _)| v)
            .map_err(Frame::Prefix)
    }

    /// Skips `len` bytes of the file, hashing them.
    fn skip(&mut self, mut len: u64) -> Result<(), Frame> {
        let mut buf = [0u8; 4096];
        while len > 0 {
            let n = len.min(buf.len() as u64) as usize;
            self.fill(&mut buf[..n])?;
            len -= n as u64;
        }
        Ok(())
    }
}

impl<R: std::io::Read> Iterator for Reader<R> {
    type Item = (usize, Entry);

    fn next(&mut self) -> Option<(usize, Entry)> {
        while !self.lost && (self.number as u64) < self.header.entries {
            self.number += 1;
            let n = self.number;
            let len = match self.src.varint() {
                Ok(len) => len,
                Err(why) => {
                    self.lose(n, why);
                    return None;
                }
            };
            if len > self.max_frame() {
                if let Err(why) = self.src.skip(len) {
                    self.lose(n, why);
                    return None;
                }
                self.problems.push(format!(
                    "entry {n} is malformed: {len} bytes, more than an entry can hold"
                ));
                self.malformed.push(n);
                continue;
            }
            let mut bytes = vec![0; len as usize];
            if let Err(why) = self.src.fill(&mut bytes) {
                self.lose(n, why);
                return None;
            }
            match Entry::decode(&bytes, &self.limits) {
                Ok(entry) => {
                    self.good += 1;
                    return Some((n, entry));
                }
                Err(e) => {
                    self.problems.push(format!("entry {n} is malformed: {e}"));
                    self.malformed.push(n);
                }
            }
        }
        None
    }
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
