//! `kith search QUERY`: full-text search over posts and wiki pages.

use anyhow::Result;
use kith_node::refs::AuthorRef;
use kith_node::search::SearchKind;
use kith_node::{DataDir, ops};

use crate::backend::Backend;
use crate::output;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Words to look for (`"exact phrase"`, `-word` to exclude)
    #[arg(required = true, num_args = 1..)]
    query: Vec<String>,
    /// Only by this author (id, or `me`)
    #[arg(long)]
    author: Option<AuthorRef>,
    #[arg(long)]
    tag: Option<String>,
    /// note, question, answer or wiki
    #[arg(long)]
    kind: Option<SearchKind>,
    #[arg(long, short = 'n', default_value_t = 10)]
    limit: usize,
    #[arg(long)]
    json: bool,
}

pub fn run(data_dir: &DataDir, args: Args) -> Result<()> {
    let hits = Backend::connect(data_dir)?.call(ops::Search {
        q: args.query.join(" "),
        author: args.author,
        tag: args.tag,
        kind: args.kind,
        limit: Some(args.limit),
    })?;
    if args.json {
        return output::json(&hits);
    }
    let hits = output::inert(hits);
    if hits.is_empty() {
        eprintln!("no matches");
    }
    for hit in &hits {
        output::hit(hit);
    }
    Ok(())
}
