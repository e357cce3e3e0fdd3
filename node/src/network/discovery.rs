//! Reaching trusted peers that are not on the LAN: addresses learned from
//! identify, peer exchange among trusted peers, signed address records in
//! Kith's DHT, relay reservations on trusted peers, hole punching, and
//! AutoNAT's view of our reachability.

use std::collections::HashMap;
use std::time::Duration;

use kith_protocol::addr_record::{self, AddrRecord};
use libp2p::kad::store::RecordStore;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId, autonat, dcutr, identify, kad, relay, request_response};
use tokio::time::Instant;

use super::{Network, is_loopback, is_relayed, is_unspecified};
use crate::clock::now_ms;
use crate::model::Reachability;
use crate::swarm::{self, PxRequest, PxResponse};

/// Relays we reserve a slot on at most.
const MAX_RESERVATIONS: usize = 2;
/// How often we ask about one unreachable peer (peer exchange, DHT).
/// First delay before an unreachable author is looked up again; it doubles
/// while the author stays unreachable, up to [`LOOKUP_MAX`].
const LOOKUP_MIN: Duration = Duration::from_secs(20);
const LOOKUP_MAX: Duration = Duration::from_secs(30 * 60);
/// DHT lookups started per discovery tick (every 5 s), whatever the number
/// of unreachable trusted authors: background work stays bounded.
const DHT_LOOKUPS_PER_TICK: usize = 8;
/// Connected peers asked per tick (in turn), whatever their number.
const PX_PEERS_PER_TICK: usize = 4;

/// When each unreachable trusted author is looked up next, and the delay
/// after that.
#[derive(Default)]
pub(super) struct Lookups {
    /// Peer-exchange schedule.
    next: HashMap<kith_protocol::AuthorId, (Instant, Duration)>,
    /// DHT schedule (fewer per tick, so its own turn).
    dht: HashMap<kith_protocol::AuthorId, (Instant, Duration)>,
    /// Which connected peers the next peer-exchange requests go to.
    turn: usize,
}

impl Lookups {
    /// `author` is reachable (connected): look it up at once if it goes.
    pub(super) fn reset(&mut self, author: &kith_protocol::AuthorId) {
        self.next.remove(author);
        self.dht.remove(author);
    }

    fn due(
        schedule: &HashMap<kith_protocol::AuthorId, (Instant, Duration)>,
        author: &kith_protocol::AuthorId,
        now: Instant,
    ) -> Option<Instant> {
        match schedule.get(author) {
            None => Some(now),
            Some((at, _)) if *at <= now => Some(*at),
            Some(_) => None,
        }
    }

    fn asked(
        schedule: &mut HashMap<kith_protocol::AuthorId, (Instant, Duration)>,
        author: kith_protocol::AuthorId,
        now: Instant,
    ) {
        let delay = schedule.get(&author).map_or(LOOKUP_MIN, |(_, d)| *d);
        schedule.insert(author, (now + delay, (delay * 2).min(LOOKUP_MAX)));
    }
}
/// How often our own address record is republished.
const PUBLISH_EVERY: Duration = Duration::from_secs(600);

impl Network {
    /// Identify from a trusted peer: remember its addresses, add it to the
    /// DHT's routing table, and reserve a relay slot on it if it relays.
    pub(super) fn on_identify(&mut self, peer: PeerId, info: identify::Info) {
        if !self.allowed(&peer) {
            return;
        }
        for addr in &info.listen_addrs {
            if !is_unspecified(addr) && !is_relayed(addr) {
                self.swarm
                    .behaviour_mut()
                    .kad
                    .add_address(&peer, addr.clone());
            }
        }
        self.remember_addrs(
            &peer,
            info.listen_addrs.iter().filter(|a| !is_relayed(a)).cloned(),
        );
        let relays = info
            .protocols
            .iter()
            .any(|p| p.as_ref() == swarm::RELAY_HOP_PROTOCOL);
        if relays
            && self.reservations.len() < MAX_RESERVATIONS
            && !self.reservations.contains(&peer)
        {
            // Through the address we reached it at, if we dialed it.
            let base = self
                .connected
                .get(&peer)
                .and_then(|c| c.dialed.clone())
                .or_else(|| {
                    info.listen_addrs
                        .iter()
                        .find(|a| !is_unspecified(a) && !is_relayed(a) && !is_loopback(a))
                        .cloned()
                })
                .or_else(|| {
                    info.listen_addrs
                        .iter()
                        .find(|a| !is_unspecified(a) && !is_relayed(a))
                        .cloned()
                });
            if let Some(base) = base {
                let circuit = super::strip_p2p(&base)
                    .with(Protocol::P2p(peer))
                    .with(Protocol::P2pCircuit);
                match self.swarm.listen_on(circuit.clone()) {
                    Ok(_) => {
                        tracing::info!(relay = %peer, "reserving a relay slot");
                        self.reservations.insert(peer);
                    }
                    Err(e) => tracing::debug!(%circuit, error = %e, "cannot listen through relay"),
                }
            }
        }
        if self.publish_at.is_none() {
            // First peer: publish our address record shortly.
            self.publish_at = Some(Instant::now() + Duration::from_secs(2));
        }
    }

    pub(super) fn on_relay(&mut self, event: relay::Event) {
        match event {
            relay::Event::ReservationReqAccepted { src_peer_id, .. } => {
                tracing::info!(peer = %src_peer_id, "relaying for a trusted peer");
                self.relayed_for.insert(src_peer_id);
            }
            relay::Event::ReservationTimedOut { src_peer_id } => {
                self.relayed_for.remove(&src_peer_id);
            }
            other => tracing::debug!(event = ?other, "relay"),
        }
    }

    pub(super) fn on_relay_client(&mut self, event: relay::client::Event) {
        match event {
            relay::client::Event::ReservationReqAccepted { relay_peer_id, .. } => {
                tracing::info!(relay = %relay_peer_id, "relay slot reserved");
            }
            other => tracing::debug!(event = ?other, "relay client"),
        }
    }

    pub(super) fn on_dcutr(&mut self, event: dcutr::Event) {
        match event.result {
            Ok(_) => {
                tracing::info!(peer = %event.remote_peer_id, "hole punched: direct connection");
                self.holepunched.insert(event.remote_peer_id);
                self.punch_failed.remove(&event.remote_peer_id);
            }
            Err(e) => {
                tracing::debug!(peer = %event.remote_peer_id, error = %e, "hole punching failed");
                self.punch_failed.insert(event.remote_peer_id);
            }
        }
    }

    pub(super) fn on_autonat(&mut self, event: autonat::Event) {
        if let autonat::Event::StatusChanged { new, .. } = event {
            tracing::info!(status = ?new, "reachability");
            self.nat = match new {
                autonat::NatStatus::Public(addr) => Reachability::Public(addr.to_string()),
                autonat::NatStatus::Private => Reachability::Private,
                autonat::NatStatus::Unknown => Reachability::Unknown,
            };
        }
    }

    // ----- peer exchange -------------------------------------------------------

    pub(super) fn on_px(&mut self, event: request_response::Event<PxRequest, PxResponse>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    if !self.allowed(&peer) {
                        return;
                    }
                    let answer = self.px_answer(&peer, &request);
                    let _ = self.swarm.behaviour_mut().px.send_response(channel, answer);
                }
                request_response::Message::Response { response, .. } => {
                    for (author, addrs) in response.peers {
                        let addrs: Vec<Multiaddr> = addrs
                            .into_iter()
                            .filter_map(|b| Multiaddr::try_from(b.into_vec()).ok())
                            .collect();
                        self.learned(author, addrs, "peer exchange");
                    }
                }
            },
            request_response::Event::OutboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "peer exchange failed");
            }
            _ => {}
        }
    }

    /// What we can tell a trusted peer about the authors it asks for: the
    /// addresses we know, and a circuit through us if we relay for them.
    fn px_answer(&self, asker: &PeerId, request: &PxRequest) -> PxResponse {
        let me = swarm::peer_id(&self.me);
        let mut out = PxResponse::default();
        for author in request.authors.iter().take(swarm::PX_MAX_AUTHORS) {
            let peer = swarm::peer_id(author);
            if peer == *asker || !self.scope.is_direct(author) || self.is_self(author) {
                continue;
            }
            let mut addrs: Vec<Multiaddr> = match self.reader.store().peer_get(author) {
                Ok(Some(record)) => record.addrs.iter().filter_map(|a| a.parse().ok()).collect(),
                _ => Vec::new(),
            };
            if self.relayed_for.contains(&peer) {
                for base in self
                    .listen
                    .iter()
                    .filter(|a| !is_unspecified(a) && !is_relayed(a))
                {
                    addrs.push(
                        base.clone()
                            .with(Protocol::P2p(me))
                            .with(Protocol::P2pCircuit),
                    );
                }
            }
            if !addrs.is_empty() {
                out.peers.push((
                    *author,
                    addrs
                        .into_iter()
                        .map(|a| serde_bytes::ByteBuf::from(a.to_vec()))
                        .collect(),
                ));
            }
        }
        out
    }

    /// New addresses of a trusted author: remember them and dial.
    fn learned(&mut self, author: kith_protocol::AuthorId, addrs: Vec<Multiaddr>, how: &str) {
        if !self.scope.is_direct(&author) || self.is_self(&author) || addrs.is_empty() {
            return;
        }
        let peer = swarm::peer_id(&author);
        tracing::debug!(%peer, count = addrs.len(), how, "learned addresses");
        for addr in &addrs {
            self.swarm.add_peer_address(peer, addr.clone());
        }
        self.remember_addrs(&peer, addrs);
        if !self.connected.contains_key(&peer) {
            self.backoff.remove(&peer);
            self.dial_peer(peer);
        }
    }

    // ----- DHT -----------------------------------------------------------------

    pub(super) fn on_kad(&mut self, event: kad::Event) {
        match event {
            kad::Event::OutboundQueryProgressed {
                result: kad::QueryResult::GetRecord(Ok(kad::GetRecordOk::FoundRecord(found))),
                ..
            } => {
                let Some(author) = author_of_key(found.record.key.as_ref()) else {
                    return;
                };
                match AddrRecord::verify(&found.record.value, &author) {
                    Ok(record) => {
                        let addrs = record
                            .addrs
                            .into_iter()
                            .filter_map(|b| Multiaddr::try_from(b).ok())
                            .collect();
                        self.learned(author, addrs, "dht");
                    }
                    Err(e) => tracing::warn!(%author, error = %e, "ignored a bad address record"),
                }
            }
            kad::Event::InboundRequest {
                request:
                    kad::InboundRequest::PutRecord {
                        source,
                        record: Some(record),
                        ..
                    },
            } => {
                // Store only records their author signed.
                let valid = author_of_key(record.key.as_ref())
                    .is_some_and(|author| AddrRecord::verify(&record.value, &author).is_ok());
                if valid && self.allowed(&source) {
                    if let Err(e) = self.swarm.behaviour_mut().kad.store_mut().put(record) {
                        tracing::debug!(error = %e, "DHT store full");
                    }
                } else {
                    tracing::warn!(peer = %source, "refused an unsigned or forged DHT record");
                }
            }
            other => tracing::trace!(event = ?other, "kad"),
        }
    }

    fn publish_addresses(&mut self) {
        let addrs: Vec<Vec<u8>> = self
            .swarm
            .external_addresses()
            .cloned()
            .chain(self.listen.iter().cloned())
            .filter(|a| !is_unspecified(a))
            .map(|a| a.to_vec())
            .collect();
        if addrs.is_empty() {
            return;
        }
        let value = AddrRecord::sign(&self.keypair, &addrs, now_ms());
        let record = kad::Record::new(addr_record::dht_key(&self.me), value);
        if let Err(e) = self
            .swarm
            .behaviour_mut()
            .kad
            .put_record(record, kad::Quorum::One)
        {
            tracing::debug!(error = %e, "cannot publish the address record");
        }
    }

    /// Timer: publish our record when due; look for trusted peers we cannot
    /// reach, through connected peers (exchange) and the DHT.
    pub(super) fn discover(&mut self) {
        let now = Instant::now();
        if self.publish_at.is_some_and(|t| t <= now) && !self.connected.is_empty() {
            self.publish_addresses();
            self.publish_at = Some(now + PUBLISH_EVERY);
        }
        if self.connected.is_empty() {
            return;
        }
        // The trusted authors we cannot reach whose lookup is due, longest
        // waiting first: a peer-exchange request to a few connected peers
        // asks about up to 64 of them, the DHT (on its own schedule) about
        // a few.
        let unreachable: Vec<kith_protocol::AuthorId> = self
            .scope
            .authors()
            .iter()
            .filter(|a| !self.is_self(a) && self.scope.is_direct(a) && self.scope.is_dialled(a))
            .filter(|a| !self.connected.contains_key(&swarm::peer_id(a)))
            .copied()
            .collect();
        let pick = |schedule, max| {
            let mut due: Vec<(Instant, kith_protocol::AuthorId)> = unreachable
                .iter()
                .filter_map(|a| Lookups::due(schedule, a, now).map(|t| (t, *a)))
                .collect();
            due.sort();
            due.truncate(max);
            due.into_iter().map(|(_, a)| a).collect::<Vec<_>>()
        };
        let by_dht = pick(&self.lookups.dht, DHT_LOOKUPS_PER_TICK);
        let authors = pick(&self.lookups.next, swarm::PX_MAX_AUTHORS);
        for author in &by_dht {
            Lookups::asked(&mut self.lookups.dht, *author, now);
            self.swarm
                .behaviour_mut()
                .kad
                .get_record(kad::RecordKey::new(&addr_record::dht_key(author)));
        }
        if authors.is_empty() {
            return;
        }
        for author in &authors {
            Lookups::asked(&mut self.lookups.next, *author, now);
        }
        let mut peers: Vec<PeerId> = self.connected.keys().copied().collect();
        peers.sort();
        let start = self.lookups.turn % peers.len();
        self.lookups.turn = self.lookups.turn.wrapping_add(PX_PEERS_PER_TICK);
        let chosen: Vec<PeerId> = peers
            .iter()
            .cycle()
            .skip(start)
            .take(PX_PEERS_PER_TICK.min(peers.len()))
            .copied()
            .collect();
        for peer in chosen {
            self.swarm.behaviour_mut().px.send_request(
                &peer,
                PxRequest {
                    authors: authors.clone(),
                },
            );
        }
    }
}

/// The author a DHT key belongs to.
fn author_of_key(key: &[u8]) -> Option<kith_protocol::AuthorId> {
    let bytes: [u8; 32] = key.strip_prefix(b"/kith/addr/")?.try_into().ok()?;
    Some(kith_protocol::AuthorId::from_bytes(bytes))
}
