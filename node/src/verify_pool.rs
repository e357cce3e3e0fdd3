//! Signature checks on every core, between the network (or an import) and
//! the store actor.
//!
//! A coordinator thread takes jobs in the order they were submitted,
//! gathers what is queued (up to [`MAX_ROUND_ENTRIES`]), verifies all of
//! it at once on a rayon pool (`verify_strict`, as everywhere), and hands
//! each job to the store actor in submission order, so every author's
//! entries reach the store in the order they came. While the store actor
//! writes one round, the pool verifies the next.

use std::sync::Arc;

use kith_protocol::{Entry, Limits, Verified};
use rayon::prelude::*;
use tokio::sync::{mpsc, oneshot};

use crate::clock::now_ms;
use crate::core::IngestOutcome;
use crate::error::{Error, Result};
use crate::handle::Origin;
use crate::store_actor::StoreMsg;
use crate::verify::collect;

/// Live jobs (gossip) waiting for verification; beyond this gossip is
/// ignored (it comes again by catch-up).
pub const VERIFY_QUEUE: usize = 256;
/// Bulk jobs (catch-up and import batches) waiting; beyond this a catch-up
/// batch is fetched again later and an import waits.
pub const BULK_QUEUE: usize = 32;
/// Most entries verified in one round (all waiting live jobs, then bulk
/// jobs up to this).
pub const MAX_ROUND_ENTRIES: usize = 1_024;

/// Entries to verify and what to do with them then.
pub(crate) struct Job {
    pub entries: Vec<Entry>,
    pub origin: Origin,
    pub then: Then,
}

pub(crate) enum Then {
    /// Store in the logs; the outcome goes back here.
    Ingest(oneshot::Sender<IngestOutcome>),
    /// Keep as wiki dependencies of authors outside the replication set.
    Detached(oneshot::Sender<IngestOutcome>),
    /// Handovers a peer offered (kind 14 first entries), to check and keep.
    Offered(oneshot::Sender<IngestOutcome>),
}

impl Job {
    /// Gossip is live; catch-up and imports are bulk, and wait behind it.
    fn is_live(&self) -> bool {
        matches!(self.origin, Origin::Gossip | Origin::Local)
    }
}

/// The submitting side of the pool (cheap to clone).
#[derive(Clone)]
pub(crate) struct VerifyPool {
    live: mpsc::Sender<Job>,
    bulk: mpsc::Sender<Job>,
}

/// Where verified jobs go: the store actor's two lanes.
pub(crate) struct Lanes {
    pub live: mpsc::Sender<StoreMsg>,
    pub bulk: mpsc::Sender<StoreMsg>,
}

impl VerifyPool {
    /// Starts the coordinator thread and a rayon pool of `threads` (0: one
    /// per core), handing verified jobs to `store`.
    pub(crate) fn start(limits: Limits, threads: usize, store: Lanes) -> Result<VerifyPool> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("kith-verify-{i}"))
            .build()
            .map_err(|e| Error::Io(format!("cannot start the verification pool: {e}")))?;
        let (live, live_rx) = mpsc::channel(VERIFY_QUEUE);
        let (bulk, bulk_rx) = mpsc::channel(BULK_QUEUE);
        let limits = Arc::new(limits);
        let span = tracing::Span::current();
        std::thread::Builder::new()
            .name("kith-verify".into())
            .spawn(move || {
                let _guard = span.enter();
                coordinate(live_rx, bulk_rx, &pool, &limits, &store);
            })
            .map_err(|e| Error::Io(format!("cannot start the verification thread: {e}")))?;
        Ok(VerifyPool { live, bulk })
    }

    fn lane(&self, job: &Job) -> &mpsc::Sender<Job> {
        if job.is_live() {
            &self.live
        } else {
            &self.bulk
        }
    }

    /// Queues a job if there is room; gives it back if not.
    pub(crate) fn try_submit(&self, job: Job) -> std::result::Result<(), Job> {
        self.lane(&job).clone().try_send(job).map_err(|e| match e {
            mpsc::error::TrySendError::Full(job) | mpsc::error::TrySendError::Closed(job) => job,
        })
    }

    /// Queues a job, waiting for room (imports).
    pub(crate) async fn submit(&self, job: Job) -> Result<()> {
        let lane = self.lane(&job).clone();
        lane.send(job).await.map_err(|_| Error::NodeStopped)
    }
}

/// The coordinator: rounds of verification, results handed on in order
/// within each lane.
fn coordinate(
    mut live: mpsc::Receiver<Job>,
    mut bulk: mpsc::Receiver<Job>,
    pool: &rayon::ThreadPool,
    limits: &Limits,
    store: &Lanes,
) {
    loop {
        let first = futures::executor::block_on(async {
            tokio::select! {
                biased;
                Some(job) = live.recv() => Some(job),
                Some(job) = bulk.recv() => Some(job),
                else => None,
            }
        });
        let Some(first) = first else { return };
        let mut round = vec![first];
        let mut entries: usize = round[0].entries.len();
        while let Ok(job) = live.try_recv() {
            entries += job.entries.len();
            round.push(job);
        }
        while entries < MAX_ROUND_ENTRIES {
            match bulk.try_recv() {
                Ok(job) => {
                    entries += job.entries.len();
                    round.push(job);
                }
                Err(_) => break,
            }
        }
        let now = now_ms();
        // Verify everything of the round at once, remembering each job's share.
        let mut sizes = Vec::with_capacity(round.len());
        let mut all = Vec::with_capacity(entries);
        let mut jobs = Vec::with_capacity(round.len());
        for job in round {
            sizes.push(job.entries.len());
            let lane = if job.is_live() {
                &store.live
            } else {
                &store.bulk
            };
            all.extend(job.entries);
            jobs.push((job.origin, job.then, lane));
        }
        let mut rest = pool.install(|| {
            all.into_par_iter()
                .map(|e| Verified::check(e, limits, now))
                .collect::<Vec<_>>()
        });
        for ((origin, then, lane), size) in jobs.into_iter().zip(sizes) {
            let tail = rest.split_off(size);
            let checked = collect(std::mem::replace(&mut rest, tail));
            if checked.verified.is_empty() {
                // Nothing to store: answer without bothering the store.
                reply(then, checked.ingest_with(|_| IngestOutcome::default()));
                continue;
            }
            if lane
                .blocking_send(StoreMsg::Ingest {
                    checked,
                    origin,
                    then,
                })
                .is_err()
            {
                return; // The store actor stopped.
            }
        }
    }
}

fn reply(then: Then, outcome: IngestOutcome) {
    match then {
        Then::Ingest(tx) | Then::Detached(tx) | Then::Offered(tx) => {
            let _ = tx.send(outcome);
        }
    }
}

/// Import batches on their way through the pipeline at once.
const IMPORT_IN_FLIGHT: usize = 8;

/// Runs an import through the verification pool and the store actor:
/// batches are verified on every core while earlier ones are stored.
pub(crate) async fn import(
    request: crate::ops::exchange::ImportRequest,
    verify: VerifyPool,
    scope: std::sync::Arc<crate::store::Scope>,
    jobs: crate::jobs::JobTable,
) {
    use crate::core::exchange::{ImportPlan, ImportTally};
    let crate::ops::exchange::ImportRequest { op, reply } = request;
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
                    origin: Origin::Import,
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
                origin: Origin::Import,
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
