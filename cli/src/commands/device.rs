//! `kith device`: one person, several devices (PROTOCOL.md §11). Each
//! device keeps its own log under its own key; the device holding the
//! identity key links and revokes the others.

use std::time::Duration;

use anyhow::{Context, Result};
use kith_node::device_link::LinkCode;
use kith_node::model::PersonView;
use kith_node::refs::AuthorRef;
use kith_node::{DataDir, identity, ops};

use crate::backend::Backend;
use crate::output;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Print a one-time code that makes another machine one of your devices
    /// (needs `kith up` running here, on the device holding your identity)
    Link,
    /// Make this machine a device of the person whose link code this is
    Join {
        /// The link code (starts with kithd1), from `kith device link`
        code: String,
        /// What to call this device ("laptop")
        #[arg(long, default_value = "")]
        name: String,
    },
    /// Your devices: keys, names, which one this is, which were revoked
    List {
        /// Another person's devices (any key of theirs), e.g. to see who
        /// vouched for a recovery
        #[arg(long)]
        of: Option<AuthorRef>,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a device (lost or stolen): its entries so far stay valid,
    /// anything it writes later is refused everywhere
    Revoke {
        /// The device's key (from `kith device list`)
        device: AuthorRef,
        /// Its last entry that stays valid: what it wrote after is refused
        /// everywhere (a stolen device: the last entry before the theft,
        /// see `kith log DEVICE`). Default: the last this node holds
        #[arg(long)]
        keep: Option<u64>,
    },
}

pub fn run(data_dir: &DataDir, command: Command) -> Result<()> {
    match command {
        Command::Link => {
            let mut backend = Backend::connect(data_dir)?;
            let view = backend.call(ops::DeviceLinkCode {})?;
            println!("{}", view.code);
            eprintln!(
                "on the new machine run `kith device join CODE` within {} minutes; the code works once",
                view.expires_in_secs / 60
            );
        }
        Command::Join { code, name } => {
            let parsed = LinkCode::decode(&code)?;
            let (keypair, _) = identity::load_or_create(&data_dir.identity())
                .context("cannot read or create this device's key")?;
            if keypair.author() == parsed.identity {
                anyhow::bail!("this machine already is the device holding that identity");
            }
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let root = runtime.block_on(kith_node::device_link::join(
                &parsed,
                &keypair,
                &name,
                Duration::from_secs(30),
            ))?;
            let mut backend = Backend::connect(data_dir)?;
            backend.call(ops::DeviceJoined { code })?;
            println!("this machine is now a device of {root}");
            if !backend.is_running() {
                eprintln!("start `kith up`: it fetches your person's logs from your other device");
            }
        }
        Command::List { of, json } => {
            let mut backend = Backend::connect(data_dir)?;
            let person = backend.call(ops::Devices { of })?;
            if json {
                return output::json(&person);
            }
            print_person(&output::inert(person));
        }
        Command::Revoke { device, keep } => {
            let mut backend = Backend::connect(data_dir)?;
            let person = backend.call(ops::DeviceRevoke { device, keep })?;
            println!("revoked {device}");
            print_person(&person);
        }
    }
    Ok(())
}

fn print_person(person: &PersonView) {
    println!(
        "{}  {}",
        person.root,
        person.name.as_deref().unwrap_or("(no profile name)")
    );
    if let Some(conflict) = &person.conflict {
        println!("  CONFLICT: {conflict}");
    }
    if !person.recovered_by.is_empty() {
        let names: Vec<String> = person
            .recovered_by
            .iter()
            .map(|n| n.name.clone().unwrap_or_else(|| n.key.to_string()))
            .collect();
        println!("  identity recovered; vouched for by {}", names.join(", "));
    }
    if let Some(r) = &person.recovery {
        println!(
            "  recovery: {} of {} contacts must vouch",
            r.threshold,
            r.contacts.len()
        );
    }
    for d in &person.devices {
        let role = match d.role {
            kith_protocol::identity::Role::Identity => "identity",
            kith_protocol::identity::Role::FormerIdentity => "former identity",
            kith_protocol::identity::Role::Device => "device",
        };
        let mut notes = Vec::new();
        if d.this_device {
            notes.push("this device".to_string());
        }
        if d.revoked {
            notes.push(format!("revoked after entry {}", d.last_seq.unwrap_or(0)));
        }
        if let Some(old) = d.took_over_from {
            notes.push(format!("took over from {old}"));
        }
        println!(
            "  {}  {:<15} {:<12} {} {}{}",
            d.key,
            role,
            if d.name.is_empty() { "-" } else { &d.name },
            d.head_seq,
            if d.head_seq == 1 { "entry" } else { "entries" },
            if notes.is_empty() {
                String::new()
            } else {
                format!("  ({})", notes.join(", "))
            }
        );
    }
}
