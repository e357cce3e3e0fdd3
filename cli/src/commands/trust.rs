//! `kith trust`: the people whose logs this node replicates.

use anyhow::{Result, bail};
use kith_node::refs::AuthorRef;
use kith_node::{DataDir, ops};

use crate::backend::Backend;
use crate::output;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Trust an author: replicate their log and let their node connect
    Add {
        /// Their author id (a peer id such as 12D3KooW…)
        author: AuthorRef,
        /// Your name for them (shown instead of their own)
        #[arg(long)]
        name: Option<String>,
    },
    /// List the authors you trust
    List {
        #[arg(long)]
        json: bool,
    },
    /// Stop trusting an author
    Remove { author: AuthorRef },
}

pub fn run(data_dir: &DataDir, command: Command) -> Result<()> {
    let mut backend = Backend::connect(data_dir)?;
    match command {
        Command::Add { author, name } => {
            let view = backend.call(ops::TrustAdd {
                author,
                petname: name,
            })?;
            println!("trusting {}", view.author);
        }
        Command::List { json } => {
            let list = backend.call(ops::TrustList {})?;
            if json {
                return output::json(&list);
            }
            let list = output::inert(list);
            if list.is_empty() {
                eprintln!("you trust no one yet: `kith trust add AUTHOR --name NAME`");
            }
            for t in list {
                let name = t.petname.or(t.profile_name).unwrap_or_default();
                println!("{}  {}", t.author, name);
            }
        }
        Command::Remove { author } => {
            if !backend.call(ops::TrustRemove { author })? {
                bail!("{author} was not in your trust list");
            }
            println!("no longer trusting {author}");
        }
    }
    Ok(())
}
