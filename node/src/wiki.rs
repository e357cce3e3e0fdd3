//! Wiki pages: Automerge documents built from signed wiki-change entries.
//!
//! A page is an Automerge document whose root map holds `title` (string),
//! `body` (text) and `archived` (bool). Every local edit becomes Automerge
//! changes made with the author's key as actor, packed into wiki-change
//! entries of the author's log; pages replicate with the logs. A change is
//! applied only if its actor is the entry's author, it is within the caps,
//! and its dependencies are present; otherwise it waits (missing
//! dependencies) or is rejected (everything else), and the page stays as it
//! was. Automerge can panic on hostile input, so every call into it on a
//! peer's data runs under `catch_unwind`.
//!
//! Materialized pages live in the store's view keyspace (rebuilt by
//! `reindex`) and in a small in-memory cache of open documents:
//!
//! | key (after `vw`)                 | value                                  |
//! |----------------------------------|----------------------------------------|
//! | `d` page                         | saved document (snapshot)              |
//! | `i` page n(8)                    | incremental saves since the snapshot   |
//! | `m` page                         | `PageMeta`                             |
//! | `t` title(lowercase) 0 page      | title index                            |
//! | `h` page ts(8) author seq(8)     | `HistoryItem`                          |
//! | `b` target title 0 source page   | backlink                               |
//! | `l` page                         | the page's outgoing link titles        |
//! | `p` group(32) part(4)            | a part of a multi-entry group          |
//! | `q` page change hash(32)         | a change waiting for its dependencies  |
//! | `c` change hash(32)              | ids of the entries carrying the change |
//! | `a` author                       | last seq the wiki has processed        |

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::transaction::Transactable;
use automerge::{
    ActorId, AutoCommit, Change, ChangeHash, LoadOptions, ObjId, ObjType, ROOT, ReadDoc,
    ScalarValue, TextEncoding, Value,
};
use kith_protocol::{AuthorId, Body, Entry, EntryId, PageId, WikiChange, varint};
use serde::{Deserialize, Serialize};

use crate::store::kv::Batch;
use crate::store::{self, Store, VIEW};

/// Most operations in one Automerge change from a peer.
pub const MAX_CHANGE_OPS: usize = 1_000_000;
/// Largest page body a local edit may produce.
pub const MAX_PAGE_BYTES: usize = 1024 * 1024;
/// Largest change group (all parts together).
pub const MAX_GROUP_BYTES: usize = 4 * 1024 * 1024;
/// Most parts of one group.
pub const MAX_PARTS: u32 = 128;
/// Open documents kept in memory.
const CACHE_PAGES: usize = 16;
/// Incremental saves before the snapshot is rewritten. It is also rewritten
/// once the increments hold more than a quarter of the page's changes (and
/// at least `COMPACT_MIN_CHANGES`): loading changes one by one is far slower
/// than loading a snapshot, and this keeps the rewrites' cost amortized.
const COMPACT_AFTER: u64 = 64;
const COMPACT_MIN_CHANGES: u64 = 2_000;
/// Bytes of a wiki-change body besides its data.
const BODY_OVERHEAD: usize = 128;

const WIKI: u8 = b'w';

/// Errors of wiki operations.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error(transparent)]
    Kv(#[from] crate::store::kv::KvError),
    #[error("no page {0:?}")]
    NoPage(String),
    #[error("{0:?} names several pages: {1}; use a page id")]
    Ambiguous(String, String),
    #[error("a page titled {0:?} already exists ({1}); edit it instead")]
    TitleTaken(String, PageId),
    #[error("page {0:?} is archived; restore it first with `kith wiki restore`")]
    Archived(String),
    #[error("invalid wiki change: {0}")]
    BadChange(String),
    #[error("the page document is damaged: {0}")]
    Document(String),
    #[error("{0}")]
    Invalid(String),
}

type Result<T, E = Error> = std::result::Result<T, E>;

/// What the user sees of a page besides its text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageMeta {
    pub title: String,
    pub archived: bool,
    pub created_ms: u64,
    pub updated_ms: u64,
    /// Everyone whose changes are in the page, first contribution first.
    pub authors: Vec<AuthorId>,
    pub changes: u64,
    /// Changes from peers that were refused (bad actor, too big, corrupt).
    pub rejected: u64,
    /// Changes waiting for dependencies.
    pub waiting: u64,
    pub chars: u64,
}

/// One entry's contribution to a page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryItem {
    pub entry: EntryId,
    pub author: AuthorId,
    pub timestamp_ms: u64,
    /// Automerge operations in the entry's changes.
    pub ops: u64,
    pub chars_before: u64,
    pub chars_after: u64,
}

/// One change made on this node, not yet stored.
#[derive(Debug, Clone)]
pub struct LocalChange {
    pub bytes: Vec<u8>,
    pub hash: ChangeHash,
    pub ops: u64,
    pub chars_before: u64,
    pub chars_after: u64,
}

/// Changes made on this node to one page.
#[derive(Debug, Clone)]
pub struct Local {
    pub page: PageId,
    pub changes: Vec<LocalChange>,
}

impl Local {
    /// `sizes` holds the text length before and after each change, or one
    /// pair for all of them.
    fn new(page: PageId, changes: Vec<Change>, sizes: &[(u64, u64)]) -> Local {
        let changes = changes
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let (before, after) = sizes.get(i).or(sizes.last()).copied().unwrap_or((0, 0));
                LocalChange {
                    bytes: c.raw_bytes().to_vec(),
                    hash: c.hash(),
                    ops: c.len() as u64,
                    chars_before: before,
                    chars_after: after,
                }
            })
            .collect();
        Local { page, changes }
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    pub fn bytes(&self) -> Vec<Vec<u8>> {
        self.changes.iter().map(|c| c.bytes.clone()).collect()
    }
}

/// What applying a batch of entries did.
#[derive(Debug, Default)]
pub struct ApplyReport {
    pub applied: usize,
    pub waiting: usize,
    /// (entry, reason) of refused changes.
    pub rejected: Vec<(EntryId, String)>,
    /// Changes some applied or waiting change depends on and we lack.
    pub missing: BTreeSet<[u8; 32]>,
    pub pages: BTreeSet<PageId>,
}

/// A change from an entry, parsed and checked, not yet applied.
struct Incoming {
    entry: EntryId,
    /// Seq of the (last) entry in its author's log, to order history.
    seq: u64,
    author: AuthorId,
    timestamp_ms: u64,
    entries: Vec<EntryId>,
    change: Change,
    /// From an entry being applied now (not a change that waited).
    fresh: bool,
}

#[derive(Serialize, Deserialize)]
struct Waiting {
    entry: EntryId,
    seq: u64,
    author: AuthorId,
    timestamp_ms: u64,
    entries: Vec<EntryId>,
    #[serde(with = "serde_bytes")]
    change: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct Part {
    entry: EntryId,
    author: AuthorId,
    timestamp_ms: u64,
    parts: u32,
    #[serde(with = "serde_bytes")]
    data: Vec<u8>,
}

struct Open {
    doc: AutoCommit,
    increments: u64,
    /// Changes in the stored snapshot.
    snapshot_changes: u64,
    /// Incremental saves of peers' changes applied since the last persist.
    unsaved: Vec<Vec<u8>>,
}

/// The wiki engine: materializes pages from entries and turns edits into
/// changes. Owned by [`crate::Core`].
#[derive(Default)]
pub struct Wiki {
    open: HashMap<PageId, Open>,
    lru: VecDeque<PageId>,
}

impl std::fmt::Debug for Wiki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wiki")
            .field("open", &self.open.len())
            .finish()
    }
}

fn key(sub: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut k = vec![VIEW, WIKI, sub];
    for p in parts {
        k.extend_from_slice(p);
    }
    k
}

fn new_doc() -> AutoCommit {
    AutoCommit::new_with_encoding(TextEncoding::UnicodeCodePoint)
}

fn actor_of(author: &AuthorId) -> ActorId {
    ActorId::from(&author.as_bytes()[..])
}

/// Runs Automerge code on untrusted data, turning a panic into an error.
fn guarded<T>(what: &str, f: impl FnOnce() -> T) -> Result<T> {
    catch_unwind(AssertUnwindSafe(f))
        .map_err(|_| Error::Document(format!("automerge panicked while {what}")))
}

/// Splits a stream of Automerge chunks (`magic(4) checksum(4) type(1)
/// uleb128(len) data`) into chunks; None if it is not one.
fn split_chunks(mut data: &[u8]) -> Option<Vec<&[u8]>> {
    const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
    let mut out = Vec::new();
    while !data.is_empty() {
        if data.len() < 9 || data[..4] != MAGIC {
            return None;
        }
        let (len, rest) = uleb128(&data[9..])?;
        let header = data.len() - rest.len();
        let end = header.checked_add(usize::try_from(len).ok()?)?;
        if end > data.len() {
            return None;
        }
        out.push(&data[..end]);
        data = &data[end..];
    }
    Some(out)
}

/// An unsigned LEB128 as Automerge writes it (not necessarily minimal).
fn uleb128(data: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0u64;
    for (i, &b) in data.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, &data[i + 1..]));
        }
    }
    None
}

/// Splits a change group into its changes.
fn split_group(mut data: &[u8]) -> Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let (len, rest) = varint::decode(data).map_err(|e| Error::BadChange(e.to_string()))?;
        let len = usize::try_from(len).map_err(|_| Error::BadChange("length".into()))?;
        if rest.len() < len {
            return Err(Error::BadChange("truncated change group".into()));
        }
        out.push(rest[..len].to_vec());
        data = &rest[len..];
    }
    Ok(out)
}

/// Frames changes into a group.
fn join_group(changes: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in changes {
        varint::encode(c.len() as u64, &mut out);
        out.extend_from_slice(c);
    }
    out
}

/// Wiki-change bodies carrying `changes`, packed into as few entries as the
/// body cap allows; a single change larger than that is split into parts.
pub fn bodies_for(page: PageId, changes: &[Vec<u8>], max_body: usize) -> Vec<Body> {
    bodies_with_groups(page, changes, max_body)
        .into_iter()
        .map(|(b, _)| b)
        .collect()
}

/// Like [`bodies_for`], with the indexes (into `changes`) each body carries;
/// every part of a split group lists the whole group.
pub fn bodies_with_groups(
    page: PageId,
    changes: &[Vec<u8>],
    max_body: usize,
) -> Vec<(Body, Vec<usize>)> {
    let cap = max_body.saturating_sub(BODY_OVERHEAD).max(1024);
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut size = 0;
    for (i, change) in changes.iter().enumerate() {
        let framed = change.len() + varint::encoded_len(change.len() as u64);
        match groups.last_mut() {
            Some(group) if size + framed <= cap => {
                group.push(i);
                size += framed;
            }
            _ => {
                groups.push(vec![i]);
                size = framed;
            }
        }
    }
    let mut out = Vec::new();
    for group in groups {
        let members: Vec<Vec<u8>> = group.iter().map(|&i| changes[i].clone()).collect();
        let data = join_group(&members);
        let group_hash = *blake3::hash(&data).as_bytes();
        let chunks: Vec<&[u8]> = data.chunks(cap).collect();
        let parts = chunks.len() as u32;
        for (i, chunk) in chunks.into_iter().enumerate() {
            out.push((
                Body::WikiChange(WikiChange {
                    page,
                    group_hash,
                    part: i as u32,
                    parts,
                    data: chunk.to_vec(),
                }),
                group.clone(),
            ));
        }
    }
    out
}

impl Wiki {
    // ----- documents ---------------------------------------------------------

    /// The page's document, from the cache or the store (None if unknown).
    fn doc(&mut self, store: &Store, page: &PageId) -> Result<Option<&mut Open>> {
        if !self.open.contains_key(page) {
            let Some(open) = self.load(store, page)? else {
                return Ok(None);
            };
            self.open.insert(*page, open);
        }
        self.touch(page);
        Ok(self.open.get_mut(page))
    }

    fn doc_or_new(&mut self, store: &Store, page: &PageId) -> Result<&mut Open> {
        if self.doc(store, page)?.is_none() {
            self.open.insert(
                *page,
                Open {
                    doc: new_doc(),
                    increments: 0,
                    snapshot_changes: 0,
                    unsaved: Vec::new(),
                },
            );
            self.touch(page);
        }
        Ok(self.open.get_mut(page).expect("just inserted"))
    }

    fn touch(&mut self, page: &PageId) {
        self.lru.retain(|p| p != page);
        self.lru.push_back(*page);
        while self.lru.len() > CACHE_PAGES {
            if let Some(old) = self.lru.pop_front() {
                self.open.remove(&old);
            }
        }
    }

    fn load(&self, store: &Store, page: &PageId) -> Result<Option<Open>> {
        load_doc(store, page)
    }

    /// Writes what changed in the document since its last save.
    fn persist(&mut self, page: &PageId, batch: &mut Batch) -> Result<()> {
        let Some(open) = self.open.get_mut(page) else {
            return Ok(());
        };
        let mut data = std::mem::take(&mut open.unsaved).concat();
        // Own edits made on this document since the last save.
        data.extend(guarded("saving a page", || open.doc.save_incremental())?);
        let changes = open.doc.stats().num_changes;
        let since = changes.saturating_sub(open.snapshot_changes);
        if open.increments >= COMPACT_AFTER
            || since > COMPACT_MIN_CHANGES.max(open.snapshot_changes / 4)
        {
            let snapshot = guarded("saving a page", || open.doc.save())?;
            open.snapshot_changes = changes;
            batch.insert(key(b'd', &[&page.0]), snapshot);
            for n in 0..open.increments {
                batch.remove(key(b'i', &[&page.0, &n.to_be_bytes()]));
            }
            open.increments = 0;
            return Ok(());
        }
        if !data.is_empty() {
            batch.insert(key(b'i', &[&page.0, &open.increments.to_be_bytes()]), data);
            open.increments += 1;
        }
        Ok(())
    }

    /// Rewrites the snapshot of every open page that has increments, so the
    /// next start loads each page in one piece (called at shutdown).
    pub fn compact_all(&mut self, store: &Store) -> Result<()> {
        let mut batch = Batch::default();
        for (page, open) in &mut self.open {
            if open.increments == 0 && open.unsaved.is_empty() {
                continue;
            }
            let snapshot = guarded("saving a page", || open.doc.save())?;
            batch.insert(key(b'd', &[&page.0]), snapshot);
            for n in 0..open.increments {
                batch.remove(key(b'i', &[&page.0, &n.to_be_bytes()]));
            }
            open.increments = 0;
            open.unsaved.clear();
            open.snapshot_changes = open.doc.stats().num_changes;
        }
        store.kv().apply(batch)?;
        Ok(())
    }

    /// Forgets every open document (after a reindex).
    pub fn clear(&mut self) {
        self.open.clear();
        self.lru.clear();
    }

    // ----- reading -----------------------------------------------------------

    pub fn meta(&self, store: &Store, page: &PageId) -> Result<Option<PageMeta>> {
        match store.kv().get(key(b'm', &[&page.0]))? {
            None => Ok(None),
            Some(v) => postcard::from_bytes(&v)
                .map(Some)
                .map_err(|e| Error::Document(format!("page metadata: {e}"))),
        }
    }

    /// Every page with its metadata, by title.
    pub fn list(&self, store: &Store) -> Result<Vec<(PageId, PageMeta)>> {
        let mut out = Vec::new();
        for item in store.kv().scan_prefix(key(b'm', &[])) {
            let (k, v) = item?;
            let page = PageId(
                k[3..19]
                    .try_into()
                    .map_err(|_| Error::Document("page key".into()))?,
            );
            let meta: PageMeta = postcard::from_bytes(&v)
                .map_err(|e| Error::Document(format!("page metadata: {e}")))?;
            out.push((page, meta));
        }
        out.sort_by_key(|(_, m)| m.title.to_lowercase());
        Ok(out)
    }

    /// Resolves a page id, id prefix or title (case-insensitive).
    pub fn resolve(&self, store: &Store, name: &str) -> Result<PageId> {
        let name = name.trim();
        if let Ok(page) = name.parse::<PageId>()
            && self.meta(store, &page)?.is_some()
        {
            return Ok(page);
        }
        let mut found: Vec<PageId> = self.pages_titled(store, name)?;
        if found.is_empty() && name.len() >= 6 && name.chars().all(|c| c.is_ascii_hexdigit()) {
            found = self
                .list(store)?
                .into_iter()
                .map(|(p, _)| p)
                .filter(|p| p.to_string().starts_with(&name.to_ascii_lowercase()))
                .collect();
        }
        match found.len() {
            0 => Err(Error::NoPage(name.to_string())),
            1 => Ok(found[0]),
            _ => {
                // Prefer the one live page among archived namesakes.
                let live: Vec<PageId> = found
                    .iter()
                    .copied()
                    .filter(|p| {
                        self.meta(store, p)
                            .ok()
                            .flatten()
                            .is_some_and(|m| !m.archived)
                    })
                    .collect();
                if live.len() == 1 {
                    return Ok(live[0]);
                }
                let ids: Vec<String> = found.iter().map(ToString::to_string).collect();
                Err(Error::Ambiguous(name.to_string(), ids.join(", ")))
            }
        }
    }

    fn pages_titled(&self, store: &Store, title: &str) -> Result<Vec<PageId>> {
        let mut prefix = key(b't', &[title.to_lowercase().as_bytes()]);
        prefix.push(0);
        let mut out = Vec::new();
        for item in store.kv().scan_prefix(&prefix) {
            let (k, _) = item?;
            if let Ok(id) = <[u8; 16]>::try_from(&k[prefix.len()..]) {
                out.push(PageId(id));
            }
        }
        Ok(out)
    }

    /// The page's current body text.
    pub fn text(&mut self, store: &Store, page: &PageId) -> Result<String> {
        let open = self
            .doc(store, page)?
            .ok_or_else(|| Error::NoPage(page.to_string()))?;
        Ok(body_text(&open.doc))
    }

    /// The page as a standard Automerge document file.
    pub fn save(&mut self, store: &Store, page: &PageId) -> Result<Vec<u8>> {
        let open = self
            .doc(store, page)?
            .ok_or_else(|| Error::NoPage(page.to_string()))?;
        Ok(open.doc.save())
    }

    /// Newest first.
    pub fn history(&self, store: &Store, page: &PageId) -> Result<Vec<HistoryItem>> {
        let mut out = Vec::new();
        for item in store.kv().scan_prefix(key(b'h', &[&page.0])).rev() {
            let (_, v) = item?;
            out.push(
                postcard::from_bytes(&v).map_err(|e| Error::Document(format!("history: {e}")))?,
            );
        }
        Ok(out)
    }

    /// Pages whose body links to `title` with `[[title]]`.
    pub fn backlinks(&self, store: &Store, title: &str) -> Result<Vec<PageId>> {
        let mut prefix = key(b'b', &[title.to_lowercase().as_bytes()]);
        prefix.push(0);
        let mut out = Vec::new();
        for item in store.kv().scan_prefix(&prefix) {
            let (k, _) = item?;
            if let Ok(id) = <[u8; 16]>::try_from(&k[prefix.len()..]) {
                out.push(PageId(id));
            }
        }
        Ok(out)
    }

    /// Whether `entry` carries a change that a waiting change depends on
    /// (single-part groups only: a dependency fetched from an author outside
    /// the replication set must prove its worth on its own).
    pub fn is_wanted(&self, store: &Store, entry: &Entry) -> Result<bool> {
        let Some(Ok(Body::WikiChange(w))) = entry.body().map(Body::decode) else {
            return Ok(false);
        };
        if w.parts != 1 || blake3::hash(&w.data).as_bytes() != &w.group_hash {
            return Ok(false);
        }
        let mut wanted = BTreeSet::new();
        for item in store.kv().scan_prefix(key(b'q', &[&w.page.0])) {
            let (_, v) = item?;
            if let Ok(waiting) = postcard::from_bytes::<Waiting>(&v)
                && let Ok(change) = Change::from_bytes(waiting.change)
            {
                wanted.extend(change.deps().iter().map(|d| d.0));
            }
        }
        for raw in split_group(&w.data)? {
            let Ok(Ok(change)) = guarded("decoding a change", || Change::from_bytes(raw)) else {
                continue;
            };
            if wanted.contains(&change.hash().0) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Ids of the entries that carry an Automerge change (all parts).
    pub fn entries_of_change(&self, store: &Store, hash: &[u8; 32]) -> Result<Vec<EntryId>> {
        match store.kv().get(key(b'c', &[hash]))? {
            None => Ok(Vec::new()),
            Some(v) => {
                postcard::from_bytes(&v).map_err(|e| Error::Document(format!("change index: {e}")))
            }
        }
    }

    // ----- local edits ---------------------------------------------------------

    /// Makes the change that creates a page. Nothing is stored until the
    /// changes are appended as entries and recorded with [`Wiki::record_local`].
    pub fn create(
        &mut self,
        store: &Store,
        me: &AuthorId,
        page: PageId,
        title: &str,
        body: &str,
    ) -> Result<Local> {
        let title = clean_title(title)?;
        check_size(body)?;
        if let Some(existing) = self.pages_titled(store, &title)?.into_iter().find(|p| {
            self.meta(store, p)
                .ok()
                .flatten()
                .is_some_and(|m| !m.archived)
        }) {
            return Err(Error::TitleTaken(title, existing));
        }
        let open = self.doc_or_new(store, &page)?;
        open.doc.set_actor(actor_of(me));
        let before = open.doc.get_heads();
        let result = (|| {
            open.doc.put(ROOT, "title", title.as_str())?;
            open.doc.put(ROOT, "archived", false)?;
            let text = open.doc.put_object(ROOT, "body", ObjType::Text)?;
            open.doc.splice_text(&text, 0, 0, body)?;
            Ok::<_, automerge::AutomergeError>(())
        })();
        if let Err(e) = result {
            self.discard(&page);
            return Err(Error::Document(e.to_string()));
        }
        open.doc.commit();
        let after = text_len(&open.doc);
        Ok(Local::new(
            page,
            new_changes(&mut open.doc, &before),
            &[(0, after)],
        ))
    }

    /// Changes that turn the page body into `new_body` by minimal splices.
    pub fn edit(
        &mut self,
        store: &Store,
        me: &AuthorId,
        page: &PageId,
        new_body: &str,
    ) -> Result<Local> {
        check_size(new_body)?;
        self.local(store, me, page, true, |doc| {
            let body = body_obj(doc).ok_or_else(|| Error::Document("page has no body".into()))?;
            doc.update_text(&body, new_body)
                .map_err(|e| Error::Document(e.to_string()))
        })
    }

    /// Changes that turn the page body, as it was at `base` (the heads the
    /// editor started from), into `new_body`, applied to the page as it is
    /// now: the edit's splices are anchored to the characters they touched
    /// at `base`, so changes made meanwhile (by peers, or in another window)
    /// are kept rather than overwritten.
    pub fn edit_since(
        &mut self,
        store: &Store,
        me: &AuthorId,
        page: &PageId,
        base: &[ChangeHash],
        new_body: &str,
    ) -> Result<Local> {
        check_size(new_body)?;
        self.local(store, me, page, true, |doc| {
            let body = body_obj(doc).ok_or_else(|| Error::Document("page has no body".into()))?;
            if base.iter().any(|h| !has_change(doc, h)) {
                return Err(Error::Invalid(
                    "the edit starts from a version this node does not know".into(),
                ));
            }
            let old = doc
                .text_at(&body, base)
                .map_err(|e| Error::Document(e.to_string()))?;
            let old_len = old.chars().count();
            let new_chars: Vec<char> = new_body.chars().collect();
            let diff = similar::TextDiff::from_chars(old.as_str(), new_body);
            let mut edits: Vec<(usize, usize, String)> = Vec::new();
            for op in diff.ops() {
                let (old_range, new_range) = (op.old_range(), op.new_range());
                if op.tag() == similar::DiffTag::Equal {
                    continue;
                }
                let ins: String = new_chars[new_range].iter().collect();
                edits.push((old_range.start, old_range.len(), ins));
            }
            let position = |doc: &AutoCommit, base_pos: usize| -> Result<usize> {
                if base_pos >= old_len {
                    return Ok(doc.length(&body));
                }
                let cursor = doc
                    .get_cursor_moving(&body, base_pos, Some(base), automerge::MoveCursor::After)
                    .map_err(|e| Error::Document(e.to_string()))?;
                doc.get_cursor_position(&body, &cursor, None)
                    .map_err(|e| Error::Document(e.to_string()))
            };
            for (pos, del, ins) in edits.iter().rev() {
                let start = position(doc, *pos)?;
                let end = position(doc, pos + del)?.max(start);
                doc.splice_text(&body, start, (end - start) as isize, ins)
                    .map_err(|e| Error::Document(e.to_string()))?;
            }
            Ok(())
        })
    }

    /// The page's current heads (the version an editor starts from).
    pub fn heads(&mut self, store: &Store, page: &PageId) -> Result<Vec<ChangeHash>> {
        let open = self
            .doc(store, page)?
            .ok_or_else(|| Error::NoPage(page.to_string()))?;
        Ok(open.doc.get_heads())
    }

    /// Changes for a sequence of splices `(pos, delete, insert)` in code
    /// points, one Automerge change per splice (an editor's keystrokes).
    pub fn splices(
        &mut self,
        store: &Store,
        me: &AuthorId,
        page: &PageId,
        splices: &[(usize, usize, String)],
    ) -> Result<Local> {
        let open = self
            .doc(store, page)?
            .ok_or_else(|| Error::NoPage(page.to_string()))?;
        if is_archived(&open.doc) {
            return Err(Error::Archived(title_of(&open.doc)));
        }
        open.doc.set_actor(actor_of(me));
        let before = open.doc.get_heads();
        let body = body_obj(&open.doc).ok_or_else(|| Error::Document("page has no body".into()))?;
        let mut chars = text_len(&open.doc);
        let mut made = Vec::with_capacity(splices.len());
        for (pos, del, ins) in splices {
            if let Err(e) = open.doc.splice_text(&body, *pos, *del as isize, ins) {
                // Keep the document as stored: forget the splices made so far.
                self.discard(page);
                return Err(Error::Invalid(format!("splice at {pos}: {e}")));
            }
            if let Some(hash) = open.doc.commit() {
                let inserted = ins.chars().count() as u64;
                let after = chars - *del as u64 + inserted;
                made.push((hash, *del as u64 + inserted, chars, after));
                chars = after;
            }
        }
        // One incremental save yields every new change, already encoded:
        // it becomes both the entries' data and the page cache's increment.
        let stream = guarded("saving a page", || open.doc.save_incremental())?;
        let local = match split_chunks(&stream) {
            Some(chunks) if chunks.len() == made.len() => Local {
                page: *page,
                changes: chunks
                    .into_iter()
                    .zip(&made)
                    .map(
                        |(bytes, &(hash, ops, chars_before, chars_after))| LocalChange {
                            bytes: bytes.to_vec(),
                            hash,
                            ops,
                            chars_before,
                            chars_after,
                        },
                    )
                    .collect(),
            },
            // The save held more than our changes (an unsaved one from a
            // peer): take ours one by one.
            _ => {
                let sizes: Vec<(u64, u64)> = made.iter().map(|m| (m.2, m.3)).collect();
                Local::new(*page, new_changes(&mut open.doc, &before), &sizes)
            }
        };
        open.unsaved.push(stream);
        Ok(local)
    }

    pub fn rename(
        &mut self,
        store: &Store,
        me: &AuthorId,
        page: &PageId,
        title: &str,
    ) -> Result<Local> {
        let title = clean_title(title)?;
        if let Some(other) = self.pages_titled(store, &title)?.into_iter().find(|p| {
            p != page
                && self
                    .meta(store, p)
                    .ok()
                    .flatten()
                    .is_some_and(|m| !m.archived)
        }) {
            return Err(Error::TitleTaken(title, other));
        }
        self.local(store, me, page, true, |doc| {
            doc.put(ROOT, "title", title.as_str())
                .map_err(|e| Error::Document(e.to_string()))
        })
    }

    pub fn set_archived(
        &mut self,
        store: &Store,
        me: &AuthorId,
        page: &PageId,
        archived: bool,
    ) -> Result<Local> {
        self.local(store, me, page, false, |doc| {
            doc.put(ROOT, "archived", archived)
                .map_err(|e| Error::Document(e.to_string()))
        })
    }

    fn local(
        &mut self,
        store: &Store,
        me: &AuthorId,
        page: &PageId,
        live_only: bool,
        f: impl FnOnce(&mut AutoCommit) -> Result<()>,
    ) -> Result<Local> {
        let open = self
            .doc(store, page)?
            .ok_or_else(|| Error::NoPage(page.to_string()))?;
        if live_only && is_archived(&open.doc) {
            return Err(Error::Archived(title_of(&open.doc)));
        }
        open.doc.set_actor(actor_of(me));
        let before = open.doc.get_heads();
        let chars_before = text_len(&open.doc);
        if let Err(e) = f(&mut open.doc) {
            open.doc.rollback();
            return Err(e);
        }
        open.doc.commit();
        let chars_after = text_len(&open.doc);
        Ok(Local::new(
            *page,
            new_changes(&mut open.doc, &before),
            &[(chars_before, chars_after)],
        ))
    }

    /// Records own changes once their entries are stored: the document
    /// already holds them, so this is bookkeeping (history, metadata, change
    /// index, links) plus an incremental save, without re-parsing changes.
    pub fn record_local(
        &mut self,
        store: &Store,
        local: &Local,
        groups: &[Vec<usize>],
        entries: &[Entry],
    ) -> Result<()> {
        let page = local.page;
        let mut batch = Batch::default();
        let mut meta = self.meta(store, &page)?.unwrap_or_default();
        // Bodies (and so entries) come in group order; parts of a group share
        // its change list.
        let mut i = 0;
        while i < entries.len() {
            let mut j = i + 1;
            while j < entries.len() && groups[j] == groups[i] {
                j += 1;
            }
            let group_entries: Vec<EntryId> = entries[i..j].iter().map(Entry::id).collect();
            let last = &entries[j - 1];
            let changes: Vec<&LocalChange> = groups[i].iter().map(|&c| &local.changes[c]).collect();
            // Local changes are linear, so only a group's last change can be
            // another author's dependency: index that one.
            if let Some(c) = changes.last() {
                index_change(&mut batch, &c.hash, &group_entries);
            }
            let item = HistoryItem {
                entry: last.id(),
                author: last.author(),
                timestamp_ms: last.header().timestamp_ms,
                ops: changes.iter().map(|c| c.ops).sum(),
                chars_before: changes.first().map_or(0, |c| c.chars_before),
                chars_after: changes.last().map_or(0, |c| c.chars_after),
            };
            let k = key(
                b'h',
                &[
                    &page.0,
                    &item.timestamp_ms.to_be_bytes(),
                    item.author.as_bytes(),
                    &last.seq().to_be_bytes(),
                ],
            );
            batch.insert(
                k,
                postcard::to_stdvec(&item).expect("encoding into a Vec cannot fail"),
            );
            if !meta.authors.contains(&item.author) {
                meta.authors.push(item.author);
            }
            if meta.created_ms == 0 {
                meta.created_ms = item.timestamp_ms;
            }
            meta.updated_ms = meta.updated_ms.max(item.timestamp_ms);
            meta.changes += changes.len() as u64;
            batch.insert(
                key(b'a', &[last.author().as_bytes()]),
                last.seq().to_be_bytes(),
            );
            i = j;
        }
        self.finish_page(store, &page, meta, true, &mut batch)?;
        store.kv().apply(batch)?;
        Ok(())
    }

    /// Throws away uncommitted local changes of a page (when appending the
    /// entries that carry them failed): the document is reloaded from the store.
    pub fn discard(&mut self, page: &PageId) {
        self.open.remove(page);
        self.lru.retain(|p| p != page);
    }

    // ----- applying entries ------------------------------------------------

    /// Materializes wiki-change entries (own or foreign), in order.
    pub fn apply(&mut self, store: &Store, entries: &[Entry]) -> Result<ApplyReport> {
        let mut report = ApplyReport::default();
        let mut batch = Batch::default();
        let mut incoming: BTreeMap<PageId, Vec<Incoming>> = BTreeMap::new();
        let mut progress: BTreeMap<AuthorId, u64> = BTreeMap::new();
        for entry in entries {
            progress.insert(entry.author(), entry.seq());
            let Some(Ok(Body::WikiChange(change))) = entry.body().map(Body::decode) else {
                continue;
            };
            match self.collect(store, entry, change, &mut batch) {
                Ok(Some((page, list))) => incoming.entry(page).or_default().extend(list),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(entry = %entry.id(), error = %e, "rejected wiki change");
                    report.rejected.push((entry.id(), e.to_string()));
                    if let Some(Ok(Body::WikiChange(w))) = entry.body().map(Body::decode) {
                        self.bump_rejected(store, &w.page, &mut batch)?;
                    }
                }
            }
        }
        // Parts must be visible to later calls even if nothing applied.
        store.kv().apply(std::mem::take(&mut batch))?;
        for (page, list) in incoming {
            self.apply_page(store, page, list, &mut report, &mut batch)?;
            report.pages.insert(page);
        }
        for (author, seq) in progress {
            batch.insert(key(b'a', &[author.as_bytes()]), seq.to_be_bytes());
        }
        store.kv().apply(batch)?;
        Ok(report)
    }

    /// Parses one entry into checked changes, assembling multi-part groups.
    fn collect(
        &mut self,
        store: &Store,
        entry: &Entry,
        w: WikiChange,
        batch: &mut Batch,
    ) -> Result<Option<(PageId, Vec<Incoming>)>> {
        if w.parts == 0 || w.part >= w.parts || w.parts > MAX_PARTS {
            return Err(Error::BadChange(format!("part {} of {}", w.part, w.parts)));
        }
        let (data, entries) = if w.parts == 1 {
            (w.data, vec![entry.id()])
        } else {
            let part = Part {
                entry: entry.id(),
                author: entry.author(),
                timestamp_ms: entry.header().timestamp_ms,
                parts: w.parts,
                data: w.data,
            };
            let k = key(b'p', &[&w.group_hash, &w.part.to_be_bytes()]);
            store.kv().insert(
                &k,
                postcard::to_stdvec(&part).expect("encoding into a Vec cannot fail"),
            )?;
            let mut parts = Vec::new();
            for item in store.kv().scan_prefix(key(b'p', &[&w.group_hash])) {
                let (_, v) = item?;
                let p: Part =
                    postcard::from_bytes(&v).map_err(|e| Error::Document(format!("part: {e}")))?;
                parts.push(p);
            }
            if parts.len() < w.parts as usize {
                return Ok(None); // Wait for the rest.
            }
            let mut data = Vec::new();
            let mut ids = Vec::new();
            for p in &parts {
                if p.author != entry.author() || p.parts != w.parts {
                    return Err(Error::BadChange("parts of one group disagree".into()));
                }
                data.extend_from_slice(&p.data);
                ids.push(p.entry);
                if data.len() > MAX_GROUP_BYTES {
                    return Err(Error::BadChange("change group too large".into()));
                }
            }
            for n in 0..w.parts {
                batch.remove(key(b'p', &[&w.group_hash, &n.to_be_bytes()]));
            }
            (data, ids)
        };
        if blake3::hash(&data).as_bytes() != &w.group_hash {
            return Err(Error::BadChange(
                "group hash does not match its data".into(),
            ));
        }
        let mut out = Vec::new();
        for raw in split_group(&data)? {
            let change = guarded("decoding a change", || Change::from_bytes(raw))?
                .map_err(|e| Error::BadChange(format!("not an Automerge change: {e}")))?;
            if change.actor_id() != &actor_of(&entry.author()) {
                return Err(Error::BadChange(format!(
                    "change actor {} is not the entry's author {}",
                    change.actor_id(),
                    entry.author()
                )));
            }
            if change.len() > MAX_CHANGE_OPS {
                return Err(Error::BadChange(format!(
                    "{} operations in one change (limit {MAX_CHANGE_OPS})",
                    change.len()
                )));
            }
            out.push(Incoming {
                entry: entry.id(),
                seq: entry.seq(),
                author: entry.author(),
                timestamp_ms: entry.header().timestamp_ms,
                entries: entries.clone(),
                change,
                fresh: true,
            });
        }
        Ok(Some((w.page, out)))
    }

    fn bump_rejected(&mut self, store: &Store, page: &PageId, batch: &mut Batch) -> Result<()> {
        let mut meta = self.meta(store, page)?.unwrap_or_default();
        meta.rejected += 1;
        batch.insert(
            key(b'm', &[&page.0]),
            postcard::to_stdvec(&meta).expect("encoding into a Vec cannot fail"),
        );
        Ok(())
    }

    fn apply_page(
        &mut self,
        store: &Store,
        page: PageId,
        incoming: Vec<Incoming>,
        report: &mut ApplyReport,
        batch: &mut Batch,
    ) -> Result<()> {
        // Waiting changes of this page get another chance with the new ones.
        let mut queue: Vec<Incoming> = incoming;
        for item in store.kv().scan_prefix(key(b'q', &[&page.0])) {
            let (k, v) = item?;
            let w: Waiting = postcard::from_bytes(&v)
                .map_err(|e| Error::Document(format!("waiting change: {e}")))?;
            batch.remove(k);
            if let Ok(change) = Change::from_bytes(w.change) {
                queue.push(Incoming {
                    entry: w.entry,
                    seq: w.seq,
                    author: w.author,
                    timestamp_ms: w.timestamp_ms,
                    entries: w.entries,
                    change,
                    fresh: false,
                });
            }
        }
        let mut meta = self.meta(store, &page)?.unwrap_or_default();
        self.doc_or_new(store, &page)?;
        let open = self.open.get_mut(&page).expect("loaded above");
        let mut history: BTreeMap<EntryId, (u64, HistoryItem)> = BTreeMap::new();
        let mut chars = text_len(&open.doc);
        let mut failed = None;
        let mut record = |item: &Incoming, before: u64, after: u64, meta: &mut PageMeta| {
            let (_, h) = history.entry(item.entry).or_insert((
                item.seq,
                HistoryItem {
                    entry: item.entry,
                    author: item.author,
                    timestamp_ms: item.timestamp_ms,
                    ops: 0,
                    chars_before: before,
                    chars_after: after,
                },
            ));
            h.ops += item.change.len() as u64;
            h.chars_after = after;
            if !meta.authors.contains(&item.author) {
                meta.authors.push(item.author);
            }
            if meta.created_ms == 0 || item.timestamp_ms < meta.created_ms {
                meta.created_ms = item.timestamp_ms;
            }
            meta.updated_ms = meta.updated_ms.max(item.timestamp_ms);
            meta.changes += 1;
        };
        loop {
            let mut progressed = false;
            let mut rest = Vec::new();
            for item in queue {
                let hash = item.change.hash();
                if has_change(&mut open.doc, &hash) {
                    index_change(batch, &hash, &item.entries);
                    // Our own edit, made on this document before its entry
                    // was written: it counts now, with the sizes of the edit.
                    if item.fresh {
                        let (before, after) = (chars, chars);
                        record(&item, before, after, &mut meta);
                        report.applied += 1;
                    }
                    continue;
                }
                let missing = item
                    .change
                    .deps()
                    .iter()
                    .any(|d| !has_change(&mut open.doc, d));
                if missing {
                    rest.push(item);
                    continue;
                }
                // Apply, then save at once: a hostile change can be accepted
                // by Automerge yet leave the document unable to save, and
                // must not take the valid changes around it down with it.
                let applied = guarded("applying a change", || {
                    open.doc
                        .apply_changes([item.change.clone()])
                        .map(|()| open.doc.save_incremental())
                });
                match applied {
                    Ok(Ok(saved)) => open.unsaved.push(saved),
                    Ok(Err(e)) => {
                        report.rejected.push((item.entry, e.to_string()));
                        meta.rejected += 1;
                        continue;
                    }
                    Err(e) => {
                        // The document may be inconsistent: rebuild it from
                        // the store and what was applied before this change.
                        report.rejected.push((item.entry, e.to_string()));
                        meta.rejected += 1;
                        match reload(store, &page, &open.unsaved) {
                            Ok(doc) => {
                                open.doc = doc;
                                chars = text_len(&open.doc);
                                continue;
                            }
                            Err(e) => {
                                failed = Some(e);
                                break;
                            }
                        }
                    }
                }
                progressed = true;
                report.applied += 1;
                index_change(batch, &hash, &item.entries);
                let after = text_len(&open.doc);
                record(&item, chars, after, &mut meta);
                chars = after;
            }
            queue = rest;
            if failed.is_some() || !progressed || queue.is_empty() {
                break;
            }
        }
        if let Some(e) = failed {
            self.discard(&page);
            return Err(e);
        }
        // What is still waiting, and what it waits for.
        let waiting_hashes: BTreeSet<[u8; 32]> = queue.iter().map(|i| i.change.hash().0).collect();
        for item in &queue {
            for dep in item.change.deps() {
                if !has_change(&mut open.doc, dep) && !waiting_hashes.contains(&dep.0) {
                    report.missing.insert(dep.0);
                }
            }
        }
        report.waiting += queue.len();
        meta.waiting = queue.len() as u64;
        for item in queue {
            let w = Waiting {
                entry: item.entry,
                seq: item.seq,
                author: item.author,
                timestamp_ms: item.timestamp_ms,
                entries: item.entries,
                change: item.change.raw_bytes().to_vec(),
            };
            batch.insert(
                key(b'q', &[&page.0, &item.change.hash().0]),
                postcard::to_stdvec(&w).expect("encoding into a Vec cannot fail"),
            );
        }
        // Keyed by time, then author and seq: a stable order even for
        // entries written in the same millisecond.
        for (seq, h) in history.values() {
            let k = key(
                b'h',
                &[
                    &page.0,
                    &h.timestamp_ms.to_be_bytes(),
                    h.author.as_bytes(),
                    &seq.to_be_bytes(),
                ],
            );
            batch.insert(
                k,
                postcard::to_stdvec(h).expect("encoding into a Vec cannot fail"),
            );
        }
        meta.chars = chars;
        let changed = !history.is_empty();
        self.finish_page(store, &page, meta, changed, batch)
    }

    /// Title index, links, metadata and an incremental save of a page whose
    /// document changed (`body_changed`: recompute its links).
    fn finish_page(
        &mut self,
        store: &Store,
        page: &PageId,
        mut meta: PageMeta,
        body_changed: bool,
        batch: &mut Batch,
    ) -> Result<()> {
        let Some(open) = self.open.get(page) else {
            return Ok(());
        };
        let old_title = std::mem::take(&mut meta.title);
        meta.title = title_of(&open.doc);
        meta.archived = is_archived(&open.doc);
        meta.chars = text_len(&open.doc);
        let links = body_changed.then(|| links_in(&body_text(&open.doc)));
        if old_title != meta.title && !old_title.is_empty() {
            let mut k = key(b't', &[old_title.to_lowercase().as_bytes()]);
            k.push(0);
            k.extend_from_slice(&page.0);
            batch.remove(k);
        }
        if !meta.title.is_empty() {
            let mut k = key(b't', &[meta.title.to_lowercase().as_bytes()]);
            k.push(0);
            k.extend_from_slice(&page.0);
            batch.insert(k, []);
        }
        if let Some(links) = links {
            self.set_links(store, page, links, batch)?;
        }
        batch.insert(
            key(b'm', &[&page.0]),
            postcard::to_stdvec(&meta).expect("encoding into a Vec cannot fail"),
        );
        if let Err(e) = self.persist(page, batch) {
            self.discard(page);
            return Err(e);
        }
        Ok(())
    }

    fn set_links(
        &self,
        store: &Store,
        page: &PageId,
        links: BTreeSet<String>,
        batch: &mut Batch,
    ) -> Result<()> {
        let lk = key(b'l', &[&page.0]);
        let old: BTreeSet<String> = match store.kv().get(&lk)? {
            Some(v) => postcard::from_bytes(&v).unwrap_or_default(),
            None => BTreeSet::new(),
        };
        if old == links {
            return Ok(());
        }
        for t in old.difference(&links) {
            let mut k = key(b'b', &[t.as_bytes()]);
            k.push(0);
            k.extend_from_slice(&page.0);
            batch.remove(k);
        }
        for t in links.difference(&old) {
            let mut k = key(b'b', &[t.as_bytes()]);
            k.push(0);
            k.extend_from_slice(&page.0);
            batch.insert(k, []);
        }
        batch.insert(
            lk,
            postcard::to_stdvec(&links).expect("encoding into a Vec cannot fail"),
        );
        Ok(())
    }

    /// Replays the wiki entries each author wrote after the last one the
    /// wiki processed (after a crash between storing entries and
    /// materializing them, or after `reindex`).
    pub fn catch_up(&mut self, store: &Store) -> Result<ApplyReport> {
        let mut total = ApplyReport::default();
        for (author, head) in store.frontier()? {
            let done = match store.kv().get(key(b'a', &[author.as_bytes()]))? {
                Some(v) => u64::from_be_bytes(v.as_ref().try_into().unwrap_or([0; 8])),
                None => 0,
            };
            let mut from = done + 1;
            while from <= head.seq {
                let entries = store.log(&author, from, 1024)?;
                let Some(last) = entries.last() else { break };
                from = last.seq() + 1;
                let report = self.apply(store, &entries)?;
                total.applied += report.applied;
                total.waiting = report.waiting;
                total.rejected.extend(report.rejected);
                total.missing.extend(report.missing);
                total.pages.extend(report.pages);
            }
        }
        Ok(total)
    }
}

/// Loads a page's document: the snapshot plus its incremental saves.
fn load_doc(store: &Store, page: &PageId) -> Result<Option<Open>> {
    let kv = store.kv();
    let snapshot = kv.get(key(b'd', &[&page.0]))?;
    let mut increments = Vec::new();
    for item in kv.scan_prefix(key(b'i', &[&page.0])) {
        increments.push(item?.1);
    }
    if snapshot.is_none() && increments.is_empty() {
        return Ok(None);
    }
    let mut doc = match &snapshot {
        Some(bytes) => guarded("loading a page", || {
            AutoCommit::load_with_options(
                bytes,
                LoadOptions::new().text_encoding(TextEncoding::UnicodeCodePoint),
            )
        })?
        .map_err(|e| Error::Document(e.to_string()))?,
        None => new_doc(),
    };
    let snapshot_changes = doc.stats().num_changes;
    for inc in &increments {
        guarded("loading a page", || doc.load_incremental(inc))?
            .map_err(|e| Error::Document(e.to_string()))?;
    }
    Ok(Some(Open {
        doc,
        increments: increments.len() as u64,
        snapshot_changes,
        unsaved: Vec::new(),
    }))
}

/// The page as stored, plus incremental saves not yet written.
fn reload(store: &Store, page: &PageId, unsaved: &[Vec<u8>]) -> Result<AutoCommit> {
    let mut doc = match load_doc(store, page)? {
        Some(open) => open.doc,
        None => new_doc(),
    };
    for inc in unsaved {
        guarded("reloading a page", || doc.load_incremental(inc))?
            .map_err(|e| Error::Document(e.to_string()))?;
    }
    Ok(doc)
}

fn index_change(batch: &mut Batch, hash: &ChangeHash, entries: &[EntryId]) {
    batch.insert(
        key(b'c', &[&hash.0]),
        postcard::to_stdvec(entries).expect("encoding into a Vec cannot fail"),
    );
}

fn new_changes(doc: &mut AutoCommit, before: &[ChangeHash]) -> Vec<Change> {
    doc.get_changes(before)
}

/// Whether the document holds the change (cheap: no change is rebuilt).
fn has_change(doc: &mut AutoCommit, hash: &ChangeHash) -> bool {
    doc.get_missing_deps(std::slice::from_ref(hash)).is_empty()
}

fn check_size(body: &str) -> Result<()> {
    if body.len() > MAX_PAGE_BYTES {
        return Err(Error::Invalid(format!(
            "a page body is at most {MAX_PAGE_BYTES} bytes; this one is {}",
            body.len()
        )));
    }
    Ok(())
}

fn clean_title(title: &str) -> Result<String> {
    let title = title.trim();
    if title.is_empty() {
        return Err(Error::Invalid("a page needs a title".into()));
    }
    if title.len() > 200 || title.contains(['\n', '\r']) {
        return Err(Error::Invalid(
            "a title is one line of at most 200 bytes".into(),
        ));
    }
    Ok(title.to_string())
}

fn body_obj(doc: &AutoCommit) -> Option<ObjId> {
    match doc.get(ROOT, "body") {
        Ok(Some((Value::Object(ObjType::Text), id))) => Some(id),
        _ => None,
    }
}

/// The body text of a document (empty if it has none).
pub fn body_text(doc: &AutoCommit) -> String {
    body_obj(doc)
        .and_then(|id| doc.text(&id).ok())
        .unwrap_or_default()
}

fn text_len(doc: &AutoCommit) -> u64 {
    body_obj(doc).map_or(0, |id| doc.length(&id) as u64)
}

fn title_of(doc: &AutoCommit) -> String {
    match doc.get(ROOT, "title") {
        Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
            ScalarValue::Str(t) => t.to_string(),
            _ => String::new(),
        },
        _ => String::new(),
    }
}

fn is_archived(doc: &AutoCommit) -> bool {
    matches!(doc.get(ROOT, "archived"), Ok(Some((Value::Scalar(s), _))) if matches!(s.as_ref(), ScalarValue::Boolean(true)))
}

/// Lowercased targets of `[[Title]]` and `[[Title|label]]` links.
pub fn links_in(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("[[") {
        rest = &rest[start + 2..];
        let Some(end) = rest.find("]]") else { break };
        let inner = &rest[..end];
        let target = inner.split('|').next().unwrap_or("").trim();
        if !target.is_empty() && !target.contains('\n') && target.len() <= 200 {
            out.insert(target.to_lowercase());
        }
        rest = &rest[end + 2..];
    }
    out
}

#[cfg(test)]
mod tests;
