//! The wiki's small records beside the documents: how far each author's
//! log is processed, a page's aliases, rejected-change count and links
//! (with the backlinks they imply), and which entries carry a change.

use std::collections::{BTreeMap, BTreeSet};

use automerge::ChangeHash;
use kith_protocol::{AuthorId, EntryId, PageId};

use super::read::meta;
use super::{PageMeta, Result, key};
use crate::store::Store;
use crate::store::keyspace::Space;
use crate::store::kv::Batch;

/// The last seq of `author` the wiki has processed.
pub fn processed_through(store: &Store, author: &AuthorId) -> Result<u64> {
    Ok(
        match store
            .kv()
            .get(key(Space::WikiProcessed, &[author.as_bytes()]))?
        {
            Some(v) => u64::from_be_bytes(v.as_ref().try_into().unwrap_or([0; 8])),
            None => 0,
        },
    )
}

/// Records that the wiki has processed freshly stored entries, given as
/// (author, seq), where each author's run follows what was processed
/// before: an entry with no wiki change needs nothing from the wiki, so
/// without this the next open's catch-up reads every note after an
/// author's last wiki change again (a million-entry store's first start
/// spent seconds on it). The caller has applied the wiki changes among
/// the entries; a run that does not follow the marker (after a change
/// that failed to apply) is left to the catch-up.
pub fn note_processed(
    store: &Store,
    entries: impl IntoIterator<Item = (AuthorId, u64)>,
) -> Result<()> {
    let mut runs: BTreeMap<AuthorId, (u64, u64)> = BTreeMap::new();
    for (author, seq) in entries {
        let run = runs.entry(author).or_insert((seq, seq));
        run.0 = run.0.min(seq);
        run.1 = run.1.max(seq);
    }
    let mut batch = Batch::default();
    for (author, (first, last)) in runs {
        let done = processed_through(store, &author)?;
        if done + 1 >= first && last > done {
            batch.insert(
                key(Space::WikiProcessed, &[author.as_bytes()]),
                last.to_be_bytes(),
            );
        }
    }
    store.kv().apply(batch)?;
    Ok(())
}

/// Adds a title to the page's aliases (once, case-insensitively).
pub(super) fn note_alias(meta: &mut PageMeta, title: &str) {
    if !title.is_empty() && !meta.aliases.iter().any(|a| a.eq_ignore_ascii_case(title)) {
        meta.aliases.push(title.to_string());
    }
}

pub(super) fn bump_rejected(store: &Store, page: &PageId, batch: &mut Batch) -> Result<()> {
    let mut meta = meta(store, page)?.unwrap_or_default();
    meta.rejected += 1;
    batch.insert(
        key(Space::WikiMeta, &[&page.0]),
        postcard::to_stdvec(&meta).expect("encoding into a Vec cannot fail"),
    );
    Ok(())
}

pub(super) fn set_links(
    store: &Store,
    page: &PageId,
    links: BTreeSet<String>,
    batch: &mut Batch,
) -> Result<()> {
    let lk = key(Space::WikiLinks, &[&page.0]);
    let old: BTreeSet<String> = match store.kv().get(&lk)? {
        Some(v) => postcard::from_bytes(&v).unwrap_or_default(),
        None => BTreeSet::new(),
    };
    if old == links {
        return Ok(());
    }
    for t in old.difference(&links) {
        let mut k = key(Space::WikiBacklink, &[t.as_bytes()]);
        k.push(0);
        k.extend_from_slice(&page.0);
        batch.remove(k);
    }
    for t in links.difference(&old) {
        let mut k = key(Space::WikiBacklink, &[t.as_bytes()]);
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

pub(super) fn index_change(batch: &mut Batch, hash: &ChangeHash, entries: &[EntryId]) {
    batch.insert(
        key(Space::WikiChange, &[&hash.0]),
        postcard::to_stdvec(entries).expect("encoding into a Vec cannot fail"),
    );
}
