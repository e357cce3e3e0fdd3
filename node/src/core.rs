//! The node's logic over its store, without the network: what a user can do
//! (post, read the feed, manage trust) and what arrives from peers (ingest).
//!
//! The event loop owns one `Core`; with no node running, the CLI opens one
//! directly on the store. Both paths run the same code.

use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use kith_protocol::sync::{FrontierItem, Logs};
use kith_protocol::{
    Accept, AuthorId, Body, Deletion, Endorsement, Entry, EntryId, Head, Keypair, PageId, Post,
    PostKind, Profile, TrustStatement,
};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::model::{
    AnswerView, AskOutcome, AskParams, EndorseParams, Endorser, ProfileParams, ProfileView,
    QuestionParams, QuestionView, ReplyNode, ReplyParams, ThreadView,
};
use crate::model::{BundleParams, ForkView, ImportEntriesReport, Rejected};
use crate::model::{
    EntryView, FeedParams, HistoryView, IdView, ImportItem, ImportReport, NewPage, NewPost,
    PageEdit, PageRef, PageRename, PageSummary, PageView, TrustParams, TrustView,
};
use crate::search::{Search, SearchHit, SearchParams};
use crate::store::{BatchOutcome, FeedQuery, ReindexReport, Scope, Store, VerifyReport};
use crate::wiki::{Local, Wiki};

/// Default page size of the feed.
pub const DEFAULT_FEED_LIMIT: usize = 20;
/// Largest page of the feed.
pub const MAX_FEED_LIMIT: usize = 1_000;
/// Deepest reply nesting shown in a thread.
const MAX_THREAD_DEPTH: usize = 16;
/// Words too common to say two questions are alike.
const STOP_WORDS: &[&str] = &[
    "the", "and", "for", "are", "but", "not", "you", "all", "any", "can", "had", "her", "was",
    "one", "our", "out", "has", "have", "how", "why", "what", "when", "where", "who", "which",
    "does", "did", "this", "that", "with", "from", "they", "them", "there", "their", "would",
    "could", "should", "about", "into", "than", "then", "some", "your", "just", "get", "use",
    "using", "way", "best",
];

/// Milliseconds since the Unix epoch by the system clock.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

pub struct Core {
    store: Store,
    keypair: Keypair,
    config: Config,
    scope: Scope,
    /// Own entries appended since the last [`Core::take_fresh`].
    fresh: Vec<Entry>,
    pub(crate) wiki: Wiki,
    search: Search,
    /// Pages whose search documents are stale (re-indexed at the next commit).
    dirty_pages: BTreeSet<PageId>,
    /// Automerge changes that waiting wiki changes depend on and that we
    /// lack, to be asked for from the peer that sent them.
    missing: BTreeSet<[u8; 32]>,
}

impl Core {
    /// Opens the store of `config.data_dir` as `keypair`.
    pub fn open(config: Config, keypair: Keypair) -> Result<Core> {
        let kv = crate::store::kv::KvConfig {
            cache_bytes: config.cache_bytes,
            temporary: false,
        };
        let store = Store::open(&config.data_dir.store(), &kv, config.limits.clone())?;
        let search = Search::open(Some(&config.data_dir.search_index())).map_err(search_error)?;
        Core::with_parts(config, keypair, store, search)
    }

    /// A core on `store` with an in-memory search index (tests, tools).
    pub fn with_store(config: Config, keypair: Keypair, store: Store) -> Result<Core> {
        let search = Search::open(None).map_err(search_error)?;
        Core::with_parts(config, keypair, store, search)
    }

    fn with_parts(config: Config, keypair: Keypair, store: Store, search: Search) -> Result<Core> {
        let scope = store.scope(keypair.author(), config.hops)?;
        let mut wiki = Wiki::default();
        // Materialize wiki entries stored but not yet applied (a crash
        // between the two writes).
        let report = wiki.catch_up(&store)?;
        if report.applied > 0 {
            tracing::info!(
                changes = report.applied,
                "wiki caught up with stored entries"
            );
        }
        let mut core = Core {
            store,
            keypair,
            config,
            scope,
            fresh: Vec::new(),
            wiki,
            search,
            dirty_pages: BTreeSet::new(),
            missing: report.missing,
        };
        // Index what was stored after the search index's last commit.
        let behind = core.store.arrivals_after(core.search.covered())?;
        if !behind.is_empty() {
            tracing::info!(entries = behind.len(), "search index catching up");
            let entries: Vec<Entry> = behind.into_iter().map(|(_, e)| e).collect();
            core.index_search(&entries);
            core.search_flush()?;
        }
        Ok(core)
    }

    pub fn me(&self) -> AuthorId {
        self.keypair.author()
    }

    pub fn keypair(&self) -> &Keypair {
        &self.keypair
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The authors this node replicates.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// Own entries written since the last call, for the network to publish.
    pub fn take_fresh(&mut self) -> Vec<Entry> {
        std::mem::take(&mut self.fresh)
    }

    fn refresh_scope(&mut self) -> Result<()> {
        self.scope = self.store.scope(self.me(), self.config.hops)?;
        Ok(())
    }

    /// Appends own entries in one durable write and queues them for publishing.
    pub fn append(&mut self, bodies: &[Body]) -> Result<Vec<Entry>> {
        let entries = self.store.append_many(&self.keypair, bodies, now_ms())?;
        if bodies.iter().any(|b| matches!(b, Body::Trust(_))) {
            self.refresh_scope()?;
        }
        self.index_search(&entries);
        self.fresh.extend(entries.iter().cloned());
        Ok(entries)
    }

    /// Brings the search index up to date with freshly stored entries
    /// (pages are re-indexed at the next commit).
    fn index_search(&mut self, entries: &[Entry]) {
        for entry in entries {
            let Some(Ok(body)) = entry.body().map(Body::decode) else {
                continue;
            };
            let result = match body {
                Body::Post(post) => self.search.put_post(
                    &entry.id(),
                    &entry.author(),
                    entry.header().timestamp_ms,
                    &post,
                ),
                Body::Deletion(d) => {
                    // The store honoured it only for the author's own entries.
                    if matches!(self.store.get(&d.target), Ok(Some(t)) if t.author() == entry.author() && t.body().is_none())
                    {
                        self.search.remove_post(&d.target);
                    }
                    Ok(())
                }
                Body::WikiChange(w) => {
                    self.dirty_pages.insert(w.page);
                    Ok(())
                }
                _ => Ok(()),
            };
            if let Err(e) = result {
                tracing::warn!(error = %e, "search indexing failed; `kith reindex` rebuilds the index");
            }
        }
        self.search.cover(self.store.last_arrival());
    }

    /// Re-indexes stale pages and commits the search index.
    pub fn search_flush(&mut self) -> Result<()> {
        for page in std::mem::take(&mut self.dirty_pages) {
            let Some(meta) = self.wiki.meta(&self.store, &page)? else {
                continue;
            };
            let body = self.wiki.text(&self.store, &page).unwrap_or_default();
            let last = self
                .wiki
                .history(&self.store, &page)?
                .first()
                .map(|h| h.author);
            self.search
                .put_page(
                    &page,
                    &meta.title,
                    &body,
                    last.as_ref(),
                    meta.updated_ms,
                    meta.archived,
                )
                .map_err(search_error)?;
        }
        self.search.commit().map_err(search_error)
    }

    /// Commits the search index if a second has passed since the last
    /// commit (the node's timer calls this).
    pub fn search_tick(&mut self) {
        let result = if self.dirty_pages.is_empty() {
            self.search
                .commit_if_due(std::time::Duration::from_secs(1))
                .map_err(search_error)
        } else {
            self.search_flush()
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "search commit failed");
        }
    }

    /// Materializes the wiki changes among freshly stored entries. The
    /// entries are stored whatever happens here: a refused change is logged
    /// and counted on its page, never fatal.
    fn apply_wiki(&mut self, entries: &[Entry]) {
        match self.wiki.apply(&self.store, entries) {
            Ok(report) => {
                self.missing.extend(report.missing);
                self.dirty_pages.extend(report.pages);
            }
            Err(e) => {
                tracing::error!(error = %e, "materializing wiki changes failed; `kith reindex` rebuilds pages")
            }
        }
    }

    /// Automerge changes the wiki is waiting for (cleared by the call).
    pub fn take_missing(&mut self) -> BTreeSet<[u8; 32]> {
        std::mem::take(&mut self.missing)
    }

    /// Stores wiki-change entries by authors outside the replication set,
    /// fetched because a trusted author's change depends on them. Each must
    /// be validly signed and be a wiki change; they are kept apart from the
    /// logs and applied to their pages.
    pub fn ingest_detached(&mut self, entries: &[Entry]) -> usize {
        let limits = self.store.limits().clone();
        let mut kept = Vec::new();
        for entry in entries {
            if let Err(e) = entry.verify(&limits, now_ms()) {
                tracing::warn!(id = %entry.id(), error = %e, "rejected a wiki dependency");
                continue;
            }
            if !matches!(
                entry.body().map(Body::decode),
                Some(Ok(Body::WikiChange(_)))
            ) {
                tracing::debug!(id = %entry.id(), "not a wiki change; not kept");
                continue;
            }
            // Only what a waiting change of a trusted author depends on.
            match self.wiki.is_wanted(&self.store, entry) {
                Ok(true) => {}
                Ok(false) => {
                    tracing::debug!(id = %entry.id(), "no waiting change needs this entry; not kept");
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot check a wiki dependency");
                    continue;
                }
            }
            if self.scope.contains(&entry.author()) {
                continue; // Replicated authors' entries come through their logs.
            }
            match self.store.detached_get(&entry.id()) {
                Ok(Some(_)) => continue,
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "store error");
                    continue;
                }
            }
            if let Err(e) = self.store.detached_put(entry) {
                tracing::warn!(error = %e, "cannot keep a wiki dependency");
                continue;
            }
            kept.push(entry.clone());
        }
        if !kept.is_empty() {
            self.apply_wiki(&kept);
        }
        kept.len()
    }

    /// Stores entries received from a peer.
    pub fn ingest(&mut self, entries: &[Entry]) -> BatchOutcome {
        let outcome = self.store.ingest_batch(entries, now_ms(), &self.scope);
        self.index_search(&outcome.appended);
        if outcome
            .appended
            .iter()
            .any(|e| matches!(e.body().map(Body::decode), Some(Ok(Body::WikiChange(_)))))
        {
            let appended = outcome.appended.clone();
            self.apply_wiki(&appended);
        }
        // A trusted author's vouch can widen a two-hop scope.
        if self.config.hops >= 2
            && outcome
                .appended
                .iter()
                .any(|e| matches!(e.body().map(Body::decode), Some(Ok(Body::Trust(_)))))
            && let Err(e) = self.refresh_scope()
        {
            tracing::warn!(error = %e, "could not refresh the replication scope");
        }
        outcome
    }

    /// The local logs as the sync machine sees them.
    pub fn logs(&self) -> StoreLogs<'_> {
        StoreLogs { core: self }
    }

    pub fn view(&self, entry: &Entry) -> Result<EntryView> {
        Ok(EntryView::new(
            entry,
            self.store.display_name(&entry.author())?,
        ))
    }

    pub fn parse_author(&self, text: &str) -> Result<AuthorId> {
        if text == "me" {
            return Ok(self.me());
        }
        Ok(text.parse::<AuthorId>()?)
    }

    pub fn resolve_id(&self, text: &str) -> Result<EntryId> {
        Ok(self.store.resolve_id(text)?)
    }

    // ----- user operations -----------------------------------------------------

    pub fn whoami(&self) -> Result<IdView> {
        Ok(IdView {
            author: self.me(),
            name: self.store.display_name(&self.me())?,
            entries: self.store.head(&self.me())?.map_or(0, |h| h.seq),
        })
    }

    pub fn post(&mut self, new: &NewPost) -> Result<EntryView> {
        let body = self.prepare_post(new)?;
        let entry = self.append(std::slice::from_ref(&body))?.remove(0);
        self.view(&entry)
    }

    /// Checks a new post and turns it into a body, without writing it.
    pub fn prepare_post(&self, new: &NewPost) -> Result<Body> {
        let reply_to = match &new.reply_to {
            Some(text) => {
                let id = self.resolve_id(text)?;
                if self.store.get(&id)?.is_none() {
                    return Err(Error::NotFound(format!("no entry {id} to reply to")));
                }
                Some(id)
            }
            None => None,
        };
        let body = Body::Post(Post {
            kind: new.kind,
            text: new.text.clone(),
            reply_to,
            tags: new
                .tags
                .iter()
                .map(|t| t.trim().trim_start_matches('#').to_string())
                .collect(),
        });
        body.check(self.store.limits())?;
        Ok(body)
    }

    pub fn feed(&self, params: &FeedParams) -> Result<Vec<EntryView>> {
        let before = match &params.before {
            Some(cursor) => Some(parse_cursor(cursor)?),
            None => None,
        };
        let author = match &params.author {
            Some(a) => Some(self.parse_author(a)?),
            None => None,
        };
        let query = FeedQuery {
            limit: params
                .limit
                .unwrap_or(DEFAULT_FEED_LIMIT)
                .min(MAX_FEED_LIMIT),
            before,
            author,
            kind: params.kind,
            tag: params.tag.clone(),
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
                Ok(EntryView::new(e, name))
            })
            .collect()
    }

    pub fn trust_add(&mut self, params: &TrustParams) -> Result<TrustView> {
        let author = self.parse_author(&params.author)?;
        if author == self.me() {
            return Err(Error::InvalidInput("you always trust yourself".into()));
        }
        let petname = params
            .petname
            .as_ref()
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty());
        let record = self.store.trust_add(author, petname, now_ms())?;
        self.refresh_scope()?;
        self.trust_view(record)
    }

    /// Publicly vouches for (or withdraws from) an author with a signed entry.
    pub fn vouch(&mut self, author: AuthorId, vouch: bool) -> Result<EntryView> {
        let entry = self
            .append(&[Body::Trust(TrustStatement {
                subject: author,
                vouch,
            })])?
            .remove(0);
        self.view(&entry)
    }

    pub fn trust_remove(&mut self, author: &str) -> Result<bool> {
        let author = self.parse_author(author)?;
        let removed = self.store.trust_remove(&author)?;
        self.refresh_scope()?;
        Ok(removed)
    }

    pub fn trust_list(&self) -> Result<Vec<TrustView>> {
        self.store
            .trust_list()?
            .into_iter()
            .map(|r| self.trust_view(r))
            .collect()
    }

    fn trust_view(&self, record: crate::store::TrustRecord) -> Result<TrustView> {
        let profile_name = crate::store::views::profile_name(&self.store, &record.author)?;
        Ok(TrustView {
            author: record.author,
            petname: record.petname,
            profile_name,
            since: record.since_ms,
        })
    }

    // ----- forks -------------------------------------------------------------------

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

    /// The user has decided (e.g. after talking to them): forget the fork
    /// proofs of `author` so their log replicates again.
    pub fn forks_clear(&mut self, author: &str) -> Result<usize> {
        let author = self.parse_author(author)?;
        let n = self.store.clear_fork(&author)?;
        if n == 0 {
            return Err(Error::NotFound(format!("no fork recorded for {author}")));
        }
        Ok(n)
    }

    // ----- bundles ---------------------------------------------------------------

    /// This node's frontier as a file a friend can bundle against.
    pub fn frontier_file(&self) -> Result<crate::bundle::FrontierFile> {
        let frontier: std::collections::BTreeMap<AuthorId, Head> = self
            .store
            .frontier()?
            .into_iter()
            .filter(|(a, _)| self.scope.contains(a))
            .collect();
        Ok(crate::bundle::FrontierFile::new(
            self.me(),
            now_ms(),
            &frontier,
        ))
    }

    /// A bundle of the entries another node lacks: every author this node
    /// replicates (or `authors`), after the recipient's frontier if given.
    pub fn bundle(&self, params: &BundleParams) -> Result<Vec<u8>> {
        let recipient = match &params.recipient {
            Some(r) => {
                let r = self.parse_author(r)?;
                if r != self.me() && self.store.trust_get(&r)?.is_none() {
                    return Err(Error::InvalidInput(format!(
                        "you do not trust {r}; bundles carry your circle's entries only to people you trust"
                    )));
                }
                Some(r)
            }
            None => None,
        };
        let since = match &params.since {
            Some(text) => crate::bundle::FrontierFile::parse(text)
                .and_then(|f| f.seqs())
                .map_err(|e| Error::InvalidInput(e.to_string()))?,
            None => Default::default(),
        };
        let authors: Vec<AuthorId> = if params.authors.is_empty() {
            self.scope.authors().iter().copied().collect()
        } else {
            params
                .authors
                .iter()
                .map(|a| self.parse_author(a))
                .collect::<Result<_>>()?
        };
        let mut entries = Vec::new();
        for author in authors {
            let from = since.get(&author).copied().unwrap_or(0) + 1;
            entries.extend(self.store.log(&author, from, usize::MAX)?);
        }
        let header = crate::bundle::Header {
            created_ms: now_ms(),
            from: self.me(),
            recipient,
            entries: entries.len() as u64,
        };
        Ok(crate::bundle::write(&header, &entries))
    }

    /// Imports entries from a bundle (or any source) exactly as if they came
    /// from the network: per author, in log order, each one validated.
    pub fn import_entries(&mut self, entries: &[Entry]) -> ImportEntriesReport {
        let mut report = ImportEntriesReport::default();
        let mut by_author: std::collections::BTreeMap<AuthorId, Vec<Entry>> = Default::default();
        let mut outside = Vec::new();
        for e in entries {
            if self.scope.contains(&e.author()) {
                by_author.entry(e.author()).or_default().push(e.clone());
            } else {
                outside.push(e.clone());
            }
        }
        for (_, mut log) in by_author {
            log.sort_by_key(Entry::seq);
            log.dedup_by_key(|e| e.id());
            let outcome = self.ingest(&log);
            report.appended += outcome.appended.len() as u64;
            report.duplicates += outcome.duplicates as u64;
            if let Some(e) = outcome.error {
                let done = outcome.appended.len() + outcome.duplicates;
                let at = &log[done.min(log.len() - 1)];
                report.rejected.push(Rejected {
                    author: at.author(),
                    seq: at.seq(),
                    reason: e.to_string(),
                });
            }
        }
        // Entries of other authors count only as wiki dependencies we lack.
        let kept = self.ingest_detached(&outside);
        report.dependencies = kept as u64;
        report.not_replicated = (outside.len() - kept) as u64;
        report
    }

    // ----- knowledge: search, questions, answers, endorsements -----------------

    /// Full-text search over posts and pages, ranked, with snippets.
    pub fn search(&mut self, params: &SearchParams) -> Result<Vec<SearchHit>> {
        if params.q.trim().is_empty() {
            return Err(Error::InvalidInput("give some words to search for".into()));
        }
        if let Some(kind) = &params.kind
            && !["note", "question", "answer", "wiki"].contains(&kind.as_str())
        {
            return Err(Error::InvalidInput(format!(
                "unknown kind {kind:?} (expected note, question, answer or wiki)"
            )));
        }
        let author = match &params.author {
            Some(a) => Some(self.parse_author(a)?),
            None => None,
        };
        // Pages changed since the last commit become searchable now.
        self.search_flush()?;
        let mut hits = self
            .search
            .search(params, author.as_ref())
            .map_err(search_error)?;
        for hit in &mut hits {
            if let Some(a) = hit.author {
                hit.author_name = self.store.display_name(&a)?;
            }
        }
        Ok(hits)
    }

    /// Asks a question, unless existing questions or answers look like it
    /// (then they are returned instead; `yes` posts anyway).
    pub fn ask(&mut self, params: &AskParams) -> Result<AskOutcome> {
        if !params.yes {
            let similar = self.similar_questions(&params.text)?;
            if !similar.is_empty() {
                return Ok(AskOutcome {
                    posted: None,
                    similar,
                });
            }
        }
        let posted = self.post(&NewPost {
            text: params.text.clone(),
            kind: PostKind::Question,
            reply_to: None,
            tags: params.tags.clone(),
        })?;
        Ok(AskOutcome {
            posted: Some(posted),
            similar: Vec::new(),
        })
    }

    /// Questions and answers sharing significant words with `text`.
    fn similar_questions(&mut self, text: &str) -> Result<Vec<SearchHit>> {
        let words: Vec<String> = text
            .split(|c: char| !c.is_alphanumeric())
            .map(str::to_lowercase)
            .filter(|w| w.chars().count() >= 3 && !STOP_WORDS.contains(&w.as_str()))
            .collect();
        if words.is_empty() {
            return Ok(Vec::new());
        }
        let q = words.join(" ");
        let mut hits = Vec::new();
        for kind in ["question", "answer"] {
            hits.extend(self.search(&SearchParams {
                q: q.clone(),
                kind: Some(kind.into()),
                limit: Some(5),
                ..Default::default()
            })?);
        }
        hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        hits.truncate(5);
        Ok(hits)
    }

    fn post_body(&self, id: &EntryId) -> Result<(Entry, Post)> {
        let entry = self
            .store
            .get(id)?
            .ok_or_else(|| Error::NotFound(format!("no entry {id}")))?;
        match entry.body().map(Body::decode) {
            Some(Ok(Body::Post(post))) => Ok((entry, post)),
            None => Err(Error::NotFound(format!("entry {id} was deleted"))),
            _ => Err(Error::InvalidInput(format!("entry {id} is not a post"))),
        }
    }

    /// Answers a question.
    pub fn answer(&mut self, question: &str, reply: &ReplyParams) -> Result<EntryView> {
        let id = self.resolve_id(question)?;
        let (_, post) = self.post_body(&id)?;
        if post.kind != PostKind::Question {
            return Err(Error::InvalidInput(format!(
                "{id} is a {}, not a question; use `kith reply` to reply to it",
                post.kind
            )));
        }
        self.post(&NewPost {
            text: reply.text.clone(),
            kind: PostKind::Answer,
            reply_to: Some(id.to_hex()),
            tags: reply.tags.clone(),
        })
    }

    /// Replies to any post.
    pub fn reply(&mut self, target: &str, reply: &ReplyParams) -> Result<EntryView> {
        let id = self.resolve_id(target)?;
        self.post_body(&id)?;
        self.post(&NewPost {
            text: reply.text.clone(),
            kind: PostKind::Note,
            reply_to: Some(id.to_hex()),
            tags: reply.tags.clone(),
        })
    }

    /// Endorses an entry (one endorsement per author per entry), or
    /// withdraws an earlier endorsement.
    pub fn endorse(&mut self, target: &str, params: &EndorseParams) -> Result<EntryView> {
        let id = self.resolve_id(target)?;
        let (entry, _) = self.post_body(&id)?;
        if entry.author() == self.me() && !params.withdraw {
            return Err(Error::InvalidInput(
                "you cannot endorse your own post".into(),
            ));
        }
        let current = self
            .store
            .endorsements(&id)?
            .into_iter()
            .any(|(a, _)| a == self.me());
        if params.withdraw && !current {
            return Err(Error::InvalidInput(format!("you have not endorsed {id}")));
        }
        if !params.withdraw && current {
            return Err(Error::InvalidInput(format!(
                "you already endorsed {id} (withdraw with `kith endorse {} --withdraw`)",
                &id.to_hex()[..12]
            )));
        }
        let note = params
            .note
            .as_ref()
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty());
        let entry = self
            .append(&[Body::Endorsement(Endorsement {
                target: id,
                note,
                withdraw: params.withdraw,
            })])?
            .remove(0);
        self.view(&entry)
    }

    /// Marks an answer to one's own question accepted (or withdraws that).
    pub fn accept(&mut self, answer: &str, withdraw: bool) -> Result<EntryView> {
        let id = self.resolve_id(answer)?;
        let (_, post) = self.post_body(&id)?;
        let question = match (post.kind, post.reply_to) {
            (PostKind::Answer, Some(q)) => q,
            _ => return Err(Error::InvalidInput(format!("{id} is not an answer"))),
        };
        let (q_entry, _) = self.post_body(&question)?;
        if q_entry.author() != self.me() {
            return Err(Error::InvalidInput(
                "only the question's author can accept an answer".into(),
            ));
        }
        let current = self.store.accepted_by(&question, &self.me())?;
        if withdraw && current != Some(id) {
            return Err(Error::InvalidInput(format!(
                "{id} is not the accepted answer"
            )));
        }
        let entry = self
            .append(&[Body::Accept(Accept {
                question,
                answer: (!withdraw).then_some(id),
            })])?
            .remove(0);
        self.view(&entry)
    }

    /// How much an endorsement by `author` counts for this node: 1.0 for me
    /// and authors I trust, 0.5 for authors they vouch for, 0 otherwise.
    fn weights(&self) -> Result<impl Fn(&AuthorId) -> f64 + use<>> {
        let mut direct: BTreeSet<AuthorId> = self
            .store
            .trust_list()?
            .into_iter()
            .map(|t| t.author)
            .collect();
        direct.insert(self.me());
        let mut two_hops = BTreeSet::new();
        for a in &direct {
            if *a != self.me() {
                two_hops.extend(self.store.vouched_by(a)?);
            }
        }
        Ok(move |a: &AuthorId| {
            if direct.contains(a) {
                1.0
            } else if two_hops.contains(a) {
                0.5
            } else {
                0.0
            }
        })
    }

    fn endorsers(
        &self,
        id: &EntryId,
        weight: &impl Fn(&AuthorId) -> f64,
    ) -> Result<(f64, Vec<Endorser>)> {
        let mut out = Vec::new();
        for (author, e) in self.store.endorsements(id)? {
            // An endorsement whose entry was deleted no longer counts.
            if self
                .store
                .get(&e.entry)?
                .is_some_and(|x| x.body().is_none())
            {
                continue;
            }
            out.push(Endorser {
                author,
                name: self.store.display_name(&author)?,
                weight: weight(&author),
                note: e.note,
                timestamp: e.timestamp_ms,
            });
        }
        out.sort_by(|a, b| {
            b.weight
                .total_cmp(&a.weight)
                .then(a.timestamp.cmp(&b.timestamp))
        });
        let score = out.iter().fold(0.0, |sum, e| sum + e.weight);
        Ok((score, out))
    }

    fn reply_tree(
        &self,
        id: &EntryId,
        weight: &impl Fn(&AuthorId) -> f64,
        depth: usize,
    ) -> Result<Vec<ReplyNode>> {
        let mut out = Vec::new();
        if depth > MAX_THREAD_DEPTH {
            return Ok(out);
        }
        for (child, is_answer) in self.store.replies(id)? {
            if is_answer {
                continue;
            }
            let Some(entry) = self.store.get(&child)? else {
                continue;
            };
            let (score, endorsed_by) = self.endorsers(&child, weight)?;
            out.push(ReplyNode {
                entry: self.view(&entry)?,
                score,
                endorsed_by,
                replies: self.reply_tree(&child, weight, depth + 1)?,
            });
        }
        Ok(out)
    }

    /// A post with its answers, ranked, and its replies, as a tree. Given a
    /// reply or answer, the thread of the post it belongs to is shown.
    pub fn thread(&self, target: &str) -> Result<ThreadView> {
        let mut id = self.resolve_id(target)?;
        let mut root = self
            .store
            .get(&id)?
            .ok_or_else(|| Error::NotFound(format!("no entry {id}")))?;
        for _ in 0..MAX_THREAD_DEPTH {
            let Some(Ok(Body::Post(Post {
                reply_to: Some(parent),
                ..
            }))) = root.body().map(Body::decode)
            else {
                break;
            };
            let Some(up) = self.store.get(&parent)? else {
                break;
            };
            id = parent;
            root = up;
        }
        let weight = self.weights()?;
        let accepted = self.store.accepted_by(&id, &root.author())?;
        let mut answers = Vec::new();
        for (child, is_answer) in self.store.replies(&id)? {
            if !is_answer {
                continue;
            }
            let Some(entry) = self.store.get(&child)? else {
                continue;
            };
            let (score, endorsed_by) = self.endorsers(&child, &weight)?;
            answers.push(AnswerView {
                entry: self.view(&entry)?,
                score,
                endorsed_by,
                accepted: accepted == Some(child),
                replies: self.reply_tree(&child, &weight, 1)?,
            });
        }
        answers.sort_by(|a, b| {
            b.accepted
                .cmp(&a.accepted)
                .then(b.score.total_cmp(&a.score))
                .then(a.entry.timestamp.cmp(&b.entry.timestamp))
                .then(a.entry.id.cmp(&b.entry.id))
        });
        let (score, endorsed_by) = self.endorsers(&id, &weight)?;
        Ok(ThreadView {
            entry: self.view(&root)?,
            score,
            endorsed_by,
            answers,
            replies: self.reply_tree(&id, &weight, 1)?,
        })
    }

    /// Questions, newest first, with how many answers they have.
    pub fn questions(&self, params: &QuestionParams) -> Result<Vec<QuestionView>> {
        let limit = params
            .limit
            .unwrap_or(DEFAULT_FEED_LIMIT)
            .min(MAX_FEED_LIMIT);
        let mut out = Vec::new();
        let mut before = None;
        // Page through the feed until enough questions pass the filters.
        loop {
            let page = self.store.feed(&FeedQuery {
                limit: 200,
                before,
                author: None,
                kind: Some(PostKind::Question),
                tag: params.tag.clone(),
            })?;
            let Some(last) = page.last() else { break };
            before = Some((last.header().timestamp_ms, last.id()));
            for entry in &page {
                let answers = self
                    .store
                    .replies(&entry.id())?
                    .iter()
                    .filter(|(_, a)| *a)
                    .count();
                if params.unanswered && answers > 0 {
                    continue;
                }
                let accepted = self
                    .store
                    .accepted_by(&entry.id(), &entry.author())?
                    .is_some();
                out.push(QuestionView {
                    entry: self.view(entry)?,
                    answers,
                    accepted,
                });
                if out.len() >= limit {
                    return Ok(out);
                }
            }
        }
        Ok(out)
    }

    // ----- profiles and deletion ------------------------------------------------

    /// Publishes my profile; returns the profile entry.
    pub fn profile_set(&mut self, params: &ProfileParams) -> Result<EntryView> {
        let entry = self
            .append(&[Body::Profile(Profile {
                name: params.name.trim().to_string(),
                about: params.about.trim().to_string(),
            })])?
            .remove(0);
        self.view(&entry)
    }

    pub fn profile(&self, author: &str) -> Result<ProfileView> {
        let author = self.parse_author(author)?;
        let profile = crate::store::views::profile(&self.store, &author)?;
        let trust = self.store.trust_get(&author)?;
        Ok(ProfileView {
            author,
            name: profile.as_ref().map(|p| p.name.clone()),
            about: profile.map(|p| p.about).filter(|a| !a.is_empty()),
            petname: trust.as_ref().and_then(|t| t.petname.clone()),
            display_name: self.store.display_name(&author)?,
            trusted: trust.is_some() || author == self.me(),
        })
    }

    /// Publishes a deletion request for one of my own entries: every node
    /// that replicates me drops its body and hides it.
    pub fn delete(&mut self, target: &str) -> Result<EntryView> {
        let id = self.resolve_id(target)?;
        let entry = self
            .store
            .get(&id)?
            .ok_or_else(|| Error::NotFound(format!("no entry {id}")))?;
        if entry.author() != self.me() {
            return Err(Error::InvalidInput(
                "you can only delete your own entries".into(),
            ));
        }
        match entry.body().map(Body::decode) {
            None => return Err(Error::InvalidInput(format!("{id} is already deleted"))),
            Some(Ok(Body::WikiChange(_))) => {
                return Err(Error::InvalidInput(
                    "wiki edits cannot be deleted (pages would break); edit or archive the page"
                        .into(),
                ));
            }
            Some(Ok(Body::Deletion(_))) => {
                return Err(Error::InvalidInput(
                    "a deletion cannot itself be deleted".into(),
                ));
            }
            _ => {}
        }
        let entry = self
            .append(&[Body::Deletion(Deletion { target: id })])?
            .remove(0);
        self.view(&entry)
    }

    // ----- wiki --------------------------------------------------------------

    /// A page by id, id prefix or title.
    pub fn wiki_resolve(&self, name: &str) -> Result<PageId> {
        Ok(self.wiki.resolve(&self.store, name)?)
    }

    /// Signs and stores locally made changes of a page, then records them
    /// in the page's views. If storing fails the page's in-memory document is
    /// dropped, so the unsaved changes vanish with it.
    fn wiki_commit(&mut self, local: Local) -> Result<Vec<Entry>> {
        if local.is_empty() {
            return Ok(Vec::new());
        }
        let page = local.page;
        let (bodies, groups): (Vec<Body>, Vec<Vec<usize>>) = crate::wiki::bodies_with_groups(
            page,
            &local.bytes(),
            self.store.limits().max_body_bytes,
        )
        .into_iter()
        .unzip();
        let entries = match self.append(&bodies) {
            Ok(entries) => entries,
            Err(e) => {
                self.wiki.discard(&page);
                return Err(e);
            }
        };
        self.dirty_pages.insert(page);
        if let Err(e) = self
            .wiki
            .record_local(&self.store, &local, &groups, &entries)
        {
            // The entries are stored; `reindex` (or the next start) rebuilds the page.
            tracing::error!(error = %e, "recording a wiki edit failed");
            self.wiki.discard(&page);
        }
        Ok(entries)
    }

    pub fn wiki_new(&mut self, new: &NewPage) -> Result<PageView> {
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).map_err(|e| Error::Io(format!("no randomness: {e}")))?;
        let page = PageId(id);
        let me = self.me();
        let local = self
            .wiki
            .create(&self.store, &me, page, &new.title, &new.body)?;
        self.wiki_commit(local)?;
        self.page_view(&page)
    }

    pub fn wiki_edit(&mut self, name: &str, edit: &PageEdit) -> Result<PageView> {
        let page = self.wiki_resolve(name)?;
        let me = self.me();
        let local = match &edit.base {
            Some(base) => {
                let base = base
                    .iter()
                    .map(|h| h.parse::<automerge::ChangeHash>())
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|e| Error::InvalidInput(format!("bad base version: {e}")))?;
                self.wiki
                    .edit_since(&self.store, &me, &page, &base, &edit.body)?
            }
            None => self.wiki.edit(&self.store, &me, &page, &edit.body)?,
        };
        self.wiki_commit(local)?;
        self.page_view(&page)
    }

    /// Applies splices `(pos, delete, insert)` to a page's body, one
    /// Automerge change each, stored in as few entries as fit.
    pub fn wiki_splices(
        &mut self,
        page: &PageId,
        splices: &[(usize, usize, String)],
    ) -> Result<Vec<Entry>> {
        let me = self.me();
        let local = self.wiki.splices(&self.store, &me, page, splices)?;
        self.wiki_commit(local)
    }

    pub fn wiki_rename(&mut self, name: &str, rename: &PageRename) -> Result<PageView> {
        let page = self.wiki_resolve(name)?;
        let me = self.me();
        let local = self.wiki.rename(&self.store, &me, &page, &rename.title)?;
        self.wiki_commit(local)?;
        self.page_view(&page)
    }

    /// Archives (deletes, restorably) or restores a page.
    pub fn wiki_archive(&mut self, name: &str, archived: bool) -> Result<PageView> {
        let page = self.wiki_resolve(name)?;
        let me = self.me();
        let local = self.wiki.set_archived(&self.store, &me, &page, archived)?;
        self.wiki_commit(local)?;
        self.page_view(&page)
    }

    pub fn wiki_show(&mut self, name: &str) -> Result<PageView> {
        let page = self.wiki_resolve(name)?;
        self.page_view(&page)
    }

    fn page_view(&mut self, page: &PageId) -> Result<PageView> {
        let meta = self
            .wiki
            .meta(&self.store, page)?
            .ok_or_else(|| Error::NotFound(format!("no page {page}")))?;
        let body = self.wiki.text(&self.store, page)?;
        let heads = self
            .wiki
            .heads(&self.store, page)?
            .iter()
            .map(ToString::to_string)
            .collect();
        let mut backlinks = Vec::new();
        for source in self.wiki.backlinks(&self.store, &meta.title)? {
            if source == *page {
                continue;
            }
            if let Some(m) = self.wiki.meta(&self.store, &source)?
                && !m.archived
            {
                backlinks.push(PageRef {
                    id: source,
                    title: m.title,
                });
            }
        }
        let mut author_names = std::collections::BTreeMap::new();
        for a in &meta.authors {
            if let Some(name) = self.store.display_name(a)? {
                author_names.insert(a.to_string(), name);
            }
        }
        Ok(PageView {
            id: *page,
            title: meta.title,
            body,
            authors: meta.authors,
            author_names,
            created: meta.created_ms,
            updated: meta.updated_ms,
            archived: meta.archived,
            backlinks,
            changes: meta.changes,
            waiting: meta.waiting,
            rejected: meta.rejected,
            heads,
        })
    }

    pub fn wiki_list(&self, include_archived: bool) -> Result<Vec<PageSummary>> {
        Ok(self
            .wiki
            .list(&self.store)?
            .into_iter()
            .filter(|(_, m)| include_archived || !m.archived)
            .filter(|(_, m)| !m.title.is_empty())
            .map(|(id, m)| PageSummary {
                id,
                title: m.title,
                archived: m.archived,
                updated: m.updated_ms,
                authors: m.authors,
                chars: m.chars,
            })
            .collect())
    }

    pub fn wiki_history(&self, name: &str) -> Result<Vec<HistoryView>> {
        let page = self.wiki_resolve(name)?;
        self.wiki
            .history(&self.store, &page)?
            .into_iter()
            .map(|h| {
                Ok(HistoryView {
                    entry: h.entry,
                    author: h.author,
                    author_name: self.store.display_name(&h.author)?,
                    timestamp: h.timestamp_ms,
                    ops: h.ops,
                    chars_before: h.chars_before,
                    chars_after: h.chars_after,
                })
            })
            .collect()
    }

    /// The page as a standard `.automerge` document.
    pub fn wiki_automerge(&mut self, name: &str) -> Result<Vec<u8>> {
        let page = self.wiki_resolve(name)?;
        Ok(self.wiki.save(&self.store, &page)?)
    }

    /// Every live page, for export.
    pub fn wiki_export(&mut self) -> Result<Vec<PageView>> {
        let pages: Vec<PageId> = self.wiki_list(false)?.into_iter().map(|p| p.id).collect();
        pages.iter().map(|p| self.page_view(p)).collect()
    }

    /// Creates or updates pages from imported markdown. A page is matched by
    /// the id in its front matter, else by title; a match is updated in place
    /// (by minimal splices), so importing twice changes nothing.
    pub fn wiki_import(&mut self, items: &[ImportItem]) -> Result<ImportReport> {
        let mut report = ImportReport::default();
        for item in items {
            let by_id = item
                .id
                .as_deref()
                .and_then(|id| id.parse::<PageId>().ok())
                .filter(|p| self.wiki.meta(&self.store, p).ok().flatten().is_some());
            let existing = match by_id {
                Some(p) => Some(p),
                None => match self.wiki.resolve(&self.store, &item.title) {
                    Ok(p) => Some(p),
                    Err(crate::wiki::Error::NoPage(_)) => None,
                    Err(e) => return Err(e.into()),
                },
            };
            match existing {
                None => {
                    let view = self.wiki_new(&NewPage {
                        title: item.title.clone(),
                        body: item.body.clone(),
                    })?;
                    report.created.push(PageRef {
                        id: view.id,
                        title: view.title,
                    });
                }
                Some(page) => {
                    let meta = self.wiki.meta(&self.store, &page)?.unwrap_or_default();
                    let me = self.me();
                    let mut changed = false;
                    if meta.archived {
                        let local = self.wiki.set_archived(&self.store, &me, &page, false)?;
                        self.wiki_commit(local)?;
                        changed = true;
                    }
                    if meta.title != item.title.trim() {
                        let local = self.wiki.rename(&self.store, &me, &page, &item.title)?;
                        self.wiki_commit(local)?;
                        changed = true;
                    }
                    if self.wiki.text(&self.store, &page)? != item.body {
                        let local = self.wiki.edit(&self.store, &me, &page, &item.body)?;
                        changed |= !local.is_empty();
                        self.wiki_commit(local)?;
                    }
                    let entry = PageRef {
                        id: page,
                        title: item.title.trim().to_string(),
                    };
                    if changed {
                        report.updated.push(entry);
                    } else {
                        report.unchanged.push(entry);
                    }
                }
            }
        }
        Ok(report)
    }

    /// Makes everything durable and compact before the node stops.
    pub fn close(&mut self) -> Result<()> {
        if let Err(e) = self.wiki.compact_all(&self.store) {
            tracing::warn!(error = %e, "compacting wiki pages at shutdown failed");
        }
        if let Err(e) = self.search_flush() {
            tracing::warn!(error = %e, "committing the search index at shutdown failed");
        }
        Ok(self.store.flush()?)
    }

    pub fn reindex(&mut self) -> Result<ReindexReport> {
        let report = self.store.reindex()?;
        self.refresh_scope()?;
        self.wiki.clear();
        let detached = self.store.detached_all()?;
        self.wiki.apply(&self.store, &detached)?;
        let wiki = self.wiki.catch_up(&self.store)?;
        self.missing = wiki.missing;
        // The search index is a view too: rebuild it from the entries and pages.
        self.search.clear().map_err(search_error)?;
        let all: Vec<Entry> = self
            .store
            .arrivals_after(0)?
            .into_iter()
            .map(|(_, e)| e)
            .collect();
        self.index_search(&all);
        let pages: Vec<PageId> = self
            .wiki
            .list(&self.store)?
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        self.dirty_pages.extend(pages);
        self.search_flush()?;
        self.store.flush()?;
        Ok(report)
    }

    pub fn verify(&self) -> Result<VerifyReport> {
        Ok(self.store.verify()?)
    }
}

/// [`Logs`] over the store and scope, for the sync machine. Authors flagged
/// for a fork are not replicated until the user decides.
pub struct StoreLogs<'a> {
    core: &'a Core,
}

impl Logs for StoreLogs<'_> {
    fn replicates(&self, author: &AuthorId) -> bool {
        self.core.scope.contains(author) && !self.core.store.is_flagged(author).unwrap_or(true)
    }

    fn frontier(&self) -> Vec<FrontierItem> {
        self.core
            .scope
            .authors()
            .iter()
            .filter(|a| self.replicates(a))
            .map(|a| FrontierItem {
                author: *a,
                head: self.head(a),
            })
            .collect()
    }

    fn head(&self, author: &AuthorId) -> Option<Head> {
        self.core.store.head(author).ok().flatten()
    }

    fn id_at(&self, author: &AuthorId, seq: u64) -> Option<EntryId> {
        self.core
            .store
            .entry_at(author, seq)
            .ok()
            .flatten()
            .map(|e| e.id())
    }

    fn entries_with_changes(&self, hashes: &[[u8; 32]], max_bytes: usize) -> Vec<Entry> {
        let mut out: Vec<Entry> = Vec::new();
        let mut bytes = 0;
        let mut seen = BTreeSet::new();
        for hash in hashes {
            let ids = self
                .core
                .wiki
                .entries_of_change(&self.core.store, hash)
                .unwrap_or_default();
            for id in ids {
                if !seen.insert(id) {
                    continue;
                }
                let entry = match self.core.store.get(&id) {
                    Ok(Some(e)) => Some(e),
                    _ => self.core.store.detached_get(&id).ok().flatten(),
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
        let limit = self.core.store.limits().max_batch_entries;
        match self
            .core
            .store
            .log_batch(author, after_seq, max_bytes, limit)
        {
            Ok(entries) => entries,
            Err(e) => {
                tracing::error!(%author, error = %e, "cannot read log for a peer");
                Vec::new()
            }
        }
    }
}

fn search_error(e: crate::search::Error) -> Error {
    Error::Io(e.to_string())
}

#[cfg(test)]
mod tests;

fn parse_cursor(cursor: &str) -> Result<(u64, EntryId)> {
    let bad = || Error::InvalidInput(format!("bad cursor {cursor:?} (expected TIMESTAMP-ID)"));
    let (ts, id) = cursor.split_once('-').ok_or_else(bad)?;
    Ok((
        ts.parse().map_err(|_| bad())?,
        id.parse().map_err(|_| bad())?,
    ))
}
