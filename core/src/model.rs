//! The JSON shapes of the local API and of `--json` output. The CLI prints
//! these whether it talks to a running node or to the store directly, so both
//! paths give scripts the same data.

use kith_protocol::{AuthorId, Body, Entry, EntryId};
use serde::{Deserialize, Serialize};

mod people;
mod wiki;
pub use people::*;
pub use wiki::*;

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
    /// Files the post attaches (well-formed references only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<kith_protocol::blob::BlobRef>,
    /// Wiki pages its text was added to (`kith wiki promote`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub in_wiki: Vec<PageRef>,
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

    /// The first non-empty line of `text` in plain words (no markdown
    /// marks), cut at a word near `CHARS`.
    pub fn excerpt_of(text: &str) -> String {
        let plain = crate::text::plain(text).text;
        let line = plain
            .lines()
            .map(str::trim)
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
        let mut files = Vec::new();
        let (kind, text, tags, reply_to) = match body {
            None => ("deleted".to_string(), None, Vec::new(), None),
            Some(Err(_)) => ("unknown".to_string(), None, Vec::new(), None),
            Some(Ok(Body::Post(post))) => {
                files = post
                    .files
                    .into_iter()
                    .filter(|f| f.check().is_ok())
                    .collect();
                (
                    post.kind.as_str().to_string(),
                    Some(post.text),
                    post.tags,
                    post.reply_to,
                )
            }
            Some(Ok(Body::Files(declared))) => {
                files = declared
                    .files
                    .into_iter()
                    .filter(|f| f.check().is_ok())
                    .collect();
                ("files".to_string(), None, Vec::new(), None)
            }
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
            files,
            in_wiki: Vec::new(),
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
    /// Why a relayed connection stays relayed, once a direct one was tried
    /// and failed (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relayed_why: Option<String>,
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

impl Reachability {
    /// In words, for a person: an address only peers on this machine or
    /// network could confirm is not called public (the JSON keeps
    /// AutoNAT's word, [`std::fmt::Display`]).
    pub fn describe(&self) -> String {
        match self {
            Reachability::Public(addr) => match address_scope(addr) {
                Some(scope) => format!("reachable {scope} only ({addr})"),
                None => format!("public ({addr})"),
            },
            other => other.to_string(),
        }
    }
}

/// Where an address confirmed by AutoNAT can be reached from, when that
/// is not the internet: loopback and private ranges are what peers on the
/// same machine or network confirm.
fn address_scope(addr: &str) -> Option<&'static str> {
    use multiaddr::Protocol;
    let addr: multiaddr::Multiaddr = addr.parse().ok()?;
    match addr.iter().next()? {
        Protocol::Ip4(ip) if ip.is_loopback() => Some("from this machine"),
        Protocol::Ip4(ip) if ip.is_private() || ip.is_link_local() => Some("on the local network"),
        Protocol::Ip6(ip) if ip.is_loopback() => Some("from this machine"),
        Protocol::Ip6(ip) if (ip.segments()[0] & 0xfe00) == 0xfc00 => Some("on the local network"),
        Protocol::Ip6(ip) if (ip.segments()[0] & 0xffc0) == 0xfe80 => Some("on the local network"),
        _ => None,
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
    /// The lost identity key this node asked to recover, while the
    /// recovery does not hold here: its door lets in the contacts who
    /// approve (PROTOCOL.md §11.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovering: Option<AuthorId>,
    /// Peers let in by that door and not trusted yet (asked for the lost
    /// key's log, served nothing).
    #[serde(default)]
    pub let_in: usize,
    /// AutoNAT's view: `public (addr)`, `private (…)` or `unknown`.
    pub reachability: Reachability,
    /// Trusted peers this node reserved a relay slot on.
    pub relays: Vec<AuthorId>,
    /// Trusted peers holding a relay slot on this node.
    pub relaying_for: Vec<AuthorId>,
    /// What this node offers friends as a relay (config.toml `[relay]`).
    #[serde(default)]
    pub relay_limits: crate::config::RelayLimits,
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

/// What to do behind a NAT when no friend relays for you
/// ([`StatusView::nat_hint`]).
pub const NAT_HINT: &str = "Behind a NAT, and no friend relays for you: friends outside your \
     network reach you only while you reach them. Ask a friend whose node is reachable from the \
     internet to join your invite code (their node relays for friends), or forward a port of \
     your router to this node (`kith up --listen /ip4/0.0.0.0/tcp/PORT`)";

impl StatusView {
    /// What to do, when the node is behind a NAT (AutoNAT found it private)
    /// and holds no relay slot on any friend.
    pub fn nat_hint(&self) -> Option<&'static str> {
        (self.running
            && matches!(self.reachability, Reachability::Private)
            && self.relays.is_empty())
        .then_some(NAT_HINT)
    }

    /// A name to show for `author`: their name, or the end of their id.
    pub fn name_of(&self, author: &AuthorId) -> String {
        self.authors
            .iter()
            .find(|a| a.author == *author)
            .and_then(|a| a.name.clone())
            .unwrap_or_else(|| format!("…{}", author.short()))
    }

    /// One honest line about the node's connections and sync, for the
    /// terminal (it names the commands to run).
    pub fn summary(&self) -> String {
        self.summary_with("`kith invite`, or the People page")
    }

    /// [`StatusView::summary`] for the web app, which names no command.
    pub fn summary_for_web(&self) -> String {
        let line = self.summary_with("on the People page");
        crate::text::capitalize(&line)
    }

    fn summary_with(&self, where_invite: &str) -> String {
        if !self.running {
            return "no node running (start it with `kith up`)".into();
        }
        let peers = crate::text::count(self.connected_peers as u64, "peer", "peers");
        match (self.connected_peers, self.syncing) {
            (0, _) => format!(
                "no peers connected: share your invite code ({where_invite}) with someone you trust, or wait for them to come online"
            ),
            (_, true) => format!("{peers} connected, catching up"),
            (_, false) => format!("{peers} connected, up to date with them"),
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

#[cfg(test)]
mod tests {
    use super::Reachability;

    #[test]
    fn an_address_only_this_machine_or_network_confirms_is_not_called_public() {
        let r = |a: &str| Reachability::Public(a.into()).describe();
        assert_eq!(
            r("/ip4/127.0.0.1/tcp/4001"),
            "reachable from this machine only (/ip4/127.0.0.1/tcp/4001)"
        );
        assert!(r("/ip4/192.168.1.5/tcp/4001").starts_with("reachable on the local network only"));
        assert!(r("/ip6/fd00::1/tcp/4001").starts_with("reachable on the local network only"));
        assert_eq!(
            r("/ip4/203.0.113.7/tcp/4001"),
            "public (/ip4/203.0.113.7/tcp/4001)"
        );
        // The JSON keeps AutoNAT's word.
        assert_eq!(
            Reachability::Public("/ip4/127.0.0.1/tcp/1".into()).to_string(),
            "public (/ip4/127.0.0.1/tcp/1)"
        );
    }
}
