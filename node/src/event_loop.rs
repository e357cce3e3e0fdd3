//! The one task that owns the swarm, the core (and with it the store) and
//! the replication state. Nothing else touches them, so nothing is locked:
//! the [`Handle`](crate::handle::Handle) sends commands, the swarm sends
//! events, timers tick, and each arm of `run` calls one `handle_*` method.

mod discovery;

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::time::Duration;

use futures::StreamExt;
use kith_protocol::sync::{Output, Replicator};
use kith_protocol::{AuthorId, Entry, Head, ValidationError};
use libp2p::core::ConnectedPoint;
use libp2p::gossipsub::{self, MessageAcceptance, PublishError};
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundRequestId};
use libp2p::swarm::SwarmEvent;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::{Multiaddr, PeerId, Swarm, identify, mdns};
use tokio::sync::{broadcast, mpsc};
use tokio::time::{Instant, MissedTickBehavior, interval};

use crate::core::{Core, now_ms};
use crate::error::{Error, Result};
use crate::handle::{Command, Event, Origin};
use crate::invite::{self, Invite};
use crate::model::{
    AuthorStatus, EntryView, GossipCounts, InviteView, JoinParams, NewPost, PeerView, StatusView,
    TrustParams,
};
use crate::net::{self, Behaviour, BehaviourEvent};
use crate::store::Scope;

/// Most own entries waiting to be gossiped; older ones are dropped from the
/// queue (peers still get them by catch-up).
const PUBLISH_QUEUE_CAPACITY: usize = 10_000;
/// Most entries published per turn of the loop, so the swarm keeps running.
const PUBLISH_PER_TURN: usize = 256;
/// Most posts committed with one flush.
const GROUP_COMMIT_MAX: usize = 256;
const REDIAL_MIN: Duration = Duration::from_secs(1);
const REDIAL_MAX: Duration = Duration::from_secs(300);
/// A connection that lived this long resets the redial backoff.
const STABLE_CONNECTION: Duration = Duration::from_secs(10);

struct Connected {
    /// The address shown: a direct connection's if there is one.
    addr: Multiaddr,
    /// The address we dialed it at, if we dialed.
    dialed: Option<Multiaddr>,
    /// Whether the shown connection goes through a relay.
    relayed: bool,
    /// Every open connection: id, remote address, relayed.
    conns: Vec<(libp2p::swarm::ConnectionId, Multiaddr, bool)>,
    since: Instant,
}

impl Connected {
    /// Shows a direct connection if there is one.
    fn refresh_addr(&mut self) {
        if let Some((_, a, relayed)) = self.conns.iter().find(|c| !c.2).or(self.conns.first()) {
            self.addr = a.clone();
            self.relayed = *relayed;
        }
    }
}

struct Backoff {
    next: Instant,
    delay: Duration,
}

pub(crate) struct EventLoop {
    swarm: Swarm<Behaviour>,
    core: Core,
    replicator: Replicator<PeerId>,
    commands: mpsc::Receiver<Command>,
    /// A command taken off the channel while grouping posts, run next.
    deferred: Option<Command>,
    events: broadcast::Sender<Event>,
    /// Outbound sync requests → the replicator's token.
    pending: HashMap<OutboundRequestId, u64>,
    publish: VecDeque<Entry>,
    connected: HashMap<PeerId, Connected>,
    backoff: HashMap<PeerId, Backoff>,
    listen: Vec<Multiaddr>,
    /// Gossip messages per peer in the current one-second window.
    gossip_window: HashMap<PeerId, (Instant, u32)>,
    /// Peers whose subscriptions changed: re-run the frontier exchange.
    resync_soon: BTreeSet<PeerId>,
    /// Authors whose logs advanced by catch-up since the last tick: their
    /// heads are announced to every connected peer (sync is not gossiped).
    announce: BTreeSet<AuthorId>,
    /// Wiki dependencies asked for recently.
    asked: HashMap<[u8; 32], Instant>,
    scope: Scope,
    subscribed: BTreeSet<AuthorId>,
    gossip_counts: GossipCounts,
    refused_connections: u64,
    /// Peers whose direct connection came from hole punching.
    holepunched: HashSet<PeerId>,
    /// Peers that hold a relay slot on this node.
    relayed_for: HashSet<PeerId>,
    /// Relays this node reserved a slot on.
    reservations: BTreeSet<PeerId>,
    /// AutoNAT's view of our reachability.
    nat: String,
    /// When to (re)publish our address record in the DHT.
    publish_at: Option<Instant>,
}

impl EventLoop {
    pub(crate) fn new(
        swarm: Swarm<Behaviour>,
        core: Core,
        commands: mpsc::Receiver<Command>,
        events: broadcast::Sender<Event>,
        listen: Vec<Multiaddr>,
    ) -> Self {
        let replicator = Replicator::new(core.config().limits.clone());
        EventLoop {
            swarm,
            core,
            replicator,
            commands,
            deferred: None,
            events,
            pending: HashMap::new(),
            publish: VecDeque::new(),
            connected: HashMap::new(),
            backoff: HashMap::new(),
            listen,
            gossip_window: HashMap::new(),
            resync_soon: BTreeSet::new(),
            announce: BTreeSet::new(),
            asked: HashMap::new(),
            scope: Scope::default(),
            subscribed: BTreeSet::new(),
            gossip_counts: GossipCounts::default(),
            refused_connections: 0,
            holepunched: HashSet::new(),
            relayed_for: HashSet::new(),
            reservations: BTreeSet::new(),
            nat: "unknown".to_string(),
            publish_at: None,
        }
    }

    pub(crate) async fn run(mut self) {
        self.apply_scope();
        for addr in self.core.config().bootstrap.clone() {
            if let Err(e) = self.swarm.dial(addr.clone()) {
                tracing::warn!(%addr, error = %e, "cannot dial bootstrap address");
            }
        }
        self.redial();
        let mut redial = interval(Duration::from_secs(2));
        let mut resync = interval(self.core.config().resync_interval);
        let mut publish = interval(Duration::from_millis(50));
        let mut discover = interval(Duration::from_secs(5));
        for timer in [&mut redial, &mut resync, &mut publish, &mut discover] {
            timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
        }
        loop {
            if let Some(command) = self.deferred.take() {
                if !self.handle_command(command) {
                    return;
                }
                continue;
            }
            tokio::select! {
                biased;
                command = self.commands.recv() => match command {
                    Some(command) => if !self.handle_command(command) { return },
                    None => {
                        // Every handle is gone.
                        self.close();
                        return;
                    }
                },
                event = self.swarm.select_next_some() => self.handle_swarm_event(event),
                _ = publish.tick() => {
                    self.flush_publish();
                    self.run_resync_soon();
                    self.core.search_tick();
                }
                _ = redial.tick() => self.redial(),
                _ = discover.tick() => self.discover(),
                _ = resync.tick() => self.resync_all(),
            }
        }
    }

    // ----- commands ----------------------------------------------------------

    /// Returns false when the loop must end.
    fn handle_command(&mut self, command: Command) -> bool {
        match command {
            Command::Post { post, reply } => self.handle_posts(post, reply),
            Command::Core(job) => {
                job(&mut self.core);
                self.after_core();
            }
            Command::Dial { addr, reply } => {
                let _ = reply.send(self.dial_addr(&addr));
            }
            Command::Join { params, reply } => {
                let result = self.join(params);
                self.after_core();
                let _ = reply.send(result);
            }
            Command::Invite { reply } => {
                let _ = reply.send(Ok(self.invite()));
            }
            Command::Peers { reply } => {
                let _ = reply.send(self.peers());
            }
            Command::Status { reply } => {
                let _ = reply.send(self.status());
            }
            Command::InjectGossip {
                author,
                data,
                reply,
            } => {
                let result = self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .publish(net::topic(&author), data)
                    .map(|_| ())
                    .map_err(|e| Error::Network(format!("publish failed: {e}")));
                let _ = reply.send(result);
            }
            Command::Shutdown { reply } => {
                self.close();
                let _ = reply.send(());
                return false;
            }
        }
        true
    }

    /// Commits this post and any others already queued with one flush.
    fn handle_posts(
        &mut self,
        first: NewPost,
        reply: tokio::sync::oneshot::Sender<Result<EntryView>>,
    ) {
        let mut batch = vec![(first, reply)];
        while batch.len() < GROUP_COMMIT_MAX {
            match self.commands.try_recv() {
                Ok(Command::Post { post, reply }) => batch.push((post, reply)),
                Ok(other) => {
                    self.deferred = Some(other);
                    break;
                }
                Err(_) => break,
            }
        }
        let mut bodies = Vec::with_capacity(batch.len());
        let mut waiting = Vec::with_capacity(batch.len());
        for (post, reply) in batch {
            match self.core.prepare_post(&post) {
                Ok(body) => {
                    bodies.push(body);
                    waiting.push(reply);
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            }
        }
        if bodies.is_empty() {
            return;
        }
        match self.core.append(&bodies) {
            Ok(entries) => {
                for (entry, reply) in entries.iter().zip(waiting) {
                    let _ = reply.send(self.core.view(entry));
                }
            }
            Err(e) => {
                let (kind, message) = (e.kind(), e.to_string());
                for reply in waiting {
                    let _ = reply.send(Err(Error::Remote {
                        kind,
                        message: message.clone(),
                    }));
                }
            }
        }
        self.after_core();
    }

    /// After the core ran: publish fresh own entries, follow scope changes.
    fn after_core(&mut self) {
        for entry in self.core.take_fresh() {
            let _ = self.events.send(Event::Entry {
                entry: Box::new(entry.clone()),
                origin: Origin::Local,
            });
            if self.publish.len() >= PUBLISH_QUEUE_CAPACITY {
                self.publish.pop_front();
            }
            self.publish.push_back(entry);
        }
        if self.core.scope() != &self.scope {
            self.apply_scope();
        }
        self.flush_publish();
    }

    /// Makes the allow list and gossip subscriptions match the replication set.
    fn apply_scope(&mut self) {
        let scope = self.core.scope().clone();
        let me = self.core.me();
        let behaviour = self.swarm.behaviour_mut();
        let want: BTreeSet<AuthorId> = scope.authors().iter().copied().collect();
        for author in want.difference(&self.scope.authors().clone()) {
            if *author != me {
                behaviour.allow.allow_peer(net::peer_id(author));
            }
        }
        for author in self.scope.authors().clone().difference(&want) {
            // Closes any connection at once.
            behaviour.allow.disallow_peer(net::peer_id(author));
        }
        for author in &want {
            if self.subscribed.insert(*author) {
                let topic = net::topic(author);
                if let Err(e) = behaviour.gossipsub.subscribe(&topic) {
                    tracing::warn!(%author, error = %e, "cannot subscribe");
                }
                if let Err(e) = behaviour
                    .gossipsub
                    .set_topic_params(topic, net::topic_score_params())
                {
                    tracing::debug!(error = %e, "cannot set topic score params");
                }
            }
        }
        let gone: Vec<AuthorId> = self.subscribed.difference(&want).copied().collect();
        for author in gone {
            behaviour.gossipsub.unsubscribe(&net::topic(&author));
            self.subscribed.remove(&author);
        }
        self.scope = scope;
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
                .publish(net::topic(&entry.author()), entry.encode());
            match result {
                Ok(_)
                | Err(PublishError::Duplicate)
                | Err(PublishError::NoPeersSubscribedToTopic) => {}
                Err(PublishError::AllQueuesFull(_)) => break, // backpressure: retry next tick
                Err(e) => tracing::warn!(id = %entry.id(), error = %e, "cannot gossip entry"),
            }
            self.publish.pop_front();
            sent += 1;
        }
    }

    fn dial_addr(&mut self, addr: &str) -> Result<()> {
        let addr: Multiaddr = crate::config::parse_multiaddr("address", addr)?;
        self.swarm
            .dial(addr.clone())
            .map_err(|e| Error::Network(format!("cannot dial {addr}: {e}")))
    }

    fn join(&mut self, params: JoinParams) -> Result<crate::model::TrustView> {
        let invite =
            Invite::decode(&params.code).map_err(|e| Error::InvalidInput(e.to_string()))?;
        if invite.author == self.core.me() {
            return Err(Error::InvalidInput("that is your own invite code".into()));
        }
        let view = self.core.trust_add(&TrustParams {
            author: invite.author.to_string(),
            petname: params.petname,
        })?;
        let addrs: Vec<String> = invite.addrs.iter().map(ToString::to_string).collect();
        self.core.store().peer_add_addrs(&invite.author, &addrs)?;
        self.apply_scope();
        let peer = net::peer_id(&invite.author);
        for addr in &invite.addrs {
            self.swarm.add_peer_address(peer, addr.clone());
        }
        self.backoff.remove(&peer);
        self.dial_peer(peer);
        Ok(view)
    }

    fn invite(&self) -> InviteView {
        let mut addrs: Vec<Multiaddr> = self
            .swarm
            .external_addresses()
            .cloned()
            .chain(self.listen.iter().cloned())
            .filter(|a| !is_unspecified(a))
            .collect();
        addrs.dedup();
        // Addresses others can reach first; loopback last.
        addrs.sort_by_key(is_loopback);
        addrs.truncate(invite::MAX_ADDRS);
        let invite = Invite {
            author: self.core.me(),
            addrs,
        };
        InviteView {
            code: invite.encode(),
            author: invite.author,
            addrs: invite.addrs.iter().map(ToString::to_string).collect(),
        }
    }

    fn peers(&self) -> Result<Vec<PeerView>> {
        let store = self.core.store();
        let me = self.core.me();
        let mut out = Vec::new();
        for author in self.scope.authors() {
            if *author == me || !self.scope.is_direct(author) {
                continue;
            }
            let record = store.peer_get(author)?.unwrap_or_default();
            let live = self.connected.get(&net::peer_id(author));
            out.push(PeerView {
                author: *author,
                name: store.display_name(author)?,
                addrs: record.addrs,
                connected: live.is_some(),
                connection: live.map(|c| {
                    if c.relayed {
                        "relayed"
                    } else if self.holepunched.contains(&net::peer_id(author)) {
                        "hole-punched"
                    } else {
                        "direct"
                    }
                    .to_string()
                }),
                remote_addr: live.map(|c| c.addr.to_string()),
                last_seen: if live.is_some() {
                    Some(now_ms())
                } else {
                    record.last_seen_ms
                },
                last_sync: record.last_sync_ms,
            });
        }
        Ok(out)
    }

    fn status(&self) -> Result<StatusView> {
        let store = self.core.store();
        let mut authors = Vec::new();
        for author in self.scope.authors() {
            authors.push(AuthorStatus {
                author: *author,
                name: store.display_name(author)?,
                local_seq: store.head(author)?.map_or(0, |h| h.seq),
                seen_seq: self.replicator.best_seen(author),
                syncing: self.replicator.is_syncing_author(author),
                forked: store.is_flagged(author)?,
            });
        }
        Ok(StatusView {
            me: self.core.me(),
            syncing: self.replicator.is_syncing(),
            connected_peers: self.connected.len(),
            authors,
            listen: self.listen.iter().map(ToString::to_string).collect(),
            gossip: self.gossip_counts.clone(),
            refused_connections: self.refused_connections,
            reachability: self.nat.clone(),
            relays: self
                .reservations
                .iter()
                .filter_map(net::author_of)
                .collect(),
            relaying_for: self.relayed_for.iter().filter_map(net::author_of).collect(),
        })
    }

    fn close(&mut self) {
        if let Err(e) = self.core.close() {
            tracing::error!(error = %e, "flushing the store at shutdown failed");
        }
        let peers: Vec<PeerId> = self.connected.keys().copied().collect();
        for peer in peers {
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    // ----- connections -------------------------------------------------------

    fn allowed(&self, peer: &PeerId) -> bool {
        match net::author_of(peer) {
            Some(author) => author != self.core.me() && self.scope.contains(&author),
            None => false,
        }
    }

    fn dial_peer(&mut self, peer: PeerId) {
        if self.connected.contains_key(&peer) {
            return;
        }
        let Some(author) = net::author_of(&peer) else {
            return;
        };
        let addrs: Vec<Multiaddr> = match self.core.store().peer_get(&author) {
            Ok(Some(record)) => record.addrs.iter().filter_map(|a| a.parse().ok()).collect(),
            _ => Vec::new(),
        };
        let opts = DialOpts::peer_id(peer)
            .addresses(addrs)
            .condition(PeerCondition::DisconnectedAndNotDialing)
            .build();
        if let Err(e) = self.swarm.dial(opts) {
            tracing::debug!(%peer, error = %e, "dial not started");
        }
    }

    /// Dials trusted peers we are not connected to, with exponential backoff.
    fn redial(&mut self) {
        let now = Instant::now();
        let me = self.core.me();
        let candidates: Vec<PeerId> = self
            .scope
            .authors()
            .iter()
            .filter(|a| **a != me && self.scope.is_direct(a))
            .map(net::peer_id)
            .filter(|p| !self.connected.contains_key(p))
            .collect();
        for peer in candidates {
            let due = self.backoff.get(&peer).is_none_or(|b| b.next <= now);
            if !due {
                continue;
            }
            let has_addrs = net::author_of(&peer)
                .and_then(|a| self.core.store().peer_get(&a).ok().flatten())
                .is_some_and(|r| !r.addrs.is_empty());
            if !has_addrs {
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

    fn resync_all(&mut self) {
        let peers: Vec<PeerId> = self.connected.keys().copied().collect();
        for peer in peers {
            let outputs = self.replicator.resync(peer, &self.core.logs());
            self.run_outputs(outputs);
        }
    }

    fn run_resync_soon(&mut self) {
        let peers = std::mem::take(&mut self.resync_soon);
        for peer in peers {
            let outputs = self.replicator.resync(peer, &self.core.logs());
            self.run_outputs(outputs);
        }
        if self.announce.is_empty() {
            return;
        }
        let authors: Vec<AuthorId> = std::mem::take(&mut self.announce).into_iter().collect();
        let peers: Vec<PeerId> = self.connected.keys().copied().collect();
        for peer in peers {
            let outputs = self.replicator.announce(peer, &authors, &self.core.logs());
            self.run_outputs(outputs);
        }
    }

    fn remember_addrs(&mut self, peer: &PeerId, addrs: impl IntoIterator<Item = Multiaddr>) {
        let Some(author) = net::author_of(peer) else {
            return;
        };
        let addrs: Vec<String> = addrs
            .into_iter()
            .filter(|a| !is_unspecified(a))
            .map(|a| strip_p2p(&a).to_string())
            .collect();
        if addrs.is_empty() {
            return;
        }
        if let Err(e) = self.core.store().peer_add_addrs(&author, &addrs) {
            tracing::warn!(error = %e, "cannot remember peer addresses");
        }
    }

    fn touch_peer(&mut self, peer: &PeerId, seen: bool, synced: bool) {
        let Some(author) = net::author_of(peer) else {
            return;
        };
        let store = self.core.store();
        let Ok(record) = store.peer_get(&author) else {
            return;
        };
        let mut record = record.unwrap_or_default();
        if seen {
            record.last_seen_ms = Some(now_ms());
        }
        if synced {
            record.last_sync_ms = Some(now_ms());
        }
        if let Err(e) = store.peer_put(&author, &record) {
            tracing::warn!(error = %e, "cannot update peer record");
        }
    }

    // ----- swarm events ------------------------------------------------------

    fn handle_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening");
                if !self.listen.contains(&address) {
                    self.listen.push(address);
                }
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => self.listen.retain(|a| a != &address),
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
                ..
            } => {
                if num_established != 0 {
                    if let Some(c) = self.connected.get_mut(&peer_id) {
                        c.conns.retain(|(id, _, _)| *id != connection_id);
                        c.refresh_addr();
                    }
                    return;
                }
                self.holepunched.remove(&peer_id);
                self.reservations.remove(&peer_id);
                if let Some(gone) = self.connected.remove(&peer_id) {
                    tracing::info!(peer = %peer_id, "disconnected");
                    self.touch_peer(&peer_id, true, false);
                    let outputs = self.replicator.disconnected(&peer_id, &self.core.logs());
                    self.run_outputs(outputs);
                    if let Some(author) = net::author_of(&peer_id) {
                        let _ = self.events.send(Event::PeerDisconnected(author));
                    }
                    // A connection that lasted is redialled soon; one that the
                    // other side closed at once (it does not trust us) backs
                    // off further each time.
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
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                tracing::debug!(peer = ?peer_id, error = %error, "outgoing connection failed");
            }
            SwarmEvent::IncomingConnectionError {
                error,
                send_back_addr,
                ..
            } => {
                if matches!(error, libp2p::swarm::ListenError::Denied { .. }) {
                    self.refused_connections += 1;
                    tracing::info!(from = %send_back_addr, "refused a connection from a peer outside the replication set");
                } else {
                    tracing::debug!(from = %send_back_addr, error = %error, "incoming connection failed");
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(event)) => self.handle_gossip(event),
            SwarmEvent::Behaviour(BehaviourEvent::Sync(event)) => self.handle_sync(event),
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                for (peer, addr) in found {
                    if self.allowed(&peer) {
                        tracing::debug!(%peer, %addr, "found trusted peer by mDNS");
                        self.swarm.add_peer_address(peer, addr.clone());
                        self.remember_addrs(&peer, [addr]);
                        self.dial_peer(peer);
                    }
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => self.on_identify(peer_id, info),
            SwarmEvent::Behaviour(BehaviourEvent::Px(event)) => self.on_px(event),
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

    fn on_connected(
        &mut self,
        peer: PeerId,
        connection: libp2p::swarm::ConnectionId,
        endpoint: ConnectedPoint,
        count: u32,
    ) {
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
        if count > 1 {
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
        if let Some(author) = net::author_of(&peer) {
            let _ = self.events.send(Event::PeerConnected(author));
        }
        let outputs = self.replicator.connected(peer, &self.core.logs());
        self.run_outputs(outputs);
    }

    // ----- gossip ------------------------------------------------------------

    fn handle_gossip(&mut self, event: gossipsub::Event) {
        match event {
            gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            } => {
                let acceptance = self.on_gossip(propagation_source, &message);
                match acceptance {
                    MessageAcceptance::Accept => self.gossip_counts.accepted += 1,
                    MessageAcceptance::Ignore => self.gossip_counts.ignored += 1,
                    MessageAcceptance::Reject => self.gossip_counts.rejected += 1,
                }
                self.swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&message_id, &propagation_source, acceptance);
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

    fn over_rate(&mut self, peer: PeerId) -> bool {
        let now = Instant::now();
        let window = self.gossip_window.entry(peer).or_insert((now, 0));
        if now.duration_since(window.0) >= Duration::from_secs(1) {
            *window = (now, 0);
        }
        window.1 += 1;
        window.1 > self.core.config().gossip_rate_per_peer
    }

    /// Validates one gossiped entry and decides its fate in gossipsub.
    fn on_gossip(&mut self, source: PeerId, message: &gossipsub::Message) -> MessageAcceptance {
        if !self.allowed(&source) {
            return MessageAcceptance::Ignore;
        }
        if self.over_rate(source) {
            tracing::debug!(peer = %source, "gossip rate limit exceeded; ignoring");
            return MessageAcceptance::Ignore;
        }
        let entry = match Entry::decode(&message.data, self.core.store().limits()) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(peer = %source, error = %e, "rejected malformed gossip");
                return MessageAcceptance::Reject;
            }
        };
        if net::topic_author(&message.topic) != Some(entry.author()) {
            tracing::warn!(peer = %source, "rejected gossip on the wrong topic");
            return MessageAcceptance::Reject;
        }
        if !self.scope.contains(&entry.author()) {
            return MessageAcceptance::Ignore;
        }
        let head = Head {
            seq: entry.seq(),
            id: entry.id(),
        };
        self.replicator.note_seen(entry.author(), entry.seq());
        let mut outcome = self.core.ingest(std::slice::from_ref(&entry));
        self.after_ingest(&outcome.appended, Origin::Gossip);
        let asks = self.ask_missing(source);
        self.run_outputs(asks);
        match outcome.error.take() {
            None if outcome.appended.is_empty() => MessageAcceptance::Ignore,
            None => MessageAcceptance::Accept,
            Some(crate::store::Error::Invalid(e)) => match e {
                ValidationError::SeqGap { .. } => {
                    let outputs =
                        self.replicator
                            .gap(source, entry.author(), head, &self.core.logs());
                    self.run_outputs(outputs);
                    MessageAcceptance::Ignore
                }
                ValidationError::Fork(proof) => {
                    tracing::warn!(author = %proof.author(), seq = proof.seq(), "fork detected; holding this author's log");
                    let _ = self.events.send(Event::Fork(proof.author()));
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
        }
    }

    /// Asks `peer` (which sent us a change that waits for dependencies) for
    /// the wiki changes we lack; each hash at most once per minute.
    fn ask_missing(&mut self, peer: PeerId) -> Vec<Output<PeerId>> {
        let now = Instant::now();
        self.asked
            .retain(|_, t| now.duration_since(*t) < Duration::from_secs(60));
        let hashes: Vec<[u8; 32]> = self
            .core
            .take_missing()
            .into_iter()
            .filter(|h| !self.asked.contains_key(h))
            .collect();
        if hashes.is_empty() {
            return Vec::new();
        }
        for h in &hashes {
            self.asked.insert(*h, now);
        }
        self.replicator.want_changes(peer, hashes)
    }

    fn after_ingest(&mut self, appended: &[Entry], origin: Origin) {
        for entry in appended {
            let _ = self.events.send(Event::Entry {
                entry: Box::new(entry.clone()),
                origin,
            });
        }
        if self.core.scope() != &self.scope {
            self.apply_scope();
        }
    }

    // ----- sync --------------------------------------------------------------

    fn handle_sync(
        &mut self,
        event: request_response::Event<kith_protocol::sync::Request, kith_protocol::sync::Response>,
    ) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    if !self.allowed(&peer) {
                        return; // Dropping the channel closes the stream unanswered.
                    }
                    let (response, outputs) =
                        self.replicator
                            .handle_request(peer, request, &self.core.logs());
                    if self
                        .swarm
                        .behaviour_mut()
                        .sync
                        .send_response(channel, response)
                        .is_err()
                    {
                        tracing::debug!(%peer, "sync response not sent: stream closed");
                    }
                    self.run_outputs(outputs);
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    let Some(token) = self.pending.remove(&request_id) else {
                        return;
                    };
                    let outputs =
                        self.replicator
                            .handle_response(peer, token, response, &self.core.logs());
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
                if let Some(token) = self.pending.remove(&request_id) {
                    let outputs = self
                        .replicator
                        .request_failed(&peer, token, &self.core.logs());
                    self.run_outputs(outputs);
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "inbound sync request failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    /// Carries out what the replicator asked for, until it asks for nothing.
    fn run_outputs(&mut self, outputs: Vec<Output<PeerId>>) {
        let mut work: VecDeque<Output<PeerId>> = outputs.into();
        while let Some(output) = work.pop_front() {
            match output {
                Output::Send {
                    peer,
                    token,
                    request,
                } => {
                    if self.connected.contains_key(&peer) {
                        let id = self.swarm.behaviour_mut().sync.send_request(&peer, request);
                        self.pending.insert(id, token);
                    } else {
                        work.extend(self.replicator.request_failed(
                            &peer,
                            token,
                            &self.core.logs(),
                        ));
                    }
                }
                Output::Ingest {
                    peer,
                    author,
                    entries,
                } => {
                    let mut outcome = self.core.ingest(&entries);
                    self.after_ingest(&outcome.appended, Origin::Sync);
                    let ok = match outcome.error.take() {
                        None => true,
                        Some(crate::store::Error::Invalid(ValidationError::Fork(proof))) => {
                            tracing::warn!(author = %proof.author(), "fork detected during sync");
                            let _ = self.events.send(Event::Fork(proof.author()));
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
                    work.extend(
                        self.replicator
                            .ingested(&peer, author, ok, &self.core.logs()),
                    );
                    work.extend(self.ask_missing(peer));
                }
                Output::IngestChanges { peer, entries } => {
                    let kept = self.core.ingest_detached(&entries);
                    tracing::debug!(%peer, kept, "stored wiki dependencies");
                    work.extend(self.ask_missing(peer));
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
