//! Bundle files: entries carried between nodes that never connect (a USB
//! stick, a mail attachment), and frontier files that say what a node has.
//!
//! A bundle is (see `docs/PROTOCOL.md`, "Bundles"):
//!
//! ```text
//! "KITHBNDL" version(1) varint(len) header  entry*  [blobs]  blake3(all before)(32)
//! header = postcard { created_ms: u64, from: [u8;32], recipient: Option<[u8;32]>, entries: u64 }
//! entry  = varint(len) entry-envelope
//! blobs  = varint(n) { hash(32) varint(size) bytes(size) }*   (version 2 only)
//! ```
//!
//! A bundle with files (`kith bundle export --with-blobs`) is version 2;
//! one without is written as version 1, which every reader takes.
//!
//! Reading a bundle never trusts it: entries are only split out here, and
//! the importer validates each exactly as if it came from the network.

use std::collections::BTreeMap;
use std::io::Read as _;

use kith_protocol::{AuthorId, Entry, EntryId, Head, Limits, varint};
use serde::{Deserialize, Serialize};

mod files;

pub const MAGIC: &[u8; 8] = b"KITHBNDL";
/// A bundle of entries alone.
pub const VERSION: u8 = 1;
/// A bundle of entries and the files they reference.
pub const VERSION_BLOBS: u8 = 2;

/// Errors that make a file unusable as a whole.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not a Kith bundle (bad magic bytes)")]
    NotABundle,
    #[error(
        "bundle format version {0} is not supported (this node reads versions {VERSION} and {VERSION_BLOBS})"
    )]
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
    version: u8,
    /// The files section is written (version 2).
    blobs_done: bool,
}

impl<W: std::io::Write> Writer<W> {
    /// Writes the magic bytes, the version and `header`.
    pub fn new(out: W, header: &Header) -> std::io::Result<Self> {
        Self::with_version(out, header, VERSION)
    }

    /// A bundle that carries files after its entries ([`Writer::blobs`]).
    pub fn with_blobs(out: W, header: &Header) -> std::io::Result<Self> {
        Self::with_version(out, header, VERSION_BLOBS)
    }

    fn with_version(out: W, header: &Header, version: u8) -> std::io::Result<Self> {
        let mut writer = Writer {
            out,
            hasher: blake3::Hasher::new(),
            frame: Vec::new(),
            version,
            blobs_done: false,
        };
        writer.frame.extend_from_slice(MAGIC);
        writer.frame.push(version);
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
        if self.version == VERSION_BLOBS && !self.blobs_done {
            // No files section was written: an empty one.
            self.blobs(&[], |_| Ok(std::io::empty()))?;
        }
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
    version: u8,
    /// Files left to read in a version 2 bundle's files section (`None`:
    /// its count not read yet).
    blobs_left: Option<u64>,
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
        if start[8] != VERSION && start[8] != VERSION_BLOBS {
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
            version: start[8],
            blobs_left: None,
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
        // Files not taken are read past (hashed for the checksum).
        while self.next_blob(&mut std::io::sink(), u64::MAX).is_some() {}
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
mod tests;
