//! Multi-node integration tests: real libp2p nodes on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod adversary;
mod blobs;
mod browser;
mod circles;
mod contract;
mod devices;
mod discovery;
mod inbox;
mod knowledge;
mod long_jobs;
mod recovery;
mod replication;
mod resilience;
mod upgrade;
mod web;
mod web_forms;
mod wiki;
