//! The head witness: how far this machine has signed each of its logs,
//! kept *outside* the data directory (PROTOCOL.md §11.6).
//!
//! A store restored from an old backup looks exactly like the original did
//! when the backup was taken; nothing inside the data directory can tell
//! it is behind. A small file per log key in a separate directory
//! (`$KITH_STATE_DIR`, else `$XDG_STATE_HOME/kith`, else
//! `~/.local/state/kith`; `kith up --witness-dir`) records the highest
//! sequence number this machine signed. At start the node compares it with
//! the store: equal (or behind, after a crash between the two writes)
//! means this is the store that signed last; ahead, or missing for a store
//! that kept one, means the store may be behind its own log.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use kith_protocol::AuthorId;

/// What the store must reach before own writes go on, and what to do if no
/// peer can say where the log is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The store is where this machine left it (or the log is empty):
    /// write at once.
    Sure,
    /// Ask peers first; the store must reach `floor` (the witness's head)
    /// and any head a peer reports.
    Ask { floor: u64, if_silent: Silent },
}

/// With no peer answering (or the log not caught up in time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Silent {
    /// Write under this key anyway (no witness to say otherwise).
    Write,
    /// Go on under a new key that takes over from this one (kind 14).
    Succeed,
}

/// The witness directory.
#[derive(Debug, Clone)]
pub struct Witness {
    dir: PathBuf,
}

impl Witness {
    pub fn new(dir: impl Into<PathBuf>) -> Witness {
        Witness { dir: dir.into() }
    }

    /// The default directory: `$KITH_STATE_DIR`, `$XDG_STATE_HOME/kith`,
    /// or `~/.local/state/kith`; `None` if none can be found.
    pub fn default_dir() -> Option<PathBuf> {
        let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
        if let Some(dir) = var("KITH_STATE_DIR") {
            return Some(PathBuf::from(dir));
        }
        if let Some(dir) = var("XDG_STATE_HOME") {
            return Some(Path::new(&dir).join("kith"));
        }
        var("HOME").map(|home| Path::new(&home).join(".local/state/kith"))
    }

    fn path(&self, author: &AuthorId) -> PathBuf {
        self.dir.join(format!("{author}.head"))
    }

    /// The highest seq this machine recorded for `author`'s log.
    pub fn read(&self, author: &AuthorId) -> io::Result<Option<u64>> {
        match fs::read_to_string(self.path(author)) {
            Ok(text) => text.trim().parse().map(Some).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", self.path(author).display()),
                )
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Records that `author`'s log reached `seq` (durably: written to a
    /// temporary file, synced, then renamed over the old one). Never
    /// lowers what is recorded: a store that is behind cannot erase the
    /// evidence.
    pub fn record(&self, author: &AuthorId, seq: u64) -> io::Result<()> {
        if self
            .read(author)
            .ok()
            .flatten()
            .is_some_and(|had| had >= seq)
        {
            return Ok(());
        }
        fs::create_dir_all(&self.dir)?;
        let path = self.path(author);
        let tmp = path.with_extension("head.tmp");
        let mut file = fs::File::create(&tmp)?;
        writeln!(file, "{seq}")?;
        file.sync_all()?;
        fs::rename(&tmp, &path)
    }
}

/// How a node starts writing, from its store's head `local`, the witness
/// (`None`: no witness directory), whether the store ever kept one, and
/// whether any peer could answer.
pub fn start(
    local: u64,
    witness: Option<Option<u64>>,
    witnessed: bool,
    peers_to_ask: bool,
) -> Start {
    // Peers are asked even when the witness agrees: a backup of the whole
    // home directory brings the witness back with the store.
    let ask_or_write = |floor| {
        if peers_to_ask {
            Start::Ask {
                floor,
                if_silent: Silent::Write,
            }
        } else {
            Start::Sure
        }
    };
    match witness {
        // No witness kept: as before witnesses existed.
        None => ask_or_write(0),
        Some(Some(head)) if head <= local => ask_or_write(head),
        Some(Some(head)) => Start::Ask {
            floor: head,
            if_silent: Silent::Succeed,
        },
        // Nothing signed yet, and no witness ever kept: a fresh store.
        Some(None) if local == 0 && !witnessed => ask_or_write(0),
        // A store that kept a witness, without it: moved or restored.
        Some(None) if witnessed => Start::Ask {
            floor: 0,
            if_silent: Silent::Succeed,
        },
        // A store from before witnesses: it starts keeping one now.
        Some(None) => ask_or_write(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_witness_decides_how_a_node_starts() {
        let succeed = |floor| Start::Ask {
            floor,
            if_silent: Silent::Succeed,
        };
        let ask = Start::Ask {
            floor: 0,
            if_silent: Silent::Write,
        };
        // Where this machine left it, or ahead after a crash between the
        // store's write and the witness's: peers are still asked (the
        // witness may have come back with a backup), silence means write.
        assert_eq!(
            start(7, Some(Some(7)), true, true),
            Start::Ask {
                floor: 7,
                if_silent: Silent::Write
            }
        );
        assert_eq!(start(8, Some(Some(7)), true, false), Start::Sure);
        // A restored backup: behind what this machine signed.
        assert_eq!(start(3, Some(Some(7)), true, true), succeed(7));
        assert_eq!(start(3, Some(Some(7)), true, false), succeed(7));
        // A store that kept a witness, on a machine without it.
        assert_eq!(start(3, Some(None), true, true), succeed(0));
        // Fresh, or from before witnesses, or no witness directory.
        assert_eq!(start(0, Some(None), false, false), Start::Sure);
        assert_eq!(start(3, Some(None), false, true), ask);
        assert_eq!(start(3, Some(None), false, false), Start::Sure);
        assert_eq!(start(3, None, true, true), ask);
    }

    #[test]
    fn records_survive_and_garbage_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let w = Witness::new(dir.path().join("state"));
        let a = kith_protocol::Keypair::from_secret(&[1; 32]).author();
        assert_eq!(w.read(&a).unwrap(), None);
        w.record(&a, 5).unwrap();
        w.record(&a, 6).unwrap();
        w.record(&a, 3).unwrap();
        assert_eq!(w.read(&a).unwrap(), Some(6), "never lowered");
        fs::write(w.path(&a), "six").unwrap();
        assert!(w.read(&a).is_err());
    }
}
