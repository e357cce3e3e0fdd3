//! `kith inbox`: what concerns you (answers and replies to your posts,
//! mentions of you, your posts endorsed, your answers accepted, edits of
//! pages you follow), newest first; `kith inbox read` marks items read.
//! `kith digest` is the same, grouped, over a period.

use anyhow::{Result, bail};
use kith_node::ops::inbox::InboxItemView;
use kith_node::refs::EntryRef;
use kith_node::store::inbox::InboxKind;
use kith_node::{DataDir, ops};

use crate::backend::Backend;
use crate::output;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Only what you have not read
    #[arg(long)]
    unread: bool,
    /// At most this many items
    #[arg(long, default_value_t = 50)]
    limit: usize,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Mark an item read (by its entry id), or every item (--all)
    Read {
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        entry: Option<EntryRef>,
        #[arg(long)]
        all: bool,
    },
}

pub fn run(data_dir: &DataDir, args: Args) -> Result<()> {
    let mut backend = Backend::connect(data_dir)?;
    if let Some(Command::Read { entry, all }) = args.command {
        let marked = backend.call(ops::InboxRead { entry, all })?;
        println!("{marked} marked read");
        return Ok(());
    }
    let items = backend.call(ops::Inbox {
        unread: args.unread,
        since: None,
        limit: Some(args.limit),
    })?;
    if args.json {
        return output::json(&items);
    }
    let items = output::inert(items);
    if items.is_empty() {
        eprintln!(
            "{}",
            if args.unread {
                "nothing unread"
            } else {
                "nothing yet: answers and replies to your posts, mentions of you and edits of pages you follow come here"
            }
        );
    }
    for item in &items {
        println!("{}", line(item));
    }
    Ok(())
}

/// One item in a line: `• 2 minutes ago  Bob answered "How do…": "Use…"  (ENTRY)`.
pub fn line(item: &InboxItemView) -> String {
    let who = item
        .author_name
        .clone()
        .unwrap_or_else(|| format!("…{}", &item.author.to_string()[44..]));
    let quote = |t: &Option<String>| t.as_deref().map(|t| format!("“{t}”")).unwrap_or_default();
    let what = match item.kind {
        InboxKind::Answer => format!(
            "{who} answered {}: {}",
            quote(&item.about_excerpt),
            quote(&item.excerpt)
        ),
        InboxKind::Reply => format!(
            "{who} replied to {}: {}",
            quote(&item.about_excerpt),
            quote(&item.excerpt)
        ),
        InboxKind::Mention => format!("{who} mentioned you: {}", quote(&item.excerpt)),
        InboxKind::Endorsed => format!("{who} endorsed {}", quote(&item.about_excerpt)),
        InboxKind::Accepted => format!("{who} accepted your answer {}", quote(&item.about_excerpt)),
        InboxKind::PageEdit => format!(
            "{who} edited the page {}",
            item.page_title
                .as_deref()
                .map(|t| format!("“{t}”"))
                .unwrap_or_default()
        ),
        InboxKind::DeviceLinked => format!("{who} linked a device"),
        InboxKind::DeviceRevoked => format!("{who} revoked a device"),
    };
    format!(
        "{} {:<16} {what}  ({})",
        if item.read { " " } else { "•" },
        output::ago(item.timestamp),
        &item.entry.to_hex()[..12]
    )
}

/// `kith digest [--since 1d]`: the inbox over a period, grouped.
#[derive(Debug, clap::Args)]
pub struct DigestArgs {
    /// How far back (e.g. 1d, 12h, 1week)
    #[arg(long, default_value = "1d")]
    since: humantime::Duration,
    #[arg(long)]
    json: bool,
}

pub fn digest(data_dir: &DataDir, args: DigestArgs) -> Result<()> {
    let mut backend = Backend::connect(data_dir)?;
    let now = kith_node::clock::now_ms();
    let back = u64::try_from(std::time::Duration::from(args.since).as_millis()).unwrap_or(u64::MAX);
    if back == 0 {
        bail!("--since must be longer than nothing");
    }
    let items = backend.call(ops::Inbox {
        unread: false,
        since: Some(now.saturating_sub(back)),
        limit: Some(ops::inbox::MAX_ITEMS),
    })?;
    if args.json {
        return output::json(&items);
    }
    let items = output::inert(items);
    println!(
        "since {} ago: {} items, {} unread",
        args.since,
        items.len(),
        items.iter().filter(|i| !i.read).count()
    );
    for (kind, title) in [
        (InboxKind::Answer, "Answers to your questions"),
        (InboxKind::Reply, "Replies to your posts"),
        (InboxKind::Mention, "Mentions of you"),
        (InboxKind::Endorsed, "Your posts endorsed"),
        (InboxKind::Accepted, "Your answers accepted"),
        (InboxKind::PageEdit, "Edits of pages you follow"),
        (
            InboxKind::DeviceLinked,
            "Devices linked by people you trust",
        ),
        (
            InboxKind::DeviceRevoked,
            "Devices revoked by people you trust",
        ),
    ] {
        let of: Vec<&InboxItemView> = items.iter().filter(|i| i.kind == kind).collect();
        if of.is_empty() {
            continue;
        }
        println!("\n{title} ({})", of.len());
        for item in of {
            println!("{}", line(item));
        }
    }
    Ok(())
}
