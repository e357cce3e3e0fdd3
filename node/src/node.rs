//! Starting and stopping a node: the event loop task and the API server.

use std::net::SocketAddr;
use std::time::Duration;

use futures::StreamExt;
use kith_protocol::Keypair;
use libp2p::Multiaddr;
use libp2p::swarm::SwarmEvent;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::api;
use crate::config::Config;
use crate::core::Core;
use crate::error::{Error, Result};
use crate::event_loop::EventLoop;
use crate::handle::{COMMAND_CAPACITY, EVENT_CAPACITY, Handle};
use crate::net;

/// A running node.
pub struct Node {
    handle: Handle,
    api_addr: SocketAddr,
    token: String,
    listen: Vec<Multiaddr>,
    config: Config,
    event_loop: JoinHandle<()>,
    api: JoinHandle<()>,
    stop_api: Option<oneshot::Sender<()>>,
}

impl Node {
    /// Opens the store, starts libp2p and the API, and returns once the node
    /// is listening.
    pub async fn start(config: Config, keypair: Keypair) -> Result<Node> {
        let me = keypair.author();
        let span = tracing::info_span!("node", id = %me.short());
        let core = Core::open(config.clone(), keypair.clone())?;
        let mut swarm =
            net::build_swarm(&keypair, &config).map_err(|e| Error::Network(e.to_string()))?;
        let mut listeners = 0;
        for addr in &config.listen {
            swarm
                .listen_on(addr.clone())
                .map_err(|e| Error::Network(format!("cannot listen on {addr}: {e}")))?;
            listeners += 1;
        }
        // Wait until every listener reports an address (or fails), so that
        // the caller can print where the node is reachable.
        let mut listen = Vec::new();
        let mut reported = std::collections::HashSet::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while reported.len() < listeners {
            let event = tokio::time::timeout_at(deadline, swarm.select_next_some()).await;
            match event {
                Ok(SwarmEvent::NewListenAddr {
                    listener_id,
                    address,
                }) => {
                    reported.insert(listener_id);
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

        let listener = tokio::net::TcpListener::bind(config.api).await.map_err(|e| {
            Error::Network(format!(
                "cannot open the API on {}: {e} (is another node running? choose another with --api)",
                config.api
            ))
        })?;
        let api_addr = listener
            .local_addr()
            .map_err(|e| Error::Network(e.to_string()))?;
        let token = api::load_or_create_token(&config.data_dir.api_token())?;
        let web_token = token.clone();

        let (commands_tx, commands_rx) = mpsc::channel(COMMAND_CAPACITY);
        let (events_tx, _) = broadcast::channel(EVENT_CAPACITY);
        let handle = Handle::new(commands_tx, events_tx.clone(), me);
        let event_loop = tokio::spawn(
            EventLoop::new(swarm, core, commands_rx, events_tx, listen.clone())
                .run()
                .instrument(span.clone()),
        );
        let (stop_api, stopped) = oneshot::channel::<()>();
        let api_handle = handle.clone();
        let api = tokio::spawn(
            async move {
                let shutdown = async {
                    let _ = stopped.await;
                };
                if let Err(e) = api::serve(listener, api_handle, token, shutdown).await {
                    tracing::error!(error = %e, "API server failed");
                }
            }
            .instrument(span),
        );
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
            token: web_token,
            listen,
            config,
            event_loop,
            api,
            stop_api: Some(stop_api),
        })
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

    /// Stops the API, flushes the store, closes connections, and waits for
    /// both tasks to end.
    pub async fn shutdown(mut self) -> Result<()> {
        if let Some(stop) = self.stop_api.take() {
            let _ = stop.send(());
        }
        let _ = std::fs::remove_file(self.config.data_dir.api_endpoint());
        let _ = self.handle.shutdown().await;
        let _ = (&mut self.api).await;
        let _ = (&mut self.event_loop).await;
        Ok(())
    }
}
