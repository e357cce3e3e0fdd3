//! Invites, joining, dialling, peers and status: what the network loop
//! knows. With no node running, `peers` and `status` show what the store
//! remembers, `join` works offline (the node dials the inviter when it
//! starts), and `invite` and `dial` say that a node must run.

use serde::{Deserialize, Serialize};

use super::{Net, NetOp, StoreOp};
use crate::core::Core;
use crate::error::{Error, Result};
use crate::model::{AuthorStatus, InviteView, PeerView, Reachability, StatusView, TrustView};

/// An invite code others can `join`: this node's id and addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invite {}

impl NetOp for Invite {
    fn run(self, net: &mut dyn Net) -> Result<InviteView> {
        Ok(net.invite())
    }

    fn offline(self, _core: &mut Core) -> Result<InviteView> {
        Err(Error::NoNode(
            "an invite carries the addresses the node listens on".into(),
        ))
    }
}

/// Trusts the inviter of `code` and dials them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Join {
    pub code: String,
    #[serde(default)]
    pub petname: Option<String>,
}

impl StoreOp for Join {
    fn run(self, core: &mut Core) -> Result<TrustView> {
        core.join(&self.code, self.petname)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dial {
    pub addr: String,
}

impl NetOp for Dial {
    fn run(self, net: &mut dyn Net) -> Result<()> {
        net.dial_addr(&self.addr)
    }

    fn offline(self, _core: &mut Core) -> Result<()> {
        Err(Error::NoNode("dialling needs the network".into()))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peers {}

impl NetOp for Peers {
    fn run(self, net: &mut dyn Net) -> Result<Vec<PeerView>> {
        net.peers()
    }

    /// What the store remembers; nobody is connected.
    fn offline(self, core: &mut Core) -> Result<Vec<PeerView>> {
        let store = core.store();
        let mut out = Vec::new();
        for t in store.trust_list()? {
            let record = store.peer_get(&t.author)?.unwrap_or_default();
            out.push(PeerView {
                author: t.author,
                name: store.display_name(&t.author)?,
                addrs: record.addrs,
                connected: false,
                connection: None,
                remote_addr: None,
                last_seen: record.last_seen_ms,
                last_sync: record.last_sync_ms,
                in_flight: 0,
                relayed_why: None,
            });
        }
        Ok(out)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {}

impl NetOp for Status {
    fn run(self, net: &mut dyn Net) -> Result<StatusView> {
        net.status()
    }

    /// The local logs; no node, so no peers, gossip or jobs.
    fn offline(self, core: &mut Core) -> Result<StatusView> {
        let store = core.store();
        let mut authors = Vec::new();
        for author in core.scope().authors() {
            authors.push(AuthorStatus {
                author: *author,
                name: store.display_name(author)?,
                local_seq: store.head(author)?.map_or(0, |h| h.seq),
                seen_seq: None,
                syncing: false,
                forked: store.is_flagged(author)?,
            });
        }
        Ok(StatusView {
            me: core.me(),
            running: false,
            syncing: false,
            connected_peers: 0,
            authors,
            listen: Vec::new(),
            gossip: Default::default(),
            refused_connections: 0,
            recovering: crate::core::recovery::pending_recovery(store)?,
            let_in: 0,
            reachability: Reachability::Unknown,
            relays: Vec::new(),
            relaying_for: Vec::new(),
            relay_limits: core.config().relay.clone(),
            jobs: Vec::new(),
            refused_wiki_changes: core.reader().refused_wiki_changes()?,
            pages_to_review: core.reader().pages_to_review()?,
        })
    }
}
