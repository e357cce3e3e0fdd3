//! Rebuilding the views from the entries (`reindex`), in slices so that a
//! running node keeps storing and serving while it runs, and re-verifying
//! every stored entry (`verify`).

use kith_protocol::{AuthorId, Entry, EntryId, Head, Verified};
use serde::{Deserialize, Serialize};

use super::keyspace::{self, Space};
use super::kv::Batch;
use super::{ENTRY, ID, Result, Store, decode_author, entry_key, views};
use crate::store::Error;

/// Which entries get their views as they are stored. While a rebuild runs,
/// entries it has not reached yet are left to it, so that every author's
/// entries are indexed in log order exactly once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Indexing {
    /// Normal operation: every entry is indexed as it is stored.
    #[default]
    All,
    /// A rebuild runs and has indexed every entry up to this (author, seq)
    /// key (`None`: none yet).
    Through(Option<(AuthorId, u64)>),
}

impl Indexing {
    /// Whether an entry stored now gets its views now.
    pub fn covers(&self, author: &AuthorId, seq: u64) -> bool {
        match self {
            Indexing::All => true,
            Indexing::Through(None) => false,
            Indexing::Through(Some(cursor)) => (*author, seq) <= *cursor,
        }
    }
}

/// Result of [`Store::verify`].
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct VerifyReport {
    pub entries: u64,
    pub authors: u64,
    pub bodies_dropped: u64,
    pub problems: Vec<String>,
}

/// Result of a reindex.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct ReindexReport {
    pub entries: u64,
    pub removed_view_keys: u64,
}

/// The rules views are built by. A store whose views are older is rebuilt
/// from its entries on open: 1 = wiki groups in framed form only; 2 = also
/// compact groups (body kind 8), which an older node stored as unknown
/// kinds and left out of its pages; 3 = identity certificates (kinds
/// 9–11) in the `vc` view; 4 = private circles (kinds 15–17, which an
/// older node stored as unknown kinds); 5 = circle page records under
/// their own prefix (`vP`; they were under the wiki's `vw`, where a page id
/// could read as a wiki record); 6 = circles, second revision (kinds 18
/// and 19; the retired kinds 16 and 17 feed no view, and their records
/// go); 7 = a circle's wiki page named by its circle and the id its
/// changes carry (`circle::circle_page`), not by the first circle whose
/// change of that id was opened here.
pub const VIEWS_VERSION: u32 = 7;

impl Store {
    /// Deletes every view and rebuilds it from the entries, in one go
    /// (a running node rebuilds in slices instead: see `core::maintenance`).
    pub fn reindex(&self) -> Result<ReindexReport> {
        let mut report = ReindexReport::default();
        loop {
            let removed = self.clear_views_step(10_000)?;
            if removed == 0 {
                break;
            }
            report.removed_view_keys += removed as u64;
        }
        self.reset_arrivals();
        let mut cursor = None;
        loop {
            let entries = self.entries_after_key(cursor, 1_000)?;
            let Some(last) = entries.last() else { break };
            cursor = Some((last.author(), last.seq()));
            for entry in entries {
                self.index_views(&self.verified(entry))?;
                report.entries += 1;
            }
        }
        self.kv.flush()?;
        Ok(report)
    }

    /// Removes up to `max` view keys; 0 when none are left.
    pub fn clear_views_step(&self, max: usize) -> Result<usize> {
        let mut batch = Batch::default();
        let mut n = 0;
        for item in self.kv.scan_prefix(keyspace::VIEWS).take(max) {
            let key = item?.0;
            batch.registry |= key.starts_with(Space::Cert.prefix());
            batch.remove(key);
            n += 1;
            self.apply_if_full(&mut batch)?;
        }
        self.apply(batch)?;
        Ok(n)
    }

    /// Starts arrival numbering over (the arrival view was cleared).
    pub fn reset_arrivals(&self) {
        self.arrival.store(0, std::sync::atomic::Ordering::SeqCst);
    }

    /// Up to `max` entries after the (author, seq) key `after`, in key order
    /// (author by author, each in log order).
    pub fn entries_after_key(
        &self,
        after: Option<(AuthorId, u64)>,
        max: usize,
    ) -> Result<Vec<Entry>> {
        let start = match after {
            None => vec![ENTRY],
            Some((author, seq)) => match seq.checked_add(1) {
                Some(next) => entry_key(&author, next).with_prefix(ENTRY),
                None => return Ok(Vec::new()),
            },
        };
        let mut out = Vec::new();
        for item in self.kv.range(&start, &[ENTRY + 1]).take(max) {
            out.push(self.decode_stored(&item?.1)?);
        }
        Ok(out)
    }

    /// Indexes one stored entry's views (views read earlier views, e.g. a
    /// deletion reads its target, so each entry is applied on its own).
    pub fn index_views(&self, entry: &Verified) -> Result<()> {
        self.index_views_of(std::slice::from_ref(entry))
    }

    /// [`Store::index_views`] of several entries, in batches of at most
    /// [`super::MAX_BATCH_OPS`] writes, as ingest writes them.
    pub fn index_views_of(&self, entries: &[Verified]) -> Result<()> {
        let mut batch = Batch::default();
        for entry in entries {
            self.apply_if_full(&mut batch)?;
            views::index(self, entry, &mut batch)?;
        }
        if !batch.is_empty() {
            self.apply(batch)?;
        }
        Ok(())
    }

    /// Records that a rebuild of the views is running (or has ended), so
    /// that one a crash interrupted starts over at the next open.
    pub fn set_rebuild_pending(&self, pending: bool) -> Result<()> {
        let key = super::meta_key("rebuild");
        if pending {
            self.kv.insert(&key, [1])?;
        } else {
            self.kv.remove(&key)?;
        }
        self.kv.flush()?;
        Ok(())
    }

    /// The person this device joined (`kith device join`): keys of it (the
    /// identity key and the node that linked this device), replicated as
    /// my own person's.
    pub fn set_joined_person(&self, keys: &[AuthorId]) -> Result<()> {
        let key = super::meta_key("person");
        let value: Vec<u8> = keys.iter().flat_map(|k| *k.as_bytes()).collect();
        self.kv.insert(&key, value)?;
        self.kv.flush()?;
        Ok(())
    }

    /// The secret of the identity key this node holds since a rotation
    /// (`kith identity rotate`), when it is not the node's own key.
    pub fn set_cert_key(&self, secret: Option<&[u8; 32]>) -> Result<()> {
        self.set_secret("cert-key", secret)
    }

    pub fn cert_key(&self) -> Result<Option<[u8; 32]>> {
        self.secret("cert-key")
    }

    /// The secret of the key this node signs its log with since it took
    /// over from its previous key (PROTOCOL.md §11.6), when that is not the
    /// node's libp2p key.
    pub fn log_key(&self) -> Result<Option<[u8; 32]>> {
        self.secret("log-key")
    }

    /// A new log key, kept durable before its first entry is signed: it
    /// becomes the log key once that entry is stored ([`Store::adopt_log_key`]).
    pub fn set_pending_log_key(&self, secret: Option<&[u8; 32]>) -> Result<()> {
        self.set_secret("log-key-pending", secret)
    }

    pub fn pending_log_key(&self) -> Result<Option<[u8; 32]>> {
        self.secret("log-key-pending")
    }

    /// Makes the pending log key the log key, in one durable write.
    pub fn adopt_log_key(&self, secret: &[u8; 32]) -> Result<()> {
        let mut batch = super::kv::Batch::default();
        batch.insert(super::meta_key("log-key"), secret);
        batch.remove(super::meta_key("log-key-pending"));
        self.apply(batch)?;
        self.kv.flush()?;
        Ok(())
    }

    /// Whether this store's own writes were ever recorded in a head
    /// witness outside the data directory ([`crate::witness`]).
    pub fn witnessed(&self) -> Result<bool> {
        Ok(self.kv.get(super::meta_key("witnessed"))?.is_some())
    }

    pub fn set_witnessed(&self) -> Result<()> {
        self.kv.insert(super::meta_key("witnessed"), [])?;
        self.kv.flush()?;
        Ok(())
    }

    fn set_secret(&self, name: &str, secret: Option<&[u8; 32]>) -> Result<()> {
        let key = super::meta_key(name);
        match secret {
            Some(s) => self.kv.insert(&key, s)?,
            None => self.kv.remove(&key)?,
        }
        self.kv.flush()?;
        Ok(())
    }

    fn secret(&self, name: &str) -> Result<Option<[u8; 32]>> {
        match self.kv.get(super::meta_key(name))? {
            Some(v) => Ok(Some(
                v.as_ref()
                    .try_into()
                    .map_err(|_| Error::Corrupt(format!("{name} record")))?,
            )),
            None => Ok(None),
        }
    }

    pub fn joined_person(&self) -> Result<Vec<AuthorId>> {
        match self.kv.get(super::meta_key("person"))? {
            Some(v) if v.len() % 32 == 0 => v.chunks(32).map(decode_author).collect(),
            Some(_) => Err(Error::Corrupt("joined person record".into())),
            None => Ok(Vec::new()),
        }
    }

    pub fn rebuild_pending(&self) -> Result<bool> {
        Ok(self.kv.contains(super::meta_key("rebuild"))?)
    }

    /// Keys and bytes (keys plus values) stored, by keyspace (its prefix,
    /// [`Space`]).
    /// What the store's file holds besides sled's own overhead.
    pub fn usage(&self) -> Result<std::collections::BTreeMap<String, (u64, u64)>> {
        let mut out: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
        for item in self.kv.scan_prefix([]) {
            let (k, v) = item?;
            let tag = Space::ALL
                .iter()
                .find(|s| k.starts_with(s.prefix()))
                .map_or_else(
                    || "?".to_string(),
                    |s| String::from_utf8_lossy(s.prefix()).into_owned(),
                );
            let e = out.entry(tag).or_default();
            e.0 += 1;
            e.1 += (k.len() + v.len()) as u64;
        }
        Ok(out)
    }

    /// The version of the rules the views were built by (0: before
    /// versions were recorded). See [`VIEWS_VERSION`].
    pub fn views_version(&self) -> Result<u32> {
        Ok(match self.kv.get(super::meta_key("views"))? {
            Some(v) => u32::from_be_bytes(v.as_ref().try_into().unwrap_or([0; 4])),
            None => 0,
        })
    }

    pub fn set_views_version(&self, version: u32) -> Result<()> {
        self.kv
            .insert(super::meta_key("views"), version.to_be_bytes())?;
        Ok(())
    }

    /// The first author with a log after `after` (in key order).
    pub fn next_author_after(&self, after: Option<&AuthorId>) -> Result<Option<AuthorId>> {
        let start = match after {
            None => vec![super::HEAD],
            Some(a) => {
                let mut k = super::author_key(super::HEAD, a);
                k.push(0);
                k
            }
        };
        match self.kv.range(&start, &[super::HEAD + 1]).next() {
            Some(item) => Ok(Some(decode_author(&item?.0[1..])?)),
            None => Ok(None),
        }
    }

    /// Number of stored entries, from the heads (cheap).
    pub fn count_entries(&self) -> Result<u64> {
        Ok(self.frontier()?.values().map(|h| h.seq).sum())
    }

    /// Re-verifies every stored entry: signature, body hash, chain links,
    /// indexes. Problems are collected, not fatal.
    pub fn verify(&self) -> Result<VerifyReport> {
        self.verify_with(|_| {})
    }

    /// [`Store::verify`], calling `progress` with the entries checked so far
    /// every thousand entries.
    pub fn verify_with(&self, mut progress: impl FnMut(u64)) -> Result<VerifyReport> {
        let mut report = VerifyReport::default();
        let mut last: Option<(AuthorId, Head)> = None;
        for item in self.kv.scan_prefix([ENTRY]) {
            let (k, v) = item?;
            report.entries += 1;
            if report.entries % 1_000 == 0 {
                progress(report.entries);
            }
            let key_author = decode_author(&k[1..33]).ok();
            let key_seq = k
                .get(33..41)
                .map(|s| u64::from_be_bytes(s.try_into().expect("8 bytes")));
            let entry = match Entry::decode(&v, &self.limits) {
                Ok(e) => e,
                Err(e) => {
                    report.problems.push(format!(
                        "entry {:?} seq {:?}: cannot decode: {e}",
                        key_author.map(|a| a.to_string()),
                        key_seq
                    ));
                    continue;
                }
            };
            let at = format!("{} seq {}", entry.author(), entry.seq());
            if key_author != Some(entry.author()) || key_seq != Some(entry.seq()) {
                report
                    .problems
                    .push(format!("{at}: stored under the wrong key"));
            }
            check_entry(&entry, &at, &mut report);
            let expected_prev = match last {
                Some((a, h)) if a == entry.author() => {
                    if h.seq + 1 != entry.seq() {
                        report
                            .problems
                            .push(format!("{at}: gap after seq {}", h.seq));
                    }
                    Some(h.id)
                }
                _ => {
                    report.authors += 1;
                    if let Some((a, h)) = last {
                        self.check_head(&a, h, &mut report)?;
                    }
                    if entry.seq() != 1 {
                        report
                            .problems
                            .push(format!("{at}: log does not start at seq 1"));
                    }
                    None
                }
            };
            if entry.header().prev != expected_prev && entry.seq() != 1 {
                report
                    .problems
                    .push(format!("{at}: prev does not match the previous entry"));
            }
            match self.get_location(&entry.id())? {
                Some((a, s)) if a == entry.author() && s == entry.seq() => {}
                _ => report
                    .problems
                    .push(format!("{at}: id index is missing or wrong")),
            }
            last = Some((
                entry.author(),
                Head {
                    seq: entry.seq(),
                    id: entry.id(),
                },
            ));
        }
        if let Some((a, h)) = last {
            self.check_head(&a, h, &mut report)?;
        }
        progress(report.entries);
        Ok(report)
    }

    fn check_head(&self, author: &AuthorId, last: Head, report: &mut VerifyReport) -> Result<()> {
        if self.head(author)? != Some(last) {
            report.problems.push(format!(
                "{author}: head record does not match the last entry"
            ));
        }
        Ok(())
    }

    fn get_location(&self, id: &EntryId) -> Result<Option<(AuthorId, u64)>> {
        let mut key = vec![ID];
        key.extend_from_slice(id.as_bytes());
        match self.kv.get(&key)? {
            None => Ok(None),
            Some(v) if v.len() == 40 => Ok(Some((
                decode_author(&v[..32])?,
                u64::from_be_bytes(v[32..40].try_into().expect("8 bytes")),
            ))),
            Some(_) => Err(Error::Corrupt("id index record".into())),
        }
    }
}

/// The checks one entry passes on its own: signature, body, body kept.
fn check_entry(entry: &Entry, at: &str, report: &mut VerifyReport) {
    if let Err(e) = entry.verify_signature() {
        report.problems.push(format!("{at}: {e}"));
    }
    if let Err(e) = entry.verify_body() {
        report.problems.push(format!("{at}: {e}"));
    }
    if entry.body().is_none() {
        report.bodies_dropped += 1;
    }
}
