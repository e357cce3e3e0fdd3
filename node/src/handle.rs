//! The cloneable handle to a running node: each call becomes a [`Command`]
//! for the event loop, carrying a oneshot for the reply; events come out on a
//! broadcast channel.

use kith_protocol::{AuthorId, Entry};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::core::Core;
use crate::error::{Error, Result};
use crate::model::{
    AskOutcome, AskParams, EndorseParams, ProfileParams, ProfileView, QuestionParams, QuestionView,
    ReplyParams, ThreadView,
};
use crate::model::{
    EntryView, FeedParams, IdView, InviteView, JoinParams, NewPost, PeerView, StatusView,
    TrustParams, TrustView,
};
use crate::model::{
    HistoryView, ImportItem, ImportReport, NewPage, PageEdit, PageRename, PageSummary, PageView,
};
use crate::search::{SearchHit, SearchParams};

/// Capacity of the command channel: callers wait (backpressure) beyond it.
pub const COMMAND_CAPACITY: usize = 256;
/// Capacity of the event channel: slow subscribers miss events beyond it.
pub const EVENT_CAPACITY: usize = 4096;

/// Work for a closure run on the node's [`Core`] inside the event loop.
pub(crate) type CoreJob = Box<dyn FnOnce(&mut Core) + Send>;

pub(crate) enum Command {
    /// A new post; consecutive posts are committed together (one flush).
    Post {
        post: NewPost,
        reply: oneshot::Sender<Result<EntryView>>,
    },
    /// Run a closure on the core (reads, trust changes, maintenance).
    Core(CoreJob),
    Dial {
        addr: String,
        reply: oneshot::Sender<Result<()>>,
    },
    Join {
        params: JoinParams,
        reply: oneshot::Sender<Result<TrustView>>,
    },
    Invite {
        reply: oneshot::Sender<Result<InviteView>>,
    },
    Peers {
        reply: oneshot::Sender<Result<Vec<PeerView>>>,
    },
    Status {
        reply: oneshot::Sender<Result<StatusView>>,
    },
    /// Publish raw bytes on an author's gossip topic (tests of validation).
    InjectGossip {
        author: AuthorId,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<()>>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// Where a stored entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Written on this node.
    Local,
    /// Received by live gossip.
    Gossip,
    /// Pulled by catch-up sync.
    Sync,
}

/// Things that happen in a node.
#[derive(Debug, Clone)]
pub enum Event {
    /// An entry was stored.
    Entry {
        entry: Box<Entry>,
        origin: Origin,
    },
    PeerConnected(AuthorId),
    PeerDisconnected(AuthorId),
    /// An author signed two entries at one seq; their log is held.
    Fork(AuthorId),
}

/// A cheap, cloneable way to talk to a running node.
#[derive(Clone)]
pub struct Handle {
    commands: mpsc::Sender<Command>,
    events: broadcast::Sender<Event>,
    me: AuthorId,
}

impl Handle {
    pub(crate) fn new(
        commands: mpsc::Sender<Command>,
        events: broadcast::Sender<Event>,
        me: AuthorId,
    ) -> Self {
        Handle {
            commands,
            events,
            me,
        }
    }

    pub fn me(&self) -> AuthorId {
        self.me
    }

    /// Events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    async fn send<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| Error::NodeStopped)?;
        rx.await.map_err(|_| Error::NodeStopped)
    }

    /// Runs `f` on the node's core inside the event loop.
    pub async fn with_core<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Core) -> R + Send + 'static,
    ) -> Result<R> {
        self.send(|tx| {
            Command::Core(Box::new(move |core: &mut Core| {
                let _ = tx.send(f(core));
            }))
        })
        .await
    }

    pub async fn post(&self, post: NewPost) -> Result<EntryView> {
        self.send(|reply| Command::Post { post, reply }).await?
    }

    pub async fn whoami(&self) -> Result<IdView> {
        self.with_core(|core| core.whoami()).await?
    }

    pub async fn feed(&self, params: FeedParams) -> Result<Vec<EntryView>> {
        self.with_core(move |core| core.feed(&params)).await?
    }

    pub async fn trust_add(&self, params: TrustParams) -> Result<TrustView> {
        self.with_core(move |core| core.trust_add(&params)).await?
    }

    pub async fn trust_remove(&self, author: String) -> Result<bool> {
        self.with_core(move |core| core.trust_remove(&author))
            .await?
    }

    pub async fn trust_list(&self) -> Result<Vec<TrustView>> {
        self.with_core(|core| core.trust_list()).await?
    }

    pub async fn wiki_new(&self, page: NewPage) -> Result<PageView> {
        self.with_core(move |core| core.wiki_new(&page)).await?
    }

    pub async fn wiki_edit(&self, name: String, edit: PageEdit) -> Result<PageView> {
        self.with_core(move |core| core.wiki_edit(&name, &edit))
            .await?
    }

    pub async fn wiki_show(&self, name: String) -> Result<PageView> {
        self.with_core(move |core| core.wiki_show(&name)).await?
    }

    pub async fn wiki_list(&self, include_archived: bool) -> Result<Vec<PageSummary>> {
        self.with_core(move |core| core.wiki_list(include_archived))
            .await?
    }

    pub async fn wiki_history(&self, name: String) -> Result<Vec<HistoryView>> {
        self.with_core(move |core| core.wiki_history(&name)).await?
    }

    pub async fn wiki_rename(&self, name: String, rename: PageRename) -> Result<PageView> {
        self.with_core(move |core| core.wiki_rename(&name, &rename))
            .await?
    }

    pub async fn wiki_archive(&self, name: String, archived: bool) -> Result<PageView> {
        self.with_core(move |core| core.wiki_archive(&name, archived))
            .await?
    }

    pub async fn wiki_automerge(&self, name: String) -> Result<Vec<u8>> {
        self.with_core(move |core| core.wiki_automerge(&name))
            .await?
    }

    pub async fn wiki_export(&self) -> Result<Vec<PageView>> {
        self.with_core(|core| core.wiki_export()).await?
    }

    pub async fn wiki_import(&self, items: Vec<ImportItem>) -> Result<ImportReport> {
        self.with_core(move |core| core.wiki_import(&items)).await?
    }

    pub async fn search(&self, params: SearchParams) -> Result<Vec<SearchHit>> {
        self.with_core(move |core| core.search(&params)).await?
    }

    pub async fn ask(&self, params: AskParams) -> Result<AskOutcome> {
        self.with_core(move |core| core.ask(&params)).await?
    }

    pub async fn answer(&self, question: String, reply: ReplyParams) -> Result<EntryView> {
        self.with_core(move |core| core.answer(&question, &reply))
            .await?
    }

    pub async fn reply(&self, target: String, reply: ReplyParams) -> Result<EntryView> {
        self.with_core(move |core| core.reply(&target, &reply))
            .await?
    }

    pub async fn thread(&self, target: String) -> Result<ThreadView> {
        self.with_core(move |core| core.thread(&target)).await?
    }

    pub async fn questions(&self, params: QuestionParams) -> Result<Vec<QuestionView>> {
        self.with_core(move |core| core.questions(&params)).await?
    }

    pub async fn endorse(&self, target: String, params: EndorseParams) -> Result<EntryView> {
        self.with_core(move |core| core.endorse(&target, &params))
            .await?
    }

    pub async fn accept(&self, answer: String, withdraw: bool) -> Result<EntryView> {
        self.with_core(move |core| core.accept(&answer, withdraw))
            .await?
    }

    pub async fn delete(&self, target: String) -> Result<EntryView> {
        self.with_core(move |core| core.delete(&target)).await?
    }

    pub async fn profile(&self, author: String) -> Result<ProfileView> {
        self.with_core(move |core| core.profile(&author)).await?
    }

    pub async fn profile_set(&self, params: ProfileParams) -> Result<EntryView> {
        self.with_core(move |core| core.profile_set(&params))
            .await?
    }

    pub async fn forks(&self) -> Result<Vec<crate::model::ForkView>> {
        self.with_core(|core| core.forks()).await?
    }

    pub async fn forks_clear(&self, author: String) -> Result<usize> {
        self.with_core(move |core| core.forks_clear(&author))
            .await?
    }

    pub async fn frontier_file(&self) -> Result<crate::bundle::FrontierFile> {
        self.with_core(|core| core.frontier_file()).await?
    }

    pub async fn bundle(&self, params: crate::model::BundleParams) -> Result<Vec<u8>> {
        self.with_core(move |core| core.bundle(&params)).await?
    }

    pub async fn import_entries(
        &self,
        entries: Vec<kith_protocol::Entry>,
    ) -> Result<crate::model::ImportEntriesReport> {
        self.with_core(move |core| core.import_entries(&entries))
            .await
    }

    pub async fn dial(&self, addr: String) -> Result<()> {
        self.send(|reply| Command::Dial { addr, reply }).await?
    }

    pub async fn join(&self, params: JoinParams) -> Result<TrustView> {
        self.send(|reply| Command::Join { params, reply }).await?
    }

    pub async fn invite(&self) -> Result<InviteView> {
        self.send(|reply| Command::Invite { reply }).await?
    }

    pub async fn peers(&self) -> Result<Vec<PeerView>> {
        self.send(|reply| Command::Peers { reply }).await?
    }

    pub async fn status(&self) -> Result<StatusView> {
        self.send(|reply| Command::Status { reply }).await?
    }

    #[doc(hidden)]
    pub async fn inject_gossip(&self, author: AuthorId, data: Vec<u8>) -> Result<()> {
        self.send(|reply| Command::InjectGossip {
            author,
            data,
            reply,
        })
        .await?
    }

    /// Stops the node: flushes the store and closes connections.
    pub async fn shutdown(&self) -> Result<()> {
        self.send(|reply| Command::Shutdown { reply }).await
    }
}
