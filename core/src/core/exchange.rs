//! Entries that travel by file (bundles) and the fork proofs held until
//! the user decides. Importing goes through the network's validation path:
//! per author, in log order, every entry verified.

use std::collections::BTreeMap;

use kith_protocol::{AuthorId, Entry};

use super::{Core, IngestOutcome};
use crate::error::{Error, Result};
use crate::model::{ImportEntriesReport, Rejected};
use crate::store::Scope;

/// Entries per batch of an import (each batch is verified, then stored).
pub const IMPORT_BATCH: usize = 128;

impl Core {
    /// The user has decided (e.g. after talking to them): forget the fork
    /// proofs of `author` so their log replicates again.
    pub fn forks_clear(&mut self, author: AuthorId) -> Result<usize> {
        let n = self.store.clear_fork(&author)?;
        if n == 0 {
            return Err(Error::NotFound(format!("no fork recorded for {author}")));
        }
        Ok(n)
    }

    /// Imports entries on this thread (direct mode): verified on every core,
    /// then stored batch by batch. A running node does the same through its
    /// verification pool and store actor.
    pub fn import_entries(&mut self, entries: Vec<Entry>) -> ImportEntriesReport {
        let plan = ImportPlan::new(&self.scope, entries);
        let mut tally = ImportTally::default();
        let limits = self.store.limits().clone();
        let verify = |batch: Vec<Entry>| {
            let checked = crate::verify::verify_all(batch.clone(), &limits, super::now_ms());
            (checked, batch)
        };
        let mut batches = plan.batches.into_iter();
        let mut next = batches.next().map(verify);
        // Each batch is stored while the next one is verified.
        while let Some((checked, batch)) = next.take() {
            let following = batches.next();
            let (outcome, verified) = rayon::join(
                || checked.ingest_with(|verified| self.ingest_verified(verified)),
                || following.map(verify),
            );
            tally.add(&batch, &outcome);
            // Commits search about once a second, as a running node does:
            // what waits for a commit is held in memory.
            self.search_tick();
            next = verified;
        }
        let checked = crate::verify::verify_all(plan.outside.clone(), &limits, super::now_ms());
        let kept = self.ingest_detached(checked.verified);
        tally.outside(plan.outside.len(), kept.appended.len());
        tally.report
    }
}

/// How an import is cut: each replicated author's entries in log order,
/// in batches, and the rest (which can only be wiki dependencies).
#[derive(Debug, Default)]
pub struct ImportPlan {
    pub batches: Vec<Vec<Entry>>,
    pub outside: Vec<Entry>,
}

impl ImportPlan {
    pub fn new(scope: &Scope, entries: Vec<Entry>) -> ImportPlan {
        let mut by_author: BTreeMap<AuthorId, Vec<Entry>> = BTreeMap::new();
        let mut outside = Vec::new();
        for e in entries {
            if scope.contains(&e.author()) {
                by_author.entry(e.author()).or_default().push(e);
            } else {
                outside.push(e);
            }
        }
        let mut batches = Vec::new();
        for (_, mut log) in by_author {
            log.sort_by_key(Entry::seq);
            log.dedup_by_key(|e| e.id());
            // Moved into the batches, not copied: the plan holds each
            // entry once.
            let mut log = log.into_iter().peekable();
            while log.peek().is_some() {
                batches.push(log.by_ref().take(IMPORT_BATCH).collect());
            }
        }
        ImportPlan { batches, outside }
    }
}

/// Adds up what the batches of an import did. After an author's first
/// refused entry, the rest of that author's log cannot follow (it would
/// not continue the chain), so only the first refusal is reported.
#[derive(Debug, Default)]
pub struct ImportTally {
    pub report: ImportEntriesReport,
}

impl ImportTally {
    pub fn add(&mut self, batch: &[Entry], outcome: &IngestOutcome) {
        self.report.appended += outcome.appended.len() as u64;
        self.report.duplicates += outcome.duplicates as u64;
        let Some(error) = &outcome.error else { return };
        let done = outcome.appended.len() + outcome.duplicates;
        let Some(at) = batch.get(done.min(batch.len().saturating_sub(1))) else {
            return;
        };
        if self.report.rejected.iter().any(|r| r.author == at.author()) {
            return;
        }
        self.report.rejected.push(Rejected {
            author: at.author(),
            seq: at.seq(),
            reason: error.to_string(),
        });
    }

    /// Entries of authors this node does not replicate count only as wiki
    /// dependencies it lacks.
    pub fn outside(&mut self, offered: usize, kept: usize) {
        self.report.dependencies += kept as u64;
        self.report.not_replicated += (offered - kept) as u64;
    }
}
