//! The storage boundary: an ordered, byte-keyed map with atomic batches.
//!
//! Everything above this module speaks in keys and values; only this file
//! knows the engine is sled. Swapping engines means reimplementing `Kv`.
//! Logical keyspaces are one-byte key prefixes in a single sled tree, so a
//! write that touches several keyspaces (an entry, its id index, its author's
//! head, views) is one atomic batch.

use std::path::Path;

/// A stored value (cheaply cloneable, derefs to `[u8]`).
pub type Value = sled::IVec;

/// Errors from the storage engine.
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    #[error(
        "the store at {0} is locked by another process (is `kith up` running on this data dir?)"
    )]
    Locked(String),
    #[error("storage engine: {0}")]
    Engine(String),
}

impl From<sled::Error> for KvError {
    fn from(e: sled::Error) -> Self {
        KvError::Engine(e.to_string())
    }
}

/// Tuning for the engine.
#[derive(Debug, Clone)]
pub struct KvConfig {
    /// Page cache size in bytes.
    pub cache_bytes: u64,
    /// A throwaway store in memory/tmpfs (tests).
    pub temporary: bool,
}

impl Default for KvConfig {
    fn default() -> Self {
        KvConfig {
            cache_bytes: 16 * 1024 * 1024,
            temporary: false,
        }
    }
}

#[derive(Clone)]
pub struct Kv {
    db: sled::Db,
    tree: sled::Tree,
}

/// A set of writes applied atomically by [`Kv::apply`].
#[derive(Default)]
pub struct Batch {
    inner: sled::Batch,
    len: usize,
}

impl Batch {
    pub fn insert(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.inner.insert(key.as_ref(), value.as_ref());
        self.len += 1;
    }

    pub fn remove(&mut self, key: impl AsRef<[u8]>) {
        self.inner.remove(key.as_ref());
        self.len += 1;
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// How long opening waits for a lock held by a process that is closing
/// (sled releases its file lock when its last background thread ends,
/// shortly after the store is dropped).
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// What compaction did, in bytes on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compacted {
    pub before: u64,
    pub after: u64,
}

/// Keys copied per batch while compacting.
const COMPACT_BATCH: usize = 4096;

fn sibling(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// Bytes the files under `path` occupy on disk.
fn disk_usage(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => disk_usage(&e.path()),
            Ok(m) => m.blocks() * 512,
            Err(_) => 0,
        })
        .sum()
}

impl Kv {
    /// Rewrites the store at `path` into a fresh file holding only its live
    /// data: sled's log-structured file keeps the space of overwritten
    /// values and never shrinks. The store must be closed. Crash-safe: the
    /// copy is made beside it (`…compacting`) and swapped in by renames;
    /// [`Kv::open`] finishes or undoes an interrupted swap.
    pub fn compact(path: &Path, config: &KvConfig) -> Result<Compacted, KvError> {
        let before = disk_usage(path);
        let fresh = sibling(path, ".compacting");
        let old = sibling(path, ".old");
        let io = |e: std::io::Error| KvError::Engine(format!("compacting: {e}"));
        {
            let source = Kv::open(path, config)?;
            if fresh.exists() {
                std::fs::remove_dir_all(&fresh).map_err(io)?;
            }
            let target = Kv::open_engine(&fresh, config)?;
            let mut batch = Batch::default();
            for item in source.tree.iter() {
                let (k, v) = item?;
                batch.insert(k, v);
                if batch.len >= COMPACT_BATCH {
                    target.apply(std::mem::take(&mut batch))?;
                }
            }
            target.apply(batch)?;
            if target.tree.len() != source.tree.len() {
                return Err(KvError::Engine(
                    "compacting: the copy does not hold every key; the store is unchanged".into(),
                ));
            }
            target.flush()?;
        }
        // Both are closed: sled releases a file once its threads end, so
        // wait for the lock as `open` does, then swap.
        drop(Kv::open_engine(path, config)?);
        drop(Kv::open_engine(&fresh, config)?);
        std::fs::rename(path, &old).map_err(io)?;
        std::fs::rename(&fresh, path).map_err(io)?;
        std::fs::remove_dir_all(&old).map_err(io)?;
        Ok(Compacted {
            before,
            after: disk_usage(path),
        })
    }

    /// Finishes or undoes a compaction a crash interrupted.
    fn recover_compaction(path: &Path) -> Result<(), KvError> {
        let fresh = sibling(path, ".compacting");
        let old = sibling(path, ".old");
        let io = |e: std::io::Error| KvError::Engine(format!("recovering a compaction: {e}"));
        if old.exists() {
            if path.exists() {
                // The copy was swapped in: the old store is garbage.
                std::fs::remove_dir_all(&old).map_err(io)?;
            } else {
                // Interrupted between the two renames: the old store is
                // complete; the copy may be too, but keep what was there.
                std::fs::rename(&old, path).map_err(io)?;
            }
        }
        if fresh.exists() && path.exists() {
            std::fs::remove_dir_all(&fresh).map_err(io)?;
        }
        Ok(())
    }

    pub fn open(path: &Path, config: &KvConfig) -> Result<Kv, KvError> {
        if !config.temporary {
            Kv::recover_compaction(path)?;
        }
        Kv::open_engine(path, config)
    }

    /// Opens sled at `path`, waiting a little for a lock a closing process
    /// still holds.
    fn open_engine(path: &Path, config: &KvConfig) -> Result<Kv, KvError> {
        let deadline = std::time::Instant::now() + LOCK_WAIT;
        let db = loop {
            let opened = sled::Config::new()
                .path(path)
                .cache_capacity(config.cache_bytes)
                .temporary(config.temporary)
                .open();
            match opened {
                Ok(db) => break db,
                Err(sled::Error::Io(io)) if io.to_string().contains("could not acquire lock") => {
                    if std::time::Instant::now() >= deadline {
                        return Err(KvError::Locked(path.display().to_string()));
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(other) => return Err(KvError::from(other)),
            }
        };
        let tree = db.open_tree("kith")?;
        Ok(Kv { db, tree })
    }

    /// A store that lives only as long as the value (tests, benchmarks).
    pub fn temporary() -> Result<Kv, KvError> {
        let db = sled::Config::new().temporary(true).open()?;
        let tree = db.open_tree("kith")?;
        Ok(Kv { db, tree })
    }

    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Value>, KvError> {
        Ok(self.tree.get(key)?)
    }

    pub fn contains(&self, key: impl AsRef<[u8]>) -> Result<bool, KvError> {
        Ok(self.tree.contains_key(key)?)
    }

    pub fn insert(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<(), KvError> {
        self.tree.insert(key.as_ref(), value.as_ref())?;
        Ok(())
    }

    pub fn remove(&self, key: impl AsRef<[u8]>) -> Result<(), KvError> {
        self.tree.remove(key)?;
        Ok(())
    }

    pub fn apply(&self, batch: Batch) -> Result<(), KvError> {
        self.tree.apply_batch(batch.inner)?;
        Ok(())
    }

    /// All pairs whose key starts with `prefix`, in key order (reversible).
    pub fn scan_prefix<P: AsRef<[u8]>>(
        &self,
        prefix: P,
    ) -> impl DoubleEndedIterator<Item = Result<(Value, Value), KvError>> + use<P> {
        self.tree
            .scan_prefix(prefix.as_ref())
            .map(|r| r.map_err(KvError::from))
    }

    /// All pairs with `start <= key < end`, in key order (reversible).
    pub fn range(
        &self,
        start: &[u8],
        end: &[u8],
    ) -> impl DoubleEndedIterator<Item = Result<(Value, Value), KvError>> + use<> {
        self.tree
            .range(start.to_vec()..end.to_vec())
            .map(|r| r.map_err(KvError::from))
    }

    /// The first pair with `key > after`.
    pub fn next_after(&self, after: &[u8]) -> Result<Option<(Value, Value)>, KvError> {
        Ok(self.tree.get_gt(after)?)
    }

    /// Deletes every key starting with `prefix`.
    pub fn remove_prefix(&self, prefix: &[u8]) -> Result<usize, KvError> {
        let mut batch = Batch::default();
        let mut n = 0;
        for item in self.tree.scan_prefix(prefix).keys() {
            batch.remove(item?);
            n += 1;
            if n % 10_000 == 0 {
                self.apply(std::mem::take(&mut batch))?;
            }
        }
        self.apply(batch)?;
        Ok(n)
    }

    /// Makes every write so far durable.
    pub fn flush(&self) -> Result<(), KvError> {
        self.db.flush()?;
        Ok(())
    }

    /// Bytes the engine occupies on disk.
    pub fn size_on_disk(&self) -> Result<u64, KvError> {
        Ok(self.db.size_on_disk()?)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn fill(kv: &Kv, round: u8) {
        let mut batch = Batch::default();
        for i in 0u32..2000 {
            batch.insert(i.to_be_bytes(), vec![round; 1024]);
        }
        kv.apply(batch).unwrap();
        kv.flush().unwrap();
    }

    #[test]
    fn compaction_gives_space_back_and_keeps_every_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let config = KvConfig::default();
        {
            let kv = Kv::open(&path, &config).unwrap();
            for round in 0..8 {
                fill(&kv, round);
            }
            kv.remove(5u32.to_be_bytes()).unwrap();
            kv.flush().unwrap();
        }
        let done = Kv::compact(&path, &config).unwrap();
        assert!(
            done.after * 2 < done.before,
            "{} → {} bytes",
            done.before,
            done.after
        );
        let kv = Kv::open(&path, &config).unwrap();
        assert_eq!(kv.tree.len(), 1999);
        assert_eq!(
            kv.get(7u32.to_be_bytes()).unwrap().unwrap(),
            vec![7u8; 1024]
        );
        assert!(kv.get(5u32.to_be_bytes()).unwrap().is_none());
        assert!(!sibling(&path, ".compacting").exists() && !sibling(&path, ".old").exists());
    }

    #[test]
    fn an_interrupted_compaction_is_finished_or_undone_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let config = KvConfig::default();
        {
            let kv = Kv::open(&path, &config).unwrap();
            fill(&kv, 1);
        }
        // Crashed between the renames: only the old store is left.
        std::fs::rename(&path, sibling(&path, ".old")).unwrap();
        let kv = Kv::open(&path, &config).unwrap();
        assert_eq!(kv.tree.len(), 2000);
        drop(kv);
        // Crashed while copying: a partial copy beside the store.
        std::fs::create_dir(sibling(&path, ".compacting")).unwrap();
        std::fs::write(sibling(&path, ".compacting").join("db"), b"partial").unwrap();
        let kv = Kv::open(&path, &config).unwrap();
        assert_eq!(kv.tree.len(), 2000);
        assert!(!sibling(&path, ".compacting").exists());
    }
}
