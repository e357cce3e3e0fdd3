//! `kith accept ID`: accept an answer to your question.

use anyhow::Result;
use kith_node::refs::EntryRef;
use kith_node::{DataDir, ops};

use crate::backend::Backend;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The answer (id or unique prefix)
    id: EntryRef,
    /// Withdraw the acceptance
    #[arg(long)]
    withdraw: bool,
}

pub fn run(data_dir: &DataDir, args: Args) -> Result<()> {
    let view = Backend::connect(data_dir)?.call(ops::Accept {
        id: args.id,
        withdraw: args.withdraw,
    })?;
    println!("{}", view.id);
    Ok(())
}
