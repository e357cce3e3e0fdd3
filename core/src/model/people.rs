//! Persons, their devices and recovery, and private circles, as the API
//! and `--json` show them (re-exported from [`crate::model`]).

use kith_protocol::{AuthorId, EntryId};
use serde::{Deserialize, Serialize};

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
    /// Where the code says this node listens (empty: the code carries no
    /// address, and the contacts' nodes cannot dial this one).
    #[serde(default)]
    pub addrs: Vec<String>,
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
    /// The addresses of the recovering device this node dials (from the
    /// code; empty for a code without addresses).
    #[serde(default)]
    pub dialled: Vec<String>,
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
