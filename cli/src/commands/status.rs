//! `kith status`: replication progress per author.

use anyhow::Result;
use kith_node::{DataDir, ops};

use crate::backend::Backend;
use crate::output;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long)]
    json: bool,
    /// Show a progress bar while the running node catches up, and return
    /// when it is up to date with its peers
    #[arg(long, conflicts_with = "json")]
    watch: bool,
}

pub fn run(data_dir: &DataDir, args: Args) -> Result<()> {
    let mut backend = Backend::connect(data_dir)?;
    if args.watch {
        return watch(&mut backend);
    }
    let status = backend.call(ops::Status {})?;
    let running = status.running;
    if args.json {
        return output::json(&status);
    }
    let status = output::inert(status);
    println!("{}", status.summary());
    if running {
        println!("reachability: {}", status.reachability.describe());
        if !status.relays.is_empty() {
            let relays: Vec<String> = status.relays.iter().map(|a| status.name_of(a)).collect();
            println!("reachable through the relays of: {}", relays.join(", "));
        } else if let Some(hint) = status.nat_hint() {
            println!("{hint}");
        }
        if !status.relaying_for.is_empty() {
            let names: Vec<String> = status
                .relaying_for
                .iter()
                .map(|a| status.name_of(a))
                .collect();
            println!("relaying for: {}", names.join(", "));
        }
        let r = &status.relay_limits;
        if r.offer {
            println!(
                "relay for friends: up to {} circuits ({} per friend), {} s and {} MiB each \
                 (config.toml [relay]; offered only while this node is reachable)",
                r.max_circuits, r.max_circuits_per_friend, r.circuit_secs, r.circuit_mib
            );
        } else {
            println!("relay for friends: off (config.toml [relay] offer = false)");
        }
        for job in &status.jobs {
            println!("{}", output::job(job));
        }
        if let Some(old) = status.recovering {
            println!(
                "recovering {}: waiting for its recovery contacts; their nodes connect here once \
                 they approve ({} let in now)",
                status.name_of(&old),
                kith_node::text::count(status.let_in as u64, "peer", "peers")
            );
        }
        if status.refused_connections > 0 {
            println!(
                "refused {} from peers you do not trust",
                kith_node::text::count(status.refused_connections, "connection", "connections")
            );
        }
    } else {
        println!("local logs:");
    }
    for p in &status.pages_to_review {
        println!(
            "wiki page {:?}: concurrent edits were merged within a paragraph; review it (`kith wiki show {}`)",
            kith_node::text::for_terminal(&p.title),
            p.id
        );
    }
    for r in &status.refused_wiki_changes {
        println!(
            "wiki page {}: {} refused as invalid or over the limits (the node's log says why)",
            r.title.clone().unwrap_or_else(|| r.page.to_string()),
            kith_node::text::count(r.refused, "change", "changes")
        );
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

/// Entries held and entries known to exist, over the logs being caught up.
fn behind(status: &kith_node::model::StatusView) -> (u64, u64) {
    status
        .authors
        .iter()
        .filter_map(|a| {
            a.seen_seq
                .filter(|s| *s > a.local_seq)
                .map(|s| (a.local_seq, s))
        })
        .fold((0, 0), |(h, t), (local, seen)| (h + local, t + seen))
}

fn watch(backend: &mut Backend) -> Result<()> {
    if !backend.is_running() {
        anyhow::bail!("no node is running: start it with `kith up`, then watch it catch up");
    }
    let bar = output::entries_bar(0);
    loop {
        let status = backend.call(ops::Status {})?;
        let (held, known) = behind(&status);
        if !status.syncing && known == 0 {
            bar.finish_and_clear();
            println!("{}", status.summary());
            return Ok(());
        }
        bar.set_length(known);
        bar.set_position(held);
        bar.set_message(format!(
            "{} connected",
            kith_node::text::count(status.connected_peers as u64, "peer", "peers")
        ));
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}
