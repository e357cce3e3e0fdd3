//! A person's devices (PROTOCOL.md §11): list, link, revoke, and the two
//! ends of the link handshake (kith-node's `device_link`).

use kith_protocol::identity::DeviceLink;
use serde::{Deserialize, Serialize};

use super::{Net, NetOp, ReadCtx, ReadOp, StoreOp};
use crate::core::Core;
use crate::error::{Error, Result};
use crate::model::{LinkCodeView, PersonView};
use crate::reader::person_view;
use crate::refs::AuthorRef;

/// A person (mine unless `of` names another key): every key it has or
/// had, this device marked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Devices {
    #[serde(default)]
    pub of: Option<AuthorRef>,
}

impl ReadOp for Devices {
    fn run(self, ctx: &ReadCtx<'_>) -> Result<PersonView> {
        let me = ctx.reader.me();
        let key = self.of.map_or(me, |a| a.resolve(me));
        let mut view = person_view(ctx.reader.store(), key)?;
        for d in &mut view.devices {
            d.this_device = d.key == me;
        }
        Ok(view)
    }
}

/// Links a device that consented (on the device holding the identity key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceAdd {
    pub link: DeviceLink,
}

impl StoreOp for DeviceAdd {
    fn run(self, core: &mut Core) -> Result<PersonView> {
        core.device_add(self.link)
    }
}

/// Revokes one of my person's devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRevoke {
    pub device: AuthorRef,
    /// The device's last entry that stays valid (a stolen device's entries
    /// after the theft should not); default: the last this node holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep: Option<u64>,
}

impl StoreOp for DeviceRevoke {
    fn run(self, core: &mut Core) -> Result<PersonView> {
        let device = self.device.resolve(core.me());
        core.device_revoke(device, self.keep)
    }
}

/// Records, on a new device, the person it joined (after the handshake).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceJoined {
    pub code: String,
}

impl StoreOp for DeviceJoined {
    fn run(self, core: &mut Core) -> Result<PersonView> {
        let code = crate::codes::LinkCode::decode(&self.code)?;
        let addrs: Vec<String> = code.addrs.iter().map(ToString::to_string).collect();
        core.device_joined(code.identity, code.node, &addrs)?;
        core.person()
    }
}

/// A one-time code that makes another machine a device of this person.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceLinkCode {}

impl NetOp for DeviceLinkCode {
    fn run(self, net: &mut dyn Net) -> Result<LinkCodeView> {
        net.link_code()
    }

    fn offline(self, _core: &mut Core) -> Result<LinkCodeView> {
        Err(Error::NoNode(
            "the new device connects to this node to be linked".into(),
        ))
    }
}

/// Replaces the person's identity key with a new one, kept by this node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityRotate {}

impl StoreOp for IdentityRotate {
    fn run(self, core: &mut Core) -> Result<PersonView> {
        core.identity_rotate()
    }
}

/// Names recovery contacts (on the device holding the identity key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoverySet {
    pub threshold: u8,
    pub contacts: Vec<AuthorRef>,
}

impl StoreOp for RecoverySet {
    fn run(self, core: &mut Core) -> Result<PersonView> {
        let me = core.me();
        let contacts = self.contacts.iter().map(|c| c.resolve(me)).collect();
        core.recovery_set(self.threshold, contacts)
    }
}

/// On a fresh install: asks the lost identity's contacts to vouch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryRequest {
    pub old: AuthorRef,
    /// Where this node listens (multiaddrs, as `Invite` gives them), put in
    /// the code so the contacts' nodes dial it; the CLI fills them in from
    /// the running node. Empty: a code without addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addrs: Vec<String>,
}

impl StoreOp for RecoveryRequest {
    fn run(self, core: &mut Core) -> Result<crate::model::RecoveryCodeView> {
        let old = self.old.resolve(core.me());
        if self.addrs.len() > crate::invite::MAX_ADDRS {
            return Err(Error::InvalidInput(format!(
                "a recovery code carries at most {} addresses",
                crate::invite::MAX_ADDRS
            )));
        }
        let addrs = self
            .addrs
            .iter()
            .map(|a| crate::config::parse_multiaddr("address", a))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::InvalidInput(e.to_string()))?;
        core.recovery_request(old, addrs)
    }
}

/// A recovery contact vouches for the new key of a recovery code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryApprove {
    pub code: String,
    /// The last seq of the lost key's log the owner still held it at (the
    /// approval's `seen_seq`); default: the last this node holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen: Option<u64>,
}

impl StoreOp for RecoveryApprove {
    fn run(self, core: &mut Core) -> Result<crate::model::RecoveryApprovalView> {
        core.recovery_approve(&self.code, self.seen)
    }
}
