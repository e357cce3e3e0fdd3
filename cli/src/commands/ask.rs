//! `kith ask`: ask a question, after looking for one like it.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Result, bail};
use kith_node::{DataDir, ops};

use crate::backend::Backend;
use crate::commands::post::read_text;
use crate::output;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The question (markdown); `-` reads stdin
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    text: Option<String>,
    #[arg(long, value_name = "FILE")]
    file: Option<std::path::PathBuf>,
    /// A tag (repeatable)
    #[arg(long = "tag", short = 't', value_name = "TAG")]
    tags: Vec<String>,
    /// Ask even if similar questions or answers exist
    #[arg(long, short = 'y')]
    yes: bool,
    /// Ask in a private circle (name or id): only its members read it
    #[arg(long, value_name = "CIRCLE")]
    circle: Option<String>,
    /// Print the outcome as JSON ({posted, similar})
    #[arg(long)]
    json: bool,
}

pub fn run(data_dir: &DataDir, args: Args) -> Result<()> {
    let text = read_text(args.text, args.file)?;
    let mut backend = Backend::connect(data_dir)?;
    let mut params = ops::Ask {
        circle: args.circle.clone(),
        text,
        tags: args.tags,
        yes: args.yes,
    };
    let mut outcome = backend.call(params.clone())?;
    if outcome.posted.is_none() {
        if args.json {
            output::json(&outcome)?;
        } else {
            println!("Someone may have asked this already:\n");
            for hit in output::inert(outcome.similar.clone()) {
                output::hit(&hit);
            }
        }
        let interactive =
            std::io::stdin().is_terminal() && std::io::stderr().is_terminal() && !args.json;
        if !interactive {
            bail!(
                "similar questions exist, so nothing was posted; `kith thread ID` shows one, `--yes` asks anyway"
            );
        }
        eprint!("Post your question anyway? [y/N] ");
        std::io::stderr().flush()?;
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        if !matches!(line.trim(), "y" | "Y" | "yes") {
            eprintln!("not posted");
            return Ok(());
        }
        params.yes = true;
        outcome = backend.call(params)?;
    }
    let posted = outcome.posted.expect("posted when yes");
    if args.json {
        output::json(&posted)?;
    }
    println!("{}", posted.id);
    Ok(())
}
