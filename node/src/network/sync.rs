//! Catch-up over `/kith/sync/1`: the sans-IO replicator decides what to ask
//! and what to answer; this file carries its outputs out. Fetched entries
//! go through the verification pool to the store actor, and the
//! replicator hears how that went when the outcome comes back.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use kith_protocol::sync::{Output, Request, Response};
use kith_protocol::{AuthorId, Entry, Head, ValidationError};
use libp2p::PeerId;
use libp2p::gossipsub::MessageId;
use libp2p::request_response;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::Network;
use crate::core::IngestOutcome;
use crate::handle::{Event, Origin};
use crate::store;
use crate::verify_pool::{Job, Then};

/// What an ingest on its way was for.
pub(crate) enum Waiting {
    Gossip {
        source: PeerId,
        id: MessageId,
        author: AuthorId,
        head: Head,
    },
    Sync {
        peer: PeerId,
        author: AuthorId,
    },
    Offered {
        peer: PeerId,
    },
    Changes {
        peer: PeerId,
    },
}

/// An ingest on its way through verification and the store: resolves to
/// what it was for and the store's outcome.
pub(crate) struct Ingesting {
    waiting: Option<Waiting>,
    outcome: oneshot::Receiver<IngestOutcome>,
}

impl Ingesting {
    pub(super) fn new(waiting: Waiting, outcome: oneshot::Receiver<IngestOutcome>) -> Self {
        Ingesting {
            waiting: Some(waiting),
            outcome,
        }
    }
}

impl Future for Ingesting {
    type Output = (Waiting, Result<IngestOutcome, oneshot::error::RecvError>);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match Pin::new(&mut self.outcome).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(result) => Poll::Ready((
                self.waiting.take().expect("an ingest completes once"),
                result,
            )),
        }
    }
}

/// Most bytes of sync answers one peer may have on their way at once, and
/// all peers together. A peer that asks faster than it reads (or never
/// reads) gets small batches beyond that, so its requests cannot pile up
/// answers in memory; an honest peer's catch-up (8 fetches of 1 MiB, read
/// as they come) stays within it.
const SERVING_PER_PEER: usize = 8 << 20;
const SERVING_TOTAL: usize = 16 << 20;
/// The batch a peer over its budget still gets (at least one entry).
const SERVING_SMALL: usize = 64 << 10;

/// Sync answers on their way to peers, by request.
#[derive(Default)]
pub(crate) struct Serving {
    answers: HashMap<request_response::InboundRequestId, (PeerId, usize)>,
    per_peer: HashMap<PeerId, usize>,
    total: usize,
}

impl Serving {
    /// `request` with its batch size cut to what the budgets allow.
    fn fit(&self, peer: &PeerId, request: Request) -> Request {
        let Request::Fetch {
            author,
            after_seq,
            max_bytes,
        } = request
        else {
            return request;
        };
        let mine = self.per_peer.get(peer).copied().unwrap_or(0);
        let room = SERVING_PER_PEER
            .saturating_sub(mine)
            .min(SERVING_TOTAL.saturating_sub(self.total))
            .max(SERVING_SMALL);
        Request::Fetch {
            author,
            after_seq,
            max_bytes: max_bytes.min(u32::try_from(room).unwrap_or(u32::MAX)),
        }
    }

    fn size_of(response: &Response) -> usize {
        match response {
            Response::Entries { entries, .. } | Response::Changes { entries } => entries.len(),
            Response::Frontier(items) => items.len() * 80,
        }
    }

    fn started(&mut self, id: request_response::InboundRequestId, peer: PeerId, size: usize) {
        self.answers.insert(id, (peer, size));
        *self.per_peer.entry(peer).or_default() += size;
        self.total += size;
    }

    fn done(&mut self, id: request_response::InboundRequestId) {
        let Some((peer, size)) = self.answers.remove(&id) else {
            return;
        };
        self.total -= size;
        if let Some(mine) = self.per_peer.get_mut(&peer) {
            *mine -= size;
            if *mine == 0 {
                self.per_peer.remove(&peer);
            }
        }
    }
}

impl Network {
    pub(super) fn handle_sync(
        &mut self,
        event: request_response::Event<kith_protocol::sync::Request, kith_protocol::sync::Response>,
    ) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request_id,
                    request,
                    channel,
                } => {
                    if !self.allowed(&peer) {
                        return; // Dropping the channel closes the stream unanswered.
                    }
                    if let kith_protocol::sync::Request::Frontier(items) = &request {
                        self.note_own_head(items);
                    }
                    let request = self.serving.fit(&peer, request);
                    let (response, outputs) =
                        self.replicator.handle_request(peer, request, &self.reader);
                    let size = Serving::size_of(&response);
                    if self
                        .swarm
                        .behaviour_mut()
                        .sync
                        .send_response(channel, response)
                        .is_err()
                    {
                        tracing::debug!(%peer, "sync response not sent: stream closed");
                    } else {
                        self.serving.started(request_id, peer, size);
                    }
                    self.run_outputs(outputs);
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    let Some((_, token)) = self.pending.remove(&request_id) else {
                        return;
                    };
                    // Only a trusted peer tells this node its own head.
                    if let kith_protocol::sync::Response::Frontier(items) = &response
                        && self.allowed(&peer)
                    {
                        self.note_own_head(items);
                    }
                    let outputs =
                        self.replicator
                            .handle_response(peer, token, response, &self.reader);
                    self.run_outputs(outputs);
                }
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                tracing::debug!(%peer, %error, "sync request failed");
                if let Some((_, token)) = self.pending.remove(&request_id) {
                    let outputs = self.replicator.request_failed(&peer, token, &self.reader);
                    self.run_outputs(outputs);
                }
            }
            request_response::Event::InboundFailure {
                peer,
                error,
                request_id,
                ..
            } => {
                tracing::debug!(%peer, %error, "inbound sync request failed");
                self.serving.done(request_id);
            }
            request_response::Event::ResponseSent { request_id, .. } => {
                self.serving.done(request_id);
            }
        }
    }

    /// Carries out what the replicator asked for. Entries to store go to
    /// the verification pool; the replicator hears back in `sync_outcome`.
    pub(super) fn run_outputs(&mut self, outputs: Vec<Output<PeerId>>) {
        let mut work: VecDeque<Output<PeerId>> = outputs.into();
        while let Some(output) = work.pop_front() {
            match output {
                Output::Send {
                    peer,
                    token,
                    request,
                } => {
                    if self.connected.contains_key(&peer) || self.may_ask(&peer, &request) {
                        let id = self.swarm.behaviour_mut().sync.send_request(&peer, request);
                        self.pending.insert(id, (peer, token));
                    } else {
                        work.extend(self.replicator.request_failed(&peer, token, &self.reader));
                    }
                }
                Output::Ingest {
                    peer,
                    author,
                    entries,
                } => {
                    let (reply, outcome) = oneshot::channel();
                    let job = Job {
                        entries,
                        origin: Origin::Sync,
                        then: Then::Ingest(reply),
                    };
                    if self.wiring.verify.try_submit(job).is_err() {
                        tracing::debug!(%peer, %author, "verification queue full; the batch is fetched again later");
                        work.extend(self.replicator.ingested(&peer, author, false, &self.reader));
                        continue;
                    }
                    self.ingesting
                        .push(Ingesting::new(Waiting::Sync { peer, author }, outcome));
                }
                Output::IngestChanges { peer, entries } => {
                    self.verify_then(entries, Then::Detached, Waiting::Changes { peer });
                }
                Output::Offered { peer, entries } => {
                    self.verify_then(entries, Then::Offered, Waiting::Offered { peer });
                }
            }
        }
    }

    /// Sends entries that are not a log's next batch to the verification
    /// pool; if its queue is full they are dropped (a later exchange asks
    /// again).
    fn verify_then(
        &mut self,
        entries: Vec<Entry>,
        then: fn(oneshot::Sender<IngestOutcome>) -> Then,
        waiting: Waiting,
    ) {
        let (reply, outcome) = oneshot::channel();
        let job = Job {
            entries,
            origin: Origin::Sync,
            then: then(reply),
        };
        if self.wiring.verify.try_submit(job).is_ok() {
            self.ingesting.push(Ingesting::new(waiting, outcome));
        }
    }

    /// A fetched batch was verified and stored (or not).
    pub(super) fn sync_outcome(
        &mut self,
        peer: PeerId,
        author: AuthorId,
        mut outcome: IngestOutcome,
    ) {
        let ok = match outcome.error.take() {
            None => true,
            Some(store::Error::Invalid(ValidationError::Fork(proof))) => {
                tracing::warn!(author = %proof.author(), "fork detected during sync");
                let _ = self.wiring.events.send(Event::Fork(proof.author()));
                false
            }
            Some(e) => {
                tracing::warn!(%peer, %author, error = %e, "sync batch rejected");
                false
            }
        };
        if !outcome.appended.is_empty() {
            self.touch_peer(&peer, true, true);
            self.announce.insert(author);
        }
        let outputs = self.replicator.ingested(&peer, author, ok, &self.reader);
        self.run_outputs(outputs);
        self.ask_missing(peer, outcome.missing);
    }

    /// Wiki dependencies fetched from `peer` were checked and kept.
    pub(super) fn changes_outcome(&mut self, peer: PeerId, outcome: IngestOutcome) {
        tracing::debug!(%peer, kept = outcome.appended.len(), "stored wiki dependencies");
        self.ask_missing(peer, outcome.missing);
    }

    /// Asks `peer` (which sent us a change that waits for dependencies) for
    /// the wiki changes we lack; each hash at most once per minute.
    pub(super) fn ask_missing(&mut self, peer: PeerId, missing: BTreeSet<[u8; 32]>) {
        if missing.is_empty() {
            return;
        }
        let now = Instant::now();
        self.asked
            .retain(|_, t| now.duration_since(*t) < Duration::from_secs(60));
        let hashes: Vec<[u8; 32]> = missing
            .into_iter()
            .filter(|h| !self.asked.contains_key(h))
            .collect();
        if hashes.is_empty() {
            return;
        }
        for h in &hashes {
            self.asked.insert(*h, now);
        }
        let outputs = self.replicator.want_changes(peer, hashes);
        self.run_outputs(outputs);
    }
}
