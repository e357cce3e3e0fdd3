//! What Kith's tests and benches share, so that each is written once:
//!
//! - [`nodes`]: real nodes in this process ([`TestNode`], [`connect`],
//!   [`wait_until`]), for the multi-node tests;
//! - [`process`]: `kith` as a child process ([`process::Kith`] runs a
//!   command on a data dir, [`process::Up`] is a running `kith up`), for the
//!   CLI's tests, crash tests, network namespaces and the benches;
//! - [`netns`]: network namespaces, links between them and a node in each
//!   (the relay and NAT labs);
//! - [`core`]: a `Core` on a temporary store, and the helpers that make
//!   several of them trust and sync with each other (the same module
//!   kith-core's own unit tests use);
//! - [`corpus`]: realistic text and a seeded generator.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod corpus;
pub mod nat;
pub mod netns;
pub mod nodes;
pub mod process;

pub use nodes::{TestNode, WAIT, connect, wait_until};

/// Cores on temporary stores: `kith_core::testing`, re-exported.
pub mod core {
    pub use kith_core::testing::*;
}

pub use kith_core::testing::copy_dir;
