//! The store actor: one thread that owns [`Core`], and with it every write
//! to the store, the wiki and the search index.
//!
//! Its live inbox carries user operations, verified gossip, peer notes and
//! ticks; its bulk inbox the batches of catch-up and imports. Live work goes
//! first; bulk work and the long job take turns after it. What an operation
//! needs of it is a fact on its table line ([`Commit`]): consecutive
//! requests of a grouped operation (posts) are committed together (one
//! flush); a job operation (a reindex) starts the long job, which runs in slices of
//! [`JOB_SLICE`] between messages, so writes, gossip and short requests
//! keep flowing while it runs. After every message, what `Core` put in its
//! outbox is carried out: events to subscribers, own entries and dials to
//! the network, a new replication set on the watch channel.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::core::{Core, Effect, PeerNote};
use crate::error::{Error, Result};
use crate::handle::{Event, Origin};
use crate::jobs::{Job, JobKind, JobTable};
use crate::network::NetNotice;
use crate::ops::{Commit, JobWaiter, StoreRequest};
use crate::store::{ReindexReport, Scope};
use crate::verify::Checked;
use crate::verify_pool::Then;

/// Capacity of the store actor's live inbox.
pub const STORE_INBOX: usize = 1_024;
/// Capacity of its bulk inbox (batches of up to `Limits::max_batch_bytes`).
pub const BULK_INBOX: usize = 16;
/// Most requests of a grouped operation committed with one flush.
pub const GROUP_COMMIT_MAX: usize = 256;
/// Work on a long job before the inbox is looked at again.
pub const JOB_SLICE: Duration = Duration::from_millis(20);
/// Time spent on waiting messages between two slices of a long job, so
/// that a busy inbox slows the job down at most by half.
pub const MESSAGES_SLICE: Duration = Duration::from_millis(20);

pub(crate) enum StoreMsg {
    Op(StoreRequest),
    /// Entries the pool verified, to store.
    Ingest {
        checked: Checked,
        origin: Origin,
        then: Then,
    },
    /// What the network learned about a peer's node.
    Peer(PeerNote),
    /// Time passed: commit the search index if it is due.
    Tick,
    /// The network learned this node's own log head (or that it cannot):
    /// own writes held since start may go on.
    OwnHeadKnown,
    /// The network could not confirm this node's own log head: go on under
    /// a new log key and have the node restarted.
    OwnHeadUnsure,
    /// A search is about to run: commit what the index does not show yet.
    /// The answer is `Some(wait)` when the index committed too recently:
    /// ask again after `wait`.
    CommitSearch(oneshot::Sender<Option<std::time::Duration>>),
    /// Flush everything and stop.
    Shutdown(oneshot::Sender<()>),
}

fn restarting() -> Error {
    Error::Busy(
        "this node is restarting under a new key (its store may be behind its own log, \
         e.g. restored from a backup): try again in a few seconds"
            .into(),
    )
}

/// How a reader asks the store actor to commit the search index.
#[derive(Clone)]
pub(crate) struct CommitSearch(pub mpsc::Sender<StoreMsg>);

impl crate::ops::CommitSearch for CommitSearch {
    /// Asks for a commit and waits for it (from a blocking thread). If the
    /// node is stopping, searches see what was committed.
    fn request(&self) {
        for _ in 0..10 {
            let (reply, done) = oneshot::channel();
            if self.0.blocking_send(StoreMsg::CommitSearch(reply)).is_err() {
                return;
            }
            match done.blocking_recv() {
                Ok(Some(wait)) => std::thread::sleep(wait),
                _ => return,
            }
        }
    }
}

/// The actor's outputs.
pub(crate) struct Outputs {
    pub net: mpsc::Sender<NetNotice>,
    pub scope: watch::Sender<Arc<Scope>>,
    pub events: broadcast::Sender<Event>,
    pub jobs: JobTable,
    /// Set once the node must restart (it took over with a new log key).
    pub restart: watch::Sender<bool>,
}

pub(crate) struct StoreActor {
    core: Core,
    /// Live work: user operations, gossip, peer notes, ticks.
    inbox: mpsc::Receiver<StoreMsg>,
    /// Bulk work: catch-up and import batches, one per turn.
    bulk: mpsc::Receiver<StoreMsg>,
    /// A message taken off the inbox while grouping requests, handled next.
    deferred: Option<StoreMsg>,
    out: Outputs,
    /// The running long job (the views' rebuild): its progress row and
    /// who waits for it.
    reindex: Option<(Job, Vec<JobWaiter>)>,
    /// User operations waiting until this node's own log head is known
    /// (`None` once it is, or when there is no peer to ask).
    held: Option<Vec<StoreRequest>>,
    /// The node went on under a new log key: operations are refused until
    /// it restarts.
    restarting: bool,
}

impl StoreActor {
    pub(crate) fn new(
        core: Core,
        start: crate::witness::Start,
        inbox: mpsc::Receiver<StoreMsg>,
        bulk: mpsc::Receiver<StoreMsg>,
        out: Outputs,
    ) -> StoreActor {
        let held = (start != crate::witness::Start::Sure).then(Vec::new);
        let mut actor = StoreActor {
            core,
            inbox,
            bulk,
            deferred: None,
            out,
            reindex: None,
            held,
            restarting: false,
        };
        // A reindex a crash interrupted resumes as a job.
        if actor.core.rebuilding().is_some() {
            actor.reindex = Some((actor.out.jobs.start(JobKind::Reindex, 0), Vec::new()));
        }
        actor
    }

    /// Own writes may go on: publish this device's encryption key if its
    /// log lacks it (friends need it to add this person to circles).
    fn writes_open(&mut self) {
        if let Err(e) = self.core.ensure_encryption_key() {
            tracing::warn!(error = %e, "could not publish this device's encryption key");
        }
        self.carry_out_effects();
    }

    /// Runs until shutdown or until every sender is gone. Each turn:
    /// waiting live messages (for up to `MESSAGES_SLICE`), then one bulk
    /// message, then a slice of the long job if one runs, or else of the
    /// search index catching up; with nothing to do, it waits for either
    /// lane.
    pub(crate) fn run(mut self) {
        if self.held.is_none() {
            self.writes_open();
        }
        let mut bulk_open = true;
        loop {
            let until = std::time::Instant::now() + MESSAGES_SLICE;
            loop {
                let msg = match self.deferred.take() {
                    Some(m) => m,
                    None => match self.inbox.try_recv() {
                        Ok(m) => m,
                        Err(mpsc::error::TryRecvError::Empty) => break,
                        Err(mpsc::error::TryRecvError::Disconnected) => {
                            self.finish_reindex_now();
                            self.close();
                            return;
                        }
                    },
                };
                if let StoreMsg::Shutdown(reply) = msg {
                    self.close();
                    let _ = reply.send(());
                    return;
                }
                self.handle(msg);
                if std::time::Instant::now() >= until {
                    break;
                }
            }
            let mut worked = false;
            if bulk_open {
                match self.bulk.try_recv() {
                    Ok(msg) => {
                        self.handle(msg);
                        worked = true;
                    }
                    Err(mpsc::error::TryRecvError::Empty) => {}
                    Err(mpsc::error::TryRecvError::Disconnected) => bulk_open = false,
                }
            }
            if self.reindex.is_some() {
                self.reindex_slice();
                continue;
            }
            if self.core.search_behind() {
                self.search_catch_up_slice();
                continue;
            }
            if worked || self.deferred.is_some() {
                continue;
            }
            let (live, next) = futures::executor::block_on(async {
                if bulk_open {
                    tokio::select! {
                        biased;
                        m = self.inbox.recv() => (true, m),
                        m = self.bulk.recv() => (false, m),
                    }
                } else {
                    (true, self.inbox.recv().await)
                }
            });
            match next {
                None if live => {
                    self.close();
                    return;
                }
                None => bulk_open = false,
                Some(StoreMsg::Shutdown(reply)) => {
                    self.close();
                    let _ = reply.send(());
                    return;
                }
                Some(msg) => self.handle(msg),
            }
        }
    }

    fn handle(&mut self, msg: StoreMsg) {
        if self.restarting
            && let StoreMsg::Op(request) = msg
        {
            request.refuse(restarting);
            return;
        }
        let msg = match (msg, self.held.as_mut()) {
            // Own writes wait until the log's head is known (restore
            // without forking, PROTOCOL.md §11.6).
            (StoreMsg::Op(request), Some(held)) => {
                held.push(request);
                return;
            }
            (msg, _) => msg,
        };
        match msg {
            StoreMsg::OwnHeadUnsure => self.own_head_unsure(),
            StoreMsg::OwnHeadKnown => self.own_head_known(),
            StoreMsg::Op(request) => match request.info().commit {
                Commit::Alone => self.run_op(request),
                Commit::Grouped => self.run_group(request),
                Commit::Job => self.start_job(request),
            },
            StoreMsg::Ingest {
                checked,
                origin,
                then,
            } => self.handle_ingest(checked, origin, then),
            StoreMsg::Peer(note) => self.core.note_peer(&note),
            StoreMsg::Tick => self.core.search_tick(),
            StoreMsg::CommitSearch(reply) => {
                // During a rebuild searches see the index as it was; the
                // rebuild commits the new one when it ends.
                let wait = if self.core.rebuilding().is_some() {
                    None
                } else {
                    self.core.search_commit_for_reader().unwrap_or_else(|e| {
                        tracing::warn!(error = %e, "search commit failed");
                        None
                    })
                };
                let _ = reply.send(wait);
            }
            StoreMsg::Shutdown(reply) => {
                // Handled by `run`.
                let _ = reply.send(());
            }
        }
        self.adopt_rebuild();
        self.carry_out_effects();
    }

    /// The node could not confirm its own log's head (a restored backup):
    /// it goes on under a new key from its next start, and refuses own
    /// writes until then.
    fn own_head_unsure(&mut self) {
        match self.core.succeed() {
            Ok(_) => {
                self.restarting = true;
                for request in self.held.take().unwrap_or_default() {
                    request.refuse(restarting);
                }
                let _ = self.out.restart.send(true);
            }
            Err(e) => {
                // Writing under the old key could fork it: refuse own
                // writes until a restart tries again.
                tracing::error!(error = %e, "cannot go on under a new key; own writes are refused until the node restarts");
                self.restarting = true;
                for request in self.held.take().unwrap_or_default() {
                    request.refuse(restarting);
                }
            }
        }
    }

    /// The own log's head is confirmed: the writes held meanwhile run.
    fn own_head_known(&mut self) {
        if let Some(held) = self.held.take() {
            self.writes_open();
            if !held.is_empty() {
                tracing::debug!(ops = held.len(), "own writes go on");
            }
            for request in held {
                self.handle(StoreMsg::Op(request));
            }
        }
    }

    /// One operation on the core; what it changed (the replication set
    /// above all) is published before its caller hears back.
    fn run_op(&mut self, request: StoreRequest) {
        let info = request.info();
        tracing::trace!(op = info.name, "store op");
        let reply = request.run_deferred(&mut self.core);
        self.adopt_rebuild();
        self.carry_out_effects();
        reply();
    }

    /// Commits this request and those of the same operation already
    /// queued behind it with one flush.
    fn run_group(&mut self, first: StoreRequest) {
        let mut group = vec![first];
        while group.len() < GROUP_COMMIT_MAX {
            match self.inbox.try_recv() {
                Ok(StoreMsg::Op(next)) if next.same_operation(&group[0]) => group.push(next),
                Ok(other) => {
                    self.deferred = Some(other);
                    break;
                }
                Err(_) => break,
            }
        }
        tracing::trace!(
            op = group[0].info().name,
            requests = group.len(),
            "store group"
        );
        let reply = StoreRequest::run_group(group, &mut self.core);
        self.adopt_rebuild();
        self.carry_out_effects();
        reply();
    }

    fn handle_ingest(&mut self, checked: Checked, origin: Origin, then: Then) {
        match then {
            Then::Ingest(reply) => {
                let outcome = checked.ingest_with(|verified| self.core.ingest_verified(verified));
                for entry in &outcome.appended {
                    let _ = self.out.events.send(Event::Entry {
                        entry: Box::new(entry.clone()),
                        origin,
                    });
                }
                // A certificate or vouch may have widened the replication
                // set: published before the next import batch is planned.
                self.carry_out_effects();
                let _ = reply.send(outcome);
            }
            Then::Detached(reply) => {
                if let Some(failed) = &checked.failed {
                    let (entry, cause) = &**failed;
                    tracing::warn!(
                        author = %entry.author(),
                        seq = entry.seq(),
                        error = %cause,
                        "refused an entry a peer sent for a wiki change's dependencies"
                    );
                }
                let outcome = self.core.ingest_detached(checked.verified);
                let _ = reply.send(outcome);
            }
            Then::Offered(reply) => {
                let outcome = self.core.ingest_offered(checked.verified);
                self.carry_out_effects();
                let _ = reply.send(outcome);
            }
        }
    }

    /// Starts the long job, or, if it runs, answers `request` when it ends.
    fn start_job(&mut self, request: StoreRequest) {
        if let Some((_, waiting)) = &mut self.reindex {
            waiting.push(request.job_waiter());
            return;
        }
        let name = request.info().name;
        if let Some(waiter) = request.start_job(&mut self.core) {
            let job = self.out.jobs.start(JobKind::Reindex, 0);
            self.reindex = Some((job, vec![waiter]));
            tracing::info!(op = name, "long job started");
        }
    }

    fn reindex_slice(&mut self) {
        let started = std::time::Instant::now();
        let what = self.core.rebuilding().map(|r| r.progress().2);
        let result = self.core.rebuild_step(JOB_SLICE);
        let stepped = started.elapsed();
        if let (Some((job, _)), Some(rebuild)) = (&self.reindex, self.core.rebuilding()) {
            let (done, total, what) = rebuild.progress();
            job.progress(done, total, what);
        }
        match result {
            Ok(None) => {}
            Ok(Some(report)) => {
                tracing::info!(entries = report.entries, "reindex finished");
                self.answer_reindex(&Ok(report));
            }
            Err(e) => {
                tracing::error!(error = %e, "reindex failed; it starts over at the next start");
                self.answer_reindex(&Err(e));
            }
        }
        self.adopt_rebuild();
        self.carry_out_effects();
        // A slice far past its budget holds every waiting message: say
        // which step did (`RUST_LOG=kith_node=debug`).
        if started.elapsed() > 4 * JOB_SLICE {
            tracing::debug!(
                step_ms = stepped.as_millis() as u64,
                total_ms = started.elapsed().as_millis() as u64,
                phase = what.unwrap_or("finishing"),
                "a reindex slice ran long"
            );
        }
    }

    /// Indexes a slice of what the search index is behind on (after a
    /// crash, or a deleted or replaced index), between other work.
    fn search_catch_up_slice(&mut self) {
        if let Err(e) = self.core.search_catch_up_step(JOB_SLICE) {
            tracing::error!(error = %e, "the search index stopped catching up; `kith reindex` rebuilds it");
        }
    }

    /// A rebuild `Core` started by itself (a revocation that dropped
    /// stored entries) runs as a job in slices like a requested reindex.
    fn adopt_rebuild(&mut self) {
        if self.reindex.is_none() && self.core.rebuilding().is_some() {
            tracing::info!("rebuilding the views");
            self.reindex = Some((self.out.jobs.start(JobKind::Reindex, 0), Vec::new()));
        }
    }

    fn answer_reindex(&mut self, result: &Result<ReindexReport>) {
        if let Some((_job, waiting)) = self.reindex.take() {
            for waiter in waiting {
                waiter(result);
            }
        }
    }

    /// Every handle is gone while a reindex runs: finish it, so the store
    /// is whole when the process exits.
    fn finish_reindex_now(&mut self) {
        let result = self.core.finish_pending_rebuild();
        self.answer_reindex(&result);
    }

    /// Carries out what `Core` put in its outbox.
    fn carry_out_effects(&mut self) {
        for effect in self.core.drain_effects() {
            match effect {
                Effect::Appended(entries) => {
                    for entry in &entries {
                        let _ = self.out.events.send(Event::Entry {
                            entry: Box::new(entry.clone()),
                            origin: Origin::Local,
                        });
                    }
                    // Blocks only if the network loop is far behind; it
                    // never waits for this thread, so this cannot deadlock.
                    let _ = self.out.net.blocking_send(NetNotice::Publish(entries));
                }
                Effect::Scope(scope) => {
                    self.out.scope.send_replace(Arc::new(scope));
                }
                Effect::Dial { author, addrs } => {
                    let _ = self
                        .out
                        .net
                        .blocking_send(NetNotice::Dial { author, addrs });
                }
            }
        }
    }

    fn close(&mut self) {
        if self.reindex.is_some() {
            tracing::warn!("stopping during a reindex: it starts over at the next start");
            self.answer_reindex(&Err(Error::NodeStopped));
        }
        if let Err(e) = self.core.close() {
            tracing::error!(error = %e, "flushing the store at shutdown failed");
        }
    }
}

#[cfg(test)]
mod tests;
