//! Hole punching (DCUtR): what a punch's outcome changes, punches tried
//! again after a failure, and the second transport to a relaying friend
//! that lets a punch try QUIC beside TCP.

use std::time::Duration;

use libp2p::multiaddr::Protocol;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::{Multiaddr, PeerId, dcutr};
use tokio::time::Instant;

use super::{Network, is_relayed};

/// The first wait before a failed hole punch is tried again; it doubles
/// after each failure, up to [`RETRY_MAX`].
const RETRY_MIN: Duration = Duration::from_secs(30);
const RETRY_MAX: Duration = Duration::from_secs(30 * 60);
/// The shortest wait before a retry, even when our addresses change.
const RETRY_GAP: Duration = Duration::from_secs(10);

/// Failed hole punches and when each is tried again.
#[derive(Default)]
pub(super) struct Retries {
    /// Peer → (when, the wait after that, when it last failed).
    due: std::collections::HashMap<PeerId, (Instant, Duration, Instant)>,
    /// Our own address candidates seen so far (a new one is a new chance).
    seen: std::collections::HashSet<Multiaddr>,
}

impl Network {
    pub(super) fn on_dcutr(&mut self, event: dcutr::Event) {
        let peer = event.remote_peer_id;
        match event.result {
            Ok(_) => {
                tracing::info!(%peer, "hole punched: direct connection");
                self.holepunched.insert(peer);
                self.punch_failed.remove(&peer);
                self.punches.due.remove(&peer);
            }
            Err(e) => {
                tracing::debug!(%peer, error = %e, "hole punching failed");
                self.punch_failed.insert(peer);
                let now = Instant::now();
                // Both relayed connections of a pair punch at once and fail
                // together: one failure, not two, for the wait.
                if self
                    .punches
                    .due
                    .get(&peer)
                    .is_some_and(|d| now.duration_since(d.2) < RETRY_GAP)
                {
                    return;
                }
                let wait = self.punches.due.get(&peer).map_or(RETRY_MIN, |d| d.1);
                self.punches
                    .due
                    .insert(peer, (now + wait, (wait * 2).min(RETRY_MAX), now));
            }
        }
    }

    /// A new address candidate of ours (the NAT or the network changed):
    /// failed punches are tried again soon instead of at their turn.
    pub(super) fn on_address_candidate(&mut self, addr: Multiaddr) {
        if is_relayed(&addr) || !self.punches.seen.insert(addr) {
            return;
        }
        for (at, _, failed) in self.punches.due.values_mut() {
            *at = (*failed + RETRY_GAP).max(Instant::now());
        }
    }

    /// Tries again the hole punches that are due: a new relayed connection
    /// to the peer (DCUtR punches on every new relayed connection), through
    /// the relay slots we know of it; the older relayed connection closes
    /// once the new one is up ([`Network::close_older_circuits`]).
    pub(super) fn retry_punches(&mut self) {
        let now = Instant::now();
        let due: Vec<PeerId> = self
            .punches
            .due
            .iter()
            .filter(|(_, d)| d.0 <= now)
            .map(|(p, _)| *p)
            .collect();
        for peer in due {
            let relayed_only = self
                .connected
                .get(&peer)
                .is_some_and(|c| c.direct_addrs().next().is_none());
            if !relayed_only {
                self.punches.due.remove(&peer);
                continue;
            }
            if let Some(d) = self.punches.due.get_mut(&peer) {
                // Not again before the next failure or the next wait.
                d.0 = now + d.1;
            }
            let circuits = self.circuits_of(&peer);
            if circuits.is_empty() {
                continue;
            }
            tracing::debug!(%peer, "trying the hole punch again");
            self.punch_again.insert(peer);
            let opts = DialOpts::peer_id(peer)
                .addresses(circuits)
                .condition(PeerCondition::Always)
                .build();
            if let Err(e) = self.swarm.dial(opts) {
                tracing::debug!(%peer, error = %e, "cannot dial through the relay again");
            }
        }
    }

    /// A peer is gone: its punches are forgotten.
    pub(super) fn forget_punches(&mut self, peer: &PeerId) {
        self.punches.due.remove(peer);
    }

    /// A new relayed connection to `peer` is up for a punch tried again:
    /// the older relayed ones close (the new one carries the traffic, and
    /// the per-peer connection limit stays free for the direct one).
    pub(super) fn close_older_circuits(
        &mut self,
        peer: &PeerId,
        newest: libp2p::swarm::ConnectionId,
    ) {
        let older: Vec<libp2p::swarm::ConnectionId> = self
            .connected
            .get(peer)
            .map(|c| {
                c.conns
                    .iter()
                    .filter(|c| c.2 && c.0 != newest)
                    .map(|c| c.0)
                    .collect()
            })
            .unwrap_or_default();
        for id in older {
            self.swarm.close_connection(id);
        }
    }

    /// The relayed addresses we know of `peer`: those of our relayed
    /// connections to it (one it dialled through our slot on a relay names
    /// that relay: it likely holds a slot there too), and relay slots it
    /// holds that peer exchange told us of.
    fn circuits_of(&self, peer: &PeerId) -> Vec<Multiaddr> {
        let mut out: Vec<Multiaddr> = Vec::new();
        if let Some(c) = self.connected.get(peer) {
            for (_, addr, relayed) in &c.conns {
                if !relayed {
                    continue;
                }
                let addr = match addr.iter().last() {
                    Some(Protocol::P2pCircuit) => addr.clone().with(Protocol::P2p(*peer)),
                    _ => addr.clone(),
                };
                if !out.contains(&addr) {
                    out.push(addr);
                }
            }
        }
        if let Some(author) = crate::swarm::author_of(peer)
            && let Ok(Some(record)) = self.reader.store().peer_get(&author)
        {
            for addr in record
                .addrs
                .iter()
                .filter_map(|a| a.parse::<Multiaddr>().ok())
            {
                if is_relayed(&addr) && !out.contains(&addr) {
                    out.push(addr);
                }
            }
        }
        out
    }

    /// To a friend that relays, one connection per transport we listen on
    /// (TCP and QUIC): identify on each tells us how our NAT maps that
    /// transport, so a hole punch can try QUIC beside TCP (without it only
    /// the transport we first reached the relay on was ever tried). The
    /// friend's address on the other transport is taken at the IP we reached
    /// it on, so it is one we know to work.
    pub(super) fn dial_other_transport(&mut self, peer: PeerId, addrs: &[Multiaddr]) {
        let Some(c) = self.connected.get(&peer) else {
            return;
        };
        let Some(ip) = c.dialed.as_ref().and_then(ip_of) else {
            return;
        };
        let have: Vec<Transport> = c.direct_addrs().filter_map(transport_of).collect();
        let ours: Vec<Transport> = self.listen.iter().filter_map(transport_of).collect();
        let missing: Vec<Multiaddr> = addrs
            .iter()
            .filter(|a| !is_relayed(a) && ip_of(a) == Some(ip))
            .filter(|a| transport_of(a).is_some_and(|t| ours.contains(&t) && !have.contains(&t)))
            .cloned()
            .collect();
        for addr in missing {
            if !self.other_transport.insert((peer, addr.clone())) {
                continue;
            }
            tracing::debug!(%peer, %addr, "also connecting over the other transport");
            let opts = libp2p::swarm::dial_opts::DialOpts::peer_id(peer)
                .addresses(vec![addr])
                .condition(libp2p::swarm::dial_opts::PeerCondition::Always)
                .build();
            if let Err(e) = self.swarm.dial(opts) {
                tracing::debug!(%peer, error = %e, "cannot dial the other transport");
            }
        }
    }
}

/// The two transports a node listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Tcp,
    Quic,
}

fn transport_of(addr: &Multiaddr) -> Option<Transport> {
    if is_relayed(addr) {
        return None;
    }
    let mut kind = None;
    for p in addr.iter() {
        match p {
            Protocol::Tcp(_) => kind = Some(Transport::Tcp),
            Protocol::QuicV1 => kind = Some(Transport::Quic),
            _ => {}
        }
    }
    kind
}

fn ip_of(addr: &Multiaddr) -> Option<std::net::IpAddr> {
    addr.iter().find_map(|p| match p {
        Protocol::Ip4(ip) => Some(ip.into()),
        Protocol::Ip6(ip) => Some(ip.into()),
        _ => None,
    })
}
