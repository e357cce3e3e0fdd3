//! The network loop: the one task that owns the swarm and the sync state
//! machine, and nothing else. It never writes the store, renders or
//! searches: it reads logs through a [`Reader`], hands incoming entries to
//! the verification pool (which passes them on to the store actor), and
//! acts on the outcome that comes back. Own entries to publish, a new
//! replication set and peers to dial come from the store actor.
//!
//! `run` is one `select!` over shutdown and commands, notices from the
//! store actor, ingest outcomes, swarm events and timers; each arm calls
//! one `handle_*` method. Its parts: [`connections`] (dialling, the allow
//! list, peer records), [`gossip`] (live entries), [`sync`] (catch-up),
//! [`discovery`] (reaching peers away from the LAN, relay slots),
//! [`punch`] (hole punching and its retries) and [`views`] (what `peers`,
//! `status` and `invite` show).

mod blobs;
mod connections;
mod device_link;
mod discovery;
mod door;
mod gossip;
mod own_head;
mod punch;
mod sync;
mod views;

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use kith_protocol::sync::Replicator;
use kith_protocol::{AuthorId, Entry, Keypair};
use libp2p::gossipsub::PublishError;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::OutboundRequestId;
use libp2p::{Multiaddr, PeerId, Swarm};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::{Instant, MissedTickBehavior, interval};

use self::connections::{Backoff, Connected};
use self::sync::{Ingesting, Waiting};
use crate::config::Config;
use crate::core::{IngestOutcome, PeerNote};
use crate::error::{Error, Result};
use crate::handle::Event;
use crate::jobs::JobTable;
use crate::model::{GossipCounts, Reachability};
use crate::ops::NetRequest;
use crate::reader::Reader;
use crate::store::Scope;
use crate::store_actor::StoreMsg;
use crate::swarm::{self, Behaviour};
use crate::verify_pool::VerifyPool;

/// Capacity of the command channel to the network loop.
pub const COMMAND_CAPACITY: usize = 256;
/// Capacity of the notice channel from the store actor.
pub const NOTICE_CAPACITY: usize = 1_024;
/// Most own entries waiting to be gossiped; older ones are dropped from the
/// queue (peers still get them by catch-up: their heads are announced).
const PUBLISH_QUEUE_CAPACITY: usize = 10_000;
/// Most entries published per turn of the loop, so the swarm keeps running.
const PUBLISH_PER_TURN: usize = 256;
/// Most gossiped entries on their way to the store at once; beyond that,
/// gossip is ignored (no penalty) and the entries come by catch-up.
const MAX_GOSSIP_IN_FLIGHT: usize = 512;

/// What the handle asks of the network loop.
pub(crate) enum NetCommand {
    Op(NetRequest),
    /// Ask a peer for a range of a blob (the blob fetcher).
    BlobRange {
        peer: PeerId,
        request: kith_protocol::blob::Request,
        reply: oneshot::Sender<Result<kith_protocol::blob::Response>>,
    },
    /// The trusted peers connected now (the blob fetcher).
    BlobPeers(oneshot::Sender<Vec<PeerId>>),
    /// Publish raw bytes on the entries topic (tests of validation).
    InjectGossip {
        data: Vec<u8>,
        reply: oneshot::Sender<Result<()>>,
    },
    Shutdown(oneshot::Sender<()>),
}

/// What the store actor tells the network loop.
#[derive(Debug)]
pub(crate) enum NetNotice {
    /// Own entries are durable: gossip them.
    Publish(Vec<Entry>),
    /// A newly trusted peer (from an invite): dial it at these addresses.
    Dial {
        author: AuthorId,
        addrs: Vec<Multiaddr>,
    },
}

/// The channels and shared state the network loop is started with.
pub(crate) struct Wiring {
    pub commands: mpsc::Receiver<NetCommand>,
    pub notices: mpsc::Receiver<NetNotice>,
    pub scope: watch::Receiver<Arc<Scope>>,
    pub store: mpsc::Sender<StoreMsg>,
    pub verify: VerifyPool,
    pub events: broadcast::Sender<Event>,
    pub jobs: JobTable,
}

pub(crate) struct Network {
    swarm: Swarm<Behaviour>,
    replicator: Replicator<PeerId>,
    /// The logs as the store holds them, with the replication set applied
    /// to the swarm (a new set makes a new reader).
    reader: Reader,
    scope: Arc<Scope>,
    /// The node's libp2p key (its PeerId).
    keypair: Keypair,
    me: AuthorId,
    /// The key the node signs its log with: `keypair`, or the key it took
    /// over with after a restore it could not confirm (PROTOCOL.md §11.6).
    log: Keypair,
    config: Arc<Config>,
    wiring: Wiring,
    /// Outbound sync requests → the replicator's token.
    pending: HashMap<OutboundRequestId, (PeerId, u64)>,
    /// Answers to peers' sync requests not yet written out (bytes).
    serving: self::sync::Serving,
    /// Entries on their way through verification and the store.
    ingesting: FuturesUnordered<Ingesting>,
    gossip_in_flight: usize,
    publish: VecDeque<Entry>,
    connected: HashMap<PeerId, Connected>,
    backoff: HashMap<PeerId, Backoff>,
    listen: Vec<Multiaddr>,
    /// Gossip messages per peer in the current one-second window.
    gossip_window: HashMap<PeerId, (Instant, u32)>,
    /// Peers whose subscriptions changed: re-run the frontier exchange.
    resync_soon: BTreeSet<PeerId>,
    /// Authors whose logs advanced by catch-up (or whose own entries could
    /// not be queued for gossip) since the last tick: their heads are
    /// announced to every connected peer.
    announce: BTreeSet<AuthorId>,
    /// Wiki dependencies asked for recently.
    asked: HashMap<[u8; 32], Instant>,
    /// When to look up each unreachable trusted author's addresses next.
    lookups: self::discovery::Lookups,
    gossip_counts: GossipCounts,
    /// Connections refused by the allow list, by who made them (`None`:
    /// not known); a peer's count goes once it is trusted, so the status
    /// never counts connections made before the trust was mutual.
    refused_connections: HashMap<Option<PeerId>, u64>,
    /// Peers whose direct connection came from hole punching.
    holepunched: HashSet<PeerId>,
    /// Peers connected through a relay whose last hole punch failed.
    punch_failed: HashSet<PeerId>,
    /// Failed hole punches and when each is tried again.
    punches: self::punch::Retries,
    /// Peers dialled through a relay again to punch again: their older
    /// relayed connection closes once the new one is up.
    punch_again: HashSet<PeerId>,
    /// Peers that hold a relay slot on this node.
    relayed_for: HashSet<PeerId>,
    /// Relays this node reserved a slot on.
    reservations: BTreeSet<PeerId>,
    /// Relay slots being reserved, and those to reserve again.
    relay_slots: self::discovery::RelaySlots,
    /// Relaying friends dialled on their other transport, and where
    /// (`discovery::dial_other_transport`), while connected.
    other_transport: HashSet<(PeerId, Multiaddr)>,
    /// AutoNAT's view of our reachability.
    nat: Reachability,
    /// A trusted peer reached this node directly at one of its own
    /// addresses (an inbound connection that is neither relayed nor from
    /// this host): some friend can reach us, so we may relay for friends
    /// at once, without waiting for AutoNAT.
    reached_directly: bool,
    /// When to (re)publish our address record in the DHT.
    publish_at: Option<Instant>,
    /// Device link codes waiting for their device.
    links: self::device_link::Links,
    /// Device certificates being written for a link handshake.
    linking: FuturesUnordered<self::device_link::Linking>,
    /// Blob ranges asked of peers.
    blobs_asked: self::blobs::Asked,
    /// Blob ranges being read for peers (at most `SERVING_BLOBS`).
    blobs_serving: FuturesUnordered<self::blobs::Serving>,
    /// Fetches files that entries just stored attach, if small enough.
    fetcher: Option<Arc<crate::blobs::Fetcher>>,
    /// Whether this node's own log head is confirmed since it started.
    own_head: self::own_head::OwnHead,
    /// Peers let in by the recovery door (`door`).
    probation: self::door::Probation,
}

impl Network {
    pub(crate) fn new(
        swarm: Swarm<Behaviour>,
        reader: Reader,
        keypair: Keypair,
        log: Keypair,
        start: crate::witness::Start,
        listen: Vec<Multiaddr>,
        wiring: Wiring,
    ) -> Self {
        let config = Arc::new(reader.config().clone());
        Network {
            swarm,
            replicator: Replicator::new(config.limits.clone()),
            scope: Arc::new(Scope::default()),
            me: keypair.author(),
            keypair,
            log,
            config,
            reader,
            wiring,
            pending: HashMap::new(),
            serving: self::sync::Serving::default(),
            ingesting: FuturesUnordered::new(),
            gossip_in_flight: 0,
            publish: VecDeque::new(),
            connected: HashMap::new(),
            backoff: HashMap::new(),
            listen,
            gossip_window: HashMap::new(),
            resync_soon: BTreeSet::new(),
            announce: BTreeSet::new(),
            asked: HashMap::new(),
            lookups: Default::default(),
            gossip_counts: GossipCounts::default(),
            refused_connections: HashMap::new(),
            holepunched: HashSet::new(),
            punch_failed: HashSet::new(),
            punches: Default::default(),
            punch_again: HashSet::new(),
            relayed_for: HashSet::new(),
            reservations: BTreeSet::new(),
            relay_slots: Default::default(),
            other_transport: HashSet::new(),
            nat: Reachability::Unknown,
            reached_directly: false,
            publish_at: None,
            links: Default::default(),
            linking: FuturesUnordered::new(),
            blobs_asked: Default::default(),
            blobs_serving: FuturesUnordered::new(),
            fetcher: None,
            own_head: self::own_head::OwnHead::new(start),
            probation: Default::default(),
        }
    }

    /// Fetches the files that entries stored from now on attach (up to the
    /// eager size).
    pub(crate) fn with_fetcher(mut self, fetcher: Arc<crate::blobs::Fetcher>) -> Self {
        self.fetcher = Some(fetcher);
        self
    }

    /// This node: its libp2p key, or the key it signs its log with.
    fn is_self(&self, author: &AuthorId) -> bool {
        *author == self.me || *author == self.log.author()
    }

    pub(crate) async fn run(mut self) {
        // One topic for every author's entries (PROTOCOL.md §8.1).
        let gossipsub = &mut self.swarm.behaviour_mut().gossipsub;
        if let Err(e) = gossipsub.subscribe(&swarm::topic()) {
            tracing::warn!(error = %e, "cannot subscribe to the entries topic");
        }
        if let Err(e) = gossipsub.set_topic_params(swarm::topic(), swarm::topic_score_params()) {
            tracing::debug!(error = %e, "cannot set topic score params");
        }
        let scope = self.wiring.scope.borrow_and_update().clone();
        self.apply_scope(scope);
        self.offer_relay();
        for addr in self.config.bootstrap.clone() {
            if let Err(e) = self.swarm.dial(addr.clone()) {
                tracing::warn!(%addr, error = %e, "cannot dial bootstrap address");
            }
        }
        self.redial();
        let mut redial = interval(Duration::from_secs(2));
        let mut resync = interval(self.config.resync_interval);
        let mut publish = interval(Duration::from_millis(50));
        let mut discover = interval(self::discovery::TICK);
        for timer in [&mut redial, &mut resync, &mut publish, &mut discover] {
            timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
        }
        loop {
            tokio::select! {
                biased;
                command = self.wiring.commands.recv() => match command {
                    Some(NetCommand::Shutdown(reply)) => {
                        self.close();
                        let _ = reply.send(());
                        return;
                    }
                    Some(command) => self.handle_command(command),
                    None => {
                        // Every handle is gone.
                        self.close();
                        return;
                    }
                },
                Some(notice) = self.wiring.notices.recv() => self.handle_notice(notice),
                Ok(()) = self.wiring.scope.changed() => {
                    let scope = self.wiring.scope.borrow_and_update().clone();
                    self.apply_scope(scope);
                }
                Some((waiting, outcome)) = self.ingesting.next() => {
                    self.handle_outcome(waiting, outcome);
                }
                Some((channel, result)) = self.linking.next() => self.linked(channel, result),
                Some((channel, response)) = self.blobs_serving.next() => {
                    self.blob_read(channel, response);
                }
                event = self.swarm.select_next_some() => self.handle_swarm_event(event),
                _ = publish.tick() => {
                    self.check_own_head();
                    self.flush_publish();
                    self.run_resync_soon();
                }
                _ = redial.tick() => {
                    self.redial();
                    self.expire_links();
                    self.expire_probation();
                }
                _ = discover.tick() => {
                    self.discover();
                    self.retry_punches();
                    self.reserve_again();
                }
                _ = resync.tick() => self.resync_all(),
            }
        }
    }

    fn handle_command(&mut self, command: NetCommand) {
        self.sync_scope();
        match command {
            NetCommand::Op(request) => request.run(self as &mut dyn crate::ops::Net),
            NetCommand::BlobRange {
                peer,
                request,
                reply,
            } => self.ask_blob(peer, request, reply),
            NetCommand::BlobPeers(reply) => {
                let _ = reply.send(self.blob_peers());
            }
            NetCommand::InjectGossip { data, reply } => {
                let result = self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .publish(swarm::topic(), data)
                    .map(|_| ())
                    .map_err(|e| Error::Network(format!("publish failed: {e}")));
                let _ = reply.send(result);
            }
            NetCommand::Shutdown(reply) => {
                // Handled in `run`; here only for completeness.
                let _ = reply.send(());
            }
        }
    }

    fn handle_notice(&mut self, notice: NetNotice) {
        self.sync_scope();
        match notice {
            NetNotice::Publish(entries) => {
                for entry in entries {
                    if self.publish.len() >= PUBLISH_QUEUE_CAPACITY {
                        // Peers learn of it from the announced head instead.
                        if let Some(dropped) = self.publish.pop_front() {
                            self.announce.insert(dropped.author());
                        }
                    }
                    self.publish.push_back(entry);
                }
                self.flush_publish();
            }
            NetNotice::Dial { author, addrs } => {
                let peer = swarm::peer_id(&author);
                for addr in &addrs {
                    self.swarm.add_peer_address(peer, addr.clone());
                }
                self.backoff.remove(&peer);
                self.dial_peer(peer);
            }
        }
    }

    /// Follows the store's replication set if it changed. The store actor
    /// publishes a new set before it answers the request that changed it,
    /// so commands sent after that answer always see the new set.
    fn sync_scope(&mut self) {
        if self.wiring.scope.has_changed().unwrap_or(false) {
            let scope = self.wiring.scope.borrow_and_update().clone();
            self.apply_scope(scope);
        }
    }

    /// Makes the allow list and gossip subscriptions match the replication set.
    fn apply_scope(&mut self, scope: Arc<Scope>) {
        if Arc::ptr_eq(&scope, &self.scope) {
            return;
        }
        let (me, log) = (self.me, self.log.author());
        let behaviour = self.swarm.behaviour_mut();
        let want: BTreeSet<AuthorId> = scope.authors().iter().copied().collect();
        // Peers: replicated keys that may still write (a revoked device
        // is neither let in nor dialled).
        let peers: BTreeSet<AuthorId> = want
            .iter()
            .filter(|a| scope.is_peer(a) && **a != me && **a != log)
            .copied()
            .collect();
        let had: BTreeSet<AuthorId> = self
            .scope
            .authors()
            .iter()
            .filter(|a| self.scope.is_peer(a) && **a != me && **a != log)
            .copied()
            .collect();
        for author in peers.difference(&had) {
            behaviour.allow.allow_peer(swarm::peer_id(author));
            self.refused_connections
                .remove(&Some(swarm::peer_id(author)));
        }
        for author in had.difference(&peers) {
            // Closes any connection at once.
            behaviour.allow.disallow_peer(swarm::peer_id(author));
        }
        self.reader = Reader::new(
            self.reader.store().clone(),
            self.reader.blobs().clone(),
            log,
            scope.clone(),
            self.config.clone(),
        );
        // Newly replicated authors: ask the connected peers for them.
        let grew = want.iter().any(|a| !self.scope.contains(a));
        self.scope = scope;
        if grew {
            self.resync_soon.extend(self.connected.keys().copied());
        }
        self.update_door(grew);
        self.redial();
    }

    fn flush_publish(&mut self) {
        let mut sent = 0;
        while let Some(entry) = self.publish.front() {
            if sent >= PUBLISH_PER_TURN {
                break;
            }
            let result = self
                .swarm
                .behaviour_mut()
                .gossipsub
                .publish(swarm::topic(), entry.encode());
            match result {
                Ok(_) | Err(PublishError::Duplicate) => {}
                // Nobody listens on that log's topic yet (a key whose
                // subscribers are still arriving, e.g. a new identity key):
                // its head is announced instead, and peers fetch it.
                Err(PublishError::NoPeersSubscribedToTopic) => {
                    if !self.connected.is_empty() {
                        self.announce.insert(entry.author());
                    }
                }
                Err(PublishError::AllQueuesFull(_)) => break, // backpressure: retry next tick
                Err(e) => tracing::warn!(id = %entry.id(), error = %e, "cannot gossip entry"),
            }
            self.publish.pop_front();
            sent += 1;
        }
    }

    /// Tells the store actor what we learned about a peer's node; dropped
    /// if the store is busy (it is bookkeeping, redone on the next event).
    fn note_peer(&self, note: PeerNote) {
        if self.wiring.store.try_send(StoreMsg::Peer(note)).is_err() {
            tracing::debug!("store busy: a peer note was dropped");
        }
    }

    fn close(&mut self) {
        let peers: Vec<PeerId> = self.connected.keys().copied().collect();
        for peer in peers {
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    /// What came back from verification and the store.
    fn handle_outcome(
        &mut self,
        waiting: Waiting,
        outcome: std::result::Result<IngestOutcome, oneshot::error::RecvError>,
    ) {
        // A dropped reply means the store is stopping: nothing was stored.
        let outcome = outcome.unwrap_or_else(|_| IngestOutcome {
            error: Some(crate::store::Error::Corrupt("the store is stopping".into())),
            ..Default::default()
        });
        self.fetch_attached(&outcome.appended);
        match waiting {
            Waiting::Gossip {
                source,
                id,
                author,
                head,
            } => {
                self.gossip_in_flight = self.gossip_in_flight.saturating_sub(1);
                self.gossip_outcome(source, id, author, head, outcome);
            }
            Waiting::Sync { peer, author } => self.sync_outcome(peer, author, outcome),
            Waiting::Changes { peer } => self.changes_outcome(peer, outcome),
            // A key took over from one this node replicates: the scope
            // follows on its watch; the peer that offered it holds its log.
            // Once the scope has followed, connected peers are asked for it.
            Waiting::Offered { peer } => {
                for entry in &outcome.appended {
                    tracing::debug!(%peer, new = %entry.author(), "kept a handover a peer offered");
                }
            }
        }
    }
}

fn is_unspecified(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| match p {
        Protocol::Ip4(ip) => ip.is_unspecified(),
        Protocol::Ip6(ip) => ip.is_unspecified(),
        _ => false,
    })
}

fn is_loopback(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| match p {
        Protocol::Ip4(ip) => ip.is_loopback(),
        Protocol::Ip6(ip) => ip.is_loopback(),
        _ => false,
    })
}

fn is_relayed(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| matches!(p, Protocol::P2pCircuit))
}

/// The address without a trailing `/p2p/<peer id>`.
fn strip_p2p(addr: &Multiaddr) -> Multiaddr {
    let mut addr = addr.clone();
    if matches!(addr.iter().last(), Some(Protocol::P2p(_))) {
        addr.pop();
    }
    addr
}

/// The network loop as its operations see it (`ops::NetOp`): each method
/// is the inherent one of the same name.
impl crate::ops::Net for Network {
    fn invite(&self) -> crate::model::InviteView {
        Network::invite(self)
    }

    fn dial_addr(&mut self, addr: &str) -> Result<()> {
        Network::dial_addr(self, addr)
    }

    fn peers(&self) -> Result<Vec<crate::model::PeerView>> {
        Network::peers(self)
    }

    fn status(&self) -> Result<crate::model::StatusView> {
        Network::status(self)
    }

    fn link_code(&mut self) -> Result<crate::model::LinkCodeView> {
        Network::link_code(self)
    }
}
