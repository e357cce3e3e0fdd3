//! Long jobs over the whole store: rebuilding the views and re-verifying
//! every entry. Both report progress (`Jobs`, `kith status`).

use serde::{Deserialize, Serialize};

use super::{ReadCtx, ReadOp, StoreOp};
use crate::core::Core;
use crate::error::Result;
use crate::jobs::{JobKind, JobView};
use crate::store::{ReindexReport, VerifyReport};

/// Rebuilds every view (feed, threads, pages, search) from the entries.
/// A running node does it in steps between other work.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reindex {}

impl StoreOp for Reindex {
    /// All at once (direct mode); the store actor runs it as a job.
    fn run(self, core: &mut Core) -> Result<ReindexReport> {
        core.reindex()
    }

    fn start_job(self, core: &mut Core) -> Result<()> {
        core.start_rebuild()
    }

    fn job_answer(report: &ReindexReport) -> Result<ReindexReport> {
        Ok(report.clone())
    }
}

/// Re-checks every stored entry: signature, body hash, chain, indexes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verify {}

impl ReadOp for Verify {
    fn run(self, ctx: &ReadCtx<'_>) -> Result<VerifyReport> {
        let total = ctx.reader.store().count_entries()?;
        let job = ctx.jobs.start(JobKind::Verify, total);
        ctx.reader
            .verify(|done| job.progress(done, total, "verifying entries"))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jobs {}

impl ReadOp for Jobs {
    fn run(self, ctx: &ReadCtx<'_>) -> Result<Vec<JobView>> {
        Ok(ctx.jobs.list())
    }
}
