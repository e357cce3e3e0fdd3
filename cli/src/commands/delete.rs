//! `kith delete ID`: ask every node to drop one of your entries.

use anyhow::Result;
use kith_node::refs::EntryRef;
use kith_node::{DataDir, ops};

use crate::backend::Backend;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Your entry (id or unique prefix)
    id: EntryRef,
}

pub fn run(data_dir: &DataDir, args: Args) -> Result<()> {
    let view = Backend::connect(data_dir)?.call(ops::Delete { id: args.id })?;
    eprintln!("deletion published: nodes that replicate you drop the entry's content");
    println!("{}", view.id);
    Ok(())
}
