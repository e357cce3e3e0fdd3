//! `kith reindex`: rebuild the views from the entries. With a node
//! running, the rebuild is a job on the node (which keeps replicating and
//! answering meanwhile) and this shows its progress.

use anyhow::Result;
use kith_node::jobs::JobKind;
use kith_node::{DataDir, ops};

use crate::backend::Backend;
use crate::output;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(data_dir: &DataDir, _args: Args) -> Result<()> {
    let mut backend = Backend::connect(data_dir)?;
    let watch = if backend.is_running() {
        output::JobWatch::start(data_dir, JobKind::Reindex)
    } else {
        eprintln!("no node running: rebuilding in this process");
        None
    };
    let report = backend.call(ops::Reindex {});
    drop(watch);
    let report = report?;
    println!("rebuilt views from {} entries", report.entries);
    Ok(())
}
