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

#[derive(Debug, Subcommand)]
enum Command {
    /// Create this node's identity (an ed25519 key) and print its author id
    Init(commands::init::Args),
    /// Print this node's author id
    Id(commands::id::Args),
    /// Run the node in the foreground: replication, local API and web UI
    Up(Box<commands::up::Args>),
    /// Write a note (or a question/answer with --kind)
    Post(commands::post::Args),
    /// Show the latest posts from you and the people you trust
    Feed(commands::feed::Args),
    /// Ask a question (after checking whether it was asked before)
    Ask(commands::ask::Args),
    /// Answer a question
    Answer(commands::answer::Args),
    /// Reply to any post
    Reply(commands::reply::Args),
    /// Show a post with its answers (best first) and replies
    Thread(commands::thread::Args),
    /// List questions
    Questions(commands::questions::Args),
    /// Endorse an answer or post (trust-weighted ranking)
    Endorse(commands::endorse::Args),
    /// Accept an answer to your question
    Accept(commands::accept::Args),
    /// Delete one of your entries everywhere it replicated
    Delete(commands::delete::Args),
    /// Full-text search over posts and wiki pages
    Search(commands::search::Args),
    /// Your profile, and others'
    #[command(subcommand)]
    Profile(commands::profile::Command),
    /// Manage the people you trust (and replicate with)
    #[command(subcommand)]
    Trust(commands::trust::Command),
    /// Your devices: link another machine, list, revoke a lost one
    #[command(subcommand)]
    Device(commands::device::Command),
    /// Private circles: posts, questions and pages only their members read
    #[command(subcommand)]
    Circle(commands::circle::Command),
    /// Your identity key: rotate it
    #[command(subcommand)]
    Identity(commands::identity::Command),
    /// Social recovery: name contacts, ask them to vouch, vouch for someone
    #[command(subcommand)]
    Recovery(commands::recovery::Command),
    /// Inspect your store's logs
    #[command(subcommand)]
    Log(commands::log::Command),
    /// Rebuild every derived view (feed, pages, search) from the entries
    Reindex(commands::reindex::Args),
    /// Print an invite code others can `kith join`
    Invite(commands::invite::Args),
    /// Trust the inviter of CODE and connect to them
    Join(commands::join::Args),
    /// Connect to a peer at a multiaddr
    Dial(commands::dial::Args),
    /// Show connected and known peers
    Peers(commands::peers::Args),
    /// Show replication progress per author
    Status(commands::status::Args),
    /// Carry entries by file between nodes that never connect
    #[command(subcommand)]
    Bundle(commands::bundle::Command),
    /// Export this node's frontier, so a friend can bundle what it lacks
    #[command(subcommand)]
    Frontier(commands::frontier::Command),
    /// Authors caught signing two entries at one seq (their logs are held)
    #[command(subcommand)]
    Forks(commands::forks::Command),
    /// Print the web app's sign-in URL of the running node
    Web(commands::web::Args),
    /// Shared wiki pages
    #[command(subcommand)]
    Wiki(commands::wiki::Command),
    /// Print a shell completion script, e.g.
    /// `kith completions bash > ~/.local/share/bash-completion/completions/kith`
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
}

/// Whether log lines may carry colour: stderr is a terminal and `NO_COLOR`
/// (https://no-color.org) is unset or empty.
fn log_colour() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn main() -> ExitCode {
    // Return freed memory to the system in the background, not only when
    // the next allocation happens to trigger it.
    let _ = tikv_jemalloc_ctl::background_thread::write(true);
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
    let result = match cli.command {
        Command::Init(args) => commands::init::run(&data_dir, args),
        Command::Id(args) => commands::id::run(&data_dir, args),
        Command::Up(args) => commands::up::run(&data_dir, *args),
        Command::Post(args) => commands::post::run(&data_dir, args),
        Command::Feed(args) => commands::feed::run(&data_dir, args),
        Command::Ask(args) => commands::ask::run(&data_dir, args),
        Command::Answer(args) => commands::answer::run(&data_dir, args),
        Command::Reply(args) => commands::reply::run(&data_dir, args),
        Command::Thread(args) => commands::thread::run(&data_dir, args),
        Command::Questions(args) => commands::questions::run(&data_dir, args),
        Command::Endorse(args) => commands::endorse::run(&data_dir, args),
        Command::Accept(args) => commands::accept::run(&data_dir, args),
        Command::Delete(args) => commands::delete::run(&data_dir, args),
        Command::Search(args) => commands::search::run(&data_dir, args),
        Command::Profile(cmd) => commands::profile::run(&data_dir, cmd),
        Command::Trust(cmd) => commands::trust::run(&data_dir, cmd),
        Command::Device(cmd) => commands::device::run(&data_dir, cmd),
        Command::Circle(cmd) => commands::circle::run(&data_dir, cmd),
        Command::Identity(cmd) => commands::identity::run(&data_dir, cmd),
        Command::Recovery(cmd) => commands::recovery::run(&data_dir, cmd),
        Command::Log(cmd) => commands::log::run(&data_dir, cmd),
        Command::Reindex(args) => commands::reindex::run(&data_dir, args),
        Command::Invite(args) => commands::invite::run(&data_dir, args),
        Command::Join(args) => commands::join::run(&data_dir, args),
        Command::Dial(args) => commands::dial::run(&data_dir, args),
        Command::Peers(args) => commands::peers::run(&data_dir, args),
        Command::Status(args) => commands::status::run(&data_dir, args),
        Command::Wiki(cmd) => commands::wiki::run(&data_dir, cmd),
        // Printed above, before the data dir is read.
        Command::Completions { .. } => Ok(()),
        Command::Web(args) => commands::web::run(&data_dir, args),
        Command::Forks(cmd) => commands::forks::run(&data_dir, cmd),
        Command::Bundle(cmd) => commands::bundle::run(&data_dir, cmd),
        Command::Frontier(cmd) => commands::frontier::run(&data_dir, cmd),
    };
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
