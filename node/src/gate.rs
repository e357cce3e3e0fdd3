//! The connection gate, first in the behaviour: the allow list of the
//! replication set, and the recovery door (PROTOCOL.md §11.5). A fresh
//! install asking for recovery knows nobody, so the contacts who approve
//! dial it: while its door is open it lets in a few peers it does not
//! know yet. What such a peer may do over the connection is the network
//! loop's business (`network::door`): it is asked only for the lost key's
//! log, and served nothing.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::task::{Context, Poll};

use libp2p::allow_block_list::{self, AllowedPeers};
use libp2p::core::Endpoint;
use libp2p::core::transport::PortUse;
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm, dummy,
};
use libp2p::{Multiaddr, PeerId};

/// Who may come in through the door, and who did: pure state, so that its
/// rules are tested without a swarm.
#[derive(Debug, Default)]
pub struct Door {
    /// Most peers admitted at once (0: the door is shut).
    max: usize,
    /// Peers admitted and not yet allowed, with their open connections.
    admitted: HashMap<PeerId, HashSet<ConnectionId>>,
    /// Peers shut out since the door opened: not let in again.
    refused: HashSet<PeerId>,
}

/// Connections one admitted peer may hold at once.
const CONNECTIONS_PER_PEER: usize = 2;

impl Door {
    /// Lets in up to `max` peers at once (0 shuts the door; those already
    /// in stay until the network loop closes their connections).
    pub fn set_max(&mut self, max: usize) {
        self.max = max;
        if max == 0 {
            self.refused.clear();
        }
    }

    /// Never lets `peer` in again while the door stays open.
    pub fn refuse(&mut self, peer: PeerId) {
        self.refused.insert(peer);
    }

    pub fn is_open(&self) -> bool {
        self.max > 0
    }

    /// Whether an inbound connection of a peer the allow list refused
    /// comes in: while the door is open, with room for one more peer, or
    /// the peer is in already with fewer than two connections.
    pub fn admit(&mut self, peer: PeerId, connection: ConnectionId) -> bool {
        if !self.is_open() || self.refused.contains(&peer) {
            return false;
        }
        if let Some(conns) = self.admitted.get_mut(&peer) {
            if conns.len() >= CONNECTIONS_PER_PEER {
                return false;
            }
            conns.insert(connection);
            return true;
        }
        if self.admitted.len() >= self.max {
            return false;
        }
        self.admitted.insert(peer, HashSet::from([connection]));
        true
    }

    /// A connection closed.
    pub fn closed(&mut self, peer: &PeerId, connection: ConnectionId) {
        if let Some(conns) = self.admitted.get_mut(peer) {
            conns.remove(&connection);
            if conns.is_empty() {
                self.admitted.remove(peer);
            }
        }
    }

    pub fn admitted(&self, peer: &PeerId) -> bool {
        self.admitted.contains_key(peer)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.admitted.len()
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.admitted.is_empty()
    }
}

/// The allow list, and the door beside it.
#[derive(Default)]
pub struct Gate {
    allow: allow_block_list::Behaviour<AllowedPeers>,
    pub door: Door,
}

impl Gate {
    pub fn allow_peer(&mut self, peer: PeerId) -> bool {
        self.allow.allow_peer(peer)
    }

    /// Also closes the peer's connections.
    pub fn disallow_peer(&mut self, peer: PeerId) -> bool {
        self.allow.disallow_peer(peer)
    }

    pub fn is_allowed(&self, peer: &PeerId) -> bool {
        self.allow.allowed_peers().contains(peer)
    }

    /// Admitted through the door, and still not on the allow list.
    pub fn on_probation(&self, peer: &PeerId) -> bool {
        self.door.admitted(peer) && !self.is_allowed(peer)
    }
}

impl NetworkBehaviour for Gate {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        connection: ConnectionId,
        peer: PeerId,
        local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        match self
            .allow
            .handle_established_inbound_connection(connection, peer, local, remote)
        {
            Ok(handler) => Ok(handler),
            Err(_) if self.door.admit(peer, connection) => Ok(dummy::ConnectionHandler),
            Err(denied) => Err(denied),
        }
    }

    fn handle_pending_outbound_connection(
        &mut self,
        connection: ConnectionId,
        peer: Option<PeerId>,
        addrs: &[Multiaddr],
        role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        self.allow
            .handle_pending_outbound_connection(connection, peer, addrs, role)
    }

    fn handle_established_outbound_connection(
        &mut self,
        connection: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.allow
            .handle_established_outbound_connection(connection, peer, addr, role, port_use)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match &event {
            FromSwarm::ConnectionClosed(closed) => {
                self.door.closed(&closed.peer_id, closed.connection_id);
            }
            // A behaviour after the gate (connection limits) refused it.
            FromSwarm::ListenFailure(failed) => {
                if let Some(peer) = failed.peer_id {
                    self.door.closed(&peer, failed.connection_id);
                }
            }
            _ => {}
        }
        self.allow.on_swarm_event(event);
    }

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<Infallible, THandlerInEvent<Self>>> {
        self.allow.poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> PeerId {
        PeerId::random()
    }

    #[test]
    fn a_shut_door_admits_nobody() {
        let mut door = Door::default();
        assert!(!door.admit(peer(), ConnectionId::new_unchecked(1)));
        assert!(door.is_empty());
    }

    #[test]
    fn an_open_door_admits_up_to_its_max_two_connections_each_and_nobody_it_shut_out() {
        let mut door = Door::default();
        door.set_max(2);
        let (a, b, c) = (peer(), peer(), peer());
        let conn = ConnectionId::new_unchecked;
        assert!(door.admit(a, conn(1)));
        assert!(door.admit(a, conn(2)));
        assert!(!door.admit(a, conn(3)), "a third connection of one peer");
        assert!(door.admit(b, conn(4)));
        assert!(!door.admit(c, conn(5)), "a third peer");
        // A peer whose last connection closed makes room.
        door.closed(&b, conn(4));
        assert!(!door.admitted(&b));
        assert!(door.admit(c, conn(6)));
        // A peer shut out stays out while the door is open.
        door.closed(&a, conn(1));
        door.closed(&a, conn(2));
        door.refuse(a);
        assert!(!door.admit(a, conn(9)), "a refused peer comes back");
        // Shut: nobody new, nor more connections of those in.
        door.set_max(0);
        assert!(!door.admit(peer(), conn(7)));
        assert!(!door.admit(c, conn(8)));
        assert_eq!(door.len(), 1);
        // Open again (another recovery): what was refused is forgotten.
        door.set_max(2);
        assert!(door.admit(a, conn(10)));
    }
}
