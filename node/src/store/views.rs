//! Views derived from entries, all under the `v` key prefix, all rebuilt by
//! [`Store::reindex`](super::Store::reindex).
//!
//! | key                                   | value        | view                       |
//! |---------------------------------------|--------------|----------------------------|
//! | `vf` ts(8) id(32)                     | author(32)   | feed: posts by time        |
//! | `vv` truster(32) subject(32)          | empty        | public vouches (2 hops)    |
//! | `vp` author(32)                       | name         | latest profile name        |
//!
//! Indexing is order-independent across authors and runs in log order within
//! an author, which is how entries arrive and how `reindex` replays them.

use kith_protocol::{AuthorId, Body, Entry, EntryId};

use super::kv::Batch;
use super::{Error, FeedQuery, Result, Store, VIEW};

const FEED: u8 = b'f';
const VOUCH: u8 = b'v';
const PROFILE: u8 = b'p';

/// Whether indexing `entry` reads other entries, so everything before it in
/// the same write batch must be applied first.
pub(crate) fn reads_store(entry: &Entry) -> bool {
    // Bodies are small; a peek at the kind byte avoids decoding posts twice.
    !matches!(entry.body().and_then(|b| b.first()), Some(&k) if k as u64 == kith_protocol::body::kind::POST)
}

/// Adds the view records derived from `entry` to `batch`.
pub(crate) fn index(store: &Store, entry: &Entry, batch: &mut Batch) -> Result<()> {
    let Some(bytes) = entry.body() else {
        return Ok(()); // Deleted: contributes nothing.
    };
    let Ok(body) = Body::decode(bytes) else {
        // A peer's undecodable body stays in the log but feeds no view.
        tracing::debug!(id = %entry.id(), "skipping undecodable body in views");
        return Ok(());
    };
    match body {
        Body::Post(_) => {
            batch.insert(
                feed_key(entry.header().timestamp_ms, &entry.id()),
                entry.author().as_bytes(),
            );
        }
        Body::Trust(statement) => {
            let key = vouch_key(&entry.author(), &statement.subject);
            if statement.vouch {
                batch.insert(key, []);
            } else {
                batch.remove(key);
            }
        }
        Body::Profile(profile) => {
            batch.insert(profile_key(&entry.author()), profile.name.as_bytes());
        }
        Body::Deletion(deletion) => {
            if let Some(target) = store.get(&deletion.target)? {
                // Only an author may delete their own entries.
                if target.author() == entry.author() && target.body().is_some() {
                    unindex(&target, batch);
                    store.drop_body(&target, batch);
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Removes the view records `index` made for `entry`.
fn unindex(entry: &Entry, batch: &mut Batch) {
    let Some(Ok(body)) = entry.body().map(Body::decode) else {
        return;
    };
    if let Body::Post(_) = body {
        batch.remove(feed_key(entry.header().timestamp_ms, &entry.id()));
    }
}

fn feed_key(ts: u64, id: &EntryId) -> Vec<u8> {
    let mut key = Vec::with_capacity(42);
    key.extend_from_slice(&[VIEW, FEED]);
    key.extend_from_slice(&ts.to_be_bytes());
    key.extend_from_slice(id.as_bytes());
    key
}

fn vouch_key(truster: &AuthorId, subject: &AuthorId) -> Vec<u8> {
    let mut key = Vec::with_capacity(66);
    key.extend_from_slice(&[VIEW, VOUCH]);
    key.extend_from_slice(truster.as_bytes());
    key.extend_from_slice(subject.as_bytes());
    key
}

fn profile_key(author: &AuthorId) -> Vec<u8> {
    let mut key = Vec::with_capacity(34);
    key.extend_from_slice(&[VIEW, PROFILE]);
    key.extend_from_slice(author.as_bytes());
    key
}

/// The name an author gave themselves in their latest profile entry.
pub(crate) fn profile_name(store: &Store, author: &AuthorId) -> Result<Option<String>> {
    Ok(store
        .kv()
        .get(profile_key(author))?
        .map(|v| String::from_utf8_lossy(&v).into_owned()))
}

/// Authors `truster` publicly vouches for.
pub(crate) fn vouched_by(store: &Store, truster: &AuthorId) -> Result<Vec<AuthorId>> {
    let mut prefix = vec![VIEW, VOUCH];
    prefix.extend_from_slice(truster.as_bytes());
    let mut out = Vec::new();
    for item in store.kv().scan_prefix(&prefix) {
        let (k, _) = item?;
        out.push(super::decode_author(&k[34..])?);
    }
    Ok(out)
}

/// Posts newest first, filtered by `query`.
pub(crate) fn feed(store: &Store, query: &FeedQuery) -> Result<Vec<Entry>> {
    let start = [VIEW, FEED];
    let end = match query.before {
        Some((ts, id)) => feed_key(ts, &id),
        None => vec![VIEW, FEED + 1],
    };
    let mut out = Vec::new();
    for item in store.kv().range(&start, &end).rev() {
        if out.len() >= query.limit {
            break;
        }
        let (k, v) = item?;
        if let Some(author) = &query.author
            && v.as_ref() != author.as_bytes()
        {
            continue;
        }
        let id = EntryId(
            k[10..42]
                .try_into()
                .map_err(|_| Error::Corrupt("feed key".into()))?,
        );
        let Some(entry) = store.get(&id)? else {
            return Err(Error::Corrupt(format!("feed points at missing entry {id}")));
        };
        if query.kind.is_some() || query.tag.is_some() {
            let Some(Ok(Body::Post(post))) = entry.body().map(Body::decode) else {
                continue;
            };
            if query.kind.is_some_and(|k| k != post.kind) {
                continue;
            }
            if let Some(tag) = &query.tag
                && !post.tags.iter().any(|t| t.eq_ignore_ascii_case(tag))
            {
                continue;
            }
        }
        out.push(entry);
    }
    Ok(out)
}
