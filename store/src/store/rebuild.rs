//! Rebuilding the views from the entries (`reindex`), in slices so that a
//! running node keeps storing and serving while it runs; the version of the
//! rules the views were built by.

use kith_protocol::{AuthorId, Entry, Verified};
use serde::{Deserialize, Serialize};

use super::keyspace::{self, Space};
use super::kv::Batch;
use super::{ENTRY, Result, Store, decode_author, entry_key, views};

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

/// Result of a reindex.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// (a running node rebuilds in slices instead: see kith-core's `core::rebuild`).
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
            report.entries += entries.len() as u64;
            let verified: Vec<Verified> = entries.into_iter().map(|e| self.verified(e)).collect();
            self.index_views_of(&verified)?;
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
    /// [`super::MAX_BATCH_OPS`] writes, as ingest writes them (an entry
    /// whose views read earlier views comes after a write of its own).
    pub fn index_views_of(&self, entries: &[Verified]) -> Result<()> {
        let mut batch = Batch::default();
        for entry in entries {
            if views::reads_store(entry) {
                self.apply(std::mem::take(&mut batch))?;
            }
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

    pub fn rebuild_pending(&self) -> Result<bool> {
        Ok(self.kv.contains(super::meta_key("rebuild"))?)
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
}
