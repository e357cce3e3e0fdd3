//! `kith forks`: authors caught signing two entries at one seq.

use anyhow::Result;
use kith_node::refs::AuthorRef;
use kith_node::{DataDir, ops};

use crate::backend::Backend;
use crate::output;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List the fork proofs held (those authors' logs are not replicated)
    List {
        #[arg(long)]
        json: bool,
    },
    /// Forget an author's fork proofs so their log replicates again
    Clear { author: AuthorRef },
}

pub fn run(data_dir: &DataDir, command: Command) -> Result<()> {
    let mut backend = Backend::connect(data_dir)?;
    match command {
        Command::List { json } => {
            let forks = backend.call(ops::Forks {})?;
            if json {
                return output::json(&forks);
            }
            if forks.is_empty() {
                println!("no forks: every author's log is a single chain");
            }
            for f in forks {
                println!(
                    "{}  {}  seq {}: {} vs {}",
                    f.author,
                    f.name.unwrap_or_default(),
                    f.seq,
                    &f.entries[0].to_hex()[..12],
                    &f.entries[1].to_hex()[..12]
                );
            }
        }
        Command::Clear { author } => {
            let n = backend.call(ops::ForksClear { author })?;
            println!(
                "cleared {}; {author} replicates again",
                kith_node::text::count(n as u64, "fork proof", "fork proofs")
            );
        }
    }
    Ok(())
}
