//! Wiki pages, their history, blame, imports and exports, as the API and
//! `--json` show them (re-exported from [`crate::model`]).

use kith_protocol::{AuthorId, EntryId, PageId};
use serde::{Deserialize, Serialize};

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
    /// Posts added to the page (`kith wiki promote`), where they came from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub promoted: Vec<PromotedView>,
}

/// A post added to a page: whose, what it answered, who added it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromotedView {
    pub source: EntryId,
    pub source_author: AuthorId,
    pub source_name: Option<String>,
    /// `note`, `question` or `answer` (absent if the post is not here).
    pub source_kind: Option<String>,
    /// For an answer: how its question begins.
    pub question: Option<String>,
    /// For an answer: its question (the thread to link to).
    pub thread: Option<EntryId>,
    /// When the post was written.
    pub written: u64,
    pub promoter: AuthorId,
    pub promoter_name: Option<String>,
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
    /// A line added from a post (`kith wiki promote`): `author` is the
    /// post's author, `source` the post, `promoted_by` who added it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<EntryId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted_by: Option<AuthorId>,
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

/// One side of a merged page: who wrote what only that side holds, and the
/// page as that side alone left it (`kith wiki sides`, the web app's
/// review of a merge).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SideView {
    pub head: String,
    pub authors: Vec<AuthorId>,
    /// Display names, in the order of `authors` (short ids where unnamed).
    pub names: Vec<String>,
    pub title: String,
    pub body: String,
}
