//! `kith join CODE`: trust the inviter and connect to them.

use anyhow::Result;
use kith_node::{DataDir, ops};

use crate::backend::Backend;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The invite code (starts with kith1)
    code: String,
    /// Your name for the inviter
    #[arg(long)]
    name: Option<String>,
}

pub fn run(data_dir: &DataDir, args: Args) -> Result<()> {
    let mut backend = Backend::connect(data_dir)?;
    let view = backend.call(ops::Join {
        code: args.code,
        petname: args.name,
    })?;
    println!("trusting {}", view.author);
    if !backend.is_running() {
        eprintln!("no node is running: it will connect when you start `kith up`");
    } else {
        eprintln!("connecting; they must trust you too (they join your invite code)");
    }
    Ok(())
}
