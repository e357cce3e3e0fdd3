//! How a command reaches the node: through the API of a running node on the
//! same data dir, or, with none running, directly on the store.

use anyhow::{Context, Result, bail};
use kith_node::api::Client;
use kith_node::model::{
    AskOutcome, AskParams, EndorseParams, ProfileParams, ProfileView, QuestionParams, QuestionView,
    ReplyParams, ThreadView,
};
use kith_node::model::{
    EntryView, FeedParams, IdView, InviteView, JoinParams, NewPost, PeerView, StatusView,
    TrustParams, TrustView,
};
use kith_node::model::{
    HistoryView, ImportItem, ImportReport, NewPage, PageEdit, PageRename, PageSummary, PageView,
};
use kith_node::search::{SearchHit, SearchParams};
use kith_node::store::{ReindexReport, VerifyReport};
use kith_node::{Config, Core, DataDir, identity};

pub enum Backend {
    /// A node is running: go through its API.
    Api(Client),
    /// No node running: work on the store directly.
    Direct(Box<Core>),
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Backend::Direct(core) = self
            && let Err(e) = core.close()
        {
            eprintln!("warning: closing the store: {e}");
        }
    }
}

/// Said when a command needs the network and no node runs.
const NEEDS_NODE: &str = "no node is running on this data dir: start one with `kith up`";

impl Backend {
    /// Connects to the node of `data_dir`: its API if it runs, else the store.
    pub fn connect(data_dir: &DataDir) -> Result<Backend> {
        if let Some(client) = Client::discover(data_dir)? {
            return Ok(Backend::Api(client));
        }
        let config = Config::load(data_dir.clone())?;
        let keypair = identity::load(&data_dir.identity())?;
        let core = Core::open(config, keypair)
            .with_context(|| format!("opening the store in {}", data_dir.path().display()))?;
        Ok(Backend::Direct(Box::new(core)))
    }

    /// The API of the running node; an error if none runs.
    pub fn running(data_dir: &DataDir) -> Result<Client> {
        match Client::discover(data_dir)? {
            Some(client) => Ok(client),
            None => bail!(NEEDS_NODE),
        }
    }

    pub fn whoami(&mut self) -> Result<IdView> {
        Ok(match self {
            Backend::Api(c) => c.whoami()?,
            Backend::Direct(core) => core.whoami()?,
        })
    }

    pub fn post(&mut self, post: &NewPost) -> Result<EntryView> {
        Ok(match self {
            Backend::Api(c) => c.post_entry(post)?,
            Backend::Direct(core) => core.post(post)?,
        })
    }

    pub fn feed(&mut self, params: &FeedParams) -> Result<Vec<EntryView>> {
        Ok(match self {
            Backend::Api(c) => c.feed(params)?,
            Backend::Direct(core) => core.feed(params)?,
        })
    }

    pub fn trust_add(&mut self, params: &TrustParams) -> Result<TrustView> {
        Ok(match self {
            Backend::Api(c) => c.trust_add(params)?,
            Backend::Direct(core) => core.trust_add(params)?,
        })
    }

    pub fn trust_remove(&mut self, author: &str) -> Result<bool> {
        Ok(match self {
            Backend::Api(c) => c.trust_remove(author)?,
            Backend::Direct(core) => core.trust_remove(author)?,
        })
    }

    pub fn trust_list(&mut self) -> Result<Vec<TrustView>> {
        Ok(match self {
            Backend::Api(c) => c.trust_list()?,
            Backend::Direct(core) => core.trust_list()?,
        })
    }

    pub fn verify(&mut self) -> Result<VerifyReport> {
        Ok(match self {
            Backend::Api(c) => c.verify()?,
            Backend::Direct(core) => core.verify()?,
        })
    }

    pub fn reindex(&mut self) -> Result<ReindexReport> {
        Ok(match self {
            Backend::Api(c) => c.reindex()?,
            Backend::Direct(core) => core.reindex()?,
        })
    }

    pub fn forks(&mut self) -> Result<Vec<kith_node::model::ForkView>> {
        Ok(match self {
            Backend::Api(c) => c.forks()?,
            Backend::Direct(core) => core.forks()?,
        })
    }

    pub fn forks_clear(&mut self, author: &str) -> Result<usize> {
        Ok(match self {
            Backend::Api(c) => c.forks_clear(author)?,
            Backend::Direct(core) => core.forks_clear(author)?,
        })
    }

    pub fn frontier_file(&mut self) -> Result<kith_node::bundle::FrontierFile> {
        Ok(match self {
            Backend::Api(c) => c.frontier_file()?,
            Backend::Direct(core) => core.frontier_file()?,
        })
    }

    pub fn bundle(&mut self, params: &kith_node::model::BundleParams) -> Result<Vec<u8>> {
        Ok(match self {
            Backend::Api(c) => c.bundle(params)?,
            Backend::Direct(core) => core.bundle(params)?,
        })
    }

    pub fn import_entries(
        &mut self,
        entries: &[kith_protocol::Entry],
    ) -> Result<kith_node::model::ImportEntriesReport> {
        Ok(match self {
            Backend::Api(c) => c.import_entries(entries)?,
            Backend::Direct(core) => core.import_entries(entries),
        })
    }

    pub fn search(&mut self, params: &SearchParams) -> Result<Vec<SearchHit>> {
        Ok(match self {
            Backend::Api(c) => c.search(params)?,
            Backend::Direct(core) => core.search(params)?,
        })
    }

    pub fn ask(&mut self, params: &AskParams) -> Result<AskOutcome> {
        Ok(match self {
            Backend::Api(c) => c.ask(params)?,
            Backend::Direct(core) => core.ask(params)?,
        })
    }

    pub fn answer(&mut self, id: &str, reply: &ReplyParams) -> Result<EntryView> {
        Ok(match self {
            Backend::Api(c) => c.answer(id, reply)?,
            Backend::Direct(core) => core.answer(id, reply)?,
        })
    }

    pub fn reply(&mut self, id: &str, reply: &ReplyParams) -> Result<EntryView> {
        Ok(match self {
            Backend::Api(c) => c.reply(id, reply)?,
            Backend::Direct(core) => core.reply(id, reply)?,
        })
    }

    pub fn thread(&mut self, id: &str) -> Result<ThreadView> {
        Ok(match self {
            Backend::Api(c) => c.thread(id)?,
            Backend::Direct(core) => core.thread(id)?,
        })
    }

    pub fn questions(&mut self, params: &QuestionParams) -> Result<Vec<QuestionView>> {
        Ok(match self {
            Backend::Api(c) => c.questions(params)?,
            Backend::Direct(core) => core.questions(params)?,
        })
    }

    pub fn endorse(&mut self, id: &str, params: &EndorseParams) -> Result<EntryView> {
        Ok(match self {
            Backend::Api(c) => c.endorse(id, params)?,
            Backend::Direct(core) => core.endorse(id, params)?,
        })
    }

    pub fn accept(&mut self, id: &str, withdraw: bool) -> Result<EntryView> {
        Ok(match self {
            Backend::Api(c) => c.accept(id, withdraw)?,
            Backend::Direct(core) => core.accept(id, withdraw)?,
        })
    }

    pub fn delete(&mut self, id: &str) -> Result<EntryView> {
        Ok(match self {
            Backend::Api(c) => c.delete_entry(id)?,
            Backend::Direct(core) => core.delete(id)?,
        })
    }

    pub fn profile(&mut self, author: &str) -> Result<ProfileView> {
        Ok(match self {
            Backend::Api(c) => c.profile(author)?,
            Backend::Direct(core) => core.profile(author)?,
        })
    }

    pub fn profile_set(&mut self, params: &ProfileParams) -> Result<EntryView> {
        Ok(match self {
            Backend::Api(c) => c.profile_set(params)?,
            Backend::Direct(core) => core.profile_set(params)?,
        })
    }

    pub fn wiki_new(&mut self, page: &NewPage) -> Result<PageView> {
        Ok(match self {
            Backend::Api(c) => c.wiki_new(page)?,
            Backend::Direct(core) => core.wiki_new(page)?,
        })
    }

    pub fn wiki_edit(&mut self, name: &str, edit: &PageEdit) -> Result<PageView> {
        Ok(match self {
            Backend::Api(c) => c.wiki_edit(name, edit)?,
            Backend::Direct(core) => core.wiki_edit(name, edit)?,
        })
    }

    pub fn wiki_show(&mut self, name: &str) -> Result<PageView> {
        Ok(match self {
            Backend::Api(c) => c.wiki_show(name)?,
            Backend::Direct(core) => core.wiki_show(name)?,
        })
    }

    pub fn wiki_list(&mut self, include_archived: bool) -> Result<Vec<PageSummary>> {
        Ok(match self {
            Backend::Api(c) => c.wiki_list(include_archived)?,
            Backend::Direct(core) => core.wiki_list(include_archived)?,
        })
    }

    pub fn wiki_history(&mut self, name: &str) -> Result<Vec<HistoryView>> {
        Ok(match self {
            Backend::Api(c) => c.wiki_history(name)?,
            Backend::Direct(core) => core.wiki_history(name)?,
        })
    }

    pub fn wiki_rename(&mut self, name: &str, rename: &PageRename) -> Result<PageView> {
        Ok(match self {
            Backend::Api(c) => c.wiki_rename(name, rename)?,
            Backend::Direct(core) => core.wiki_rename(name, rename)?,
        })
    }

    pub fn wiki_archive(&mut self, name: &str, archived: bool) -> Result<PageView> {
        Ok(match self {
            Backend::Api(c) => c.wiki_archive(name, archived)?,
            Backend::Direct(core) => core.wiki_archive(name, archived)?,
        })
    }

    pub fn wiki_automerge(&mut self, name: &str) -> Result<Vec<u8>> {
        Ok(match self {
            Backend::Api(c) => c.wiki_automerge(name)?,
            Backend::Direct(core) => core.wiki_automerge(name)?,
        })
    }

    pub fn wiki_export(&mut self) -> Result<Vec<PageView>> {
        Ok(match self {
            Backend::Api(c) => c.wiki_export()?,
            Backend::Direct(core) => core.wiki_export()?,
        })
    }

    pub fn wiki_import(&mut self, items: &[ImportItem]) -> Result<ImportReport> {
        Ok(match self {
            Backend::Api(c) => c.wiki_import(items)?,
            Backend::Direct(core) => core.wiki_import(items)?,
        })
    }

    /// Joining works offline too: the inviter is trusted and its addresses
    /// remembered, and the node dials them when it starts.
    pub fn join(&mut self, params: &JoinParams) -> Result<TrustView> {
        Ok(match self {
            Backend::Api(c) => c.join(params)?,
            Backend::Direct(core) => {
                let invite = kith_node::invite::Invite::decode(&params.code)?;
                if invite.author == core.me() {
                    bail!("that is your own invite code");
                }
                let view = core.trust_add(&TrustParams {
                    author: invite.author.to_string(),
                    petname: params.petname.clone(),
                })?;
                let addrs: Vec<String> = invite.addrs.iter().map(ToString::to_string).collect();
                core.store().peer_add_addrs(&invite.author, &addrs)?;
                view
            }
        })
    }

    pub fn invite(&mut self) -> Result<InviteView> {
        match self {
            Backend::Api(c) => Ok(c.invite()?),
            Backend::Direct(_) => {
                bail!("{NEEDS_NODE} (an invite carries the addresses it listens on)")
            }
        }
    }

    pub fn peers(&mut self) -> Result<Vec<PeerView>> {
        match self {
            Backend::Api(c) => Ok(c.peers()?),
            Backend::Direct(core) => {
                // Offline: what we remember, nobody connected.
                let store = core.store();
                let mut out = Vec::new();
                for t in store.trust_list()? {
                    let record = store.peer_get(&t.author)?.unwrap_or_default();
                    out.push(PeerView {
                        author: t.author,
                        name: store.display_name(&t.author)?,
                        addrs: record.addrs,
                        connected: false,
                        connection: None,
                        remote_addr: None,
                        last_seen: record.last_seen_ms,
                        last_sync: record.last_sync_ms,
                    });
                }
                Ok(out)
            }
        }
    }

    pub fn status(&mut self) -> Result<StatusView> {
        match self {
            Backend::Api(c) => Ok(c.status()?),
            Backend::Direct(core) => {
                let store = core.store();
                let mut authors = Vec::new();
                for author in core.scope().authors() {
                    authors.push(kith_node::model::AuthorStatus {
                        author: *author,
                        name: store.display_name(author)?,
                        local_seq: store.head(author)?.map_or(0, |h| h.seq),
                        seen_seq: None,
                        syncing: false,
                        forked: store.is_flagged(author)?,
                    });
                }
                Ok(StatusView {
                    me: core.me(),
                    syncing: false,
                    connected_peers: 0,
                    authors,
                    listen: Vec::new(),
                    gossip: Default::default(),
                    refused_connections: 0,
                    reachability: "unknown (no node running)".to_string(),
                    relays: Vec::new(),
                    relaying_for: Vec::new(),
                })
            }
        }
    }
}
