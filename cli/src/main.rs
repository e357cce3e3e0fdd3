//! `kith`: the command-line interface of a Kith node.
//!
//! `main` only parses arguments, sets up logging, dispatches to one module
//! per subcommand under `commands/`, and turns errors into one line on
//! stderr and a non-zero exit code.

mod backend;
mod commands;
mod input;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// jemalloc, not the system allocator: a node's store, index and network
/// threads allocate and free across threads, which glibc's per-thread
/// arenas turn into lasting fragmentation (docs/BENCHMARKS.md, memory).
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// `kith --version`: the release and the wire protocol it speaks.
static VERSION: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "{} (protocol {}, bundle format {})",
        env!("CARGO_PKG_VERSION"),
        kith_protocol::PROTOCOL_VERSION,
        kith_node::bundle::VERSION
    )
});

/// A peer-to-peer knowledge-sharing node: notes, questions and answers, and
/// wiki pages, shared only with the people you trust.
#[derive(Debug, Parser)]
#[command(name = "kith", version = VERSION.as_str(), about, long_about = None)]
pub struct Cli {
    /// Where the node keeps its identity, store and config
    /// [default: the platform's data directory, e.g. ~/.local/share/kith]
    #[arg(long, global = true, env = "KITH_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

/// Declares the subcommands once: each line gives the variant (its doc
/// comment is its `--help`), what it parses, and the module under
/// `commands/` whose `run(data_dir, parsed)` carries it out. The clap
/// enum and the dispatch both come from this list.
macro_rules! subcommands {
    ($( $(#[$meta:meta])* $variant:ident($parsed:ty) => $module:ident; )*) => {
        #[derive(Debug, Subcommand)]
        #[allow(clippy::large_enum_variant)]
        enum Command {
            $( $(#[$meta])* $variant($parsed), )*
            /// Print a shell completion script, e.g.
            /// `kith completions bash > ~/.local/share/bash-completion/completions/kith`
            Completions {
                /// bash, zsh, fish, elvish or powershell
                shell: clap_complete::Shell,
            },
        }

        /// Runs a subcommand (completions are printed before the data
        /// directory is read, in `main`).
        fn dispatch(data_dir: &kith_node::DataDir, command: Command) -> anyhow::Result<()> {
            match command {
                $( Command::$variant(parsed) => commands::$module::run(data_dir, parsed), )*
                Command::Completions { .. } => Ok(()),
            }
        }
    };
}

subcommands! {
    /// Create this node's identity (an ed25519 key) and print its author id
    Init(commands::init::Args) => init;
    /// Print this node's author id
    Id(commands::id::Args) => id;
    /// Run the node in the foreground: replication, local API and web UI
    Up(commands::up::Args) => up;
    /// Write a note (or a question/answer with --kind)
    Post(commands::post::Args) => post;
    /// Show the latest posts from you and the people you trust
    Feed(commands::feed::Args) => feed;
    /// Ask a question (after checking whether it was asked before)
    Ask(commands::ask::Args) => ask;
    /// Answer a question
    Answer(commands::answer::Args) => answer;
    /// Reply to any post
    Reply(commands::reply::Args) => reply;
    /// Show a post with its answers (best first) and replies
    Thread(commands::thread::Args) => thread;
    /// List questions
    Questions(commands::questions::Args) => questions;
    /// Endorse an answer or post (trust-weighted ranking)
    Endorse(commands::endorse::Args) => endorse;
    /// Accept an answer to your question
    Accept(commands::accept::Args) => accept;
    /// Delete one of your entries everywhere it replicated
    Delete(commands::delete::Args) => delete;
    /// Full-text search over posts and wiki pages
    Search(commands::search::Args) => search;
    /// What concerns you: answers, replies, mentions, endorsements, page edits
    Inbox(commands::inbox::Args) => inbox;
    /// Your inbox over a period, grouped (default: the last day)
    Digest(commands::digest::Args) => digest;
    /// Files and images: add one (for a wiki page), fetch one, see one
    #[command(subcommand)]
    Blob(commands::blob::Command) => blob;
    /// Entries you keep to come back to (private to this node)
    #[command(subcommand)]
    Bookmark(commands::bookmark::Command) => bookmark;
    /// Your profile, and others'
    #[command(subcommand)]
    Profile(commands::profile::Command) => profile;
    /// Manage the people you trust (and replicate with)
    #[command(subcommand)]
    Trust(commands::trust::Command) => trust;
    /// Your devices: link another machine, list, revoke a lost one
    #[command(subcommand)]
    Device(commands::device::Command) => device;
    /// Private circles: posts, questions and pages only their members read
    #[command(subcommand)]
    Circle(commands::circle::Command) => circle;
    /// Your identity key: rotate it
    #[command(subcommand)]
    Identity(commands::identity::Command) => identity;
    /// Social recovery: name contacts, ask them to vouch, vouch for someone
    #[command(subcommand)]
    Recovery(commands::recovery::Command) => recovery;
    /// Inspect your store's logs
    #[command(subcommand)]
    Log(commands::log::Command) => log;
    /// Rebuild every derived view (feed, pages, search) from the entries
    Reindex(commands::reindex::Args) => reindex;
    /// Print an invite code others can `kith join`
    Invite(commands::invite::Args) => invite;
    /// Trust the inviter of CODE and connect to them
    Join(commands::join::Args) => join;
    /// Connect to a peer at a multiaddr
    Dial(commands::dial::Args) => dial;
    /// Show connected and known peers
    Peers(commands::peers::Args) => peers;
    /// Show replication progress per author
    Status(commands::status::Args) => status;
    /// Carry entries by file between nodes that never connect
    #[command(subcommand)]
    Bundle(commands::bundle::Command) => bundle;
    /// Export this node's frontier, so a friend can bundle what it lacks
    #[command(subcommand)]
    Frontier(commands::frontier::Command) => frontier;
    /// Authors caught signing two entries at one seq (their logs are held)
    #[command(subcommand)]
    Forks(commands::forks::Command) => forks;
    /// Print the web app's sign-in URL of the running node
    Web(commands::web::Args) => web;
    /// Shared wiki pages
    #[command(subcommand)]
    Wiki(commands::wiki::Command) => wiki;
}

/// Whether log lines may carry colour: stderr is a terminal and `NO_COLOR`
/// (https://no-color.org) is unset or empty.
fn log_colour() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Returns freed memory to the system in the background, not only when
/// the next allocation happens to trigger it.
#[cfg(feature = "jemalloc")]
fn purge_in_background() {
    let _ = tikv_jemalloc_ctl::background_thread::write(true);
}

/// Freed memory is returned after one second instead of jemalloc's ten
/// (its muzzy pages are purged at once already), so that what a burst of
/// work freed (a catch-up, a reindex, a batch of an import) leaves RSS
/// soon: for a node (`kith up`), which runs for long, and for the long
/// one-shot commands (`kith bundle import` with no node running), whose
/// peak it sets. On a million-entry import it lowered the peak to
/// 0.86–0.88× at 1.00–1.10× the time (docs/BENCHMARKS.md, "A search index
/// of words and places"; before the index stopped mapping ~70 MiB during
/// merges it did not lower the peak). A `MALLOC_CONF` given in the
/// environment (`_RJEM_MALLOC_CONF`) is left to set what it names.
#[cfg(feature = "jemalloc")]
fn purge_sooner() {
    use tikv_jemalloc_ctl::{Access, AsName};
    if std::env::var_os("_RJEM_MALLOC_CONF").is_some_and(|v| !v.is_empty()) {
        return;
    }
    const PURGE_AFTER_MS: isize = 1_000;
    // Arenas made from now on.
    let _ = b"arenas.dirty_decay_ms\0".name().write(PURGE_AFTER_MS);
    // Those made already (the main thread's, at least).
    let arenas: u32 = tikv_jemalloc_ctl::arenas::narenas::read().unwrap_or(0);
    for i in 0..arenas {
        // An arena not created yet answers with an error: it will take
        // the defaults above.
        let _ = format!("arena.{i}.dirty_decay_ms\0")
            .name()
            .write(PURGE_AFTER_MS);
    }
}

fn main() -> ExitCode {
    #[cfg(feature = "jemalloc")]
    purge_in_background();
    #[cfg(feature = "jemalloc")]
    purge_sooner();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                // Kademlia warns when it knows no peers to bootstrap from,
                // the normal state of a fresh node: not worth a warning.
                .unwrap_or_else(|_| {
                    tracing_subscriber::EnvFilter::new("warn,libp2p_kad::behaviour=error")
                }),
        )
        .with_writer(std::io::stderr)
        // Colour only on a terminal, and never when NO_COLOR is set.
        .with_ansi(log_colour())
        .init();
    if let Command::Completions { shell } = cli.command {
        use clap::CommandFactory;
        clap_complete::generate(shell, &mut Cli::command(), "kith", &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    let data_dir = match cli.data_dir {
        Some(dir) => kith_node::DataDir::new(dir),
        None => match kith_node::DataDir::platform_default() {
            Ok(d) => d,
            Err(e) => return fail(&e.into()),
        },
    };
    let result = dispatch(&data_dir, cli.command);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// Prints the error chain as one line and picks the exit code.
fn fail(error: &anyhow::Error) -> ExitCode {
    let mut line = format!("error: {error}");
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !line.contains(&cause) {
            line.push_str(": ");
            line.push_str(&cause);
        }
    }
    eprintln!("{line}");
    ExitCode::from(1)
}

#[cfg(all(test, feature = "jemalloc"))]
mod tests {
    use tikv_jemalloc_ctl::{Access, AsName};

    #[test]
    fn freed_memory_is_returned_after_a_second() {
        if std::env::var_os("_RJEM_MALLOC_CONF").is_some_and(|v| !v.is_empty()) {
            return;
        }
        super::purge_in_background();
        super::purge_sooner();
        let default: isize = b"arenas.dirty_decay_ms\0".name().read().unwrap();
        assert_eq!(default, 1_000);
        // The arena of the thread that tuned it, made before.
        let arena: u32 = b"thread.arena\0".name().read().unwrap();
        let current: isize = format!("arena.{arena}.dirty_decay_ms\0")
            .name()
            .read()
            .unwrap();
        assert_eq!(current, 1_000);
        assert!(tikv_jemalloc_ctl::background_thread::read().unwrap());
    }
}
