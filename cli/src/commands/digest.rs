//! `kith digest [--since 1d]`: the inbox over a period, grouped.

use anyhow::Result;
use kith_node::DataDir;

pub use crate::commands::inbox::DigestArgs as Args;

pub fn run(data_dir: &DataDir, args: Args) -> Result<()> {
    crate::commands::inbox::digest(data_dir, args)
}
