//! Posts, the feed, trust, profiles and deletion.

use kith_protocol::PostKind;
use serde::{Deserialize, Serialize};

use super::{ReadCtx, ReadOp, StoreOp};
use crate::core::Core;
use crate::error::Result;
use crate::model::{EntryView, IdView, ProfileView, TrustView};
use crate::refs::{AuthorRef, Cursor, EntryRef};

/// Who this node is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Whoami {}

impl ReadOp for Whoami {
    fn run(self, ctx: &ReadCtx<'_>) -> Result<IdView> {
        ctx.reader.whoami()
    }
}

/// A new post.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Post {
    pub text: String,
    #[serde(default = "note")]
    pub kind: PostKind,
    #[serde(default)]
    pub reply_to: Option<EntryRef>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// The private circle to write it in (name or id); a reply stays in
    /// the circle of the post it answers.
    #[serde(default)]
    pub circle: Option<String>,
    /// Files it attaches: references to blobs this node holds
    /// (`ops::BlobAdd` gives them).
    #[serde(default)]
    pub files: Vec<kith_protocol::blob::BlobRef>,
}

fn note() -> PostKind {
    PostKind::Note
}

impl Post {
    /// A plain note without tags.
    pub fn note(text: impl Into<String>) -> Post {
        Post {
            text: text.into(),
            kind: PostKind::Note,
            reply_to: None,
            tags: Vec::new(),
            circle: None,
            files: Vec::new(),
        }
    }
}

impl StoreOp for Post {
    fn run(self, core: &mut Core) -> Result<EntryView> {
        core.post(&self)
    }

    /// One flush for the group (group commit).
    fn run_group(posts: Vec<Post>, core: &mut Core) -> Vec<Result<EntryView>> {
        core.post_many(&posts)
    }
}

/// Posts, newest first. `before` is the `cursor` of the last item of the
/// previous page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feed {
    pub limit: Option<usize>,
    pub before: Option<Cursor>,
    pub author: Option<AuthorRef>,
    pub kind: Option<PostKind>,
    pub tag: Option<String>,
}

impl ReadOp for Feed {
    fn run(self, ctx: &ReadCtx<'_>) -> Result<Vec<EntryView>> {
        ctx.reader.feed(&self)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustList {}

impl ReadOp for TrustList {
    fn run(self, ctx: &ReadCtx<'_>) -> Result<Vec<TrustView>> {
        ctx.reader.trust_list()
    }
}

/// Trusting an author, with my own name for them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustAdd {
    pub author: AuthorRef,
    #[serde(default)]
    pub petname: Option<String>,
}

impl StoreOp for TrustAdd {
    fn run(self, core: &mut Core) -> Result<TrustView> {
        let author = self.author.resolve(core.me());
        core.trust_add(author, self.petname)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustRemove {
    pub author: AuthorRef,
}

impl StoreOp for TrustRemove {
    fn run(self, core: &mut Core) -> Result<bool> {
        let author = self.author.resolve(core.me());
        core.trust_remove(author)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub author: AuthorRef,
}

impl ReadOp for Profile {
    fn run(self, ctx: &ReadCtx<'_>) -> Result<ProfileView> {
        ctx.reader.profile(self.author.resolve(ctx.reader.me()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileSet {
    pub name: String,
    #[serde(default)]
    pub about: String,
}

impl StoreOp for ProfileSet {
    fn run(self, core: &mut Core) -> Result<EntryView> {
        core.profile_set(&self.name, &self.about)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delete {
    pub id: EntryRef,
}

impl StoreOp for Delete {
    fn run(self, core: &mut Core) -> Result<EntryView> {
        let id = self.id.resolve(core.store())?;
        core.delete(id)
    }
}
