//! The store: every author's log, the trust list, fork proofs, and the views
//! derived from entries, kept in one ordered key-value map (see [`kv`]).
//!
//! Entries are the source of truth. Everything under the `v` key prefix is a
//! view that [`Store::reindex`] can delete and rebuild from the entries.
//!
//! Key layout (first byte selects the keyspace):
//!
//! | prefix | key                     | value                              |
//! |--------|-------------------------|------------------------------------|
//! | `E`    | author(32) seq(8, BE)   | entry wire bytes (body if kept)    |
//! | `I`    | entry id(32)            | author(32) seq(8, BE)              |
//! | `H`    | author(32)              | seq(8, BE) id(32)                  |
//! | `F`    | author(32) seq(8, BE)   | fork proof: two entries            |
//! | `T`    | author(32)              | trust record (postcard)            |
//! | `M`    | name                    | store metadata                     |
//! | `P`    | author(32)              | known peer addresses (postcard)    |
//! | `D`    | entry id(32)            | detached entry (wiki dependency by an author outside the replication set) |
//! | `v…`   | see [`views`]           | derived views                      |

pub mod bookmarks;
pub mod circles;
pub mod forks;
mod ids;
pub mod inbox;
mod keys;
pub mod keyspace;
pub(crate) use keys::decode_author;
pub use keys::{EntryKey, entry_key};
use keys::{author_key, decode_head, meta_key};
pub mod kv;
pub mod peers;
mod read;
pub mod rebuild;
mod secrets;
pub mod trust;
pub mod verify;
pub mod views;

use std::collections::BTreeMap;
use std::path::Path;

use kith_protocol::{
    AuthorId, Body, ChainStep, Draft, Entry, EntryId, Head, Keypair, Limits, ValidationError,
    Verified, check_chain,
};

use self::keyspace::Space;
use self::kv::{Batch, Kv, KvConfig, KvError};
pub use self::peers::{MAX_PEER_ADDRS, PeerRecord};
pub use self::rebuild::{Indexing, ReindexReport, VIEWS_VERSION};
pub use self::trust::{Scope, TrustRecord};
pub use self::verify::VerifyReport;

// The one-byte spaces of the source of truth and local state; every
// prefix is owned by `keyspace::Space`.
const ENTRY: u8 = Space::Entry.prefix()[0];
const ID: u8 = Space::Id.prefix()[0];
const HEAD: u8 = Space::Head.prefix()[0];
const FORK: u8 = Space::Fork.prefix()[0];
const TRUST: u8 = Space::Trust.prefix()[0];
const META: u8 = Space::Meta.prefix()[0];
const PEER: u8 = Space::Peer.prefix()[0];
const DETACHED: u8 = Space::Detached.prefix()[0];

/// Most writes one sled batch carries. sled 0.34 holds a batch's every
/// write in memory until it is written out, and far more than their size
/// beyond about 512 writes: 100,000 entries stored 4,096 to a call took
/// 1,247 MiB, 64 to a call 125 MiB (docs/BENCHMARKS.md, "Writing in
/// bounded batches"). Larger writes are applied in batches of this size,
/// split between whole entries.
pub(crate) const MAX_BATCH_OPS: usize = 256;

/// The store layout version, checked on open.
const SCHEMA_VERSION: u32 = 1;

/// Errors from the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Kv(#[from] KvError),
    #[error("invalid entry: {0}")]
    Invalid(#[from] ValidationError),
    #[error("author {0} is not in the replication set")]
    NotReplicated(AuthorId),
    #[error("author {0} is flagged for a fork; their entries are held until you decide")]
    AuthorForked(AuthorId),
    #[error("device {author} was revoked after its entry {last_seq}; entry {seq} is not accepted")]
    Revoked {
        author: AuthorId,
        last_seq: u64,
        seq: u64,
    },
    #[error("invalid body: {0}")]
    Body(#[from] kith_protocol::BodyError),
    #[error("corrupt store record: {0}")]
    Corrupt(String),
    #[error("store schema version {found} is not supported (expected {SCHEMA_VERSION})")]
    Schema { found: u32 },
    #[error("no entry matches {0:?}")]
    NotFound(String),
    #[error("{0:?} is too short to name an entry: give at least 4 hex characters")]
    TooShort(String),
    #[error("{0:?} matches more than one entry ({1}); give more characters")]
    Ambiguous(String, String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What ingesting one entry did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingested {
    /// A new entry, now stored.
    Appended,
    /// Already stored (replay).
    Duplicate,
}

/// What ingesting a batch did. Processing stops at the first error.
#[derive(Debug, Default)]
pub struct BatchOutcome {
    pub appended: Vec<Verified>,
    pub duplicates: usize,
    pub error: Option<Error>,
}

/// Filters for [`Store::feed`].
#[derive(Debug, Clone, Default)]
pub struct FeedQuery {
    pub limit: usize,
    /// Only entries strictly older than this (timestamp, id) cursor.
    pub before: Option<(u64, EntryId)>,
    pub author: Option<AuthorId>,
    pub kind: Option<kith_protocol::PostKind>,
    pub tag: Option<String>,
}

/// Every author's log, the trust list and the views on one key-value store.
/// Cloning is cheap and clones share the store: one writer (the node's
/// store actor) and any number of readers on other threads.
#[derive(Clone)]
pub struct Store {
    kv: Kv,
    limits: Limits,
    /// The last arrival number handed out (see `views`' arrival order).
    arrival: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Entries from peers or arrival records were written since the last
    /// [`Store::flush`] (they are not flushed as they come: see
    /// [`Store::flush_entries`]).
    unflushed: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// The registry built from the certificates, shared by every clone
    /// (readers included) until a write changes what it is built from.
    registry: std::sync::Arc<trust::RegistryCache>,
    /// The id index's tail and runs (`store::ids`).
    ids: std::sync::Arc<ids::IdRuns>,
}

impl Store {
    /// Opens (or creates) the store in `path`.
    pub fn open(path: &Path, config: &KvConfig, limits: Limits) -> Result<Store> {
        let kv = Kv::open(path, config)?;
        let ids = ids::IdRuns::open(&kv, ids::Params::default(), &limits)?;
        let store = Store {
            kv,
            limits,
            arrival: Default::default(),
            unflushed: Default::default(),
            registry: Default::default(),
            ids: std::sync::Arc::new(ids),
        };
        store.check_schema()?;
        store.arrival.store(
            views::last_arrival(&store)?,
            std::sync::atomic::Ordering::SeqCst,
        );
        Ok(store)
    }

    /// A store in a temporary location, removed on drop.
    pub fn temporary() -> Result<Store> {
        let kv = Kv::temporary()?;
        let ids = ids::IdRuns::open(&kv, ids::Params::default(), &Limits::default())?;
        let store = Store {
            kv,
            limits: Limits::default(),
            arrival: Default::default(),
            unflushed: Default::default(),
            registry: Default::default(),
            ids: std::sync::Arc::new(ids),
        };
        store.check_schema()?;
        Ok(store)
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Applies `batch` and starts it over once it holds
    /// [`MAX_BATCH_OPS`] writes (between whole entries: each entry's
    /// records stay together).
    pub(crate) fn apply_if_full(&self, batch: &mut Batch) -> Result<()> {
        if batch.len() >= MAX_BATCH_OPS {
            self.apply(std::mem::take(batch))?;
        }
        Ok(())
    }

    /// Applies a batch; if it wrote what persons are resolved from, the
    /// cached registry is built again at its next use.
    fn apply(&self, mut batch: Batch) -> Result<()> {
        let registry = batch.registry;
        let numbered = views::number_arrivals(self, &mut batch);
        let ids = std::mem::take(&mut batch.ids);
        if numbered.is_some() {
            // Arrival numbers a search commit may cover: see `flush_entries`.
            self.unflushed
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
        if let Err(e) = self.kv.apply(batch) {
            // Numbers handed out to writes that did not happen are taken
            // back, so the search index never covers more than the store.
            if let Some((first, count)) = numbered {
                let _ = self.arrival.compare_exchange(
                    first + count - 1,
                    first - 1,
                    std::sync::atomic::Ordering::SeqCst,
                    std::sync::atomic::Ordering::SeqCst,
                );
            }
            return Err(e.into());
        }
        if registry {
            self.registry_changed();
        }
        if !ids.is_empty() {
            self.ids.applied(&ids);
        }
        if self.ids.pending() {
            // The id index's upkeep never fails the write it follows: a step
            // that did not happen is taken again after the next one.
            if let Err(e) = self.tidy_ids() {
                tracing::warn!(error = %e, "moving ids from the index's tail into its runs");
            }
        }
        Ok(())
    }

    fn check_schema(&self) -> Result<()> {
        let key = meta_key("schema");
        match self.kv.get(&key)? {
            None => self.kv.insert(&key, SCHEMA_VERSION.to_be_bytes())?,
            Some(v) => {
                let found = u32::from_be_bytes(
                    v.as_ref()
                        .try_into()
                        .map_err(|_| Error::Corrupt("schema version".into()))?,
                );
                if found != SCHEMA_VERSION {
                    return Err(Error::Schema { found });
                }
            }
        }
        Ok(())
    }

    // ----- writing -----------------------------------------------------------

    /// Signs `body` as the next entry of `keypair`'s log, stores it and
    /// flushes to disk before returning.
    pub fn append(&self, keypair: &Keypair, body: &Body, now_ms: u64) -> Result<Entry> {
        let mut entries = self.append_many(keypair, std::slice::from_ref(body), now_ms)?;
        Ok(entries.pop().expect("one body gives one entry"))
    }

    /// Appends several entries with a single flush (see [`Store::append_signed`]).
    pub fn append_many(
        &self,
        keypair: &Keypair,
        bodies: &[Body],
        now_ms: u64,
    ) -> Result<Vec<Entry>> {
        Ok(self
            .append_signed(keypair, bodies, now_ms, Indexing::All)?
            .into_iter()
            .map(Verified::into_entry)
            .collect())
    }

    /// Signs `bodies` as the next entries of `keypair`'s log and stores them
    /// with a single flush (group commit), durable before this returns.
    /// Every body is checked before anything is written.
    pub fn append_signed(
        &self,
        keypair: &Keypair,
        bodies: &[Body],
        now_ms: u64,
        indexing: Indexing,
    ) -> Result<Vec<Verified>> {
        let author = keypair.author();
        let mut head = self.head(&author)?;
        let mut last_ts = match head {
            Some(h) => self
                .entry_at(&author, h.seq)?
                .map_or(0, |e| e.header().timestamp_ms),
            None => 0,
        };
        for body in bodies {
            body.check(&self.limits)?;
        }
        let mut batch = Batch::default();
        let mut out = Vec::with_capacity(bodies.len());
        for body in bodies {
            let timestamp_ms = now_ms.max(last_ts);
            let entry = Entry::sign(
                keypair,
                Draft {
                    seq: head.map_or(1, |h| h.seq + 1),
                    prev: head.map(|h| h.id),
                    timestamp_ms,
                    body: body.encode(),
                },
            );
            let entry = Verified::signed_here(entry, body.clone());
            self.write(&entry, indexing, &mut batch)?;
            head = Some(Head {
                seq: entry.entry().seq(),
                id: entry.entry().id(),
            });
            last_ts = timestamp_ms;
            out.push(entry);
        }
        self.apply(batch)?;
        self.flush()?;
        Ok(out)
    }

    /// Verifies and stores an entry from someone else (tests, tools; the
    /// node verifies on its pool and calls [`Store::ingest_verified`]).
    pub fn ingest(&self, entry: &Entry, now_ms: u64, scope: &Scope) -> Result<Ingested> {
        let mut outcome = self.ingest_batch(std::slice::from_ref(entry), now_ms, scope);
        match outcome.error.take() {
            Some(e) => Err(e),
            None if outcome.duplicates == 1 => Ok(Ingested::Duplicate),
            None => Ok(Ingested::Appended),
        }
    }

    /// Verifies, then stores, entries in order (see [`Store::ingest_verified`]).
    pub fn ingest_batch(&self, entries: &[Entry], now_ms: u64, scope: &Scope) -> BatchOutcome {
        let mut verified = Vec::with_capacity(entries.len());
        let mut failed = None;
        for entry in entries {
            match Verified::check(entry.clone(), &self.limits, now_ms) {
                Ok(v) => verified.push(v),
                Err(e) => {
                    failed = Some(e.1);
                    break;
                }
            }
        }
        let mut outcome = self.ingest_verified(verified, scope, Indexing::All);
        if outcome.error.is_none()
            && let Some(e) = failed
        {
            outcome.error = Some(Error::Invalid(e));
        }
        outcome
    }

    /// Stores verified entries in order, in one atomic write, after checking
    /// that each author is replicated and not held for a fork and that each
    /// entry continues its author's chain. Stops at the first entry that
    /// does not fit; what came before it is stored. Not flushed: peers'
    /// entries can be fetched again after a crash.
    pub fn ingest_verified(
        &self,
        entries: Vec<Verified>,
        scope: &Scope,
        indexing: Indexing,
    ) -> BatchOutcome {
        let mut outcome = BatchOutcome::default();
        let mut state = IngestState::default();
        if !entries.is_empty() {
            self.unflushed
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
        for entry in entries {
            match self.ingest_one(&entry, scope, indexing, &mut state) {
                Ok(Ingested::Appended) => {
                    let e = entry.entry();
                    state.entries.insert((e.author(), e.seq()), e.clone());
                    outcome.appended.push(entry);
                }
                Ok(Ingested::Duplicate) => outcome.duplicates += 1,
                Err(e) => {
                    outcome.error = Some(e);
                    break;
                }
            }
        }
        if let Err(e) = self.apply(state.batch) {
            outcome.appended.clear();
            outcome.error = Some(e);
        }
        outcome
    }

    fn ingest_one(
        &self,
        verified: &Verified,
        scope: &Scope,
        indexing: Indexing,
        state: &mut IngestState,
    ) -> Result<Ingested> {
        let entry = verified.entry();
        let author = entry.author();
        if !scope.contains(&author) {
            return Err(Error::NotReplicated(author));
        }
        if let Some(last_seq) = scope.last_seq(&author)
            && entry.seq() > last_seq
        {
            return Err(Error::Revoked {
                author,
                last_seq,
                seq: entry.seq(),
            });
        }
        let flagged = match state.flagged.get(&author) {
            Some(f) => *f,
            None => {
                let f = self.is_flagged(&author)?;
                state.flagged.insert(author, f);
                f
            }
        };
        if flagged {
            return Err(Error::AuthorForked(author));
        }
        let head = match state.heads.get(&author) {
            Some(h) => Some(*h),
            None => self.head(&author)?,
        };
        // Only an entry at or below the head can already be stored.
        let existing = if entry.seq() <= head.map_or(0, |h| h.seq) {
            match state.entries.get(&(author, entry.seq())) {
                Some(e) => Some(e.clone()),
                None => self.entry_at(&author, entry.seq())?,
            }
        } else {
            None
        };
        match check_chain(head, existing.as_ref(), entry) {
            Ok(ChainStep::Duplicate) => Ok(Ingested::Duplicate),
            Ok(ChainStep::Append) => {
                self.write(verified, indexing, &mut state.batch)?;
                state.heads.insert(
                    author,
                    Head {
                        seq: entry.seq(),
                        id: entry.id(),
                    },
                );
                Ok(Ingested::Appended)
            }
            Err(ValidationError::Fork(proof)) => {
                self.record_fork(&proof)?;
                Err(Error::Invalid(ValidationError::Fork(proof)))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Adds an entry, its id, its author's new head and (if `indexing`
    /// covers it) its views to `batch`.
    fn write(&self, verified: &Verified, indexing: Indexing, batch: &mut Batch) -> Result<()> {
        let entry = verified.entry();
        let index = indexing.covers(&entry.author(), entry.seq());
        if index && views::reads_store(verified) {
            // Views of this entry read what came before it in the batch.
            self.apply(std::mem::take(batch))?;
        }
        self.apply_if_full(batch)?;
        let key = entry_key(&entry.author(), entry.seq());
        batch.insert(key.with_prefix(ENTRY), entry.encode());
        batch.push_id(entry.id().as_bytes(), &key.0);
        let mut head = Vec::with_capacity(40);
        head.extend_from_slice(&entry.seq().to_be_bytes());
        head.extend_from_slice(entry.id().as_bytes());
        batch.insert(author_key(HEAD, &entry.author()), head);
        if index {
            views::index(self, verified, batch)?;
        }
        Ok(())
    }

    /// Drops the body of a stored entry, keeping its signed header.
    pub(crate) fn drop_body(&self, entry: &Entry, batch: &mut Batch) {
        let key = entry_key(&entry.author(), entry.seq());
        batch.insert(key.with_prefix(ENTRY), entry.without_body().encode());
    }

    /// Makes all writes durable.
    pub fn flush(&self) -> Result<()> {
        let unflushed = self
            .unflushed
            .swap(false, std::sync::atomic::Ordering::SeqCst);
        self.kv.flush().inspect_err(|_| {
            if unflushed {
                self.unflushed
                    .store(true, std::sync::atomic::Ordering::SeqCst);
            }
        })?;
        Ok(())
    }

    /// Makes entries from peers and arrival records written since the last
    /// flush durable, if there are any (own entries are made durable as
    /// they are written), so that a search index committed after it covers
    /// nothing a crash could take from the store.
    pub fn flush_entries(&self) -> Result<()> {
        if self.unflushed.load(std::sync::atomic::Ordering::SeqCst) {
            self.flush()?;
        }
        Ok(())
    }

    /// Posts, newest first.
    pub fn feed(&self, query: &FeedQuery) -> Result<Vec<Entry>> {
        views::feed(self, query)
    }

    /// The first of `count` consecutive arrival numbers (views number every
    /// stored entry in order).
    pub(crate) fn next_arrivals(&self, count: u64) -> u64 {
        self.arrival
            .fetch_add(count, std::sync::atomic::Ordering::SeqCst)
            + 1
    }

    /// The arrival number of the last stored entry.
    pub fn last_arrival(&self) -> u64 {
        self.arrival.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Up to `limit` entries stored after arrival number `after`, in
    /// arrival order.
    pub fn arrivals_after(&self, after: u64, limit: usize) -> Result<Vec<(u64, Entry)>> {
        views::arrivals_after(self, after, limit)
    }

    /// Direct access for views and maintenance code in this crate.
    pub fn kv(&self) -> &Kv {
        &self.kv
    }

    /// Bytes the store occupies on disk.
    pub fn size_on_disk(&self) -> Result<u64> {
        Ok(self.kv.size_on_disk()?)
    }

    /// Overwrites a stored entry record with raw bytes (tests of `verify`).
    #[doc(hidden)]
    pub fn corrupt_for_test(&self, author: &AuthorId, seq: u64, bytes: &[u8]) -> Result<()> {
        Ok(self
            .kv
            .insert(entry_key(author, seq).with_prefix(ENTRY), bytes)?)
    }
}

/// What one [`Store::ingest_verified`] call has written but not yet applied.
#[derive(Default)]
struct IngestState {
    /// Heads advanced by this batch.
    heads: BTreeMap<AuthorId, Head>,
    /// Entries appended by this batch, by author and seq.
    entries: BTreeMap<(AuthorId, u64), Entry>,
    /// Authors checked for a fork hold, and the answer.
    flagged: BTreeMap<AuthorId, bool>,
    batch: Batch,
}

#[cfg(test)]
mod tests;
