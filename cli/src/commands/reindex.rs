//! `kith reindex`: rebuild the views from the entries.

use anyhow::Result;
use kith_node::DataDir;

use crate::backend::Backend;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(data_dir: &DataDir, _args: Args) -> Result<()> {
    let report = Backend::connect(data_dir)?.reindex()?;
    println!("rebuilt views from {} entries", report.entries);
    Ok(())
}
