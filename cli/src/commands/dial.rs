//! `kith dial MULTIADDR`: connect to a peer by address, and say whether the
//! connection holds (a peer that does not trust you refuses it).

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use kith_node::model::PeerView;
use kith_node::{DataDir, ops};
use kith_protocol::AuthorId;

use crate::backend::Backend;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// e.g. /ip4/192.168.1.5/tcp/4001 (add /p2p/<peer id> to name the peer)
    addr: String,
    /// Seconds to wait for the connection to hold for 2 s (0: start the
    /// dial and return)
    #[arg(long, default_value_t = 10)]
    wait: u64,
}

/// How long a connection must stay up to count as accepted.
const HOLD: Duration = Duration::from_secs(2);

pub fn run(data_dir: &DataDir, args: Args) -> Result<()> {
    let mut backend = Backend::connect(data_dir)?;
    let target = peer_in(&args.addr)?;
    backend.call(ops::Dial {
        addr: args.addr.clone(),
    })?;
    if args.wait == 0 {
        println!("dialing {} (only peers you trust are kept)", args.addr);
        return Ok(());
    }
    let deadline = Instant::now() + Duration::from_secs(args.wait);
    // A peer that does not trust us lets the connection open and closes it
    // at once: only a connection seen throughout `HOLD` counts.
    let mut since: Option<Instant> = None;
    loop {
        let peers = backend.call(ops::Peers {})?;
        match peers.iter().find(|p| reached(p, target, &args.addr)) {
            Some(peer) => {
                let first = *since.get_or_insert_with(Instant::now);
                if first.elapsed() >= HOLD {
                    let who = peer.name.clone().unwrap_or_else(|| peer.author.to_string());
                    println!("connected to {}", kith_node::text::for_terminal(&who));
                    return Ok(());
                }
            }
            None => since = None,
        }
        if Instant::now() >= deadline {
            bail!(
                "no connection to {} held within {} s: both sides must trust each other \
                 (its owner runs `kith trust add {}`, or you exchange `kith invite` codes), \
                 and the address must be reachable from here",
                args.addr,
                args.wait,
                backend.call(ops::Whoami {})?.author
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The peer an address names with a trailing `/p2p/<id>`, if any.
fn peer_in(addr: &str) -> Result<Option<AuthorId>> {
    let Some((_, id)) = addr.rsplit_once("/p2p/") else {
        return Ok(None);
    };
    match id.parse() {
        Ok(author) => Ok(Some(author)),
        Err(e) => bail!("{addr} names a peer that is not a Kith node: {e}"),
    }
}

/// Whether `peer` is the one the dial reached: the named peer, or (for an
/// address without a peer id) a trusted peer connected at that address.
fn reached(peer: &PeerView, target: Option<AuthorId>, addr: &str) -> bool {
    if !peer.connected {
        return false;
    }
    match target {
        Some(author) => peer.author == author,
        None => peer
            .remote_addr
            .as_deref()
            .is_some_and(|remote| remote.starts_with(addr.trim_end_matches('/'))),
    }
}
