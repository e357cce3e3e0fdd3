//! Fetching blobs from trusted peers (PROTOCOL.md §13).
//!
//! A fetch asks the connected trusted peers for the blob's ranges, a few at
//! once ([`WINDOW`]) and spread over the peers, checks each range against
//! the hash the signed reference names before writing it
//! (`kith_protocol::blob::verify_slice`: a byte that does not match is
//! caught at its 1 KiB chunk, and that peer is asked no more), and installs
//! the blob once every range is in and the whole hashes right. Memory
//! stays at `WINDOW` ranges whatever the blob's size.
//!
//! Reads call [`Fetcher::fetch`] from the blocking pool when a file they
//! show is not here; the network loop starts a fetch for each file an
//! entry just stored attaches, if it is at most `[blobs] eager_mib`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use kith_protocol::blob::{BlobHash, BlobRef, MAX_SLICE, Request, Response};
use kith_store::blobs::Blobs;
use libp2p::PeerId;
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};
use crate::network::NetCommand;

/// Ranges asked for at once in one fetch.
pub(crate) const WINDOW: usize = 8;
/// How long a fetch waits before asking again a peer that was busy.
const BUSY_PAUSE: Duration = Duration::from_millis(200);
/// Most times one range is asked for before the fetch gives up.
const MAX_TRIES: u32 = 8;
/// Most fetches the network loop starts for entries that just arrived
/// that run at once (a catch-up can bring many posts with files); the
/// others wait their turn.
pub(crate) const EAGER_FETCHES: usize = 4;

/// Fetches blobs through the network loop.
pub struct Fetcher {
    network: mpsc::Sender<NetCommand>,
    blobs: Arc<Blobs>,
    runtime: tokio::runtime::Handle,
    /// Fetches running, by blob: a second asker waits for the first.
    running: Mutex<HashMap<BlobHash, Arc<tokio::sync::Mutex<()>>>>,
    /// Turns of the fetches started on arrival ([`EAGER_FETCHES`]).
    pub(crate) eager: tokio::sync::Semaphore,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher").finish_non_exhaustive()
    }
}

impl Fetcher {
    pub(crate) fn new(
        network: mpsc::Sender<NetCommand>,
        blobs: Arc<Blobs>,
        runtime: tokio::runtime::Handle,
    ) -> Fetcher {
        Fetcher {
            network,
            blobs,
            runtime,
            running: Mutex::new(HashMap::new()),
            eager: tokio::sync::Semaphore::new(EAGER_FETCHES),
        }
    }

    /// Fetches `file` unless it is here; returns once it is held whole.
    pub async fn fetch_async(&self, file: &BlobRef) -> Result<()> {
        if self.blobs.has(&file.hash) {
            return Ok(());
        }
        let lock = self
            .running
            .lock()
            .expect("the running fetches' lock is never poisoned")
            .entry(file.hash)
            .or_default()
            .clone();
        let result = {
            let _running = lock.lock().await;
            if self.blobs.has(&file.hash) {
                Ok(())
            } else {
                self.fetch_ranges(file).await
            }
        };
        let mut running = self
            .running
            .lock()
            .expect("the running fetches' lock is never poisoned");
        if Arc::strong_count(&lock) <= 2 {
            running.remove(&file.hash);
        }
        result
    }

    async fn fetch_ranges(&self, file: &BlobRef) -> Result<()> {
        // Refused at once if it would not fit (the per-file limit, the quota).
        let mut partial = self.blobs.partial(file.hash, file.size)?;
        let mut peers = self.peers().await?;
        if peers.is_empty() {
            return Err(Error::Network(format!(
                "blob {} is not on this node and no trusted peer is connected to fetch it from",
                file.hash
            )));
        }
        let mut todo: VecDeque<(u64, u32)> = (0..file.size.div_ceil(MAX_SLICE))
            .map(|i| (i * MAX_SLICE, 0))
            .collect();
        // An empty blob is one empty range.
        if file.size == 0 {
            todo.push_back((0, 0));
        }
        let mut asked = FuturesUnordered::new();
        let mut next_peer = 0usize;
        let started = std::time::Instant::now();
        loop {
            while asked.len() < WINDOW
                && let Some((offset, tries)) = todo.pop_front()
            {
                if peers.is_empty() {
                    return Err(Error::Network(format!(
                        "no connected peer could send blob {}",
                        file.hash
                    )));
                }
                if tries >= MAX_TRIES {
                    return Err(Error::Network(format!(
                        "blob {}: the range at byte {offset} failed {tries} times",
                        file.hash
                    )));
                }
                let peer = peers[next_peer % peers.len()];
                next_peer += 1;
                asked.push(self.ask(peer, file.hash, offset, tries));
            }
            let Some((peer, offset, tries, answer)) = asked.next().await else {
                break;
            };
            match answer {
                Ok(Response::Slice(slice)) => {
                    // Checked against the signed hash before a byte is written.
                    if let Err(e) = partial.write_slice(offset, MAX_SLICE, &slice) {
                        tracing::warn!(%peer, hash = %file.hash, error = %e, "refused a blob range: it does not match the signed hash");
                        peers.retain(|p| *p != peer);
                        todo.push_back((offset, tries + 1));
                    }
                }
                Ok(Response::Missing) => {
                    peers.retain(|p| *p != peer);
                    todo.push_back((offset, tries));
                }
                Ok(Response::Busy) => {
                    tokio::time::sleep(BUSY_PAUSE).await;
                    todo.push_back((offset, tries + 1));
                }
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "a blob range failed");
                    peers.retain(|p| *p != peer);
                    todo.push_back((offset, tries + 1));
                }
            }
        }
        let ranges = started.elapsed();
        partial.finish()?;
        tracing::info!(
            hash = %file.hash,
            size = file.size,
            ?ranges,
            whole = ?started.elapsed(),
            "fetched a file"
        );
        Ok(())
    }

    async fn peers(&self) -> Result<Vec<PeerId>> {
        let (reply, answer) = oneshot::channel();
        self.network
            .send(NetCommand::BlobPeers(reply))
            .await
            .map_err(|_| Error::NodeStopped)?;
        answer.await.map_err(|_| Error::NodeStopped)
    }

    async fn ask(
        &self,
        peer: PeerId,
        hash: BlobHash,
        offset: u64,
        tries: u32,
    ) -> (PeerId, u64, u32, Result<Response>) {
        let (reply, answer) = oneshot::channel();
        let request = Request {
            hash,
            offset,
            len: MAX_SLICE,
        };
        let sent = self
            .network
            .send(NetCommand::BlobRange {
                peer,
                request,
                reply,
            })
            .await;
        let answer = match sent {
            Ok(()) => answer.await.unwrap_or(Err(Error::NodeStopped)),
            Err(_) => Err(Error::NodeStopped),
        };
        (peer, offset, tries, answer)
    }
}

impl kith_core::ops::FetchBlob for Fetcher {
    fn fetch(&self, file: &BlobRef) -> Result<()> {
        self.runtime.block_on(self.fetch_async(file))
    }
}
