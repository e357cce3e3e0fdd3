//! `kith init`: create the identity.

use anyhow::Result;
use kith_node::{Core, DataDir, identity, ops};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Your name, published in a signed profile entry
    #[arg(long)]
    name: Option<String>,
}

pub fn run(data_dir: &DataDir, args: Args) -> Result<()> {
    let keypair = identity::create(&data_dir.identity())?;
    let mut core = Core::open(crate::backend::load_config(data_dir)?, keypair.clone())?;
    // The X25519 key friends wrap circle keys to (PROTOCOL.md §12).
    core.ensure_encryption_key()?;
    if let Some(name) = args.name {
        core.run(ops::ProfileSet {
            name,
            about: String::new(),
        })?;
    }
    eprintln!("created identity in {}", data_dir.identity().display());
    println!("{}", keypair.author());
    Ok(())
}
