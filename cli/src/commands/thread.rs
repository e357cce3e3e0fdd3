//! `kith thread ID`: a post with its ranked answers and replies.

use anyhow::Result;
use kith_node::model::{Endorser, ReplyNode};
use kith_node::refs::EntryRef;
use kith_node::{DataDir, ops};

use crate::backend::Backend;
use crate::output;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Any entry of the thread (id or unique prefix)
    id: EntryRef,
    /// Print JSON: the root entry with `answers` (ranked; `score`,
    /// `endorsed_by`, `accepted`, `replies`) and `replies`
    #[arg(long)]
    json: bool,
}

pub fn run(data_dir: &DataDir, args: Args) -> Result<()> {
    let thread = Backend::connect(data_dir)?.call(ops::Thread { id: args.id })?;
    if args.json {
        return output::json(&thread);
    }
    let thread = output::inert(thread);
    output::entry(&thread.entry);
    endorsements(&thread.endorsed_by, thread.score, "  ");
    print_replies(&thread.replies, 1);
    if !thread.answers.is_empty() {
        println!(
            "── {}, best first ──\n",
            kith_node::text::count(thread.answers.len() as u64, "answer", "answers")
        );
    }
    for (i, a) in thread.answers.iter().enumerate() {
        let mark = if a.accepted { "✔ accepted" } else { "" };
        println!("#{}  score {}  {mark}", i + 1, a.score);
        output::entry(&a.entry);
        endorsements(&a.endorsed_by, a.score, "  ");
        print_replies(&a.replies, 1);
    }
    Ok(())
}

fn endorsements(by: &[Endorser], score: f64, indent: &str) {
    if by.is_empty() {
        return;
    }
    let names: Vec<String> = by
        .iter()
        .map(|e| {
            let who = e
                .name
                .clone()
                .unwrap_or_else(|| format!("…{}", e.author.short()));
            match &e.note {
                Some(n) => format!("{who} ({}: {n})", e.weight),
                None => format!("{who} ({})", e.weight),
            }
        })
        .collect();
    println!("{indent}endorsed by {} — score {score}\n", names.join(", "));
}

fn print_replies(replies: &[ReplyNode], depth: usize) {
    for r in replies {
        let indent = "    ".repeat(depth);
        println!(
            "{indent}↳ {} {}: {}",
            &r.entry.id.to_hex()[..12],
            output::who(&r.entry),
            r.entry.text.as_deref().unwrap_or("(deleted)").trim()
        );
        print_replies(&r.replies, depth + 1);
    }
    if !replies.is_empty() && depth == 1 {
        println!();
    }
}
