//! `kith recovery`: social recovery of a lost identity (PROTOCOL.md §11.5).

use anyhow::Result;
use kith_node::refs::AuthorRef;
use kith_node::{DataDir, ops};

use crate::backend::Backend;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Name the people who may vouch for you if every key of yours is lost
    Set {
        /// How many of them must vouch
        #[arg(long)]
        threshold: u8,
        /// Their keys (peer ids such as 12D3KooW…)
        #[arg(required = true)]
        contacts: Vec<AuthorRef>,
    },
    /// On a fresh install: make a new identity key and print the code your
    /// recovery contacts approve
    Request {
        /// The identity key that was lost (your old `kith id`)
        old: AuthorRef,
    },
    /// Vouch, as someone's recovery contact, for the new key in their code
    Approve {
        /// The recovery code (starts with kithr1)
        code: String,
    },
}

pub fn run(data_dir: &DataDir, command: Command) -> Result<()> {
    let mut backend = Backend::connect(data_dir)?;
    match command {
        Command::Set {
            threshold,
            contacts,
        } => {
            let person = backend.call(ops::RecoverySet {
                threshold,
                contacts,
            })?;
            if let Some(r) = person.recovery {
                println!(
                    "{} of these {} can vouch for a new key of yours:",
                    r.threshold,
                    r.contacts.len()
                );
                for c in crate::output::inert(r.contacts) {
                    println!("  {}  {}", c.key, c.name.unwrap_or_default());
                }
            }
        }
        Command::Request { old } => {
            let view = backend.call(ops::RecoveryRequest { old })?;
            println!("{}", view.code);
            eprintln!(
                "send this code to your recovery contacts; each runs `kith recovery approve CODE`.\n\
                 Trust them here (`kith join` their invite codes) so this node fetches their approvals.\n\
                 Your new identity key is {}",
                view.new
            );
        }
        Command::Approve { code } => {
            let person = backend.call(ops::RecoveryApprove { code })?;
            println!(
                "you vouched for {} as the new key of {}",
                person.identity, person.root
            );
            if person.identity != person.root && !person.recovered_by.is_empty() {
                eprintln!(
                    "the recovery holds ({} contacts vouched)",
                    person.recovered_by.len()
                );
            }
        }
    }
    Ok(())
}
