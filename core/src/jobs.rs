//! Long jobs (reindex, verify, import, export) and their progress, as `kith status`,
//! `GET /jobs` and the web app show them. The table is shared by whoever
//! runs a job and whoever asks; its lock is held only to copy a row.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

/// What a long job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    Reindex,
    Verify,
    Import,
    Export,
}

/// A running job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobView {
    pub id: u64,
    pub kind: JobKind,
    /// What it is doing now.
    pub phase: String,
    /// Entries done so far, and in all (0: not known yet).
    pub done: u64,
    pub total: u64,
    /// When it started (ms since the epoch).
    pub started: u64,
}

/// The node's running jobs.
#[derive(Debug, Clone, Default)]
pub struct JobTable {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    next: u64,
    jobs: BTreeMap<u64, JobView>,
}

impl JobTable {
    /// Registers a job; it leaves the table when the returned guard drops.
    pub fn start(&self, kind: JobKind, total: u64) -> Job {
        let mut inner = self.lock();
        inner.next += 1;
        let id = inner.next;
        inner.jobs.insert(
            id,
            JobView {
                id,
                kind,
                phase: "starting".into(),
                done: 0,
                total,
                started: crate::clock::now_ms(),
            },
        );
        Job {
            table: self.clone(),
            id,
        }
    }

    pub fn list(&self) -> Vec<JobView> {
        self.lock().jobs.values().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock leaves plain data behind.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A registered job; dropping it removes it from the table.
#[derive(Debug)]
pub struct Job {
    table: JobTable,
    id: u64,
}

impl Job {
    pub fn progress(&self, done: u64, total: u64, phase: &str) {
        if let Some(job) = self.table.lock().jobs.get_mut(&self.id) {
            job.done = done;
            job.total = total;
            if job.phase != phase {
                job.phase = phase.to_string();
            }
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        self.table.lock().jobs.remove(&self.id);
    }
}
