//! Wiki pages. A page is named by its id, a unique id prefix, or its title.

use serde::{Deserialize, Serialize};

use super::{Binary, ReadCtx, ReadOp, StoreOp};
use crate::core::Core;
use crate::error::Result;
use crate::model::{
    BlameView, ChangeDiff, HistoryView, ImportItem, ImportReport, PageSummary, PageVersion,
    PageView, RenameOutcome,
};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WikiList {
    /// Include archived pages.
    #[serde(default)]
    pub archived: bool,
}

impl ReadOp for WikiList {
    fn run(self, ctx: &ReadCtx<'_>) -> Result<Vec<PageSummary>> {
        ctx.reader.wiki_list(self.archived)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WikiNew {
    pub title: String,
    #[serde(default)]
    pub body: String,
    /// The private circle the page belongs to (name or id): only its
    /// members can read and edit it.
    #[serde(default)]
    pub circle: Option<String>,
}

impl StoreOp for WikiNew {
    fn run(self, core: &mut Core) -> Result<PageView> {
        let circle = match &self.circle {
            Some(c) => Some(core.circle_named(c)?),
            None => None,
        };
        core.wiki_new(&self.title, &self.body, circle)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WikiShow {
    pub page: String,
}

impl StoreOp for WikiShow {
    fn run(self, core: &mut Core) -> Result<PageView> {
        core.wiki_show(&self.page)
    }
}

/// The page's new full body. `base` holds the heads of the version the
/// edit started from (`PageView::heads`), so that edits made meanwhile are
/// merged, not overwritten; without it the edit applies to the current text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WikiEdit {
    pub page: String,
    pub body: String,
    #[serde(default)]
    pub base: Option<Vec<String>>,
}

impl StoreOp for WikiEdit {
    fn run(self, core: &mut Core) -> Result<PageView> {
        core.wiki_edit(&self.page, &self.body, self.base.as_deref())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
/// Retitles a page. The old title stays an alias; with `update_links`,
/// `[[Old title]]` links in other live pages are rewritten to the new one.
pub struct WikiRename {
    pub page: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub update_links: bool,
}

impl StoreOp for WikiRename {
    fn run(self, core: &mut Core) -> Result<RenameOutcome> {
        core.wiki_rename(&self.page, &self.title, self.update_links)
    }
}

/// Marks a page's merged concurrent edits as reviewed (a small change of
/// its own, so every node sees the page reviewed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WikiReviewed {
    pub page: String,
}

impl StoreOp for WikiReviewed {
    fn run(self, core: &mut Core) -> Result<PageView> {
        core.wiki_reviewed(&self.page)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WikiArchive {
    pub page: String,
}

impl StoreOp for WikiArchive {
    fn run(self, core: &mut Core) -> Result<PageView> {
        core.wiki_archive(&self.page, true)
    }
}

/// Restores an archived page; with `at` (a change of its history, by entry
/// id or prefix), makes the page read as it did right after that change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WikiRestore {
    pub page: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
}

impl StoreOp for WikiRestore {
    fn run(self, core: &mut Core) -> Result<PageView> {
        match &self.at {
            None => core.wiki_archive(&self.page, false),
            Some(change) => core.wiki_restore_version(&self.page, change),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WikiBlame {
    pub page: String,
}

impl StoreOp for WikiBlame {
    fn run(self, core: &mut Core) -> Result<BlameView> {
        core.wiki_blame(&self.page)
    }
}

/// One change of a page's history (entry id or prefix), word by word.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WikiDiff {
    pub page: String,
    pub change: String,
}

impl StoreOp for WikiDiff {
    fn run(self, core: &mut Core) -> Result<ChangeDiff> {
        core.wiki_diff(&self.page, &self.change)
    }
}

/// The page as it was right after one change of its history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WikiAt {
    pub page: String,
    pub change: String,
}

impl StoreOp for WikiAt {
    fn run(self, core: &mut Core) -> Result<PageVersion> {
        core.wiki_at(&self.page, &self.change)
    }
}

/// A merged page as each side of the merge left it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WikiSides {
    pub page: String,
}

impl StoreOp for WikiSides {
    fn run(self, core: &mut Core) -> Result<Vec<crate::model::SideView>> {
        core.wiki_sides(&self.page)
    }
}

/// Undoes one change of a page's history as a new change, keeping later edits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WikiRevert {
    pub page: String,
    pub change: String,
}

impl StoreOp for WikiRevert {
    fn run(self, core: &mut Core) -> Result<PageView> {
        core.wiki_revert(&self.page, &self.change)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WikiHistory {
    pub page: String,
}

impl ReadOp for WikiHistory {
    fn run(self, ctx: &ReadCtx<'_>) -> Result<Vec<HistoryView>> {
        ctx.reader.wiki_history(&self.page)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WikiAutomerge {
    pub page: String,
}

impl StoreOp for WikiAutomerge {
    fn run(self, core: &mut Core) -> Result<Binary> {
        core.wiki_automerge(&self.page).map(Binary)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WikiExport {}

impl StoreOp for WikiExport {
    fn run(self, core: &mut Core) -> Result<Vec<PageView>> {
        core.wiki_export()
    }
}

/// Pages from markdown: a page is matched by the id in its front matter,
/// else by title, and updated in place; importing twice changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WikiImport(pub Vec<ImportItem>);

impl StoreOp for WikiImport {
    fn run(self, core: &mut Core) -> Result<ImportReport> {
        core.wiki_import(&self.0)
    }
}

/// Adds a post's text to the wiki: a new page (titled `to`, or after the
/// post), or a section of the page `to`, with a signed reference to the
/// post, so its lines are attributed to the post's author.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WikiPromote {
    pub entry: crate::refs::EntryRef,
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub section: Option<String>,
    /// `entry` is an answered question: gather it, its accepted answer and
    /// the endorsed others into one page, each credited to its author.
    #[serde(default)]
    pub thread: bool,
}

impl StoreOp for WikiPromote {
    fn run(self, core: &mut Core) -> Result<PageView> {
        let entry = self.entry.resolve(core.store())?;
        if self.thread {
            return core.wiki_promote_thread(entry, self.to.as_deref());
        }
        core.wiki_promote(entry, self.to.as_deref(), self.section.as_deref())
    }
}
