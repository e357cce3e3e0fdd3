//! The small cache of open page documents, and how a document is loaded
//! from and saved to the store: a snapshot plus incremental saves, the
//! snapshot rewritten when the increments grow (amortized) and at shutdown.

use crate::store::keyspace::Space;
use automerge::{AutoCommit, LoadOptions, ReadDoc, TextEncoding};
use kith_protocol::PageId;

use super::doc::{body_text, guarded, new_doc};
use super::{CACHE_PAGES, COMPACT_AFTER, COMPACT_MIN_CHANGES, Error, Result, Wiki, key};
use crate::store::Store;
use crate::store::kv::Batch;

pub(super) struct Open {
    pub(super) doc: AutoCommit,
    pub(super) increments: u64,
    /// Changes in the stored snapshot.
    pub(super) snapshot_changes: u64,
    /// Changes added since the last persist, in forms `load_incremental`
    /// reads (bundles, change chunks): the next increment.
    pub(super) unsaved: Vec<Vec<u8>>,
}

impl Wiki {
    /// The page's document, from the cache or the store (None if unknown).
    pub(super) fn doc(&mut self, store: &Store, page: &PageId) -> Result<Option<&mut Open>> {
        if !self.open.contains_key(page) {
            let Some(open) = load_doc(store, page)? else {
                return Ok(None);
            };
            self.open.insert(*page, open);
        }
        self.touch(page);
        Ok(self.open.get_mut(page))
    }

    pub(super) fn doc_or_new(&mut self, store: &Store, page: &PageId) -> Result<&mut Open> {
        if self.doc(store, page)?.is_none() {
            self.open.insert(
                *page,
                Open {
                    doc: new_doc(),
                    increments: 0,
                    snapshot_changes: 0,
                    unsaved: Vec::new(),
                },
            );
            self.touch(page);
        }
        Ok(self.open.get_mut(page).expect("just inserted"))
    }

    fn touch(&mut self, page: &PageId) {
        self.lru.retain(|p| p != page);
        self.lru.push_back(*page);
        while self.lru.len() > CACHE_PAGES {
            if let Some(old) = self.lru.pop_front() {
                self.open.remove(&old);
            }
        }
    }

    /// Writes what changed in the document since its last save.
    pub(super) fn persist(&mut self, page: &PageId, batch: &mut Batch) -> Result<()> {
        let Some(open) = self.open.get_mut(page) else {
            return Ok(());
        };
        // Every change reaches the document with its increment queued: own
        // edits as their bundle (`record_local`), peers' as one bundle per
        // application (`apply_page`).
        let data = std::mem::take(&mut open.unsaved).concat();
        let changes = open.doc.stats().num_changes;
        let since = changes.saturating_sub(open.snapshot_changes);
        if open.increments >= COMPACT_AFTER
            || since > COMPACT_MIN_CHANGES.max(open.snapshot_changes / 4)
        {
            let snapshot = guarded("saving a page", || open.doc.save())?;
            open.snapshot_changes = changes;
            batch.insert(key(Space::WikiDoc, &[&page.0]), snapshot);
            for n in 0..open.increments {
                batch.remove(key(Space::WikiIncrement, &[&page.0, &n.to_be_bytes()]));
            }
            open.increments = 0;
            return Ok(());
        }
        if !data.is_empty() {
            batch.insert(
                key(
                    Space::WikiIncrement,
                    &[&page.0, &open.increments.to_be_bytes()],
                ),
                data,
            );
            open.increments += 1;
        }
        Ok(())
    }

    /// Rewrites the snapshot of every open page that has increments, so the
    /// next start loads each page in one piece (called at shutdown).
    pub fn compact_all(&mut self, store: &Store) -> Result<()> {
        let mut batch = Batch::default();
        for (page, open) in &mut self.open {
            if open.increments == 0 && open.unsaved.is_empty() {
                continue;
            }
            let snapshot = guarded("saving a page", || open.doc.save())?;
            batch.insert(key(Space::WikiDoc, &[&page.0]), snapshot);
            for n in 0..open.increments {
                batch.remove(key(Space::WikiIncrement, &[&page.0, &n.to_be_bytes()]));
            }
            open.increments = 0;
            open.unsaved.clear();
            open.snapshot_changes = open.doc.stats().num_changes;
        }
        store.kv().apply(batch)?;
        Ok(())
    }

    /// Forgets every open document (after a reindex).
    pub fn clear(&mut self) {
        self.open.clear();
        self.lru.clear();
        self.links_stale.clear();
    }

    /// The page's current body text.
    pub fn text(&mut self, store: &Store, page: &PageId) -> Result<String> {
        let open = self
            .doc(store, page)?
            .ok_or_else(|| Error::NoPage(page.to_string()))?;
        Ok(body_text(&open.doc))
    }

    /// The page as a standard Automerge document file.
    pub fn save(&mut self, store: &Store, page: &PageId) -> Result<Vec<u8>> {
        let open = self
            .doc(store, page)?
            .ok_or_else(|| Error::NoPage(page.to_string()))?;
        Ok(open.doc.save())
    }

    /// Throws away uncommitted local changes of a page (when appending the
    /// entries that carry them failed): the document is reloaded from the store.
    pub fn discard(&mut self, page: &PageId) {
        self.open.remove(page);
        self.lru.retain(|p| p != page);
    }
}

/// Loads a page's document: the snapshot plus its incremental saves.
pub(super) fn load_doc(store: &Store, page: &PageId) -> Result<Option<Open>> {
    let kv = store.kv();
    let snapshot = kv.get(key(Space::WikiDoc, &[&page.0]))?;
    let mut increments = Vec::new();
    for item in kv.scan_prefix(key(Space::WikiIncrement, &[&page.0])) {
        increments.push(item?.1);
    }
    if snapshot.is_none() && increments.is_empty() {
        return Ok(None);
    }
    let mut doc = match &snapshot {
        Some(bytes) => guarded("loading a page", || {
            AutoCommit::load_with_options(
                bytes,
                LoadOptions::new().text_encoding(TextEncoding::UnicodeCodePoint),
            )
        })?
        .map_err(|e| Error::Document(e.to_string()))?,
        None => new_doc(),
    };
    let snapshot_changes = doc.stats().num_changes;
    for inc in &increments {
        guarded("loading a page", || doc.load_incremental(inc))?
            .map_err(|e| Error::Document(e.to_string()))?;
    }
    Ok(Some(Open {
        doc,
        increments: increments.len() as u64,
        snapshot_changes,
        unsaved: Vec::new(),
    }))
}

/// The page as stored, plus incremental saves not yet written.
pub(super) fn reload(store: &Store, page: &PageId, unsaved: &[Vec<u8>]) -> Result<AutoCommit> {
    let mut doc = match load_doc(store, page)? {
        Some(open) => open.doc,
        None => new_doc(),
    };
    for inc in unsaved {
        guarded("reloading a page", || doc.load_incremental(inc))?
            .map_err(|e| Error::Document(e.to_string()))?;
    }
    Ok(doc)
}
