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

pub mod kv;
pub mod views;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use kith_protocol::{
    AuthorId, Body, ChainStep, Draft, Entry, EntryId, ForkProof, Head, Keypair, Limits,
    ValidationError, check_chain,
};
use serde::{Deserialize, Serialize};

use self::kv::{Batch, Kv, KvConfig, KvError};

const ENTRY: u8 = b'E';
const ID: u8 = b'I';
const HEAD: u8 = b'H';
const FORK: u8 = b'F';
const TRUST: u8 = b'T';
const META: u8 = b'M';
const PEER: u8 = b'P';
const DETACHED: u8 = b'D';
/// Every derived view lives under this prefix.
pub(crate) const VIEW: u8 = b'v';

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
    #[error("invalid body: {0}")]
    Body(#[from] kith_protocol::BodyError),
    #[error("corrupt store record: {0}")]
    Corrupt(String),
    #[error("store schema version {found} is not supported (expected {SCHEMA_VERSION})")]
    Schema { found: u32 },
    #[error("no entry matches {0:?}")]
    NotFound(String),
    #[error("{0:?} matches more than one entry; give more characters")]
    Ambiguous(String),
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
    pub appended: Vec<Entry>,
    pub duplicates: usize,
    pub error: Option<Error>,
}

/// A trusted author, as the user recorded them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustRecord {
    pub author: AuthorId,
    /// The user's own name for this author; wins over the author's profile name.
    pub petname: Option<String>,
    pub since_ms: u64,
}

#[derive(Serialize, Deserialize)]
struct StoredTrust {
    petname: Option<String>,
    since_ms: u64,
}

/// What a node remembers about a trusted peer's node between runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerRecord {
    /// Dialable multiaddrs, most recently learned first.
    pub addrs: Vec<String>,
    pub last_seen_ms: Option<u64>,
    pub last_sync_ms: Option<u64>,
}

/// Most addresses remembered per peer.
pub const MAX_PEER_ADDRS: usize = 8;

/// The set of authors a node replicates: itself, the authors it trusts and,
/// at two hops, the authors they vouch for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    authors: BTreeSet<AuthorId>,
    direct: BTreeSet<AuthorId>,
}

impl Scope {
    pub fn contains(&self, author: &AuthorId) -> bool {
        self.authors.contains(author)
    }

    /// Trusted directly (or me).
    pub fn is_direct(&self, author: &AuthorId) -> bool {
        self.direct.contains(author)
    }

    pub fn authors(&self) -> &BTreeSet<AuthorId> {
        &self.authors
    }

    pub fn len(&self) -> usize {
        self.authors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.authors.is_empty()
    }

    /// A scope holding exactly these authors (tests, tools).
    pub fn of(authors: impl IntoIterator<Item = AuthorId>) -> Scope {
        let authors: BTreeSet<_> = authors.into_iter().collect();
        Scope {
            direct: authors.clone(),
            authors,
        }
    }
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

/// Result of [`Store::verify`].
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct VerifyReport {
    pub entries: u64,
    pub authors: u64,
    pub bodies_dropped: u64,
    pub problems: Vec<String>,
}

/// Result of [`Store::reindex`].
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ReindexReport {
    pub entries: u64,
    pub removed_view_keys: u64,
}

/// An author's log, trust and views on one key-value store.
#[derive(Clone)]
pub struct Store {
    kv: Kv,
    limits: Limits,
    /// The last arrival number handed out (see `views`' arrival order).
    arrival: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Store {
    /// Opens (or creates) the store in `path`.
    pub fn open(path: &Path, config: &KvConfig, limits: Limits) -> Result<Store> {
        let store = Store {
            kv: Kv::open(path, config)?,
            limits,
            arrival: Default::default(),
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
        let store = Store {
            kv: Kv::temporary()?,
            limits: Limits::default(),
            arrival: Default::default(),
        };
        store.check_schema()?;
        Ok(store)
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
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

    /// Appends several entries with a single flush (group commit). Every body
    /// is checked before anything is written.
    pub fn append_many(
        &self,
        keypair: &Keypair,
        bodies: &[Body],
        now_ms: u64,
    ) -> Result<Vec<Entry>> {
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
            if views::reads_store(&entry) {
                self.kv.apply(std::mem::take(&mut batch))?;
            }
            self.write_entry(&entry, &mut batch)?;
            views::index(self, &entry, &mut batch)?;
            head = Some(Head {
                seq: entry.seq(),
                id: entry.id(),
            });
            last_ts = timestamp_ms;
            out.push(entry);
        }
        self.kv.apply(batch)?;
        self.kv.flush()?;
        Ok(out)
    }

    /// Validates and stores an entry from someone else.
    pub fn ingest(&self, entry: &Entry, now_ms: u64, scope: &Scope) -> Result<Ingested> {
        let mut outcome = self.ingest_batch(std::slice::from_ref(entry), now_ms, scope);
        match outcome.error.take() {
            Some(e) => Err(e),
            None if outcome.duplicates == 1 => Ok(Ingested::Duplicate),
            None => Ok(Ingested::Appended),
        }
    }

    /// Validates and stores entries in order, in one atomic write. Stops at
    /// the first invalid entry; what came before it is stored.
    pub fn ingest_batch(&self, entries: &[Entry], now_ms: u64, scope: &Scope) -> BatchOutcome {
        let mut outcome = BatchOutcome::default();
        let mut batch = Batch::default();
        // Heads advanced by this batch but not yet written.
        let mut pending: BTreeMap<AuthorId, Head> = BTreeMap::new();
        let mut pending_entries: BTreeMap<(AuthorId, u64), Entry> = BTreeMap::new();
        for entry in entries {
            match self.ingest_one(
                entry,
                now_ms,
                scope,
                &mut pending,
                &pending_entries,
                &mut batch,
            ) {
                Ok(Ingested::Appended) => {
                    pending_entries.insert((entry.author(), entry.seq()), entry.clone());
                    outcome.appended.push(entry.clone());
                }
                Ok(Ingested::Duplicate) => outcome.duplicates += 1,
                Err(e) => {
                    outcome.error = Some(e);
                    break;
                }
            }
        }
        if let Err(e) = self.kv.apply(batch) {
            outcome.appended.clear();
            outcome.error = Some(e.into());
        }
        outcome
    }

    fn ingest_one(
        &self,
        entry: &Entry,
        now_ms: u64,
        scope: &Scope,
        pending: &mut BTreeMap<AuthorId, Head>,
        pending_entries: &BTreeMap<(AuthorId, u64), Entry>,
        batch: &mut Batch,
    ) -> Result<Ingested> {
        let author = entry.author();
        if !scope.contains(&author) {
            return Err(Error::NotReplicated(author));
        }
        if self.is_flagged(&author)? {
            return Err(Error::AuthorForked(author));
        }
        entry.verify(&self.limits, now_ms)?;
        let head = match pending.get(&author) {
            Some(h) => Some(*h),
            None => self.head(&author)?,
        };
        let existing = match pending_entries.get(&(author, entry.seq())) {
            Some(e) => Some(e.clone()),
            None => self.entry_at(&author, entry.seq())?,
        };
        match check_chain(head, existing.as_ref(), entry) {
            Ok(ChainStep::Duplicate) => Ok(Ingested::Duplicate),
            Ok(ChainStep::Append) => {
                if views::reads_store(entry) {
                    self.kv.apply(std::mem::take(batch))?;
                }
                self.write_entry(entry, batch)?;
                views::index(self, entry, batch)?;
                pending.insert(
                    author,
                    Head {
                        seq: entry.seq(),
                        id: entry.id(),
                    },
                );
                Ok(Ingested::Appended)
            }
            Err(ValidationError::Fork(proof)) => {
                // Keep both entries as proof, durably, whatever happens to the batch.
                self.kv.insert(
                    entry_key(&author, entry.seq()).with_prefix(FORK),
                    encode_fork(&proof),
                )?;
                Err(Error::Invalid(ValidationError::Fork(proof)))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn write_entry(&self, entry: &Entry, batch: &mut Batch) -> Result<()> {
        let key = entry_key(&entry.author(), entry.seq());
        batch.insert(key.with_prefix(ENTRY), entry.encode());
        let mut id_key = vec![ID];
        id_key.extend_from_slice(entry.id().as_bytes());
        batch.insert(id_key, &key.0[..]);
        let mut head = Vec::with_capacity(40);
        head.extend_from_slice(&entry.seq().to_be_bytes());
        head.extend_from_slice(entry.id().as_bytes());
        batch.insert(author_key(HEAD, &entry.author()), head);
        Ok(())
    }

    /// Drops the body of a stored entry, keeping its signed header.
    pub(crate) fn drop_body(&self, entry: &Entry, batch: &mut Batch) {
        let key = entry_key(&entry.author(), entry.seq());
        batch.insert(key.with_prefix(ENTRY), entry.without_body().encode());
    }

    /// Makes all writes durable.
    pub fn flush(&self) -> Result<()> {
        Ok(self.kv.flush()?)
    }

    // ----- reading -----------------------------------------------------------

    fn decode_stored(&self, bytes: &[u8]) -> Result<Entry> {
        // Stored entries were verified on the way in; decoding still checks
        // their structure so a corrupted record is reported, not trusted.
        Entry::decode(bytes, &self.limits).map_err(|e| Error::Corrupt(e.to_string()))
    }

    pub fn get(&self, id: &EntryId) -> Result<Option<Entry>> {
        let mut key = vec![ID];
        key.extend_from_slice(id.as_bytes());
        match self.kv.get(&key)? {
            None => Ok(None),
            Some(loc) => {
                let mut k = vec![ENTRY];
                k.extend_from_slice(&loc);
                match self.kv.get(&k)? {
                    Some(bytes) => Ok(Some(self.decode_stored(&bytes)?)),
                    None => Err(Error::Corrupt(format!(
                        "id index points at a missing entry {id}"
                    ))),
                }
            }
        }
    }

    /// Resolves a full id or a unique hex prefix (at least 4 characters).
    pub fn resolve_id(&self, text: &str) -> Result<EntryId> {
        let text = text.trim().to_ascii_lowercase();
        if let Ok(id) = text.parse::<EntryId>() {
            return Ok(id);
        }
        if text.len() < 4 || !text.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(Error::NotFound(text));
        }
        let even = &text[..text.len() & !1];
        let mut prefix = vec![ID];
        prefix.extend_from_slice(&hex::decode(even).expect("checked hex digits"));
        let mut found = None;
        for item in self.kv.scan_prefix(&prefix) {
            let (key, _) = item?;
            let id = EntryId(
                key[1..]
                    .try_into()
                    .map_err(|_| Error::Corrupt("id key".into()))?,
            );
            if !id.to_hex().starts_with(&text) {
                continue;
            }
            if found.is_some() {
                return Err(Error::Ambiguous(text));
            }
            found = Some(id);
        }
        found.ok_or(Error::NotFound(text))
    }

    pub fn entry_at(&self, author: &AuthorId, seq: u64) -> Result<Option<Entry>> {
        match self.kv.get(entry_key(author, seq).with_prefix(ENTRY))? {
            Some(bytes) => Ok(Some(self.decode_stored(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Up to `limit` entries of `author` starting at `from_seq`, in log order.
    pub fn log(&self, author: &AuthorId, from_seq: u64, limit: usize) -> Result<Vec<Entry>> {
        let start = entry_key(author, from_seq).with_prefix(ENTRY);
        let end = entry_key(author, u64::MAX).with_prefix(ENTRY);
        let mut out = Vec::new();
        for item in self.kv.range(&start, &end).take(limit) {
            let (_, v) = item?;
            out.push(self.decode_stored(&v)?);
        }
        Ok(out)
    }

    /// Entries of `author` after `after_seq`, in log order, up to
    /// `max_bytes` of wire encoding (at least one entry if any exists).
    pub fn log_batch(
        &self,
        author: &AuthorId,
        after_seq: u64,
        max_bytes: usize,
        max_entries: usize,
    ) -> Result<Vec<Entry>> {
        let start = entry_key(author, after_seq.saturating_add(1)).with_prefix(ENTRY);
        let end = entry_key(author, u64::MAX).with_prefix(ENTRY);
        let mut out = Vec::new();
        let mut bytes = 0;
        for item in self.kv.range(&start, &end) {
            let (_, v) = item?;
            if !out.is_empty() && (bytes + v.len() > max_bytes || out.len() >= max_entries) {
                break;
            }
            bytes += v.len();
            out.push(self.decode_stored(&v)?);
        }
        Ok(out)
    }

    pub fn head(&self, author: &AuthorId) -> Result<Option<Head>> {
        match self.kv.get(author_key(HEAD, author))? {
            None => Ok(None),
            Some(v) => decode_head(&v).map(Some),
        }
    }

    /// Every author's latest seq and id.
    pub fn frontier(&self) -> Result<BTreeMap<AuthorId, Head>> {
        let mut out = BTreeMap::new();
        for item in self.kv.scan_prefix([HEAD]) {
            let (k, v) = item?;
            out.insert(decode_author(&k[1..])?, decode_head(&v)?);
        }
        Ok(out)
    }

    /// Posts, newest first.
    pub fn feed(&self, query: &FeedQuery) -> Result<Vec<Entry>> {
        views::feed(self, query)
    }

    /// How to show an author: my petname for them, else their profile name.
    pub fn display_name(&self, author: &AuthorId) -> Result<Option<String>> {
        if let Some(TrustRecord {
            petname: Some(name),
            ..
        }) = self.trust_get(author)?
        {
            return Ok(Some(name));
        }
        views::profile_name(self, author)
    }

    // ----- trust -------------------------------------------------------------

    pub fn trust_add(
        &self,
        author: AuthorId,
        petname: Option<String>,
        now_ms: u64,
    ) -> Result<TrustRecord> {
        let since_ms = match self.trust_get(&author)? {
            Some(existing) => existing.since_ms,
            None => now_ms,
        };
        let stored = StoredTrust { petname, since_ms };
        self.kv.insert(
            author_key(TRUST, &author),
            postcard::to_stdvec(&stored).expect("encoding into a Vec cannot fail"),
        )?;
        self.kv.flush()?;
        Ok(TrustRecord {
            author,
            petname: stored.petname,
            since_ms,
        })
    }

    /// Returns whether the author was trusted.
    pub fn trust_remove(&self, author: &AuthorId) -> Result<bool> {
        let key = author_key(TRUST, author);
        let existed = self.kv.contains(&key)?;
        self.kv.remove(&key)?;
        self.kv.flush()?;
        Ok(existed)
    }

    pub fn trust_get(&self, author: &AuthorId) -> Result<Option<TrustRecord>> {
        match self.kv.get(author_key(TRUST, author))? {
            None => Ok(None),
            Some(v) => Ok(Some(decode_trust(author, &v)?)),
        }
    }

    pub fn trust_list(&self) -> Result<Vec<TrustRecord>> {
        let mut out = Vec::new();
        for item in self.kv.scan_prefix([TRUST]) {
            let (k, v) = item?;
            out.push(decode_trust(&decode_author(&k[1..])?, &v)?);
        }
        Ok(out)
    }

    /// Me, the authors I trust, and at `hops >= 2` the authors they vouch for.
    pub fn scope(&self, me: AuthorId, hops: u8) -> Result<Scope> {
        let mut direct: BTreeSet<AuthorId> =
            self.trust_list()?.into_iter().map(|t| t.author).collect();
        direct.insert(me);
        let mut authors = direct.clone();
        if hops >= 2 {
            for truster in &direct {
                if *truster == me {
                    continue;
                }
                authors.extend(views::vouched_by(self, truster)?);
            }
        }
        Ok(Scope { authors, direct })
    }

    // ----- detached entries ------------------------------------------------

    /// Keeps a verified entry outside the logs: a wiki change by an author
    /// this node does not replicate, on which a trusted author's change
    /// depends. Detached entries are served on request but not replicated.
    pub fn detached_put(&self, entry: &Entry) -> Result<()> {
        let mut key = vec![DETACHED];
        key.extend_from_slice(entry.id().as_bytes());
        self.kv.insert(key, entry.encode())?;
        Ok(())
    }

    pub fn detached_get(&self, id: &EntryId) -> Result<Option<Entry>> {
        let mut key = vec![DETACHED];
        key.extend_from_slice(id.as_bytes());
        match self.kv.get(key)? {
            Some(bytes) => Ok(Some(self.decode_stored(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Every detached entry (for rebuilding views).
    pub fn detached_all(&self) -> Result<Vec<Entry>> {
        let mut out = Vec::new();
        for item in self.kv.scan_prefix([DETACHED]) {
            out.push(self.decode_stored(&item?.1)?);
        }
        Ok(out)
    }

    // ----- peers -------------------------------------------------------------

    pub fn peer_get(&self, author: &AuthorId) -> Result<Option<PeerRecord>> {
        match self.kv.get(author_key(PEER, author))? {
            None => Ok(None),
            Some(v) => postcard::from_bytes(&v)
                .map(Some)
                .map_err(|e| Error::Corrupt(format!("peer record: {e}"))),
        }
    }

    pub fn peer_put(&self, author: &AuthorId, record: &PeerRecord) -> Result<()> {
        self.kv.insert(
            author_key(PEER, author),
            postcard::to_stdvec(record).expect("encoding into a Vec cannot fail"),
        )?;
        Ok(())
    }

    /// Remembers `addrs` for `author` (newest first, capped). Returns whether
    /// anything changed.
    pub fn peer_add_addrs(&self, author: &AuthorId, addrs: &[String]) -> Result<bool> {
        let mut record = self.peer_get(author)?.unwrap_or_default();
        let before = record.addrs.clone();
        for addr in addrs.iter().rev() {
            record.addrs.retain(|a| a != addr);
            record.addrs.insert(0, addr.clone());
        }
        record.addrs.truncate(MAX_PEER_ADDRS);
        if record.addrs == before {
            return Ok(false);
        }
        self.peer_put(author, &record)?;
        Ok(true)
    }

    pub fn peer_list(&self) -> Result<Vec<(AuthorId, PeerRecord)>> {
        let mut out = Vec::new();
        for item in self.kv.scan_prefix([PEER]) {
            let (k, v) = item?;
            let record = postcard::from_bytes(&v)
                .map_err(|e| Error::Corrupt(format!("peer record: {e}")))?;
            out.push((decode_author(&k[1..])?, record));
        }
        Ok(out)
    }

    // ----- forks -------------------------------------------------------------

    pub fn is_flagged(&self, author: &AuthorId) -> Result<bool> {
        Ok(self
            .kv
            .scan_prefix(author_key(FORK, author))
            .next()
            .is_some())
    }

    pub fn forks(&self) -> Result<Vec<ForkProof>> {
        let mut out = Vec::new();
        for item in self.kv.scan_prefix([FORK]) {
            let (_, v) = item?;
            out.push(self.decode_fork(&v)?);
        }
        Ok(out)
    }

    /// Forgets the fork proofs for `author`, so their entries replicate again
    /// (the user decided, e.g. after talking to them).
    pub fn clear_fork(&self, author: &AuthorId) -> Result<usize> {
        Ok(self.kv.remove_prefix(&author_key(FORK, author))?)
    }

    fn decode_fork(&self, bytes: &[u8]) -> Result<ForkProof> {
        let (first, rest) =
            Entry::decode_prefix(bytes, &self.limits).map_err(|e| Error::Corrupt(e.to_string()))?;
        let second = self.decode_stored(rest)?;
        Ok(ForkProof { first, second })
    }

    // ----- maintenance -------------------------------------------------------

    /// Deletes every view and rebuilds it from the entries.
    pub fn reindex(&self) -> Result<ReindexReport> {
        let removed = self.kv.remove_prefix(&[VIEW])? as u64;
        self.arrival.store(0, std::sync::atomic::Ordering::SeqCst);
        let mut entries = 0u64;
        let mut batch = Batch::default();
        for item in self.kv.scan_prefix([ENTRY]) {
            let (_, v) = item?;
            let entry = self.decode_stored(&v)?;
            views::index(self, &entry, &mut batch)?;
            entries += 1;
            // Views read earlier views (e.g. a deletion reads its target), so
            // apply per entry to keep reads consistent with writes.
            self.kv.apply(std::mem::take(&mut batch))?;
        }
        self.kv.flush()?;
        Ok(ReindexReport {
            entries,
            removed_view_keys: removed,
        })
    }

    /// Re-verifies every stored entry: signature, body hash, chain links,
    /// indexes. Problems are collected, not fatal.
    pub fn verify(&self) -> Result<VerifyReport> {
        let mut report = VerifyReport::default();
        let mut last: Option<(AuthorId, Head)> = None;
        for item in self.kv.scan_prefix([ENTRY]) {
            let (k, v) = item?;
            report.entries += 1;
            let key_author = decode_author(&k[1..33]).ok();
            let key_seq = k
                .get(33..41)
                .map(|s| u64::from_be_bytes(s.try_into().expect("8 bytes")));
            let entry = match Entry::decode(&v, &self.limits) {
                Ok(e) => e,
                Err(e) => {
                    report.problems.push(format!(
                        "entry {:?} seq {:?}: cannot decode: {e}",
                        key_author.map(|a| a.to_string()),
                        key_seq
                    ));
                    continue;
                }
            };
            let at = format!("{} seq {}", entry.author(), entry.seq());
            if key_author != Some(entry.author()) || key_seq != Some(entry.seq()) {
                report
                    .problems
                    .push(format!("{at}: stored under the wrong key"));
            }
            if let Err(e) = entry.verify_signature() {
                report.problems.push(format!("{at}: {e}"));
            }
            if let Err(e) = entry.verify_body() {
                report.problems.push(format!("{at}: {e}"));
            }
            if entry.body().is_none() {
                report.bodies_dropped += 1;
            }
            let expected_prev = match last {
                Some((a, h)) if a == entry.author() => {
                    if h.seq + 1 != entry.seq() {
                        report
                            .problems
                            .push(format!("{at}: gap after seq {}", h.seq));
                    }
                    Some(h.id)
                }
                _ => {
                    report.authors += 1;
                    if let Some((a, h)) = last {
                        self.check_head(&a, h, &mut report)?;
                    }
                    if entry.seq() != 1 {
                        report
                            .problems
                            .push(format!("{at}: log does not start at seq 1"));
                    }
                    None
                }
            };
            if entry.header().prev != expected_prev && entry.seq() != 1 {
                report
                    .problems
                    .push(format!("{at}: prev does not match the previous entry"));
            }
            match self.get_location(&entry.id())? {
                Some((a, s)) if a == entry.author() && s == entry.seq() => {}
                _ => report
                    .problems
                    .push(format!("{at}: id index is missing or wrong")),
            }
            last = Some((
                entry.author(),
                Head {
                    seq: entry.seq(),
                    id: entry.id(),
                },
            ));
        }
        if let Some((a, h)) = last {
            self.check_head(&a, h, &mut report)?;
        }
        Ok(report)
    }

    fn check_head(&self, author: &AuthorId, last: Head, report: &mut VerifyReport) -> Result<()> {
        if self.head(author)? != Some(last) {
            report.problems.push(format!(
                "{author}: head record does not match the last entry"
            ));
        }
        Ok(())
    }

    fn get_location(&self, id: &EntryId) -> Result<Option<(AuthorId, u64)>> {
        let mut key = vec![ID];
        key.extend_from_slice(id.as_bytes());
        match self.kv.get(&key)? {
            None => Ok(None),
            Some(v) if v.len() == 40 => Ok(Some((
                decode_author(&v[..32])?,
                u64::from_be_bytes(v[32..40].try_into().expect("8 bytes")),
            ))),
            Some(_) => Err(Error::Corrupt("id index record".into())),
        }
    }

    /// The next arrival number (views number every stored entry in order).
    pub(crate) fn next_arrival(&self) -> u64 {
        self.arrival
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1
    }

    /// The arrival number of the last stored entry.
    pub fn last_arrival(&self) -> u64 {
        self.arrival.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Entries stored after arrival number `after`, in arrival order.
    pub fn arrivals_after(&self, after: u64) -> Result<Vec<(u64, Entry)>> {
        views::arrivals_after(self, after)
    }

    /// Replies to an entry, oldest first: (reply, is an answer).
    pub fn replies(&self, parent: &EntryId) -> Result<Vec<(EntryId, bool)>> {
        views::replies(self, parent)
    }

    /// Current endorsements of an entry.
    pub fn endorsements(&self, target: &EntryId) -> Result<Vec<(AuthorId, views::Endorsed)>> {
        views::endorsements(self, target)
    }

    /// The answer `accepter` accepted for `question`.
    pub fn accepted_by(&self, question: &EntryId, accepter: &AuthorId) -> Result<Option<EntryId>> {
        views::accepted_by(self, question, accepter)
    }

    /// Authors `truster` publicly vouches for.
    pub fn vouched_by(&self, truster: &AuthorId) -> Result<Vec<AuthorId>> {
        views::vouched_by(self, truster)
    }

    /// Direct access for views and maintenance code in this crate.
    pub(crate) fn kv(&self) -> &Kv {
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

/// `author(32) || seq(8, BE)`: sorts an author's log in seq order.
pub(crate) struct EntryKey(pub(crate) [u8; 40]);

impl EntryKey {
    pub(crate) fn with_prefix(&self, prefix: u8) -> Vec<u8> {
        let mut out = Vec::with_capacity(41);
        out.push(prefix);
        out.extend_from_slice(&self.0);
        out
    }
}

pub(crate) fn entry_key(author: &AuthorId, seq: u64) -> EntryKey {
    let mut key = [0u8; 40];
    key[..32].copy_from_slice(author.as_bytes());
    key[32..].copy_from_slice(&seq.to_be_bytes());
    EntryKey(key)
}

fn author_key(prefix: u8, author: &AuthorId) -> Vec<u8> {
    let mut key = Vec::with_capacity(33);
    key.push(prefix);
    key.extend_from_slice(author.as_bytes());
    key
}

fn meta_key(name: &str) -> Vec<u8> {
    let mut key = vec![META];
    key.extend_from_slice(name.as_bytes());
    key
}

pub(crate) fn decode_author(bytes: &[u8]) -> Result<AuthorId> {
    let arr: [u8; 32] = bytes
        .try_into()
        .map_err(|_| Error::Corrupt("author key".into()))?;
    Ok(AuthorId::from_bytes(arr))
}

fn decode_head(bytes: &[u8]) -> Result<Head> {
    if bytes.len() != 40 {
        return Err(Error::Corrupt("head record".into()));
    }
    Ok(Head {
        seq: u64::from_be_bytes(bytes[..8].try_into().expect("8 bytes")),
        id: EntryId(bytes[8..].try_into().expect("32 bytes")),
    })
}

fn decode_trust(author: &AuthorId, bytes: &[u8]) -> Result<TrustRecord> {
    let stored: StoredTrust =
        postcard::from_bytes(bytes).map_err(|e| Error::Corrupt(format!("trust record: {e}")))?;
    Ok(TrustRecord {
        author: *author,
        petname: stored.petname,
        since_ms: stored.since_ms,
    })
}

fn encode_fork(proof: &ForkProof) -> Vec<u8> {
    let mut out = proof.first.encode();
    proof.second.encode_into(&mut out);
    out
}

#[cfg(test)]
mod tests;
