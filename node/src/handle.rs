//! The cloneable handle to a running node: [`Handle::call`] sends an
//! operation to its owner (store actor, read pool, network loop or the
//! verification pipeline) with a oneshot for the reply; events come out on
//! a broadcast channel.

use std::sync::Arc;

use kith_protocol::{AuthorId, Entry};
use tokio::sync::{Semaphore, broadcast, mpsc, oneshot, watch};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::jobs::JobTable;
use crate::network::NetCommand;
use crate::ops::{Operation, ReadCtx, Route};
use crate::reader::Reader;
use crate::search::SearchReader;
use crate::store::{Scope, Store};
use crate::store_actor::{CommitSearch, StoreMsg};
use crate::verify_pool::VerifyPool;

/// Capacity of the event channel: slow subscribers miss events beyond it.
pub const EVENT_CAPACITY: usize = 4096;
/// Most read operations running at once on the blocking pool.
pub const READ_CONCURRENCY: usize = 8;
/// Of those, most heavy ones (search, verify, bundle export) at once, so
/// that they cannot take every core from the rest.
pub const HEAVY_READS: usize = 1;

/// Where a stored entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Written on this node.
    Local,
    /// Received by live gossip.
    Gossip,
    /// Pulled by catch-up sync.
    Sync,
    /// Imported from a bundle.
    Import,
}

/// Things that happen in a node.
#[derive(Debug, Clone)]
pub enum Event {
    /// An entry was stored.
    Entry {
        entry: Box<Entry>,
        origin: Origin,
    },
    PeerConnected(AuthorId),
    PeerDisconnected(AuthorId),
    /// An author signed two entries at one seq; their log is held.
    Fork(AuthorId),
}

/// A cheap, cloneable way to talk to a running node.
#[derive(Clone)]
pub struct Handle {
    me: AuthorId,
    device: Arc<kith_protocol::Keypair>,
    store_actor: mpsc::Sender<StoreMsg>,
    network: mpsc::Sender<NetCommand>,
    verify: VerifyPool,
    reads: Arc<Semaphore>,
    heavy: Arc<Semaphore>,
    store: Store,
    scope: watch::Receiver<Arc<Scope>>,
    config: Arc<Config>,
    jobs: JobTable,
    events: broadcast::Sender<Event>,
    search: SearchReader,
    blobs: Arc<kith_store::blobs::Blobs>,
    fetcher: Arc<crate::blobs::Fetcher>,
}

/// The parts a handle is made of (see `Node::start`).
pub(crate) struct Parts {
    pub me: AuthorId,
    /// This device's key (its network identity), for the device-link
    /// handshake the web app starts.
    pub device: Arc<kith_protocol::Keypair>,
    pub store_actor: mpsc::Sender<StoreMsg>,
    pub network: mpsc::Sender<NetCommand>,
    pub verify: VerifyPool,
    pub store: Store,
    pub scope: watch::Receiver<Arc<Scope>>,
    pub config: Arc<Config>,
    pub jobs: JobTable,
    pub events: broadcast::Sender<Event>,
    pub search: SearchReader,
    pub blobs: Arc<kith_store::blobs::Blobs>,
    pub fetcher: Arc<crate::blobs::Fetcher>,
}

impl Handle {
    /// The configuration the node runs with.
    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    pub(crate) fn new(parts: Parts) -> Self {
        Handle {
            me: parts.me,
            device: parts.device,
            store_actor: parts.store_actor,
            network: parts.network,
            verify: parts.verify,
            reads: Arc::new(Semaphore::new(READ_CONCURRENCY)),
            heavy: Arc::new(Semaphore::new(HEAVY_READS)),
            store: parts.store,
            scope: parts.scope,
            config: parts.config,
            jobs: parts.jobs,
            events: parts.events,
            search: parts.search,
            blobs: parts.blobs,
            fetcher: parts.fetcher,
        }
    }

    pub fn me(&self) -> AuthorId {
        self.me
    }

    /// This device's key (what signs its side of a device link).
    pub(crate) fn device_key(&self) -> &kith_protocol::Keypair {
        &self.device
    }

    /// Events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// A read-only view of the store as it is now.
    pub fn reader(&self) -> Reader {
        Reader::new(
            self.store.clone(),
            self.blobs.clone(),
            self.me,
            self.scope.borrow().clone(),
            self.config.clone(),
        )
    }

    /// Runs an operation on the node.
    pub async fn call<O: Operation>(&self, op: O) -> Result<O::Output> {
        let (reply, answer) = oneshot::channel();
        match op.route(reply).0 {
            Route::Store(request) => self
                .store_actor
                .send(StoreMsg::Op(request))
                .await
                .map_err(|_| Error::NodeStopped)?,
            Route::Network(request) => self
                .network
                .send(NetCommand::Op(request))
                .await
                .map_err(|_| Error::NodeStopped)?,
            Route::Read(request) => {
                let lane = if request.is_heavy() {
                    &self.heavy
                } else {
                    &self.reads
                };
                let permit = lane
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| Error::NodeStopped)?;
                let reader = self.reader();
                let jobs = self.jobs.clone();
                let search = self.search.clone();
                let commit = CommitSearch(self.store_actor.clone());
                let fetcher = self.fetcher.clone();
                tokio::task::spawn_blocking(move || {
                    request.run(&ReadCtx {
                        reader: &reader,
                        jobs: &jobs,
                        search: &search,
                        commit: Some(&commit),
                        lane: Some(std::sync::Arc::new(permit)),
                        fetch: Some(&*fetcher),
                    });
                });
            }
            Route::Import(request) => {
                let scope = self.scope.borrow().clone();
                tokio::spawn(crate::verify_pool::import(
                    request,
                    self.verify.clone(),
                    scope,
                    self.jobs.clone(),
                ));
            }
        }
        answer.await.map_err(|_| Error::NodeStopped)?
    }

    #[doc(hidden)]
    pub async fn inject_gossip(&self, data: Vec<u8>) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.network
            .send(NetCommand::InjectGossip { data, reply })
            .await
            .map_err(|_| Error::NodeStopped)?;
        answer.await.map_err(|_| Error::NodeStopped)?
    }

    /// Stops the node: closes connections, then flushes the store.
    pub async fn shutdown(&self) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        if self.network.send(NetCommand::Shutdown(reply)).await.is_ok() {
            let _ = answer.await;
        }
        let (reply, answer) = oneshot::channel();
        self.store_actor
            .send(StoreMsg::Shutdown(reply))
            .await
            .map_err(|_| Error::NodeStopped)?;
        answer.await.map_err(|_| Error::NodeStopped)
    }
}
