//! The libp2p side of a node: the composed behaviour, the swarm, the sync
//! protocol's codec, gossip topics, and conversions between author ids and
//! PeerIds.
//!
//! Trust scoping starts here: the allow list (first in the behaviour, so it
//! runs before the others see a connection) admits only peers in the
//! replication set, and every other behaviour is configured for a small,
//! trusted circle.

use std::collections::HashSet;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use kith_protocol::sync::{self, Request, Response};
use kith_protocol::{AuthorId, EntryId, Keypair, Limits};
use libp2p::gossipsub::{
    self, IdentTopic, MessageAuthenticity, MessageId, TopicHash, ValidationMode,
};
use libp2p::swarm::NetworkBehaviour;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{
    PeerId, StreamProtocol, Swarm, autonat, connection_limits, dcutr, identify, kad, mdns, noise,
    ping, relay, request_response, yamux,
};

use crate::config::Config;

/// The identify protocol version string of Kith nodes.
pub const IDENTIFY_PROTOCOL: &str = "/kith/1.1.0";

/// How long an idle connection to a trusted peer is kept.
const IDLE_TIMEOUT: Duration = Duration::from_secs(3600);
/// How long a sync request may take before the requester gives up.
const SYNC_TIMEOUT: Duration = Duration::from_secs(30);
/// Sync streams open at once on one connection.
const SYNC_MAX_STREAMS: usize = 64;
/// How long a peer-exchange request may take.
const PX_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    /// Only peers in the replication set may connect (checked first), and
    /// while a recovery is pending a few it does not know yet (`gate`).
    pub allow: crate::gate::Gate,
    pub limits: connection_limits::Behaviour,
    pub identify: identify::Behaviour,
    pub ping: ping::Behaviour,
    pub mdns: Toggle<mdns::tokio::Behaviour>,
    pub gossipsub: gossipsub::Behaviour,
    pub sync: request_response::Behaviour<SyncCodec>,
    /// Peer exchange: "where can I reach these authors?"
    pub px: request_response::Behaviour<PxCodec>,
    /// Blob transfer (PROTOCOL.md §13): ranges of files as Bao slices.
    pub blob: request_response::Behaviour<BlobCodec>,
    /// Device linking (`crate::device_link`): served to link codes' ephemeral keys.
    pub link: crate::device_link::Behaviour,
    /// Relays circuits for trusted peers (only they can connect at all).
    pub relay: relay::Behaviour,
    pub relay_client: relay::client::Behaviour,
    /// Upgrades relayed connections to direct ones by hole punching.
    pub dcutr: dcutr::Behaviour,
    pub autonat: autonat::Behaviour,
    /// Kith's DHT (its own protocol name) of signed address records.
    pub kad: kad::Behaviour<kad::store::MemoryStore>,
}

/// Protocol name of Kith's DHT.
pub const KAD_PROTOCOL: &str = "/kith/kad/1.0.0";
/// Protocol name of peer exchange.
pub const PX_PROTOCOL: &str = "/kith/px/1";
/// The circuit relay v2 hop protocol (a peer that offers relaying).
pub const RELAY_HOP_PROTOCOL: &str = "/libp2p/circuit/relay/0.2.0/hop";

/// Peer exchange request: the authors whose node addresses the asker wants.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PxRequest {
    pub authors: Vec<AuthorId>,
}

/// Peer exchange answer: known addresses (binary multiaddrs) per author.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct PxResponse {
    pub peers: Vec<(AuthorId, Vec<serde_bytes::ByteBuf>)>,
}

/// How long one blob range may take before the asker tries another peer.
pub(crate) const BLOB_TIMEOUT: Duration = Duration::from_secs(30);
/// Blob streams open at once on one connection.
const BLOB_MAX_STREAMS: usize = 16;

/// Most authors asked about in one peer exchange.
pub const PX_MAX_AUTHORS: usize = 64;

/// Errors building the swarm.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("libp2p: {0}")]
    Libp2p(String),
}

/// The libp2p keypair of the node's identity: the same ed25519 key.
pub fn libp2p_keypair(keypair: &Keypair) -> libp2p::identity::Keypair {
    libp2p::identity::Keypair::ed25519_from_bytes(keypair.secret_bytes())
        .expect("32 bytes are a valid ed25519 secret")
}

pub fn peer_id(author: &AuthorId) -> PeerId {
    PeerId::from_bytes(&author.to_peer_id_bytes()).expect("an ed25519 identity peer id")
}

/// The author behind a PeerId, if it is an ed25519 identity PeerId.
pub fn author_of(peer: &PeerId) -> Option<AuthorId> {
    AuthorId::from_peer_id_bytes(&peer.to_bytes()).ok()
}

/// The name of the one gossip topic every node's entries travel on
/// (PROTOCOL.md §8.1): one topic, whatever the number of authors a node
/// replicates, so gossipsub's work does not grow with them.
pub const ENTRIES_TOPIC: &str = "kith/2/entries";

/// The gossip topic carrying entries.
pub fn topic() -> IdentTopic {
    IdentTopic::new(ENTRIES_TOPIC)
}

/// Whether a message came on the entries topic.
pub fn is_entries_topic(topic: &TopicHash) -> bool {
    *topic == self::topic().hash()
}

/// Gossip message id: the entry id, so replays of an entry collapse. Data
/// that is not an entry gets a hash of its bytes (and is rejected later).
fn message_id(message: &gossipsub::Message) -> MessageId {
    let id = match kith_protocol::Entry::decode(&message.data, &Limits::default()) {
        Ok(entry) => entry.id(),
        Err(_) => EntryId(*blake3::hash(&message.data).as_bytes()),
    };
    MessageId::from(id.as_bytes().to_vec())
}

/// The transports every swarm of a node speaks: TCP (no Nagle delay) and
/// QUIC, with noise and yamux over TCP, for libp2p key `$key`; `$err`
/// turns a builder error into the caller's. A macro, not a function:
/// libp2p's builder phases are private types a signature cannot name.
macro_rules! transports {
    ($key:expr, $err:expr) => {
        libp2p::SwarmBuilder::with_existing_identity($key)
            .with_tokio()
            .with_tcp(
                libp2p::tcp::Config::default().nodelay(true),
                libp2p::noise::Config::new,
                libp2p::yamux::Config::default,
            )
            .map_err($err)?
            .with_quic()
    };
}
pub(crate) use transports;

/// Builds the swarm for `keypair` with `config`.
pub(crate) fn build_swarm(keypair: &Keypair, config: &Config) -> Result<Swarm<Behaviour>, Error> {
    let err = |e: &dyn std::fmt::Display| Error::Libp2p(e.to_string());
    let swarm = transports!(libp2p_keypair(keypair), |e| err(&e))
        .with_dns()
        .map_err(|e| err(&e))?
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .map_err(|e| err(&e))?
        .with_behaviour(|key, relay_client| Behaviour::new(key, relay_client, config))
        .map_err(|e| err(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_TIMEOUT))
        .build();
    Ok(swarm)
}

impl Behaviour {
    fn new(
        key: &libp2p::identity::Keypair,
        relay_client: relay::client::Behaviour,
        config: &Config,
    ) -> Result<Behaviour, Box<dyn std::error::Error + Send + Sync>> {
        let local = key.public().to_peer_id();
        let limits = connection_limits::ConnectionLimits::default()
            .with_max_established(Some(config.max_connections))
            .with_max_pending_incoming(Some(config.max_connections))
            .with_max_established_per_peer(Some(4));
        let mdns = if config.mdns {
            Some(mdns::tokio::Behaviour::new(mdns::Config::default(), local)?)
        } else {
            None
        };
        Ok(Behaviour {
            allow: crate::gate::Gate::default(),
            limits: connection_limits::Behaviour::new(limits),
            // Friends hear of a new listen address (a relay slot) at once.
            identify: identify::Behaviour::new(
                identify::Config::new(IDENTIFY_PROTOCOL.to_string(), key.public())
                    .with_push_listen_addr_updates(true),
            ),
            ping: ping::Behaviour::default(),
            mdns: Toggle::from(mdns),
            gossipsub: gossip(key, &config.limits)?,
            sync: request_response::Behaviour::with_codec(
                SyncCodec::for_limits(&config.limits),
                [(
                    StreamProtocol::new(sync::PROTOCOL_NAME),
                    request_response::ProtocolSupport::Full,
                )],
                request_response::Config::default()
                    .with_request_timeout(SYNC_TIMEOUT)
                    .with_max_concurrent_streams(SYNC_MAX_STREAMS),
            ),
            px: request_response::Behaviour::with_codec(
                PxCodec::new(PX_MAX_FRAME, PX_MAX_FRAME),
                [(
                    StreamProtocol::new(PX_PROTOCOL),
                    request_response::ProtocolSupport::Full,
                )],
                request_response::Config::default().with_request_timeout(PX_TIMEOUT),
            ),
            blob: request_response::Behaviour::with_codec(
                BlobCodec::for_slices(),
                [(
                    StreamProtocol::new(kith_protocol::blob::PROTOCOL_NAME),
                    request_response::ProtocolSupport::Full,
                )],
                request_response::Config::default()
                    .with_request_timeout(BLOB_TIMEOUT)
                    .with_max_concurrent_streams(BLOB_MAX_STREAMS),
            ),
            link: crate::device_link::behaviour(true),
            relay: relay::Behaviour::new(local, relay_config(&config.relay)),
            relay_client,
            dcutr: dcutr::Behaviour::new(local),
            autonat: autonat::Behaviour::new(
                local,
                autonat::Config {
                    // Probe only through peers we are connected to (trusted ones).
                    use_connected: true,
                    only_global_ips: false,
                    // The first probe soon after start (default 15 s), and
                    // the next soon after one that found no friend to ask.
                    boot_delay: Duration::from_secs(2),
                    retry_interval: Duration::from_secs(20),
                    ..Default::default()
                },
            ),
            kad: {
                let mut cfg = kad::Config::new(StreamProtocol::new(KAD_PROTOCOL));
                // Records are checked (signature) before they are stored.
                cfg.set_record_filtering(kad::StoreInserts::FilterBoth);
                cfg.set_record_ttl(Some(Duration::from_secs(24 * 3600)));
                cfg.set_publication_interval(Some(Duration::from_secs(3600)));
                // Lookups of members who are offline find nothing: do not
                // keep them running for the default minute.
                cfg.set_query_timeout(Duration::from_secs(20));
                let store = kad::store::MemoryStore::with_config(
                    local,
                    kad::store::MemoryStoreConfig {
                        max_records: 4096,
                        max_value_bytes: 8192,
                        ..Default::default()
                    },
                );
                let mut kad = kad::Behaviour::with_config(local, store, cfg);
                kad.set_mode(Some(kad::Mode::Server));
                kad
            },
        })
    }
}

/// Gossipsub for a trusted circle.
///
/// Messages are not signed by gossipsub (`Anonymous`): every entry already
/// carries its author's ed25519 signature, checked on arrival, and every
/// connection is authenticated by noise, so gossipsub's own per-message
/// signature would only cost throughput (measured on loopback with libp2p
/// 0.57: about 18k messages/s with it against 146k/s without).
fn gossip(
    key: &libp2p::identity::Keypair,
    limits: &Limits,
) -> Result<gossipsub::Behaviour, Box<dyn std::error::Error + Send + Sync>> {
    let _ = key;
    let config = gossip_config(limits)?;
    let mut behaviour = gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, config)?;
    // Many nodes on one host (tests, a family behind one NAT) are normal in
    // a trusted circle: do not penalize them for sharing an IP.
    let params = gossipsub::PeerScoreParams {
        ip_colocation_factor_whitelist: HashSet::from([
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ]),
        ip_colocation_factor_weight: 0.0,
        ..Default::default()
    };
    behaviour.with_peer_score(params, gossipsub::PeerScoreThresholds::default())?;
    Ok(behaviour)
}

/// Gossipsub's parameters (PROTOCOL.md §8, "What a peer must speak").
fn gossip_config(limits: &Limits) -> Result<gossipsub::Config, gossipsub::ConfigBuilderError> {
    gossipsub::ConfigBuilder::default()
        .validation_mode(ValidationMode::Anonymous)
        .validate_messages()
        .message_id_fn(message_id)
        .max_transmit_size(limits.max_body_bytes + limits.max_header_bytes + 256)
        .heartbeat_interval(Duration::from_millis(700))
        .duplicate_cache_time(Duration::from_secs(120))
        .build()
}

/// Relay limits, as the user set them (config.toml `[relay]`): by default
/// generous for trusted peers (sync traffic may flow over a circuit),
/// bounded all the same.
fn relay_config(limits: &crate::config::RelayLimits) -> relay::Config {
    relay::Config {
        max_reservations: limits.max_reservations,
        max_reservations_per_peer: 2,
        reservation_duration: Duration::from_secs(3600),
        max_circuits: limits.max_circuits,
        max_circuits_per_peer: limits.max_circuits_per_friend,
        max_circuit_duration: Duration::from_secs(limits.circuit_secs),
        max_circuit_bytes: limits.circuit_mib.saturating_mul(1024 * 1024),
        ..Default::default()
    }
}

/// Score parameters of an author's topic: only invalid messages count
/// against a peer (quiet circles must not penalize quiet peers).
pub(crate) fn topic_score_params() -> gossipsub::TopicScoreParams {
    gossipsub::TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.0,
        first_message_deliveries_weight: 0.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: -20.0,
        invalid_message_deliveries_decay: 0.9,
        ..Default::default()
    }
}

/// Length-prefixed postcard frames (`u32` big-endian length, then the
/// message), bounded before they are read: the codec of Kith's own
/// request-response protocols.
pub(crate) struct PostcardCodec<Req, Resp> {
    max_request: usize,
    max_response: usize,
    _messages: std::marker::PhantomData<fn() -> (Req, Resp)>,
}

impl<Req, Resp> Clone for PostcardCodec<Req, Resp> {
    fn clone(&self) -> Self {
        PostcardCodec {
            max_request: self.max_request,
            max_response: self.max_response,
            _messages: std::marker::PhantomData,
        }
    }
}

impl<Req, Resp> PostcardCodec<Req, Resp> {
    fn new(max_request: usize, max_response: usize) -> Self {
        PostcardCodec {
            max_request,
            max_response,
            _messages: std::marker::PhantomData,
        }
    }
}

/// The sync protocol's codec.
pub(crate) type SyncCodec = PostcardCodec<Request, Response>;
/// The peer exchange protocol's codec.
pub(crate) type PxCodec = PostcardCodec<PxRequest, PxResponse>;

/// The blob protocol's codec.
pub(crate) type BlobCodec =
    PostcardCodec<kith_protocol::blob::Request, kith_protocol::blob::Response>;

impl BlobCodec {
    fn for_slices() -> Self {
        use kith_protocol::blob::MAX_SLICE;
        // A slice holds its bytes, 64 bytes of tree per 1 KiB chunk, the
        // length, and the nodes above the range.
        let slice = MAX_SLICE + MAX_SLICE / 16 + 4096;
        PostcardCodec::new(256, usize::try_from(slice).expect("a slice fits in memory"))
    }
}

/// Largest peer-exchange frame.
const PX_MAX_FRAME: usize = 64 * 1024;

impl SyncCodec {
    fn for_limits(limits: &Limits) -> Self {
        // A frontier item is at most 76 bytes; a batch is bounded by the
        // batch cap plus one oversized entry.
        let frontier = limits.max_frontier_authors * 80 + 64;
        PostcardCodec::new(
            frontier,
            (limits.max_batch_bytes + limits.max_body_bytes + 1024).max(frontier),
        )
    }
}

async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T, max: usize) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("sync frame of {len} bytes exceeds the limit of {max}"),
        ));
    }
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    Ok(buf)
}

async fn write_frame<T: AsyncWrite + Unpin + Send>(io: &mut T, bytes: &[u8]) -> io::Result<()> {
    let len = u32::try_from(bytes.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
    io.write_all(&len.to_be_bytes()).await?;
    io.write_all(bytes).await?;
    io.close().await
}

fn invalid(e: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl<Req, Resp> request_response::Codec for PostcardCodec<Req, Resp>
where
    Req: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
    Resp: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
{
    type Protocol = StreamProtocol;
    type Request = Req;
    type Response = Resp;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Req>
    where
        T: AsyncRead + Unpin + Send,
    {
        let bytes = read_frame(io, self.max_request).await?;
        sync::decode(&bytes).map_err(invalid)
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Resp>
    where
        T: AsyncRead + Unpin + Send,
    {
        let bytes = read_frame(io, self.max_response).await?;
        sync::decode(&bytes).map_err(invalid)
    }

    async fn write_request<T>(&mut self, _: &StreamProtocol, io: &mut T, req: Req) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &sync::encode(&req)).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Resp,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &sync::encode(&res)).await
    }
}

#[cfg(test)]
mod tests;
