//! The sync messages' wire form and the entries fetches carry.

use serde::{Deserialize, Serialize};

use crate::entry::Entry;
use crate::keys::AuthorId;
use crate::limits::Limits;

/// Splits a fetch response into entries, checking they are all by `author`
/// and within limits. Signatures are checked later, by the ingest.
pub fn decode_entries(
    mut bytes: &[u8],
    author: AuthorId,
    limits: &Limits,
) -> Result<Vec<Entry>, String> {
    if bytes.len() > limits.max_batch_bytes + limits.max_body_bytes + 1024 {
        return Err("batch too large".to_string());
    }
    let mut out = Vec::new();
    while !bytes.is_empty() {
        if out.len() >= limits.max_batch_entries {
            return Err("too many entries in batch".to_string());
        }
        let (entry, rest) = Entry::decode_prefix(bytes, limits).map_err(|e| e.to_string())?;
        if entry.author() != author {
            return Err("entry by another author in batch".to_string());
        }
        out.push(entry);
        bytes = rest;
    }
    Ok(out)
}

/// Splits concatenated entries of any authors, within limits.
pub fn decode_any_entries(mut bytes: &[u8], limits: &Limits) -> Result<Vec<Entry>, String> {
    if bytes.len() > limits.max_batch_bytes + limits.max_body_bytes + 1024 {
        return Err("batch too large".to_string());
    }
    let mut out = Vec::new();
    while !bytes.is_empty() {
        if out.len() >= limits.max_batch_entries {
            return Err("too many entries in batch".to_string());
        }
        let (entry, rest) = Entry::decode_prefix(bytes, limits).map_err(|e| e.to_string())?;
        out.push(entry);
        bytes = rest;
    }
    Ok(out)
}

/// Encodes a sync message for the wire: postcard.
pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    postcard::to_stdvec(message).expect("encoding into a Vec cannot fail")
}

/// Decodes a sync message, rejecting trailing bytes and any encoding but
/// the canonical one (postcard itself reads overlong varints; found by
/// fuzzing: fuzz/regressions/sync_message/).
pub fn decode<'a, T: Deserialize<'a> + Serialize>(bytes: &'a [u8]) -> Result<T, String> {
    let (value, rest) = postcard::take_from_bytes(bytes).map_err(|e| e.to_string())?;
    if !rest.is_empty() {
        return Err("trailing bytes".to_string());
    }
    if encode(&value) != bytes {
        return Err("not canonically encoded (overlong varint)".to_string());
    }
    Ok(value)
}
