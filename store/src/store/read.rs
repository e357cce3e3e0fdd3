//! Reading the logs: an entry by id, by (author, seq) or by a hex
//! prefix, a log's range, heads and the frontier, and cutting a revoked
//! device's log short.

use std::collections::BTreeMap;

use kith_protocol::{AuthorId, Entry, EntryId, Head};

use super::keyspace::Space;
use super::kv::Batch;
use super::{
    ENTRY, Error, HEAD, ID, Result, Store, author_key, decode_author, decode_head, entry_key,
};

impl Store {
    pub(super) fn decode_stored(&self, bytes: &[u8]) -> Result<Entry> {
        // Stored entries were verified on the way in; decoding still checks
        // their structure so a corrupted record is reported, not trusted.
        Entry::decode(bytes, &self.limits).map_err(|e| Error::Corrupt(e.to_string()))
    }

    pub fn get(&self, id: &EntryId) -> Result<Option<Entry>> {
        let Some((loc, from_run)) = super::ids::location(self, id)? else {
            return Ok(None);
        };
        let mut k = vec![ENTRY];
        k.extend_from_slice(&loc);
        match self.kv.get(&k)? {
            Some(bytes) => {
                let entry = self.decode_stored(&bytes)?;
                // A run's record may outlive its entry (a cut log, whose
                // place a later entry may take): only that id is this one.
                if from_run && entry.id() != *id {
                    return Ok(None);
                }
                Ok(Some(entry))
            }
            None if from_run => Ok(None),
            None => Err(Error::Corrupt(format!(
                "id index points at a missing entry {id}"
            ))),
        }
    }

    /// Resolves a full id or a unique hex prefix (at least 4 characters).
    pub fn resolve_id(&self, text: &str) -> Result<EntryId> {
        let text = text.trim().to_ascii_lowercase();
        if let Ok(id) = text.parse::<EntryId>() {
            return Ok(id);
        }
        if !text.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(Error::NotFound(text));
        }
        if text.len() < 4 {
            return Err(Error::TooShort(text));
        }
        let even = &text[..text.len() & !1];
        let mut prefix = vec![ID];
        prefix.extend_from_slice(&hex::decode(even).expect("checked hex digits"));
        let mut found = Vec::new();
        for item in self.kv.scan_prefix(&prefix) {
            let (key, _) = item?;
            let id = EntryId(
                key[1..]
                    .try_into()
                    .map_err(|_| Error::Corrupt("id key".into()))?,
            );
            if !id.to_hex().starts_with(&text) {
                continue;
            }
            found.push(id);
            if found.len() > 5 {
                break;
            }
        }
        // Older ids are in the index's runs: those between the prefix
        // followed by zeros and by ones, whose entries are still stored.
        if found.len() <= 5 && text.len() <= 64 {
            let bound = |fill: char| -> [u8; 32] {
                let mut padded = text.clone();
                padded.extend(std::iter::repeat_n(fill, 64 - text.len()));
                hex::decode(padded)
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .expect("64 hex digits")
            };
            let (low, high) = (bound('0'), bound('f'));
            for id in super::ids::ids_between(self, &low, &high, 64)? {
                if found.len() > 5 {
                    break;
                }
                if !found.contains(&id)
                    && id.to_hex().starts_with(&text)
                    && self.get(&id)?.is_some()
                {
                    found.push(id);
                }
            }
        }
        match found.as_slice() {
            [] => Err(Error::NotFound(text)),
            [id] => Ok(*id),
            many => {
                let mut names: Vec<String> = many
                    .iter()
                    .take(5)
                    .map(|id| id.to_hex()[..12].to_string())
                    .collect();
                if many.len() > 5 {
                    names.push("…".into());
                }
                Err(Error::Ambiguous(text, names.join(", ")))
            }
        }
    }

    pub fn entry_at(&self, author: &AuthorId, seq: u64) -> Result<Option<Entry>> {
        match self.kv.get(entry_key(author, seq).with_prefix(ENTRY))? {
            Some(bytes) => Ok(Some(self.decode_stored(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Up to `limit` entries of `author` starting at `from_seq`, in log order.
    pub fn log(&self, author: &AuthorId, from_seq: u64, limit: usize) -> Result<Vec<Entry>> {
        let start = entry_key(author, from_seq).with_prefix(ENTRY);
        let end = entry_key(author, u64::MAX).with_prefix(ENTRY);
        let mut out = Vec::new();
        for item in self.kv.range(&start, &end).take(limit) {
            let (_, v) = item?;
            out.push(self.decode_stored(&v)?);
        }
        Ok(out)
    }

    /// Entries of `author` after `after_seq`, in log order, up to
    /// `max_bytes` of wire encoding (at least one entry if any exists).
    pub fn log_batch(
        &self,
        author: &AuthorId,
        after_seq: u64,
        max_bytes: usize,
        max_entries: usize,
    ) -> Result<Vec<Entry>> {
        let start = entry_key(author, after_seq.saturating_add(1)).with_prefix(ENTRY);
        let end = entry_key(author, u64::MAX).with_prefix(ENTRY);
        let mut out = Vec::new();
        let mut bytes = 0;
        for item in self.kv.range(&start, &end) {
            let (_, v) = item?;
            if !out.is_empty() && (bytes + v.len() > max_bytes || out.len() >= max_entries) {
                break;
            }
            bytes += v.len();
            out.push(self.decode_stored(&v)?);
        }
        Ok(out)
    }

    /// Removes `author`'s entries after `last_seq` (a revoked device's,
    /// PROTOCOL.md §11), with their ids and the head. Views still show them
    /// until the caller rebuilds the views. Returns how many were removed.
    pub fn truncate_log(&self, author: &AuthorId, last_seq: u64) -> Result<usize> {
        let start = entry_key(author, last_seq.saturating_add(1)).with_prefix(ENTRY);
        let end = entry_key(author, u64::MAX).with_prefix(ENTRY);
        let mut batch = Batch::default();
        let mut removed = 0;
        for item in self.kv.range(&start, &end) {
            let (k, v) = item?;
            let entry = self.decode_stored(&v)?;
            let mut id_key = vec![ID];
            id_key.extend_from_slice(entry.id().as_bytes());
            batch.remove(id_key);
            batch.remove(&k);
            // Its certificate view stays until the rebuild that follows.
            let cert = Space::Cert.key(&[author.as_bytes(), &entry.seq().to_be_bytes()]);
            batch.registry |= self.kv.contains(&cert)?;
            batch.remove(cert);
            removed += 1;
        }
        if removed == 0 {
            return Ok(0);
        }
        self.ids.cut(&self.kv, author, last_seq, &mut batch)?;
        match self.entry_at(author, last_seq)? {
            Some(last) if last_seq > 0 => {
                let mut head = Vec::with_capacity(40);
                head.extend_from_slice(&last_seq.to_be_bytes());
                head.extend_from_slice(last.id().as_bytes());
                batch.insert(author_key(HEAD, author), head);
            }
            _ => batch.remove(author_key(HEAD, author)),
        }
        self.apply(batch)?;
        self.kv.flush()?;
        Ok(removed)
    }

    pub fn head(&self, author: &AuthorId) -> Result<Option<Head>> {
        match self.kv.get(author_key(HEAD, author))? {
            None => Ok(None),
            Some(v) => decode_head(&v).map(Some),
        }
    }

    /// Every author's latest seq and id.
    pub fn frontier(&self) -> Result<BTreeMap<AuthorId, Head>> {
        let mut out = BTreeMap::new();
        for item in self.kv.scan_prefix([HEAD]) {
            let (k, v) = item?;
            out.insert(decode_author(&k[1..])?, decode_head(&v)?);
        }
        Ok(out)
    }
}
