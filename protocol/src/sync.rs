//! Catch-up replication as a sans-IO state machine.
//!
//! Two peers exchange **frontiers** (author → latest seq and id) for the
//! authors they replicate, then each pulls what it lacks with **fetch**
//! requests: entries of one author after a seq, in log order, bounded in
//! bytes. A fetch that leaves us still behind is followed by the next one
//! until both sides are level. Live gossip that arrives ahead of the local
//! log (a gap) feeds the same machinery.
//!
//! [`Replicator`] decides what to ask whom and what to answer; it does no
//! I/O. The caller delivers requests and responses, runs the
//! [`Output::Ingest`] it is told to (validation and storage happen outside),
//! and reports back with [`Replicator::ingested`]. The same code drives the
//! libp2p node and the seeded network simulation in the tests.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::entry::{Entry, EntryId, Head};
use crate::keys::AuthorId;
use crate::limits::Limits;

mod answer;
mod wire;

pub use wire::{decode, decode_any_entries, decode_entries, encode};

/// libp2p protocol name of the request-response exchange.
pub const PROTOCOL_NAME: &str = "/kith/sync/1";

/// Most fetches in flight to one peer at a time.
pub const MAX_FETCHES_PER_PEER: usize = 8;

/// One author's position in a frontier; `head: None` means "I replicate
/// this author but hold nothing yet".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrontierItem {
    pub author: AuthorId,
    pub head: Option<Head>,
}

/// A sync request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// The sender's frontier over the authors it replicates.
    Frontier(Vec<FrontierItem>),
    /// Entries of `author` with seq > `after_seq`, oldest first, at most
    /// `max_bytes` of wire encoding (but at least one entry if any exists).
    Fetch {
        author: AuthorId,
        after_seq: u64,
        max_bytes: u32,
    },
    /// The wiki-change entries (all parts of their groups) that contain
    /// these Automerge changes, by any author: the dependencies of a change
    /// a trusted author made, which the requester is missing.
    Changes { hashes: Vec<[u8; 32]> },
    /// Concatenated entry envelopes the sender offers unasked: the first
    /// entries of keys that took over (kind 14) from an author the
    /// receiver's frontier lists, when its frontier does not list them.
    /// The receiver checks each and answers with an empty frontier.
    Offer {
        #[serde(with = "serde_bytes")]
        entries: Vec<u8>,
    },
}

/// Most entries in one [`Request::Offer`].
pub const MAX_OFFER_ENTRIES: usize = 16;

/// A sync response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The responder's heads for the requested authors it replicates.
    Frontier(Vec<FrontierItem>),
    /// Concatenated entry envelopes (each self-delimiting), in log order.
    Entries {
        author: AuthorId,
        #[serde(with = "serde_bytes")]
        entries: Vec<u8>,
    },
    /// Answer to [`Request::Changes`]: concatenated entry envelopes, any authors.
    Changes {
        #[serde(with = "serde_bytes")]
        entries: Vec<u8>,
    },
}

/// Read access to the local logs, and the replication scope.
pub trait Logs {
    /// Whether this node replicates (and accepts) `author` now.
    fn replicates(&self, author: &AuthorId) -> bool;
    /// Whether this node answers for `author`'s log (frontier, fetches):
    /// every author it replicates, and also those whose log is complete
    /// here (a revoked device's, a recovered identity's) and so no longer
    /// replicated: peers that lack it still need what it holds.
    fn serves(&self, author: &AuthorId) -> bool {
        self.replicates(author)
    }
    /// Every replicated author, with the local head if any.
    fn frontier(&self) -> Vec<FrontierItem>;
    fn head(&self, author: &AuthorId) -> Option<Head>;
    fn id_at(&self, author: &AuthorId, seq: u64) -> Option<EntryId>;
    /// Entries after `after_seq`, in log order, within `max_bytes` (at least one).
    fn entries_after(&self, author: &AuthorId, after_seq: u64, max_bytes: usize) -> Vec<Entry>;
    /// The wiki-change entries holding these Automerge change hashes (all
    /// parts of each group), within `max_bytes`.
    fn entries_with_changes(&self, hashes: &[[u8; 32]], max_bytes: usize) -> Vec<Entry>;
    /// The first entries (kind 14) of the logs that took over from `from`.
    fn handovers(&self, _from: &AuthorId) -> Vec<Entry> {
        Vec::new()
    }
}

/// Something the caller must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output<P> {
    /// Send `request` to `peer`; report the answer with `token`.
    Send {
        peer: P,
        token: u64,
        request: Request,
    },
    /// Validate and store these entries (in order), then call
    /// [`Replicator::ingested`] with the same peer and author.
    Ingest {
        peer: P,
        author: AuthorId,
        entries: Vec<Entry>,
    },
    /// Wiki dependencies fetched with [`Replicator::want_changes`]: entries of
    /// any author, to be checked against the missing changes and kept apart
    /// from the replicated logs.
    IngestChanges { peer: P, entries: Vec<Entry> },
    /// Entries a peer offered ([`Request::Offer`]): check each as a
    /// handover from a replicated author before keeping it.
    Offered { peer: P, entries: Vec<Entry> },
}

/// Most change hashes asked for in one request.
pub const MAX_CHANGES_PER_REQUEST: usize = 256;

#[derive(Debug, Default)]
struct PeerState {
    /// What the peer told us it holds, per author.
    heads: BTreeMap<AuthorId, Head>,
    /// Fetches in flight to this peer.
    fetches: usize,
    /// The heads we last told the peer, per author: a periodic resync
    /// sends only those that changed since.
    sent: BTreeMap<AuthorId, Option<Head>>,
    /// Periodic resyncs with this peer so far.
    resyncs: u32,
}

/// Every this many periodic resyncs with a peer, the whole frontier is
/// sent again (in between, only the heads that changed).
pub const FULL_FRONTIER_EVERY: u32 = 10;

#[derive(Debug, Clone, Copy)]
struct Fetching<P> {
    peer: P,
    token: u64,
}

/// The catch-up state of one node. `P` identifies peers.
#[derive(Debug)]
pub struct Replicator<P> {
    limits: Limits,
    peers: BTreeMap<P, PeerState>,
    /// At most one fetch per author in flight, network-wide.
    fetching: BTreeMap<AuthorId, Fetching<P>>,
    /// Fetches whose response arrived and whose ingest is pending.
    ingesting: BTreeMap<AuthorId, P>,
    /// Highest seq any peer has shown us, per author.
    best_seen: BTreeMap<AuthorId, u64>,
    /// `Changes` requests in flight: token → peer.
    changes: BTreeMap<u64, P>,
    next_token: u64,
}

impl<P: Clone + Ord> Replicator<P> {
    pub fn new(limits: Limits) -> Self {
        Replicator {
            limits,
            peers: BTreeMap::new(),
            fetching: BTreeMap::new(),
            ingesting: BTreeMap::new(),
            best_seen: BTreeMap::new(),
            changes: BTreeMap::new(),
            next_token: 1,
        }
    }

    /// A connection to a trusted peer is up: offer our frontier.
    pub fn connected(&mut self, peer: P, logs: &impl Logs) -> Vec<Output<P>> {
        self.peers.entry(peer.clone()).or_default();
        vec![self.frontier_request(peer, logs)]
    }

    /// Re-run the frontier exchange with a connected peer (a periodic
    /// safety net behind gossip): the heads that changed since we last told
    /// this peer (nothing if none did), and every
    /// [`FULL_FRONTIER_EVERY`]th time, or after a request to it failed,
    /// the whole frontier.
    pub fn resync(&mut self, peer: P, logs: &impl Logs) -> Vec<Output<P>> {
        let Some(state) = self.peers.get_mut(&peer) else {
            return Vec::new();
        };
        state.resyncs += 1;
        if state.resyncs % FULL_FRONTIER_EVERY == 0 || state.sent.is_empty() {
            return vec![self.frontier_request(peer, logs)];
        }
        let mut items: Vec<FrontierItem> = logs
            .frontier()
            .into_iter()
            .filter(|i| state.sent.get(&i.author) != Some(&i.head))
            .collect();
        items.truncate(self.limits.max_frontier_authors);
        self.send_frontier(peer, items).into_iter().collect()
    }

    /// Tells a connected peer our heads for `authors` (a partial frontier),
    /// after catch-up advanced them: entries pulled by sync are not gossiped,
    /// so this is how they travel on to the next peer.
    pub fn announce(&mut self, peer: P, authors: &[AuthorId], logs: &impl Logs) -> Vec<Output<P>> {
        if !self.peers.contains_key(&peer) {
            return Vec::new();
        }
        let items: Vec<FrontierItem> = authors
            .iter()
            .filter(|a| logs.replicates(a))
            .take(self.limits.max_frontier_authors)
            .map(|a| FrontierItem {
                author: *a,
                head: logs.head(a),
            })
            .collect();
        self.send_frontier(peer, items).into_iter().collect()
    }

    /// The peer is gone: forget what it told us and re-plan its fetches.
    pub fn disconnected(&mut self, peer: &P, logs: &impl Logs) -> Vec<Output<P>> {
        self.peers.remove(peer);
        let lost: Vec<AuthorId> = self
            .fetching
            .iter()
            .filter(|(_, f)| &f.peer == peer)
            .map(|(a, _)| *a)
            .collect();
        for author in &lost {
            self.fetching.remove(author);
        }
        self.plan(logs)
    }

    /// Asks `peer` for the entries holding Automerge changes we miss (the
    /// dependencies of a change it sent us).
    pub fn want_changes(&mut self, peer: P, hashes: Vec<[u8; 32]>) -> Vec<Output<P>> {
        if !self.peers.contains_key(&peer) || hashes.is_empty() {
            return Vec::new();
        }
        let token = self.token();
        self.changes.insert(token, peer.clone());
        let mut hashes = hashes;
        hashes.truncate(MAX_CHANGES_PER_REQUEST);
        vec![Output::Send {
            peer,
            token,
            request: Request::Changes { hashes },
        }]
    }

    /// Handles the response to a request sent with `token`.
    pub fn handle_response(
        &mut self,
        peer: P,
        token: u64,
        response: Response,
        logs: &impl Logs,
    ) -> Vec<Output<P>> {
        match response {
            Response::Frontier(items) => {
                let mut outputs = Vec::new();
                if self.peers.contains_key(&peer) {
                    self.learn_frontier(&peer, &items, logs);
                    // The peer answered for the authors both replicate;
                    // handovers from them that it lacks are offered.
                    outputs.extend(self.offer(peer, &items, logs));
                }
                outputs.extend(self.plan(logs));
                outputs
            }
            Response::Changes { entries } => {
                if self.changes.remove(&token).is_none() {
                    return Vec::new();
                }
                match decode_any_entries(&entries, &self.limits) {
                    Ok(list) if !list.is_empty() => vec![Output::IngestChanges {
                        peer,
                        entries: list,
                    }],
                    _ => Vec::new(),
                }
            }
            Response::Entries { author, entries } => {
                let ours = matches!(self.fetching.get(&author), Some(f) if f.token == token && f.peer == peer);
                if !ours {
                    // A late or unsolicited answer: useless, and possibly hostile.
                    return Vec::new();
                }
                self.fetching.remove(&author);
                self.release(&peer);
                match decode_entries(&entries, author, &self.limits) {
                    Ok(list) if !list.is_empty() => {
                        self.ingesting.insert(author, peer.clone());
                        vec![Output::Ingest {
                            peer,
                            author,
                            entries: list,
                        }]
                    }
                    _ => {
                        // Nothing usable: stop believing this peer's claim.
                        self.forget_head(&peer, &author);
                        self.plan(logs)
                    }
                }
            }
        }
    }

    /// A request sent with `token` failed (timeout, connection closed).
    pub fn request_failed(&mut self, peer: &P, token: u64, logs: &impl Logs) -> Vec<Output<P>> {
        self.changes.remove(&token);
        // What we told the peer may not have arrived: the next resync
        // sends the whole frontier.
        if let Some(state) = self.peers.get_mut(peer) {
            state.sent.clear();
        }
        let author = self
            .fetching
            .iter()
            .find(|(_, f)| f.token == token && &f.peer == peer)
            .map(|(a, _)| *a);
        if let Some(author) = author {
            self.fetching.remove(&author);
            self.release(peer);
            self.forget_head(peer, &author);
        }
        self.plan(logs)
    }

    /// The caller stored what an [`Output::Ingest`] carried. `ok` is false
    /// when the peer's entries were invalid: its claims about the author are
    /// dropped so we do not ask it again until the next frontier exchange.
    pub fn ingested(
        &mut self,
        peer: &P,
        author: AuthorId,
        ok: bool,
        logs: &impl Logs,
    ) -> Vec<Output<P>> {
        self.ingesting.remove(&author);
        if !ok {
            self.forget_head(peer, &author);
        }
        self.plan(logs)
    }

    /// Gossip from `peer` showed an entry of `author` at `head` that does not
    /// continue our log (a gap): fetch what lies between.
    pub fn gap(
        &mut self,
        peer: P,
        author: AuthorId,
        head: Head,
        logs: &impl Logs,
    ) -> Vec<Output<P>> {
        if let Some(state) = self.peers.get_mut(&peer) {
            let known = state.heads.entry(author).or_insert(head);
            if head.seq > known.seq {
                *known = head;
            }
        }
        self.note_seen(author, head.seq);
        self.plan(logs)
    }

    /// A peer's gossip carried `author`'s entry at `seq` (for status).
    pub fn note_seen(&mut self, author: AuthorId, seq: u64) {
        let best = self.best_seen.entry(author).or_insert(0);
        *best = (*best).max(seq);
    }

    /// Whether a catch-up is under way.
    pub fn is_syncing(&self) -> bool {
        !self.fetching.is_empty() || !self.ingesting.is_empty()
    }

    /// Whether a catch-up of `author` is under way.
    pub fn is_syncing_author(&self, author: &AuthorId) -> bool {
        self.fetching.contains_key(author) || self.ingesting.contains_key(author)
    }

    /// Highest seq of `author` any peer has shown us.
    pub fn best_seen(&self, author: &AuthorId) -> Option<u64> {
        self.best_seen.get(author).copied()
    }

    pub fn connected_peers(&self) -> impl Iterator<Item = &P> {
        self.peers.keys()
    }

    /// Our whole frontier, for a new connection or a full resync.
    fn frontier_request(&mut self, peer: P, logs: &impl Logs) -> Output<P> {
        let mut items = logs.frontier();
        items.truncate(self.limits.max_frontier_authors);
        if let Some(state) = self.peers.get_mut(&peer) {
            state.sent = items.iter().map(|i| (i.author, i.head)).collect();
        }
        self.frontier_to(peer, items)
    }

    /// Part of our frontier (changed or advanced heads), remembering what
    /// the peer was told; nothing if there is nothing to tell.
    fn send_frontier(&mut self, peer: P, items: Vec<FrontierItem>) -> Option<Output<P>> {
        if items.is_empty() {
            return None;
        }
        if let Some(state) = self.peers.get_mut(&peer) {
            state.sent.extend(items.iter().map(|i| (i.author, i.head)));
        }
        Some(self.frontier_to(peer, items))
    }

    fn frontier_to(&mut self, peer: P, items: Vec<FrontierItem>) -> Output<P> {
        Output::Send {
            peer,
            token: self.token(),
            request: Request::Frontier(items),
        }
    }

    fn learn_frontier(&mut self, peer: &P, items: &[FrontierItem], logs: &impl Logs) {
        let mut seen = Vec::new();
        if let Some(state) = self.peers.get_mut(peer) {
            for item in items.iter().take(self.limits.max_frontier_authors) {
                if !logs.replicates(&item.author) {
                    continue;
                }
                // Logs only grow, so a lower seq is a stale message that was
                // overtaken (reordering): keep what we already know.
                if let Some(head) = item.head {
                    let known = state.heads.entry(item.author).or_insert(head);
                    if head.seq >= known.seq {
                        *known = head;
                    }
                    seen.push((item.author, head.seq));
                }
            }
        }
        for (author, seq) in seen {
            self.note_seen(author, seq);
        }
    }

    fn forget_head(&mut self, peer: &P, author: &AuthorId) {
        if let Some(state) = self.peers.get_mut(peer) {
            state.heads.remove(author);
            // The next resync names this author again, so the peer says
            // anew what it holds.
            state.sent.remove(author);
        }
    }

    fn release(&mut self, peer: &P) {
        if let Some(state) = self.peers.get_mut(peer) {
            state.fetches = state.fetches.saturating_sub(1);
        }
    }

    fn token(&mut self) -> u64 {
        let t = self.next_token;
        self.next_token += 1;
        t
    }

    /// Starts a fetch for every author some peer is ahead on (or disagrees
    /// with us about), one per author, within the per-peer cap.
    fn plan(&mut self, logs: &impl Logs) -> Vec<Output<P>> {
        // Candidate (author, peer, after_seq) in deterministic order.
        let mut wanted: BTreeMap<AuthorId, (P, u64, u64)> = BTreeMap::new();
        for (peer, state) in &self.peers {
            for (author, remote) in &state.heads {
                if self.fetching.contains_key(author)
                    || self.ingesting.contains_key(author)
                    || !logs.replicates(author)
                {
                    continue;
                }
                let local = logs.head(author).map_or(0, |h| h.seq);
                let after = if remote.seq > local {
                    local
                } else if logs.id_at(author, remote.seq) != Some(remote.id) {
                    // Same seq, different entry: fetch it to prove the fork.
                    remote.seq - 1
                } else {
                    continue;
                };
                // Prefer the peer that is furthest ahead.
                let better = match wanted.get(author) {
                    None => true,
                    Some((_, _, best)) => remote.seq > *best,
                };
                if better && state.fetches < MAX_FETCHES_PER_PEER {
                    wanted.insert(*author, (peer.clone(), after, remote.seq));
                }
            }
        }
        let mut out = Vec::new();
        for (author, (peer, after_seq, _)) in wanted {
            let Some(state) = self.peers.get_mut(&peer) else {
                continue;
            };
            if state.fetches >= MAX_FETCHES_PER_PEER {
                continue;
            }
            state.fetches += 1;
            let token = self.next_token;
            self.next_token += 1;
            self.fetching.insert(
                author,
                Fetching {
                    peer: peer.clone(),
                    token,
                },
            );
            out.push(Output::Send {
                peer,
                token,
                request: Request::Fetch {
                    author,
                    after_seq,
                    max_bytes: self.limits.max_batch_bytes as u32,
                },
            });
        }
        out
    }
}

#[cfg(test)]
mod tests;
