//! `kith id`: who this node is.

use anyhow::Result;
use kith_node::{DataDir, ops};

use crate::backend::Backend;
use crate::output;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON: {author, name, entries}
    #[arg(long)]
    json: bool,
}

pub fn run(data_dir: &DataDir, args: Args) -> Result<()> {
    let me = Backend::connect(data_dir)?.call(ops::Whoami {})?;
    if args.json {
        return output::json(&me);
    }
    println!("{}", me.author);
    Ok(())
}
