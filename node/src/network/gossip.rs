//! Live entries by gossip. Each message is checked here for what is cheap
//! (sender trusted, rate, decoding, topic, author replicated, not already
//! stored), then verified on the pool and stored by the store actor; the
//! outcome decides its fate in gossipsub: Accept (forwarded), Reject
//! (invalid: the sender is penalized) or Ignore (duplicate, gap, not ours).

use std::time::Duration;

use kith_protocol::{Entry, Head, ValidationError};
use libp2p::PeerId;
use libp2p::gossipsub::{self, MessageAcceptance, MessageId};
use tokio::time::Instant;

use super::sync::{Ingesting, Waiting};
use super::{MAX_GOSSIP_IN_FLIGHT, Network};
use crate::core::IngestOutcome;
use crate::handle::{Event, Origin};
use crate::store;
use crate::swarm;
use crate::verify_pool::{Job, Then};

impl Network {
    pub(super) fn handle_gossip(&mut self, event: gossipsub::Event) {
        match event {
            gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            } => {
                if let Some(verdict) = self.on_gossip(propagation_source, &message_id, &message) {
                    self.report(&message_id, &propagation_source, verdict);
                }
            }
            gossipsub::Event::Subscribed { peer_id, .. } => {
                // Anything published before the peer subscribed reaches it
                // through a frontier exchange.
                if self.connected.contains_key(&peer_id) {
                    self.resync_soon.insert(peer_id);
                }
            }
            other => tracing::trace!(event = ?other, "gossipsub event"),
        }
    }

    fn report(&mut self, id: &MessageId, source: &PeerId, verdict: MessageAcceptance) {
        match verdict {
            MessageAcceptance::Accept => self.gossip_counts.accepted += 1,
            MessageAcceptance::Ignore => self.gossip_counts.ignored += 1,
            MessageAcceptance::Reject => self.gossip_counts.rejected += 1,
        }
        self.swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(id, source, verdict);
    }

    fn over_rate(&mut self, peer: PeerId) -> bool {
        let now = Instant::now();
        let window = self.gossip_window.entry(peer).or_insert((now, 0));
        if now.duration_since(window.0) >= Duration::from_secs(1) {
            *window = (now, 0);
        }
        window.1 += 1;
        window.1 > self.config.gossip_rate_per_peer
    }

    /// The cheap checks; an entry that passes goes to the verification
    /// pool and its verdict comes later (`None` here).
    fn on_gossip(
        &mut self,
        source: PeerId,
        id: &MessageId,
        message: &gossipsub::Message,
    ) -> Option<MessageAcceptance> {
        if !self.allowed(&source) {
            return Some(MessageAcceptance::Ignore);
        }
        if self.over_rate(source) {
            tracing::debug!(peer = %source, "gossip rate limit exceeded; ignoring");
            return Some(MessageAcceptance::Ignore);
        }
        let entry = match Entry::decode(&message.data, &self.config.limits) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(peer = %source, error = %e, "rejected malformed gossip");
                return Some(MessageAcceptance::Reject);
            }
        };
        if !swarm::is_entries_topic(&message.topic) {
            tracing::warn!(peer = %source, "rejected gossip on the wrong topic");
            return Some(MessageAcceptance::Reject);
        }
        if !self.scope.contains(&entry.author()) {
            return Some(MessageAcceptance::Ignore);
        }
        self.replicator.note_seen(entry.author(), entry.seq());
        // A replay of a stored entry needs no signature check.
        if matches!(self.reader.store().entry_at(&entry.author(), entry.seq()), Ok(Some(stored)) if stored.id() == entry.id())
        {
            return Some(MessageAcceptance::Ignore);
        }
        if self.gossip_in_flight >= MAX_GOSSIP_IN_FLIGHT {
            tracing::debug!("too much gossip in flight; ignoring (catch-up brings it)");
            return Some(MessageAcceptance::Ignore);
        }
        let head = Head {
            seq: entry.seq(),
            id: entry.id(),
        };
        let author = entry.author();
        let (reply, outcome) = tokio::sync::oneshot::channel();
        let job = Job {
            entries: vec![entry],
            origin: Origin::Gossip,
            then: Then::Ingest(reply),
        };
        if self.wiring.verify.try_submit(job).is_err() {
            tracing::debug!("verification queue full; ignoring gossip (catch-up brings it)");
            return Some(MessageAcceptance::Ignore);
        }
        self.gossip_in_flight += 1;
        self.ingesting.push(Ingesting::new(
            Waiting::Gossip {
                source,
                id: id.clone(),
                author,
                head,
            },
            outcome,
        ));
        None
    }

    /// What verification and the store made of a gossiped entry.
    pub(super) fn gossip_outcome(
        &mut self,
        source: PeerId,
        id: MessageId,
        author: kith_protocol::AuthorId,
        head: Head,
        mut outcome: IngestOutcome,
    ) {
        self.ask_missing(source, std::mem::take(&mut outcome.missing));
        let verdict = match outcome.error.take() {
            None if outcome.appended.is_empty() => MessageAcceptance::Ignore,
            None => MessageAcceptance::Accept,
            Some(store::Error::Invalid(e)) => match e {
                ValidationError::SeqGap { .. } => {
                    let outputs = self.replicator.gap(source, author, head, &self.reader);
                    self.run_outputs(outputs);
                    MessageAcceptance::Ignore
                }
                ValidationError::Fork(proof) => {
                    tracing::warn!(author = %proof.author(), seq = proof.seq(), "fork detected; holding this author's log");
                    let _ = self.wiring.events.send(Event::Fork(proof.author()));
                    MessageAcceptance::Ignore
                }
                // Validly signed by its author, so the forwarder is not at fault.
                ValidationError::PrevMismatch { .. } => MessageAcceptance::Ignore,
                other => {
                    tracing::warn!(peer = %source, error = %other, "rejected invalid gossiped entry");
                    MessageAcceptance::Reject
                }
            },
            Some(other) => {
                tracing::debug!(peer = %source, error = %other, "ignored gossiped entry");
                MessageAcceptance::Ignore
            }
        };
        self.report(&id, &source, verdict);
    }
}
