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
//! | `A` title(lowercase) 0 page      | former titles (aliases)                |
//! | `h` page ts(8) author seq(8)     | `HistoryItem`                          |
//! | `b` target title 0 source page   | backlink                               |
//! | `l` page                         | the page's outgoing link titles        |
//! | `p` group(32) part(4)            | a part of a multi-entry group          |
//! | `q` page change hash(32)         | a change waiting for its dependencies  |
//! | `c` change hash(32)              | ids of the entries carrying the change |
//! | `a` author                       | last seq the wiki has processed        |
//! | `g` page author seq_to(8)        | `Span`: the history item holding the author's change seqs up to `seq_to` |

mod apply;
mod cache;
mod doc;
mod group;
mod local;
mod merges;
mod read;
mod records;
mod unbundle;

/// The change chunks of an inflated compact group's bundle, as Kith reads
/// it (PROTOCOL.md §7.1), for benchmarks against Automerge's own reader.
#[cfg(feature = "testing")]
pub fn read_bundle(bundle: &[u8]) -> std::result::Result<Vec<Vec<u8>>, String> {
    unbundle::changes(bundle).map_err(|e| e.to_string())
}
mod versions;
pub mod words;

use std::collections::{HashMap, VecDeque};

use kith_protocol::{AuthorId, EntryId, PageId};
use serde::{Deserialize, Serialize};

pub use self::apply::ApplyReport;
use self::cache::Open;
pub use self::doc::{body_text, check_page, link_targets, links_in, relink};
pub use self::local::{Local, LocalChange};
pub use self::read::{
    backlinks, entries_of_change, history, is_wanted, list, meta, pages_aliased, pages_titled,
    resolve,
};
pub use self::records::{note_processed, processed_through};
pub use self::versions::{Attribution, Blamed, Side};
pub use self::words::Piece;
use crate::store;

pub use kith_protocol::change_group::{MAX_GROUP_BYTES, MAX_PARTS};

/// Most operations in one Automerge change from a peer.
pub const MAX_CHANGE_OPS: usize = 1_000_000;
/// Largest page body a local edit may produce.
pub const MAX_PAGE_BYTES: usize = 1024 * 1024;
/// Open documents kept in memory.
const CACHE_PAGES: usize = 16;
/// Incremental saves before the snapshot is rewritten. It is also rewritten
/// once the increments hold more than a quarter of the page's changes (and
/// at least `COMPACT_MIN_CHANGES`): loading changes one by one is far slower
/// than loading a snapshot, and this keeps the rewrites' cost amortized.
/// Increments are bundles (a few hundred bytes for a save of a hundred
/// keystrokes), so the count only bounds the keys read on opening.
const COMPACT_AFTER: u64 = 1024;
const COMPACT_MIN_CHANGES: u64 = 2_000;

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
    /// Titles the page had before, oldest first: `[[links]]` to them and
    /// lookups by them still reach the page.
    pub aliases: Vec<String>,
    /// Set while concurrent edits by different authors are merged within
    /// one paragraph, until someone edits the page or marks it reviewed.
    pub merged: Option<MergeMark>,
}

/// Concurrent edits by different authors merged within paragraphs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeMark {
    pub authors: Vec<AuthorId>,
    /// The paragraphs (blank-line separated blocks of the body, 0-based)
    /// where they met, and the start of each.
    pub paragraphs: Vec<(u32, String)>,
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
    /// The first and last Automerge change the entry carried, and their
    /// numbers among its author's changes to the page (Automerge's `seq`).
    pub first: [u8; 32],
    pub last: [u8; 32],
    pub seq_from: u64,
    pub seq_to: u64,
}

/// A change that waits for its dependencies.
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

/// The wiki engine: materializes pages from entries and turns edits into
/// changes. Owned by [`crate::Core`] (on the store actor); reads that need
/// no open document are the free functions of this module.
#[derive(Default)]
pub struct Wiki {
    open: HashMap<PageId, Open>,
    lru: VecDeque<PageId>,
    /// Pages whose body changed since their links were last read.
    links_stale: std::collections::BTreeSet<PageId>,
}

impl std::fmt::Debug for Wiki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wiki")
            .field("open", &self.open.len())
            .finish()
    }
}

fn key(space: store::keyspace::Space, parts: &[&[u8]]) -> Vec<u8> {
    debug_assert!(space.prefix().starts_with(store::keyspace::WIKI));
    space.key(parts)
}

#[cfg(test)]
mod tests;
