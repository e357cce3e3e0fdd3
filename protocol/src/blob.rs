//! Files and images: content-addressed blobs (PROTOCOL.md §13).
//!
//! A blob is named by the BLAKE3 hash of its bytes. An entry that uses one
//! carries a [`BlobRef`] (hash, size, media type, name), so what a post
//! attaches is signed by its author. Blobs travel apart from entries, on
//! their own request-response protocol ([`PROTOCOL_NAME`]): the asker names
//! a blob and a range, the holder answers with a Bao slice (the range's
//! bytes with the BLAKE3 tree nodes that prove them), and the asker checks
//! it against the hash it already trusts, one 1 KiB chunk at a time
//! ([`verify_slice`]), so a byte that does not match is caught at its chunk.
//!
//! ```
//! use kith_protocol::blob::{self, BlobHash};
//!
//! let bytes = vec![7u8; 5000];
//! let (outboard, hash) = bao::encode::outboard(&bytes);
//! let slice = blob::extract_slice(&bytes, &outboard, 1024, 2048).unwrap();
//! let got = blob::verify_slice(&BlobHash(*hash.as_bytes()), 1024, 2048, &slice).unwrap();
//! assert_eq!(got, bytes[1024..3072]);
//! ```

use std::fmt;
use std::io::{Cursor, Read};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::body::BodyError;

/// The protocol name of blob transfer.
pub const PROTOCOL_NAME: &str = "/kith/blob/1";
/// BLAKE3's chunk: the unit a slice is checked in.
pub const CHUNK: u64 = 1024;
/// Most content bytes one request may ask for (a multiple of [`CHUNK`]).
pub const MAX_SLICE: u64 = 1024 * 1024;
/// Longest file name in a reference, in bytes.
pub const MAX_NAME: usize = 255;
/// Longest media type in a reference, in bytes.
pub const MAX_MEDIA_TYPE: usize = 127;
/// Most files one entry references.
pub const MAX_FILES: usize = 16;

/// The BLAKE3 hash of a blob's bytes: 64 hex characters in text.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobHash(pub [u8; 32]);

impl BlobHash {
    /// The hash of `bytes`.
    pub fn of(bytes: &[u8]) -> BlobHash {
        BlobHash(*blake3::hash(bytes).as_bytes())
    }
}

impl fmt::Display for BlobHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for BlobHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobHash({self})")
    }
}

impl FromStr for BlobHash {
    type Err = BodyError;

    /// 64 hex characters, with or without a `blob:` prefix.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let hex_part = s.strip_prefix("blob:").unwrap_or(s);
        let mut out = [0u8; 32];
        hex::decode_to_slice(hex_part, &mut out).map_err(|_| {
            BodyError::Invalid(format!("not a blob hash (64 hex characters): {s:?}"))
        })?;
        Ok(BlobHash(out))
    }
}

impl Serialize for BlobHash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            self.0.serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for BlobHash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let s = String::deserialize(deserializer)?;
            s.parse().map_err(serde::de::Error::custom)
        } else {
            Ok(BlobHash(<[u8; 32]>::deserialize(deserializer)?))
        }
    }
}

/// A signed reference to a blob, as entries carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRef {
    pub hash: BlobHash,
    /// Bytes.
    pub size: u64,
    /// `type/subtype`, lowercase (`image/png`, `application/pdf`).
    pub media_type: String,
    /// The file's name, without any directory.
    pub name: String,
    /// A circle's file (§13.4): the blob is the file encrypted with this
    /// key ([`apply_keystream`]); the reference travels sealed, so only
    /// the circle's members learn it. `None` for a public file.
    #[serde(default)]
    pub key: Option<[u8; 32]>,
}

impl BlobRef {
    /// The rules a reference must keep (checked for what a user writes and
    /// for what peers send: a name or type that breaks them is never shown
    /// or used as a path).
    pub fn check(&self) -> Result<(), BodyError> {
        check_name(&self.name)?;
        check_media_type(&self.media_type)
    }
}

/// A file name a reference may carry: 1–255 bytes, no path separator, no
/// control character, not `.` or `..`.
pub fn check_name(name: &str) -> Result<(), BodyError> {
    let bad = |why: &str| Err(BodyError::Invalid(format!("bad file name {name:?}: {why}")));
    if name.is_empty() || name.len() > MAX_NAME {
        return bad(&format!("a name is 1–{MAX_NAME} bytes"));
    }
    if name == "." || name == ".." {
        return bad("not a file name");
    }
    if name
        .chars()
        .any(|c| c == '/' || c == '\\' || c.is_control())
    {
        return bad("no slashes or control characters");
    }
    Ok(())
}

/// A media type a reference may carry: `type/subtype`, lowercase token
/// characters (RFC 6838's), no parameters.
pub fn check_media_type(media_type: &str) -> Result<(), BodyError> {
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$&-^_.+".contains(&b))
    };
    let ok = media_type.len() <= MAX_MEDIA_TYPE
        && media_type
            .split_once('/')
            .is_some_and(|(t, s)| token(t) && token(s));
    if ok {
        Ok(())
    } else {
        Err(BodyError::Invalid(format!(
            "bad media type {media_type:?}: expected lowercase type/subtype"
        )))
    }
}

/// Encrypts or decrypts `buf`, the bytes of a circle's file from byte
/// `offset` on: ChaCha20 under the file's own random key with a zero
/// nonce (the key is used for this file only; the file's integrity is its
/// hash, signed inside the sealed entry).
pub fn apply_keystream(key: &[u8; 32], offset: u64, buf: &mut [u8]) {
    use chacha20::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};
    let mut cipher = chacha20::ChaCha20::new(key.into(), &[0u8; 12].into());
    cipher.seek(offset);
    cipher.apply_keystream(buf);
}

/// Files an author declares without a post (kind 21): what `kith blob add`
/// signs, so that a wiki page's `blob:HASH` link has a signed reference
/// with the file's size, type and name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Files {
    pub files: Vec<BlobRef>,
}

/// Checks the files of one entry: at most [`MAX_FILES`], each well formed.
pub fn check_files(files: &[BlobRef]) -> Result<(), BodyError> {
    if files.len() > MAX_FILES {
        return Err(BodyError::Invalid(format!(
            "too many files: {} (limit {MAX_FILES})",
            files.len()
        )));
    }
    files.iter().try_for_each(BlobRef::check)
}

/// A request for a range of a blob's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub hash: BlobHash,
    /// First byte; a multiple of [`CHUNK`].
    pub offset: u64,
    /// Bytes asked for; at most [`MAX_SLICE`] (the answer holds fewer at the end).
    pub len: u64,
}

impl Request {
    /// Whether the range is one a holder answers.
    pub fn check(&self) -> Result<(), BodyError> {
        if !self.offset.is_multiple_of(CHUNK) || self.len == 0 || self.len > MAX_SLICE {
            return Err(BodyError::Invalid(format!(
                "bad blob range {}+{}: the offset a multiple of {CHUNK}, 1–{MAX_SLICE} bytes",
                self.offset, self.len
            )));
        }
        Ok(())
    }
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The range as a Bao slice (the blob's length, then the tree nodes and
    /// chunks that cover the range, in pre-order).
    Slice(#[serde(with = "serde_bytes")] Vec<u8>),
    /// This node does not hold the blob (whole).
    Missing,
    /// This node serves too many requests now: ask again later, or another peer.
    Busy,
}

/// Why a slice was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SliceError {
    /// The bytes of the chunk at `offset` (or a tree node above it) do not
    /// match the hash; everything before it did.
    #[error("the blob's chunk at byte {offset} does not match its hash")]
    Mismatch { offset: u64 },
    #[error("malformed blob slice: {0}")]
    Malformed(String),
}

/// Checks a Bao slice of `hash` covering `offset..offset + len` and returns
/// the content bytes it proves (fewer than `len` at the blob's end). Each
/// 1 KiB chunk is checked against the tree before any of it is returned;
/// the first that fails names its offset.
pub fn verify_slice(
    hash: &BlobHash,
    offset: u64,
    len: u64,
    slice: &[u8],
) -> Result<Vec<u8>, SliceError> {
    let root = blake3::Hash::from_bytes(hash.0);
    let mut decoder = bao::decode::SliceDecoder::new(Cursor::new(slice), &root, offset, len);
    let mut out = Vec::with_capacity(usize::try_from(len).unwrap_or(0).min(slice.len()));
    let mut buf = [0u8; CHUNK as usize];
    loop {
        match decoder.read(&mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                // The decoder hands out only checked bytes, chunk by chunk:
                // the chunk that failed starts where the output stops.
                return Err(SliceError::Mismatch {
                    offset: offset + out.len() as u64,
                });
            }
            Err(e) => return Err(SliceError::Malformed(e.to_string())),
        }
    }
}

/// The Bao slice of `content` (with its outboard tree) covering
/// `offset..offset + len`: what a holder answers.
pub fn extract_slice(
    content: &[u8],
    outboard: &[u8],
    offset: u64,
    len: u64,
) -> std::io::Result<Vec<u8>> {
    let mut extractor = bao::encode::SliceExtractor::new_outboard(
        Cursor::new(content),
        Cursor::new(outboard),
        offset,
        len,
    );
    let mut out = Vec::new();
    extractor.read_to_end(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests;
