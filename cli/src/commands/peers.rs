//! `kith peers`: the nodes of the people you trust.

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
    let peers = Backend::connect(data_dir)?.call(ops::Peers {})?;
    if args.json {
        return output::json(&peers);
    }
    let peers = output::inert(peers);
    if peers.is_empty() {
        eprintln!("no trusted peers yet: `kith join CODE` or `kith trust add AUTHOR`");
    }
    for p in peers {
        let name = p.name.clone().unwrap_or_default();
        let state = match (&p.connection, &p.remote_addr) {
            (Some(kind), Some(addr)) => format!("connected ({}) via {addr}", kind.as_str()),
            _ => match p.last_seen {
                Some(t) => format!("not connected, last seen {}", output::ago(t)),
                None => "never connected".to_string(),
            },
        };
        println!("{}  {name}  {state}", p.author);
        if let Some(why) = &p.relayed_why {
            println!("    relayed: {why}");
        }
        if let Some(t) = p.last_sync {
            println!("    last sync {}", output::ago(t));
        }
        if p.in_flight > 0 {
            println!("    {} sync request(s) in flight", p.in_flight);
        }
        for a in &p.addrs {
            println!("    {a}");
        }
    }
    Ok(())
}
