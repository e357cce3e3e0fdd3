//! The node's logic over its store, without the network: what a user can do
//! (post, read the feed, manage trust) and what arrives from peers (ingest).
//!
//! The event loop owns one `Core`; with no node running, the CLI opens one
//! directly on the store. Both paths run the same code.

use std::time::{SystemTime, UNIX_EPOCH};

use kith_protocol::sync::{FrontierItem, Logs};
use kith_protocol::{AuthorId, Body, Entry, EntryId, Head, Keypair, Post, TrustStatement};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::model::{EntryView, FeedParams, IdView, NewPost, TrustParams, TrustView};
use crate::store::{BatchOutcome, FeedQuery, ReindexReport, Scope, Store, VerifyReport};

/// Default page size of the feed.
pub const DEFAULT_FEED_LIMIT: usize = 20;
/// Largest page of the feed.
pub const MAX_FEED_LIMIT: usize = 1_000;

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
}

impl Core {
    /// Opens the store of `config.data_dir` as `keypair`.
    pub fn open(config: Config, keypair: Keypair) -> Result<Core> {
        let kv = crate::store::kv::KvConfig {
            cache_bytes: config.cache_bytes,
            temporary: false,
        };
        let store = Store::open(&config.data_dir.store(), &kv, config.limits.clone())?;
        Core::with_store(config, keypair, store)
    }

    pub fn with_store(config: Config, keypair: Keypair, store: Store) -> Result<Core> {
        let scope = store.scope(keypair.author(), config.hops)?;
        Ok(Core {
            store,
            keypair,
            config,
            scope,
            fresh: Vec::new(),
        })
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
        self.fresh.extend(entries.iter().cloned());
        Ok(entries)
    }

    /// Stores entries received from a peer.
    pub fn ingest(&mut self, entries: &[Entry]) -> BatchOutcome {
        let outcome = self.store.ingest_batch(entries, now_ms(), &self.scope);
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

    pub fn reindex(&mut self) -> Result<ReindexReport> {
        let report = self.store.reindex()?;
        self.refresh_scope()?;
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

fn parse_cursor(cursor: &str) -> Result<(u64, EntryId)> {
    let bad = || Error::InvalidInput(format!("bad cursor {cursor:?} (expected TIMESTAMP-ID)"));
    let (ts, id) = cursor.split_once('-').ok_or_else(bad)?;
    Ok((
        ts.parse().map_err(|_| bad())?,
        id.parse().map_err(|_| bad())?,
    ))
}
