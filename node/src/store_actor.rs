//! The store actor: one thread that owns [`Core`], and with it every write
//! to the store, the wiki and the search index.
//!
//! Its inbox carries user operations, verified entries from the pool, peer
//! notes from the network and ticks. Consecutive posts are committed
//! together (one flush). A long job (a reindex) runs in slices of
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
use crate::ops::{Respond, StoreRequest};
use crate::store::{ReindexReport, Scope};
use crate::verify_pool::{Checked, Then};

/// Capacity of the store actor's inbox.
pub const STORE_INBOX: usize = 1_024;
/// Most posts committed with one flush.
pub const GROUP_COMMIT_MAX: usize = 256;
/// Work on a long job before the inbox is looked at again.
pub const JOB_SLICE: Duration = Duration::from_millis(20);
/// Most messages handled between two slices of a long job.
pub const MESSAGES_PER_SLICE: usize = 64;

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
    /// Flush everything and stop.
    Shutdown(oneshot::Sender<()>),
}

/// The actor's outputs.
pub(crate) struct Outputs {
    pub net: mpsc::Sender<NetNotice>,
    pub scope: watch::Sender<Arc<Scope>>,
    pub events: broadcast::Sender<Event>,
    pub jobs: JobTable,
}

enum Flow {
    Continue,
    Stop(Option<oneshot::Sender<()>>),
}

pub(crate) struct StoreActor {
    core: Core,
    inbox: mpsc::Receiver<StoreMsg>,
    /// A message taken off the inbox while grouping posts, handled next.
    deferred: Option<StoreMsg>,
    out: Outputs,
    /// The running reindex: its progress row and who waits for it.
    reindex: Option<(Job, Vec<Respond<ReindexReport>>)>,
}

impl StoreActor {
    pub(crate) fn new(core: Core, inbox: mpsc::Receiver<StoreMsg>, out: Outputs) -> StoreActor {
        let mut actor = StoreActor {
            core,
            inbox,
            deferred: None,
            out,
            reindex: None,
        };
        // A reindex a crash interrupted resumes as a job.
        if actor.core.rebuilding().is_some() {
            actor.reindex = Some((actor.out.jobs.start(JobKind::Reindex, 0), Vec::new()));
        }
        actor
    }

    /// Runs until shutdown or until every sender is gone.
    pub(crate) fn run(mut self) {
        loop {
            if self.reindex.is_some() {
                match self.serve_then_step() {
                    Flow::Continue => continue,
                    Flow::Stop(reply) => {
                        self.close();
                        if let Some(reply) = reply {
                            let _ = reply.send(());
                        }
                        return;
                    }
                }
            }
            let next = self.deferred.take().or_else(|| self.inbox.blocking_recv());
            match next {
                None => {
                    self.close();
                    return;
                }
                Some(StoreMsg::Shutdown(reply)) => {
                    self.close();
                    let _ = reply.send(());
                    return;
                }
                Some(msg) => self.handle(msg),
            }
        }
    }

    /// With a job running: handles what is waiting (a bounded number of
    /// messages), then one slice of the job.
    fn serve_then_step(&mut self) -> Flow {
        for _ in 0..MESSAGES_PER_SLICE {
            let msg = match self.deferred.take() {
                Some(m) => m,
                None => match self.inbox.try_recv() {
                    Ok(m) => m,
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => {
                        self.finish_reindex_now();
                        return Flow::Stop(None);
                    }
                },
            };
            if let StoreMsg::Shutdown(reply) = msg {
                return Flow::Stop(Some(reply));
            }
            self.handle(msg);
        }
        self.reindex_slice();
        Flow::Continue
    }

    fn handle(&mut self, msg: StoreMsg) {
        match msg {
            StoreMsg::Op(StoreRequest::Post(post, reply)) => self.handle_posts(post, reply),
            StoreMsg::Op(StoreRequest::Reindex(_, reply)) => self.start_reindex(reply),
            StoreMsg::Op(request) => {
                let info = request.info();
                tracing::trace!(op = info.name, "store op");
                request.run(&mut self.core);
            }
            StoreMsg::Ingest {
                checked,
                origin,
                then,
            } => self.handle_ingest(checked, origin, then),
            StoreMsg::Peer(note) => self.core.note_peer(&note),
            StoreMsg::Tick => self.core.search_tick(),
            StoreMsg::Shutdown(reply) => {
                // Handled by `run`.
                let _ = reply.send(());
            }
        }
        self.carry_out_effects();
    }

    /// Commits this post and any others already queued with one flush.
    fn handle_posts(&mut self, first: crate::ops::Post, reply: Respond<crate::model::EntryView>) {
        let mut posts = vec![first];
        let mut replies = vec![reply];
        while posts.len() < GROUP_COMMIT_MAX {
            match self.inbox.try_recv() {
                Ok(StoreMsg::Op(StoreRequest::Post(post, reply))) => {
                    posts.push(post);
                    replies.push(reply);
                }
                Ok(other) => {
                    self.deferred = Some(other);
                    break;
                }
                Err(_) => break,
            }
        }
        for (result, reply) in self.core.post_many(&posts).into_iter().zip(replies) {
            let _ = reply.send(result);
        }
    }

    fn handle_ingest(&mut self, checked: Checked, origin: Origin, then: Then) {
        match then {
            Then::Ingest(reply) => {
                let mut outcome = self.core.ingest_verified(checked.verified);
                if outcome.error.is_none()
                    && let Some(failed) = checked.failed
                {
                    outcome.error = Some(crate::store::Error::Invalid(failed.1));
                }
                for entry in &outcome.appended {
                    let _ = self.out.events.send(Event::Entry {
                        entry: Box::new(entry.clone()),
                        origin,
                    });
                }
                let _ = reply.send(outcome);
            }
            Then::Detached(reply) => {
                let outcome = self.core.ingest_detached(checked.verified);
                let _ = reply.send(outcome);
            }
        }
    }

    fn start_reindex(&mut self, reply: Respond<ReindexReport>) {
        if let Some((_, waiting)) = &mut self.reindex {
            // Already running: answer when it ends.
            waiting.push(reply);
            return;
        }
        match self.core.start_rebuild() {
            Ok(()) => {
                let job = self.out.jobs.start(JobKind::Reindex, 0);
                self.reindex = Some((job, vec![reply]));
                tracing::info!("reindex started");
            }
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    fn reindex_slice(&mut self) {
        let result = self.core.rebuild_step(JOB_SLICE);
        if let (Some((job, _)), Some(rebuild)) = (&self.reindex, self.core.rebuilding()) {
            let (done, total, what) = rebuild.progress();
            job.progress(done, total, what);
        }
        match result {
            Ok(None) => {}
            Ok(Some(report)) => {
                tracing::info!(entries = report.entries, "reindex finished");
                self.answer_reindex(|| Ok(report.clone()));
            }
            Err(e) => {
                tracing::error!(error = %e, "reindex failed; it starts over at the next start");
                let (kind, message) = (e.kind(), e.to_string());
                self.answer_reindex(|| {
                    Err(Error::Remote {
                        kind,
                        message: message.clone(),
                    })
                });
            }
        }
        self.carry_out_effects();
        self.core.search_tick();
    }

    fn answer_reindex(&mut self, result: impl Fn() -> Result<ReindexReport>) {
        if let Some((_job, waiting)) = self.reindex.take() {
            for reply in waiting {
                let _ = reply.send(result());
            }
        }
    }

    /// Every handle is gone while a reindex runs: finish it, so the store
    /// is whole when the process exits.
    fn finish_reindex_now(&mut self) {
        let result = self.core.finish_pending_rebuild();
        self.answer_reindex(|| match &result {
            Ok(r) => Ok(r.clone()),
            Err(e) => Err(Error::Remote {
                kind: e.kind(),
                message: e.to_string(),
            }),
        });
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
            self.answer_reindex(|| Err(Error::NodeStopped));
        }
        if let Err(e) = self.core.close() {
            tracing::error!(error = %e, "flushing the store at shutdown failed");
        }
    }
}
