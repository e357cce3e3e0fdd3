//! Reaching trusted peers that are not on the LAN: addresses learned from
//! identify, peer exchange among trusted peers, signed address records in
//! Kith's DHT, relay reservations on trusted peers, hole punching, and
//! AutoNAT's view of our reachability.

use std::collections::HashMap;
use std::time::Duration;

use kith_protocol::addr_record::{self, AddrRecord};
use libp2p::kad::store::RecordStore;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId, autonat, identify, kad, relay, request_response};
use tokio::time::Instant;

use super::{Network, is_loopback, is_relayed, is_unspecified};
use crate::clock::now_ms;
use crate::model::Reachability;
use crate::swarm::{self, PxRequest, PxResponse};

/// Relays we reserve a slot on at most.
const MAX_RESERVATIONS: usize = 2;
/// The first wait before reserving again on a friend whose slot closed; it
/// doubles with each failure in a row, up to [`RESERVE_AGAIN_MAX`].
const RESERVE_AGAIN: Duration = Duration::from_secs(2);
const RESERVE_AGAIN_MAX: Duration = Duration::from_secs(300);

/// Relay slots being reserved, and those to reserve again.
#[derive(Default)]
pub(super) struct RelaySlots {
    /// A slot's listener → the relay and its listen addresses.
    listeners: HashMap<libp2p::core::transport::ListenerId, (PeerId, Vec<Multiaddr>)>,
    /// Relays whose slot closed → when to reserve again, and where.
    again: HashMap<PeerId, (Instant, Vec<Multiaddr>)>,
    /// Slots refused or lost in a row, per relay.
    failures: HashMap<PeerId, u32>,
}
/// First delay before an unreachable author is looked up again (peer
/// exchange, DHT); it doubles while the author stays unreachable, up to
/// [`LOOKUP_MAX`]. A friend who just came online behind a NAT holds a relay
/// slot a second or two after it connects to a relaying friend, so the
/// first lookups come quickly ([`Lookups::hurry`] asks again at once when
/// something changed that can make an answer better).
const LOOKUP_MIN: Duration = Duration::from_secs(2);
/// How often discovery runs (peer exchange of the authors due).
pub(super) const TICK: Duration = Duration::from_secs(1);
/// How often the DHT's part of discovery runs.
const DHT_EVERY: Duration = Duration::from_secs(5);
const LOOKUP_MAX: Duration = Duration::from_secs(30 * 60);
/// DHT lookups started per DHT turn (every [`DHT_EVERY`]), whatever the number
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
    /// When the DHT's next turn is.
    dht_at: Option<Instant>,
}

impl Lookups {
    /// `author` is reachable (connected): look it up at once if it goes.
    pub(super) fn reset(&mut self, author: &kith_protocol::AuthorId) {
        self.next.remove(author);
        self.dht.remove(author);
    }

    /// Something changed that can make a peer-exchange answer better (we
    /// reserved a relay slot, a friend started relaying): ask about every
    /// unreachable author at the next chance, with the delays starting over.
    pub(super) fn hurry(&mut self) {
        self.next.clear();
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
            self.on_probation_listen_addrs(&peer, &info.listen_addrs);
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
        if relays && !self.reservations.contains(&peer) {
            // A friend that relays can tell us of friends who reserved on it.
            self.lookups.hurry();
        }
        if relays {
            self.dial_other_transport(peer, &info.listen_addrs);
        }
        if relays {
            self.reserve_on(peer, &info.listen_addrs);
        }
        if self.publish_at.is_none() {
            // First peer: publish our address record shortly.
            self.publish_at = Some(Instant::now() + Duration::from_secs(2));
        }
    }

    /// Reserves a relay slot on `peer`, a friend that relays, unless we
    /// hold enough: through the address we reached it at if we dialled it,
    /// else one it listens on.
    fn reserve_on(&mut self, peer: PeerId, listen_addrs: &[Multiaddr]) {
        if self.reservations.len() >= MAX_RESERVATIONS || self.reservations.contains(&peer) {
            return;
        }
        let usable = |a: &&Multiaddr| !is_unspecified(a) && !is_relayed(a);
        let base = self
            .connected
            .get(&peer)
            .and_then(|c| c.dialed.clone())
            .or_else(|| {
                let mut usable = listen_addrs.iter().filter(usable);
                usable
                    .clone()
                    .find(|a| !is_loopback(a))
                    .or(usable.next())
                    .cloned()
            });
        let Some(base) = base else {
            return;
        };
        let circuit = super::strip_p2p(&base)
            .with(Protocol::P2p(peer))
            .with(Protocol::P2pCircuit);
        match self.swarm.listen_on(circuit.clone()) {
            Ok(id) => {
                tracing::info!(relay = %peer, "reserving a relay slot");
                self.reservations.insert(peer);
                self.relay_slots
                    .listeners
                    .insert(id, (peer, listen_addrs.to_vec()));
            }
            Err(e) => tracing::debug!(%circuit, error = %e, "cannot listen through relay"),
        }
    }

    /// A relay slot's listener closed: the reservation was refused or
    /// lost (a friend that had just started relaying may refuse the first
    /// request). Reserve again soon, with a growing wait, while the friend
    /// is connected.
    pub(super) fn on_listener_closed(&mut self, id: libp2p::core::transport::ListenerId) {
        let Some((relay, addrs)) = self.relay_slots.listeners.remove(&id) else {
            return;
        };
        self.reservations.remove(&relay);
        let failures = self.relay_slots.failures.entry(relay).or_insert(0);
        *failures = failures.saturating_add(1);
        let wait = (RESERVE_AGAIN * 2u32.saturating_pow(*failures - 1)).min(RESERVE_AGAIN_MAX);
        tracing::debug!(%relay, ?wait, "the relay slot closed: reserving again later");
        self.relay_slots
            .again
            .insert(relay, (Instant::now() + wait, addrs));
    }

    /// Reserves again on friends whose slot closed, when due.
    pub(super) fn reserve_again(&mut self) {
        let now = Instant::now();
        let due: Vec<PeerId> = self
            .relay_slots
            .again
            .iter()
            .filter(|(_, (at, _))| *at <= now)
            .map(|(p, _)| *p)
            .collect();
        for relay in due {
            if let Some((_, addrs)) = self.relay_slots.again.remove(&relay)
                && self.connected.contains_key(&relay)
            {
                self.reserve_on(relay, &addrs);
            }
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
                self.relay_slots.failures.remove(&relay_peer_id);
                self.lookups.hurry();
            }
            other => tracing::debug!(event = ?other, "relay client"),
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
            self.offer_relay();
        }
    }

    /// A trusted peer connected to us directly (not through a relay, not
    /// from this host): some friend reaches us at our own address.
    pub(super) fn on_reached_directly(&mut self) {
        if !self.reached_directly {
            self.reached_directly = true;
            self.offer_relay();
        }
    }

    /// Whether friends may reserve a relay slot on this node. libp2p would
    /// offer one as soon as any external address is confirmed, a relayed
    /// one included, so a node behind a NAT offered circuits through
    /// itself that nobody could use, and a public node offered none until
    /// AutoNAT had probed (~15 s). Kith decides: offer when AutoNAT found
    /// us public, or when a friend reached us directly and AutoNAT has not
    /// found us private.
    pub(super) fn offer_relay(&mut self) {
        let offer = super::door::offers_relay(
            self.config.relay.offer,
            self.door_open(),
            &self.nat,
            self.reached_directly,
        );
        tracing::debug!(offer, nat = %self.nat, "relay slots for friends");
        let status = if offer {
            relay::Status::Enable
        } else {
            relay::Status::Disable
        };
        self.swarm.behaviour_mut().relay.set_status(Some(status));
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
        self.remember_addrs(&peer, addrs.clone());
        if !self.connected.contains_key(&peer) {
            self.backoff.remove(&peer);
            self.dial_peer_at(peer, addrs);
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
        let dht_turn = self.lookups.dht_at.is_none_or(|t| t <= now);
        if dht_turn {
            self.lookups.dht_at = Some(now + DHT_EVERY);
        }
        let by_dht = if dht_turn {
            pick(&self.lookups.dht, DHT_LOOKUPS_PER_TICK)
        } else {
            Vec::new()
        };
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
