//! `kith up`: run the node in the foreground until Ctrl-C or SIGTERM.

use anyhow::{Context, Result};
use kith_node::config::{parse_api_addr, parse_multiaddr};
use kith_node::{Config, DataDir, Node, identity, ops};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// libp2p listen address (repeatable) [default: TCP and QUIC on all
    /// interfaces, any port]
    #[arg(long, value_name = "MULTIADDR")]
    listen: Vec<String>,
    /// Address of the local API and web UI (HOST:PORT or PORT; port 0 = any)
    #[arg(long, value_name = "ADDR")]
    api: Option<String>,
    /// Do not look for peers on the local network
    #[arg(long)]
    no_mdns: bool,
    /// Dial this address at start (repeatable)
    #[arg(long, value_name = "MULTIADDR")]
    bootstrap: Vec<String>,
    /// Replicate the authors your trusted authors vouch for (2) or not (1)
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=2))]
    hops: Option<u8>,
    /// Your display name, if you have none yet (otherwise `kith up` asks
    /// for one on a terminal)
    #[arg(long, env = "KITH_NAME", value_name = "NAME")]
    name: Option<String>,
    /// Where to keep the head witness, outside the data directory: how far
    /// this machine signed its log, so a store restored from an old backup
    /// never signs a sequence number twice [default: $KITH_STATE_DIR,
    /// $XDG_STATE_HOME/kith or ~/.local/state/kith]
    #[arg(long, value_name = "DIR")]
    witness_dir: Option<std::path::PathBuf>,
}

/// The config file's settings, overridden by the flags.
fn config(data_dir: &DataDir, args: Args) -> Result<Config> {
    let mut config = crate::backend::load_config(data_dir)?;
    if !args.listen.is_empty() {
        config.listen = args
            .listen
            .iter()
            .map(|a| parse_multiaddr("listen address", a))
            .collect::<Result<_, _>>()?;
    }
    if let Some(api) = args.api {
        config.api = parse_api_addr(&api)?;
    }
    if args.no_mdns {
        config.mdns = false;
    }
    for addr in &args.bootstrap {
        config
            .bootstrap
            .push(parse_multiaddr("bootstrap address", addr)?);
    }
    if let Some(hops) = args.hops {
        config.hops = hops;
    }
    if let Some(dir) = args.witness_dir {
        config.witness_dir = Some(dir);
    }
    Ok(config)
}

pub fn run(data_dir: &DataDir, mut args: Args) -> Result<()> {
    let name = args.name.take().filter(|n| !n.trim().is_empty());
    let config = config(data_dir, args)?;
    std::fs::create_dir_all(data_dir.path())
        .with_context(|| format!("cannot create {}", data_dir.path().display()))?;
    let (keypair, created) = identity::load_or_create(&data_dir.identity())?;
    if created {
        eprintln!(
            "created a new identity in {}",
            data_dir.identity().display()
        );
    }
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let mut name = name;
        loop {
            let node = Node::start(config.clone(), keypair.clone()).await?;
            name_first(&node.handle(), name.take()).await?;
            let invite = node.handle().call(kith_node::ops::Invite {}).await?;
            let me = node.handle().call(ops::Whoami {}).await?;
            println!("kith node running");
            println!("  author id  {}", me.author);
            if me.author != keypair.author() {
                println!("  peer id    {}", keypair.author());
            }
            for addr in node.listen_addrs() {
                println!("  listening  {addr}");
            }
            println!("  api        http://{}", node.api_addr());
            println!("  web        {}", node.web_url());
            println!("  invite     {}", invite.code);
            println!("Press Ctrl-C to stop.");
            tokio::select! {
                signal = wait_for_signal() => {
                    signal?;
                    eprintln!("stopping: flushing the store and closing connections");
                    node.shutdown().await?;
                    return Ok(());
                }
                () = node.restart_wanted() => {
                    eprintln!(
                        "this store may be behind its own log (restored from a backup?) and no peer \
                         could say: restarting to go on under a new key that takes over from the old one"
                    );
                    node.shutdown().await?;
                }
            }
        }
    })
}

/// Friends see a name, not a key: a node without a display name takes
/// the one given (`--name`, `KITH_NAME`), or asks on a terminal.
async fn name_first(handle: &kith_node::Handle, given: Option<String>) -> Result<()> {
    use std::io::{BufRead, IsTerminal, Write};
    if handle.call(ops::Whoami {}).await?.name.is_some() {
        return Ok(());
    }
    let name = match given {
        Some(name) => Some(name),
        None if std::io::stdin().is_terminal() => {
            eprint!("What name should the people you trust see? ");
            std::io::stderr().flush()?;
            let mut line = String::new();
            tokio::task::block_in_place(|| std::io::stdin().lock().read_line(&mut line))?;
            Some(line.trim().to_string()).filter(|n| !n.is_empty())
        }
        None => None,
    };
    match name {
        Some(name) => {
            handle
                .call(ops::ProfileSet {
                    name: name.clone(),
                    about: String::new(),
                })
                .await?;
            eprintln!("your name is {name:?} (change it with `kith profile set`)");
        }
        None => eprintln!(
            "you have no display name yet: friends see a key. Set one with `kith profile set --name NAME` \
             or `kith up --name NAME`"
        ),
    }
    Ok(())
}

async fn wait_for_signal() -> Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("cannot watch Ctrl-C")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("cannot watch Ctrl-C")?;
    Ok(())
}
