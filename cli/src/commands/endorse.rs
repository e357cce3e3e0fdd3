//! `kith endorse ID`: say an answer (or any post) is good.

use anyhow::Result;
use kith_node::refs::EntryRef;
use kith_node::{DataDir, ops};

use crate::backend::Backend;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The entry endorsed (id or unique prefix)
    id: EntryRef,
    /// Why (shown with the endorsement)
    #[arg(long)]
    note: Option<String>,
    /// Withdraw your earlier endorsement
    #[arg(long, conflicts_with = "note")]
    withdraw: bool,
}

pub fn run(data_dir: &DataDir, args: Args) -> Result<()> {
    let view = Backend::connect(data_dir)?.call(ops::Endorse {
        id: args.id,
        note: args.note,
        withdraw: args.withdraw,
    })?;
    println!("{}", view.id);
    Ok(())
}
