//! Entries: a signed header plus the body it commits to.
//!
//! The header is encoded deterministically (postcard, checked canonical on
//! decode), signed with a domain-separation prefix, and hashed with blake3 to
//! give the entry id. The body travels beside the header; the header commits
//! to it by hash and length, so a node can drop a deleted body and keep a
//! verifiable log. Everything here works on the bytes as received: nothing is
//! re-encoded before a signature or hash check.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::Signature;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::keys::{AuthorId, KeyError, Keypair};
use crate::limits::Limits;
use crate::varint;

/// The version written in every header this implementation creates.
pub const PROTOCOL_VERSION: u8 = 1;

/// Prefix of every signed message: `SIGNING_DOMAIN || header_bytes`.
pub const SIGNING_DOMAIN: &[u8] = b"kith-entry-v1";

/// Errors found while decoding or verifying an entry, one variant per cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    #[error("malformed entry: {0}")]
    Malformed(String),
    #[error("unsupported protocol version {0} (this node speaks {PROTOCOL_VERSION})")]
    UnsupportedVersion(u8),
    #[error("bad author key: {0}")]
    BadKey(#[from] KeyError),
    #[error("bad signature")]
    BadSignature,
    #[error("body does not match the signed body hash or length")]
    BodyHashMismatch,
    #[error("{what} is too large: {size} bytes, limit {limit}")]
    TooLarge {
        what: &'static str,
        size: usize,
        limit: usize,
    },
    #[error("timestamp {timestamp_ms} is {ahead_ms} ms in the future (limit {limit_ms} ms)")]
    FutureTimestamp {
        timestamp_ms: u64,
        ahead_ms: u64,
        limit_ms: u64,
    },
    #[error("sequence gap for {author}: have up to {have}, got {got}")]
    SeqGap {
        author: AuthorId,
        have: u64,
        got: u64,
    },
    #[error("entry {seq} of {author} does not continue the stored chain (prev mismatch)")]
    PrevMismatch { author: AuthorId, seq: u64 },
    #[error("fork: {} signed two different entries at seq {}", .0.author(), .0.seq())]
    Fork(Box<ForkProof>),
}

/// blake3 of an entry's signed header bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryId(pub [u8; 32]);

/// blake3 of an entry's body bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BodyHash(pub [u8; 32]);

impl EntryId {
    pub fn of_header_bytes(header_bytes: &[u8]) -> Self {
        EntryId(*blake3::hash(header_bytes).as_bytes())
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EntryId({})", &self.to_hex()[..12])
    }
}

/// Why a string is not an entry id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid entry id (expected 64 hex characters): {0:?}")]
pub struct ParseIdError(pub String);

impl FromStr for EntryId {
    type Err = ParseIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s.trim(), &mut out).map_err(|_| ParseIdError(s.to_string()))?;
        Ok(EntryId(out))
    }
}

impl Serialize for EntryId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            self.0.serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for EntryId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let s = String::deserialize(deserializer)?;
            s.parse().map_err(serde::de::Error::custom)
        } else {
            Ok(EntryId(<[u8; 32]>::deserialize(deserializer)?))
        }
    }
}

/// The signed part of an entry. Field order is the wire order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub version: u8,
    pub author: AuthorId,
    /// Position in the author's log, starting at 1.
    pub seq: u64,
    /// Id of the entry at `seq - 1`; `None` exactly when `seq == 1`.
    pub prev: Option<EntryId>,
    /// Milliseconds since the Unix epoch, as claimed by the author.
    pub timestamp_ms: u64,
    pub body_hash: BodyHash,
    pub body_len: u32,
}

impl Header {
    /// The deterministic encoding of this header.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(self).expect("encoding a header into a Vec cannot fail")
    }

    /// Decodes header bytes, rejecting any encoding other than the canonical one.
    pub fn decode(bytes: &[u8]) -> Result<Self, ValidationError> {
        let (header, rest): (Header, _) = postcard::take_from_bytes(bytes)
            .map_err(|e| ValidationError::Malformed(format!("header: {e}")))?;
        if !rest.is_empty() {
            return Err(ValidationError::Malformed(
                "trailing bytes after header".to_string(),
            ));
        }
        if header.version != PROTOCOL_VERSION {
            return Err(ValidationError::UnsupportedVersion(header.version));
        }
        if header.encode() != bytes {
            return Err(ValidationError::Malformed(
                "header is not canonically encoded".to_string(),
            ));
        }
        if header.seq == 0 {
            return Err(ValidationError::Malformed(
                "seq must start at 1".to_string(),
            ));
        }
        if (header.seq == 1) != header.prev.is_none() {
            return Err(ValidationError::Malformed(
                "prev must be absent exactly at seq 1".to_string(),
            ));
        }
        Ok(header)
    }
}

/// A signed entry, holding the header bytes exactly as signed.
#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    header: Header,
    header_bytes: Vec<u8>,
    signature: [u8; 64],
    body: Option<Vec<u8>>,
    id: EntryId,
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("id", &self.id)
            .field("author", &self.header.author)
            .field("seq", &self.header.seq)
            .field("body_len", &self.header.body_len)
            .field("has_body", &self.body.is_some())
            .finish()
    }
}

/// What to put in a new entry; `prev` and `seq` come from the author's log.
#[derive(Debug, Clone)]
pub struct Draft {
    pub seq: u64,
    pub prev: Option<EntryId>,
    pub timestamp_ms: u64,
    pub body: Vec<u8>,
}

impl Entry {
    /// Signs a new entry. The caller is responsible for `seq`/`prev`
    /// continuing the author's log.
    pub fn sign(keypair: &Keypair, draft: Draft) -> Entry {
        let header = Header {
            version: PROTOCOL_VERSION,
            author: keypair.author(),
            seq: draft.seq,
            prev: draft.prev,
            timestamp_ms: draft.timestamp_ms,
            body_hash: BodyHash(*blake3::hash(&draft.body).as_bytes()),
            body_len: u32::try_from(draft.body.len()).expect("body length checked by the caller"),
        };
        let header_bytes = header.encode();
        let signature = keypair.sign(&signed_message(&header_bytes));
        let id = EntryId::of_header_bytes(&header_bytes);
        Entry {
            header,
            header_bytes,
            signature,
            body: Some(draft.body),
            id,
        }
    }

    /// Builds an entry from its parts as received, checking the encoding
    /// (not the signature: see [`Entry::verify`]).
    pub fn from_parts(
        header_bytes: Vec<u8>,
        signature: [u8; 64],
        body: Option<Vec<u8>>,
        limits: &Limits,
    ) -> Result<Entry, ValidationError> {
        if header_bytes.len() > limits.max_header_bytes {
            return Err(ValidationError::TooLarge {
                what: "header",
                size: header_bytes.len(),
                limit: limits.max_header_bytes,
            });
        }
        if let Some(body) = &body
            && body.len() > limits.max_body_bytes
        {
            return Err(ValidationError::TooLarge {
                what: "body",
                size: body.len(),
                limit: limits.max_body_bytes,
            });
        }
        let header = Header::decode(&header_bytes)?;
        if header.body_len as usize > limits.max_body_bytes {
            return Err(ValidationError::TooLarge {
                what: "body",
                size: header.body_len as usize,
                limit: limits.max_body_bytes,
            });
        }
        let id = EntryId::of_header_bytes(&header_bytes);
        Ok(Entry {
            header,
            header_bytes,
            signature,
            body,
            id,
        })
    }

    /// Decodes the wire form (see `docs/PROTOCOL.md`, "Entry envelope").
    pub fn decode(bytes: &[u8], limits: &Limits) -> Result<Entry, ValidationError> {
        let (entry, rest) = Entry::decode_prefix(bytes, limits)?;
        if !rest.is_empty() {
            return Err(ValidationError::Malformed(
                "trailing bytes after entry".to_string(),
            ));
        }
        Ok(entry)
    }

    /// Decodes one entry from the front of `bytes`, returning the rest.
    pub fn decode_prefix<'a>(
        bytes: &'a [u8],
        limits: &Limits,
    ) -> Result<(Entry, &'a [u8]), ValidationError> {
        let malformed = |what: &str| ValidationError::Malformed(what.to_string());
        let (header_len, rest) = varint::decode(bytes).map_err(malformed)?;
        let header_len = usize::try_from(header_len).map_err(|_| malformed("header length"))?;
        if header_len > limits.max_header_bytes {
            return Err(ValidationError::TooLarge {
                what: "header",
                size: header_len,
                limit: limits.max_header_bytes,
            });
        }
        if rest.len() < header_len + 64 + 1 {
            return Err(malformed("truncated entry"));
        }
        let (header_bytes, rest) = rest.split_at(header_len);
        let (signature, rest) = rest.split_at(64);
        let (flag, rest) = (rest[0], &rest[1..]);
        let (body, rest) = match flag {
            0 => (None, rest),
            1 => {
                let (body_len, rest) = varint::decode(rest).map_err(malformed)?;
                let body_len = usize::try_from(body_len).map_err(|_| malformed("body length"))?;
                if body_len > limits.max_body_bytes {
                    return Err(ValidationError::TooLarge {
                        what: "body",
                        size: body_len,
                        limit: limits.max_body_bytes,
                    });
                }
                if rest.len() < body_len {
                    return Err(malformed("truncated body"));
                }
                let (body, rest) = rest.split_at(body_len);
                (Some(body.to_vec()), rest)
            }
            _ => return Err(malformed("body flag must be 0 or 1")),
        };
        let signature: [u8; 64] = signature.try_into().expect("split at 64");
        let entry = Entry::from_parts(header_bytes.to_vec(), signature, body, limits)?;
        Ok((entry, rest))
    }

    /// The wire form: `varint(len(header)) header signature(64) flag [varint(len(body)) body]`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out);
        out
    }

    pub fn encode_into(&self, out: &mut Vec<u8>) {
        varint::encode(self.header_bytes.len() as u64, out);
        out.extend_from_slice(&self.header_bytes);
        out.extend_from_slice(&self.signature);
        match &self.body {
            None => out.push(0),
            Some(body) => {
                out.push(1);
                varint::encode(body.len() as u64, out);
                out.extend_from_slice(body);
            }
        }
    }

    /// Length of [`Entry::encode`]'s output.
    pub fn encoded_len(&self) -> usize {
        let body = self
            .body
            .as_ref()
            .map_or(0, |b| varint::encoded_len(b.len() as u64) + b.len());
        varint::encoded_len(self.header_bytes.len() as u64)
            + self.header_bytes.len()
            + 64
            + 1
            + body
    }

    /// Checks the signature, the body against the header, and the timestamp.
    pub fn verify(&self, limits: &Limits, now_ms: u64) -> Result<(), ValidationError> {
        self.verify_signature()?;
        self.verify_body()?;
        self.verify_timestamp(limits, now_ms)
    }

    /// `verify_strict` of the signature over `SIGNING_DOMAIN || header_bytes`.
    pub fn verify_signature(&self) -> Result<(), ValidationError> {
        let key = self.header.author.verifying_key()?;
        let signature = Signature::from_bytes(&self.signature);
        key.verify_strict(&signed_message(&self.header_bytes), &signature)
            .map_err(|_| ValidationError::BadSignature)
    }

    /// Checks that the body (if present) hashes to the signed hash and length.
    pub fn verify_body(&self) -> Result<(), ValidationError> {
        match &self.body {
            None => Ok(()),
            Some(body) => {
                if body.len() != self.header.body_len as usize
                    || blake3::hash(body).as_bytes() != &self.header.body_hash.0
                {
                    Err(ValidationError::BodyHashMismatch)
                } else {
                    Ok(())
                }
            }
        }
    }

    pub fn verify_timestamp(&self, limits: &Limits, now_ms: u64) -> Result<(), ValidationError> {
        let ts = self.header.timestamp_ms;
        if ts > now_ms.saturating_add(limits.max_clock_skew_ms) {
            return Err(ValidationError::FutureTimestamp {
                timestamp_ms: ts,
                ahead_ms: ts - now_ms,
                limit_ms: limits.max_clock_skew_ms,
            });
        }
        Ok(())
    }

    pub fn id(&self) -> EntryId {
        self.id
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    pub fn author(&self) -> AuthorId {
        self.header.author
    }

    pub fn seq(&self) -> u64 {
        self.header.seq
    }

    pub fn header_bytes(&self) -> &[u8] {
        &self.header_bytes
    }

    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }

    pub fn body(&self) -> Option<&[u8]> {
        self.body.as_deref()
    }

    /// The same entry without its body: still a verifiable link in the log.
    pub fn without_body(&self) -> Entry {
        Entry {
            body: None,
            ..self.clone()
        }
    }

    /// The message the author signed.
    pub fn signed_message(&self) -> Vec<u8> {
        signed_message(&self.header_bytes)
    }
}

fn signed_message(header_bytes: &[u8]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(SIGNING_DOMAIN.len() + header_bytes.len());
    msg.extend_from_slice(SIGNING_DOMAIN);
    msg.extend_from_slice(header_bytes);
    msg
}

/// Two validly signed entries by one author at one seq: proof of a fork that
/// anyone can check without trusting whoever presents it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForkProof {
    pub first: Entry,
    pub second: Entry,
}

impl ForkProof {
    pub fn author(&self) -> AuthorId {
        self.first.author()
    }

    pub fn seq(&self) -> u64 {
        self.first.seq()
    }

    /// Checks that the proof is what it claims: same author and seq,
    /// different ids, both signatures valid.
    pub fn verify(&self) -> Result<(), ValidationError> {
        if self.first.author() != self.second.author()
            || self.first.seq() != self.second.seq()
            || self.first.id() == self.second.id()
        {
            return Err(ValidationError::Malformed(
                "fork proof entries do not conflict".to_string(),
            ));
        }
        self.first.verify_signature()?;
        self.second.verify_signature()
    }
}

/// Where an author's log stands: its latest seq and the id of that entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Head {
    pub seq: u64,
    pub id: EntryId,
}

/// How a verified entry relates to the stored chain of its author.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainStep {
    /// The next entry of the log: store it.
    Append,
    /// Already stored (a replay): nothing to do.
    Duplicate,
}

/// Decides whether `entry` continues its author's stored log.
///
/// `head` is the latest stored entry of the author; `existing` is the stored
/// entry at `entry.seq()`, if any.
pub fn check_chain(
    head: Option<Head>,
    existing: Option<&Entry>,
    entry: &Entry,
) -> Result<ChainStep, ValidationError> {
    if let Some(existing) = existing {
        return if existing.id() == entry.id() {
            Ok(ChainStep::Duplicate)
        } else {
            Err(ValidationError::Fork(Box::new(ForkProof {
                first: existing.clone(),
                second: entry.clone(),
            })))
        };
    }
    let have = head.map_or(0, |h| h.seq);
    let seq = entry.seq();
    if seq > have + 1 {
        return Err(ValidationError::SeqGap {
            author: entry.author(),
            have,
            got: seq,
        });
    }
    if seq <= have {
        // Below the head but not stored: only possible if the caller's view
        // is inconsistent. Treat as a chain mismatch rather than guessing.
        return Err(ValidationError::PrevMismatch {
            author: entry.author(),
            seq,
        });
    }
    if entry.header().prev != head.map(|h| h.id) {
        return Err(ValidationError::PrevMismatch {
            author: entry.author(),
            seq,
        });
    }
    Ok(ChainStep::Append)
}

#[cfg(test)]
mod tests;
