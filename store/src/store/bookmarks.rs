//! Bookmarks: entries this node's user keeps to come back to, with an
//! optional note. Local state, like the trust list: never sent, never
//! signed, and not a view, so `reindex` keeps them.
//!
//! | key                | value                                  |
//! |--------------------|----------------------------------------|
//! | `B` entry id(32)   | postcard { added_ms, note }            |

use kith_protocol::EntryId;
use serde::{Deserialize, Serialize};

use super::keyspace::Space;
use super::{Error, Result, Store};

/// A bookmark as the user made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bookmark {
    pub entry: EntryId,
    pub added_ms: u64,
    pub note: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    added_ms: u64,
    note: Option<String>,
}

impl Store {
    /// Bookmarks `entry` (again: the note is replaced, the date kept).
    pub fn bookmark_add(
        &self,
        entry: EntryId,
        note: Option<String>,
        now_ms: u64,
    ) -> Result<Bookmark> {
        let key = Space::Bookmark.key(&[&entry.0]);
        let added_ms = match self.kv.get(&key)? {
            Some(v) => decode(&v)?.added_ms,
            None => now_ms,
        };
        let stored = Stored { added_ms, note };
        self.kv.insert(
            key,
            postcard::to_stdvec(&stored).expect("encoding into a Vec cannot fail"),
        )?;
        self.kv.flush()?;
        Ok(Bookmark {
            entry,
            added_ms,
            note: stored.note,
        })
    }

    /// Returns whether the entry was bookmarked.
    pub fn bookmark_remove(&self, entry: &EntryId) -> Result<bool> {
        let key = Space::Bookmark.key(&[&entry.0]);
        if self.kv.get(&key)?.is_none() {
            return Ok(false);
        }
        self.kv.remove(key)?;
        self.kv.flush()?;
        Ok(true)
    }

    /// Every bookmark, the latest first.
    pub fn bookmarks(&self) -> Result<Vec<Bookmark>> {
        let mut out = Vec::new();
        for item in self.kv.scan_prefix(Space::Bookmark.prefix()) {
            let (k, v) = item?;
            let id: [u8; 32] = k[Space::Bookmark.prefix().len()..]
                .try_into()
                .map_err(|_| Error::Corrupt("bookmark key".into()))?;
            let stored = decode(&v)?;
            out.push(Bookmark {
                entry: EntryId(id),
                added_ms: stored.added_ms,
                note: stored.note,
            });
        }
        out.sort_by(|a, b| b.added_ms.cmp(&a.added_ms).then(a.entry.cmp(&b.entry)));
        Ok(out)
    }
}

fn decode(bytes: &[u8]) -> Result<Stored> {
    postcard::from_bytes(bytes).map_err(|e| Error::Corrupt(format!("bookmark: {e}")))
}
