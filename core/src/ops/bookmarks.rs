//! Bookmarks: entries kept to come back to, private to this node (never
//! signed or sent; kept through `reindex`). The whole operation is here:
//! its requests, its answer's shape and what it does; its contract is its
//! lines in `ops.rs`.

use serde::{Deserialize, Serialize};

use super::{ReadCtx, ReadOp, StoreOp};
use crate::core::Core;
use crate::error::{Error, Result};
use crate::model::EntryView;
use crate::refs::EntryRef;
use crate::store::Store;
use crate::store::bookmarks::Bookmark;
use kith_protocol::EntryId;

/// The longest note a bookmark keeps.
pub const MAX_NOTE_CHARS: usize = 500;

/// A bookmark as `kith bookmark list --json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BookmarkView {
    pub entry: EntryId,
    pub note: Option<String>,
    /// When it was bookmarked (ms since the epoch).
    pub added: u64,
    /// The entry, unless it was deleted (a bookmark outlives it).
    pub post: Option<EntryView>,
}

/// Bookmark an entry (again: replaces the note).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookmarkAdd {
    pub entry: EntryRef,
    #[serde(default)]
    pub note: Option<String>,
}

impl StoreOp for BookmarkAdd {
    fn run(self, core: &mut Core) -> Result<BookmarkView> {
        let note = self
            .note
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty());
        if let Some(n) = &note {
            crate::text::check_label("a bookmark's note", n, MAX_NOTE_CHARS)
                .map_err(Error::InvalidInput)?;
        }
        let entry = self.entry.resolve(core.store())?;
        let store = core.store();
        if store.get(&entry)?.is_none_or(|e| e.body().is_none()) {
            return Err(Error::InvalidInput(format!(
                "entry {entry} was deleted; there is nothing to bookmark"
            )));
        }
        let mark = store.bookmark_add(entry, note, crate::clock::now_ms())?;
        view(store, mark)
    }
}

/// Your bookmarks, the latest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookmarkList {}

impl ReadOp for BookmarkList {
    fn run(self, ctx: &ReadCtx<'_>) -> Result<Vec<BookmarkView>> {
        let store = ctx.reader.store();
        store
            .bookmarks()?
            .into_iter()
            .map(|mark| view(store, mark))
            .collect()
    }
}

/// Forget a bookmark. Answers whether there was one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookmarkRemove {
    pub entry: EntryRef,
}

impl StoreOp for BookmarkRemove {
    fn run(self, core: &mut Core) -> Result<bool> {
        let store = core.store();
        // A bookmark may outlive its entry: match it among the bookmarks
        // when the store no longer resolves the id.
        let entry = match self.entry.resolve(store) {
            Ok(id) => id,
            Err(e) => {
                let prefix = self.entry.as_str();
                let mut found = store
                    .bookmarks()?
                    .into_iter()
                    .filter(|m| m.entry.to_hex().starts_with(prefix));
                match (found.next(), found.next()) {
                    (Some(m), None) => m.entry,
                    (Some(_), Some(_)) => {
                        return Err(Error::InvalidInput(format!(
                            "{prefix:?} names more than one bookmark; give more of the id"
                        )));
                    }
                    (None, _) => return Err(e),
                }
            }
        };
        Ok(store.bookmark_remove(&entry)?)
    }
}

fn view(store: &Store, mark: Bookmark) -> Result<BookmarkView> {
    let post = match store.get(&mark.entry)? {
        Some(e) if e.body().is_some() => Some(crate::reader::entry_view(store, &e)?),
        _ => None,
    };
    Ok(BookmarkView {
        entry: mark.entry,
        note: mark.note,
        added: mark.added_ms,
        post,
    })
}
