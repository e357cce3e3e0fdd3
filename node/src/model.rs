//! The JSON shapes of the local API and of `--json` output. The CLI prints
//! these whether it talks to a running node or to the store directly, so both
//! paths give scripts the same data.

use kith_protocol::{AuthorId, Body, Entry, EntryId, PageId, PostKind};
use serde::{Deserialize, Serialize};

/// One entry as users and scripts see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryView {
    pub id: EntryId,
    pub author: AuthorId,
    /// My petname for the author, else their profile name.
    pub author_name: Option<String>,
    pub seq: u64,
    /// Milliseconds since the Unix epoch, as claimed by the author.
    pub timestamp: u64,
    /// `note`, `question`, `answer`, `endorsement`, `wiki`, `profile`,
    /// `trust`, `deletion`, `accept`, `unknown`, or `deleted`.
    pub kind: String,
    /// Post text (markdown); `null` for other kinds and deleted posts.
    pub text: Option<String>,
    pub tags: Vec<String>,
    pub reply_to: Option<EntryId>,
}

impl EntryView {
    pub fn new(entry: &Entry, author_name: Option<String>) -> Self {
        let body = entry.body().map(Body::decode);
        let (kind, text, tags, reply_to) = match body {
            None => ("deleted".to_string(), None, Vec::new(), None),
            Some(Err(_)) => ("unknown".to_string(), None, Vec::new(), None),
            Some(Ok(Body::Post(post))) => (
                post.kind.as_str().to_string(),
                Some(post.text),
                post.tags,
                post.reply_to,
            ),
            Some(Ok(other)) => (other.kind_name().to_string(), None, Vec::new(), None),
        };
        EntryView {
            id: entry.id(),
            author: entry.author(),
            author_name,
            seq: entry.seq(),
            timestamp: entry.header().timestamp_ms,
            kind,
            text,
            tags,
            reply_to,
        }
    }
}

/// A new post.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewPost {
    pub text: String,
    #[serde(default = "default_kind")]
    pub kind: PostKind,
    #[serde(default)]
    pub reply_to: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
}

fn default_kind() -> PostKind {
    PostKind::Note
}

/// Filters for the feed. `before` is the `cursor` of the last item of the
/// previous page.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FeedParams {
    pub limit: Option<usize>,
    pub before: Option<String>,
    pub author: Option<String>,
    pub kind: Option<PostKind>,
    pub tag: Option<String>,
}

/// Pagination cursor for an entry: `<timestamp>-<id>`.
pub fn cursor_of(view: &EntryView) -> String {
    format!("{}-{}", view.timestamp, view.id)
}

/// A trusted author.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustView {
    pub author: AuthorId,
    pub petname: Option<String>,
    /// Their own profile name, if they published one.
    pub profile_name: Option<String>,
    /// When I started trusting them (ms since the epoch).
    pub since: u64,
}

/// Adding someone to the trust list.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrustParams {
    pub author: String,
    pub petname: Option<String>,
}

/// Who this node is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdView {
    pub author: AuthorId,
    pub name: Option<String>,
    pub entries: u64,
}

/// A trusted peer's node, as `kith peers` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerView {
    pub author: AuthorId,
    pub name: Option<String>,
    /// Known dialable addresses.
    pub addrs: Vec<String>,
    pub connected: bool,
    /// How we are connected: `direct`, `relayed`, or null when not connected.
    pub connection: Option<String>,
    /// Address of the live connection, if any.
    pub remote_addr: Option<String>,
    /// Last time connected (ms since the epoch).
    pub last_seen: Option<u64>,
    /// Last time entries were pulled from this peer (ms since the epoch).
    pub last_sync: Option<u64>,
}

/// Replication progress of one author.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorStatus {
    pub author: AuthorId,
    pub name: Option<String>,
    /// Latest seq held locally (0: nothing yet).
    pub local_seq: u64,
    /// Highest seq any peer has shown us (null: no peer has said).
    pub seen_seq: Option<u64>,
    pub syncing: bool,
    /// The author signed two different entries at one seq.
    pub forked: bool,
}

/// `kith status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusView {
    pub me: AuthorId,
    /// Whether a catch-up is running.
    pub syncing: bool,
    pub connected_peers: usize,
    pub authors: Vec<AuthorStatus>,
    /// The node's libp2p listen addresses.
    pub listen: Vec<String>,
    /// What became of gossiped entries since the node started.
    pub gossip: GossipCounts,
    /// Incoming connections refused since start (peers outside the replication set).
    pub refused_connections: u64,
    /// AutoNAT's view: `public (addr)`, `private (…)` or `unknown`.
    pub reachability: String,
    /// Trusted peers this node reserved a relay slot on.
    pub relays: Vec<AuthorId>,
    /// Trusted peers holding a relay slot on this node.
    pub relaying_for: Vec<AuthorId>,
}

/// Gossip validation outcomes since start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GossipCounts {
    /// Valid and new: stored and forwarded.
    pub accepted: u64,
    /// Duplicates, gaps, authors outside the set, rate-limited: not forwarded, no penalty.
    pub ignored: u64,
    /// Invalid (bad signature, malformed…): not forwarded, sender penalized.
    pub rejected: u64,
}

/// An invite code and what it holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InviteView {
    pub code: String,
    pub author: AuthorId,
    pub addrs: Vec<String>,
}

/// `kith join`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinParams {
    pub code: String,
    pub petname: Option<String>,
}

/// `kith dial`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DialParams {
    pub addr: String,
}

/// A wiki page reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageRef {
    pub id: PageId,
    pub title: String,
}

/// A wiki page, as `kith wiki show --json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageView {
    pub id: PageId,
    pub title: String,
    /// Markdown.
    pub body: String,
    /// Author ids of everyone who changed the page, first contribution first.
    pub authors: Vec<AuthorId>,
    /// Display names of those authors (petname, else profile name), by author id.
    pub author_names: std::collections::BTreeMap<String, String>,
    pub created: u64,
    /// Time of the latest change (ms since the epoch).
    pub updated: u64,
    pub archived: bool,
    /// Pages that link here with `[[Title]]`.
    pub backlinks: Vec<PageRef>,
    pub changes: u64,
    /// Changes waiting for dependencies / refused as invalid.
    pub waiting: u64,
    pub rejected: u64,
    /// The document's heads: pass them back as `base` when saving an edit
    /// of this body, so edits made meanwhile are merged, not overwritten.
    pub heads: Vec<String>,
}

/// A line of `kith wiki list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageSummary {
    pub id: PageId,
    pub title: String,
    pub archived: bool,
    pub updated: u64,
    pub authors: Vec<AuthorId>,
    pub chars: u64,
}

/// One entry's contribution to a page (`kith wiki history`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryView {
    pub entry: EntryId,
    pub author: AuthorId,
    pub author_name: Option<String>,
    pub timestamp: u64,
    /// Automerge operations.
    pub ops: u64,
    pub chars_before: u64,
    pub chars_after: u64,
}

/// `kith wiki new`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewPage {
    pub title: String,
    #[serde(default)]
    pub body: String,
}

/// `kith wiki edit`: the page's new full body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PageEdit {
    pub body: String,
    /// The heads of the version the edit started from (`PageView::heads`);
    /// without them the edit applies to the current text.
    #[serde(default)]
    pub base: Option<Vec<String>>,
}

/// `kith wiki rename`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PageRename {
    pub title: String,
}

/// One page of an import.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportItem {
    /// A page id from front matter, if any: that page is updated.
    pub id: Option<String>,
    pub title: String,
    pub body: String,
}

/// What an import did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ImportReport {
    pub created: Vec<PageRef>,
    pub updated: Vec<PageRef>,
    pub unchanged: Vec<PageRef>,
}

/// A page with everything an export writes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportedPage {
    pub page: PageView,
}

/// `kith ask`: a question, posted unless similar ones exist (or `yes`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AskParams {
    pub text: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Post even if similar questions or answers exist.
    #[serde(default)]
    pub yes: bool,
}

/// What `ask` did: posted the question, or found similar ones first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AskOutcome {
    pub posted: Option<EntryView>,
    pub similar: Vec<crate::search::SearchHit>,
}

/// A reply or answer to an entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplyParams {
    pub text: String,
    #[serde(default)]
    pub tags: Vec<String>,
}

/// `kith endorse`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EndorseParams {
    pub note: Option<String>,
    #[serde(default)]
    pub withdraw: bool,
}

/// Who endorsed an entry, and how much that counts for this node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Endorser {
    pub author: AuthorId,
    pub name: Option<String>,
    /// 1.0 trusted directly (or me), 0.5 at two hops, 0 otherwise.
    pub weight: f64,
    pub note: Option<String>,
    pub timestamp: u64,
}

/// A reply in a thread, with its own replies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplyNode {
    #[serde(flatten)]
    pub entry: EntryView,
    pub score: f64,
    pub endorsed_by: Vec<Endorser>,
    pub replies: Vec<ReplyNode>,
}

/// An answer in a thread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnswerView {
    #[serde(flatten)]
    pub entry: EntryView,
    /// Sum of the endorsers' weights.
    pub score: f64,
    pub endorsed_by: Vec<Endorser>,
    /// Accepted by the question's author.
    pub accepted: bool,
    pub replies: Vec<ReplyNode>,
}

/// `kith thread --json`: the root entry, its answers ranked (accepted
/// first, then by trust-weighted score, then oldest first), and its replies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadView {
    #[serde(flatten)]
    pub entry: EntryView,
    pub score: f64,
    pub endorsed_by: Vec<Endorser>,
    pub answers: Vec<AnswerView>,
    pub replies: Vec<ReplyNode>,
}

/// A line of `kith questions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuestionView {
    #[serde(flatten)]
    pub entry: EntryView,
    pub answers: usize,
    pub accepted: bool,
}

/// Filters for `kith questions`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct QuestionParams {
    #[serde(default)]
    pub unanswered: bool,
    pub tag: Option<String>,
    pub limit: Option<usize>,
}

/// `kith profile set`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProfileParams {
    pub name: String,
    #[serde(default)]
    pub about: String,
}

/// Someone's profile as this node sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileView {
    pub author: AuthorId,
    /// Their self-chosen name.
    pub name: Option<String>,
    pub about: Option<String>,
    /// My name for them.
    pub petname: Option<String>,
    /// What this node shows: petname, else name.
    pub display_name: Option<String>,
    pub trusted: bool,
}

/// `kith bundle export`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BundleParams {
    /// Who the bundle is for (must be someone you trust).
    pub recipient: Option<String>,
    /// Only these authors (ids, or `me`).
    #[serde(default)]
    pub authors: Vec<String>,
    /// The recipient's frontier file (JSON): only what it lacks.
    pub since: Option<String>,
}

/// One entry refused by an import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    pub author: AuthorId,
    pub seq: u64,
    pub reason: String,
}

/// What importing entries did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportEntriesReport {
    pub appended: u64,
    pub duplicates: u64,
    /// Entries by authors this node does not replicate.
    pub not_replicated: u64,
    /// Wiki dependencies kept apart from the logs.
    pub dependencies: u64,
    pub rejected: Vec<Rejected>,
}

/// Proof that an author signed two entries at one seq (`kith forks`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForkView {
    pub author: AuthorId,
    pub name: Option<String>,
    pub seq: u64,
    /// The two conflicting entries (both validly signed).
    pub entries: [EntryId; 2],
}
