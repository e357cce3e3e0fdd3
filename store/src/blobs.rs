//! The blob store: files and images, content-addressed (PROTOCOL.md §13).
//!
//! A blob is a file under the data directory's `blobs/`, named by the hex
//! of its BLAKE3 hash (`blobs/ab/ab12…`), with its Bao outboard tree beside
//! it (`….obao`, about 6 % of its size), so any range can be served as a
//! verified slice without hashing the file again. Blobs are not in sled:
//! they are large, written once and read in ranges, which files do well
//! and sled's log would copy. Every file is written under `blobs/tmp/`,
//! flushed, and renamed into place, so a blob present is whole; a crash
//! leaves only temporary files, removed at the next open.
//!
//! A blob fetched from peers is written by a [`Partial`]: each range is
//! checked (`kith_protocol::blob::verify_slice`) before it is written, and
//! the blob is installed once every range is in. Its outboard is built the
//! first time a range of it is served (hashing the file once more, and
//! dropping it if it no longer matches its name), not while a reader
//! waits for it.
//!
//! The content file in place is what makes a blob held; it is renamed in
//! last.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use kith_protocol::blob::{BlobHash, CHUNK, MAX_SLICE};

/// The default largest file a user may add (and a node fetches).
pub const DEFAULT_MAX_FILE: u64 = 100 * 1024 * 1024;
/// The default space the blobs of one node may take.
pub const DEFAULT_QUOTA: u64 = 10 * 1024 * 1024 * 1024;

/// Errors of the blob store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("blob store: {0}")]
    Io(#[from] io::Error),
    #[error(
        "{what} is {size} bytes; the limit is {limit} bytes (`max_file_mib` in config.toml [blobs])"
    )]
    TooLarge { what: String, size: u64, limit: u64 },
    #[error(
        "the blob store is full: {used} of {quota} bytes used, {size} more needed; \
         delete posts with large files or raise quota in config.toml [blobs]"
    )]
    Full { used: u64, quota: u64, size: u64 },
    #[error("blob {0} is not on this node")]
    Missing(BlobHash),
    #[error("blob {hash} is not whole: {missing} chunks of it are missing")]
    Incomplete { hash: BlobHash, missing: u64 },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The limits of a blob store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest blob.
    pub max_file: u64,
    /// Most bytes all blobs may take.
    pub quota: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file: DEFAULT_MAX_FILE,
            quota: DEFAULT_QUOTA,
        }
    }
}

/// The blobs of one node. Shared (`Arc`) by whoever reads or writes them:
/// every write is a new file renamed into place, so readers never see one
/// half written.
#[derive(Debug)]
pub struct Blobs {
    dir: PathBuf,
    limits: Limits,
    /// Bytes of the blobs held (outboards not counted).
    used: AtomicU64,
    /// Blobs added here that no entry references yet (a file attached to
    /// a post still being written), and when: [`Blobs::sweep`] keeps them
    /// for [`FRESH`].
    fresh: std::sync::Mutex<std::collections::HashMap<BlobHash, std::time::Instant>>,
}

/// How long a blob added here is kept before an entry references it.
pub const FRESH: std::time::Duration = std::time::Duration::from_secs(3600);

impl Blobs {
    /// Opens the blob store in `dir` and removes what a crash left. The
    /// directory is made when the first blob is written.
    pub fn open(dir: impl Into<PathBuf>, limits: Limits) -> Result<Blobs> {
        let dir = dir.into();
        let tmp = dir.join("tmp");
        if tmp.exists() {
            fs::remove_dir_all(&tmp)?;
        }
        let used = held(&dir)?.iter().map(|(_, size)| size).sum();
        Ok(Blobs {
            dir,
            limits,
            used: AtomicU64::new(used),
            fresh: Default::default(),
        })
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Bytes the blobs take.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Where a blob's bytes are (whether or not it is held).
    pub fn path(&self, hash: &BlobHash) -> PathBuf {
        let hex = hash.to_string();
        self.dir.join(&hex[..2]).join(hex)
    }

    fn outboard_path(&self, hash: &BlobHash) -> PathBuf {
        self.path(hash).with_extension("obao")
    }

    /// The size of a blob held whole, or `None`.
    pub fn size(&self, hash: &BlobHash) -> Option<u64> {
        // The content is renamed in last: with it, the blob is whole.
        fs::metadata(self.path(hash)).ok().map(|m| m.len())
    }

    pub fn has(&self, hash: &BlobHash) -> bool {
        self.size(hash).is_some()
    }

    /// Opens a blob held whole for reading.
    pub fn open_blob(&self, hash: &BlobHash) -> Result<File> {
        if !self.has(hash) {
            return Err(Error::Missing(*hash));
        }
        File::open(self.path(hash)).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::Missing(*hash),
            _ => Error::Io(e),
        })
    }

    /// Adds the file at `path`, read once (hashed and copied in one pass).
    pub fn add_file(&self, path: &Path) -> Result<(BlobHash, u64)> {
        let file = File::open(path)?;
        let size = file.metadata()?.len();
        self.check_room(&path.display().to_string(), size)?;
        self.add_reader(BufReader::with_capacity(256 * 1024, file))
    }

    /// Adds `bytes`.
    pub fn add_bytes(&self, bytes: &[u8]) -> Result<(BlobHash, u64)> {
        self.check_room("the file", bytes.len() as u64)?;
        self.add_reader(bytes)
    }

    /// Adds a circle's copy of the held blob `plain`: its bytes encrypted
    /// under `key` (`kith_protocol::blob::apply_keystream`). The copy is a
    /// blob of its own, named by the hash of the ciphertext.
    pub fn add_encrypted(&self, plain: &BlobHash, key: &[u8; 32]) -> Result<(BlobHash, u64)> {
        let file = self.open_blob(plain)?;
        let size = file.metadata()?.len();
        self.check_room(&format!("blob {plain}"), size)?;
        self.add_reader(Keystream {
            inner: BufReader::with_capacity(256 * 1024, file),
            key: *key,
            offset: 0,
        })
    }

    fn add_reader(&self, mut input: impl Read) -> Result<(BlobHash, u64)> {
        let (content_path, mut content) = self.temp_file("add")?;
        let mut encoder = outboard_encoder();
        let mut buf = vec![0u8; 256 * 1024];
        let mut size = 0u64;
        let mut out = BufWriter::with_capacity(256 * 1024, &mut content);
        loop {
            let n = input.read(&mut buf)?;
            if n == 0 {
                break;
            }
            size += n as u64;
            if size > self.limits.max_file {
                return Err(Error::TooLarge {
                    what: "the file".into(),
                    size,
                    limit: self.limits.max_file,
                });
            }
            out.write_all(&buf[..n])?;
            encoder.write_all(&buf[..n])?;
        }
        out.flush()?;
        drop(out);
        let hash = BlobHash(*encoder.finalize()?.as_bytes());
        let outboard = self.write_outboard(encoder, "add.obao")?;
        self.install(&hash, size, (content_path, content), Some(outboard))?;
        self.fresh
            .lock()
            .expect("the fresh blobs' lock is never poisoned")
            .insert(hash, std::time::Instant::now());
        Ok((hash, size))
    }

    /// Moves a blob's finished temporary files into place (the outboard
    /// first, if there is one; the content last: it marks the blob whole).
    fn install(
        &self,
        hash: &BlobHash,
        size: u64,
        content: (PathBuf, File),
        outboard: Option<(PathBuf, File)>,
    ) -> Result<()> {
        if self.has(hash) {
            let _ = fs::remove_file(&content.0);
            if let Some(outboard) = outboard {
                let _ = fs::remove_file(&outboard.0);
            }
            return Ok(());
        }
        content.1.sync_data()?;
        let path = self.path(hash);
        let shard = path.parent().expect("a blob path has a shard directory");
        fs::create_dir_all(shard)?;
        if let Some(outboard) = outboard {
            outboard.1.sync_data()?;
            fs::rename(&outboard.0, self.outboard_path(hash))?;
        }
        fs::rename(&content.0, &path)?;
        File::open(shard)?.sync_all()?;
        self.used.fetch_add(size, Ordering::Relaxed);
        Ok(())
    }

    /// The outboard of a held blob, built now if it has none (a blob
    /// fetched from peers): the file is hashed once more, and a blob that
    /// no longer matches its name (a disk that changed it) is dropped.
    fn outboard(&self, hash: &BlobHash) -> Result<Option<File>> {
        match File::open(self.outboard_path(hash)) {
            Ok(file) => return Ok(Some(file)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        let Ok(content) = File::open(self.path(hash)) else {
            return Ok(None);
        };
        let mut encoder = outboard_encoder();
        io::copy(
            &mut BufReader::with_capacity(256 * 1024, content),
            &mut encoder,
        )?;
        let got = BlobHash(*encoder.finalize()?.as_bytes());
        if got != *hash {
            tracing::warn!(%hash, %got, "a file no longer matches its hash: dropped");
            self.remove(hash)?;
            return Ok(None);
        }
        let (path, file) = self.write_outboard(encoder, "obao")?;
        file.sync_data()?;
        fs::rename(&path, self.outboard_path(hash))?;
        Ok(Some(File::open(self.outboard_path(hash))?))
    }

    /// Whether `size` more bytes fit in one blob and in the quota.
    pub fn check_room(&self, what: &str, size: u64) -> Result<()> {
        if size > self.limits.max_file {
            return Err(Error::TooLarge {
                what: what.to_string(),
                size,
                limit: self.limits.max_file,
            });
        }
        let used = self.used();
        if used.saturating_add(size) > self.limits.quota {
            return Err(Error::Full {
                used,
                quota: self.limits.quota,
                size,
            });
        }
        Ok(())
    }

    /// Writes an encoder's finished outboard to a temporary file.
    fn write_outboard(&self, encoder: Encoder, suffix: &str) -> Result<(PathBuf, File)> {
        let (path, mut file) = self.temp_file(suffix)?;
        file.write_all(encoder.into_inner().get_ref())?;
        Ok((path, file))
    }

    fn temp_file(&self, suffix: &str) -> Result<(PathBuf, File)> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tmp = self.dir.join("tmp");
        fs::create_dir_all(&tmp)?;
        let path = tmp.join(format!("{}-{n}.{suffix}", std::process::id()));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok((path, file))
    }

    /// The Bao slice of a held blob covering `offset..offset + len`
    /// (`None`: not held). Reads only the range and its tree nodes.
    pub fn slice(&self, hash: &BlobHash, offset: u64, len: u64) -> Result<Option<Vec<u8>>> {
        let Ok(content) = File::open(self.path(hash)) else {
            return Ok(None);
        };
        let Some(outboard) = self.outboard(hash)? else {
            return Ok(None);
        };
        let len = len.min(MAX_SLICE);
        let mut extractor = bao::encode::SliceExtractor::new_outboard(
            BufReader::with_capacity(256 * 1024, content),
            BufReader::with_capacity(64 * 1024, outboard),
            offset,
            len,
        );
        let mut out = Vec::with_capacity(usize::try_from(len + len / 16 + 64).unwrap_or(0));
        extractor.read_to_end(&mut out)?;
        Ok(Some(out))
    }

    /// Starts writing a blob of `size` bytes that arrives in ranges.
    pub fn partial(&self, hash: BlobHash, size: u64) -> Result<Partial<'_>> {
        self.check_room(&format!("blob {hash}"), size)?;
        let (path, file) = self.temp_file("part")?;
        file.set_len(size)?;
        Ok(Partial {
            blobs: self,
            hash,
            size,
            path,
            file,
            missing: size.div_ceil(CHUNK).max(1),
            chunks: vec![false; usize::try_from(size.div_ceil(CHUNK).max(1)).unwrap_or(0)],
        })
    }

    /// Notes that an entry now references `hash` (it no longer needs the
    /// grace a fresh blob has).
    pub fn referenced(&self, hash: &BlobHash) {
        self.fresh
            .lock()
            .expect("the fresh blobs' lock is never poisoned")
            .remove(hash);
    }

    /// The blobs held whole.
    pub fn list(&self) -> Result<Vec<BlobHash>> {
        Ok(held(&self.dir)?.into_iter().map(|(hash, _)| hash).collect())
    }

    /// Drops every blob that `referenced` says no entry references, except
    /// those added here in the last [`FRESH`]. Returns the blobs dropped.
    pub fn sweep(&self, referenced: impl Fn(&BlobHash) -> bool) -> Result<Vec<BlobHash>> {
        let mut dropped = Vec::new();
        for hash in self.list()? {
            let fresh = self
                .fresh
                .lock()
                .expect("the fresh blobs' lock is never poisoned")
                .get(&hash)
                .is_some_and(|added| added.elapsed() < FRESH);
            if !fresh && !referenced(&hash) && self.remove(&hash)? {
                dropped.push(hash);
            }
        }
        Ok(dropped)
    }

    /// Drops a blob (nothing references it any more).
    pub fn remove(&self, hash: &BlobHash) -> Result<bool> {
        let Some(size) = self.size(hash) else {
            return Ok(false);
        };
        // The content goes first: without it the blob is not held.
        fs::remove_file(self.path(hash))?;
        match fs::remove_file(self.outboard_path(hash)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        self.used.fetch_sub(size, Ordering::Relaxed);
        Ok(true)
    }
}

/// The blobs held in `dir` (its content files: `ab/<hash>`, no
/// extension), with their sizes, in hash order; none if it does not exist.
fn held(dir: &Path) -> Result<Vec<(BlobHash, u64)>> {
    let mut out = Vec::new();
    let shards = match fs::read_dir(dir) {
        Ok(shards) => shards,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e.into()),
    };
    for shard in shards {
        let shard = shard?;
        if shard.file_name() == "tmp" || !shard.file_type()?.is_dir() {
            continue;
        }
        for file in fs::read_dir(shard.path())? {
            let file = file?;
            if let Some(hash) = file
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<BlobHash>().ok())
            {
                out.push((hash, file.metadata()?.len()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// A reader that encrypts (or decrypts) what it reads: a circle's file.
pub struct Keystream<R> {
    pub inner: R,
    pub key: [u8; 32],
    /// Where in the file the next byte read is.
    pub offset: u64,
}

impl<R: Read> Read for Keystream<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        kith_protocol::blob::apply_keystream(&self.key, self.offset, &mut buf[..n]);
        self.offset += n as u64;
        Ok(n)
    }
}

/// A Bao outboard encoder. The tree is built in memory (1/16 of the
/// blob's size: 6.25 MiB for the largest blob by default) because the
/// encoder seeks back to fill in parent nodes, which buffered file writes
/// would make slow.
type Encoder = bao::encode::Encoder<io::Cursor<Vec<u8>>>;

fn outboard_encoder() -> Encoder {
    bao::encode::Encoder::new_outboard(io::Cursor::new(Vec::new()))
}

/// A blob being fetched: each range checked against the hash, then
/// written at its offset.
#[derive(Debug)]
pub struct Partial<'a> {
    blobs: &'a Blobs,
    hash: BlobHash,
    size: u64,
    path: PathBuf,
    file: File,
    /// Chunks written, and how many are not.
    chunks: Vec<bool>,
    missing: u64,
}

impl Partial<'_> {
    /// Checks a Bao slice of the blob that covers `offset..offset + len`
    /// (`kith_protocol::blob::verify_slice`: a byte that does not match
    /// stops it at its chunk) and writes what it proves. Returns the bytes
    /// written; nothing of a slice that fails is written.
    pub fn write_slice(
        &mut self,
        offset: u64,
        len: u64,
        slice: &[u8],
    ) -> Result<u64, kith_protocol::blob::SliceError> {
        let bytes = kith_protocol::blob::verify_slice(&self.hash, offset, len, slice)?;
        let expected = len.min(self.size.saturating_sub(offset));
        if bytes.len() as u64 != expected {
            return Err(kith_protocol::blob::SliceError::Malformed(format!(
                "{} bytes for a range of {expected}",
                bytes.len()
            )));
        }
        self.file
            .seek(SeekFrom::Start(offset))
            .and_then(|_| self.file.write_all(&bytes))
            .map_err(|e| kith_protocol::blob::SliceError::Malformed(format!("writing it: {e}")))?;
        let first = offset / CHUNK;
        let count = (bytes.len() as u64)
            .div_ceil(CHUNK)
            .max(u64::from(self.size == 0));
        for chunk in first..first + count {
            if let Some(done) = self.chunks.get_mut(chunk as usize)
                && !*done
            {
                *done = true;
                self.missing -= 1;
            }
        }
        Ok(bytes.len() as u64)
    }

    /// Whether every range is in.
    pub fn is_whole(&self) -> bool {
        self.missing == 0
    }

    /// Installs the blob: every range was checked against the hash as it
    /// came, so the file is the blob once all are in.
    pub fn finish(mut self) -> Result<()> {
        if !self.is_whole() {
            return Err(Error::Incomplete {
                hash: self.hash,
                missing: self.missing,
            });
        }
        self.file.flush()?;
        let path = std::mem::take(&mut self.path);
        let file = self.file.try_clone()?;
        self.blobs
            .install(&self.hash, self.size, (path, file), None)
    }
}

impl Drop for Partial<'_> {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests;
