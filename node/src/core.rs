//! The node's logic over its store, without the network: what a user can do
//! (post, read the feed, manage trust) and what arrives from peers (ingest).
//!
//! The event loop owns one `Core`; with no node running, the CLI opens one
//! directly on the store. Both paths run the same code.

use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use kith_protocol::sync::{FrontierItem, Logs};
use kith_protocol::{AuthorId, Body, Entry, EntryId, Head, Keypair, PageId, Post, TrustStatement};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::model::{
    EntryView, FeedParams, HistoryView, IdView, ImportItem, ImportReport, NewPage, NewPost,
    PageEdit, PageRef, PageRename, PageSummary, PageView, TrustParams, TrustView,
};
use crate::store::{BatchOutcome, FeedQuery, ReindexReport, Scope, Store, VerifyReport};
use crate::wiki::{Local, Wiki};

/// Default page size of the feed.
pub const DEFAULT_FEED_LIMIT: usize = 20;
/// Largest page of the feed.
pub const MAX_FEED_LIMIT: usize = 1_000;

/// Milliseconds since the Unix epoch by the system clock.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

pub struct Core {
    store: Store,
    keypair: Keypair,
    config: Config,
    scope: Scope,
    /// Own entries appended since the last [`Core::take_fresh`].
    fresh: Vec<Entry>,
    pub(crate) wiki: Wiki,
    /// Automerge changes that waiting wiki changes depend on and that we
    /// lack, to be asked for from the peer that sent them.
    missing: BTreeSet<[u8; 32]>,
}

impl Core {
    /// Opens the store of `config.data_dir` as `keypair`.
    pub fn open(config: Config, keypair: Keypair) -> Result<Core> {
        let kv = crate::store::kv::KvConfig {
            cache_bytes: config.cache_bytes,
            temporary: false,
        };
        let store = Store::open(&config.data_dir.store(), &kv, config.limits.clone())?;
        Core::with_store(config, keypair, store)
    }

    pub fn with_store(config: Config, keypair: Keypair, store: Store) -> Result<Core> {
        let scope = store.scope(keypair.author(), config.hops)?;
        let mut wiki = Wiki::default();
        // Materialize wiki entries stored but not yet applied (a crash
        // between the two writes).
        let report = wiki.catch_up(&store)?;
        if report.applied > 0 {
            tracing::info!(
                changes = report.applied,
                "wiki caught up with stored entries"
            );
        }
        Ok(Core {
            store,
            keypair,
            config,
            scope,
            fresh: Vec::new(),
            wiki,
            missing: report.missing,
        })
    }

    pub fn me(&self) -> AuthorId {
        self.keypair.author()
    }

    pub fn keypair(&self) -> &Keypair {
        &self.keypair
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The authors this node replicates.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// Own entries written since the last call, for the network to publish.
    pub fn take_fresh(&mut self) -> Vec<Entry> {
        std::mem::take(&mut self.fresh)
    }

    fn refresh_scope(&mut self) -> Result<()> {
        self.scope = self.store.scope(self.me(), self.config.hops)?;
        Ok(())
    }

    /// Appends own entries in one durable write and queues them for publishing.
    pub fn append(&mut self, bodies: &[Body]) -> Result<Vec<Entry>> {
        let entries = self.store.append_many(&self.keypair, bodies, now_ms())?;
        if bodies.iter().any(|b| matches!(b, Body::Trust(_))) {
            self.refresh_scope()?;
        }
        self.fresh.extend(entries.iter().cloned());
        Ok(entries)
    }

    /// Materializes the wiki changes among freshly stored entries. The
    /// entries are stored whatever happens here: a refused change is logged
    /// and counted on its page, never fatal.
    fn apply_wiki(&mut self, entries: &[Entry]) {
        match self.wiki.apply(&self.store, entries) {
            Ok(report) => {
                self.missing.extend(report.missing);
            }
            Err(e) => {
                tracing::error!(error = %e, "materializing wiki changes failed; `kith reindex` rebuilds pages")
            }
        }
    }

    /// Automerge changes the wiki is waiting for (cleared by the call).
    pub fn take_missing(&mut self) -> BTreeSet<[u8; 32]> {
        std::mem::take(&mut self.missing)
    }

    /// Stores wiki-change entries by authors outside the replication set,
    /// fetched because a trusted author's change depends on them. Each must
    /// be validly signed and be a wiki change; they are kept apart from the
    /// logs and applied to their pages.
    pub fn ingest_detached(&mut self, entries: &[Entry]) -> usize {
        let limits = self.store.limits().clone();
        let mut kept = Vec::new();
        for entry in entries {
            if let Err(e) = entry.verify(&limits, now_ms()) {
                tracing::warn!(id = %entry.id(), error = %e, "rejected a wiki dependency");
                continue;
            }
            if !matches!(
                entry.body().map(Body::decode),
                Some(Ok(Body::WikiChange(_)))
            ) {
                tracing::warn!(id = %entry.id(), "a fetched dependency is not a wiki change");
                continue;
            }
            if self.scope.contains(&entry.author()) {
                continue; // Replicated authors' entries come through their logs.
            }
            match self.store.detached_get(&entry.id()) {
                Ok(Some(_)) => continue,
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "store error");
                    continue;
                }
            }
            if let Err(e) = self.store.detached_put(entry) {
                tracing::warn!(error = %e, "cannot keep a wiki dependency");
                continue;
            }
            kept.push(entry.clone());
        }
        if !kept.is_empty() {
            self.apply_wiki(&kept);
        }
        kept.len()
    }

    /// Stores entries received from a peer.
    pub fn ingest(&mut self, entries: &[Entry]) -> BatchOutcome {
        let outcome = self.store.ingest_batch(entries, now_ms(), &self.scope);
        if outcome
            .appended
            .iter()
            .any(|e| matches!(e.body().map(Body::decode), Some(Ok(Body::WikiChange(_)))))
        {
            let appended = outcome.appended.clone();
            self.apply_wiki(&appended);
        }
        // A trusted author's vouch can widen a two-hop scope.
        if self.config.hops >= 2
            && outcome
                .appended
                .iter()
                .any(|e| matches!(e.body().map(Body::decode), Some(Ok(Body::Trust(_)))))
            && let Err(e) = self.refresh_scope()
        {
            tracing::warn!(error = %e, "could not refresh the replication scope");
        }
        outcome
    }

    /// The local logs as the sync machine sees them.
    pub fn logs(&self) -> StoreLogs<'_> {
        StoreLogs { core: self }
    }

    pub fn view(&self, entry: &Entry) -> Result<EntryView> {
        Ok(EntryView::new(
            entry,
            self.store.display_name(&entry.author())?,
        ))
    }

    pub fn parse_author(&self, text: &str) -> Result<AuthorId> {
        if text == "me" {
            return Ok(self.me());
        }
        Ok(text.parse::<AuthorId>()?)
    }

    pub fn resolve_id(&self, text: &str) -> Result<EntryId> {
        Ok(self.store.resolve_id(text)?)
    }

    // ----- user operations -----------------------------------------------------

    pub fn whoami(&self) -> Result<IdView> {
        Ok(IdView {
            author: self.me(),
            name: self.store.display_name(&self.me())?,
            entries: self.store.head(&self.me())?.map_or(0, |h| h.seq),
        })
    }

    pub fn post(&mut self, new: &NewPost) -> Result<EntryView> {
        let body = self.prepare_post(new)?;
        let entry = self.append(std::slice::from_ref(&body))?.remove(0);
        self.view(&entry)
    }

    /// Checks a new post and turns it into a body, without writing it.
    pub fn prepare_post(&self, new: &NewPost) -> Result<Body> {
        let reply_to = match &new.reply_to {
            Some(text) => {
                let id = self.resolve_id(text)?;
                if self.store.get(&id)?.is_none() {
                    return Err(Error::NotFound(format!("no entry {id} to reply to")));
                }
                Some(id)
            }
            None => None,
        };
        let body = Body::Post(Post {
            kind: new.kind,
            text: new.text.clone(),
            reply_to,
            tags: new
                .tags
                .iter()
                .map(|t| t.trim().trim_start_matches('#').to_string())
                .collect(),
        });
        body.check(self.store.limits())?;
        Ok(body)
    }

    pub fn feed(&self, params: &FeedParams) -> Result<Vec<EntryView>> {
        let before = match &params.before {
            Some(cursor) => Some(parse_cursor(cursor)?),
            None => None,
        };
        let author = match &params.author {
            Some(a) => Some(self.parse_author(a)?),
            None => None,
        };
        let query = FeedQuery {
            limit: params
                .limit
                .unwrap_or(DEFAULT_FEED_LIMIT)
                .min(MAX_FEED_LIMIT),
            before,
            author,
            kind: params.kind,
            tag: params.tag.clone(),
        };
        let mut names = std::collections::HashMap::new();
        self.store
            .feed(&query)?
            .iter()
            .map(|e| {
                let name = match names.get(&e.author()) {
                    Some(n) => Clone::clone(n),
                    None => {
                        let n = self.store.display_name(&e.author())?;
                        names.insert(e.author(), n.clone());
                        n
                    }
                };
                Ok(EntryView::new(e, name))
            })
            .collect()
    }

    pub fn trust_add(&mut self, params: &TrustParams) -> Result<TrustView> {
        let author = self.parse_author(&params.author)?;
        if author == self.me() {
            return Err(Error::InvalidInput("you always trust yourself".into()));
        }
        let petname = params
            .petname
            .as_ref()
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty());
        let record = self.store.trust_add(author, petname, now_ms())?;
        self.refresh_scope()?;
        self.trust_view(record)
    }

    /// Publicly vouches for (or withdraws from) an author with a signed entry.
    pub fn vouch(&mut self, author: AuthorId, vouch: bool) -> Result<EntryView> {
        let entry = self
            .append(&[Body::Trust(TrustStatement {
                subject: author,
                vouch,
            })])?
            .remove(0);
        self.view(&entry)
    }

    pub fn trust_remove(&mut self, author: &str) -> Result<bool> {
        let author = self.parse_author(author)?;
        let removed = self.store.trust_remove(&author)?;
        self.refresh_scope()?;
        Ok(removed)
    }

    pub fn trust_list(&self) -> Result<Vec<TrustView>> {
        self.store
            .trust_list()?
            .into_iter()
            .map(|r| self.trust_view(r))
            .collect()
    }

    fn trust_view(&self, record: crate::store::TrustRecord) -> Result<TrustView> {
        let profile_name = crate::store::views::profile_name(&self.store, &record.author)?;
        Ok(TrustView {
            author: record.author,
            petname: record.petname,
            profile_name,
            since: record.since_ms,
        })
    }

    // ----- wiki --------------------------------------------------------------

    /// A page by id, id prefix or title.
    pub fn wiki_resolve(&self, name: &str) -> Result<PageId> {
        Ok(self.wiki.resolve(&self.store, name)?)
    }

    /// Signs and stores locally made changes of a page, then records them
    /// in the page's views. If storing fails the page's in-memory document is
    /// dropped, so the unsaved changes vanish with it.
    fn wiki_commit(&mut self, local: Local) -> Result<Vec<Entry>> {
        if local.is_empty() {
            return Ok(Vec::new());
        }
        let page = local.page;
        let (bodies, groups): (Vec<Body>, Vec<Vec<usize>>) = crate::wiki::bodies_with_groups(
            page,
            &local.bytes(),
            self.store.limits().max_body_bytes,
        )
        .into_iter()
        .unzip();
        let entries = match self.append(&bodies) {
            Ok(entries) => entries,
            Err(e) => {
                self.wiki.discard(&page);
                return Err(e);
            }
        };
        if let Err(e) = self
            .wiki
            .record_local(&self.store, &local, &groups, &entries)
        {
            // The entries are stored; `reindex` (or the next start) rebuilds the page.
            tracing::error!(error = %e, "recording a wiki edit failed");
            self.wiki.discard(&page);
        }
        Ok(entries)
    }

    pub fn wiki_new(&mut self, new: &NewPage) -> Result<PageView> {
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).map_err(|e| Error::Io(format!("no randomness: {e}")))?;
        let page = PageId(id);
        let me = self.me();
        let local = self
            .wiki
            .create(&self.store, &me, page, &new.title, &new.body)?;
        self.wiki_commit(local)?;
        self.page_view(&page)
    }

    pub fn wiki_edit(&mut self, name: &str, edit: &PageEdit) -> Result<PageView> {
        let page = self.wiki_resolve(name)?;
        let me = self.me();
        let local = self.wiki.edit(&self.store, &me, &page, &edit.body)?;
        self.wiki_commit(local)?;
        self.page_view(&page)
    }

    /// Applies splices `(pos, delete, insert)` to a page's body, one
    /// Automerge change each, stored in as few entries as fit.
    pub fn wiki_splices(
        &mut self,
        page: &PageId,
        splices: &[(usize, usize, String)],
    ) -> Result<Vec<Entry>> {
        let me = self.me();
        let local = self.wiki.splices(&self.store, &me, page, splices)?;
        self.wiki_commit(local)
    }

    pub fn wiki_rename(&mut self, name: &str, rename: &PageRename) -> Result<PageView> {
        let page = self.wiki_resolve(name)?;
        let me = self.me();
        let local = self.wiki.rename(&self.store, &me, &page, &rename.title)?;
        self.wiki_commit(local)?;
        self.page_view(&page)
    }

    /// Archives (deletes, restorably) or restores a page.
    pub fn wiki_archive(&mut self, name: &str, archived: bool) -> Result<PageView> {
        let page = self.wiki_resolve(name)?;
        let me = self.me();
        let local = self.wiki.set_archived(&self.store, &me, &page, archived)?;
        self.wiki_commit(local)?;
        self.page_view(&page)
    }

    pub fn wiki_show(&mut self, name: &str) -> Result<PageView> {
        let page = self.wiki_resolve(name)?;
        self.page_view(&page)
    }

    fn page_view(&mut self, page: &PageId) -> Result<PageView> {
        let meta = self
            .wiki
            .meta(&self.store, page)?
            .ok_or_else(|| Error::NotFound(format!("no page {page}")))?;
        let body = self.wiki.text(&self.store, page)?;
        let mut backlinks = Vec::new();
        for source in self.wiki.backlinks(&self.store, &meta.title)? {
            if source == *page {
                continue;
            }
            if let Some(m) = self.wiki.meta(&self.store, &source)?
                && !m.archived
            {
                backlinks.push(PageRef {
                    id: source,
                    title: m.title,
                });
            }
        }
        let mut author_names = std::collections::BTreeMap::new();
        for a in &meta.authors {
            if let Some(name) = self.store.display_name(a)? {
                author_names.insert(a.to_string(), name);
            }
        }
        Ok(PageView {
            id: *page,
            title: meta.title,
            body,
            authors: meta.authors,
            author_names,
            created: meta.created_ms,
            updated: meta.updated_ms,
            archived: meta.archived,
            backlinks,
            changes: meta.changes,
            waiting: meta.waiting,
            rejected: meta.rejected,
        })
    }

    pub fn wiki_list(&self, include_archived: bool) -> Result<Vec<PageSummary>> {
        Ok(self
            .wiki
            .list(&self.store)?
            .into_iter()
            .filter(|(_, m)| include_archived || !m.archived)
            .filter(|(_, m)| !m.title.is_empty())
            .map(|(id, m)| PageSummary {
                id,
                title: m.title,
                archived: m.archived,
                updated: m.updated_ms,
                authors: m.authors,
                chars: m.chars,
            })
            .collect())
    }

    pub fn wiki_history(&self, name: &str) -> Result<Vec<HistoryView>> {
        let page = self.wiki_resolve(name)?;
        self.wiki
            .history(&self.store, &page)?
            .into_iter()
            .map(|h| {
                Ok(HistoryView {
                    entry: h.entry,
                    author: h.author,
                    author_name: self.store.display_name(&h.author)?,
                    timestamp: h.timestamp_ms,
                    ops: h.ops,
                    chars_before: h.chars_before,
                    chars_after: h.chars_after,
                })
            })
            .collect()
    }

    /// The page as a standard `.automerge` document.
    pub fn wiki_automerge(&mut self, name: &str) -> Result<Vec<u8>> {
        let page = self.wiki_resolve(name)?;
        Ok(self.wiki.save(&self.store, &page)?)
    }

    /// Every live page, for export.
    pub fn wiki_export(&mut self) -> Result<Vec<PageView>> {
        let pages: Vec<PageId> = self.wiki_list(false)?.into_iter().map(|p| p.id).collect();
        pages.iter().map(|p| self.page_view(p)).collect()
    }

    /// Creates or updates pages from imported markdown. A page is matched by
    /// the id in its front matter, else by title; a match is updated in place
    /// (by minimal splices), so importing twice changes nothing.
    pub fn wiki_import(&mut self, items: &[ImportItem]) -> Result<ImportReport> {
        let mut report = ImportReport::default();
        for item in items {
            let by_id = item
                .id
                .as_deref()
                .and_then(|id| id.parse::<PageId>().ok())
                .filter(|p| self.wiki.meta(&self.store, p).ok().flatten().is_some());
            let existing = match by_id {
                Some(p) => Some(p),
                None => match self.wiki.resolve(&self.store, &item.title) {
                    Ok(p) => Some(p),
                    Err(crate::wiki::Error::NoPage(_)) => None,
                    Err(e) => return Err(e.into()),
                },
            };
            match existing {
                None => {
                    let view = self.wiki_new(&NewPage {
                        title: item.title.clone(),
                        body: item.body.clone(),
                    })?;
                    report.created.push(PageRef {
                        id: view.id,
                        title: view.title,
                    });
                }
                Some(page) => {
                    let meta = self.wiki.meta(&self.store, &page)?.unwrap_or_default();
                    let me = self.me();
                    let mut changed = false;
                    if meta.archived {
                        let local = self.wiki.set_archived(&self.store, &me, &page, false)?;
                        self.wiki_commit(local)?;
                        changed = true;
                    }
                    if meta.title != item.title.trim() {
                        let local = self.wiki.rename(&self.store, &me, &page, &item.title)?;
                        self.wiki_commit(local)?;
                        changed = true;
                    }
                    if self.wiki.text(&self.store, &page)? != item.body {
                        let local = self.wiki.edit(&self.store, &me, &page, &item.body)?;
                        changed |= !local.is_empty();
                        self.wiki_commit(local)?;
                    }
                    let entry = PageRef {
                        id: page,
                        title: item.title.trim().to_string(),
                    };
                    if changed {
                        report.updated.push(entry);
                    } else {
                        report.unchanged.push(entry);
                    }
                }
            }
        }
        Ok(report)
    }

    /// Makes everything durable and compact before the node stops.
    pub fn close(&mut self) -> Result<()> {
        if let Err(e) = self.wiki.compact_all(&self.store) {
            tracing::warn!(error = %e, "compacting wiki pages at shutdown failed");
        }
        Ok(self.store.flush()?)
    }

    pub fn reindex(&mut self) -> Result<ReindexReport> {
        let report = self.store.reindex()?;
        self.refresh_scope()?;
        self.wiki.clear();
        let detached = self.store.detached_all()?;
        self.wiki.apply(&self.store, &detached)?;
        let wiki = self.wiki.catch_up(&self.store)?;
        self.missing = wiki.missing;
        self.store.flush()?;
        Ok(report)
    }

    pub fn verify(&self) -> Result<VerifyReport> {
        Ok(self.store.verify()?)
    }
}

/// [`Logs`] over the store and scope, for the sync machine. Authors flagged
/// for a fork are not replicated until the user decides.
pub struct StoreLogs<'a> {
    core: &'a Core,
}

impl Logs for StoreLogs<'_> {
    fn replicates(&self, author: &AuthorId) -> bool {
        self.core.scope.contains(author) && !self.core.store.is_flagged(author).unwrap_or(true)
    }

    fn frontier(&self) -> Vec<FrontierItem> {
        self.core
            .scope
            .authors()
            .iter()
            .filter(|a| self.replicates(a))
            .map(|a| FrontierItem {
                author: *a,
                head: self.head(a),
            })
            .collect()
    }

    fn head(&self, author: &AuthorId) -> Option<Head> {
        self.core.store.head(author).ok().flatten()
    }

    fn id_at(&self, author: &AuthorId, seq: u64) -> Option<EntryId> {
        self.core
            .store
            .entry_at(author, seq)
            .ok()
            .flatten()
            .map(|e| e.id())
    }

    fn entries_with_changes(&self, hashes: &[[u8; 32]], max_bytes: usize) -> Vec<Entry> {
        let mut out: Vec<Entry> = Vec::new();
        let mut bytes = 0;
        let mut seen = BTreeSet::new();
        for hash in hashes {
            let ids = self
                .core
                .wiki
                .entries_of_change(&self.core.store, hash)
                .unwrap_or_default();
            for id in ids {
                if !seen.insert(id) {
                    continue;
                }
                let entry = match self.core.store.get(&id) {
                    Ok(Some(e)) => Some(e),
                    _ => self.core.store.detached_get(&id).ok().flatten(),
                };
                let Some(entry) = entry.filter(|e| e.body().is_some()) else {
                    continue;
                };
                if bytes + entry.encoded_len() > max_bytes && !out.is_empty() {
                    return out;
                }
                bytes += entry.encoded_len();
                out.push(entry);
            }
        }
        out
    }

    fn entries_after(&self, author: &AuthorId, after_seq: u64, max_bytes: usize) -> Vec<Entry> {
        let limit = self.core.store.limits().max_batch_entries;
        match self
            .core
            .store
            .log_batch(author, after_seq, max_bytes, limit)
        {
            Ok(entries) => entries,
            Err(e) => {
                tracing::error!(%author, error = %e, "cannot read log for a peer");
                Vec::new()
            }
        }
    }
}

fn parse_cursor(cursor: &str) -> Result<(u64, EntryId)> {
    let bad = || Error::InvalidInput(format!("bad cursor {cursor:?} (expected TIMESTAMP-ID)"));
    let (ts, id) = cursor.split_once('-').ok_or_else(bad)?;
    Ok((
        ts.parse().map_err(|_| bad())?,
        id.parse().map_err(|_| bad())?,
    ))
}
