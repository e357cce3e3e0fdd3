//! `kith invite`: a code others can `kith join`.

use anyhow::Result;
use kith_node::{DataDir, ops};

use crate::backend::Backend;
use crate::output;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON: {code, author, addrs}
    #[arg(long)]
    json: bool,
}

pub fn run(data_dir: &DataDir, args: Args) -> Result<()> {
    let invite = Backend::connect(data_dir)?.call(ops::Invite {})?;
    if args.json {
        return output::json(&invite);
    }
    eprintln!("share this code; the other person runs `kith join CODE`, and you join theirs:");
    println!("{}", invite.code);
    Ok(())
}
