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
    println!("{}", status.summary());
    if running {
        println!("reachability: {}", status.reachability);
        if !status.relays.is_empty() {
            let relays: Vec<String> = status.relays.iter().map(|a| status.name_of(a)).collect();
            println!("reachable through the relays of: {}", relays.join(", "));
        }
        if !status.relaying_for.is_empty() {
            let names: Vec<String> = status
                .relaying_for
                .iter()
                .map(|a| status.name_of(a))
                .collect();
            println!("relaying for: {}", names.join(", "));
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
        println!("local logs:");
    }
    for a in &status.authors {
        let name = a
            .name
            .clone()
            .unwrap_or_else(|| format!("…{}", a.author.short()));
        let seen = a.seen_seq.map_or("-".to_string(), |s| s.to_string());
        println!(
            "{name:<20}  local {:>7}  seen {seen:>7}  {}  {}",
            a.local_seq,
            a.state(&status.me),
            a.author
        );
    }
    Ok(())
}
