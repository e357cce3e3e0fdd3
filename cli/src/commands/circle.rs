//! `kith circle`: private circles (PROTOCOL.md §12). Posts, questions and
//! pages written with `--circle NAME` are encrypted for the circle's
//! members; friends who are not members carry them and cannot read them.

use anyhow::Result;
use kith_node::model::CircleView;
use kith_node::{DataDir, ops};

use crate::backend::Backend;
use crate::output;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Start a circle of you and the members named
    Create {
        /// The circle's name (seen by its members only)
        name: String,
        /// A member: the name of someone you trust, or an author id
        /// (repeatable)
        #[arg(long = "member", short = 'm', value_name = "WHO")]
        members: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Add a member: they read what is written from now on
    Add {
        /// The circle (name or id)
        circle: String,
        /// Someone you trust (name or author id)
        member: String,
        /// Also give them everything the circle wrote before
        #[arg(long)]
        history: bool,
        #[arg(long)]
        json: bool,
    },
    /// Remove a member (`me`: leave). They keep what they had and read
    /// nothing written after
    Remove {
        circle: String,
        member: String,
        #[arg(long)]
        json: bool,
    },
    /// Your circles
    List {
        #[arg(long)]
        json: bool,
    },
    /// A circle's members, epoch and who changed what
    Show {
        circle: String,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(data_dir: &DataDir, command: Command) -> Result<()> {
    let mut backend = Backend::connect(data_dir)?;
    match command {
        Command::Create {
            name,
            members,
            json,
        } => show(backend.call(ops::CircleCreate { name, members })?, json),
        Command::Add {
            circle,
            member,
            history,
            json,
        } => show(
            backend.call(ops::CircleAdd {
                circle,
                member,
                history,
            })?,
            json,
        ),
        Command::Remove {
            circle,
            member,
            json,
        } => show(backend.call(ops::CircleRemove { circle, member })?, json),
        Command::List { json } => {
            let circles = backend.call(ops::CircleList {})?;
            if json {
                return output::json(&circles);
            }
            if circles.is_empty() {
                eprintln!("no circles yet: `kith circle create NAME --member WHO`");
            }
            for c in output::inert(circles) {
                println!(
                    "{}  {}  {} members{}",
                    &c.id.to_string()[..8],
                    c.name.as_deref().unwrap_or("(unreadable)"),
                    c.members.len(),
                    if c.member { "" } else { "  (not a member)" }
                );
            }
            Ok(())
        }
        Command::Show { circle, json } => show(backend.call(ops::CircleShow { circle })?, json),
    }
}

fn show(view: CircleView, json: bool) -> Result<()> {
    if json {
        return output::json(&view);
    }
    let c = output::inert(view);
    println!("{}  {}", c.id, c.name.as_deref().unwrap_or("(unreadable)"));
    if !c.member {
        println!("  you are not a member");
    }
    if c.unreadable > 0 {
        println!(
            "  {} entr(ies) under this circle's id that no member can read (junk; ignored by every member)",
            c.unreadable
        );
    }
    for w in &c.warnings {
        println!("  warning: {w}");
    }
    if let Some(epoch) = c.epoch {
        println!(
            "  epoch {} ({} so far){}",
            &epoch.to_string()[..8],
            c.epochs,
            if c.needs_new_epoch {
                "; the next write starts a new one"
            } else {
                ""
            }
        );
    }
    println!("  members:");
    for m in &c.members {
        let missing = if m.devices_without_key > 0 {
            format!(
                "  ({} without an encryption key cannot read)",
                kith_node::text::count(m.devices_without_key as u64, "device", "devices")
            )
        } else {
            String::new()
        };
        println!(
            "    {}  {}{missing}",
            m.person,
            m.name.as_deref().unwrap_or("")
        );
    }
    if !c.changes.is_empty() {
        println!("  changes:");
        for ch in &c.changes {
            let who = ch.by_name.clone().unwrap_or_else(|| ch.by.short());
            let when = humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + std::time::Duration::from_millis(ch.timestamp),
            );
            match &ch.why_not {
                None => println!("    {when}  {who} {}", ch.change),
                Some(why) => println!("    {when}  {who} {} — does not count: {why}", ch.change),
            }
        }
    }
    Ok(())
}
