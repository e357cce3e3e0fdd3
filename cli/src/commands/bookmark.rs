//! `kith bookmark`: entries kept to come back to, private to this node.

use anyhow::{Result, bail};
use kith_node::refs::EntryRef;
use kith_node::{DataDir, ops};

use crate::backend::Backend;
use crate::output;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Bookmark an entry (again: replaces its note)
    Add {
        /// The entry's id, or a unique prefix of it (`kith feed` shows them)
        entry: EntryRef,
        /// Why you keep it (one line)
        #[arg(long)]
        note: Option<String>,
    },
    /// List your bookmarks, the latest first
    List {
        #[arg(long)]
        json: bool,
    },
    /// Forget a bookmark
    Remove { entry: EntryRef },
}

pub fn run(data_dir: &DataDir, command: Command) -> Result<()> {
    let mut backend = Backend::connect(data_dir)?;
    match command {
        Command::Add { entry, note } => {
            let mark = backend.call(ops::BookmarkAdd { entry, note })?;
            println!("bookmarked {}", mark.entry);
        }
        Command::List { json } => {
            let marks = backend.call(ops::BookmarkList {})?;
            if json {
                return output::json(&marks);
            }
            let marks = output::inert(marks);
            if marks.is_empty() {
                eprintln!("no bookmarks yet: `kith bookmark add ENTRY --note TEXT`");
            }
            for mark in marks {
                if let Some(note) = &mark.note {
                    println!("bookmarked {}: {note}", output::ago(mark.added));
                } else {
                    println!("bookmarked {}", output::ago(mark.added));
                }
                match &mark.post {
                    Some(view) => output::entry(view),
                    None => println!("  {} (deleted since)\n", mark.entry),
                }
            }
        }
        Command::Remove { entry } => {
            let shown = entry.as_str().to_string();
            if !backend.call(ops::BookmarkRemove { entry })? {
                bail!("{shown} is not bookmarked");
            }
            println!("forgot the bookmark {shown}");
        }
    }
    Ok(())
}
