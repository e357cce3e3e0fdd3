//! Starting and stopping a node: the store actor's thread, the
//! verification pool, the network loop, and the HTTP server (API and web
//! app), wired together.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kith_protocol::Keypair;
use libp2p::Multiaddr;
use libp2p::swarm::SwarmEvent;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::api;
use crate::config::Config;
use crate::core::Core;
use crate::error::{Error, Result};
use crate::handle::{EVENT_CAPACITY, Event, Handle, Parts};
use crate::jobs::JobTable;
use crate::network::{COMMAND_CAPACITY, NOTICE_CAPACITY, NetCommand, NetNotice, Network, Wiring};
use crate::store::Scope;
use crate::store_actor::{BULK_INBOX, Outputs, STORE_INBOX, StoreActor, StoreMsg};
use crate::swarm;
use crate::verify_pool::{Lanes, VerifyPool};

/// How often the store actor is reminded to commit the search index.
const TICK: Duration = Duration::from_secs(1);

/// A running node.
pub struct Node {
    handle: Handle,
    api_addr: SocketAddr,
    token: String,
    listen: Vec<Multiaddr>,
    config: Config,
    network: JoinHandle<()>,
    store_actor: Option<std::thread::JoinHandle<()>>,
    /// Set when the node went on under a new log key: restart it.
    restart: watch::Receiver<bool>,
    http: JoinHandle<()>,
    stop_http: Option<oneshot::Sender<()>>,
}

impl Node {
    /// Opens the store, starts libp2p and the API, and returns once the node
    /// is listening.
    pub async fn start(config: Config, keypair: Keypair) -> Result<Node> {
        let span = tracing::info_span!("node", id = %keypair.author().short());
        let core = open_core(&config, &keypair).await?;
        // The key the node signs its log with (its own, or the one it took
        // over with, PROTOCOL.md §11.6), and how its own writes start.
        let log = core.keypair().clone();
        let me = log.author();
        let start = core.start_check()?;
        let store = core.store().clone();
        let blobs = core.blobs().clone();
        let search = core.search_reader();
        let (swarm, listen) = listen(&keypair, &config).await?;
        let (listener, api_addr) = bind_api(&config).await?;
        let token = api::load_or_create_token(&config.data_dir.api_token())?;
        // Made here so that a data dir it cannot be written to fails the
        // start, not the web app later.
        api::load_or_create_token(&config.data_dir.web_session_key())?;

        let wires = Wires::new(Arc::new(core.scope().clone()));
        let lanes = Lanes {
            live: wires.store_tx.clone(),
            bulk: wires.bulk_tx.clone(),
        };
        let verify = span.in_scope(|| VerifyPool::start(config.limits.clone(), 0, lanes))?;
        let actor = StoreActor::new(core, start, wires.store_rx, wires.bulk_rx, wires.outputs);
        let store_actor = spawn_store_actor(actor, span.clone())?;
        tokio::spawn(tick(wires.store_tx.downgrade()));

        let shared_config = Arc::new(config.clone());
        let reader = crate::reader::Reader::new(
            store.clone(),
            blobs.clone(),
            me,
            wires.scope_rx.borrow().clone(),
            shared_config.clone(),
        );
        let network = Network::new(
            swarm,
            reader,
            keypair.clone(),
            log,
            start,
            listen.clone(),
            Wiring {
                commands: wires.net_rx,
                notices: wires.notice_rx,
                scope: wires.scope_rx.clone(),
                store: wires.store_tx.clone(),
                verify: verify.clone(),
                events: wires.events.clone(),
                jobs: wires.jobs.clone(),
            },
        );
        let fetcher = Arc::new(crate::blobs::Fetcher::new(
            wires.net_tx.clone(),
            blobs.clone(),
            tokio::runtime::Handle::current(),
        ));
        let network = network.with_fetcher(fetcher.clone());
        let network = tokio::spawn(network.run().instrument(span.clone()));
        let handle = Handle::new(Parts {
            me,
            device: Arc::new(keypair.clone()),
            store_actor: wires.store_tx,
            network: wires.net_tx,
            verify,
            store,
            scope: wires.scope_rx,
            config: shared_config,
            jobs: wires.jobs,
            events: wires.events,
            search,
            blobs,
            fetcher,
        });
        let (http, stop_http) = serve_http(listener, handle.clone(), token.clone(), span);
        api::write_endpoint(
            &config.data_dir.api_endpoint(),
            &api::Endpoint {
                addr: api_addr,
                pid: std::process::id(),
            },
        )?;
        Ok(Node {
            handle,
            api_addr,
            token,
            listen,
            config,
            network,
            store_actor: Some(store_actor),
            restart: wires.restart,
            http,
            stop_http: Some(stop_http),
        })
    }

    /// Resolves when the node must be restarted: it could not confirm its
    /// own log's head (a restored backup) and went on under a new key
    /// (PROTOCOL.md §11.6), which it signs with from its next start. Own
    /// writes are refused meanwhile. `kith up` restarts at once.
    pub async fn restart_wanted(&self) {
        let mut restart = self.restart.clone();
        let _ = restart.wait_for(|wanted| *wanted).await;
    }

    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    pub fn api_addr(&self) -> SocketAddr {
        self.api_addr
    }

    /// The URL that signs a browser in to the web app.
    pub fn web_url(&self) -> String {
        api::web_url(self.api_addr, &self.token)
    }

    /// The addresses libp2p reported when the node started.
    pub fn listen_addrs(&self) -> &[Multiaddr] {
        &self.listen
    }

    /// Stops the HTTP server, closes connections, flushes the store, and
    /// waits for every part to end.
    pub async fn shutdown(mut self) -> Result<()> {
        if let Some(stop) = self.stop_http.take() {
            let _ = stop.send(());
        }
        let _ = std::fs::remove_file(self.config.data_dir.api_endpoint());
        let _ = self.handle.shutdown().await;
        let _ = (&mut self.http).await;
        let _ = (&mut self.network).await;
        if let Some(thread) = self.store_actor.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        Ok(())
    }
}

/// The channels between the node's parts, both ends, before they are
/// handed out.
struct Wires {
    store_tx: mpsc::Sender<StoreMsg>,
    store_rx: mpsc::Receiver<StoreMsg>,
    bulk_tx: mpsc::Sender<StoreMsg>,
    bulk_rx: mpsc::Receiver<StoreMsg>,
    net_tx: mpsc::Sender<NetCommand>,
    net_rx: mpsc::Receiver<NetCommand>,
    notice_rx: mpsc::Receiver<NetNotice>,
    scope_rx: watch::Receiver<Arc<Scope>>,
    events: broadcast::Sender<Event>,
    restart: watch::Receiver<bool>,
    jobs: JobTable,
    /// The store actor's sending ends.
    outputs: Outputs,
}

impl Wires {
    fn new(scope: Arc<Scope>) -> Wires {
        let (store_tx, store_rx) = mpsc::channel(STORE_INBOX);
        let (bulk_tx, bulk_rx) = mpsc::channel(BULK_INBOX);
        let (net_tx, net_rx) = mpsc::channel(COMMAND_CAPACITY);
        let (notice_tx, notice_rx) = mpsc::channel(NOTICE_CAPACITY);
        let (scope_tx, scope_rx) = watch::channel(scope);
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let (restart_tx, restart) = watch::channel(false);
        let jobs = JobTable::default();
        Wires {
            store_tx,
            store_rx,
            bulk_tx,
            bulk_rx,
            net_tx,
            net_rx,
            notice_rx,
            scope_rx,
            events: events.clone(),
            restart,
            jobs: jobs.clone(),
            outputs: Outputs {
                net: notice_tx,
                scope: scope_tx,
                events,
                jobs,
                restart: restart_tx,
            },
        }
    }
}

/// Opens the store off the runtime (it may replay a log or migrate).
async fn open_core(config: &Config, keypair: &Keypair) -> Result<Core> {
    let (config, keypair) = (config.clone(), keypair.clone());
    tokio::task::spawn_blocking(move || Core::open(config, keypair))
        .await
        .map_err(|e| Error::Io(format!("opening the store: {e}")))?
}

/// Binds the API's port, saying what to do if it is taken.
async fn bind_api(config: &Config) -> Result<(tokio::net::TcpListener, SocketAddr)> {
    let listener = tokio::net::TcpListener::bind(config.api).await.map_err(|e| {
        Error::Network(format!(
            "cannot open the API on {}: {e} (is another node running? choose another with --api)",
            config.api
        ))
    })?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Network(e.to_string()))?;
    Ok((listener, addr))
}

/// The store actor on a thread of its own (it blocks on sled and tantivy).
fn spawn_store_actor(
    actor: StoreActor,
    span: tracing::Span,
) -> Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("kith-store".into())
        .spawn(move || {
            let _entered = span.enter();
            actor.run();
        })
        .map_err(|e| Error::Io(format!("cannot start the store thread: {e}")))
}

/// Serves the API and the web app until the returned sender is used (or
/// dropped).
fn serve_http(
    listener: tokio::net::TcpListener,
    handle: Handle,
    token: String,
    span: tracing::Span,
) -> (JoinHandle<()>, oneshot::Sender<()>) {
    let (stop, stopped) = oneshot::channel::<()>();
    let http = tokio::spawn(
        async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = crate::http::serve(listener, handle, token, shutdown).await {
                tracing::error!(error = %e, "HTTP server failed");
            }
        }
        .instrument(span),
    );
    (http, stop)
}

/// Builds the swarm and waits until every listener reports an address (or
/// fails), so that the caller can print where the node is reachable.
async fn listen(
    keypair: &Keypair,
    config: &Config,
) -> Result<(libp2p::Swarm<swarm::Behaviour>, Vec<Multiaddr>)> {
    let mut swarm =
        swarm::build_swarm(keypair, config).map_err(|e| Error::Network(e.to_string()))?;
    let ports_file = config.data_dir.listen_ports();
    let mut ports: BTreeMap<String, u16> = std::fs::read(&ports_file)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let mut listeners = Vec::new();
    for addr in &config.listen {
        // A port the system chose last time, if it is free again.
        let remembered = ports
            .get(&addr.to_string())
            .and_then(|port| with_port(addr, *port))
            .and_then(|again| swarm.listen_on(again).ok());
        let id = match remembered {
            Some(id) => id,
            None => swarm
                .listen_on(addr.clone())
                .map_err(|e| Error::Network(format!("cannot listen on {addr}: {e}")))?,
        };
        listeners.push((id, addr));
    }
    let listeners_count = listeners.len();
    let mut listen = Vec::new();
    let mut reported = std::collections::HashSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while reported.len() < listeners_count {
        let event = tokio::time::timeout_at(deadline, swarm.select_next_some()).await;
        match event {
            Ok(SwarmEvent::NewListenAddr {
                listener_id,
                address,
            }) => {
                if reported.insert(listener_id)
                    && let Some((_, configured)) =
                        listeners.iter().find(|(id, _)| *id == listener_id)
                    && port_of(configured) == Some(0)
                    && let Some(port) = port_of(&address)
                {
                    ports.insert(configured.to_string(), port);
                }
                listen.push(address);
            }
            Ok(SwarmEvent::ListenerError { error, .. }) => {
                return Err(Error::Network(format!("listener failed: {error}")));
            }
            Ok(SwarmEvent::ListenerClosed { reason: Err(e), .. }) => {
                return Err(Error::Network(format!("listener closed: {e}")));
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    if let Ok(json) = serde_json::to_vec(&ports)
        && let Err(e) = std::fs::write(&ports_file, json)
    {
        tracing::debug!(error = %e, "could not remember the listen ports");
    }
    Ok((swarm, listen))
}

/// The TCP or UDP port of an address.
fn port_of(addr: &Multiaddr) -> Option<u16> {
    addr.iter().find_map(|p| match p {
        libp2p::multiaddr::Protocol::Tcp(port) | libp2p::multiaddr::Protocol::Udp(port) => {
            Some(port)
        }
        _ => None,
    })
}

/// `addr` with its port 0 replaced by `port` (None if it has a fixed port).
fn with_port(addr: &Multiaddr, port: u16) -> Option<Multiaddr> {
    use libp2p::multiaddr::Protocol;
    if port_of(addr) != Some(0) || port == 0 {
        return None;
    }
    Some(
        addr.iter()
            .map(|p| match p {
                Protocol::Tcp(0) => Protocol::Tcp(port),
                Protocol::Udp(0) => Protocol::Udp(port),
                other => other,
            })
            .collect(),
    )
}

/// Reminds the store actor to commit the search index, until the node
/// stops (it holds no sender, so it never keeps the actor alive).
async fn tick(store: mpsc::WeakSender<StoreMsg>) {
    let mut every = tokio::time::interval(TICK);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let Some(store) = store.upgrade() else { return };
        if let Err(mpsc::error::TrySendError::Closed(_)) = store.try_send(StoreMsg::Tick) {
            return;
        }
    }
}
