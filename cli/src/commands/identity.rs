//! `kith identity`: the person's identity key (PROTOCOL.md §11).

use anyhow::Result;
use kith_node::{DataDir, ops};

use crate::backend::Backend;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Replace your identity key (the one that links and revokes devices)
    /// with a new one kept on this device; friends follow automatically,
    /// and the old key can no longer link devices
    Rotate,
}

pub fn run(data_dir: &DataDir, command: Command) -> Result<()> {
    match command {
        Command::Rotate => {
            let mut backend = Backend::connect(data_dir)?;
            let person = backend.call(ops::IdentityRotate {})?;
            println!("your identity key is now {}", person.identity);
            eprintln!(
                "friends follow when they receive the rotation; this device keeps its own key and log"
            );
        }
    }
    Ok(())
}
