//! `kith bundle`: carry entries between nodes that never connect.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use kith_node::model::ImportEntriesReport;
use kith_node::refs::AuthorRef;
use kith_node::{Core, DataDir, ops};

use crate::backend::Backend;
use crate::output;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Write the entries another node lacks to FILE
    Export {
        file: PathBuf,
        /// The person the bundle is for (must be someone you trust)
        #[arg(long = "for", value_name = "AUTHOR")]
        recipient: Option<AuthorRef>,
        /// Only these authors (comma separated ids, or `me`)
        #[arg(long, value_delimiter = ',')]
        authors: Vec<AuthorRef>,
        /// The recipient's frontier file (`kith frontier export`): only what it lacks
        #[arg(long, value_name = "FRONTIER_FILE")]
        since: Option<PathBuf>,
        /// Carry the files and images the entries attach, too
        #[arg(long)]
        with_blobs: bool,
    },
    /// Verify and apply the entries of a bundle file
    Import { file: PathBuf },
}

/// Entries sent to the node per request while importing.
const CHUNK: usize = 4096;

/// Entries imported with no node running after which the store is settled.
const SETTLE_AFTER: u64 = 10_000;

/// Where an export is written until it is whole: FILE's name with
/// `.partial` added, in FILE's directory.
fn partial_path(file: &Path) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    file.with_file_name(name)
}

/// Streams the bundle into `path` and reads it back as a receiver would:
/// a bundle cut short (the node stopped, its store changed under the
/// export) is an error, not a file. Returns (entries, bytes).
fn export_to(
    backend: &mut Backend,
    path: &Path,
    recipient: Option<AuthorRef>,
    authors: Vec<AuthorRef>,
    since: Option<String>,
    with_blobs: bool,
) -> Result<(u64, u64)> {
    let created =
        std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    let mut out = std::io::BufWriter::new(created);
    let op = ops::Bundle {
        recipient,
        authors,
        since,
        with_blobs,
    };
    let bytes = backend.call_into(op, &mut out)?;
    let file = out
        .into_inner()
        .map_err(|e| e.into_error())
        .and_then(|f| f.sync_all().map(|()| f))
        .with_context(|| format!("cannot write {}", path.display()))?;
    drop(file);
    let opened =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let reader = kith_node::bundle::Reader::new(
        std::io::BufReader::new(opened),
        kith_protocol::Limits::default(),
    )
    .context("the node's bundle does not read back")?;
    let promised = reader.header().entries;
    let end = reader.finish();
    let entries = end.entries as u64;
    if entries != promised || !end.problems.is_empty() || !end.malformed.is_empty() {
        bail!(
            "the bundle the node sent is not whole ({entries} of {promised} entries; {}): the \
             node stopped or its store changed during the export; export again",
            end.problems.join("; ")
        );
    }
    Ok((entries, bytes))
}

pub fn run(data_dir: &DataDir, command: Command) -> Result<()> {
    let mut backend = Backend::connect(data_dir)?;
    match command {
        Command::Export {
            file,
            recipient,
            authors,
            since,
            with_blobs,
        } => {
            let since = match since {
                Some(path) => Some(crate::input::read_text_limited(
                    Some(&path),
                    16 << 20,
                    "a frontier file",
                )?),
                None => None,
            };
            let watch = output::JobWatch::start(data_dir, kith_node::jobs::JobKind::Export);
            // Written beside FILE and moved over it only once whole, so a
            // failed export leaves whatever FILE held.
            let partial = partial_path(&file);
            let written = export_to(
                &mut backend,
                &partial,
                recipient,
                authors,
                since,
                with_blobs,
            );
            drop(watch);
            let (entries, bytes) = match written {
                Ok(counts) => counts,
                Err(e) => {
                    let _ = std::fs::remove_file(&partial);
                    return Err(e);
                }
            };
            std::fs::rename(&partial, &file)
                .with_context(|| format!("cannot write {}", file.display()))?;
            println!(
                "wrote {} entries ({} bytes) to {}",
                entries,
                bytes,
                file.display()
            );
        }
        Command::Import { file } => import(data_dir, backend, &file)?,
    }
    Ok(())
}

/// The files of a version 2 bundle, after its entries: each is checked
/// against its hash and kept only if an entry this node holds references
/// it (a bundle cannot fill a node with files nobody wrote about).
/// Returns (added, skipped), or `None` for a bundle of entries alone.
fn import_blobs(
    data_dir: &DataDir,
    backend: &mut Backend,
    reader: &mut kith_node::bundle::Reader<std::fs::File>,
) -> Result<Option<(u64, u64)>> {
    // Take the entries first (they were imported above).
    for _ in reader.by_ref() {}
    if !reader.has_blobs() {
        return Ok(None);
    }
    let max = crate::backend::load_config(data_dir)?.blobs.max_file;
    let (mut added, mut skipped) = (0, 0);
    loop {
        // In the data directory: the node reads it there.
        let mut temp = tempfile::NamedTempFile::new_in(data_dir.path())
            .context("cannot write a file from the bundle")?;
        let mut out = std::io::BufWriter::new(temp.as_file_mut());
        let Some((hash, _size)) = reader.next_blob(&mut out, max) else {
            break;
        };
        drop(out);
        let mut hasher = blake3::Hasher::new();
        hasher.update_reader(std::fs::File::open(temp.path())?)?;
        if hasher.finalize().as_bytes() != &hash.0 {
            eprintln!("file {hash} in the bundle does not match its hash: skipped");
            skipped += 1;
            continue;
        }
        let info = match backend.call(ops::BlobInfo {
            hash: hash.to_string(),
            entry: None,
        }) {
            Ok(info) if !info.held => info,
            _ => {
                skipped += 1;
                continue;
            }
        };
        backend.call(ops::BlobAdd {
            path: temp.path().to_string_lossy().into_owned(),
            name: Some(info.file.name),
            media_type: Some(info.file.media_type),
            declare: false,
        })?;
        added += 1;
    }
    Ok(Some((added, skipped)))
}

/// A bundle's reader, or what the file is instead.
fn open_bundle(
    opened: std::fs::File,
    file: &Path,
) -> Result<kith_node::bundle::Reader<std::fs::File>> {
    match kith_node::bundle::Reader::new(opened, kith_protocol::Limits::default()) {
        Ok(reader) => Ok(reader),
        Err(kith_node::bundle::Error::NotABundle) => bail!(
            "{} is not a Kith bundle (it does not start with KITHBNDL)",
            file.display()
        ),
        Err(e) => Err(e).with_context(|| format!("{} cannot be imported", file.display())),
    }
}

/// Why an entry was refused. An entry right after a malformed one fails
/// the chain rule only because of that damage: said so, not "seq gap".
fn refusal(
    reader: &kith_node::bundle::Reader<std::fs::File>,
    numbers: &[(kith_protocol::AuthorId, u64, usize)],
    r: &kith_node::model::Rejected,
) -> String {
    let after_damage = numbers
        .iter()
        .find(|(author, seq, _)| *author == r.author && *seq == r.seq)
        .and_then(|&(_, _, number)| reader.malformed_before(number));
    match after_damage {
        Some(n) => format!(
            "seq {} of …{} not applied: entry {n} before it is malformed",
            r.seq,
            r.author.short()
        ),
        None => format!(
            "seq {} of …{} rejected: {}",
            r.seq,
            r.author.short(),
            r.reason
        ),
    }
}

/// One line, whatever went wrong: what, then how much.
fn damage_report(mut what: Vec<String>) -> Result<()> {
    if what.is_empty() {
        return Ok(());
    }
    let count = what.len();
    what.truncate(3);
    let more = if count > 3 {
        format!(" and {} more", count - 3)
    } else {
        String::new()
    };
    bail!(
        "the bundle was damaged or held invalid entries ({}{more}); only entries that verified were applied",
        what.join("; ").replace('\n', " ")
    )
}

/// `kith bundle import FILE`: read as a stream, sent in chunks. Takes the
/// backend: with no node running, the store is closed and settled after.
fn import(data_dir: &DataDir, mut backend: Backend, file: &Path) -> Result<()> {
    // Read as a stream: memory stays the same whatever the file's size.
    let opened =
        std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut reader = open_bundle(opened, file)?;
    let bar = output::entries_bar(reader.header().entries);
    let mut total = ImportEntriesReport::default();
    let mut refused = Vec::new();
    // Chunks keep each author's entries in order: the bundle lists
    // logs one after another, in log order.
    loop {
        let mut entries = Vec::with_capacity(CHUNK);
        let mut numbers = Vec::with_capacity(CHUNK);
        for (number, entry) in reader.by_ref().take(CHUNK) {
            numbers.push((entry.author(), entry.seq(), number));
            entries.push(entry);
        }
        if entries.is_empty() {
            break;
        }
        let report = backend.call(ops::ImportEntries { entries })?;
        total.appended += report.appended;
        total.duplicates += report.duplicates;
        total.not_replicated += report.not_replicated;
        total.dependencies += report.dependencies;
        refused.extend(
            report
                .rejected
                .iter()
                .map(|r| refusal(&reader, &numbers, r)),
        );
        bar.inc(numbers.len() as u64);
    }
    let files = import_blobs(data_dir, &mut backend, &mut reader)?;
    let end = reader.finish();
    bar.finish_and_clear();
    println!(
        "{} new, {} already here, {} by authors you do not replicate (skipped), {} wiki dependencies",
        total.appended, total.duplicates, total.not_replicated, total.dependencies
    );
    if let Some((added, skipped)) = files {
        println!(
            "{added} files added, {skipped} skipped (no entry here attaches them, or they are here already)"
        );
    }
    // With no node running, a large import is settled now rather
    // than at the next `kith up` (see `Core::settle_store`).
    // The counts are printed first: the entries are stored whatever
    // happens here.
    let settle = !backend.is_running() && total.appended >= SETTLE_AFTER;
    drop(backend);
    if settle {
        eprintln!("settling the store so that the next start is quick…");
        Core::settle_store(&crate::backend::load_config(data_dir)?)
            .context("settling the store after the import")?;
    }
    let mut what = end.problems;
    what.extend(refused);
    damage_report(what)
}
