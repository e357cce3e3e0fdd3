//! `kith frontier export FILE`: what this node holds, for a friend's bundle.

use std::path::PathBuf;

use anyhow::{Context, Result};
use kith_node::{DataDir, ops};

use crate::backend::Backend;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Write this node's frontier (latest seq per author) to FILE
    Export { file: PathBuf },
}

pub fn run(data_dir: &DataDir, command: Command) -> Result<()> {
    match command {
        Command::Export { file } => {
            let frontier = Backend::connect(data_dir)?.call(ops::Frontier {})?;
            let text = serde_json::to_string_pretty(&frontier)?;
            std::fs::write(&file, text)
                .with_context(|| format!("cannot write {}", file.display()))?;
            println!(
                "wrote the frontier of {} to {}",
                kith_node::text::count(frontier.heads.len() as u64, "author", "authors"),
                file.display()
            );
        }
    }
    Ok(())
}
