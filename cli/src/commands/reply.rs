//! `kith reply ID TEXT`: reply to any post.

use anyhow::Result;
use kith_node::refs::EntryRef;
use kith_node::{DataDir, ops};

use crate::commands::post::Respond;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The post replied to (id or unique prefix)
    id: EntryRef,
    #[command(flatten)]
    body: Respond,
}

pub fn run(data_dir: &DataDir, args: Args) -> Result<()> {
    let Args { id, body } = args;
    body.send(data_dir, |text, tags, files| ops::Reply {
        id,
        text,
        tags,
        files,
    })
}
