//! Rebuilding every view from the entries (`reindex`) as a job done in
//! steps, so that a running node keeps storing, gossiping and answering
//! while it runs, and making everything durable at shutdown.
//!
//! A rebuild goes through phases. *Clear* deletes the old views. *Entries*
//! walks every log in key order (author by author, each in log order),
//! indexing views and search; an entry stored meanwhile gets its views at
//! once if the walk has passed it, or is left to the walk. *Pages* replays
//! each author's wiki changes the same way, author by author. *Finish*
//! re-indexes the pages for search and makes it all durable. A rebuild
//! that a crash interrupted starts over at the next open (the store
//! records that one is running).

use crate::search::Put;
use crate::store::VIEWS_VERSION;
use std::time::{Duration, Instant};

use kith_protocol::{AuthorId, PageId, Verified};

use super::{Core, search_error};
use crate::error::{Error, Result};
use crate::store::{Indexing, ReindexReport, Store};

/// View keys deleted per step of the *Clear* phase.
const CLEAR_CHUNK: usize = 1_000;
/// Entries read per step of the *Entries* phase.
const ENTRIES_CHUNK: usize = 64;

/// A rebuild in progress.
#[derive(Debug)]
pub struct Rebuild {
    phase: Phase,
    /// Entries in the logs when it started (for progress).
    total: u64,
    /// Entries indexed so far.
    done: u64,
    removed_view_keys: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Clear,
    /// Every entry up to this (author, seq) key is indexed.
    Entries(Option<(AuthorId, u64)>),
    /// The wiki has replayed every author up to `done`; `current` is in
    /// progress.
    Pages {
        done: Option<AuthorId>,
        current: Option<AuthorId>,
    },
    Finish,
}

impl Rebuild {
    /// Which entries get their views as they are stored.
    pub fn indexing(&self) -> Indexing {
        match &self.phase {
            Phase::Clear => Indexing::Through(None),
            Phase::Entries(cursor) => Indexing::Through(*cursor),
            Phase::Pages { .. } | Phase::Finish => Indexing::All,
        }
    }

    /// Whether `author`'s wiki changes are applied as they arrive: only once
    /// the rebuild has replayed that author's log.
    pub fn wiki_covers(&self, author: &AuthorId) -> bool {
        match &self.phase {
            Phase::Clear | Phase::Entries(_) => false,
            Phase::Pages { done, .. } => done.is_some_and(|d| *author <= d),
            Phase::Finish => true,
        }
    }

    /// Whether wiki dependencies kept now can be applied at once (the
    /// rebuild applies those kept before its *Pages* phase).
    pub fn detached_covered(&self) -> bool {
        matches!(self.phase, Phase::Pages { .. } | Phase::Finish)
    }

    /// Whether wiki pages can be read and edited.
    pub fn pages_ready(&self) -> bool {
        self.phase == Phase::Finish
    }

    /// (entries done, entries in all, what it is doing)
    pub fn progress(&self) -> (u64, u64, &'static str) {
        let what = match self.phase {
            Phase::Clear => "clearing the old views",
            Phase::Entries(_) => "indexing entries",
            Phase::Pages { .. } => "rebuilding wiki pages",
            Phase::Finish => "indexing pages for search",
        };
        (self.done, self.total, what)
    }

    pub fn progress_text(&self) -> String {
        let (done, total, what) = self.progress();
        format!("{what}, {done} of {total} entries done")
    }
}

impl Core {
    /// Starts rebuilding every view from the entries; [`Core::rebuild_step`]
    /// does the work.
    pub fn start_rebuild(&mut self) -> Result<()> {
        if let Some(r) = &self.rebuild {
            return Err(Error::Busy(format!(
                "a reindex is already running ({})",
                r.progress_text()
            )));
        }
        self.store.set_rebuild_pending(true)?;
        self.circles_changed(None);
        self.wiki.clear();
        self.search.clear().map_err(search_error)?;
        // The rebuild indexes everything: a catch-up has nothing left.
        self.search_behind = false;
        self.dirty_pages.clear();
        self.store.reset_arrivals();
        self.rebuild = Some(Rebuild {
            phase: Phase::Clear,
            total: self.store.count_entries()?,
            done: 0,
            removed_view_keys: 0,
        });
        Ok(())
    }

    /// Whether a rebuild is running.
    pub fn rebuilding(&self) -> Option<&Rebuild> {
        self.rebuild.as_ref()
    }

    /// Works on the rebuild for about `budget`; returns its report once it
    /// is done.
    pub fn rebuild_step(&mut self, budget: Duration) -> Result<Option<ReindexReport>> {
        let until = Instant::now() + budget;
        loop {
            let Some(rebuild) = &self.rebuild else {
                return Ok(None);
            };
            let done = match rebuild.phase.clone() {
                Phase::Clear => self.clear_step()?,
                Phase::Entries(cursor) => self.entries_step(cursor)?,
                Phase::Pages { done, current } => self.pages_step(done, current)?,
                Phase::Finish => return self.finish_rebuild().map(Some),
            };
            if !done && Instant::now() >= until {
                return Ok(None);
            }
        }
    }

    /// Rebuilds every view in one go (direct mode and tests).
    pub fn reindex(&mut self) -> Result<ReindexReport> {
        self.start_rebuild()?;
        self.finish_pending_rebuild()
    }

    /// Runs a started rebuild to its end.
    pub fn finish_pending_rebuild(&mut self) -> Result<ReindexReport> {
        loop {
            if let Some(report) = self.rebuild_step(Duration::from_secs(3600))? {
                return Ok(report);
            }
            if self.rebuild.is_none() {
                return Ok(ReindexReport::default());
            }
        }
    }

    fn rebuild_mut(&mut self) -> &mut Rebuild {
        self.rebuild.as_mut().expect("a rebuild runs")
    }

    /// Returns whether the phase changed.
    fn clear_step(&mut self) -> Result<bool> {
        let removed = self.store.clear_views_step(CLEAR_CHUNK)?;
        let rebuild = self.rebuild_mut();
        rebuild.removed_view_keys += removed as u64;
        if removed == 0 {
            rebuild.phase = Phase::Entries(None);
            return Ok(true);
        }
        Ok(false)
    }

    fn entries_step(&mut self, cursor: Option<(AuthorId, u64)>) -> Result<bool> {
        let entries = self.store.entries_after_key(cursor, ENTRIES_CHUNK)?;
        let Some(last) = entries.last() else {
            // Detached wiki dependencies first, so waiting changes find them.
            let detached: Vec<Verified> = self
                .store
                .detached_all()?
                .into_iter()
                .map(Verified::from_store)
                .collect();
            self.wiki.apply(&self.store, &detached)?;
            // Circle entries open once every epoch is back in the views.
            let opened = self.circles_reopen_all()?;
            self.index_search(&opened, Put::Again);
            self.rebuild_mut().phase = Phase::Pages {
                done: None,
                current: None,
            };
            return Ok(true);
        };
        let next = (last.author(), last.seq());
        let n = entries.len() as u64;
        let verified: Vec<Verified> = entries.into_iter().map(Verified::from_store).collect();
        self.store.index_views_of(&verified)?;
        let rebuild = self.rebuild_mut();
        rebuild.phase = Phase::Entries(Some(next));
        rebuild.done += n;
        // The cursor now covers these entries, so search indexes them.
        self.index_search(&verified, Put::Walked);
        Ok(false)
    }

    fn pages_step(&mut self, done: Option<AuthorId>, current: Option<AuthorId>) -> Result<bool> {
        let author = match current {
            Some(a) => a,
            None => match self.store.next_author_after(done.as_ref())? {
                Some(a) => {
                    self.rebuild_mut().phase = Phase::Pages {
                        done,
                        current: Some(a),
                    };
                    a
                }
                None => {
                    self.rebuild_mut().phase = Phase::Finish;
                    return Ok(true);
                }
            },
        };
        match self.wiki.catch_up_step(&self.store, &author)? {
            Some(report) => {
                self.dirty_pages.extend(report.pages);
                Ok(false)
            }
            None => {
                self.rebuild_mut().phase = Phase::Pages {
                    done: Some(author),
                    current: None,
                };
                Ok(true)
            }
        }
    }

    fn finish_rebuild(&mut self) -> Result<ReindexReport> {
        let pages: Vec<PageId> = crate::wiki::list(&self.store)?
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        self.dirty_pages.extend(pages);
        let rebuild = self.rebuild.take().expect("a rebuild runs");
        self.search.cover(self.store.last_arrival());
        self.search_flush()?;
        self.refresh_scope()?;
        self.store.flush()?;
        self.store.set_views_version(VIEWS_VERSION)?;
        self.store.set_rebuild_pending(false)?;
        // Revocations that arrived during the rebuild (it may start another).
        self.enforce_revocations()?;
        Ok(ReindexReport {
            entries: rebuild.done,
            removed_view_keys: rebuild.removed_view_keys,
        })
    }

    /// Opens the store of `config` once more and closes it, with no core
    /// running on it. sled 0.34 writes its page-table snapshot only when a
    /// database opens, and every open replays the log written since the last
    /// snapshot: after a large write with no node running (`kith bundle
    /// import` of a million entries), settling moves those seconds from the
    /// next `kith up` to the end of the write that caused them.
    pub fn settle_store(config: &crate::Config) -> Result<()> {
        let store = Store::open(
            &config.data_dir.store(),
            &super::kv_config(config),
            config.limits.clone(),
        )?;
        store.flush()?;
        Ok(())
    }

    /// Makes everything durable and compact before the node stops. An
    /// unfinished rebuild starts over at the next open.
    pub fn close(&mut self) -> Result<()> {
        if self.rebuild.is_none() {
            if let Err(e) = self.wiki.compact_all(&self.store) {
                tracing::warn!(error = %e, "compacting wiki pages at shutdown failed");
            }
            if let Err(e) = self.search_flush() {
                tracing::warn!(error = %e, "committing the search index at shutdown failed");
            }
        }
        Ok(self.store.flush()?)
    }
}
