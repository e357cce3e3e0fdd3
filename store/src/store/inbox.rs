//! The inbox: what concerns this node's user (an answer or a reply to
//! their post, their answer accepted or endorsed, a mention of them, an
//! edit of a page they follow), newest first, with whether they read it;
//! and the pages they follow. Local state, like bookmarks: never sent,
//! never signed, not a view (`reindex` keeps it). `Core` writes items as
//! entries arrive.
//!
//! | key                              | value                           |
//! |----------------------------------|---------------------------------|
//! | `N` time(8) entry id(32)         | postcard `Stored`               |
//! | `W` page id(16)                  | empty: a page followed          |

use kith_protocol::{AuthorId, EntryId, PageId};
use serde::{Deserialize, Serialize};

use super::keyspace::Space;
use super::{Error, Result, Store};

/// What an item is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InboxKind {
    /// An answer to a question of yours.
    Answer,
    /// A reply to a post of yours.
    Reply,
    /// A post that mentions you.
    Mention,
    /// A post of yours endorsed.
    Endorsed,
    /// An answer of yours accepted.
    Accepted,
    /// An edit of a page you follow.
    PageEdit,
    /// Someone you trust linked a device (their new device's entries are
    /// theirs from now on).
    DeviceLinked,
    /// Someone you trust revoked a device (its later entries are refused).
    DeviceRevoked,
}

/// One item of the inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxItem {
    /// The entry that concerns you.
    pub entry: EntryId,
    pub kind: InboxKind,
    pub author: AuthorId,
    /// When it was written (ms, as its author claims).
    pub timestamp_ms: u64,
    /// Your entry it is about (answer, reply, endorsement, accept).
    pub about: Option<EntryId>,
    /// The page it edits (a page edit).
    pub page: Option<PageId>,
    pub read: bool,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    kind: InboxKind,
    author: AuthorId,
    about: Option<EntryId>,
    page: Option<PageId>,
    read: bool,
}

fn item_key(timestamp_ms: u64, entry: &EntryId) -> Vec<u8> {
    Space::Inbox.key(&[&timestamp_ms.to_be_bytes(), &entry.0])
}

impl Store {
    /// Adds items (an item already there keeps its read mark).
    pub fn inbox_add(&self, items: &[InboxItem]) -> Result<()> {
        for item in items {
            let key = item_key(item.timestamp_ms, &item.entry);
            if self.kv.get(&key)?.is_some() {
                continue;
            }
            let stored = Stored {
                kind: item.kind,
                author: item.author,
                about: item.about,
                page: item.page,
                read: item.read,
            };
            self.kv.insert(
                key,
                postcard::to_stdvec(&stored).expect("encoding into a Vec cannot fail"),
            )?;
        }
        Ok(())
    }

    /// Items, newest first: at most `limit`, only unread ones if asked,
    /// only those written at or after `since_ms`.
    pub fn inbox(&self, unread_only: bool, since_ms: u64, limit: usize) -> Result<Vec<InboxItem>> {
        let mut out = Vec::new();
        let start = Space::Inbox.key(&[&since_ms.to_be_bytes()]);
        for item in self.kv.range(&start, &Space::Inbox.end()).rev() {
            if out.len() >= limit {
                break;
            }
            let (k, v) = item?;
            let item = decode_item(&k, &v)?;
            if unread_only && item.read {
                continue;
            }
            out.push(item);
        }
        Ok(out)
    }

    /// How many items are unread.
    pub fn inbox_unread(&self) -> Result<usize> {
        let mut n = 0;
        for item in self.kv.scan_prefix(Space::Inbox.prefix()) {
            let (k, v) = item?;
            if !decode_item(&k, &v)?.read {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Marks items read: the one about `entry`, or every one (`None`).
    /// Returns how many were unread.
    pub fn inbox_mark_read(&self, entry: Option<&EntryId>) -> Result<usize> {
        let mut marked = 0;
        for item in self.kv.scan_prefix(Space::Inbox.prefix()) {
            let (k, v) = item?;
            let mut stored: Stored =
                postcard::from_bytes(&v).map_err(|e| Error::Corrupt(format!("inbox item: {e}")))?;
            let id = &k[Space::Inbox.prefix().len() + 8..];
            if stored.read || entry.is_some_and(|e| e.0 != id) {
                continue;
            }
            stored.read = true;
            self.kv.insert(
                &*k,
                postcard::to_stdvec(&stored).expect("encoding into a Vec cannot fail"),
            )?;
            marked += 1;
        }
        self.kv.flush()?;
        Ok(marked)
    }

    /// Follows (or stops following) a page: its edits reach the inbox.
    pub fn follow_page(&self, page: &PageId, follow: bool) -> Result<bool> {
        let key = Space::Follow.key(&[&page.0]);
        let was = self.kv.get(&key)?.is_some();
        if follow {
            self.kv.insert(key, [])?;
        } else {
            self.kv.remove(key)?;
        }
        self.kv.flush()?;
        Ok(was)
    }

    pub fn follows(&self, page: &PageId) -> Result<bool> {
        Ok(self.kv.get(Space::Follow.key(&[&page.0]))?.is_some())
    }
}

fn decode_item(key: &[u8], value: &[u8]) -> Result<InboxItem> {
    let rest = &key[Space::Inbox.prefix().len()..];
    let (time, id) = rest.split_at(8);
    let stored: Stored =
        postcard::from_bytes(value).map_err(|e| Error::Corrupt(format!("inbox item: {e}")))?;
    Ok(InboxItem {
        entry: EntryId(
            id.try_into()
                .map_err(|_| Error::Corrupt("inbox key".into()))?,
        ),
        kind: stored.kind,
        author: stored.author,
        timestamp_ms: u64::from_be_bytes(
            time.try_into()
                .map_err(|_| Error::Corrupt("inbox key".into()))?,
        ),
        about: stored.about,
        page: stored.page,
        read: stored.read,
    })
}
