//! `kith status`: replication progress per author.

use anyhow::Result;
use kith_node::{DataDir, ops};

use crate::backend::Backend;
use crate::output;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long)]
    json: bool,
}

pub fn run(data_dir: &DataDir, args: Args) -> Result<()> {
    let mut backend = Backend::connect(data_dir)?;
    let status = backend.call(ops::Status {})?;
    let running = status.running;
    if args.json {
        return output::json(&status);
    }
    if running {
        println!(
            "node running, {} peer(s) connected, {}",
            status.connected_peers,
            if status.syncing {
                "catching up"
            } else {
                "up to date with connected peers"
            }
        );
        println!("reachability: {}", status.reachability);
        if !status.relays.is_empty() {
            let relays: Vec<String> = status
                .relays
                .iter()
                .map(|a| format!("…{}", a.short()))
                .collect();
            println!("reachable through the relays of: {}", relays.join(", "));
        }
        if !status.relaying_for.is_empty() {
            println!("relaying for {} trusted peer(s)", status.relaying_for.len());
        }
        for job in &status.jobs {
            println!("{}", output::job(job));
        }
        if status.refused_connections > 0 {
            println!(
                "refused {} connection(s) from peers you do not trust",
                status.refused_connections
            );
        }
    } else {
        println!("no node running (start it with `kith up`); local logs:");
    }
    for a in &status.authors {
        let me = if a.author == status.me { " (me)" } else { "" };
        let seen = a.seen_seq.map_or("-".to_string(), |s| s.to_string());
        let flags = match (a.syncing, a.forked) {
            (_, true) => "  FORKED: held",
            (true, _) => "  syncing",
            _ => "",
        };
        println!(
            "{}{me}  {}  local {}  seen {seen}{flags}",
            a.author,
            a.name.clone().unwrap_or_default(),
            a.local_seq
        );
    }
    Ok(())
}
