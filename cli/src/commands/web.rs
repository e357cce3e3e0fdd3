//! `kith web`: print the web app's sign-in URL of the running node.

use anyhow::Result;
use kith_node::DataDir;

use crate::backend::Backend;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(data_dir: &DataDir, _args: Args) -> Result<()> {
    // Fails clearly when no node runs.
    Backend::running(data_dir)?;
    match kith_node::api::running_web_url(data_dir) {
        Some(url) => println!("{url}"),
        None => anyhow::bail!("the running node's API files are unreadable"),
    }
    Ok(())
}
