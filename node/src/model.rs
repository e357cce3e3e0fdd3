//! The JSON shapes of the local API and of `--json` output. The CLI prints
//! these whether it talks to a running node or to the store directly, so both
//! paths give scripts the same data.

use kith_protocol::{AuthorId, Body, Entry, EntryId, PageId};
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
    /// For a reply in the feed: who wrote the post it answers, and how
    /// that post begins (absent elsewhere, and when the parent is not here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<ParentExcerpt>,
    /// The private circle it was written in (its name, or its id if this
    /// node cannot read the circle); absent for public entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circle: Option<String>,
}

/// The start of the post a reply answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParentExcerpt {
    pub author: AuthorId,
    pub author_name: Option<String>,
    /// The first line of its text, at most ~100 characters.
    pub excerpt: String,
}

impl ParentExcerpt {
    /// Longest excerpt, in characters.
    pub const CHARS: usize = 100;

    /// The first non-empty line of `text`, cut at a word near `CHARS`.
    pub fn excerpt_of(text: &str) -> String {
        let line = text
            .lines()
            .map(|l| l.trim().trim_start_matches('#').trim())
            .find(|l| !l.is_empty())
            .unwrap_or_default();
        if line.chars().count() <= Self::CHARS {
            return line.to_string();
        }
        let cut = line
            .char_indices()
            .nth(Self::CHARS)
            .map_or(line.len(), |(i, _)| i);
        let cut = line[..cut].rfind(' ').unwrap_or(cut);
        format!("{}…", line[..cut].trim_end())
    }
}

impl EntryView {
    /// `body` as the node reads it (`Store::open_body`).
    pub fn new(
        entry: &Entry,
        body: Option<Result<Body, kith_protocol::BodyError>>,
        author_name: Option<String>,
    ) -> Self {
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
            parent: None,
            circle: None,
        }
    }
}

/// Pagination cursor for an entry: `<timestamp>-<id>`.
pub fn cursor_of(view: &EntryView) -> crate::refs::Cursor {
    crate::refs::Cursor {
        timestamp: view.timestamp,
        id: view.id,
    }
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
    /// How we are connected (null when not connected).
    pub connection: Option<Connection>,
    /// Address of the live connection, if any.
    pub remote_addr: Option<String>,
    /// Last time connected (ms since the epoch).
    pub last_seen: Option<u64>,
    /// Last time entries were pulled from this peer (ms since the epoch).
    pub last_sync: Option<u64>,
    /// Sync requests to this peer awaiting an answer.
    #[serde(default)]
    pub in_flight: usize,
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

/// How a connection to a peer runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Connection {
    Direct,
    /// Through a trusted peer's relay.
    Relayed,
    /// Direct, after hole punching through a relay.
    HolePunched,
}

impl Connection {
    pub fn as_str(&self) -> &'static str {
        match self {
            Connection::Direct => "direct",
            Connection::Relayed => "relayed",
            Connection::HolePunched => "hole-punched",
        }
    }
}

/// Whether others can reach this node, as AutoNAT judges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reachability {
    Unknown,
    /// Reachable at this address.
    Public(String),
    /// Behind a NAT or firewall.
    Private,
}

impl std::fmt::Display for Reachability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reachability::Unknown => f.write_str("unknown"),
            Reachability::Public(addr) => write!(f, "public ({addr})"),
            Reachability::Private => f.write_str("private (behind NAT or firewall)"),
        }
    }
}

impl std::str::FromStr for Reachability {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(
            if let Some(addr) = s.strip_prefix("public (").and_then(|a| a.strip_suffix(')')) {
                Reachability::Public(addr.to_string())
            } else if s.starts_with("private") {
                Reachability::Private
            } else {
                Reachability::Unknown
            },
        )
    }
}

/// In JSON: the same one-line text the CLI prints.
impl Serialize for Reachability {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Reachability {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Ok(text.parse().unwrap_or(Reachability::Unknown))
    }
}

/// `kith status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusView {
    pub me: AuthorId,
    /// Whether a node runs (false: read from the store directly).
    #[serde(default)]
    pub running: bool,
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
    pub reachability: Reachability,
    /// Trusted peers this node reserved a relay slot on.
    pub relays: Vec<AuthorId>,
    /// Trusted peers holding a relay slot on this node.
    pub relaying_for: Vec<AuthorId>,
    /// Long jobs running (reindex, verify, import).
    #[serde(default)]
    pub jobs: Vec<crate::jobs::JobView>,
    /// Pages with changes this node refused (they will never show here).
    #[serde(default)]
    pub refused_wiki_changes: Vec<RefusedPage>,
    /// Pages where concurrent edits by different authors were merged within
    /// a paragraph and nobody has reviewed them yet.
    pub pages_to_review: Vec<PageRef>,
}

/// A page some of whose changes were refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedPage {
    pub page: kith_protocol::PageId,
    /// Its title, if any change of it applied here.
    pub title: Option<String>,
    /// Changes refused.
    pub refused: u64,
}

impl StatusView {
    /// A name to show for `author`: their name, or the end of their id.
    pub fn name_of(&self, author: &AuthorId) -> String {
        self.authors
            .iter()
            .find(|a| a.author == *author)
            .and_then(|a| a.name.clone())
            .unwrap_or_else(|| format!("…{}", author.short()))
    }

    /// One honest line about the node's connections and sync.
    pub fn summary(&self) -> String {
        if !self.running {
            return "no node running (start it with `kith up`)".into();
        }
        match (self.connected_peers, self.syncing) {
            (0, _) => "no peers connected: share your invite code (`kith invite`, or the \
                       People page) with someone you trust, or wait for them to come online"
                .into(),
            (n, true) => format!("{n} peer(s) connected, catching up"),
            (n, false) => format!("{n} peer(s) connected, up to date with them"),
        }
    }
}

impl AuthorStatus {
    /// Where this log stands, in words (`me`: this node's author).
    pub fn state(&self, me: &AuthorId) -> String {
        if self.author == *me {
            return "yours".into();
        }
        if self.forked {
            return "forked: held".into();
        }
        match self.seen_seq {
            Some(seen) if seen > self.local_seq => {
                let behind = seen - self.local_seq;
                if self.syncing {
                    format!("catching up: {behind} to go")
                } else {
                    format!("{behind} behind")
                }
            }
            Some(_) => "up to date".into(),
            None if self.syncing => "catching up".into(),
            None => "not seen on a peer yet".into(),
        }
    }
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
    /// The inviter's person (root key), when the inviter is one of its
    /// devices other than the root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<AuthorId>,
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
    /// Former titles: links to them and lookups by them reach this page.
    pub aliases: Vec<String>,
    /// `[[Targets]]` in the body that name no live page (yet).
    pub missing_links: Vec<String>,
    /// Other live pages with the same title (created concurrently).
    pub namesakes: Vec<PageRef>,
    /// Concurrent edits merged within paragraphs, to review.
    pub merged: Option<MergeNotice>,
}

/// Concurrent edits by different authors merged within paragraphs: shown
/// until someone edits the page or marks it reviewed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeNotice {
    pub authors: Vec<AuthorId>,
    /// Display names, in the order of `authors` (short ids where unnamed).
    pub names: Vec<String>,
    /// The paragraphs where they met: index (0-based, blank-line separated
    /// blocks) and the paragraph's first words.
    pub paragraphs: Vec<MergedParagraph>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergedParagraph {
    pub index: u32,
    pub start: String,
}

/// What `kith wiki rename` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenameOutcome {
    pub page: PageView,
    /// Pages whose `[[links]]` to the old title were rewritten.
    pub relinked: Vec<PageRef>,
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
    /// Former titles.
    pub aliases: Vec<String>,
    /// Live pages sharing this title (1 when the title is unique).
    pub namesakes: usize,
    pub merged: Option<MergeNotice>,
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

/// A line of `kith wiki blame`: the change that last wrote in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlameLine {
    /// 1-based.
    pub line: usize,
    pub text: String,
    /// Absent only for text whose change this node cannot place.
    pub author: Option<AuthorId>,
    pub author_name: Option<String>,
    /// Which of the person's devices wrote it (its name, or its role),
    /// when the person has more than one key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// The signed entry that carried the change.
    pub entry: Option<EntryId>,
    pub timestamp: u64,
}

impl BlameLine {
    /// Who wrote the line, as shown: the person's name (or a short id),
    /// and the device in parentheses when the person has several.
    pub fn who(&self) -> String {
        let who = match (&self.author_name, &self.author) {
            (Some(name), _) => name.clone(),
            (None, Some(a)) => format!("…{}", a.short()),
            (None, None) => "?".into(),
        };
        match &self.device {
            Some(device) => format!("{who} ({device})"),
            None => who,
        }
    }
}

/// `kith wiki blame`: every line of a page with who last wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlameView {
    pub id: PageId,
    pub title: String,
    pub lines: Vec<BlameLine>,
}

/// What one history item changed, word by word, as its author saw the page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeDiff {
    pub id: PageId,
    pub change: HistoryView,
    pub title_before: String,
    pub title_after: String,
    pub pieces: Vec<crate::wiki::Piece>,
}

/// A page as it was right after one history item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageVersion {
    pub id: PageId,
    pub change: HistoryView,
    pub title: String,
    pub body: String,
}

/// One page of an import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportItem {
    /// A page id from front matter, if any: that page is updated.
    pub id: Option<String>,
    pub title: String,
    pub body: String,
    /// Where it came from (a file name), to name it in errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
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

/// What `ask` did: posted the question, or found similar ones first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AskOutcome {
    pub posted: Option<EntryView>,
    pub similar: Vec<crate::search::SearchHit>,
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

/// A person and their keys, as `kith device list` shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonView {
    /// The person's first key: what friends trust and invite codes name.
    pub root: AuthorId,
    /// The key that may link and revoke devices now.
    pub identity: AuthorId,
    pub name: Option<String>,
    pub devices: Vec<DeviceView>,
    /// Why the person's identity is frozen (a forked identity log), if it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflict: Option<String>,
    /// Recovery contacts the person named, and how many must vouch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<RecoveryView>,
    /// If the identity was recovered: the contacts who vouched.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recovered_by: Vec<Named>,
}

/// A key and how this node shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Named {
    pub key: AuthorId,
    pub name: Option<String>,
}

/// A person's recovery contacts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryView {
    pub threshold: u8,
    pub contacts: Vec<Named>,
}

/// A recovery request for the person's contacts to approve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryCodeView {
    pub code: String,
    /// The identity key that was lost.
    pub old: AuthorId,
    /// The new identity key, kept on this device.
    pub new: AuthorId,
}

/// One key of a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceView {
    pub key: AuthorId,
    /// `identity`, `former_identity` or `device`.
    pub role: kith_protocol::identity::Role,
    pub name: String,
    /// This node's own key.
    pub this_device: bool,
    /// Revoked or rotated away: entries after `last_seq` are refused.
    pub revoked: bool,
    pub last_seq: Option<u64>,
    /// The latest entry of its log this node holds.
    pub head_seq: u64,
    /// The key it took over from (a restore that could not confirm its
    /// log's head went on under this key, PROTOCOL.md §11.6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub took_over_from: Option<AuthorId>,
}

/// A one-time device link code (`kith device link`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkCodeView {
    pub code: String,
    pub expires_in_secs: u64,
}

/// A private circle as this node sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CircleView {
    pub id: kith_protocol::circle::CircleId,
    /// `None` if this node cannot read the circle.
    pub name: Option<String>,
    /// Whether you are a member now.
    pub member: bool,
    pub members: Vec<CircleMemberView>,
    /// The epoch new content goes to.
    pub epoch: Option<kith_protocol::circle::EpochId>,
    /// Epochs that count.
    pub epochs: usize,
    /// Epoch entries under this circle's id that no holder of its key can
    /// read (junk; the same on every member's node).
    pub unreadable: usize,
    /// What members should know: changes that list this device but gave
    /// it no key, changes whose keys and listed devices disagree.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The next write starts a new epoch first (concurrent changes to
    /// merge, or a member's devices changed).
    pub needs_new_epoch: bool,
    /// Who changed what, oldest first (only in `circle show`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<CircleChangeView>,
}

/// What a recovery contact's approval said, and where the recovery stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryApprovalView {
    /// The lost identity key.
    pub old: AuthorId,
    /// The key vouched for.
    pub new: AuthorId,
    /// The lost key's log is vouched for up to here.
    pub seen_seq: u64,
    /// What the lost key certified after its contacts were named, with
    /// seq: rotations there do not stand against the recovery, and the
    /// rest past `seen_seq` no longer counts once it holds.
    pub later: Vec<String>,
    /// Whether the recovery holds already (enough contacts vouched).
    pub holds: bool,
    /// The person as this node resolves it now.
    pub person: PersonView,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CircleMemberView {
    pub person: AuthorId,
    pub name: Option<String>,
    pub devices: usize,
    /// Devices that published no encryption key: they cannot read.
    pub devices_without_key: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CircleChangeView {
    pub entry: EntryId,
    pub by: AuthorId,
    pub by_name: Option<String>,
    pub timestamp: u64,
    pub change: String,
    /// Whether the change counts (see `why_not` otherwise).
    pub counted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why_not: Option<String>,
}
