//! `kith feed`: the latest posts, newest first.

use anyhow::Result;
use kith_node::model::cursor_of;
use kith_node::reader::MAX_FEED_LIMIT;
use kith_node::refs::{AuthorRef, Cursor};
use kith_node::{DataDir, ops};
use kith_protocol::PostKind;

use crate::backend::Backend;
use crate::output;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// How many posts
    #[arg(long, short = 'n', default_value_t = 20)]
    limit: usize,
    /// Only posts older than this cursor (printed at the end of a page)
    #[arg(long, value_name = "CURSOR")]
    before: Option<Cursor>,
    /// Only posts by this author (id, or `me`)
    #[arg(long)]
    author: Option<AuthorRef>,
    /// Only posts with this tag
    #[arg(long)]
    tag: Option<String>,
    /// Only notes, questions or answers
    #[arg(long)]
    kind: Option<PostKind>,
    /// Print a JSON array of entries
    #[arg(long)]
    json: bool,
}

pub fn run(data_dir: &DataDir, args: Args) -> Result<()> {
    let limit = args.limit;
    let mut backend = Backend::connect(data_dir)?;
    // A node answers at most MAX_FEED_LIMIT posts a call: ask page by page
    // until `limit` posts or the end of the feed.
    let mut items = Vec::new();
    let mut before = args.before;
    while items.len() < limit {
        let page = (limit - items.len()).min(MAX_FEED_LIMIT);
        let got = backend.call(ops::Feed {
            limit: Some(page),
            before,
            author: args.author,
            kind: args.kind,
            tag: args.tag.clone(),
        })?;
        let done = got.len() < page;
        items.extend(got);
        match items.last() {
            Some(last) if !done => before = Some(cursor_of(last)),
            _ => break,
        }
    }
    if args.json {
        return output::json(&items);
    }
    let items = output::inert(items);
    if items.is_empty() {
        eprintln!(
            "nothing yet: write with `kith post TEXT`, or trust someone with `kith trust add`"
        );
        return Ok(());
    }
    for item in &items {
        output::entry(item);
    }
    if items.len() == limit
        && let Some(last) = items.last()
    {
        eprintln!("more: kith feed --before {}", cursor_of(last));
    }
    Ok(())
}
