//! How the store spells its keys and small records: an author's log
//! position, an author-keyed record, a metadata name, a head.

use kith_protocol::{AuthorId, EntryId};

use super::{Error, Head, META, Result};

/// `author(32) || seq(8, BE)`: sorts an author's log in seq order.
#[doc(hidden)]
pub struct EntryKey(pub(crate) [u8; 40]);

impl EntryKey {
    #[doc(hidden)]
    pub fn with_prefix(&self, prefix: u8) -> Vec<u8> {
        let mut out = Vec::with_capacity(41);
        out.push(prefix);
        out.extend_from_slice(&self.0);
        out
    }
}

#[doc(hidden)]
pub fn entry_key(author: &AuthorId, seq: u64) -> EntryKey {
    let mut key = [0u8; 40];
    key[..32].copy_from_slice(author.as_bytes());
    key[32..].copy_from_slice(&seq.to_be_bytes());
    EntryKey(key)
}

pub(super) fn author_key(prefix: u8, author: &AuthorId) -> Vec<u8> {
    let mut key = Vec::with_capacity(33);
    key.push(prefix);
    key.extend_from_slice(author.as_bytes());
    key
}

pub(super) fn meta_key(name: &str) -> Vec<u8> {
    let mut key = vec![META];
    key.extend_from_slice(name.as_bytes());
    key
}

pub(crate) fn decode_author(bytes: &[u8]) -> Result<AuthorId> {
    let arr: [u8; 32] = bytes
        .try_into()
        .map_err(|_| Error::Corrupt("author key".into()))?;
    Ok(AuthorId::from_bytes(arr))
}

pub(super) fn decode_head(bytes: &[u8]) -> Result<Head> {
    if bytes.len() != 40 {
        return Err(Error::Corrupt("head record".into()));
    }
    Ok(Head {
        seq: u64::from_be_bytes(bytes[..8].try_into().expect("8 bytes")),
        id: EntryId(bytes[8..].try_into().expect("32 bytes")),
    })
}
