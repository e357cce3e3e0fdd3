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
        /// The last entry of the lost key the owner still held (ask them
        /// when they lost it; see the entries this prints): what the key
        /// certified after it no longer counts. Default: the last you hold
        #[arg(long)]
        seen: Option<u64>,
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
            // The running node's addresses go in the code: each contact's
            // node dials this one after approving.
            let addrs = if backend.is_running() {
                backend.call(ops::Invite {})?.addrs
            } else {
                Vec::new()
            };
            let view = backend.call(ops::RecoveryRequest { old, addrs })?;
            println!("{}", view.code);
            eprintln!(
                "send this code to your recovery contacts; each runs `kith recovery approve CODE`."
            );
            if view.addrs.is_empty() {
                eprintln!(
                    "No node runs here, so the code carries no address: start it (`kith up`) and \
                     run this again for a code the contacts' nodes can dial (the key stays the \
                     same), or trust them here (`kith join` their invite codes)."
                );
            } else {
                eprintln!(
                    "Their nodes connect to this one at {} once they approve: keep `kith up` \
                     running. If none can reach it (behind a NAT), trust one of them here \
                     (`kith join` their invite code).",
                    view.addrs.join(", ")
                );
            }
            eprintln!("Your new identity key is {}", view.new);
        }
        Command::Approve { code, seen } => {
            let view = backend.call(ops::RecoveryApprove { code, seen })?;
            println!(
                "you vouched for {} as the new identity key of {} (lost after its entry {})",
                view.new, view.old, view.seen_seq
            );
            if !view.later.is_empty() {
                eprintln!("what {} certified after it named its contacts:", view.old);
                for line in crate::output::inert(view.later) {
                    eprintln!("  {line}");
                }
                eprintln!(
                    "rotations among these do not stand against the recovery; the rest after entry {} stops counting once it holds (`--seen N` vouches for less)",
                    view.seen_seq
                );
            }
            if !view.dialled.is_empty() {
                eprintln!(
                    "connecting to their new device at {} so it fetches the approvals",
                    view.dialled.join(", ")
                );
            }
            if view.holds {
                eprintln!(
                    "the recovery holds ({} contacts vouched)",
                    view.person.recovered_by.len()
                );
            } else {
                eprintln!("the recovery holds once enough of the contacts vouch");
            }
        }
    }
    Ok(())
}
