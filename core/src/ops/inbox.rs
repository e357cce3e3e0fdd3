//! The inbox: what concerns you, newest first, with unread marks kept on
//! this node; following pages; the digest. The whole operation is here:
//! its requests, its answer's shape and what it does.

use kith_protocol::{AuthorId, Body, EntryId, PageId};
use serde::{Deserialize, Serialize};

use super::{ReadCtx, ReadOp, StoreOp};
use crate::core::Core;
use crate::error::Result;
use crate::model::ParentExcerpt;
use crate::refs::EntryRef;
use crate::store::Store;
use crate::store::inbox::{InboxItem, InboxKind};

/// Most items one call answers.
pub const MAX_ITEMS: usize = 1000;

/// One item as `kith inbox --json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboxItemView {
    /// The entry that concerns you.
    pub entry: EntryId,
    pub kind: InboxKind,
    pub author: AuthorId,
    pub author_name: Option<String>,
    pub timestamp: u64,
    pub read: bool,
    /// How the entry begins (a post), if it is here and not deleted.
    pub excerpt: Option<String>,
    /// Your entry it is about, and how that begins.
    pub about: Option<EntryId>,
    pub about_excerpt: Option<String>,
    /// The page it edits, and its title.
    pub page: Option<PageId>,
    pub page_title: Option<String>,
    /// Where to read it: the thread of a post, or the page.
    pub thread: Option<EntryId>,
}

/// What concerns you, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inbox {
    /// Only what you have not read.
    #[serde(default)]
    pub unread: bool,
    /// Only what was written at or after this time (ms since the epoch).
    #[serde(default)]
    pub since: Option<u64>,
    /// At most this many (default 50, at most 1,000).
    #[serde(default)]
    pub limit: Option<usize>,
}

impl ReadOp for Inbox {
    fn run(self, ctx: &ReadCtx<'_>) -> Result<Vec<InboxItemView>> {
        let limit = self.limit.unwrap_or(50).clamp(1, MAX_ITEMS);
        let store = ctx.reader.store();
        store
            .inbox(self.unread, self.since.unwrap_or(0), limit)?
            .into_iter()
            .map(|item| view(store, item))
            .collect()
    }
}

/// How many items you have not read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxUnread {}

impl ReadOp for InboxUnread {
    fn run(self, ctx: &ReadCtx<'_>) -> Result<usize> {
        Ok(ctx.reader.store().inbox_unread()?)
    }
}

/// Marks an item read (the one about `entry`), or every item (`all`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxRead {
    #[serde(default)]
    pub entry: Option<EntryRef>,
    #[serde(default)]
    pub all: bool,
}

impl StoreOp for InboxRead {
    fn run(self, core: &mut Core) -> Result<usize> {
        let entry = match (&self.entry, self.all) {
            (Some(entry), false) => Some(entry.resolve(core.store())?),
            (None, true) => None,
            _ => {
                return Err(crate::error::Error::InvalidInput(
                    "name one item (its entry) or all of them, not both".into(),
                ));
            }
        };
        Ok(core.store().inbox_mark_read(entry.as_ref())?)
    }
}

/// Follows a page (its edits reach your inbox), or stops (`stop`). Pages
/// you create or edit are followed already.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WikiFollow {
    pub page: String,
    #[serde(default)]
    pub stop: bool,
}

impl StoreOp for WikiFollow {
    fn run(self, core: &mut Core) -> Result<bool> {
        let page = core.wiki_resolve(&self.page)?;
        core.store().follow_page(&page, !self.stop)?;
        Ok(!self.stop)
    }
}

fn excerpt(store: &Store, id: &EntryId) -> Result<Option<String>> {
    let Some(entry) = store.get(id)? else {
        return Ok(None);
    };
    Ok(match store.open_body(&entry) {
        Some(Ok(Body::Post(post))) => Some(ParentExcerpt::excerpt_of(&post.text)),
        _ => None,
    })
}

fn view(store: &Store, item: InboxItem) -> Result<InboxItemView> {
    let page_title = match &item.page {
        Some(page) => crate::wiki::meta(store, page)?.map(|m| m.title),
        None => None,
    };
    // A reply or an answer is read in its thread; an endorsement or an
    // accept, in the thread of your entry it is about.
    let thread = match item.kind {
        InboxKind::Answer | InboxKind::Reply | InboxKind::Mention => Some(item.entry),
        InboxKind::Endorsed | InboxKind::Accepted => item.about,
        InboxKind::PageEdit | InboxKind::DeviceLinked | InboxKind::DeviceRevoked => None,
    };
    Ok(InboxItemView {
        excerpt: excerpt(store, &item.entry)?,
        about_excerpt: match &item.about {
            Some(about) => excerpt(store, about)?,
            None => None,
        },
        author_name: store.display_name(&item.author)?,
        entry: item.entry,
        kind: item.kind,
        author: item.author,
        timestamp: item.timestamp_ms,
        read: item.read,
        about: item.about,
        page: item.page,
        page_title,
        thread,
    })
}
