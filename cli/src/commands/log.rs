//! `kith log`: inspect the store's logs.

use anyhow::{Result, bail};
use kith_node::{DataDir, ops};

use crate::backend::Backend;
use crate::output;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Re-verify every stored entry: signatures, body hashes, chains, indexes
    Verify {
        #[arg(long)]
        json: bool,
    },
}

pub fn run(data_dir: &DataDir, command: Command) -> Result<()> {
    match command {
        Command::Verify { json } => {
            let mut backend = Backend::connect(data_dir)?;
            let watch = output::JobWatch::start(data_dir, kith_node::jobs::JobKind::Verify);
            let report = backend.call(ops::Verify {});
            drop(watch);
            let report = report?;
            if json {
                output::json(&report)?;
            } else {
                println!(
                    "{} entries from {} authors checked ({} deleted bodies)",
                    report.entries, report.authors, report.bodies_dropped
                );
                for p in &report.problems {
                    println!("problem: {p}");
                }
            }
            if !report.problems.is_empty() {
                bail!("{} problems found", report.problems.len());
            }
            Ok(())
        }
    }
}
