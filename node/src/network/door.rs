//! The recovery door (PROTOCOL.md §11.5, SECURITY.md): a fresh install
//! that asked for recovery knows nobody, and the contacts who approve dial
//! it at the addresses its code carries. While the recovery is pending the
//! gate (`crate::gate`) lets in a few peers it does not know yet; this
//! module decides what they may do. Such a peer is only *asked*: for its
//! frontier and for the logs this node replicates (the lost key's, which
//! verify by signature and chain whoever sends them). It is answered
//! nothing, gossips nothing, and the node serves no DHT and relays for
//! nobody while the door is open. Once the lost key's log names the peer
//! among its recovery contacts it is a trusted peer and is connected
//! again as one; a peer still unknown after its probation is shut out.

use std::collections::HashMap;

use kith_protocol::sync::{FrontierItem, Logs, Request};
use kith_protocol::{AuthorId, Entry, EntryId, Head};
use libp2p::{Multiaddr, PeerId, kad};
use tokio::time::Instant;

use super::{Network, is_relayed};
use crate::model::Reachability;
use crate::reader::Reader;

/// The gossipsub application score of a peer let in by a door (this one or
/// a device link code's): far below the graylist threshold, so its
/// messages are ignored, it is never in the mesh, and nothing is published
/// or gossiped to it (a blacklist only drops what it sends).
pub(super) const LET_IN_SCORE: f64 = -10_000.0;

/// Peers let in at once while a recovery is pending.
pub(super) const DOOR_PEERS: usize = 8;

/// Peers let in through the door, and where they said they listen.
#[derive(Default)]
pub(super) struct Probation {
    peers: HashMap<PeerId, Admitted>,
    /// The lost identity key while a recovery is pending here (the door
    /// is open).
    lost: Option<AuthorId>,
    /// The keys of the person being recovered: all a frontier sent to a
    /// peer let in names (the rest of the replication set is not its
    /// business).
    lost_keys: Vec<AuthorId>,
}

struct Admitted {
    since: Instant,
    /// Their listen addresses (identify): where to dial them once trusted.
    listen: Vec<Multiaddr>,
}

impl Probation {
    pub(super) fn contains(&self, peer: &PeerId) -> bool {
        self.peers.contains_key(peer)
    }

    pub(super) fn len(&self) -> usize {
        self.peers.len()
    }

    pub(super) fn recovering(&self) -> Option<AuthorId> {
        self.lost
    }
}

/// Whether this node offers friends relay slots: if the user lets it,
/// never while the recovery door lets in peers not trusted yet, and then
/// when AutoNAT finds it public or, before AutoNAT knows, a friend reached
/// it directly.
pub(super) fn offers_relay(
    allowed: bool,
    door_open: bool,
    nat: &Reachability,
    reached_directly: bool,
) -> bool {
    allowed
        && !door_open
        && match nat {
            Reachability::Public(_) => true,
            Reachability::Private => false,
            Reachability::Unknown => reached_directly,
        }
}

impl Network {
    /// After each new replication set: the door is open while a recovery is
    /// pending here. Peers let in that the set now names are connected again
    /// as trusted peers (gossip and every protocol start afresh); when the
    /// door shuts, the others are closed.
    pub(super) fn update_door(&mut self, grew: bool) {
        let pending = match crate::core::recovery::pending_recovery(self.reader.store()) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "cannot tell whether a recovery is pending");
                None
            }
        };
        let open = pending.is_some();
        self.probation.lost = pending;
        self.probation.lost_keys = match (pending, self.reader.store().registry()) {
            (Some(old), Ok(registry)) => registry
                .person_of(&old)
                .keys
                .iter()
                .map(|k| k.key)
                .collect(),
            _ => Vec::new(),
        };
        let trusted: Vec<PeerId> = self
            .probation
            .peers
            .keys()
            .filter(|p| self.allowed(p))
            .copied()
            .collect();
        for peer in trusted {
            self.promote(peer);
        }
        if !open {
            let left: Vec<PeerId> = self.probation.peers.keys().copied().collect();
            for peer in left {
                self.shut_out(peer, "the recovery holds");
            }
        } else if grew {
            // The lost key's log named more keys of the person: ask for them.
            let left: Vec<PeerId> = self.probation.peers.keys().copied().collect();
            for peer in left {
                let asking = Asking {
                    reader: &self.reader,
                    keys: &self.probation.lost_keys,
                };
                let outputs = self.replicator.resync(peer, &asking);
                self.run_outputs(outputs);
            }
        }
        if open != self.swarm.behaviour().allow.door.is_open() {
            if let Some(old) = pending {
                tracing::info!(%old, "recovery pending: letting in the contacts who approve");
            } else {
                tracing::info!("no recovery pending: the door is shut");
            }
            let behaviour = self.swarm.behaviour_mut();
            behaviour
                .allow
                .door
                .set_max(if open { DOOR_PEERS } else { 0 });
            // No DHT answers to peers let in (nor to anyone meanwhile).
            behaviour.kad.set_mode(Some(if open {
                kad::Mode::Client
            } else {
                kad::Mode::Server
            }));
            self.offer_relay();
        }
    }

    pub(super) fn door_open(&self) -> bool {
        self.swarm.behaviour().allow.door.is_open()
    }

    /// A peer came in through the door: ask it what it holds of the logs
    /// this node replicates.
    pub(super) fn on_probation_connected(&mut self, peer: PeerId) {
        if self.probation.contains(&peer) {
            return;
        }
        tracing::info!(%peer, "a peer with the recovery code connected: asking it for the lost key's log");
        self.probation.peers.insert(
            peer,
            Admitted {
                since: Instant::now(),
                listen: Vec::new(),
            },
        );
        self.keep_out_of_gossip(&peer);
        let asking = Asking {
            reader: &self.reader,
            keys: &self.probation.lost_keys,
        };
        let outputs = self.replicator.connected(peer, &asking);
        self.run_outputs(outputs);
    }

    /// Nothing goes to `peer` by gossip, and nothing from it is taken.
    pub(super) fn keep_out_of_gossip(&mut self, peer: &PeerId) {
        let gossipsub = &mut self.swarm.behaviour_mut().gossipsub;
        gossipsub.blacklist_peer(peer);
        gossipsub.set_application_score(peer, LET_IN_SCORE);
    }

    pub(super) fn on_probation_listen_addrs(&mut self, peer: &PeerId, addrs: &[Multiaddr]) {
        if let Some(admitted) = self.probation.peers.get_mut(peer) {
            admitted.listen = addrs
                .iter()
                .filter(|a| !is_relayed(a) && !super::is_unspecified(a))
                .take(crate::invite::MAX_ADDRS)
                .cloned()
                .collect();
        }
    }

    /// What this node may ask a peer let in: its frontier and the logs we
    /// replicate, nothing that sends it entries (offers) or asks for
    /// entries of authors we do not replicate.
    pub(super) fn may_ask(&self, peer: &PeerId, request: &Request) -> bool {
        self.probation.contains(peer)
            && matches!(request, Request::Frontier(_) | Request::Fetch { .. })
    }

    /// The last connection of a peer let in closed.
    pub(super) fn probation_closed(&mut self, peer: &PeerId) {
        if self.probation.peers.remove(peer).is_some() {
            self.forget_probation(peer);
        }
    }

    /// Peers let in whose probation ran out without the lost key's log
    /// naming them: closed.
    pub(super) fn expire_probation(&mut self) {
        let limit = self.config.recovery_probation;
        let late: Vec<PeerId> = self
            .probation
            .peers
            .iter()
            .filter(|(_, a)| a.since.elapsed() >= limit)
            .map(|(p, _)| *p)
            .collect();
        for peer in late {
            self.shut_out(peer, "not a recovery contact of the lost key");
        }
    }

    fn shut_out(&mut self, peer: PeerId, why: &str) {
        tracing::info!(%peer, why, "closing a connection let in for the recovery");
        self.probation.peers.remove(&peer);
        self.forget_probation(&peer);
        self.swarm.behaviour_mut().allow.door.refuse(peer);
        let _ = self.swarm.disconnect_peer_id(peer);
    }

    /// The lost key's log names the peer: connect again as trusted peers,
    /// where it listens (both sides redial).
    fn promote(&mut self, peer: PeerId) {
        let Some(admitted) = self.probation.peers.remove(&peer) else {
            return;
        };
        tracing::info!(%peer, "a peer let in for the recovery is a recovery contact: connecting again as a trusted peer");
        self.forget_probation(&peer);
        // A trusted peer now: gossip with it as with any other.
        self.swarm
            .behaviour_mut()
            .gossipsub
            .set_application_score(&peer, 0.0);
        self.remember_addrs(&peer, admitted.listen);
        self.backoff.remove(&peer);
        let _ = self.swarm.disconnect_peer_id(peer);
    }

    fn forget_probation(&mut self, peer: &PeerId) {
        self.swarm
            .behaviour_mut()
            .gossipsub
            .remove_blacklisted_peer(peer);
        let outputs = self.replicator.disconnected(peer, &self.reader);
        self.run_outputs(outputs);
    }
}

/// The logs with a frontier cut to the keys of the person being
/// recovered (what a peer let in is told); everything else as the reader.
struct Asking<'a> {
    reader: &'a Reader,
    keys: &'a [AuthorId],
}

impl Logs for Asking<'_> {
    fn replicates(&self, author: &AuthorId) -> bool {
        self.reader.replicates(author)
    }

    fn serves(&self, author: &AuthorId) -> bool {
        self.reader.serves(author)
    }

    fn frontier(&self) -> Vec<FrontierItem> {
        self.reader
            .frontier()
            .into_iter()
            .filter(|i| self.keys.contains(&i.author))
            .collect()
    }

    fn head(&self, author: &AuthorId) -> Option<Head> {
        self.reader.head(author)
    }

    fn id_at(&self, author: &AuthorId, seq: u64) -> Option<EntryId> {
        self.reader.id_at(author, seq)
    }

    fn entries_after(&self, author: &AuthorId, after_seq: u64, max_bytes: usize) -> Vec<Entry> {
        self.reader.entries_after(author, after_seq, max_bytes)
    }

    fn entries_with_changes(&self, hashes: &[[u8; 32]], max_bytes: usize) -> Vec<Entry> {
        self.reader.entries_with_changes(hashes, max_bytes)
    }

    fn handovers(&self, from: &AuthorId) -> Vec<Entry> {
        self.reader.handovers(from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_relay_slot_is_offered_while_the_recovery_door_is_open() {
        let public = Reachability::Public("/ip4/192.0.2.1/tcp/4001".into());
        assert!(offers_relay(true, false, &public, false));
        assert!(offers_relay(true, false, &Reachability::Unknown, true));
        assert!(!offers_relay(true, true, &public, true), "door open");
        assert!(!offers_relay(true, true, &Reachability::Unknown, true));
        assert!(
            !offers_relay(false, false, &public, true),
            "the user said no"
        );
        assert!(!offers_relay(true, false, &Reachability::Private, true));
        assert!(!offers_relay(true, false, &Reachability::Unknown, false));
    }
}
