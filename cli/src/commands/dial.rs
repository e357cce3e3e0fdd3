//! `kith dial MULTIADDR`: connect to a peer by address.

use anyhow::Result;
use kith_node::{DataDir, ops};

use crate::backend::Backend;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// e.g. /ip4/192.168.1.5/tcp/4001
    addr: String,
}

pub fn run(data_dir: &DataDir, args: Args) -> Result<()> {
    Backend::connect(data_dir)?.call(ops::Dial {
        addr: args.addr.clone(),
    })?;
    println!("dialing {} (only peers you trust are kept)", args.addr);
    Ok(())
}
