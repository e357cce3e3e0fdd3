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

/// sled's page cache for stores opened without a node's config (tools,
/// tests): the same as a node's default (`Config::cache_bytes`).
pub const DEFAULT_CACHE_BYTES: u64 = 8 * 1024 * 1024;

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
            cache_bytes: DEFAULT_CACHE_BYTES,
            temporary: false,
        }
    }
}

#[derive(Clone)]
pub struct Kv {
    db: sled::Db,
    tree: sled::Tree,
    /// The engine's data file, synced by [`Kv::flush`] (`None` for a
    /// temporary store): sled 0.34 makes its log durable with
    /// `sync_file_range`, which does not flush the disk's write cache, so a
    /// flush that must survive a power cut ends with an `fdatasync` of it.
    file: Option<std::sync::Arc<std::fs::File>>,
    /// Kith's own lock on the store directory (`None` for a temporary
    /// store), held as long as any clone lives: see [`Kv::open`].
    _lock: Option<std::sync::Arc<std::fs::File>>,
    /// How many times that `fdatasync` ran (tests count them).
    syncs: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// A set of writes applied atomically by [`Kv::apply`].
#[derive(Default)]
pub struct Batch {
    inner: sled::Batch,
    len: usize,
    /// It writes something persons are resolved from (the store's cached
    /// registry must be built again once it is applied).
    pub(crate) registry: bool,
    /// Locations (author 32, seq 8) of the entries this batch numbers in
    /// arrival order: the store writes them as one record when it applies
    /// the batch (see `views`' arrival order).
    pub(crate) arrivals: Vec<u8>,
    /// Ids of the entries this batch stores, with their locations (id 32,
    /// author 32, seq 8 each): the store writes them as one record of the
    /// id index's log when it applies the batch (see `store::ids`).
    pub(crate) ids: Vec<u8>,
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

    /// Numbers the entry stored at `location` (author 32, seq 8) in
    /// arrival order when the batch is applied; counts as one write.
    pub(crate) fn push_arrival(&mut self, location: &[u8]) {
        self.arrivals.extend_from_slice(location);
        self.len += 1;
    }

    /// Records that the entry `id` is stored at `location` (author 32,
    /// seq 8) when the batch is applied; counts as one write.
    pub(crate) fn push_id(&mut self, id: &[u8], location: &[u8]) {
        self.ids.extend_from_slice(id);
        self.ids.extend_from_slice(location);
        self.len += 1;
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes in the batch so far.
    pub fn len(&self) -> usize {
        self.len
    }
}

/// How long opening waits for a lock held by a process that is closing
/// (sled releases its file lock when its last background thread ends,
/// shortly after the store is dropped).
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Takes Kith's exclusive lock on the store directory, waiting until
/// `deadline` for a process that is closing.
fn lock_dir(path: &Path, deadline: std::time::Instant) -> Result<std::fs::File, KvError> {
    std::fs::create_dir_all(path)
        .map_err(|e| KvError::Engine(format!("creating {}: {e}", path.display())))?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path.join("kith.lock"))
        .map_err(|e| KvError::Engine(format!("opening the store's lock file: {e}")))?;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(KvError::Locked(path.display().to_string()));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(KvError::Engine(format!("locking the store: {e}")));
            }
        }
    }
}

/// Removes the `snap.*.generating` files a process killed while opening
/// the store left behind (see [`Kv::open`]); the caller holds the lock.
fn remove_unfinished_snapshots(path: &Path) -> Result<(), KvError> {
    let entries = std::fs::read_dir(path)
        .map_err(|e| KvError::Engine(format!("reading {}: {e}", path.display())))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            tracing::warn!(file = %name, "removing a snapshot the store's engine left half written");
            std::fs::remove_file(entry.path()).map_err(|e| {
                KvError::Engine(format!("removing the unfinished snapshot {name}: {e}"))
            })?;
        }
    }
    Ok(())
}

impl Kv {
    /// Opens (or creates) the store at `path`.
    ///
    /// Before sled opens, Kith takes a lock of its own on the directory
    /// (`kith.lock`) and, holding it, removes any snapshot sled left half
    /// written. sled 0.34 writes its page-table snapshot while it opens, as
    /// `snap.<lsn>.generating`, renamed to `snap.<lsn>` once synced; but
    /// it also reads `.generating` files as snapshots, so a process killed
    /// while writing one leaves a store that never opens again ("Read
    /// corrupted data", sled issues #1527 and #1533). With that file gone, sled
    /// starts from the previous snapshot (which it removes only after the
    /// rename) and replays its log from there, as after any crash. Only an
    /// opener holding the lock can be writing such a file, so one found
    /// under the lock is always a dead process's.
    pub fn open(path: &Path, config: &KvConfig) -> Result<Kv, KvError> {
        let deadline = std::time::Instant::now() + LOCK_WAIT;
        let lock = if config.temporary {
            None
        } else {
            let lock = lock_dir(path, deadline)?;
            remove_unfinished_snapshots(path)?;
            Some(std::sync::Arc::new(lock))
        };
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
        let file = if config.temporary {
            None
        } else {
            // sled 0.34 keeps its log and pages in `<path>/db`.
            let file = std::fs::OpenOptions::new()
                .read(true)
                .open(path.join("db"))
                .map_err(|e| KvError::Engine(format!("opening the store's data file: {e}")))?;
            Some(std::sync::Arc::new(file))
        };
        Ok(Kv {
            db,
            tree,
            file,
            _lock: lock,
            syncs: Default::default(),
        })
    }

    /// A store that lives only as long as the value (tests, benchmarks).
    pub fn temporary() -> Result<Kv, KvError> {
        let db = sled::Config::new().temporary(true).open()?;
        let tree = db.open_tree("kith")?;
        Ok(Kv {
            db,
            tree,
            file: None,
            _lock: None,
            syncs: Default::default(),
        })
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
        debug_assert!(
            batch.arrivals.is_empty() && batch.ids.is_empty(),
            "arrivals and ids are written by Store::apply"
        );
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
            if n % super::MAX_BATCH_OPS == 0 {
                self.apply(std::mem::take(&mut batch))?;
            }
        }
        self.apply(batch)?;
        Ok(n)
    }

    /// Makes every write so far durable: sled writes its log out, then
    /// the data file is `fdatasync`ed, so the disk's write cache holds
    /// nothing of it either.
    pub fn flush(&self) -> Result<(), KvError> {
        self.db.flush()?;
        if let Some(file) = &self.file {
            file.sync_data()
                .map_err(|e| KvError::Engine(format!("syncing the store's data file: {e}")))?;
            self.syncs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        Ok(())
    }

    /// How many times [`Kv::flush`] synced the data file.
    pub fn durable_syncs(&self) -> u64 {
        self.syncs.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Bytes the engine occupies on disk.
    pub fn size_on_disk(&self) -> Result<u64, KvError> {
        Ok(self.db.size_on_disk()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshots(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("snap."))
            .collect();
        names.sort();
        names
    }

    /// What a SIGKILL while sled writes its snapshot at open leaves: a
    /// `snap.<lsn>.generating` with a later LSN than the last good one,
    /// empty (killed after creating it) or cut short (killed while
    /// writing). sled 0.34 alone then fails every open with "Read
    /// corrupted data at file offset None".
    #[test]
    fn a_snapshot_left_half_written_by_a_kill_does_not_stop_the_store_opening() {
        for cut in [0usize, 20] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("store");
            {
                let kv = Kv::open(&path, &KvConfig::default()).unwrap();
                for i in 0u32..1000 {
                    kv.insert(i.to_be_bytes(), [7u8; 100]).unwrap();
                }
                kv.flush().unwrap();
            }
            // Opening again writes a snapshot of everything above.
            let good = {
                let kv = Kv::open(&path, &KvConfig::default()).unwrap();
                kv.insert(b"after", b"reopen").unwrap();
                kv.flush().unwrap();
                snapshots(&path)
            };
            assert_eq!(good.len(), 1, "{good:?}");
            let bytes = std::fs::read(path.join(&good[0])).unwrap();
            assert!(bytes.len() > cut);
            std::fs::write(path.join("snap.7FFFFFFFFFFFFFFF.generating"), &bytes[..cut]).unwrap();

            let kv = Kv::open(&path, &KvConfig::default()).unwrap();
            assert_eq!(kv.get(999u32.to_be_bytes()).unwrap().unwrap(), [7u8; 100]);
            assert_eq!(&kv.get(b"after").unwrap().unwrap()[..], b"reopen");
            assert!(
                !snapshots(&path).iter().any(|n| n.ends_with(".generating")),
                "{:?}",
                snapshots(&path)
            );
        }
    }

    /// The cleanup runs only under Kith's lock: an opener that finds the
    /// store in use removes nothing (the holder may be writing its
    /// snapshot right now) and says the store is locked.
    #[test]
    fn an_opener_that_finds_the_store_in_use_touches_no_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let held = Kv::open(&path, &KvConfig::default()).unwrap();
        let generating = path.join("snap.7FFFFFFFFFFFFFFF.generating");
        std::fs::write(&generating, b"").unwrap();
        match Kv::open(&path, &KvConfig::default()) {
            Err(KvError::Locked(_)) => {}
            Err(other) => panic!("expected Locked, got {other}"),
            Ok(_) => panic!("opened a store another Kv holds"),
        }
        assert!(generating.exists());
        drop(held);
    }
}
