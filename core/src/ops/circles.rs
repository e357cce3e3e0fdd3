//! Private circles (PROTOCOL.md §12): creating them, changing their
//! members, and seeing who is in them. Writing in a circle is `Post`,
//! `Ask` and `WikiNew` with `circle`; what answers a circle entry stays in
//! its circle by itself.
//!
//! All run on the store actor: reading a circle may learn epoch keys
//! (kept in the store's views).

use serde::{Deserialize, Serialize};

use super::StoreOp;
use crate::core::Core;
use crate::error::Result;
use crate::model::CircleView;

/// Starts a circle of you and `members` (names of people you trust, or
/// author ids).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CircleCreate {
    pub name: String,
    #[serde(default)]
    pub members: Vec<String>,
}

impl StoreOp for CircleCreate {
    fn run(self, core: &mut Core) -> Result<CircleView> {
        core.circle_create(&self.name, &self.members)
    }
}

/// Adds a member from now on; `history` also gives them what the circle
/// wrote before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CircleAdd {
    pub circle: String,
    pub member: String,
    #[serde(default)]
    pub history: bool,
}

impl StoreOp for CircleAdd {
    fn run(self, core: &mut Core) -> Result<CircleView> {
        core.circle_add(&self.circle, &self.member, self.history)
    }
}

/// Removes a member (yourself: leave). They keep what they had and read
/// nothing written after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CircleRemove {
    pub circle: String,
    pub member: String,
}

impl StoreOp for CircleRemove {
    fn run(self, core: &mut Core) -> Result<CircleView> {
        core.circle_remove(&self.circle, &self.member)
    }
}

/// The circles this node holds entries of.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CircleList {}

impl StoreOp for CircleList {
    fn run(self, core: &mut Core) -> Result<Vec<CircleView>> {
        core.circle_list()
    }
}

/// One circle: members, epoch, and who changed what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CircleShow {
    pub circle: String,
}

impl StoreOp for CircleShow {
    fn run(self, core: &mut Core) -> Result<CircleView> {
        core.circle_show(&self.circle)
    }
}
