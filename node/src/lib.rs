//! # kith-node
//!
//! A running Kith node: the store actor, the verification pool, the
//! network loop over libp2p, the HTTP API and the web app, wired together
//! by [`Node::start`]. What is below the actors (the store, `Core`, the
//! wiki, reads, the operation contract) comes from `kith-store` and
//! `kith-core` and is re-exported here under the same names
//! (docs/ARCHITECTURE.md).
//!
//! ```no_run
//! use kith_node::store::Store;
//! use kith_protocol::{Body, Keypair, Post, PostKind};
//!
//! let store = Store::temporary().unwrap();
//! let me = Keypair::from_secret(&[1; 32]);
//! let body = Body::Post(Post { kind: PostKind::Note, text: "hi".into(), reply_to: None, tags: vec![], files: vec![], mentions: vec![] });
//! let entry = store.append(&me, &body, 1_700_000_000_000).unwrap();
//! assert_eq!(store.get(&entry.id()).unwrap().unwrap(), entry);
//! ```

pub mod api;
mod blobs;
/// The layers below the actors, from `kith-core` (which re-exports
/// `kith-store`'s store, search, clock and text).
pub use kith_core::{
    bundle, clock, codes, config, core, error, identity, invite, jobs, model, ops, reader, refs,
    search, store, text, verify, wiki, witness,
};
pub mod device_link;
mod gate;
pub mod handle;
mod http;
mod network;
mod node;
mod store_actor;
pub mod swarm;
mod verify_pool;
pub mod web;

pub use crate::handle::{Event, Handle, Origin};
pub use crate::node::Node;
pub use kith_core::{
    Checked, Config, Core, DataDir, Error, ErrorKind, Operation, Reader, Result, verify_all,
};

/// The text of the fenced block between `<!-- NAME:begin -->` and
/// `<!-- NAME:end -->` in docs/PROTOCOL.md (empty if there is none), for
/// the tests that check its vectors against the code.
#[cfg(test)]
pub(crate) fn protocol_md_block(name: &str) -> &'static str {
    include_str!("../../docs/PROTOCOL.md")
        .split(&format!("<!-- {name}:begin -->\n```text\n"))
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .unwrap_or_default()
}
