//! What a node remembers about its trusted peers' nodes between runs
//! (addresses, last seen, last synced), and detached entries: wiki changes
//! by authors outside the replication set that a trusted author's change
//! depends on.

use kith_protocol::{AuthorId, Entry, EntryId};
use serde::{Deserialize, Serialize};

use super::{DETACHED, Error, PEER, Result, Store, author_key, decode_author};

/// What a node remembers about a trusted peer's node between runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerRecord {
    /// Dialable multiaddrs, most recently learned first.
    pub addrs: Vec<String>,
    pub last_seen_ms: Option<u64>,
    pub last_sync_ms: Option<u64>,
}

/// Most addresses remembered per peer.
pub const MAX_PEER_ADDRS: usize = 8;

impl Store {
    pub fn peer_get(&self, author: &AuthorId) -> Result<Option<PeerRecord>> {
        match self.kv.get(author_key(PEER, author))? {
            None => Ok(None),
            Some(v) => postcard::from_bytes(&v)
                .map(Some)
                .map_err(|e| Error::Corrupt(format!("peer record: {e}"))),
        }
    }

    pub fn peer_put(&self, author: &AuthorId, record: &PeerRecord) -> Result<()> {
        self.kv.insert(
            author_key(PEER, author),
            postcard::to_stdvec(record).expect("encoding into a Vec cannot fail"),
        )?;
        Ok(())
    }

    /// Remembers `addrs` for `author` (newest first, capped). Returns whether
    /// anything changed.
    pub fn peer_add_addrs(&self, author: &AuthorId, addrs: &[String]) -> Result<bool> {
        let mut record = self.peer_get(author)?.unwrap_or_default();
        let before = record.addrs.clone();
        for addr in addrs.iter().rev() {
            record.addrs.retain(|a| a != addr);
            record.addrs.insert(0, addr.clone());
        }
        record.addrs.truncate(MAX_PEER_ADDRS);
        if record.addrs == before {
            return Ok(false);
        }
        self.peer_put(author, &record)?;
        Ok(true)
    }

    pub fn peer_list(&self) -> Result<Vec<(AuthorId, PeerRecord)>> {
        let mut out = Vec::new();
        for item in self.kv.scan_prefix([PEER]) {
            let (k, v) = item?;
            let record = postcard::from_bytes(&v)
                .map_err(|e| Error::Corrupt(format!("peer record: {e}")))?;
            out.push((decode_author(&k[1..])?, record));
        }
        Ok(out)
    }

    /// Keeps a verified entry outside the logs: a wiki change by an author
    /// this node does not replicate, on which a trusted author's change
    /// depends. Detached entries are served on request but not replicated.
    pub fn detached_put(&self, entry: &Entry) -> Result<()> {
        let mut key = vec![DETACHED];
        key.extend_from_slice(entry.id().as_bytes());
        self.kv.insert(key, entry.encode())?;
        Ok(())
    }

    pub fn detached_get(&self, id: &EntryId) -> Result<Option<Entry>> {
        let mut key = vec![DETACHED];
        key.extend_from_slice(id.as_bytes());
        match self.kv.get(key)? {
            Some(bytes) => Ok(Some(self.decode_stored(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Every detached entry (for rebuilding views).
    pub fn detached_all(&self) -> Result<Vec<Entry>> {
        let mut out = Vec::new();
        for item in self.kv.scan_prefix([DETACHED]) {
            out.push(self.decode_stored(&item?.1)?);
        }
        Ok(out)
    }
}
