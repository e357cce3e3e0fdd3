//! `kith questions`: what people asked.

use anyhow::Result;
use kith_node::{DataDir, ops};

use crate::backend::Backend;
use crate::output;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only questions without answers
    #[arg(long)]
    unanswered: bool,
    #[arg(long)]
    tag: Option<String>,
    #[arg(long, short = 'n', default_value_t = 20)]
    limit: usize,
    #[arg(long)]
    json: bool,
}

pub fn run(data_dir: &DataDir, args: Args) -> Result<()> {
    let questions = Backend::connect(data_dir)?.call(ops::Questions {
        unanswered: args.unanswered,
        tag: args.tag,
        limit: Some(args.limit),
    })?;
    if args.json {
        return output::json(&questions);
    }
    let questions = output::inert(questions);
    if questions.is_empty() {
        eprintln!("no questions: ask one with `kith ask TEXT`");
    }
    for q in questions {
        let state = match (q.answers, q.accepted) {
            (0, _) => "unanswered".to_string(),
            (n, true) => format!("{n} answer(s), accepted"),
            (n, false) => format!("{n} answer(s)"),
        };
        println!(
            "{}  {}  {}  {state}",
            &q.entry.id.to_hex()[..12],
            output::who(&q.entry),
            output::ago(q.entry.timestamp)
        );
        if let Some(text) = &q.entry.text {
            println!("  {}", text.lines().next().unwrap_or_default());
        }
    }
    Ok(())
}
