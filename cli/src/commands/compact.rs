//! `kith compact`: give back the disk space the store's engine kept of
//! overwritten and deleted values. The node must be stopped.

use anyhow::{Context, Result, bail};
use kith_node::DataDir;
use kith_node::store::Store;
use kith_node::store::kv::KvConfig;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(data_dir: &DataDir, _args: Args) -> Result<()> {
    if kith_node::api::Client::discover(data_dir)?.is_some() {
        bail!(
            "a node is running on this data dir: stop it (Ctrl-C on `kith up`), then run `kith compact` again"
        );
    }
    let path = data_dir.store();
    if !path.exists() {
        bail!(
            "no store in {} yet: nothing to compact",
            data_dir.path().display()
        );
    }
    let done = Store::compact(&path, &KvConfig::default())
        .with_context(|| format!("compacting the store in {}", path.display()))?;
    println!(
        "store compacted: {} → {} ({} freed)",
        human(done.before),
        human(done.after),
        human(done.before.saturating_sub(done.after))
    );
    Ok(())
}

fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}
