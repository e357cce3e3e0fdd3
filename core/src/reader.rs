//! `Reader`: a read-only view of the store, cheap to clone and safe on any
//! thread. Reads that must stay fast while the store actor is busy (feed,
//! threads, profiles, trust, exports, `verify`) run on it, on the node's
//! read pool; the network loop reads logs through it for the sync machine.
//! It never writes.

mod bundle;
mod people;
mod threads;

pub use people::person_view;

use std::collections::BTreeMap;
use std::sync::Arc;

use kith_protocol::sync::{FrontierItem, Logs};
use kith_protocol::{AuthorId, Body, Entry, EntryId, Head, Post};
use kith_store::blobs::Blobs;

use crate::bundle::FrontierFile;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::model::{EntryView, ForkView, HistoryView, IdView, PageSummary, ProfileView, TrustView};
use crate::ops;
use crate::search::Found;
use crate::store::{Scope, Store, TrustRecord, VerifyReport};

/// Entries an export reads from a log at a time.
pub use self::bundle::BundlePlan;

/// Default page size of the feed.
pub const DEFAULT_FEED_LIMIT: usize = 20;
/// Largest page of the feed.
pub const MAX_FEED_LIMIT: usize = 1_000;

/// A read-only view of one node's store, with the replication set as it
/// was when the view was made.
#[derive(Clone)]
pub struct Reader {
    store: Store,
    blobs: Arc<Blobs>,
    me: AuthorId,
    scope: Arc<Scope>,
    config: Arc<Config>,
}

impl Reader {
    pub fn new(
        store: Store,
        blobs: Arc<Blobs>,
        me: AuthorId,
        scope: Arc<Scope>,
        config: Arc<Config>,
    ) -> Reader {
        Reader {
            store,
            blobs,
            me,
            scope,
            config,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The node's files and images.
    pub fn blobs(&self) -> &Arc<Blobs> {
        &self.blobs
    }

    pub fn me(&self) -> AuthorId {
        self.me
    }

    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn whoami(&self) -> Result<IdView> {
        Ok(IdView {
            author: self.me,
            name: self.store.display_name(&self.me)?,
            entries: self.store.head(&self.me)?.map_or(0, |h| h.seq),
        })
    }

    pub fn feed(&self, params: &ops::Feed) -> Result<Vec<EntryView>> {
        let limit = params.limit.unwrap_or(DEFAULT_FEED_LIMIT);
        if limit > MAX_FEED_LIMIT {
            // Said, never silently cut: the caller pages with `before`.
            return Err(Error::InvalidInput(format!(
                "a page of the feed holds at most {MAX_FEED_LIMIT} posts (asked for {limit}): \
                 ask for the next page with `before` set to the last post's cursor"
            )));
        }
        let query = crate::store::FeedQuery {
            limit: limit.max(1),
            before: params.before.map(|c| (c.timestamp, c.id)),
            author: params.author.map(|a| a.resolve(self.me)),
            kind: params.kind,
            tag: params.tag.clone().filter(|t| !t.trim().is_empty()),
        };
        let mut names = std::collections::HashMap::new();
        self.store
            .feed(&query)?
            .iter()
            .map(|e| {
                let name = match names.get(&e.author()) {
                    Some(n) => Clone::clone(n),
                    None => {
                        let n = self.store.display_name(&e.author())?;
                        names.insert(e.author(), n.clone());
                        n
                    }
                };
                let mut view = entry_view_named(&self.store, e, name)?;
                if let Some(parent) = view.reply_to {
                    view.parent = self.parent_excerpt(&parent, &mut names)?;
                }
                Ok(view)
            })
            .collect()
    }

    fn parent_excerpt(
        &self,
        parent: &kith_protocol::EntryId,
        names: &mut std::collections::HashMap<kith_protocol::AuthorId, Option<String>>,
    ) -> Result<Option<crate::model::ParentExcerpt>> {
        let Some(entry) = self.store.get(parent)? else {
            return Ok(None);
        };
        let Some(Ok(kith_protocol::Body::Post(post))) = self.store.open_body(&entry) else {
            return Ok(None);
        };
        let author = entry.author();
        let author_name = match names.get(&author) {
            Some(n) => n.clone(),
            None => {
                let n = self.store.display_name(&author)?;
                names.insert(author, n.clone());
                n
            }
        };
        Ok(Some(crate::model::ParentExcerpt {
            author,
            author_name,
            excerpt: crate::model::ParentExcerpt::excerpt_of(&post.text),
        }))
    }

    pub fn trust_list(&self) -> Result<Vec<TrustView>> {
        self.store
            .trust_list()?
            .into_iter()
            .map(|r| trust_view(&self.store, r))
            .collect()
    }

    pub fn profile(&self, author: AuthorId) -> Result<ProfileView> {
        let profile = crate::store::views::profile(&self.store, &author)?;
        let trust = self.store.trust_get(&author)?;
        Ok(ProfileView {
            author,
            name: profile.as_ref().map(|p| p.name.clone()),
            about: profile.map(|p| p.about).filter(|a| !a.is_empty()),
            petname: trust.as_ref().and_then(|t| t.petname.clone()),
            display_name: self.store.display_name(&author)?,
            trusted: trust.is_some() || author == self.me,
        })
    }

    /// Authors caught signing two entries at one seq; their logs are held.
    pub fn forks(&self) -> Result<Vec<ForkView>> {
        self.store
            .forks()?
            .into_iter()
            .map(|proof| {
                Ok(ForkView {
                    author: proof.author(),
                    name: self.store.display_name(&proof.author())?,
                    seq: proof.seq(),
                    entries: [proof.first.id(), proof.second.id()],
                })
            })
            .collect()
    }

    /// This node's frontier as a file a friend can bundle against.
    pub fn frontier_file(&self) -> Result<FrontierFile> {
        let frontier: BTreeMap<AuthorId, Head> = self
            .store
            .frontier()?
            .into_iter()
            .filter(|(a, _)| self.scope.contains(a))
            .collect();
        Ok(FrontierFile::new(
            self.me,
            crate::clock::now_ms(),
            &frontier,
        ))
    }

    /// A bundle of the entries another node lacks, in memory (tests and
    /// tools; the API streams it: [`Reader::bundle_plan`] and
    /// [`Reader::write_bundle`]).
    pub fn bundle(&self, params: &ops::Bundle, progress: impl FnMut(u64, u64)) -> Result<Vec<u8>> {
        let plan = self.bundle_plan(params)?;
        let mut out = Vec::new();
        self.write_bundle(&plan, &mut out, progress)?;
        Ok(out)
    }

    pub fn wiki_list(&self, include_archived: bool) -> Result<Vec<PageSummary>> {
        let pages = crate::wiki::list(&self.store)?;
        let mut live_titles: std::collections::HashMap<String, usize> = Default::default();
        for (_, m) in pages.iter().filter(|(_, m)| !m.archived) {
            *live_titles.entry(m.title.to_lowercase()).or_default() += 1;
        }
        pages
            .into_iter()
            .filter(|(_, m)| include_archived || !m.archived)
            .filter(|(_, m)| !m.title.is_empty())
            .map(|(id, m)| {
                Ok(PageSummary {
                    id,
                    namesakes: live_titles
                        .get(&m.title.to_lowercase())
                        .copied()
                        .unwrap_or(0),
                    merged: m
                        .merged
                        .as_ref()
                        .map(|mark| merge_notice(&self.store, mark))
                        .transpose()?,
                    title: m.title,
                    archived: m.archived,
                    updated: m.updated_ms,
                    authors: m.authors,
                    chars: m.chars,
                    aliases: m.aliases,
                })
            })
            .collect()
    }

    /// Pages with concurrent edits merged within a paragraph, to review.
    pub fn pages_to_review(&self) -> Result<Vec<crate::model::PageRef>> {
        Ok(crate::wiki::list(&self.store)?
            .into_iter()
            .filter(|(_, m)| m.merged.is_some() && !m.archived)
            .map(|(id, m)| crate::model::PageRef { id, title: m.title })
            .collect())
    }

    /// Pages some of whose changes this node refused (invalid or over the
    /// limits): what status shows, since those edits will never appear.
    pub fn refused_wiki_changes(&self) -> Result<Vec<crate::model::RefusedPage>> {
        Ok(crate::wiki::list(&self.store)?
            .into_iter()
            .filter(|(_, m)| m.rejected > 0)
            .map(|(id, m)| crate::model::RefusedPage {
                page: id,
                title: Some(m.title).filter(|t| !t.is_empty()),
                refused: m.rejected,
            })
            .collect())
    }

    pub fn wiki_history(&self, name: &str) -> Result<Vec<HistoryView>> {
        let page = crate::wiki::resolve(&self.store, name)?;
        crate::wiki::history(&self.store, &page)?
            .iter()
            .map(|h| history_view(&self.store, h))
            .collect()
    }

    /// Re-verifies every stored entry, calling `progress` as it goes.
    pub fn verify(&self, progress: impl FnMut(u64)) -> Result<VerifyReport> {
        Ok(self.store.verify_with(progress)?)
    }
}

/// A page's history item as users see it.
pub fn history_view(store: &Store, h: &crate::wiki::HistoryItem) -> Result<HistoryView> {
    Ok(HistoryView {
        entry: h.entry,
        author: h.author,
        author_name: store.display_name(&h.author)?,
        timestamp: h.timestamp_ms,
        ops: h.ops,
        chars_before: h.chars_before,
        chars_after: h.chars_after,
    })
}

/// A merge mark as users see it, with names.
pub fn merge_notice(
    store: &Store,
    mark: &crate::wiki::MergeMark,
) -> Result<crate::model::MergeNotice> {
    let mut names = Vec::with_capacity(mark.authors.len());
    for a in &mark.authors {
        names.push(
            store
                .display_name(a)?
                .unwrap_or_else(|| format!("…{}", a.short())),
        );
    }
    Ok(crate::model::MergeNotice {
        authors: mark.authors.clone(),
        names,
        paragraphs: mark
            .paragraphs
            .iter()
            .map(|(index, start)| crate::model::MergedParagraph {
                index: *index,
                start: start.clone(),
            })
            .collect(),
    })
}

/// An entry as users see it.
pub fn entry_view(store: &Store, entry: &Entry) -> Result<EntryView> {
    entry_view_named(store, entry, store.display_name(&entry.author())?)
}

pub fn trust_view(store: &Store, record: TrustRecord) -> Result<TrustView> {
    let profile_name = crate::store::views::profile_name(store, &record.author)?;
    Ok(TrustView {
        author: record.author,
        petname: record.petname,
        profile_name,
        since: record.since_ms,
    })
}

/// How an entry is shown, given its author's name: opened if it is a
/// circle entry this node can read, with its circle's name.
pub fn entry_view_named(store: &Store, entry: &Entry, name: Option<String>) -> Result<EntryView> {
    let mut view = EntryView::new(entry, store.open_body(entry), name);
    view.circle = circle_label(store, &entry.id())?;
    for page in store.promoted_from(&entry.id())? {
        if let Some(meta) = crate::wiki::meta(store, &page)? {
            view.in_wiki.push(crate::model::PageRef {
                id: page,
                title: meta.title,
            });
        }
    }
    Ok(view)
}

/// The name of the circle an entry belongs to (its id if unreadable here).
pub fn circle_label(store: &Store, id: &EntryId) -> Result<Option<String>> {
    Ok(match store.circle_of_entry(id)? {
        Some(circle) => Some(
            store
                .circle_name(&circle)?
                .unwrap_or_else(|| circle.to_string()),
        ),
        None => None,
    })
}

/// The post at `author`'s place `seq`, opened if it is a circle's; `None`
/// if there is none, it was deleted or cannot be opened: what a search hit
/// is made of (the index keeps a post's words and place, not the post).
pub fn post_at(store: &Store, author: &AuthorId, seq: u64) -> Option<Found> {
    let entry = match store.entry_at(author, seq) {
        Ok(entry) => entry?,
        Err(e) => {
            // A hit the store cannot read is left out, not the whole search.
            tracing::warn!(%author, seq, error = %e, "a search hit could not be read from the store");
            return None;
        }
    };
    match store.open_body(&entry)? {
        Ok(Body::Post(post)) => Some(Found {
            id: entry.id(),
            timestamp_ms: entry.header().timestamp_ms,
            post,
        }),
        _ => None,
    }
}

/// The well-formed file references an entry's body carries (public
/// entries: a circle's files are inside its sealed bodies).
pub fn files_of(entry: &Entry) -> Vec<kith_protocol::blob::BlobRef> {
    let files = match entry.body().map(Body::decode) {
        Some(Ok(Body::Post(post))) => post.files,
        Some(Ok(Body::Files(files))) => files.files,
        _ => Vec::new(),
    };
    files.into_iter().filter(|f| f.check().is_ok()).collect()
}

/// A stored post and its body; an error if it is missing, deleted or not a post.
pub fn post_body(store: &Store, id: &EntryId) -> Result<(Entry, Post)> {
    let entry = store
        .get(id)?
        .ok_or_else(|| Error::NotFound(format!("no entry {id}")))?;
    match store.open_body(&entry) {
        Some(Ok(Body::Post(post))) => Ok((entry, post)),
        None => Err(Error::NotFound(format!("entry {id} was deleted"))),
        _ => Err(Error::InvalidInput(format!("entry {id} is not a post"))),
    }
}

/// The sync machine's view of the logs. Authors flagged for a fork are not
/// replicated until the user decides.
impl Logs for Reader {
    fn replicates(&self, author: &AuthorId) -> bool {
        // A revoked device's log is complete once it reaches its last
        // valid entry: nothing more is asked for (it is still served).
        self.serves(author)
            && match self.scope.last_seq(author) {
                Some(last) => self.head(author).is_none_or(|h| h.seq < last),
                None => true,
            }
    }

    fn serves(&self, author: &AuthorId) -> bool {
        self.scope.contains(author) && !self.store.is_flagged(author).unwrap_or(true)
    }

    fn frontier(&self) -> Vec<FrontierItem> {
        self.scope
            .ranked()
            .iter()
            .filter(|a| self.replicates(a))
            .map(|a| FrontierItem {
                author: *a,
                head: self.head(a),
            })
            .collect()
    }

    fn head(&self, author: &AuthorId) -> Option<Head> {
        self.store.head(author).ok().flatten()
    }

    fn id_at(&self, author: &AuthorId, seq: u64) -> Option<EntryId> {
        self.store
            .entry_at(author, seq)
            .ok()
            .flatten()
            .map(|e| e.id())
    }

    fn handovers(&self, from: &AuthorId) -> Vec<Entry> {
        match self.store.handovers(from) {
            Ok(entries) => entries,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read handovers");
                Vec::new()
            }
        }
    }

    fn entries_with_changes(&self, hashes: &[[u8; 32]], max_bytes: usize) -> Vec<Entry> {
        let mut out: Vec<Entry> = Vec::new();
        let mut bytes = 0;
        let mut seen = std::collections::BTreeSet::new();
        for hash in hashes {
            let ids = crate::wiki::entries_of_change(&self.store, hash).unwrap_or_default();
            for id in ids {
                if !seen.insert(id) {
                    continue;
                }
                let entry = match self.store.get(&id) {
                    Ok(Some(e)) => Some(e),
                    _ => self.store.detached_get(&id).ok().flatten(),
                };
                let Some(entry) = entry.filter(|e| e.body().is_some()) else {
                    continue;
                };
                if bytes + entry.encoded_len() > max_bytes && !out.is_empty() {
                    return out;
                }
                bytes += entry.encoded_len();
                out.push(entry);
            }
        }
        out
    }

    fn entries_after(&self, author: &AuthorId, after_seq: u64, max_bytes: usize) -> Vec<Entry> {
        let limit = self.store.limits().max_batch_entries;
        match self.store.log_batch(author, after_seq, max_bytes, limit) {
            Ok(mut entries) => {
                // A complete log ends at its last valid entry.
                if let Some(last) = self.scope.last_seq(author) {
                    entries.retain(|e| e.seq() <= last);
                }
                entries
            }
            Err(e) => {
                tracing::error!(%author, error = %e, "cannot read log for a peer");
                Vec::new()
            }
        }
    }
}
