//! Whole scenarios shared by this crate's integration tests (short runs
//! that check behaviour) and its benches (full runs that report figures).
//! What every test shares (nodes in this process, `kith` child processes,
//! cores, the corpus) is in `kith-testkit`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod scenarios {
    #[path = "flood.rs"]
    pub mod flood;
    #[path = "partition.rs"]
    pub mod partition;
    #[path = "recovery.rs"]
    pub mod recovery;
}
