//! `kith reply ID TEXT`: reply to any post.

use anyhow::Result;
use kith_node::refs::EntryRef;
use kith_node::{DataDir, ops};

use crate::backend::Backend;
use crate::commands::post::read_text;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The post replied to (id or unique prefix)
    id: EntryRef,
    /// The reply (markdown); `-` reads stdin
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    text: Option<String>,
    #[arg(long, value_name = "FILE")]
    file: Option<std::path::PathBuf>,
    #[arg(long = "tag", short = 't', value_name = "TAG")]
    tags: Vec<String>,
}

pub fn run(data_dir: &DataDir, args: Args) -> Result<()> {
    let text = read_text(args.text, args.file)?;
    let view = Backend::connect(data_dir)?.call(ops::Reply {
        id: args.id,
        text,
        tags: args.tags,
    })?;
    println!("{}", view.id);
    Ok(())
}
