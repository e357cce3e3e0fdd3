//! `kith wiki`: shared pages that merge without conflicts.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use kith_node::model::{BlameLine, ChangeDiff, HistoryView, PageView};
use kith_node::wiki::Piece;
use kith_node::{DataDir, ops};

use crate::backend::Backend;
use crate::commands::post::read_text_for;
use crate::output;

mod markdown;
mod print;
use markdown::{export, read_markdown_dir};
use print::{blame_who, print_diff, print_history_line, print_page, print_words, who};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a page (prints its id on the last line)
    New {
        title: String,
        /// Initial body (markdown); `-` reads stdin
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        /// Make it a page of a private circle (name or id): only its
        /// members read and edit it
        #[arg(long, value_name = "CIRCLE")]
        circle: Option<String>,
    },
    /// Replace a page's body (merged by minimal splices); no file opens $EDITOR
    Edit {
        /// Title or page id
        page: String,
        /// New body from a file, or `-` for stdin
        #[arg(long, value_name = "FILE", conflicts_with = "stdin")]
        file: Option<PathBuf>,
        /// Read the new body from stdin (also: `--file -`)
        #[arg(value_name = "-", value_parser = ["-"])]
        stdin: Option<String>,
    },
    /// Show a page with its authors and backlinks
    Show {
        page: String,
        /// Show the page as it was right after this change (an entry id
        /// or prefix from `kith wiki history`)
        #[arg(long, value_name = "CHANGE")]
        at: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Who last wrote each line of a page, and when
    Blame {
        page: String,
        #[arg(long)]
        json: bool,
    },
    /// What one change did to a page, word by word
    Diff {
        page: String,
        /// An entry id or prefix from `kith wiki history`
        change: String,
        #[arg(long)]
        json: bool,
    },
    /// Undo one change of a page as a new change of yours; later edits stay
    Revert {
        page: String,
        /// An entry id or prefix from `kith wiki history`
        change: String,
    },
    /// List pages
    List {
        /// Include archived (deleted) pages
        #[arg(long)]
        archived: bool,
        #[arg(long)]
        json: bool,
    },
    /// Who changed a page, when, and what (word diffs of the newest changes)
    History {
        page: String,
        /// How many of the newest changes to show with their word diff
        #[arg(long, default_value_t = 5, value_name = "N")]
        diffs: usize,
        #[arg(long)]
        json: bool,
    },
    /// Give a page a new title (the old one stays an alias: links and
    /// lookups by it still reach the page)
    Rename {
        page: String,
        title: String,
        /// Also rewrite `[[old title]]` links in other pages to the new title
        #[arg(long)]
        update_links: bool,
    },
    /// A page whose edits made apart were merged: each side's version, and
    /// what the merge changed in it (then `kith wiki reviewed`)
    Sides {
        page: String,
        #[arg(long)]
        json: bool,
    },
    /// Mark a page's merged concurrent edits as reviewed
    Reviewed { page: String },
    /// Add a post's text to the wiki (a new page, or a section of --to),
    /// credited to its author
    Promote {
        /// The post (id or unique prefix)
        entry: kith_node::refs::EntryRef,
        /// The page to add it to (created with this title if there is none)
        #[arg(long, value_name = "PAGE")]
        to: Option<String>,
        /// The heading of its section
        #[arg(long, value_name = "TITLE", conflicts_with = "thread")]
        section: Option<String>,
        /// ENTRY is an answered question: gather the question, its accepted
        /// answer and the endorsed others into one page
        #[arg(long)]
        thread: bool,
    },
    /// Follow a page: its edits reach your inbox (pages you write are followed)
    Follow {
        page: String,
        /// Stop following it
        #[arg(long)]
        stop: bool,
    },
    /// Archive a page (restorable with `kith wiki restore`)
    Delete { page: String },
    /// Bring an archived page back, or (--at) make the page read as it did
    /// right after a change; history keeps everything
    Restore {
        page: String,
        /// An entry id or prefix from `kith wiki history`
        #[arg(long, value_name = "CHANGE")]
        at: Option<String>,
    },
    /// Export every page as markdown into DIR, or one page as an .automerge file
    Export {
        /// A directory, or with --automerge a page
        target: String,
        /// Write the page TARGET as a standard Automerge document to FILE
        #[arg(long, value_name = "FILE")]
        automerge: Option<PathBuf>,
    },
    /// Import a folder of markdown files (e.g. an Obsidian vault); pages are
    /// matched by front-matter id or title and updated in place
    Import { dir: PathBuf },
}

pub fn run(data_dir: &DataDir, command: Command) -> Result<()> {
    let mut backend = Backend::connect(data_dir)?;
    match command {
        Command::New {
            title,
            file,
            circle,
        } => new_page(&mut backend, title, file, circle)?,
        Command::Edit { page, file, stdin } => edit_page(&mut backend, page, file, stdin)?,
        Command::Show {
            page,
            at: Some(change),
            json,
        } => show_at(&mut backend, page, change, json)?,
        Command::Blame { page, json } => blame(&mut backend, page, json)?,
        Command::Diff { page, change, json } => diff(&mut backend, page, change, json)?,
        Command::Revert { page, change } => {
            let view = backend.call(ops::WikiRevert { page, change })?;
            println!(
                "reverted; {:?} now has {} chars",
                view.title,
                view.body.chars().count()
            );
        }
        Command::Show {
            page,
            at: None,
            json,
        } => show(&mut backend, page, json)?,
        Command::List { archived, json } => list(&mut backend, archived, json)?,
        Command::History { page, diffs, json } => history(&mut backend, page, diffs, json)?,
        Command::Rename {
            page,
            title,
            update_links,
        } => rename(&mut backend, page, title, update_links)?,
        Command::Sides { page, json } => sides(&mut backend, page, json)?,
        Command::Promote {
            entry,
            to,
            section,
            thread,
        } => {
            let view = backend.call(ops::WikiPromote {
                entry,
                to,
                section,
                thread,
            })?;
            println!(
                "added to {:?} ({})",
                kith_node::text::for_terminal(&view.title),
                view.id
            );
        }
        Command::Follow { page, stop } => {
            let shown = kith_node::text::for_terminal(&page).into_owned();
            backend.call(ops::WikiFollow { page, stop })?;
            if stop {
                println!("no longer following {shown:?}");
            } else {
                println!("following {shown:?}: its edits reach your inbox");
            }
        }
        Command::Reviewed { page } => {
            let view = backend.call(ops::WikiReviewed { page })?;
            println!(
                "{:?} marked reviewed",
                kith_node::text::for_terminal(&view.title)
            );
        }
        Command::Delete { page } => {
            let view = backend.call(ops::WikiArchive { page })?;
            println!(
                "archived {:?}; `kith wiki restore {}` brings it back",
                view.title, view.id
            );
        }
        Command::Restore { page, at } => restore(&mut backend, page, at)?,
        Command::Export { target, automerge } => export_to(&mut backend, target, automerge)?,
        Command::Import { dir } => import(&mut backend, &dir)?,
    }
    Ok(())
}

fn show(backend: &mut Backend, page: String, json: bool) -> Result<()> {
    let view = backend.call(ops::WikiShow { page })?;
    if json {
        return output::json(&view);
    }
    let view = output::inert(view);
    for p in &view.promoted {
        println!(
            "from {}'s {}{}{}",
            p.source_name.as_deref().unwrap_or("someone"),
            p.source_kind.as_deref().unwrap_or("post"),
            p.question
                .as_deref()
                .map(|q| format!(" to “{q}”"))
                .unwrap_or_default(),
            if p.written > 0 {
                format!(" ({})", &output::rfc3339(p.written)[..10])
            } else {
                String::new()
            }
        );
    }
    print_page(&view);
    Ok(())
}

fn diff(backend: &mut Backend, page: String, change: String, json: bool) -> Result<()> {
    let diff = backend.call(ops::WikiDiff { page, change })?;
    if json {
        return output::json(&diff);
    }
    let diff = output::inert(diff);
    print_history_line(&diff.change);
    print_diff(&diff);
    Ok(())
}

fn sides(backend: &mut Backend, page: String, json: bool) -> Result<()> {
    let sides = backend.call(ops::WikiSides { page: page.clone() })?;
    if json {
        return output::json(&sides);
    }
    if sides.is_empty() {
        println!("nothing to review: every edit of this page has been seen by a later one");
        return Ok(());
    }
    let now = output::inert(backend.call(ops::WikiShow { page })?);
    for side in output::inert(sides) {
        println!(
            "as {} left it (what the merge changed in that version):",
            side.names.join(" and ")
        );
        let pieces = kith_node::wiki::words::diff(&side.body, &now.body);
        print_words(&side.title, &now.title, &pieces);
    }
    Ok(())
}

fn restore(backend: &mut Backend, page: String, at: Option<String>) -> Result<()> {
    let version = at.is_some();
    let view = backend.call(ops::WikiRestore { page, at })?;
    if version {
        println!(
            "{:?} restored to that version (a new change; history keeps the rest)",
            view.title
        );
    } else {
        println!("restored {:?}", view.title);
    }
    Ok(())
}

/// `kith wiki export DIR` (every page as markdown) or `--automerge FILE`
/// (one page as an Automerge document).
fn export_to(backend: &mut Backend, target: String, automerge: Option<PathBuf>) -> Result<()> {
    match automerge {
        Some(file) => {
            let bytes = backend.call(ops::WikiAutomerge { page: target })?.0;
            std::fs::write(&file, &bytes)
                .with_context(|| format!("cannot write {}", file.display()))?;
            println!("wrote {} ({} bytes)", file.display(), bytes.len());
        }
        None => {
            let dir = PathBuf::from(target);
            let pages = backend.call(ops::WikiExport {})?;
            export(&dir, &pages)?;
            println!(
                "exported {} to {}",
                kith_node::text::count(pages.len() as u64, "page", "pages"),
                dir.display()
            );
        }
    }
    Ok(())
}

fn import(backend: &mut Backend, dir: &Path) -> Result<()> {
    let items = read_markdown_dir(dir)?;
    if items.is_empty() {
        bail!("no .md files in {}", dir.display());
    }
    let report = backend.call(ops::WikiImport(items))?;
    println!(
        "{} created, {} updated, {} unchanged",
        report.created.len(),
        report.updated.len(),
        report.unchanged.len()
    );
    Ok(())
}

fn new_page(
    backend: &mut Backend,
    title: String,
    file: Option<PathBuf>,
    circle: Option<String>,
) -> Result<()> {
    let body = match file {
        Some(f) if f.as_os_str() == "-" => read_stdin()?,
        Some(f) => read_text_for(
            None,
            Some(f),
            kith_node::wiki::MAX_PAGE_BYTES as u64,
            "a page",
        )?,
        None => String::new(),
    };
    let page = backend.call(ops::WikiNew {
        title,
        body,
        circle,
    })?;
    println!("{}", page.id);

    Ok(())
}

fn edit_page(
    backend: &mut Backend,
    page: String,
    file: Option<PathBuf>,
    stdin: Option<String>,
) -> Result<()> {
    let (body, base) = match (file, stdin) {
        (Some(f), _) if f.as_os_str() == "-" => (read_stdin()?, None),
        (Some(f), _) => (
            crate::input::read_text_limited(
                Some(&f),
                kith_node::wiki::MAX_PAGE_BYTES as u64,
                "a page",
            )?,
            None,
        ),
        (None, Some(_)) => (read_stdin()?, None),
        (None, None) => {
            // Edits that arrive while the editor is open are merged,
            // not overwritten: the save names the version it started from.
            let current = backend.call(ops::WikiShow { page: page.clone() })?;
            match edit_in_editor(&current.body)? {
                Some(body) => (body, Some(current.heads)),
                None => {
                    eprintln!("no changes");
                    return Ok(());
                }
            }
        }
    };
    let view = backend.call(ops::WikiEdit { page, body, base })?;
    eprintln!("saved {:?}", view.title);
    println!("{}", view.id);

    Ok(())
}

fn show_at(backend: &mut Backend, page: String, change: String, json: bool) -> Result<()> {
    let version = backend.call(ops::WikiAt { page, change })?;
    if json {
        return output::json(&version);
    }
    let version = output::inert(version);
    println!("# {}", version.title);
    println!(
        "(as of {} by {}, {})",
        &version.change.entry.to_hex()[..12],
        who(&version.change),
        output::ago(version.change.timestamp)
    );
    println!();
    print!("{}", version.body);
    if !version.body.ends_with('\n') {
        println!();
    }

    Ok(())
}

fn blame(backend: &mut Backend, page: String, json: bool) -> Result<()> {
    let blame = backend.call(ops::WikiBlame { page })?;
    if json {
        return output::json(&blame);
    }
    let blame = output::inert(blame);
    let width = blame
        .lines
        .iter()
        .map(|l| blame_who(l).chars().count())
        .max()
        .unwrap_or(0);
    let mut last: Option<(Option<kith_protocol::EntryId>, String)> = None;
    for line in &blame.lines {
        let who = blame_who(line);
        let same = last
            .as_ref()
            .is_some_and(|(entry, w)| *entry == line.entry && *w == who);
        let label = if same {
            format!("{:12}  {:width$}  {:>14}", "", "", "")
        } else {
            format!(
                "{:12}  {who:width$}  {:>14}",
                line.entry
                    .map(|e| e.to_hex()[..12].to_string())
                    .unwrap_or_else(|| "?".into()),
                output::ago(line.timestamp)
            )
        };
        anstream::println!("{DIM}{label} {:>4} │{DIM:#} {}", line.line, line.text);
        last = Some((line.entry, who));
    }

    Ok(())
}

fn list(backend: &mut Backend, archived: bool, json: bool) -> Result<()> {
    let pages = backend.call(ops::WikiList { archived })?;
    if json {
        return output::json(&pages);
    }
    let pages = output::inert(pages);
    if pages.is_empty() {
        eprintln!("no pages yet: `kith wiki new TITLE`");
    }
    for p in pages {
        let mut flag = String::new();
        if p.archived {
            flag.push_str("  (archived)");
        }
        if p.namesakes > 1 {
            flag.push_str(&format!("  ({} pages have this title)", p.namesakes));
        }
        if let Some(m) = &p.merged {
            flag.push_str(&format!(
                "  ! merged concurrent edits by {} — review",
                m.names.join(" and ")
            ));
        }
        println!(
            "{}  {}  {} chars, {}, updated {}{flag}",
            p.id,
            p.title,
            p.chars,
            kith_node::text::count(p.authors.len() as u64, "author", "authors"),
            output::ago(p.updated)
        );
    }

    Ok(())
}

fn history(backend: &mut Backend, page: String, diffs: usize, json: bool) -> Result<()> {
    let history = backend.call(ops::WikiHistory { page: page.clone() })?;
    if json {
        return output::json(&history);
    }
    let history = output::inert(history);
    for (i, h) in history.iter().enumerate() {
        print_history_line(h);
        if i < diffs {
            let diff = backend.call(ops::WikiDiff {
                page: page.clone(),
                change: h.entry.to_hex(),
            })?;
            print_diff(&output::inert(diff));
            println!();
        }
    }
    if history.len() > diffs && diffs > 0 {
        eprintln!("(diffs of the newest {diffs}; `kith wiki diff {page} CHANGE` shows any other)");
    }

    Ok(())
}

fn rename(backend: &mut Backend, page: String, title: String, update_links: bool) -> Result<()> {
    let outcome = output::inert(backend.call(ops::WikiRename {
        page,
        title,
        update_links,
    })?);
    println!("renamed to {:?}", outcome.page.title);
    if update_links {
        let titles: Vec<&str> = outcome.relinked.iter().map(|p| p.title.as_str()).collect();
        match titles.len() {
            0 => println!("no other page linked to the old title"),
            n => println!(
                "links updated in {}: {}",
                kith_node::text::count(n as u64, "page", "pages"),
                titles.join(", ")
            ),
        }
    } else if let Some(old) = outcome.page.aliases.last() {
        println!("[[{old}]] links keep working; --update-links rewrites them");
    }

    Ok(())
}

fn read_stdin() -> Result<String> {
    let mut buf = String::new();
    buf.push_str(&crate::input::read_text_limited(
        None,
        kith_node::wiki::MAX_PAGE_BYTES as u64,
        "a page",
    )?);
    Ok(buf)
}

const DIM: anstyle::Style = anstyle::Style::new().dimmed();
const REMOVED: anstyle::Style = anstyle::Style::new()
    .strikethrough()
    .fg_color(Some(anstyle::Color::Ansi(anstyle::AnsiColor::Red)));
const ADDED: anstyle::Style = anstyle::Style::new()
    .bold()
    .fg_color(Some(anstyle::Color::Ansi(anstyle::AnsiColor::Green)));
/// Unchanged text longer than this is cut down to its ends in diffs.
const CONTEXT: usize = 40;

/// Opens `$VISUAL`/`$EDITOR` on `text`; None if the text was not changed.
fn edit_in_editor(text: &str) -> Result<Option<String>> {
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".to_string());
    let dir = tempfile::tempdir().context("cannot make a temporary file")?;
    let path = dir.path().join("page.md");
    std::fs::write(&path, text)?;
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(&path)
        .status()
        .with_context(|| format!("cannot start the editor {editor:?}"))?;
    if !status.success() {
        bail!("the editor {editor:?} exited with {status}; nothing saved");
    }
    let edited = std::fs::read_to_string(&path)?;
    Ok((edited != text).then_some(edited))
}
