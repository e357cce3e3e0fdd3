//! Edits made on this node: each becomes Automerge changes with the
//! author's key as actor, made on the cached document before they are
//! signed; once their entries are stored, `record_local` does the
//! bookkeeping without parsing the changes again.

use crate::store::keyspace::Space;
use automerge::transaction::Transactable;
use automerge::{AutoCommit, Change, ChangeHash, ObjType, ROOT, ReadDoc};
use kith_protocol::{AuthorId, Entry, EntryId, PageId};

use super::doc::{
    actor_of, body_obj, check_pending_ops, check_size, clean_title, guarded, has_change,
    is_archived, new_changes, split_chunks, text_len, title_of,
};
use super::read::{meta, pages_titled};
use super::records::index_change;
use super::versions::write_history;
use super::{Error, HistoryItem, Result, Wiki, group, key, words};
use crate::store::Store;
use crate::store::kv::Batch;

/// One change made on this node, not yet stored.
#[derive(Debug, Clone)]
pub struct LocalChange {
    pub bytes: Vec<u8>,
    pub hash: ChangeHash,
    pub ops: u64,
    pub chars_before: u64,
    pub chars_after: u64,
    /// The change's number among its author's changes to the page.
    pub seq: u64,
}

/// Changes made on this node to one page.
#[derive(Debug, Clone)]
pub struct Local {
    pub page: PageId,
    pub changes: Vec<LocalChange>,
}

impl Local {
    /// `sizes` holds the text length before and after each change, or one
    /// pair for all of them.
    fn new(page: PageId, changes: Vec<Change>, sizes: &[(u64, u64)]) -> Local {
        let changes = changes
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let (before, after) = sizes.get(i).or(sizes.last()).copied().unwrap_or((0, 0));
                LocalChange {
                    bytes: c.raw_bytes().to_vec(),
                    hash: c.hash(),
                    ops: c.len() as u64,
                    chars_before: before,
                    chars_after: after,
                    seq: c.seq(),
                }
            })
            .collect();
        Local { page, changes }
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    pub fn bytes(&self) -> Vec<Vec<u8>> {
        self.changes.iter().map(|c| c.bytes.clone()).collect()
    }
}

impl Wiki {
    /// Makes the change that creates a page. Nothing is stored until the
    /// changes are appended as entries and recorded with [`Wiki::record_local`].
    pub fn create(
        &mut self,
        store: &Store,
        me: &AuthorId,
        page: PageId,
        title: &str,
        body: &str,
    ) -> Result<Local> {
        let title = clean_title(title)?;
        // One operation per character at least: refused before any work.
        super::doc::check_page(&title, body)?;
        if let Some(existing) = pages_titled(store, &title)?
            .into_iter()
            .find(|p| meta(store, p).ok().flatten().is_some_and(|m| !m.archived))
        {
            return Err(Error::TitleTaken(title, existing));
        }
        let open = self.doc_or_new(store, &page)?;
        open.doc.set_actor(actor_of(me));
        let before = open.doc.get_heads();
        let result = (|| {
            open.doc.put(ROOT, "title", title.as_str())?;
            open.doc.put(ROOT, "archived", false)?;
            let text = open.doc.put_object(ROOT, "body", ObjType::Text)?;
            open.doc.splice_text(&text, 0, 0, body)?;
            Ok::<_, automerge::AutomergeError>(())
        })();
        if let Err(e) = result {
            self.discard(&page);
            return Err(Error::Document(e.to_string()));
        }
        if let Err(e) = check_pending_ops(&open.doc) {
            self.discard(&page);
            return Err(e);
        }
        open.doc.commit();
        let after = text_len(&open.doc);
        Ok(Local::new(
            page,
            new_changes(&mut open.doc, &before),
            &[(0, after)],
        ))
    }

    /// Changes that turn the page body into `new_body` by splices of whole
    /// words (see [`words`]).
    pub fn edit(
        &mut self,
        store: &Store,
        me: &AuthorId,
        page: &PageId,
        new_body: &str,
    ) -> Result<Local> {
        check_size(new_body)?;
        self.local(store, me, page, true, |doc| {
            let body = body_obj(doc).ok_or_else(|| Error::Document("page has no body".into()))?;
            let old = doc
                .text(&body)
                .map_err(|e| Error::Document(e.to_string()))?;
            for (pos, del, ins) in words::splices(&old, new_body).iter().rev() {
                doc.splice_text(&body, *pos, *del as isize, ins)
                    .map_err(|e| Error::Document(e.to_string()))?;
            }
            Ok(())
        })
    }

    /// Changes that turn the page body, as it was at `base` (the heads the
    /// editor started from), into `new_body`, applied to the page as it is
    /// now: the edit's splices are anchored to the characters they touched
    /// at `base`, so changes made meanwhile (by peers, or in another window)
    /// are kept rather than overwritten.
    pub fn edit_since(
        &mut self,
        store: &Store,
        me: &AuthorId,
        page: &PageId,
        base: &[ChangeHash],
        new_body: &str,
    ) -> Result<Local> {
        check_size(new_body)?;
        self.local(store, me, page, true, |doc| {
            let body = body_obj(doc).ok_or_else(|| Error::Document("page has no body".into()))?;
            if base.iter().any(|h| !has_change(doc, h)) {
                return Err(Error::Invalid(
                    "the edit starts from a version this node does not know".into(),
                ));
            }
            let old = doc
                .text_at(&body, base)
                .map_err(|e| Error::Document(e.to_string()))?;
            let old_len = old.chars().count();
            let edits = words::splices(&old, new_body);
            let position = |doc: &AutoCommit, base_pos: usize| -> Result<usize> {
                if base_pos >= old_len {
                    return Ok(doc.length(&body));
                }
                let cursor = doc
                    .get_cursor_moving(&body, base_pos, Some(base), automerge::MoveCursor::After)
                    .map_err(|e| Error::Document(e.to_string()))?;
                doc.get_cursor_position(&body, &cursor, None)
                    .map_err(|e| Error::Document(e.to_string()))
            };
            for (pos, del, ins) in edits.iter().rev() {
                let start = position(doc, *pos)?;
                let end = position(doc, pos + del)?.max(start);
                doc.splice_text(&body, start, (end - start) as isize, ins)
                    .map_err(|e| Error::Document(e.to_string()))?;
            }
            Ok(())
        })
    }

    /// The bundle of a local edit's changes, uncompressed: compressed, it
    /// is the group the edit is sent as (PROTOCOL.md §7, kind 8); as it is,
    /// the page cache's increment.
    pub fn bundle_of(&mut self, store: &Store, local: &Local) -> Result<Vec<u8>> {
        let open = self
            .doc(store, &local.page)?
            .ok_or_else(|| Error::NoPage(local.page.to_string()))?;
        let hashes: Vec<ChangeHash> = local.changes.iter().map(|c| c.hash).collect();
        group::bundle_raw(&open.doc, &hashes)
    }

    /// The page's current heads (the version an editor starts from).
    pub fn heads(&mut self, store: &Store, page: &PageId) -> Result<Vec<ChangeHash>> {
        let open = self
            .doc(store, page)?
            .ok_or_else(|| Error::NoPage(page.to_string()))?;
        Ok(open.doc.get_heads())
    }

    /// Changes for a sequence of splices `(pos, delete, insert)` in code
    /// points, one Automerge change per splice (an editor's keystrokes).
    pub fn splices(
        &mut self,
        store: &Store,
        me: &AuthorId,
        page: &PageId,
        splices: &[(usize, usize, String)],
    ) -> Result<Local> {
        let open = self
            .doc(store, page)?
            .ok_or_else(|| Error::NoPage(page.to_string()))?;
        if is_archived(&open.doc) {
            return Err(Error::Archived(title_of(&open.doc)));
        }
        open.doc.set_actor(actor_of(me));
        let before = open.doc.get_heads();
        let body = body_obj(&open.doc).ok_or_else(|| Error::Document("page has no body".into()))?;
        let mut chars = text_len(&open.doc);
        let mut made = Vec::with_capacity(splices.len());
        for (pos, del, ins) in splices {
            if let Err(e) = open.doc.splice_text(&body, *pos, *del as isize, ins) {
                // Keep the document as stored: forget the splices made so far.
                self.discard(page);
                return Err(Error::Invalid(format!("splice at {pos}: {e}")));
            }
            if let Err(e) = check_pending_ops(&open.doc) {
                self.discard(page);
                return Err(e);
            }
            if let Some(hash) = open.doc.commit() {
                let inserted = ins.chars().count() as u64;
                let after = chars - *del as u64 + inserted;
                made.push((hash, *del as u64 + inserted, chars, after));
                chars = after;
            }
        }
        // One incremental save yields every new change, already encoded:
        // it becomes both the entries' data and the page cache's increment.
        let stream = guarded("saving a page", || open.doc.save_incremental())?;
        // Our changes are consecutive: their seqs follow the first one's.
        let first_seq = match made.first() {
            Some(m) => open.doc.get_change_meta_by_hash(&m.0).map_or(0, |c| c.seq),
            None => 0,
        };
        let local = match split_chunks(&stream) {
            Some(chunks) if chunks.len() == made.len() => Local {
                page: *page,
                changes: chunks
                    .into_iter()
                    .zip(&made)
                    .enumerate()
                    .map(
                        |(i, (bytes, &(hash, ops, chars_before, chars_after)))| LocalChange {
                            bytes: bytes.to_vec(),
                            hash,
                            ops,
                            chars_before,
                            chars_after,
                            seq: first_seq + i as u64,
                        },
                    )
                    .collect(),
            },
            // The save held more than our changes (an unsaved one from a
            // peer): take ours one by one.
            _ => {
                let sizes: Vec<(u64, u64)> = made.iter().map(|m| (m.2, m.3)).collect();
                Local::new(*page, new_changes(&mut open.doc, &before), &sizes)
            }
        };
        // `record_local` queues the increment (the edit's bundle).
        Ok(local)
    }

    pub fn rename(
        &mut self,
        store: &Store,
        me: &AuthorId,
        page: &PageId,
        title: &str,
    ) -> Result<Local> {
        let title = clean_title(title)?;
        if let Some(other) = pages_titled(store, &title)?
            .into_iter()
            .find(|p| p != page && meta(store, p).ok().flatten().is_some_and(|m| !m.archived))
        {
            return Err(Error::TitleTaken(title, other));
        }
        self.local(store, me, page, true, |doc| {
            doc.put(ROOT, "title", title.as_str())
                .map_err(|e| Error::Document(e.to_string()))
        })
    }

    /// A change that marks the page reviewed (`reviewed` = `at_ms` in the
    /// root map): it depends on every head, so merge marks end everywhere.
    pub fn mark_reviewed(
        &mut self,
        store: &Store,
        me: &AuthorId,
        page: &PageId,
        at_ms: u64,
    ) -> Result<Local> {
        self.local(store, me, page, false, |doc| {
            doc.put(ROOT, "reviewed", at_ms as i64)
                .map_err(|e| Error::Document(e.to_string()))
        })
    }

    pub fn set_archived(
        &mut self,
        store: &Store,
        me: &AuthorId,
        page: &PageId,
        archived: bool,
    ) -> Result<Local> {
        self.local(store, me, page, false, |doc| {
            doc.put(ROOT, "archived", archived)
                .map_err(|e| Error::Document(e.to_string()))
        })
    }

    pub(super) fn local(
        &mut self,
        store: &Store,
        me: &AuthorId,
        page: &PageId,
        live_only: bool,
        f: impl FnOnce(&mut AutoCommit) -> Result<()>,
    ) -> Result<Local> {
        let open = self
            .doc(store, page)?
            .ok_or_else(|| Error::NoPage(page.to_string()))?;
        if live_only && is_archived(&open.doc) {
            return Err(Error::Archived(title_of(&open.doc)));
        }
        open.doc.set_actor(actor_of(me));
        let before = open.doc.get_heads();
        let chars_before = text_len(&open.doc);
        if let Err(e) = f(&mut open.doc).and_then(|()| check_pending_ops(&open.doc)) {
            open.doc.rollback();
            return Err(e);
        }
        open.doc.commit();
        let chars_after = text_len(&open.doc);
        Ok(Local::new(
            *page,
            new_changes(&mut open.doc, &before),
            &[(chars_before, chars_after)],
        ))
    }

    /// Records own changes once their entries are stored: the document
    /// already holds them, so this is bookkeeping (history, metadata, change
    /// index, links) plus an incremental save, without re-parsing changes.
    /// `bundle` is the changes' bundle if one was made (it becomes the page
    /// cache's increment; else the changes themselves do).
    pub fn record_local(
        &mut self,
        store: &Store,
        local: &Local,
        groups: &[Vec<usize>],
        entries: &[Entry],
        bundle: Option<Vec<u8>>,
    ) -> Result<()> {
        let page = local.page;
        if let Some(open) = self.open.get_mut(&page) {
            open.unsaved
                .push(bundle.unwrap_or_else(|| local.bytes().concat()));
        }
        let mut batch = Batch::default();
        let mut meta = meta(store, &page)?.unwrap_or_default();
        // Bodies (and so entries) come in group order; parts of a group share
        // its change list.
        let mut i = 0;
        while i < entries.len() {
            let mut j = i + 1;
            while j < entries.len() && groups[j] == groups[i] {
                j += 1;
            }
            let group_entries: Vec<EntryId> = entries[i..j].iter().map(Entry::id).collect();
            let last = &entries[j - 1];
            let changes: Vec<&LocalChange> = groups[i].iter().map(|&c| &local.changes[c]).collect();
            // Local changes are linear, so only a group's last change can be
            // another author's dependency: index that one.
            if let Some(c) = changes.last() {
                index_change(&mut batch, &c.hash, &group_entries);
            }
            let (Some(first_change), Some(last_change)) = (changes.first(), changes.last()) else {
                i = j;
                continue;
            };
            let item = HistoryItem {
                entry: last.id(),
                author: last.author(),
                timestamp_ms: last.header().timestamp_ms,
                ops: changes.iter().map(|c| c.ops).sum(),
                chars_before: first_change.chars_before,
                chars_after: last_change.chars_after,
                first: first_change.hash.0,
                last: last_change.hash.0,
                seq_from: first_change.seq,
                seq_to: last_change.seq,
            };
            write_history(store, &page, last.seq(), item.clone(), &mut batch)?;
            if !meta.authors.contains(&item.author) {
                meta.authors.push(item.author);
            }
            if meta.created_ms == 0 {
                meta.created_ms = item.timestamp_ms;
            }
            meta.updated_ms = meta.updated_ms.max(item.timestamp_ms);
            meta.changes += changes.len() as u64;
            batch.insert(
                key(Space::WikiProcessed, &[last.author().as_bytes()]),
                last.seq().to_be_bytes(),
            );
            i = j;
        }
        self.finish_page(&page, meta, &mut batch)?;
        store.kv().apply(batch)?;
        Ok(())
    }
}
