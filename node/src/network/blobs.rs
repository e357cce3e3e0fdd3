//! Blob transfer on the network loop (PROTOCOL.md §13): ranges asked of
//! peers for the [`crate::blobs::Fetcher`], and ranges served to peers.
//!
//! Serving reads files, so it runs on the blocking pool; the loop only
//! checks who asks, caps how many ranges are on their way out
//! ([`SERVING_BLOBS`]), and sends the answer when it is read.

use std::future::Future;
use std::pin::Pin;

use kith_protocol::Entry;
use kith_protocol::blob::{Request, Response};
use libp2p::PeerId;
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use tokio::sync::oneshot;

use super::Network;
use crate::error::{Error, Result};

/// Most blob ranges read or on their way out at once, over all peers;
/// beyond it a peer is told [`Response::Busy`].
pub(crate) const SERVING_BLOBS: usize = 32;

/// A range being read for a peer.
pub(crate) type Serving =
    Pin<Box<dyn Future<Output = (ResponseChannel<Response>, Response)> + Send>>;

/// Ranges asked of peers, by request, with who waits for each.
pub(crate) type Asked =
    std::collections::HashMap<OutboundRequestId, oneshot::Sender<Result<Response>>>;

impl Network {
    /// Starts fetching the files `entries` attach that are small enough to
    /// fetch at once (`[blobs] eager_mib`) and not here yet.
    pub(super) fn fetch_attached(&self, entries: &[Entry]) {
        let Some(fetcher) = &self.fetcher else {
            return;
        };
        let blobs = self.reader.blobs();
        let eager = self.config.blobs.eager_max;
        for entry in entries {
            // Only kinds 20 and 21 carry files: the others are not decoded
            // here (a catch-up brings thousands at once).
            let kind = entry
                .body()
                .and_then(|b| kith_protocol::varint::decode(b).ok());
            if !matches!(
                kind,
                Some((
                    kith_protocol::body::kind::POST_WITH_FILES | kith_protocol::body::kind::FILES,
                    _
                ))
            ) {
                continue;
            }
            let files = match entry.body().map(kith_protocol::Body::decode) {
                Some(Ok(kith_protocol::Body::Post(post))) => post.files,
                Some(Ok(kith_protocol::Body::Files(files))) => files.files,
                _ => continue,
            };
            for file in files {
                if file.size > eager || file.check().is_err() || blobs.has(&file.hash) {
                    continue;
                }
                let fetcher = fetcher.clone();
                // At most `EAGER_FETCHES` at once; the others wait here,
                // not on the blocking pool.
                tokio::spawn(async move {
                    let Ok(_turn) = fetcher.eager.acquire().await else {
                        return;
                    };
                    let running = fetcher.clone();
                    let fetched = tokio::task::spawn_blocking(move || {
                        use kith_core::ops::FetchBlob;
                        running.fetch(&file).map_err(|e| (file.hash, e))
                    })
                    .await;
                    if let Ok(Err((hash, e))) = fetched {
                        tracing::info!(%hash, error = %e, "could not fetch an attached file yet");
                    }
                });
            }
        }
    }

    /// Asks `peer` for a range (the fetcher's request).
    pub(super) fn ask_blob(
        &mut self,
        peer: PeerId,
        request: Request,
        reply: oneshot::Sender<Result<Response>>,
    ) {
        if !self.allowed(&peer) || !self.connected.contains_key(&peer) {
            let _ = reply.send(Err(Error::Network(format!("{peer} is not connected"))));
            return;
        }
        let id = self.swarm.behaviour_mut().blob.send_request(&peer, request);
        self.blobs_asked.insert(id, reply);
    }

    /// The trusted peers connected now: where a blob may be fetched from.
    pub(super) fn blob_peers(&self) -> Vec<PeerId> {
        let mut peers: Vec<PeerId> = self
            .connected
            .keys()
            .filter(|p| self.allowed(p))
            .copied()
            .collect();
        peers.sort();
        peers
    }

    pub(super) fn on_blob(&mut self, event: request_response::Event<Request, Response>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => self.serve_blob(peer, request, channel),
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some(reply) = self.blobs_asked.remove(&request_id) {
                        let _ = reply.send(Ok(response));
                    }
                }
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                tracing::debug!(%peer, %error, "a blob range failed");
                if let Some(reply) = self.blobs_asked.remove(&request_id) {
                    let _ = reply.send(Err(Error::Network(format!(
                        "{peer} did not send the range: {error}"
                    ))));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "serving a blob range failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    /// Serves a range to a peer in the replication set; anyone else gets
    /// nothing (the allow list keeps them out already; this holds even if
    /// a peer's trust ended while its connection was closing).
    fn serve_blob(&mut self, peer: PeerId, request: Request, channel: ResponseChannel<Response>) {
        if !self.allowed(&peer) {
            tracing::debug!(%peer, "a blob asked for by a peer outside the replication set");
            return;
        }
        if request.check().is_err() {
            tracing::debug!(%peer, ?request, "a malformed blob range");
            return;
        }
        if self.blobs_serving.len() >= SERVING_BLOBS {
            let _ = self
                .swarm
                .behaviour_mut()
                .blob
                .send_response(channel, Response::Busy);
            return;
        }
        let blobs = self.reader.blobs().clone();
        self.blobs_serving.push(Box::pin(async move {
            let read = tokio::task::spawn_blocking(move || {
                blobs.slice(&request.hash, request.offset, request.len)
            })
            .await;
            let response = match read {
                Ok(Ok(Some(slice))) => Response::Slice(slice),
                Ok(Ok(None)) => Response::Missing,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "cannot read a blob range");
                    Response::Missing
                }
                Err(_) => Response::Busy,
            };
            (channel, response)
        }));
    }

    /// A range read for a peer: send it.
    pub(super) fn blob_read(&mut self, channel: ResponseChannel<Response>, response: Response) {
        if self
            .swarm
            .behaviour_mut()
            .blob
            .send_response(channel, response)
            .is_err()
        {
            tracing::debug!("a peer left before its blob range was sent");
        }
    }
}
