//! `Core`: the node's logic over its store, without the network. It owns
//! the store's write side, the wiki engine and the search index.
//!
//! In a running node one `Core` lives on the store actor's thread
//! (the store actor, in kith-node); with no node running, the CLI opens one
//! directly. Both reach it through the operations of [`crate::ops`].
//! Reads that need no write-side state go through a [`Reader`] instead,
//! which any thread can hold.
//!
//! What `Core` asks its owner to do beyond its return values (publish own
//! entries, follow a new replication set, dial a peer) goes into its
//! outbox as [`Effect`]s, drained after every call.
//!
//! The methods are split by seam: [`ingest`] (own appends and entries from
//! peers), [`social`] (posts, trust, profiles, deletion), [`knowledge`]
//! (search, questions and answers), [`wiki`] (the wiki's operations), [`exchange`]
//! (bundles, imports, forks) and [`rebuild`] (reindex, shutdown).

pub mod blobs;
pub mod circles;
pub mod devices;
pub mod exchange;
pub mod inbox;
pub mod ingest;
pub mod knowledge;
pub mod promote;
pub mod rebuild;
pub mod recovery;
pub mod social;
pub mod succession;
pub mod versions;
pub mod wiki;

use std::collections::BTreeSet;
use std::sync::Arc;

use kith_protocol::{AuthorId, Entry, Keypair, PageId};
use kith_store::blobs::Blobs;
use multiaddr::Multiaddr;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::ops::Operation;
use crate::reader::Reader;
use crate::search::Search;
use crate::store::{Indexing, Scope, Store};
use crate::wiki::Wiki;

pub use self::ingest::IngestOutcome;
pub use self::rebuild::Rebuild;
pub use self::social::PeerNote;

pub use crate::clock::now_ms;

/// Something the owner of a `Core` must do after a call.
#[derive(Debug, Clone)]
pub enum Effect {
    /// Own entries are durably stored: announce and publish them.
    Appended(Vec<Entry>),
    /// The replication set changed.
    Scope(Scope),
    /// A peer was just trusted through its invite: dial it.
    Dial {
        author: AuthorId,
        addrs: Vec<Multiaddr>,
    },
}

pub struct Core {
    store: Store,
    /// The key this node signs its log with ([`Core::me`]).
    keypair: Keypair,
    /// The node's libp2p key; differs from `keypair` once the node went on
    /// under a new log key (PROTOCOL.md §11.6).
    node_key: AuthorId,
    /// Its key pair (circle epochs from before a succession were wrapped
    /// to its X25519 key).
    node_keypair: Keypair,
    /// Whether the store is marked as keeping a head witness.
    witnessed: bool,
    config: Config,
    scope: Scope,
    wiki: Wiki,
    search: Search,
    /// Pages whose search documents are stale (re-indexed at the next commit).
    dirty_pages: BTreeSet<PageId>,
    outbox: Vec<Effect>,
    /// A rebuild of the views in progress, if any.
    rebuild: Option<Rebuild>,
    /// The search index is catching up with the store
    /// ([`Core::search_catch_up_step`]).
    search_behind: bool,
    /// Circles as last read (`circles::circle_state`), until an epoch of
    /// theirs or a certificate arrives.
    circle_cache:
        std::collections::BTreeMap<kith_protocol::circle::CircleId, Arc<circles::CircleState>>,
    /// Files and images, beside the store (`kith_store::blobs`).
    blobs: Arc<Blobs>,
}

/// The store settings of `config` (the store on disk).
fn kv_config(config: &Config) -> crate::store::kv::KvConfig {
    crate::store::kv::KvConfig {
        cache_bytes: config.cache_bytes,
        temporary: false,
    }
}

impl Core {
    /// Opens the store of `config.data_dir` for the node whose libp2p key is
    /// `keypair` (it signs its log with it, or with the key it took over
    /// with, PROTOCOL.md §11.6).
    pub fn open(config: Config, keypair: Keypair) -> Result<Core> {
        let store = Store::open(
            &config.data_dir.store(),
            &kv_config(&config),
            config.limits.clone(),
        )?;
        let search = Search::open(Some(&config.data_dir.search_index())).map_err(search_error)?;
        Core::with_parts(config, keypair, store, search)
    }

    /// A core on `store` with an in-memory search index (tests, tools).
    pub fn with_store(config: Config, keypair: Keypair, store: Store) -> Result<Core> {
        let search = Search::open(None).map_err(search_error)?;
        Core::with_parts(config, keypair, store, search)
    }

    fn with_parts(config: Config, keypair: Keypair, store: Store, search: Search) -> Result<Core> {
        let node_key = keypair.author();
        let node_keypair = keypair.clone();
        let keypair = succession::log_keypair(&store, keypair)?;
        let scope = store.scope(keypair.author(), config.hops)?;
        let witnessed = store.witnessed()?;
        let blobs = Arc::new(Blobs::open(config.data_dir.blobs(), config.blobs.limits())?);
        let mut core = Core {
            blobs,
            store,
            keypair,
            node_key,
            node_keypair,
            witnessed,
            config,
            scope,
            wiki: Wiki::default(),
            search,
            dirty_pages: BTreeSet::new(),
            outbox: Vec::new(),
            rebuild: None,
            search_behind: false,
            circle_cache: Default::default(),
        };
        core.catch_up_views()?;
        core.enforce_revocations()?;
        Ok(core)
    }

    /// Runs an operation here, on this core (the CLI's direct mode, tests).
    pub fn run<O: Operation>(&mut self, op: O) -> Result<O::Output> {
        // With no node running, nobody can say where this store's own log
        // is: if the witness says it is behind, writing here could re-sign
        // a sequence number (PROTOCOL.md §11.6).
        if O::INFO.owner == crate::ops::Owner::Store && self.behind_witness()? {
            return Err(Error::Conflict(
                "this store may be behind its own log (restored from a backup?): start the node \
                 (`kith up`) so it can catch up from your peers, or go on under a new key"
                    .into(),
            ));
        }
        if self.rebuild.is_some() {
            // A reindex a crash interrupted: finish it before anything else.
            self.finish_pending_rebuild()?;
        }
        // So is a search index that is behind the store.
        self.finish_search_catch_up()?;
        let result = op.direct(self);
        // Nobody to publish to or dial here: peers get own entries by
        // catch-up when the node next runs.
        self.outbox.clear();
        result
    }

    pub fn me(&self) -> AuthorId {
        self.keypair.author()
    }

    pub fn keypair(&self) -> &Keypair {
        &self.keypair
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The wiki engine (tests drive it directly).
    #[cfg(test)]
    pub(crate) fn wiki_mut(&mut self) -> &mut Wiki {
        &mut self.wiki
    }

    /// The authors this node replicates.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// A read-only view of the store as it is now.
    pub fn reader(&self) -> Reader {
        Reader::new(
            self.store.clone(),
            self.blobs.clone(),
            self.me(),
            Arc::new(self.scope.clone()),
            Arc::new(self.config.clone()),
        )
    }

    /// The node's files and images.
    pub fn blobs(&self) -> &Arc<Blobs> {
        &self.blobs
    }

    /// A reader of the search index for other threads.
    pub fn search_reader(&self) -> crate::search::SearchReader {
        self.search.reader()
    }

    /// What the owner must do after the last calls (clears the outbox).
    pub fn drain_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.outbox)
    }

    /// Recomputes the replication set; notes a change in the outbox.
    fn refresh_scope(&mut self) -> Result<bool> {
        // While a rebuild runs, the certificate view is partial: the scope
        // stays as it was until the rebuild ends (which refreshes it).
        if self.rebuild.is_some() {
            return Ok(false);
        }
        let scope = self.store.scope(self.me(), self.config.hops)?;
        if scope == self.scope {
            return Ok(false);
        }
        self.scope = scope.clone();
        self.outbox.push(Effect::Scope(scope));
        self.enforce_revocations()?;
        Ok(true)
    }

    /// Drops what revoked or rotated-away keys wrote after their last valid
    /// entry (stored before the certificate that ended them arrived), and
    /// rebuilds the views without it.
    fn enforce_revocations(&mut self) -> Result<()> {
        if self.rebuild.is_some() {
            // Done when the rebuild ends, from the whole certificate view.
            return Ok(());
        }
        let mut removed = 0;
        let me = self.me();
        for (author, last_seq) in self.scope.ended() {
            // A device revoked by its person keeps its own log; others
            // refuse it anyway.
            if author == me {
                continue;
            }
            if self.store.head(&author)?.is_some_and(|h| h.seq > last_seq) {
                let n = self.store.truncate_log(&author, last_seq)?;
                tracing::warn!(%author, last_seq, removed = n, "dropped entries a revocation ended");
                removed += n;
            }
        }
        if removed > 0 {
            self.start_rebuild()?;
        }
        Ok(())
    }

    /// Which entries get their views as they are stored (all of them,
    /// unless a rebuild runs).
    fn indexing(&self) -> Indexing {
        self.rebuild
            .as_ref()
            .map_or(Indexing::All, Rebuild::indexing)
    }

    /// Refuses an operation that needs the pages while a rebuild has them
    /// torn down.
    fn pages_ready(&self) -> Result<()> {
        match &self.rebuild {
            Some(r) if !r.pages_ready() => Err(Error::Busy(format!(
                "the views are being rebuilt ({}); wiki pages are back when it finishes",
                r.progress_text()
            ))),
            _ => Ok(()),
        }
    }
}

pub(crate) fn search_error(e: crate::search::Error) -> Error {
    Error::Io(e.to_string())
}

#[cfg(test)]
mod tests;
