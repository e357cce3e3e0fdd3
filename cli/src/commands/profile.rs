//! `kith profile`: your name and description, and others'.

use anyhow::Result;
use kith_node::refs::AuthorRef;
use kith_node::{DataDir, ops};

use crate::backend::Backend;
use crate::output;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Publish your profile (a signed entry)
    Set {
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        about: String,
    },
    /// Show a profile (yours by default)
    Show {
        /// An author id, or `me`
        #[arg(default_value = "me")]
        author: AuthorRef,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(data_dir: &DataDir, command: Command) -> Result<()> {
    let mut backend = Backend::connect(data_dir)?;
    match command {
        Command::Set { name, about } => {
            if name.trim().is_empty() {
                anyhow::bail!("the name is empty");
            }
            let entry = backend.call(ops::ProfileSet { name, about })?;
            eprintln!("profile published");
            println!("{}", entry.id);
        }
        Command::Show { author, json } => {
            let p = backend.call(ops::Profile { author })?;
            if json {
                return output::json(&p);
            }
            let p = output::inert(p);
            println!("{}", p.author);
            println!(
                "name:    {}",
                p.name.as_deref().unwrap_or("(none published)")
            );
            if let Some(about) = &p.about {
                println!("about:   {about}");
            }
            if let Some(pet) = &p.petname {
                println!("petname: {pet}");
            }
            println!("trusted: {}", if p.trusted { "yes" } else { "no" });
        }
    }
    Ok(())
}
