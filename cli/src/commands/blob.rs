//! `kith blob`: files and images. `add` puts a file among your files and
//! prints the markdown that shows it in a wiki page; `get` fetches one
//! (from your peers if this node does not hold it); `info` says what is
//! known of one.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use kith_node::{DataDir, ops};
use kith_protocol::blob::BlobHash;

use crate::backend::Backend;
use crate::output;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Add a file and sign an entry naming it; prints `![name](blob:HASH)`
    Add {
        file: PathBuf,
        /// The name it is shown and saved under (default: the file's)
        #[arg(long)]
        name: Option<String>,
        /// Its media type, e.g. image/png (default: from the extension)
        #[arg(long = "type", value_name = "TYPE")]
        media_type: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Save a file (fetched from your peers if needed)
    Get {
        /// The file's hash (with or without `blob:`)
        hash: BlobHash,
        /// Where to save it (`-`: standard output; default: its name, here)
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Replace the file if it exists
        #[arg(long)]
        force: bool,
    },
    /// What is known of a file: size, type, name, held here, referenced by
    Info {
        hash: BlobHash,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(data_dir: &DataDir, command: Command) -> Result<()> {
    let mut backend = Backend::connect(data_dir)?;
    match command {
        Command::Add {
            file,
            name,
            media_type,
            json,
        } => {
            let absolute = std::fs::canonicalize(&file)
                .with_context(|| format!("cannot add {}", file.display()))?;
            let view = backend.call(ops::BlobAdd {
                path: absolute.to_string_lossy().into_owned(),
                name,
                media_type,
                declare: true,
            })?;
            if json {
                return output::json(&view);
            }
            println!("{}", view.markdown);
            eprintln!(
                "{} ({}, {} bytes): paste the line above into a post or page",
                view.file.hash, view.file.media_type, view.file.size
            );
        }
        Command::Info { hash, json } => {
            let view = backend.call(ops::BlobInfo {
                hash: hash.to_string(),
                entry: None,
            })?;
            if json {
                return output::json(&view);
            }
            let view = output::inert(view);
            println!("{}", view.file.name);
            println!("  {} bytes, {}", view.file.size, view.file.media_type);
            println!(
                "  {}",
                if view.held {
                    "held on this node"
                } else {
                    "not on this node yet (`kith blob get` fetches it)"
                }
            );
            for entry in &view.entries {
                println!("  referenced by {entry}");
            }
        }
        Command::Get {
            hash,
            output: target,
            force,
        } => get(&mut backend, hash, target, force)?,
    }
    Ok(())
}

fn get(backend: &mut Backend, hash: BlobHash, target: Option<PathBuf>, force: bool) -> Result<()> {
    let op = ops::BlobGet {
        hash: hash.to_string(),
        entry: None,
    };
    if target.as_deref() == Some(Path::new("-")) {
        let mut out = std::io::stdout().lock();
        backend.call_into(op, &mut out)?;
        out.flush()?;
        return Ok(());
    }
    let target = match target {
        Some(path) => path,
        None => {
            let info = backend.call(ops::BlobInfo {
                hash: hash.to_string(),
                entry: None,
            })?;
            // The name was checked when the entry was read: no directory
            // part, no `..`; it lands in the current directory.
            PathBuf::from(&info.file.name)
        }
    };
    if target.exists() && !force {
        bail!(
            "{} exists: choose another name with -o, or --force to replace it",
            target.display()
        );
    }
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut temp = tempfile::NamedTempFile::new_in(&dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    let mut out = std::io::BufWriter::new(temp.as_file_mut());
    backend.call_into(op, &mut out)?;
    out.flush()?;
    drop(out);
    // The node checked every range against the hash; check the whole once
    // more, as it landed on this disk.
    let mut hasher = blake3::Hasher::new();
    hasher
        .update_reader(std::fs::File::open(temp.path())?)
        .context("cannot read the file back")?;
    if hasher.finalize().as_bytes() != &hash.0 {
        bail!("the bytes received do not hash to {hash}; nothing was saved");
    }
    temp.as_file().sync_all()?;
    temp.persist(&target)
        .with_context(|| format!("cannot save {}", target.display()))?;
    eprintln!("saved {}", target.display());
    Ok(())
}
