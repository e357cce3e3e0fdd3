//! How entries get in: own appends (signed here, durable before they are
//! acknowledged) and verified entries from peers, each followed by the
//! views that are not in the store's batch: wiki pages and search.

use crate::search::Put;
use crate::store::VIEWS_VERSION;
use std::collections::BTreeSet;

use kith_protocol::{AuthorId, Body, Entry, Keypair, PageId, Verified};

use super::{Core, Effect, now_ms, search_error};
use crate::error::Result;
use crate::store;

/// Most often a search makes the index commit.
const READER_COMMIT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// Entries re-indexed per step when the search index catches up.
const SEARCH_CATCH_UP_CHUNK: usize = 1_000;
/// Replacements (each a delete query tantivy holds until the commit,
/// ~1.2 KiB) a search catch-up gathers before it commits.
pub(super) const SEARCH_CATCH_UP_REPLACING: usize = if cfg!(test) { 3 } else { 10_000 };

/// What storing entries from a peer did, for the caller to act on.
#[derive(Debug, Default)]
pub struct IngestOutcome {
    /// Entries now stored, in order.
    pub appended: Vec<Entry>,
    /// Entries that were already stored.
    pub duplicates: usize,
    /// Why storing stopped early (what came before is stored).
    pub error: Option<store::Error>,
    /// Wiki pages whose documents changed.
    pub pages: BTreeSet<PageId>,
    /// Automerge changes that waiting wiki changes depend on and that this
    /// node lacks: ask the peer that sent them.
    pub missing: BTreeSet<[u8; 32]>,
    /// The replication set changed (a vouch, at two hops).
    pub scope_changed: bool,
}

impl Core {
    /// Signs and appends own entries in one durable write (group commit),
    /// then indexes them; the outbox gets them for publishing.
    /// A body that answers, endorses or accepts a circle entry, or edits
    /// a circle's page, is sealed for that circle (PROTOCOL.md §12).
    pub fn append(&mut self, bodies: &[Body]) -> Result<Vec<Entry>> {
        self.append_placed(bodies.iter().map(|b| (b.clone(), None)).collect())
    }

    /// Appends exactly these bodies to this device's log.
    pub(super) fn append_raw(&mut self, bodies: &[Body]) -> Result<Vec<Entry>> {
        let keypair = self.keypair.clone();
        self.append_as(&keypair, bodies)
    }

    /// Appends to `keypair`'s log: this device's, or the identity key's
    /// that this node holds since a rotation (certificates only).
    pub(super) fn append_as(&mut self, keypair: &Keypair, bodies: &[Body]) -> Result<Vec<Entry>> {
        let entries = self
            .store
            .append_signed(keypair, bodies, now_ms(), self.indexing())?;
        if keypair.author() == self.me()
            && let Some(last) = entries.last()
        {
            let seq = last.entry().seq();
            self.witness_own(&keypair.author(), seq);
        }
        if bodies.iter().any(changes_scope) {
            self.refresh_scope()?;
        }
        let opened = self.circles_after(&entries);
        self.index_stored(&entries);
        self.note_inbox(&opened);
        self.index_search(&opened, Put::Again);
        self.cover_search();
        // Own wiki edits (sealed for a circle or not) are recorded by the
        // wiki after this, which moves the marker itself; other own
        // entries need nothing from the wiki.
        if !bodies
            .iter()
            .any(|b| b.wiki_part().is_some() || matches!(b, Body::Sealed(_)))
        {
            self.note_wiki_processed(&entries);
        }
        let entries: Vec<Entry> = entries.into_iter().map(Verified::into_entry).collect();
        self.outbox.push(Effect::Appended(entries.clone()));
        Ok(entries)
    }

    /// Stores verified entries from a peer, in order, and brings the wiki
    /// and search views up to date with them.
    pub fn ingest_verified(&mut self, entries: Vec<Verified>) -> IngestOutcome {
        let batch = self
            .store
            .ingest_verified(entries, &self.scope, self.indexing());
        let mut outcome = IngestOutcome {
            duplicates: batch.duplicates,
            error: batch.error,
            ..Default::default()
        };
        let appended = batch.appended;
        let opened = self.circles_after(&appended);
        self.index_stored(&appended);
        // Circle content concerns its reader once opened.
        self.note_inbox(&opened);
        self.index_search(&opened, Put::Again);
        self.cover_search();
        let wiki: Vec<Verified> = appended
            .iter()
            .chain(&opened)
            .filter(|v| matches!(v.body(), Some(Body::WikiChange(_) | Body::WikiBundle(_))))
            .filter(|v| self.wiki_covers(&v.entry().author()))
            .cloned()
            .collect();
        let mut wiki_applied = true;
        if !wiki.is_empty() {
            match self.apply_wiki(&wiki) {
                Some((missing, pages)) => {
                    outcome.missing = missing;
                    outcome.pages = pages;
                }
                None => wiki_applied = false,
            }
        }
        if wiki_applied {
            self.note_wiki_processed(&appended);
        }
        // A certificate changes a person's keys; a vouch can widen a
        // two-hop scope, or, by one of my own devices, my own trust.
        if appended.iter().any(|v| v.body().is_some_and(changes_scope)) {
            match self.refresh_scope() {
                Ok(changed) => outcome.scope_changed = changed,
                Err(e) => tracing::warn!(error = %e, "could not refresh the replication scope"),
            }
        }
        outcome.appended = appended.into_iter().map(Verified::into_entry).collect();
        outcome
    }

    /// Verifies (on this thread) and stores entries from a peer: for tests
    /// and tools; a running node verifies on its pool.
    pub fn ingest(&mut self, entries: &[Entry]) -> IngestOutcome {
        let now = now_ms();
        let mut verified = Vec::with_capacity(entries.len());
        let mut failed = None;
        for entry in entries {
            match Verified::check(entry.clone(), self.store.limits(), now) {
                Ok(v) => verified.push(v),
                Err(e) => {
                    failed = Some(e.1);
                    break;
                }
            }
        }
        let mut outcome = self.ingest_verified(verified);
        if outcome.error.is_none()
            && let Some(e) = failed
        {
            outcome.error = Some(store::Error::Invalid(e));
        }
        // With no store actor to run it in slices, a rebuild this started
        // (a revocation that dropped stored entries) runs to the end here.
        if self.rebuild.is_some()
            && let Err(e) = self.finish_pending_rebuild()
        {
            tracing::error!(error = %e, "rebuilding the views failed");
        }
        outcome
    }

    /// Keeps verified wiki-change entries by authors outside the
    /// replication set, fetched because a trusted author's waiting change
    /// depends on them; they are kept apart from the logs and applied to
    /// their pages. Returns the entries kept.
    pub fn ingest_detached(&mut self, entries: Vec<Verified>) -> IngestOutcome {
        let mut kept = Vec::new();
        for verified in entries {
            let entry = verified.entry();
            if !matches!(
                verified.body(),
                Some(Body::WikiChange(_) | Body::WikiBundle(_))
            ) {
                tracing::debug!(
                    id = %entry.id(),
                    author = %entry.author(),
                    kind = verified.body().map_or("undecodable", Body::kind_name),
                    "an entry by an author you do not replicate, and not a wiki change: not kept"
                );
                continue;
            }
            if self.scope.contains(&entry.author()) {
                continue; // Replicated authors' entries come through their logs.
            }
            // Only what a waiting change of a trusted author depends on.
            match crate::wiki::is_wanted(&self.store, &verified) {
                Ok(true) => {}
                Ok(false) => {
                    tracing::debug!(id = %entry.id(), "no waiting change needs this entry; not kept");
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot check a wiki dependency");
                    continue;
                }
            }
            match self.store.detached_get(&entry.id()) {
                Ok(None) => {}
                Ok(Some(_)) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "store error");
                    continue;
                }
            }
            if let Err(e) = self.store.detached_put(entry) {
                tracing::warn!(error = %e, "cannot keep a wiki dependency");
                continue;
            }
            kept.push(verified);
        }
        let mut outcome = IngestOutcome::default();
        let covered = self.rebuild.as_ref().is_none_or(|r| r.detached_covered());
        if !kept.is_empty()
            && covered
            && let Some((missing, pages)) = self.apply_wiki(&kept)
        {
            outcome.missing = missing;
            outcome.pages = pages;
        }
        outcome.appended = kept.into_iter().map(Verified::into_entry).collect();
        outcome
    }

    /// Materializes wiki changes among freshly stored entries. The entries
    /// are stored whatever happens here: a refused change is logged and
    /// counted on its page, never fatal. Returns (missing changes, pages),
    /// `None` if the store failed.
    pub(super) fn apply_wiki(
        &mut self,
        entries: &[Verified],
    ) -> Option<(BTreeSet<[u8; 32]>, BTreeSet<PageId>)> {
        match self.wiki.apply(&self.store, entries) {
            Ok(report) => {
                self.dirty_pages.extend(report.pages.iter().copied());
                Some((report.missing, report.pages))
            }
            Err(e) => {
                tracing::error!(error = %e, "materializing wiki changes failed; `kith reindex` rebuilds pages");
                None
            }
        }
    }

    /// Moves the wiki's per-author markers past freshly stored entries
    /// whose wiki changes are applied (see [`crate::wiki::note_processed`]),
    /// for the authors the wiki covers now (a rebuild replays the others).
    fn note_wiki_processed(&self, entries: &[Verified]) {
        let covered = entries
            .iter()
            .map(|v| (v.entry().author(), v.entry().seq()))
            .filter(|(author, _)| self.wiki_covers(author));
        if let Err(e) = crate::wiki::note_processed(&self.store, covered) {
            tracing::warn!(error = %e, "recording the wiki's progress failed; the next open catches up");
        }
    }

    /// Whether `author`'s wiki changes are applied as they arrive (not
    /// while a rebuild has yet to replay that author's log).
    fn wiki_covers(&self, author: &AuthorId) -> bool {
        self.rebuild.as_ref().is_none_or(|r| r.wiki_covers(author))
    }

    /// Indexes entries just stored for search (pages are re-indexed at the
    /// next commit; entries a rebuild has not reached yet are left to it).
    /// While the index catches up they wait for its walk of the arrival
    /// order, which reaches them (their numbers are past the walk's), so the
    /// index never holds an entry past the walk that the walk would add a
    /// second time.
    fn index_stored(&mut self, entries: &[Verified]) {
        self.note_inbox(entries);
        if entries
            .iter()
            .any(|v| matches!(v.body(), Some(Body::Deletion(_))))
        {
            self.sweep_blobs();
        }
        if !self.search_behind {
            self.index_search(entries, Put::New);
        }
    }

    /// Indexes posts for search; `put`: what is known of whether the index
    /// may hold them (see [`crate::search::Put`]).
    pub(super) fn index_search(&mut self, entries: &[Verified], put: Put) {
        let indexing = self.indexing();
        for verified in entries {
            let entry = verified.entry();
            if !indexing.covers(&entry.author(), entry.seq()) {
                continue;
            }
            let result = match verified.body() {
                Some(Body::Post(post)) => {
                    self.search
                        .put_post(&entry.author(), entry.seq(), post, put)
                }
                Some(Body::Deletion(d)) => match self.store.get(&d.target) {
                    // The store honoured it only for the author's own entries.
                    Ok(Some(t)) if t.author() == entry.author() && t.body().is_none() => {
                        self.search.remove_post(&t.author(), t.seq())
                    }
                    _ => Ok(()),
                },
                Some(Body::WikiChange(w) | Body::WikiBundle(w)) => {
                    self.dirty_pages.insert(w.page);
                    Ok(())
                }
                _ => Ok(()),
            };
            if let Err(e) = result {
                tracing::warn!(error = %e, "search indexing failed; `kith reindex` rebuilds the index");
            }
        }
    }

    /// Notes that the search index holds everything stored so far (a
    /// rebuild notes it when it ends).
    pub(super) fn cover_search(&mut self) {
        // While the index catches up, its walk of the arrival order says
        // how far it covers.
        if self.rebuild.is_none() && !self.search_behind {
            self.search.cover(self.store.last_arrival());
        }
    }

    /// Re-indexes stale pages and commits the search index.
    pub fn search_flush(&mut self) -> Result<()> {
        if self.pages_ready().is_ok() {
            for page in std::mem::take(&mut self.dirty_pages) {
                self.index_page(&page)?;
            }
        }
        self.commit_search()
    }

    /// Commits the search index after making the store durable, so that no
    /// committed index holds a post a crash could take from the store (a
    /// post stored anew is then only added: [`Put::New`]).
    fn commit_search(&mut self) -> Result<()> {
        if self.search.is_dirty() {
            self.store.flush_entries()?;
        }
        self.search.commit().map_err(search_error)
    }

    /// Brings the links of changed pages up to date now (backlinks read
    /// right after an edit need them); the pages stay due for search.
    pub(crate) fn links_flush(&mut self) -> Result<()> {
        if self.pages_ready().is_err() {
            return Ok(());
        }
        for page in self.wiki.stale_links() {
            if let Ok(body) = self.wiki.text(&self.store, &page) {
                self.wiki.refresh_links(&self.store, &page, &body)?;
            }
        }
        Ok(())
    }

    /// Re-indexes a changed page for search, and its links with it (one
    /// reading of the text serves both).
    fn index_page(&mut self, page: &PageId) -> Result<()> {
        let Some(meta) = crate::wiki::meta(&self.store, page)? else {
            return Ok(());
        };
        let body = self.wiki.text(&self.store, page).unwrap_or_default();
        self.wiki.refresh_links(&self.store, page, &body)?;
        let last = crate::wiki::history(&self.store, page)?
            .first()
            .map(|h| h.author);
        self.search
            .put_page(
                page,
                &meta.title,
                &body,
                last.as_ref(),
                meta.updated_ms,
                meta.archived,
            )
            .map_err(search_error)
    }

    /// Commits what a search would not see yet, at most once every
    /// `READER_COMMIT_EVERY`: if the last commit is more recent, answers
    /// how long the search should wait before it asks again (so that a
    /// stream of searches cannot make the store commit all the time, and a
    /// search never misses what was written before it).
    pub fn search_commit_for_reader(&mut self) -> Result<Option<std::time::Duration>> {
        let since = self.search.since_commit();
        if since < READER_COMMIT_EVERY {
            return Ok(Some(READER_COMMIT_EVERY - since));
        }
        self.search_flush()?;
        Ok(None)
    }

    /// Commits the search index if a second has passed since the last
    /// commit (the store actor calls this when idle and between jobs).
    pub fn search_tick(&mut self) {
        if self.rebuild.is_some() {
            // Searches keep seeing the index as it was until the rebuild
            // commits the new one at its end.
            return;
        }
        let result = if self.dirty_pages.is_empty() || self.pages_ready().is_err() {
            if self.search.is_due(std::time::Duration::from_secs(1)) {
                self.commit_search()
            } else {
                Ok(())
            }
        } else {
            self.search_flush()
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "search commit failed");
        }
    }

    /// At open: materializes wiki entries stored but not yet applied, and
    /// indexes what was stored after the search index's last commit (a
    /// crash between the writes). A rebuild left unfinished starts over.
    pub(super) fn catch_up_views(&mut self) -> Result<()> {
        let (covered, stored) = (self.search.covered(), self.store.last_arrival());
        let mut views = self.store.views_version()?;
        if views < VIEWS_VERSION && self.store.count_entries()? == 0 {
            // Nothing to rebuild them from.
            self.store.set_views_version(VIEWS_VERSION)?;
            views = VIEWS_VERSION;
        }
        let rebuild = if self.store.rebuild_pending()? {
            Some("a reindex was interrupted; it starts over".to_string())
        } else if covered > stored {
            // The index holds entries the store does not (a store restored
            // from an older copy): what it holds cannot be trusted, and a
            // post stored anew is only added to it (`Put::New`).
            Some(format!(
                "the search index covers {covered} arrivals, the store {stored}; \
                 rebuilding the views and the index"
            ))
        } else if views < VIEWS_VERSION {
            Some(format!(
                "views were built by version {views} (now {VIEWS_VERSION}); \
                 rebuilding them from the entries"
            ))
        } else {
            None
        };
        if let Some(why) = rebuild {
            tracing::warn!("{why}");
            self.start_rebuild()?;
            return Ok(());
        }
        let report = self.wiki.catch_up(&self.store)?;
        if report.applied > 0 {
            tracing::info!(
                changes = report.applied,
                "wiki caught up with stored entries"
            );
        }
        self.dirty_pages.extend(report.pages);
        let behind = stored - covered;
        if behind > 0 {
            self.search_behind = true;
            if self.search_catch_up_step(self.config.open_search_budget)? {
                tracing::info!(
                    entries = behind,
                    left = self.store.last_arrival() - self.search.covered(),
                    "the search index is behind the store; it catches up in the background"
                );
            }
        }
        Ok(())
    }

    /// Whether the search index is still catching up with entries stored
    /// before it last committed (a crash, a deleted or replaced index):
    /// searches then find only part of them.
    pub fn search_behind(&self) -> bool {
        self.search_behind
    }

    /// Indexes for search, for about `budget` (at least one chunk), what
    /// was stored after the index's last commit, walking the arrival order;
    /// returns whether it is still behind. Entries stored meanwhile wait
    /// for the walk, so a walked post is only added: no delete query, which
    /// tantivy would hold (~1.2 KiB each) until every merge running then
    /// has ended. The few replacements (opened circle entries) are
    /// committed every [`SEARCH_CATCH_UP_REPLACING`], so memory stays
    /// bounded however far behind the index is.
    /// On an error the catch-up stops (`kith reindex` rebuilds the index).
    pub fn search_catch_up_step(&mut self, budget: std::time::Duration) -> Result<bool> {
        if !self.search_behind {
            return Ok(false);
        }
        let result = self.search_catch_up_chunks(budget);
        if result.is_err() {
            self.search_behind = false;
        }
        result
    }

    fn search_catch_up_chunks(&mut self, budget: std::time::Duration) -> Result<bool> {
        let until = std::time::Instant::now() + budget;
        loop {
            let chunk = self
                .store
                .arrivals_after(self.search.covered(), SEARCH_CATCH_UP_CHUNK)?;
            let Some((last, _)) = chunk.last() else {
                self.search_behind = false;
                self.search_flush()?;
                tracing::info!("the search index caught up with the store");
                return Ok(false);
            };
            let last = *last;
            // Entries past the index's last commit are not in it, nor were
            // those stored since indexed (`index_stored`): each is only added. A
            // circle entry opened meanwhile may have been (opening indexes
            // at once), so those replace.
            let (opened, plain): (Vec<Verified>, Vec<Verified>) = chunk
                .into_iter()
                .map(|(_, e)| self.store.verified(e))
                .partition(|v| v.circle().is_some());
            self.index_search(&plain, Put::New);
            self.index_search(&opened, Put::Again);
            self.search.cover(last);
            if self.search.replacing() >= SEARCH_CATCH_UP_REPLACING {
                self.commit_search()?;
            }
            if std::time::Instant::now() >= until {
                return Ok(true);
            }
        }
    }

    /// Runs the search catch-up to its end (direct mode, shutdown).
    pub fn finish_search_catch_up(&mut self) -> Result<()> {
        while self.search_catch_up_step(std::time::Duration::from_secs(3600))? {}
        Ok(())
    }
}

/// Whether storing this body can change the replication set: a vouch, or a
/// certificate of persons and devices.
fn changes_scope(body: &Body) -> bool {
    matches!(body, Body::Trust(_)) || body.is_certificate()
}
