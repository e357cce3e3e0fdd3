//! Reading pages from the store: metadata, the title index, history,
//! backlinks and the change index. These need no open document, so both
//! the store actor and read-only views use them.

use crate::store::keyspace::Space;
use std::collections::BTreeSet;

use automerge::Change;
use kith_protocol::{Body, EntryId, PageId, Verified};

use super::{Error, HistoryItem, PageMeta, Result, Waiting, key};
use crate::store::Store;

pub fn meta(store: &Store, page: &PageId) -> Result<Option<PageMeta>> {
    match store.kv().get(key(Space::WikiMeta, &[&page.0]))? {
        None => Ok(None),
        Some(v) => postcard::from_bytes(&v)
            .map(Some)
            .map_err(|e| Error::Document(format!("page metadata: {e}"))),
    }
}

/// Every page with its metadata, by title.
pub fn list(store: &Store) -> Result<Vec<(PageId, PageMeta)>> {
    let mut out = Vec::new();
    for item in store.kv().scan_prefix(key(Space::WikiMeta, &[])) {
        let (k, v) = item?;
        // The key is the prefix and a 16-byte page id; anything else is
        // a corrupt record, not a reason to stop the store.
        let page = PageId(
            Space::WikiMeta
                .rest(&k)
                .and_then(|id| <[u8; 16]>::try_from(id).ok())
                .ok_or_else(|| Error::Document("page key".into()))?,
        );
        let meta: PageMeta =
            postcard::from_bytes(&v).map_err(|e| Error::Document(format!("page metadata: {e}")))?;
        out.push((page, meta));
    }
    out.sort_by_key(|(_, m)| m.title.to_lowercase());
    Ok(out)
}

/// Resolves a page id, id prefix or title (case-insensitive).
pub fn resolve(store: &Store, name: &str) -> Result<PageId> {
    let name = name.trim();
    if let Ok(page) = name.parse::<PageId>()
        && meta(store, &page)?.is_some()
    {
        return Ok(page);
    }
    let mut found: Vec<PageId> = pages_titled(store, name)?;
    if found.is_empty() {
        // A former title still reaches its page.
        found = pages_aliased(store, name)?;
    }
    if found.is_empty() && name.len() >= 6 && name.chars().all(|c| c.is_ascii_hexdigit()) {
        found = list(store)?
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
                .filter(|p| meta(store, p).ok().flatten().is_some_and(|m| !m.archived))
                .collect();
            if live.len() == 1 {
                return Ok(live[0]);
            }
            let ids: Vec<String> = found.iter().map(ToString::to_string).collect();
            Err(Error::Ambiguous(name.to_string(), ids.join(", ")))
        }
    }
}

/// Pages that had `title` before they were renamed.
pub fn pages_aliased(store: &Store, title: &str) -> Result<Vec<PageId>> {
    pages_under(store, Space::WikiAlias, title)
}

/// Pages with this title now (case-insensitive).
pub fn pages_titled(store: &Store, title: &str) -> Result<Vec<PageId>> {
    pages_under(store, Space::WikiTitle, title)
}

fn pages_under(store: &Store, index: Space, title: &str) -> Result<Vec<PageId>> {
    let mut prefix = key(index, &[title.to_lowercase().as_bytes()]);
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

/// Newest first.
pub fn history(store: &Store, page: &PageId) -> Result<Vec<HistoryItem>> {
    let mut out = Vec::new();
    for item in store
        .kv()
        .scan_prefix(key(Space::WikiHistory, &[&page.0]))
        .rev()
    {
        let (_, v) = item?;
        out.push(postcard::from_bytes(&v).map_err(|e| Error::Document(format!("history: {e}")))?);
    }
    Ok(out)
}

/// Pages whose body links to `title` with `[[title]]`.
pub fn backlinks(store: &Store, title: &str) -> Result<Vec<PageId>> {
    let mut prefix = key(Space::WikiBacklink, &[title.to_lowercase().as_bytes()]);
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
pub fn is_wanted(store: &Store, entry: &Verified) -> Result<bool> {
    let Some((w, form)) = entry.body().and_then(Body::wiki_part) else {
        return Ok(false);
    };
    if w.parts != 1 || blake3::hash(&w.data).as_bytes() != &w.group_hash {
        return Ok(false);
    }
    let mut wanted = BTreeSet::new();
    for item in store
        .kv()
        .scan_prefix(key(Space::WikiWaiting, &[&w.page.0]))
    {
        let (_, v) = item?;
        if let Ok(waiting) = postcard::from_bytes::<Waiting>(&v)
            && let Ok(change) = Change::from_bytes(waiting.change)
        {
            wanted.extend(change.deps().iter().map(|d| d.0));
        }
    }
    let Ok(changes) = super::group::changes(form, &w.data) else {
        return Ok(false);
    };
    for change in changes {
        if wanted.contains(&change.hash().0) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Ids of the entries that carry an Automerge change (all parts).
pub fn entries_of_change(store: &Store, hash: &[u8; 32]) -> Result<Vec<EntryId>> {
    match store.kv().get(key(Space::WikiChange, &[hash]))? {
        None => Ok(Vec::new()),
        Some(v) => {
            postcard::from_bytes(&v).map_err(|e| Error::Document(format!("change index: {e}")))
        }
    }
}
