//! Kith's core: `Core` (the model over the store: writing, ingesting,
//! circles, devices, recovery), the wiki engine, the read side, the file
//! formats and the operation contract (`ops`). No network, no HTTP:
//! `kith-node` runs it behind its actors (docs/ARCHITECTURE.md).

pub use kith_store::{clock, search, store, text};

pub mod bundle;
pub mod codes;
pub mod config;
pub mod core;
pub mod error;
pub mod identity;
pub mod invite;
pub mod jobs;
#[cfg(test)]
mod layers;
pub mod model;
pub mod ops;
pub mod reader;
pub mod refs;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod verify;
pub mod wiki;
pub mod witness;

pub use crate::config::{Config, DataDir};
pub use crate::core::Core;
pub use crate::error::{Error, ErrorKind, Result};
pub use crate::ops::Operation;
pub use crate::reader::Reader;
pub use crate::verify::{Checked, verify_all};
