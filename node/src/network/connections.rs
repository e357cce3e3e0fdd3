//! Connections: the allow list follows the replication set, trusted
//! peers are dialled (and redialled with backoff) at the addresses the
//! store remembers, and what is learned about them goes back to the store.

use std::time::Duration;

use kith_protocol::AuthorId;
use libp2p::core::ConnectedPoint;
use libp2p::swarm::SwarmEvent;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::{Multiaddr, PeerId, identify, mdns};
use tokio::time::Instant;

use super::{Network, is_relayed, is_unspecified, strip_p2p};
use crate::core::PeerNote;
use crate::handle::Event;
use crate::swarm::{self, BehaviourEvent};

const REDIAL_MIN: Duration = Duration::from_secs(1);
const REDIAL_MAX: Duration = Duration::from_secs(300);
/// A connection that lived this long resets the redial backoff.
const STABLE_CONNECTION: Duration = Duration::from_secs(10);

pub(super) struct Connected {
    /// The address shown: a direct connection's if there is one.
    pub(super) addr: Multiaddr,
    /// The address we dialed it at, if we dialed.
    pub(super) dialed: Option<Multiaddr>,
    /// Whether the shown connection goes through a relay.
    pub(super) relayed: bool,
    /// Every open connection: id, remote address, relayed.
    pub(super) conns: Vec<(libp2p::swarm::ConnectionId, Multiaddr, bool)>,
    since: Instant,
}

impl Connected {
    /// Remote addresses of the connections that do not go through a relay.
    pub(super) fn direct_addrs(&self) -> impl Iterator<Item = &Multiaddr> {
        self.conns.iter().filter(|c| !c.2).map(|c| &c.1)
    }

    /// Shows a direct connection if there is one.
    fn refresh_addr(&mut self) {
        if let Some((_, a, relayed)) = self.conns.iter().find(|c| !c.2).or(self.conns.first()) {
            self.addr = a.clone();
            self.relayed = *relayed;
        }
    }
}

pub(super) struct Backoff {
    next: Instant,
    delay: Duration,
}

impl Network {
    pub(super) fn handle_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening");
                if !self.listen.contains(&address) {
                    self.listen.push(address);
                }
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => self.listen.retain(|a| a != &address),
            SwarmEvent::ListenerClosed {
                listener_id,
                reason,
                ..
            } => {
                if let Err(e) = reason {
                    tracing::debug!(error = %e, "a listener closed");
                }
                self.on_listener_closed(listener_id)
            }
            SwarmEvent::NewExternalAddrCandidate { address } => self.on_address_candidate(address),
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                num_established,
                ..
            } => self.on_connected(peer_id, connection_id, endpoint, num_established.get()),
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                endpoint,
                cause,
            } => {
                tracing::debug!(peer = %peer_id, addr = %endpoint.get_remote_address(), cause = ?cause, "connection closed");
                self.on_closed(peer_id, connection_id, num_established)
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                tracing::debug!(peer = ?peer_id, error = %error, "outgoing connection failed");
            }
            SwarmEvent::IncomingConnectionError {
                error,
                send_back_addr,
                peer_id,
                ..
            } => {
                if matches!(error, libp2p::swarm::ListenError::Denied { .. }) {
                    *self.refused_connections.entry(peer_id).or_default() += 1;
                    tracing::info!(from = %send_back_addr, "refused a connection from a peer outside the replication set");
                } else {
                    tracing::debug!(from = %send_back_addr, error = %error, "incoming connection failed");
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(event)) => self.handle_gossip(event),
            SwarmEvent::Behaviour(BehaviourEvent::Sync(event)) => self.handle_sync(event),
            SwarmEvent::Behaviour(BehaviourEvent::Link(event)) => self.on_link(event),
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                self.on_mdns(found)
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => self.on_identify(peer_id, info),
            SwarmEvent::Behaviour(BehaviourEvent::Px(event)) => self.on_px(event),
            SwarmEvent::Behaviour(BehaviourEvent::Blob(event)) => self.on_blob(event),
            SwarmEvent::Behaviour(BehaviourEvent::Relay(event)) => self.on_relay(event),
            SwarmEvent::Behaviour(BehaviourEvent::RelayClient(event)) => {
                self.on_relay_client(event)
            }
            SwarmEvent::Behaviour(BehaviourEvent::Dcutr(event)) => self.on_dcutr(event),
            SwarmEvent::Behaviour(BehaviourEvent::Autonat(event)) => self.on_autonat(event),
            SwarmEvent::Behaviour(BehaviourEvent::Kad(event)) => self.on_kad(event),
            other => tracing::trace!(event = ?other, "unhandled swarm event"),
        }
    }

    /// A connection closed; the last one to a peer ends its session, and
    /// a peer that closed at once backs off before the next dial.
    fn on_closed(
        &mut self,
        peer_id: PeerId,
        connection_id: libp2p::swarm::ConnectionId,
        num_established: u32,
    ) {
        if num_established != 0 {
            if let Some(c) = self.connected.get_mut(&peer_id) {
                c.conns.retain(|(id, _, _)| *id != connection_id);
                c.refresh_addr();
            }
            return;
        }
        self.probation_closed(&peer_id);
        self.holepunched.remove(&peer_id);
        self.punch_failed.remove(&peer_id);
        self.other_transport.retain(|(p, _)| *p != peer_id);
        self.punch_again.remove(&peer_id);
        self.forget_punches(&peer_id);
        self.reservations.remove(&peer_id);
        // A reservation lives on its connection: no relaying without one.
        self.relayed_for.remove(&peer_id);
        if let Some(gone) = self.connected.remove(&peer_id) {
            tracing::info!(peer = %peer_id, "disconnected");
            self.touch_peer(&peer_id, true, false);
            let outputs = self.replicator.disconnected(&peer_id, &self.reader);
            self.run_outputs(outputs);
            if let Some(author) = swarm::author_of(&peer_id) {
                let _ = self.wiring.events.send(Event::PeerDisconnected(author));
            }
            // A connection that lasted is redialled soon; one that the
            // other side closed at once (it does not trust us) backs off
            // further each time.
            if gone.since.elapsed() >= STABLE_CONNECTION {
                self.backoff.insert(
                    peer_id,
                    Backoff {
                        next: Instant::now() + REDIAL_MIN,
                        delay: REDIAL_MIN * 2,
                    },
                );
            }
        }
    }

    /// Trusted peers found on the local network are dialled.
    fn on_mdns(&mut self, found: Vec<(PeerId, Multiaddr)>) {
        for (peer, addr) in found {
            if self.allowed(&peer) {
                tracing::debug!(%peer, %addr, "found trusted peer by mDNS");
                self.swarm.add_peer_address(peer, addr.clone());
                self.remember_addrs(&peer, [addr]);
                self.dial_peer(peer);
            }
        }
    }

    fn on_connected(
        &mut self,
        peer: PeerId,
        connection: libp2p::swarm::ConnectionId,
        endpoint: ConnectedPoint,
        count: u32,
    ) {
        if self.is_link_peer(&peer) {
            // A new device with a link code: it may only ask to be linked.
            tracing::info!(%peer, "a device with a link code connected");
            self.keep_out_of_gossip(&peer);
            return;
        }
        if self.swarm.behaviour().allow.on_probation(&peer) {
            // A peer with this node's recovery code: it is only asked.
            self.on_probation_connected(peer);
            return;
        }
        if !self.allowed(&peer) {
            // The allow list should have refused it; never talk to it.
            tracing::warn!(%peer, "closing connection from a peer outside the replication set");
            let _ = self.swarm.disconnect_peer_id(peer);
            return;
        }
        // The listening side of a circuit sees only `/p2p/<source>` as the
        // remote address; its local address names the relay.
        let relayed = endpoint.is_relayed() || is_relayed(endpoint.get_remote_address());
        let addr = match &endpoint {
            ConnectedPoint::Listener { local_addr, .. } if relayed => local_addr.clone(),
            _ => endpoint.get_remote_address().clone(),
        };
        if endpoint.is_dialer() && !relayed {
            self.remember_addrs(&peer, [addr.clone()]);
        }
        // A friend reached us at our own address: not through a relay, not
        // from this host, and not a hole punched over a relayed connection
        // (QUIC's punched connection arrives as an inbound one).
        let over_relay = self
            .connected
            .get(&peer)
            .is_some_and(|c| c.conns.iter().any(|c| c.2));
        if matches!(endpoint, ConnectedPoint::Listener { .. })
            && !relayed
            && !over_relay
            && !super::is_loopback(&addr)
        {
            self.on_reached_directly();
        }
        // (A peer's earlier connection may still be closing unregistered:
        // one the recovery door let in, just promoted.)
        if count > 1 && self.connected.contains_key(&peer) {
            if relayed && self.punch_again.remove(&peer) {
                self.close_older_circuits(&peer, connection);
            }
            if let Some(c) = self.connected.get_mut(&peer) {
                c.conns.push((connection, addr.clone(), relayed));
                if endpoint.is_dialer() && !is_relayed(&addr) {
                    c.dialed = Some(addr);
                }
                c.refresh_addr();
            }
            return;
        }
        tracing::info!(%peer, %addr, "connected");
        self.connected.insert(
            peer,
            Connected {
                dialed: (endpoint.is_dialer() && !is_relayed(&addr)).then(|| addr.clone()),
                conns: vec![(connection, addr.clone(), relayed)],
                relayed,
                addr,
                since: Instant::now(),
            },
        );
        self.touch_peer(&peer, true, false);
        // A new friend online may know where the others are: ask it (and
        // the rest) about every unreachable author at the next tick.
        self.lookups.hurry();
        if let Some(author) = swarm::author_of(&peer) {
            self.lookups.reset(&author);
            let _ = self.wiring.events.send(Event::PeerConnected(author));
        }
        let outputs = self.replicator.connected(peer, &self.reader);
        self.run_outputs(outputs);
    }

    pub(super) fn allowed(&self, peer: &PeerId) -> bool {
        match swarm::author_of(peer) {
            Some(author) => !self.is_self(&author) && self.scope.is_peer(&author),
            None => false,
        }
    }

    pub(super) fn dial_peer(&mut self, peer: PeerId) {
        self.dial_peer_at(peer, Vec::new());
    }

    /// Dials `peer` at the addresses the store remembers and `fresh` ones
    /// just learned (the store writes them a moment later: without them the
    /// first dial would miss a relay slot learned by peer exchange).
    pub(super) fn dial_peer_at(&mut self, peer: PeerId, fresh: Vec<Multiaddr>) {
        if self.connected.contains_key(&peer) {
            return;
        }
        let Some(author) = swarm::author_of(&peer) else {
            return;
        };
        let mut addrs: Vec<Multiaddr> = match self.reader.store().peer_get(&author) {
            Ok(Some(record)) => record.addrs.iter().filter_map(|a| a.parse().ok()).collect(),
            _ => Vec::new(),
        };
        let mut new = 0;
        for addr in fresh.into_iter().map(|a| strip_p2p(&a)) {
            if !addrs.contains(&addr) {
                addrs.push(addr);
                new += 1;
            }
        }
        // New addresses are dialled even while an older dial runs: that
        // one may be waiting out a QUIC handshake to a private address
        // (~5 s), and a relay slot just learned must not wait behind it.
        let condition = if new > 0 {
            PeerCondition::Disconnected
        } else {
            PeerCondition::DisconnectedAndNotDialing
        };
        let opts = DialOpts::peer_id(peer)
            .addresses(addrs)
            .condition(condition)
            .build();
        if let Err(e) = self.swarm.dial(opts) {
            tracing::debug!(%peer, error = %e, "dial not started");
        }
    }

    /// Dials trusted peers we are not connected to, with exponential backoff.
    pub(super) fn redial(&mut self) {
        let now = Instant::now();
        // Only authors whose addresses we know (a few records, however many
        // authors are trusted); the others are found by discovery first.
        let known = match self.reader.store().peer_list() {
            Ok(list) => list,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read peer records");
                return;
            }
        };
        let candidates: Vec<PeerId> = known
            .into_iter()
            .filter(|(_, record)| !record.addrs.is_empty())
            .map(|(a, _)| a)
            .filter(|a| !self.is_self(a) && self.scope.is_direct(a) && self.scope.is_dialled(a))
            .map(|a| swarm::peer_id(&a))
            .filter(|p| !self.connected.contains_key(p))
            .collect();
        for peer in candidates {
            let due = self.backoff.get(&peer).is_none_or(|b| b.next <= now);
            if !due {
                continue;
            }
            let entry = self.backoff.entry(peer).or_insert(Backoff {
                next: now,
                delay: REDIAL_MIN,
            });
            entry.next = now + entry.delay;
            entry.delay = (entry.delay * 2).min(REDIAL_MAX);
            self.dial_peer(peer);
        }
    }

    pub(super) fn resync_all(&mut self) {
        let peers: Vec<PeerId> = self.connected.keys().copied().collect();
        for peer in peers {
            let outputs = self.replicator.resync(peer, &self.reader);
            self.run_outputs(outputs);
        }
    }

    pub(super) fn run_resync_soon(&mut self) {
        let peers = std::mem::take(&mut self.resync_soon);
        for peer in peers {
            let outputs = self.replicator.resync(peer, &self.reader);
            self.run_outputs(outputs);
        }
        if self.announce.is_empty() {
            return;
        }
        let authors: Vec<AuthorId> = std::mem::take(&mut self.announce).into_iter().collect();
        let peers: Vec<PeerId> = self.connected.keys().copied().collect();
        for peer in peers {
            let outputs = self.replicator.announce(peer, &authors, &self.reader);
            self.run_outputs(outputs);
        }
    }

    /// Addresses a trusted peer was reached at, for the store to remember.
    pub(super) fn remember_addrs(
        &mut self,
        peer: &PeerId,
        addrs: impl IntoIterator<Item = Multiaddr>,
    ) {
        let Some(author) = swarm::author_of(peer) else {
            return;
        };
        let addrs: Vec<Multiaddr> = addrs
            .into_iter()
            .filter(|a| !is_unspecified(a))
            .map(|a| strip_p2p(&a))
            .collect();
        if addrs.is_empty() {
            return;
        }
        self.note_peer(PeerNote {
            author,
            addrs,
            seen: false,
            synced: false,
        });
    }

    /// A peer was seen (connected or disconnected) or synced from just now.
    pub(super) fn touch_peer(&mut self, peer: &PeerId, seen: bool, synced: bool) {
        // Nothing is kept about a peer outside the replication set (one a
        // door let in, or one that left it while a batch was verified).
        if !self.allowed(peer) {
            return;
        }
        let Some(author) = swarm::author_of(peer) else {
            return;
        };
        self.note_peer(PeerNote {
            author,
            addrs: Vec::new(),
            seen,
            synced,
        });
    }
}
