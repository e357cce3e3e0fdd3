//! Every user-level operation, declared once: a request type, its response
//! type, where it runs, and its HTTP route.
//!
//! A running node's `Handle` (kith-node), the HTTP API (its server routes
//! and `kith_node::api::Client`), the CLI's direct mode ([`Core::run`])
//! and the web app all reach an operation through the same [`Operation`]
//! implementation, generated from the tables at the end of this file.
//! Adding an operation means: a request type (next to its implementation,
//! in the seam's module below), a line in a table, and its CLI command.
//!
//! ```no_run
//! # fn demo(core: &mut kith_core::Core) -> kith_core::Result<()> {
//! use kith_core::ops;
//! let view = core.run(ops::Post::note("Reading about CRDTs"))?;
//! let feed = core.run(ops::Feed::default())?;
//! assert_eq!(feed[0].id, view.id);
//! # Ok(()) }
//! ```
//!
//! Where an operation runs ([`Owner`]):
//! - `Store`: on the store actor, which owns [`Core`] and every write;
//! - `Read`: on the read pool, from a read-only view of the store, so it
//!   never waits behind writes or long jobs;
//! - `Network`: on the network loop (what only it knows: connections);
//! - `Pipeline`: through the verification pool, then the store actor.

pub mod blobs;
pub mod bookmarks;
pub mod circles;
mod commit;
pub mod devices;
pub mod exchange;
pub mod http;
pub mod inbox;
pub mod knowledge;
pub mod maintenance;
pub mod network;
pub mod social;
pub mod wiki;

use serde::Serialize;
use tokio::sync::oneshot;

pub use self::blobs::{BlobAdd, BlobGet, BlobInfo, FetchBlob};
pub use self::bookmarks::{BookmarkAdd, BookmarkList, BookmarkRemove};
pub use self::circles::{CircleAdd, CircleCreate, CircleList, CircleRemove, CircleShow};
pub use self::commit::{Commit, JobWaiter};
use self::commit::{not_a_job, waiter};
pub use self::devices::{
    DeviceAdd, DeviceJoined, DeviceLinkCode, DeviceRevoke, Devices, IdentityRotate,
    RecoveryApprove, RecoveryRequest, RecoverySet,
};
pub use self::exchange::{Bundle, Forks, ForksClear, Frontier, ImportEntries};
pub use self::http::{Binary, Streamed};
pub use self::inbox::{Inbox, InboxRead, InboxUnread, WikiFollow};
pub use self::knowledge::{
    Accept, Answer, Ask, Endorse, Questions, Reply, Search, Similar, Thread,
};
pub use self::maintenance::{Jobs, Reindex, Verify};
pub use self::network::{Dial, Invite, Join, Peers, Status};
pub use self::social::{
    Delete, Feed, Post, Profile, ProfileSet, TrustAdd, TrustList, TrustRemove, Whoami,
};
pub use self::wiki::{
    WikiArchive, WikiAt, WikiAutomerge, WikiBlame, WikiDiff, WikiEdit, WikiExport, WikiHistory,
    WikiImport, WikiList, WikiNew, WikiPromote, WikiRename, WikiRestore, WikiRevert, WikiReviewed,
    WikiShow, WikiSides,
};
use crate::core::Core;
use crate::error::Result;
use crate::jobs::JobTable;
use crate::reader::Reader;
use crate::search::SearchReader;

/// Who runs an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Owner {
    Store,
    Read,
    Network,
    Pipeline,
}

/// HTTP methods of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    pub fn as_str(&self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// The contract of one operation, as the API documentation lists it: all
/// that is true of it, on its line of the table below. The HTTP server,
/// the read lanes and the store actor read these facts from here.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Info {
    pub name: &'static str,
    pub method: Method,
    /// Under the API prefix (`/api/v1`, `kith_node::api::PREFIX`); `{field}` segments are request fields.
    pub path: &'static str,
    pub owner: Owner,
    pub summary: &'static str,
    /// Largest request body the API reads for it (413 beyond).
    pub body_limit: usize,
    /// A read that keeps a core busy for long: such reads run one at a
    /// time, beside the light ones.
    pub heavy: bool,
    /// How the store actor commits it (store operations).
    pub commit: Commit,
}

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

impl Info {
    /// An operation's contract with the defaults: a small JSON body
    /// (512 KiB at most), light.
    pub const fn new(
        name: &'static str,
        method: Method,
        path: &'static str,
        owner: Owner,
        summary: &'static str,
    ) -> Info {
        Info {
            name,
            method,
            path,
            owner,
            summary,
            body_limit: 512 * KIB,
            heavy: false,
            commit: Commit::Alone,
        }
    }

    /// Reads a request body of up to `bytes`.
    pub const fn body(mut self, bytes: usize) -> Info {
        self.body_limit = bytes;
        self
    }

    /// A heavy read.
    pub const fn heavy(mut self) -> Info {
        self.heavy = true;
        self
    }

    /// Committed with the same operations queued behind it.
    pub const fn grouped(mut self) -> Info {
        self.commit = Commit::Grouped;
        self
    }

    /// Run as the store's long job.
    pub const fn job(mut self) -> Info {
        self.commit = Commit::Job;
        self
    }
}

/// Where an operation's result goes back to.
pub type Respond<T> = oneshot::Sender<Result<T>>;

/// One user-level operation: the implementing type is its request.
pub trait Operation: http::Request + Send + Sized + 'static {
    type Output: http::Response + Send + 'static;
    const INFO: Info;

    /// Packs the request for its owner (see [`crate::Handle::call`]).
    #[doc(hidden)]
    fn route(self, reply: Respond<Self::Output>) -> Routed;

    /// Runs the request on a [`Core`] opened directly (no node running).
    #[doc(hidden)]
    fn direct(self, core: &mut Core) -> Result<Self::Output>;
}

/// An operation packed for its owner. Opaque outside this crate.
#[doc(hidden)]
pub struct Routed(pub Route);

#[doc(hidden)]
pub enum Route {
    Store(StoreRequest),
    Read(ReadRequest),
    Network(NetRequest),
    Import(exchange::ImportRequest),
}

/// Implementation of an operation the store actor runs.
pub(crate) trait StoreOp: Operation {
    fn run(self, core: &mut Core) -> Result<Self::Output>;

    /// A [`Commit::Grouped`] operation: several requests, one commit, a
    /// result each (in order).
    fn run_group(ops: Vec<Self>, core: &mut Core) -> Vec<Result<Self::Output>> {
        ops.into_iter().map(|op| op.run(core)).collect()
    }

    /// A [`Commit::Job`] operation: starts the store's long job.
    fn start_job(self, _core: &mut Core) -> Result<()> {
        Err(not_a_job(Self::INFO))
    }

    /// A [`Commit::Job`] operation: its answer once the job ended.
    fn job_answer(_report: &crate::store::ReindexReport) -> Result<Self::Output> {
        Err(not_a_job(Self::INFO))
    }
}

/// What a read operation has at hand.
#[doc(hidden)]
pub struct ReadCtx<'a> {
    pub reader: &'a Reader,
    pub jobs: &'a JobTable,
    pub search: &'a SearchReader,
    /// Asks the store actor to commit what the search index does not show
    /// yet (`None` in direct mode, where it is committed before reading).
    pub commit: Option<&'a dyn CommitSearch>,
    /// The read lane's permit (`None` in direct mode): a read that hands
    /// back work to run later (a [`Streamed`] answer) keeps a clone, so
    /// the lane stays taken until that work ends.
    pub lane: Option<std::sync::Arc<tokio::sync::OwnedSemaphorePermit>>,
    /// Fetches a blob from trusted peers (`None` in direct mode: no network).
    pub fetch: Option<&'a dyn FetchBlob>,
}

/// How a read asks the owner of the search index to commit what it holds
/// (the store actor implements it).
pub trait CommitSearch: Send + Sync {
    /// Asks for a commit and waits for it (from a blocking thread).
    fn request(&self);
}

impl ReadCtx<'_> {
    /// The search index, with everything written so far committed.
    pub fn fresh_search(&self) -> &SearchReader {
        if let Some(commit) = self.commit
            && self.search.is_behind()
        {
            commit.request();
        }
        self.search
    }
}

/// Implementation of an operation that runs on a read-only view.
pub(crate) trait ReadOp: Operation {
    fn run(self, ctx: &ReadCtx<'_>) -> Result<Self::Output>;
}

/// What the network loop offers the operations it runs (it implements
/// this; the operations know nothing else of it).
pub trait Net {
    /// An invite code: this node's id and the addresses worth giving.
    fn invite(&self) -> crate::model::InviteView;
    /// Connects to a multiaddr now.
    fn dial_addr(&mut self, addr: &str) -> Result<()>;
    fn peers(&self) -> Result<Vec<crate::model::PeerView>>;
    fn status(&self) -> Result<crate::model::StatusView>;
    /// A one-time code that makes another machine this person's device.
    fn link_code(&mut self) -> Result<crate::model::LinkCodeView>;
}

/// Implementation of an operation the network loop runs, and what it does
/// when no node runs.
pub(crate) trait NetOp: Operation {
    fn run(self, net: &mut dyn Net) -> Result<Self::Output>;
    fn offline(self, core: &mut Core) -> Result<Self::Output>;
}

/// Declares a group of operations that share an owner: the owner's request
/// enum, its dispatch, and each [`Operation`] implementation.
macro_rules! operations {
    (
        $owner:ident, $request:ident, $ctx:ty, $trait:ident, $direct:expr;
        $( $op:ident -> $out:ty, $method:ident $path:literal, $summary:literal
            $( . $fact:ident ( $( $arg:expr )? ) )* ; )*
    ) => {
        #[allow(clippy::large_enum_variant)]
        #[doc(hidden)]
        pub enum $request {
            $( $op($op, Respond<$out>), )*
        }

        impl $request {
            /// Runs the request on its owner and sends the result back.
            #[allow(dead_code)]
            pub fn run(self, ctx: $ctx) {
                match self {
                    $( $request::$op(op, reply) => {
                        let _ = reply.send($trait::run(op, ctx));
                    } )*
                }
            }

            /// Runs the request on its owner; the returned closure sends
            /// the result, so the owner can first publish what the
            /// operation changed (a caller's next request then sees it).
            #[allow(dead_code)]
            pub fn run_deferred(self, ctx: $ctx) -> Box<dyn FnOnce()> {
                match self {
                    $( $request::$op(op, reply) => {
                        let result = $trait::run(op, ctx);
                        Box::new(move || {
                            let _ = reply.send(result);
                        })
                    } )*
                }
            }

            /// Answers the request with an error instead of running it.
            #[allow(dead_code)]
            pub fn refuse(self, error: impl FnOnce() -> crate::error::Error) {
                match self {
                    $( $request::$op(_, reply) => {
                        let _ = reply.send(Err(error()));
                    } )*
                }
            }

            #[allow(dead_code)]
            pub fn info(&self) -> Info {
                match self {
                    $( $request::$op(..) => <$op as Operation>::INFO, )*
                }
            }
        }

        $(
            impl Operation for $op {
                type Output = $out;
                const INFO: Info = Info::new(
                    stringify!($op),
                    Method::$method,
                    $path,
                    Owner::$owner,
                    $summary,
                ) $( . $fact ( $( $arg )? ) )*;

                fn route(self, reply: Respond<$out>) -> Routed {
                    Routed(Route::$owner($request::$op(self, reply)))
                }

                fn direct(self, core: &mut Core) -> Result<$out> {
                    #[allow(clippy::redundant_closure_call)]
                    ($direct)(self, core)
                }
            }
        )*

        impl $request {
            pub(crate) const INFOS: &'static [Info] = &[ $( <$op as Operation>::INFO, )* ];

            fn visit(visitor: &mut impl Visit) {
                $( visitor.visit::<$op>(); )*
            }
        }

        operations!(@commit $owner, $request, $( $op ),*);
    };

    // What the store actor does with a request's `Commit` fact.
    (@commit Store, $request:ident, $( $op:ident ),*) => {
        impl $request {
            /// Whether `other` is a request of the same operation.
            pub fn same_operation(&self, other: &Self) -> bool {
                std::mem::discriminant(self) == std::mem::discriminant(other)
            }

            /// Runs requests of one operation as a group (its
            /// [`StoreOp::run_group`]); the returned closure answers them.
            /// Requests of another operation than the first are refused.
            pub fn run_group(group: Vec<Self>, core: &mut Core) -> Box<dyn FnOnce()> {
                match group.first() {
                    None => Box::new(|| {}),
                    $( Some($request::$op(..)) => {
                        let mut ops = Vec::with_capacity(group.len());
                        let mut replies = Vec::with_capacity(group.len());
                        for request in group {
                            match request {
                                $request::$op(op, reply) => {
                                    ops.push(op);
                                    replies.push(reply);
                                }
                                other => other.refuse(|| crate::error::Error::Remote {
                                    kind: crate::error::ErrorKind::Internal,
                                    message: "a group of two operations".into(),
                                }),
                            }
                        }
                        let results = <$op as StoreOp>::run_group(ops, core);
                        Box::new(move || {
                            for (result, reply) in results.into_iter().zip(replies) {
                                let _ = reply.send(result);
                            }
                        })
                    } )*
                }
            }

            /// Starts the store's long job for a [`Commit::Job`] request:
            /// its waiter, or, refused, `None` (answered already).
            pub fn start_job(self, core: &mut Core) -> Option<JobWaiter> {
                match self {
                    $( $request::$op(op, reply) => match <$op as StoreOp>::start_job(op, core) {
                        Ok(()) => Some(waiter::<$op>(reply)),
                        Err(e) => {
                            let _ = reply.send(Err(e));
                            None
                        }
                    }, )*
                }
            }

            /// What answers this request when the running job ends.
            pub fn job_waiter(self) -> JobWaiter {
                match self {
                    $( $request::$op(_, reply) => waiter::<$op>(reply), )*
                }
            }
        }
    };
    (@commit $other:ident, $request:ident, $( $op:ident ),*) => {};
}

operations! {
    Store, StoreRequest, &mut Core, StoreOp,
    |op, core: &mut Core| StoreOp::run(op, core);
    Post -> crate::model::EntryView, Post "/posts", "write a note, question or answer"
        .grouped();
    TrustAdd -> crate::model::TrustView, Post "/trust", "trust an author (and replicate with them)";
    TrustRemove -> bool, Delete "/trust/{author}", "stop trusting an author";
    ProfileSet -> crate::model::EntryView, Post "/profile", "publish your name and about text";
    Delete -> crate::model::EntryView, Delete "/entries/{id}", "delete one of your entries everywhere";
    Ask -> crate::model::AskOutcome, Post "/ask", "ask a question, unless similar ones exist";
    Answer -> crate::model::EntryView, Post "/entries/{id}/answers", "answer a question";
    Reply -> crate::model::EntryView, Post "/entries/{id}/replies", "reply to a post";
    Endorse -> crate::model::EntryView, Post "/entries/{id}/endorse", "endorse a post (or withdraw)";
    Accept -> crate::model::EntryView, Post "/entries/{id}/accept", "accept an answer to your question";
    WikiNew -> crate::model::PageView, Post "/wiki", "create a wiki page"
        .body(7 * MIB); // a page is at most 1 MiB, up to six bytes a character in JSON
    WikiShow -> crate::model::PageView, Get "/wiki/{page}", "a page by id, id prefix or title";
    WikiEdit -> crate::model::PageView, Put "/wiki/{page}", "replace a page's body (merged with edits since `base`)"
        .body(7 * MIB);
    WikiRename -> crate::model::RenameOutcome, Post "/wiki/{page}/rename", "retitle a page (the old title stays an alias; `update_links` rewrites links to it)";
    WikiReviewed -> crate::model::PageView, Post "/wiki/{page}/reviewed", "mark a page's merged concurrent edits as reviewed";
    WikiArchive -> crate::model::PageView, Delete "/wiki/{page}", "archive (delete, restorably) a page";
    WikiRestore -> crate::model::PageView, Post "/wiki/{page}/restore", "restore an archived page, or (`at`) the page as it was after a change";
    WikiBlame -> crate::model::BlameView, Get "/wiki/{page}/blame", "every line of a page with who last wrote it";
    WikiDiff -> crate::model::ChangeDiff, Get "/wiki/{page}/diff/{change}", "what one change of a page did, word by word";
    WikiAt -> crate::model::PageVersion, Get "/wiki/{page}/at/{change}", "a page as it was right after a change";
    WikiSides -> Vec<crate::model::SideView>, Get "/wiki/{page}/sides", "a merged page as each side of the merge left it";
    WikiRevert -> crate::model::PageView, Post "/wiki/{page}/revert/{change}", "undo one change of a page (later edits stay)";
    WikiAutomerge -> Binary, Get "/wiki/{page}/automerge", "a page as a standard .automerge file";
    WikiExport -> Vec<crate::model::PageView>, Get "/wiki/export", "every live page";
    WikiImport -> crate::model::ImportReport, Post "/wiki/import", "create or update pages from markdown"
        .body(16 * MIB);
    ForksClear -> usize, Delete "/forks/{author}", "forget an author's fork proofs and replicate them again";
    Join -> crate::model::TrustView, Post "/join", "trust the inviter of a code and connect to them";
    DeviceAdd -> crate::model::PersonView, Post "/devices", "link a device that consented (on the device holding the identity key)";
    DeviceRevoke -> crate::model::PersonView, Delete "/devices/{device}", "revoke one of your devices: its later entries are refused everywhere";
    DeviceJoined -> crate::model::PersonView, Post "/devices/joined", "on a new device: replicate the person whose link code was used";
    RecoverySet -> crate::model::PersonView, Post "/recovery/contacts", "name who may vouch for a new identity key if every key is lost, and how many must";
    RecoveryRequest -> crate::model::RecoveryCodeView, Post "/recovery/request", "on a fresh install: a new identity key, and the code your recovery contacts approve";
    RecoveryApprove -> crate::model::RecoveryApprovalView, Post "/recovery/approve", "vouch, as a recovery contact, for the new key of a recovery code";
    IdentityRotate -> crate::model::PersonView, Post "/identity/rotate", "replace your identity key with a new one (friends follow; the old key stays a device)";
    Reindex -> crate::store::ReindexReport, Post "/reindex", "rebuild every view from the entries (a long job)"
        .job();
    CircleCreate -> crate::model::CircleView, Post "/circles", "start a private circle with chosen members";
    CircleList -> Vec<crate::model::CircleView>, Get "/circles", "your private circles";
    CircleShow -> crate::model::CircleView, Get "/circles/{circle}", "a circle's members, epoch and changes";
    CircleAdd -> crate::model::CircleView, Post "/circles/{circle}/members", "add a member to a circle (from now on, or with `history`)";
    CircleRemove -> crate::model::CircleView, Delete "/circles/{circle}/members/{member}", "remove a member (yourself: leave); they read nothing written after";
    BookmarkAdd -> bookmarks::BookmarkView, Post "/bookmarks", "bookmark an entry, with a note (private to this node)";
    BookmarkRemove -> bool, Delete "/bookmarks/{entry}", "forget a bookmark";
    InboxRead -> usize, Post "/inbox/read", "mark an inbox item (`entry`) or `all` of them read";
    WikiPromote -> crate::model::PageView, Post "/entries/{entry}/promote", "add a post's text to the wiki (a new page, or a section of `to`), attributed to its author";
    WikiFollow -> bool, Post "/wiki/{page}/follow", "follow a page (its edits reach your inbox), or stop";
    BlobAdd -> blobs::BlobView, Post "/blobs", "add a file on this machine (by its path) to your files; `declare` signs an entry naming it";
}

operations! {
    Read, ReadRequest, &ReadCtx<'_>, ReadOp,
    |op, core: &mut Core| {
        core.search_flush()?;
        ReadOp::run(op, &ReadCtx {
            reader: &core.reader(),
            jobs: &JobTable::default(),
            search: &core.search_reader(),
            commit: None,
            lane: None,
            fetch: None,
        })
    };
    Whoami -> crate::model::IdView, Get "/id", "who this node is";
    Feed -> Vec<crate::model::EntryView>, Get "/feed", "posts, newest first";
    TrustList -> Vec<crate::model::TrustView>, Get "/trust", "the authors you trust";
    Profile -> crate::model::ProfileView, Get "/profile/{author}", "an author's profile";
    Search -> Vec<crate::search::SearchHit>, Get "/search", "full-text search over posts and pages"
        .heavy();
    Questions -> Vec<crate::model::QuestionView>, Get "/questions", "questions, newest first";
    Similar -> Vec<crate::search::SearchHit>, Get "/questions/similar", "questions and answers like a text (what ask checks before posting)"
        .heavy();
    Thread -> crate::model::ThreadView, Get "/entries/{id}/thread", "a post with its answers ranked and its replies";
    WikiList -> Vec<crate::model::PageSummary>, Get "/wiki", "the wiki's pages";
    WikiHistory -> Vec<crate::model::HistoryView>, Get "/wiki/{page}/history", "who changed a page, newest first";
    Forks -> Vec<crate::model::ForkView>, Get "/forks", "authors caught signing two entries at one seq";
    Frontier -> crate::bundle::FrontierFile, Get "/frontier", "this node's frontier, for bundling what it lacks";
    Bundle -> Streamed, Post "/bundle", "a bundle file of the entries another node lacks (streamed)"
        .heavy().body(4 * MIB); // a frontier file of many authors
    Verify -> crate::store::VerifyReport, Get "/verify", "re-verify every stored entry (a long job)"
        .heavy();
    Jobs -> Vec<crate::jobs::JobView>, Get "/jobs", "long jobs running and their progress";
    Devices -> crate::model::PersonView, Get "/devices", "your person: every device key, this one marked";
    BookmarkList -> Vec<bookmarks::BookmarkView>, Get "/bookmarks", "your bookmarks, the latest first";
    Inbox -> Vec<inbox::InboxItemView>, Get "/inbox", "what concerns you (answers, replies, mentions, endorsements, accepts, page edits), newest first";
    InboxUnread -> usize, Get "/inbox/unread", "how many inbox items you have not read";
    BlobGet -> Streamed, Get "/blobs/{hash}", "a file's bytes, fetched from trusted peers first if needed";
    BlobInfo -> blobs::BlobView, Get "/blobs/{hash}/info", "a file's size, type and name, whether it is here, and who references it";
}

operations! {
    Network, NetRequest, &mut dyn Net, NetOp,
    |op, core: &mut Core| NetOp::offline(op, core);
    Invite -> crate::model::InviteView, Get "/invite", "an invite code others can join";
    Dial -> (), Post "/dial", "connect to a peer at a multiaddr";
    Peers -> Vec<crate::model::PeerView>, Get "/peers", "trusted peers, connected and known";
    Status -> crate::model::StatusView, Get "/status", "replication, connections and jobs";
    DeviceLinkCode -> crate::model::LinkCodeView, Post "/devices/link-code", "a one-time code that makes another machine your device";
}

impl Operation for ImportEntries {
    type Output = crate::model::ImportEntriesReport;
    const INFO: Info = Info::new(
        "ImportEntries",
        Method::Post,
        "/entries",
        Owner::Pipeline,
        "verify and store entries (concatenated envelopes), as if from the network",
    )
    .body(16 * MIB);

    fn route(self, reply: Respond<Self::Output>) -> Routed {
        Routed(Route::Import(exchange::ImportRequest { op: self, reply }))
    }

    fn direct(self, core: &mut Core) -> Result<Self::Output> {
        Ok(core.import_entries(self.entries))
    }
}

/// Something done for every operation type (the HTTP router is built this
/// way; tests check that each operation is covered).
pub trait Visit {
    fn visit<O: Operation>(&mut self);
}

/// Calls `visitor` once for every operation.
pub fn visit_all(visitor: &mut impl Visit) {
    StoreRequest::visit(visitor);
    ReadRequest::visit(visitor);
    NetRequest::visit(visitor);
    visitor.visit::<ImportEntries>();
}

impl ReadRequest {
    /// Reads that keep a core busy for long: they run one at a time.
    pub fn is_heavy(&self) -> bool {
        self.info().heavy
    }
}

/// Every operation's contract, for documentation and tests.
pub fn all() -> Vec<Info> {
    let mut out = Vec::new();
    out.extend_from_slice(StoreRequest::INFOS);
    out.extend_from_slice(ReadRequest::INFOS);
    out.extend_from_slice(NetRequest::INFOS);
    out.push(ImportEntries::INFO);
    out
}

#[cfg(test)]
mod tests;
