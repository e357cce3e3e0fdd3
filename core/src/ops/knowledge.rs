//! Search, questions and answers, replies, endorsements, accepted answers.

use serde::{Deserialize, Serialize};

use super::{ReadCtx, ReadOp, StoreOp};
use crate::core::Core;
use crate::error::Result;
use crate::model::{AskOutcome, EntryView, QuestionView, ThreadView};
use crate::refs::{AuthorRef, EntryRef};
use crate::search::{SearchHit, SearchKind};

/// What to look for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Search {
    pub q: String,
    pub author: Option<AuthorRef>,
    pub tag: Option<String>,
    pub kind: Option<SearchKind>,
    pub limit: Option<usize>,
}

/// Runs on the read pool: searching never waits behind writes or a
/// reindex (only, when something was written since the last commit, for
/// the store actor to commit it).
impl ReadOp for Search {
    fn run(self, ctx: &ReadCtx<'_>) -> Result<Vec<SearchHit>> {
        crate::core::knowledge::search(&self, ctx.fresh_search(), ctx.reader)
    }
}

/// Questions and answers like a text: what [`Ask`] checks before posting,
/// for showing while a question is typed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Similar {
    pub text: String,
}

impl ReadOp for Similar {
    fn run(self, ctx: &ReadCtx<'_>) -> Result<Vec<SearchHit>> {
        crate::core::knowledge::similar(&self.text, ctx.fresh_search(), ctx.reader)
    }
}

/// A question, posted unless similar ones exist (or `yes`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ask {
    pub text: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Post even if similar questions or answers exist.
    #[serde(default)]
    pub yes: bool,
    /// The private circle to ask in (name or id).
    #[serde(default)]
    pub circle: Option<String>,
}

impl StoreOp for Ask {
    fn run(self, core: &mut Core) -> Result<AskOutcome> {
        core.ask(&self)
    }
}

/// Questions, newest first, with how many answers they have.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Questions {
    #[serde(default)]
    pub unanswered: bool,
    pub tag: Option<String>,
    pub limit: Option<usize>,
}

impl ReadOp for Questions {
    fn run(self, ctx: &ReadCtx<'_>) -> Result<Vec<QuestionView>> {
        ctx.reader.questions(&self)
    }
}

/// A post with its answers ranked and its replies; given a reply or an
/// answer, the thread it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thread {
    pub id: EntryRef,
}

impl ReadOp for Thread {
    fn run(self, ctx: &ReadCtx<'_>) -> Result<ThreadView> {
        ctx.reader.thread(&self.id)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// The question.
    pub id: EntryRef,
    pub text: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Files it attaches (see [`super::Post::files`]).
    #[serde(default)]
    pub files: Vec<kith_protocol::blob::BlobRef>,
}

impl StoreOp for Answer {
    fn run(self, core: &mut Core) -> Result<EntryView> {
        let id = self.id.resolve(core.store())?;
        core.answer(id, &self.text, &self.tags, &self.files)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    /// The post replied to.
    pub id: EntryRef,
    pub text: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Files it attaches (see [`super::Post::files`]).
    #[serde(default)]
    pub files: Vec<kith_protocol::blob::BlobRef>,
}

impl StoreOp for Reply {
    fn run(self, core: &mut Core) -> Result<EntryView> {
        let id = self.id.resolve(core.store())?;
        core.reply(id, &self.text, &self.tags, &self.files)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endorse {
    pub id: EntryRef,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub withdraw: bool,
}

impl StoreOp for Endorse {
    fn run(self, core: &mut Core) -> Result<EntryView> {
        let id = self.id.resolve(core.store())?;
        core.endorse(id, self.note.as_deref(), self.withdraw)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accept {
    /// The answer.
    pub id: EntryRef,
    #[serde(default)]
    pub withdraw: bool,
}

impl StoreOp for Accept {
    fn run(self, core: &mut Core) -> Result<EntryView> {
        let id = self.id.resolve(core.store())?;
        core.accept(id, self.withdraw)
    }
}
