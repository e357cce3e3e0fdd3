//! `kith web`: print the web app's sign-in URL of the running node.

use anyhow::Result;
use kith_node::DataDir;
use kith_node::error::Error as NodeError;

use crate::backend::Backend;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(data_dir: &DataDir, _args: Args) -> Result<()> {
    // Fails clearly when no node runs.
    if !Backend::connect(data_dir)?.is_running() {
        return Err(NodeError::NoNode("the web app is served by the node".into()).into());
    }
    match kith_node::api::running_web_url(data_dir) {
        Some(url) => println!("{url}"),
        None => anyhow::bail!("the running node's API files are unreadable"),
    }
    Ok(())
}
