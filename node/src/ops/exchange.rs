//! Fork proofs, frontier files, bundles and imports.

use kith_protocol::{Entry, Limits};
use serde::{Deserialize, Serialize};

use super::http::Payload;
use super::http::{Incoming, OCTETS, Outgoing, Request};
use super::{Info, ReadCtx, ReadOp, Respond, StoreOp, Streamed};
use crate::bundle::FrontierFile;
use crate::core::Core;
use crate::error::{Error, Result};
use crate::model::{ForkView, ImportEntriesReport};
use crate::refs::AuthorRef;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forks {}

impl ReadOp for Forks {
    fn run(self, ctx: &ReadCtx<'_>) -> Result<Vec<ForkView>> {
        ctx.reader.forks()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForksClear {
    pub author: AuthorRef,
}

impl StoreOp for ForksClear {
    fn run(self, core: &mut Core) -> Result<usize> {
        let author = self.author.resolve(core.me());
        core.forks_clear(author)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frontier {}

impl ReadOp for Frontier {
    fn run(self, ctx: &ReadCtx<'_>) -> Result<FrontierFile> {
        ctx.reader.frontier_file()
    }
}

/// The entries another node lacks, as a bundle file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bundle {
    /// Who the bundle is for (must be someone you trust).
    pub recipient: Option<AuthorRef>,
    /// Only these authors.
    #[serde(default)]
    pub authors: Vec<AuthorRef>,
    /// The recipient's frontier file (JSON): only what it lacks.
    pub since: Option<String>,
}

impl ReadOp for Bundle {
    /// Checks the request and fixes what the bundle holds now; the entries
    /// are read and written later, as the answer is sent, holding the read
    /// lane and the job until it ends.
    fn run(self, ctx: &ReadCtx<'_>) -> Result<Streamed> {
        let plan = ctx.reader.bundle_plan(&self)?;
        let reader = ctx.reader.clone();
        let job = ctx
            .jobs
            .start(crate::jobs::JobKind::Export, plan.header.entries);
        let lane = ctx.lane.clone();
        Ok(Streamed(Payload::Stream(Box::new(move |out| {
            let _lane = lane;
            reader.write_bundle(&plan, out, |done, total| {
                job.progress(done, total, "reading entries")
            })
        }))))
    }
}

/// Entries from a bundle (or any source), verified and stored exactly as
/// if they came from the network. Over HTTP the body is the entries'
/// envelopes, concatenated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportEntries {
    pub entries: Vec<Entry>,
}

/// An import on its way through the verification pool.
pub(crate) struct ImportRequest {
    pub op: ImportEntries,
    pub reply: Respond<ImportEntriesReport>,
}

impl Request for ImportEntries {
    fn from_http(incoming: Incoming<'_>) -> Result<Self> {
        let limits = Limits::default();
        let mut entries = Vec::new();
        let mut rest = incoming.body;
        while !rest.is_empty() {
            let (entry, after) = Entry::decode_prefix(rest, &limits)
                .map_err(|e| Error::InvalidInput(format!("entry {}: {e}", entries.len() + 1)))?;
            entries.push(entry);
            rest = after;
        }
        Ok(ImportEntries { entries })
    }

    fn to_http(&self, info: &Info) -> Result<Outgoing> {
        let mut body = Vec::new();
        for e in &self.entries {
            e.encode_into(&mut body);
        }
        Ok(Outgoing {
            path: info.path.to_string(),
            query: Vec::new(),
            body: Some((OCTETS, body)),
        })
    }
}

/// Import batches on their way through the pipeline at once.
const IMPORT_IN_FLIGHT: usize = 8;

/// Runs an import through the verification pool and the store actor:
/// batches are verified on every core while earlier ones are stored.
pub(crate) async fn import(
    request: ImportRequest,
    verify: crate::verify_pool::VerifyPool,
    scope: std::sync::Arc<crate::store::Scope>,
    jobs: crate::jobs::JobTable,
) {
    use crate::core::exchange::{ImportPlan, ImportTally};
    use crate::verify_pool::{Job, Then};

    let ImportRequest { op, reply } = request;
    let total = op.entries.len() as u64;
    let plan = ImportPlan::new(&scope, op.entries);
    let job = jobs.start(crate::jobs::JobKind::Import, total);
    let mut tally = ImportTally::default();
    let mut done = 0u64;
    let mut in_flight = std::collections::VecDeque::new();
    let mut batches = plan.batches.into_iter();
    loop {
        while in_flight.len() < IMPORT_IN_FLIGHT {
            let Some(batch) = batches.next() else { break };
            let (tx, rx) = tokio::sync::oneshot::channel();
            let submit = verify
                .submit(Job {
                    entries: batch.clone(),
                    origin: crate::handle::Origin::Import,
                    then: Then::Ingest(tx),
                })
                .await;
            if let Err(e) = submit {
                let _ = reply.send(Err(e));
                return;
            }
            in_flight.push_back((batch, rx));
        }
        let Some((batch, rx)) = in_flight.pop_front() else {
            break;
        };
        let Ok(outcome) = rx.await else {
            let _ = reply.send(Err(Error::NodeStopped));
            return;
        };
        tally.add(&batch, &outcome);
        done += batch.len() as u64;
        job.progress(done, total, "storing entries");
    }
    if !plan.outside.is_empty() {
        let offered = plan.outside.len();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let submitted = verify
            .submit(Job {
                entries: plan.outside,
                origin: crate::handle::Origin::Import,
                then: Then::Detached(tx),
            })
            .await;
        let kept = match (submitted, rx.await) {
            (Ok(()), Ok(outcome)) => outcome.appended.len(),
            _ => 0,
        };
        tally.outside(offered, kept);
    }
    let _ = reply.send(Ok(tally.report));
}
