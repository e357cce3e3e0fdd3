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
    if let Some(name) = args.name {
        let mut core = Core::open(crate::backend::load_config(data_dir)?, keypair.clone())?;
        core.run(ops::ProfileSet {
            name,
            about: String::new(),
        })?;
    }
    eprintln!("created identity in {}", data_dir.identity().display());
    println!("{}", keypair.author());
    Ok(())
}
