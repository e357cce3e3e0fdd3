//! Everything at once against one node (the target), while a trusted
//! friend keeps posting:
//!
//! - connection attempts from strangers (fresh keys the target never
//!   trusted);
//! - a trusted but hostile peer ("Mallory", a bare libp2p swarm speaking
//!   Kith's protocols as `docs/PROTOCOL.md` describes them) that gossips
//!   garbage, forged entries, entries whose body does not match, and
//!   duplicates of real entries (its message ids are unique, so they are not
//!   collapsed before the target sees them);
//! - Mallory's sync requests for the whole of a log with `max_bytes` at
//!   its maximum, an oversized frontier, and requests whose answers it never
//!   reads (a reader that never drains its streams);
//! - HTTP requests with oversized bodies, and API readers that never read.
//!
//! The integration test runs a small version and checks behaviour (nothing
//! stored from the flood, honest posts still arrive, the node answers);
//! `cargo bench -p kith-tests --bench flood` runs the full one against a
//! `kith up` process and reports its memory and the honest posts' delays.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt};
use kith_node::api::Client;
use kith_node::model::StatusView;
use kith_node::{DataDir, ops};
use kith_protocol::sync::{self, FrontierItem, Request};
use kith_protocol::{AuthorId, Body, Draft, Entry, Keypair, Post, PostKind};
use libp2p::gossipsub::{self, MessageAuthenticity, ValidationMode};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent, dummy};
use libp2p::{Multiaddr, StreamProtocol, noise, request_response, tcp, yamux};

use kith_testkit::TestNode;

/// How big a flood is.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Connection attempts from unknown keys.
    pub strangers: usize,
    /// Gossip messages from Mallory (invalid and duplicate).
    pub gossip: usize,
    /// Whole-log fetches Mallory reads.
    pub fetches: usize,
    /// Requests whose answers Mallory never reads.
    pub stalled: usize,
    /// HTTP requests with a 64 MiB body.
    pub oversized: usize,
    /// HTTP bundle downloads that are never read.
    pub unread_downloads: usize,
    /// Honest posts by the friend, one every `every`.
    pub honest: usize,
    pub every: Duration,
}

/// The node under attack.
pub struct Target {
    pub client: Arc<Client>,
    pub author: AuthorId,
    pub addr: Multiaddr,
    pub http: SocketAddr,
    pub token: String,
}

impl Target {
    /// The node running on `data_dir`.
    pub fn of(data_dir: &DataDir) -> Target {
        let client = Client::discover(data_dir).unwrap().expect("a running node");
        let status = client.call(ops::Status {}).unwrap();
        let addr = status
            .listen
            .iter()
            .find(|a| a.starts_with("/ip4/127.0.0.1/tcp/"))
            .expect("a loopback TCP address")
            .parse()
            .unwrap();
        let endpoint: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(data_dir.api_endpoint()).unwrap())
                .unwrap();
        Target {
            client: Arc::new(client),
            author: status.me,
            addr,
            http: endpoint["addr"].as_str().unwrap().parse().unwrap(),
            token: std::fs::read_to_string(data_dir.api_token())
                .unwrap()
                .trim()
                .to_string(),
        }
    }

    async fn status(&self) -> StatusView {
        let client = self.client.clone();
        tokio::task::spawn_blocking(move || client.call(ops::Status {}).unwrap())
            .await
            .unwrap()
    }

    async fn seq_of(&self, author: AuthorId) -> u64 {
        self.status()
            .await
            .authors
            .iter()
            .find(|a| a.author == author)
            .map_or(0, |a| a.local_seq)
    }
}

/// What a flood did, and what the target did under it.
#[derive(Debug)]
pub struct Outcome {
    /// Honest posts' delays (post acknowledged → held by the target), sorted.
    pub delays: Vec<Duration>,
    pub strangers_refused: usize,
    pub gossip_published: usize,
    pub fetch_answers: usize,
    pub fetch_bytes: usize,
    pub oversized_refused: usize,
    pub status: StatusView,
    pub wall: Duration,
}

/// The seed of Mallory's key: the target must trust it before [`run`].
pub const MALLORY: [u8; 32] = [66; 32];

/// Runs the flood. Before: the target trusts `friend` and Mallory, the
/// friend trusts the target and is connected to it.
pub async fn run(plan: &Plan, target: &Target, friend: &TestNode) -> Outcome {
    let started = Instant::now();
    let friend_seq = friend.seq(friend.author()).await;
    let real: Vec<Vec<u8>> = friend
        .handle()
        .reader()
        .store()
        .log(&friend.author(), 1, usize::MAX)
        .unwrap()
        .iter()
        .map(Entry::encode)
        .collect();
    assert!(!real.is_empty(), "the friend needs entries to duplicate");

    let mallory = tokio::spawn(mallory(
        plan.clone(),
        target.addr.clone(),
        friend.author(),
        real,
    ));
    let strangers = tokio::spawn(strangers(plan.strangers, target.addr.clone()));
    let http = {
        let (addr, token) = (target.http, target.token.clone());
        let plan = plan.clone();
        tokio::task::spawn_blocking(move || http_flood(&plan, addr, &token))
    };

    // Honest posts, and when the target holds each.
    let posted = Arc::new(std::sync::Mutex::new(Vec::<Instant>::new()));
    let poster = {
        let posted = posted.clone();
        async move {
            for i in 0..plan.honest {
                friend.post(&format!("honest {i}")).await;
                posted.lock().unwrap().push(Instant::now());
                tokio::time::sleep(plan.every).await;
            }
        }
    };
    let watcher = async {
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(600);
        while seen.len() < plan.honest && Instant::now() < deadline {
            let have = target
                .seq_of(friend.author())
                .await
                .saturating_sub(friend_seq) as usize;
            let now = Instant::now();
            while seen.len() < have.min(plan.honest) {
                seen.push(now);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        seen
    };
    let ((), seen) = tokio::join!(poster, watcher);
    let posted = posted.lock().unwrap().clone();
    assert_eq!(
        seen.len(),
        plan.honest,
        "honest posts did not all arrive during the flood"
    );
    let mut delays: Vec<Duration> = posted
        .iter()
        .zip(&seen)
        .map(|(p, s)| s.saturating_duration_since(*p))
        .collect();
    delays.sort();

    let (gossip_published, fetch_answers, fetch_bytes) = mallory.await.unwrap();
    let strangers_refused = strangers.await.unwrap();
    let oversized_refused = http.await.unwrap();
    Outcome {
        delays,
        strangers_refused,
        gossip_published,
        fetch_answers,
        fetch_bytes,
        oversized_refused,
        status: target.status().await,
        wall: started.elapsed(),
    }
}

/// `q`-quantile of sorted delays.
pub fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Sync frames as PROTOCOL.md §8.2 defines them; answers are kept as raw
/// bytes (only counted). A stalling codec never reads its answers.
#[derive(Clone, Default)]
struct Frames {
    stall: bool,
}

impl request_response::Codec for Frames {
    type Protocol = StreamProtocol;
    type Request = Request;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, _: &mut T) -> std::io::Result<Request>
    where
        T: AsyncRead + Unpin + Send,
    {
        Err(std::io::Error::other("Mallory serves nothing"))
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> std::io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        if self.stall {
            futures::future::pending::<()>().await;
        }
        let mut len = [0u8; 4];
        io.read_exact(&mut len).await?;
        let len = u32::from_be_bytes(len) as usize;
        if len > 16 << 20 {
            return Err(std::io::Error::other("answer too large"));
        }
        let mut buf = vec![0; len];
        io.read_exact(&mut buf).await?;
        Ok(buf)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Request,
    ) -> std::io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        let bytes = sync::encode(&request);
        io.write_all(&(bytes.len() as u32).to_be_bytes()).await?;
        io.write_all(&bytes).await?;
        io.close().await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
        _: Vec<u8>,
    ) -> std::io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        Err(std::io::Error::other("Mallory serves nothing"))
    }
}

#[derive(NetworkBehaviour)]
struct Rogue {
    gossipsub: gossipsub::Behaviour,
    fetch: request_response::Behaviour<Frames>,
    stall: request_response::Behaviour<Frames>,
}

fn rogue(_: &libp2p::identity::Keypair) -> Rogue {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let config = gossipsub::ConfigBuilder::default()
        .validation_mode(ValidationMode::Anonymous)
        // Every publication is new to Mallory, even the same bytes again.
        .message_id_fn(|_| {
            gossipsub::MessageId::from(NEXT.fetch_add(1, Ordering::Relaxed).to_be_bytes().to_vec())
        })
        .max_transmit_size(64 * 1024 + 512)
        .heartbeat_interval(Duration::from_millis(700))
        .build()
        .unwrap();
    let protocol = || {
        [(
            StreamProtocol::new(sync::PROTOCOL_NAME),
            request_response::ProtocolSupport::Outbound,
        )]
    };
    Rogue {
        gossipsub: gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, config).unwrap(),
        fetch: request_response::Behaviour::with_codec(
            Frames { stall: false },
            protocol(),
            request_response::Config::default()
                .with_request_timeout(Duration::from_secs(120))
                .with_max_concurrent_streams(64),
        ),
        stall: request_response::Behaviour::with_codec(
            Frames { stall: true },
            protocol(),
            request_response::Config::default()
                .with_request_timeout(Duration::from_secs(3600))
                .with_max_concurrent_streams(64),
        ),
    }
}

/// Bodies Mallory sends as the friend's next entries: forged signatures,
/// bodies that do not match their hash, garbage, and real entries again.
fn rubbish(i: usize, friend: AuthorId, real: &[Vec<u8>]) -> Vec<u8> {
    let body = Body::Post(Post {
        kind: PostKind::Note,
        text: format!("forged {i}"),
        reply_to: None,
        tags: vec![],
        files: Vec::new(),
        mentions: Vec::new(),
    });
    let mallory = Keypair::from_secret(&MALLORY);
    match i % 4 {
        0 => {
            // Signed by Mallory, claiming the friend as author.
            let mine = Entry::sign(
                &mallory,
                Draft {
                    seq: 1,
                    prev: None,
                    timestamp_ms: 1_700_000_000_000 + i as u64,
                    body: body.encode(),
                },
            );
            let mut header = mine.header().clone();
            header.author = friend;
            let header = header.encode();
            let mut message = kith_protocol::SIGNING_DOMAIN.to_vec();
            message.extend_from_slice(&header);
            Entry::from_parts(
                header,
                mallory.sign(&message),
                Some(body.encode()),
                &Default::default(),
            )
            .unwrap()
            .encode()
        }
        1 => {
            // A real entry with another body.
            let real = Entry::decode(&real[i % real.len()], &Default::default()).unwrap();
            Entry::from_parts(
                real.header_bytes().to_vec(),
                *real.signature(),
                Some(body.encode()),
                &Default::default(),
            )
            .unwrap()
            .encode()
        }
        2 => real[i % real.len()].clone(),
        _ => (0..(i % 200 + 1)).map(|k| (k * 31 + i) as u8).collect(),
    }
}

/// Mallory's side of the flood. Returns (gossip published, fetch answers,
/// bytes in them).
async fn mallory(
    plan: Plan,
    target: Multiaddr,
    friend: AuthorId,
    real: Vec<Vec<u8>>,
) -> (usize, usize, usize) {
    let key = kith_node::swarm::libp2p_keypair(&Keypair::from_secret(&MALLORY));
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(rogue)
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build();
    let topic = kith_node::swarm::topic();
    swarm.behaviour_mut().gossipsub.subscribe(&topic).unwrap();
    swarm.dial(target).unwrap();
    let victim = loop {
        match swarm.select_next_some().await {
            SwarmEvent::ConnectionEstablished { peer_id, .. } => break peer_id,
            SwarmEvent::OutgoingConnectionError { error, .. } => {
                panic!("Mallory could not connect: {error}")
            }
            _ => {}
        }
    };
    // Gossip goes to peers known to be subscribed: wait until the target's
    // subscription has arrived (publishing earlier finds nobody, and the
    // whole gossip flood would be dropped on Mallory's side).
    let subscribed = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let SwarmEvent::Behaviour(RogueEvent::Gossipsub(gossipsub::Event::Subscribed {
                peer_id,
                ..
            })) = swarm.select_next_some().await
                && peer_id == victim
            {
                break;
            }
        }
    })
    .await;
    assert!(
        subscribed.is_ok(),
        "the target never joined the entries topic"
    );
    // The oversized and the stalled requests go first.
    let oversized = (0..20_000u32)
        .map(|i| FrontierItem {
            author: Keypair::from_secret(&{
                let mut s = [7u8; 32];
                s[..4].copy_from_slice(&i.to_be_bytes());
                s
            })
            .author(),
            head: None,
        })
        .collect();
    swarm
        .behaviour_mut()
        .fetch
        .send_request(&victim, Request::Frontier(oversized));
    swarm.behaviour_mut().fetch.send_request(
        &victim,
        Request::Changes {
            hashes: vec![[1; 32]; 100_000],
        },
    );
    for _ in 0..plan.stalled {
        swarm.behaviour_mut().stall.send_request(
            &victim,
            Request::Fetch {
                author: friend,
                after_seq: 0,
                max_bytes: u32::MAX,
            },
        );
    }

    let (mut sent, mut published, mut fetched, mut answers, mut bytes, mut failed) =
        (0, 0, 0, 0, 0, 0);
    let mut tick = tokio::time::interval(Duration::from_millis(2));
    while sent < plan.gossip || answers + failed < plan.fetches {
        tokio::select! {
            event = swarm.select_next_some() => match event {
                SwarmEvent::Behaviour(RogueEvent::Fetch(request_response::Event::Message {
                    message: request_response::Message::Response { response, .. }, ..
                })) => {
                    answers += 1;
                    bytes += response.len();
                }
                SwarmEvent::Behaviour(RogueEvent::Fetch(request_response::Event::OutboundFailure { .. })) => {
                    failed += 1;
                }
                SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } if peer_id == victim => {
                    // The target may drop a peer that misbehaves: come back.
                    let _ = swarm.dial(peer_id);
                }
                _ => {}
            },
            _ = tick.tick() => {
                for _ in 0..50 {
                    if sent >= plan.gossip {
                        break;
                    }
                    let data = rubbish(sent, friend, &real);
                    // Publishing fails once the target stops listening to
                    // Mallory (graylisted) and the queues fill: counted.
                    if swarm.behaviour_mut().gossipsub.publish(topic.clone(), data).is_ok() {
                        published += 1;
                    }
                    sent += 1;
                }
                while fetched < plan.fetches && fetched.saturating_sub(answers + failed) < 16 {
                    swarm.behaviour_mut().fetch.send_request(
                        &victim,
                        Request::Fetch { author: friend, after_seq: 0, max_bytes: u32::MAX },
                    );
                    fetched += 1;
                }
            }
        }
    }
    // The two oversized requests are refused by the target: they count as
    // failures, not answers.
    (published, answers, bytes)
}

/// Strangers dialing the target, `concurrent` at a time. Returns how many
/// were refused (never left connected).
async fn strangers(n: usize, target: Multiaddr) -> usize {
    let refused = Arc::new(AtomicU64::new(0));
    let concurrent = 25;
    futures::stream::iter(0..n)
        .for_each_concurrent(concurrent, |_| {
            let target = target.clone();
            let refused = refused.clone();
            async move {
                let mut swarm = libp2p::SwarmBuilder::with_new_identity()
                    .with_tokio()
                    .with_tcp(
                        tcp::Config::default(),
                        noise::Config::new,
                        yamux::Config::default,
                    )
                    .unwrap()
                    .with_behaviour(|_| dummy::Behaviour)
                    .unwrap()
                    .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
                    .build();
                swarm.dial(target).unwrap();
                let outcome = tokio::time::timeout(Duration::from_secs(10), async {
                    loop {
                        match swarm.select_next_some().await {
                            SwarmEvent::OutgoingConnectionError { .. } => return true,
                            SwarmEvent::ConnectionClosed { .. } => return true,
                            _ => {}
                        }
                    }
                })
                .await;
                if outcome == Ok(true) {
                    refused.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
        .await;
    refused.load(Ordering::Relaxed) as usize
}

/// Oversized bodies (refused with 413 before they are read) and bundle
/// downloads whose answers are never read. Returns the 413s.
fn http_flood(plan: &Plan, addr: SocketAddr, token: &str) -> usize {
    let mut unread = Vec::new();
    for _ in 0..plan.unread_downloads {
        let mut s = TcpStream::connect(addr).unwrap();
        write!(
            s,
            "POST /api/v1/bundle HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}"
        )
        .unwrap();
        unread.push(s);
    }
    let mut refused = 0;
    for _ in 0..plan.oversized {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let size = 64usize << 20;
        write!(
            s,
            "POST /api/v1/posts HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
        )
        .unwrap();
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..size / chunk.len() {
            if s.write_all(&chunk).is_err() {
                break;
            }
        }
        let mut answer = [0u8; 12];
        if s.read_exact(&mut answer).is_ok() && answer.ends_with(b"413") {
            refused += 1;
        }
    }
    drop(unread);
    refused
}
