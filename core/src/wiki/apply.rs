//! Applying wiki-change entries, own or foreign: assemble multi-part
//! groups, check every change (actor = author, op cap), apply what has its
//! dependencies, park what waits, and record history, metadata, the title
//! index, links and the change index.

use crate::store::keyspace::Space;
use std::collections::{BTreeMap, BTreeSet};

use automerge::{Change, ChangeHash};
use kith_protocol::change_group::{self, Part as GroupPart};
use kith_protocol::{AuthorId, Body, EntryId, GroupForm, PageId, Verified, WikiChange};
use serde::{Deserialize, Serialize};

use super::cache::{Open, reload};
use super::doc::{actor_of, guarded, has_change, is_archived, links_in, text_len, title_of};
use super::group;
use super::read::meta;
use super::records::{bump_rejected, index_change, note_alias, processed_through, set_links};
use super::versions::write_history;
use super::{Error, HistoryItem, MAX_CHANGE_OPS, PageMeta, Result, Waiting, Wiki, key};
use crate::store::Store;
use crate::store::kv::Batch;

/// Entries read per step of a catch-up.
const CATCH_UP_CHUNK: usize = 256;

/// What applying a batch of entries did.
#[derive(Debug, Default)]
pub struct ApplyReport {
    pub applied: usize,
    pub waiting: usize,
    /// (entry, reason) of refused changes.
    pub rejected: Vec<(EntryId, String)>,
    /// Changes some applied or waiting change depends on and we lack.
    pub missing: BTreeSet<[u8; 32]>,
    pub pages: BTreeSet<PageId>,
}

impl ApplyReport {
    fn absorb(&mut self, other: ApplyReport) {
        self.applied += other.applied;
        self.waiting = other.waiting;
        self.rejected.extend(other.rejected);
        self.missing.extend(other.missing);
        self.pages.extend(other.pages);
    }
}

/// A change from an entry, parsed and checked, not yet applied.
struct Incoming {
    entry: EntryId,
    /// Seq of the (last) entry in its author's log, to order history.
    seq: u64,
    author: AuthorId,
    timestamp_ms: u64,
    entries: Vec<EntryId>,
    change: Change,
    /// From an entry being applied now (not a change that waited).
    fresh: bool,
}

/// A part of a multi-entry group, kept until the whole group is here.
#[derive(Serialize, Deserialize)]
struct Part {
    entry: EntryId,
    author: AuthorId,
    timestamp_ms: u64,
    parts: u32,
    #[serde(with = "serde_bytes")]
    data: Vec<u8>,
}

impl Wiki {
    /// Materializes wiki-change entries (own or foreign), in order, and
    /// records that the wiki has processed each author up to its last one.
    pub fn apply(&mut self, store: &Store, entries: &[Verified]) -> Result<ApplyReport> {
        let mut report = ApplyReport::default();
        let mut batch = Batch::default();
        let mut incoming: BTreeMap<PageId, Vec<Incoming>> = BTreeMap::new();
        let mut progress: BTreeMap<AuthorId, u64> = BTreeMap::new();
        for verified in entries {
            let entry = verified.entry();
            progress.insert(entry.author(), entry.seq());
            let Some((change, form)) = verified.body().and_then(Body::wiki_part) else {
                continue;
            };
            match self.collect(store, verified, change, form, &mut batch) {
                Ok(Some((page, list))) => incoming.entry(page).or_default().extend(list),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(entry = %entry.id(), error = %e, "rejected wiki change");
                    report.rejected.push((entry.id(), e.to_string()));
                    bump_rejected(store, &change.page, &mut batch)?;
                }
            }
        }
        // Parts must be visible to later calls even if nothing applied.
        store.kv().apply(std::mem::take(&mut batch))?;
        for (page, list) in incoming {
            self.apply_page(store, page, list, &mut report, &mut batch)?;
            report.pages.insert(page);
        }
        for (author, seq) in progress {
            batch.insert(
                key(Space::WikiProcessed, &[author.as_bytes()]),
                seq.to_be_bytes(),
            );
        }
        store.kv().apply(batch)?;
        Ok(report)
    }

    /// Parses one entry into checked changes, assembling multi-part groups.
    fn collect(
        &mut self,
        store: &Store,
        verified: &Verified,
        w: &WikiChange,
        form: GroupForm,
        batch: &mut Batch,
    ) -> Result<Option<(PageId, Vec<Incoming>)>> {
        let entry = verified.entry();
        change_group::check_part(w).map_err(|e| Error::BadChange(e.to_string()))?;
        let (data, entries) = if w.parts == 1 {
            let data = change_group::assemble(
                &[GroupPart {
                    parts: 1,
                    data: &w.data,
                }],
                &w.group_hash,
            )
            .map_err(|e| Error::BadChange(e.to_string()))?;
            (data, vec![entry.id()])
        } else {
            match gather_parts(store, entry, w, batch)? {
                Some(gathered) => gathered,
                None => return Ok(None), // Wait for the rest.
            }
        };
        let mut out = Vec::new();
        for change in group::changes(form, &data)? {
            if change.actor_id() != &actor_of(&entry.author()) {
                return Err(Error::BadChange(format!(
                    "change actor {} is not the entry's author {}",
                    change.actor_id(),
                    entry.author()
                )));
            }
            if change.len() > MAX_CHANGE_OPS {
                return Err(Error::BadChange(format!(
                    "{} operations in one change (limit {MAX_CHANGE_OPS})",
                    change.len()
                )));
            }
            out.push(Incoming {
                entry: entry.id(),
                seq: entry.seq(),
                author: entry.author(),
                timestamp_ms: entry.header().timestamp_ms,
                entries: entries.clone(),
                change,
                fresh: true,
            });
        }
        Ok(Some((w.page, out)))
    }

    /// Applies a page's new changes together with the ones that were
    /// waiting, then parks what still waits and records the rest.
    fn apply_page(
        &mut self,
        store: &Store,
        page: PageId,
        incoming: Vec<Incoming>,
        report: &mut ApplyReport,
        batch: &mut Batch,
    ) -> Result<()> {
        let mut queue = incoming;
        queue.extend(take_waiting(store, &page, batch)?);
        let mut meta = meta(store, &page)?.unwrap_or_default();
        self.doc_or_new(store, &page)?;
        let open = self.open.get_mut(&page).expect("loaded above");
        let queued = open.unsaved.len();
        let mut history = History::default();
        let result = apply_queue(
            store,
            &page,
            open,
            queue,
            &mut history,
            &mut meta,
            report,
            batch,
        );
        let still_waiting = match result {
            Ok(rest) => rest,
            Err(e) => {
                self.discard(&page);
                return Err(e);
            }
        };
        // One increment for the changes applied now, not one per change.
        if history.applied.len() > 1
            && let Ok(bundle) = group::bundle_raw(&open.doc, &history.applied)
        {
            open.unsaved.truncate(queued);
            open.unsaved.push(bundle);
        }
        park_waiting(open, &page, still_waiting, &mut meta, report, batch);
        history.write(store, &page, batch)?;
        meta.chars = text_len(&open.doc);
        self.finish_page(&page, meta, batch)
    }

    /// Title index, aliases, merge mark, metadata and an incremental save of
    /// a page whose document changed. Its links are not read here (that
    /// takes the whole text): the owner refreshes them in batches with
    /// [`Wiki::refresh_links`], when it re-indexes the page for search.
    pub(super) fn finish_page(
        &mut self,
        page: &PageId,
        mut meta: PageMeta,
        batch: &mut Batch,
    ) -> Result<()> {
        let Some(open) = self.open.get_mut(page) else {
            return Ok(());
        };
        meta.merged = super::merges::mark(&mut open.doc);
        self.links_stale.insert(*page);
        let old_title = std::mem::take(&mut meta.title);
        meta.title = title_of(&open.doc);
        meta.archived = is_archived(&open.doc);
        meta.chars = text_len(&open.doc);
        let title_key = |index: Space, title: &str| {
            let mut k = key(index, &[title.to_lowercase().as_bytes()]);
            k.push(0);
            k.extend_from_slice(&page.0);
            k
        };
        if old_title != meta.title && !old_title.is_empty() {
            batch.remove(title_key(Space::WikiTitle, &old_title));
            note_alias(&mut meta, &old_title);
        }
        // Every title the page ever had is an alias, except the current one
        // (a title taken back is not).
        if meta
            .aliases
            .iter()
            .any(|a| a.eq_ignore_ascii_case(&meta.title))
        {
            meta.aliases
                .retain(|a| !a.eq_ignore_ascii_case(&meta.title));
            batch.remove(title_key(Space::WikiAlias, &meta.title));
        }
        for alias in &meta.aliases {
            batch.insert(title_key(Space::WikiAlias, alias), []);
        }
        if !meta.title.is_empty() {
            batch.insert(title_key(Space::WikiTitle, &meta.title), []);
        }
        batch.insert(
            key(Space::WikiMeta, &[&page.0]),
            postcard::to_stdvec(&meta).expect("encoding into a Vec cannot fail"),
        );
        if let Err(e) = self.persist(page, batch) {
            self.discard(page);
            return Err(e);
        }
        Ok(())
    }

    /// Brings the page's outgoing links (and so others' backlinks) up to
    /// date with `body`, its current text.
    pub fn refresh_links(&mut self, store: &Store, page: &PageId, body: &str) -> Result<()> {
        let mut batch = Batch::default();
        set_links(store, page, links_in(body), &mut batch)?;
        store.kv().apply(batch)?;
        self.links_stale.remove(page);
        Ok(())
    }

    /// Pages whose links have not been read since their body changed.
    pub fn stale_links(&self) -> Vec<PageId> {
        self.links_stale.iter().copied().collect()
    }

    /// Replays the wiki entries each author wrote after the last one the
    /// wiki processed (after a crash between storing entries and
    /// materializing them, or after a reindex).
    pub fn catch_up(&mut self, store: &Store) -> Result<ApplyReport> {
        let mut total = ApplyReport::default();
        for author in store.frontier()?.into_keys() {
            while let Some(report) = self.catch_up_step(store, &author)? {
                total.absorb(report);
            }
        }
        Ok(total)
    }

    /// One step of catching up with `author`'s log: at most a chunk of
    /// entries after the last one processed. `None` once caught up.
    pub fn catch_up_step(
        &mut self,
        store: &Store,
        author: &AuthorId,
    ) -> Result<Option<ApplyReport>> {
        let done = processed_through(store, author)?;
        let head = store.head(author)?.map_or(0, |h| h.seq);
        if done >= head {
            return Ok(None);
        }
        let entries: Vec<Verified> = store
            .log(author, done + 1, CATCH_UP_CHUNK)?
            .into_iter()
            .map(|e| store.verified(e))
            .collect();
        if entries.is_empty() {
            return Ok(None);
        }
        self.apply(store, &entries).map(Some)
    }
}

/// History items of one application, by entry.
#[derive(Default)]
struct History {
    items: BTreeMap<EntryId, (u64, HistoryItem)>,
    /// Changes applied to the document, in order.
    applied: Vec<ChangeHash>,
}

impl History {
    fn record(&mut self, item: &Incoming, before: u64, after: u64, meta: &mut PageMeta) {
        let (hash, seq) = (item.change.hash().0, item.change.seq());
        let (_, h) = self.items.entry(item.entry).or_insert((
            item.seq,
            HistoryItem {
                entry: item.entry,
                author: item.author,
                timestamp_ms: item.timestamp_ms,
                ops: 0,
                chars_before: before,
                chars_after: after,
                first: hash,
                last: hash,
                seq_from: seq,
                seq_to: seq,
            },
        ));
        h.ops += item.change.len() as u64;
        h.chars_after = after;
        if seq < h.seq_from {
            (h.first, h.seq_from) = (hash, seq);
        }
        if seq > h.seq_to {
            (h.last, h.seq_to) = (hash, seq);
        }
        if !meta.authors.contains(&item.author) {
            meta.authors.push(item.author);
        }
        if meta.created_ms == 0 || item.timestamp_ms < meta.created_ms {
            meta.created_ms = item.timestamp_ms;
        }
        meta.updated_ms = meta.updated_ms.max(item.timestamp_ms);
        meta.changes += 1;
    }

    /// Keyed by time, then author and seq: a stable order even for entries
    /// written in the same millisecond.
    fn write(&self, store: &Store, page: &PageId, batch: &mut Batch) -> Result<()> {
        for (seq, h) in self.items.values() {
            write_history(store, page, *seq, h.clone(), batch)?;
        }
        Ok(())
    }
}

/// The page's waiting changes, removed from the store (they are parked
/// again if they still wait).
fn take_waiting(store: &Store, page: &PageId, batch: &mut Batch) -> Result<Vec<Incoming>> {
    let mut out = Vec::new();
    for item in store.kv().scan_prefix(key(Space::WikiWaiting, &[&page.0])) {
        let (k, v) = item?;
        let w: Waiting = postcard::from_bytes(&v)
            .map_err(|e| Error::Document(format!("waiting change: {e}")))?;
        batch.remove(k);
        if let Ok(change) = Change::from_bytes(w.change) {
            out.push(Incoming {
                entry: w.entry,
                seq: w.seq,
                author: w.author,
                timestamp_ms: w.timestamp_ms,
                entries: w.entries,
                change,
                fresh: false,
            });
        }
    }
    Ok(out)
}

/// Applies every change whose dependencies are present, repeating while
/// that makes progress; returns the changes that still wait.
#[allow(clippy::too_many_arguments)]
fn apply_queue(
    store: &Store,
    page: &PageId,
    open: &mut Open,
    mut queue: Vec<Incoming>,
    history: &mut History,
    meta: &mut PageMeta,
    report: &mut ApplyReport,
    batch: &mut Batch,
) -> Result<Vec<Incoming>> {
    let mut chars = text_len(&open.doc);
    loop {
        let mut progressed = false;
        let mut rest = Vec::new();
        for item in queue {
            let hash = item.change.hash();
            if has_change(&mut open.doc, &hash) {
                index_change(batch, &hash, &item.entries);
                // Our own edit, made on this document before its entry was
                // written: it counts now.
                if item.fresh {
                    history.record(&item, chars, chars, meta);
                    report.applied += 1;
                }
                continue;
            }
            if item
                .change
                .deps()
                .iter()
                .any(|d| !has_change(&mut open.doc, d))
            {
                rest.push(item);
                continue;
            }
            if !apply_one(store, page, open, &item, meta, report)? {
                chars = text_len(&open.doc);
                continue;
            }
            progressed = true;
            report.applied += 1;
            history.applied.push(hash);
            // Every value the title register ever held becomes an alias
            // (concurrent ones included), whatever order changes come in.
            for title in super::doc::all_titles(&open.doc) {
                note_alias(meta, &title);
            }
            index_change(batch, &hash, &item.entries);
            let after = text_len(&open.doc);
            history.record(&item, chars, after, meta);
            chars = after;
        }
        queue = rest;
        if !progressed || queue.is_empty() {
            return Ok(queue);
        }
    }
}

/// Applies one change, then saves at once: a hostile change can be
/// accepted by Automerge yet leave the document unable to save, and must
/// not take the valid changes around it down with it. Returns whether the
/// change applied; a refused one is counted on the page.
fn apply_one(
    store: &Store,
    page: &PageId,
    open: &mut Open,
    item: &Incoming,
    meta: &mut PageMeta,
    report: &mut ApplyReport,
) -> Result<bool> {
    let applied = guarded("applying a change", || {
        let applied = open.doc.apply_changes([item.change.clone()]);
        // automerge 0.12 records patch events even in an inactive patch
        // log (`Untangler::untangle_inner` → `PatchLog::splice`): without
        // this, an open document holds the text of every change applied
        // to it for as long as it stays cached (docs/BENCHMARKS.md).
        open.doc.reset_diff_cursor();
        applied.map(|()| open.doc.save_incremental())
    });
    match applied {
        Ok(Ok(_)) => {
            // `apply_page` bundles the changes of one application.
            open.unsaved.push(item.change.raw_bytes().to_vec());
            Ok(true)
        }
        Ok(Err(e)) => {
            report.rejected.push((item.entry, e.to_string()));
            meta.rejected += 1;
            Ok(false)
        }
        Err(e) => {
            // The document may be inconsistent: rebuild it from the store
            // and what was applied before this change.
            report.rejected.push((item.entry, e.to_string()));
            meta.rejected += 1;
            open.doc = reload(store, page, &open.unsaved)?;
            Ok(false)
        }
    }
}

/// Stores the changes that still wait, and notes what they wait for.
fn park_waiting(
    open: &mut Open,
    page: &PageId,
    queue: Vec<Incoming>,
    meta: &mut PageMeta,
    report: &mut ApplyReport,
    batch: &mut Batch,
) {
    let waiting_hashes: BTreeSet<[u8; 32]> = queue.iter().map(|i| i.change.hash().0).collect();
    for item in &queue {
        for dep in item.change.deps() {
            if !has_change(&mut open.doc, dep) && !waiting_hashes.contains(&dep.0) {
                report.missing.insert(dep.0);
            }
        }
    }
    report.waiting += queue.len();
    meta.waiting = queue.len() as u64;
    for item in queue {
        let w = Waiting {
            entry: item.entry,
            seq: item.seq,
            author: item.author,
            timestamp_ms: item.timestamp_ms,
            entries: item.entries,
            change: item.change.raw_bytes().to_vec(),
        };
        batch.insert(
            key(Space::WikiWaiting, &[&page.0, &item.change.hash().0]),
            postcard::to_stdvec(&w).expect("encoding into a Vec cannot fail"),
        );
    }
}

/// Stores one part of a multi-part group; once every part is here, the
/// group's bytes and the entries that carried them (the parts removed in
/// `batch`), else `None`.
fn gather_parts(
    store: &Store,
    entry: &kith_protocol::Entry,
    w: &WikiChange,
    batch: &mut Batch,
) -> Result<Option<(Vec<u8>, Vec<kith_protocol::EntryId>)>> {
    let part = Part {
        entry: entry.id(),
        author: entry.author(),
        timestamp_ms: entry.header().timestamp_ms,
        parts: w.parts,
        data: w.data.clone(),
    };
    let k = key(Space::WikiPart, &[&w.group_hash, &w.part.to_be_bytes()]);
    store.kv().insert(
        &k,
        postcard::to_stdvec(&part).expect("encoding into a Vec cannot fail"),
    )?;
    let mut parts: Vec<Part> = Vec::new();
    for item in store
        .kv()
        .scan_prefix(key(Space::WikiPart, &[&w.group_hash]))
    {
        let (_, v) = item?;
        parts.push(postcard::from_bytes(&v).map_err(|e| Error::Document(format!("part: {e}")))?);
    }
    if parts.len() < w.parts as usize {
        return Ok(None);
    }
    if parts.iter().any(|p| p.author != entry.author()) {
        return Err(Error::BadChange("parts of one group disagree".into()));
    }
    let views: Vec<GroupPart<'_>> = parts
        .iter()
        .map(|p| GroupPart {
            parts: p.parts,
            data: &p.data,
        })
        .collect();
    let data = change_group::assemble(&views, &w.group_hash)
        .map_err(|e| Error::BadChange(e.to_string()))?;
    for n in 0..w.parts {
        batch.remove(key(Space::WikiPart, &[&w.group_hash, &n.to_be_bytes()]));
    }
    Ok(Some((data, parts.iter().map(|p| p.entry).collect())))
}
