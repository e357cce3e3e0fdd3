//! Files and images: adding them, reading them (fetched from trusted peers
//! when this node does not hold them) and what is known of one.

use std::io::Read;

use kith_protocol::blob::{BlobHash, BlobRef};
use serde::{Deserialize, Serialize};

use super::http::{Payload, Streamed};
use super::{ReadCtx, ReadOp, StoreOp};
use crate::core::Core;
use crate::error::{Error, Result};

/// Adds a file on this machine to the node's files, and (`declare`)
/// signs an entry declaring it, so that a wiki page can link to it as
/// `blob:HASH` with its size, type and name signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobAdd {
    /// An absolute path the node can read.
    pub path: String,
    /// The name it is shown and saved under (default: the file's name).
    #[serde(default)]
    pub name: Option<String>,
    /// `type/subtype` (default: from the name's extension).
    #[serde(default)]
    pub media_type: Option<String>,
    #[serde(default)]
    pub declare: bool,
}

/// A file this node holds or knows of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobView {
    #[serde(flatten)]
    pub file: BlobRef,
    /// The markdown that shows it in a post or page.
    pub markdown: String,
    /// Whether this node holds its bytes.
    pub held: bool,
    /// The entry declaring it (`BlobAdd` with `declare`), or the entries
    /// that reference it (`BlobInfo`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entries: Vec<kith_protocol::EntryId>,
}

impl BlobView {
    pub fn new(file: BlobRef, held: bool, entries: Vec<kith_protocol::EntryId>) -> BlobView {
        BlobView {
            markdown: markdown(&file),
            file,
            held,
            entries,
        }
    }
}

/// `![name](blob:HASH)` for an image, `[name](blob:HASH)` for other files.
pub fn markdown(file: &BlobRef) -> String {
    let name: String = file
        .name
        .chars()
        .map(|c| if matches!(c, '[' | ']') { '_' } else { c })
        .collect();
    let bang = if file.media_type.starts_with("image/") {
        "!"
    } else {
        ""
    };
    format!("{bang}[{name}](blob:{})", file.hash)
}

impl StoreOp for BlobAdd {
    fn run(self, core: &mut Core) -> Result<BlobView> {
        core.blob_add(&self)
    }
}

/// A file's bytes, fetched from trusted peers first if this node does not
/// hold them (a running node only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobGet {
    pub hash: String,
    /// The entry whose reference to read it by (its key, for a circle's
    /// file); by default the references here, if they agree.
    #[serde(default)]
    pub entry: Option<crate::refs::EntryRef>,
}

impl ReadOp for BlobGet {
    fn run(self, ctx: &ReadCtx<'_>) -> Result<Streamed> {
        let hash: BlobHash = self.hash.parse()?;
        let blobs = ctx.reader.blobs().clone();
        // A circle's file is kept encrypted; its reference holds the key.
        let file = reference(ctx, &hash, self.entry.as_ref())?;
        let key = file.key;
        if !blobs.has(&hash) {
            match ctx.fetch {
                Some(fetch) => fetch.fetch(&file)?,
                None => {
                    return Err(Error::NotFound(format!(
                        "blob {hash} is not on this node: start the node (`kith up`) to fetch it from your peers"
                    )));
                }
            }
        }
        let file = blobs.open_blob(&hash)?;
        let mut file: Box<dyn Read + Send> = match key {
            Some(key) => Box::new(kith_store::blobs::Keystream {
                inner: file,
                key,
                offset: 0,
            }),
            None => Box::new(file),
        };
        let lane = ctx.lane.clone();
        Ok(Streamed(Payload::Stream(Box::new(move |out| {
            let _lane = lane;
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let n = file
                    .read(&mut buf)
                    .map_err(|e| Error::Io(format!("reading blob {hash}: {e}")))?;
                if n == 0 {
                    return Ok(());
                }
                out.write_all(&buf[..n])
                    .map_err(|e| Error::Io(format!("writing the answer: {e}")))?;
            }
        }))))
    }
}

/// What this node knows of a file: its reference, whether it holds it, and
/// the entries that reference it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobInfo {
    pub hash: String,
    /// The entry whose reference to describe it by (see [`BlobGet::entry`]).
    #[serde(default)]
    pub entry: Option<crate::refs::EntryRef>,
}

impl ReadOp for BlobInfo {
    fn run(self, ctx: &ReadCtx<'_>) -> Result<BlobView> {
        let hash: BlobHash = self.hash.parse()?;
        let file = reference(ctx, &hash, self.entry.as_ref())?;
        let refs = ctx.reader.store().blob_refs(&hash)?;
        let held = ctx.reader.blobs().has(&hash);
        Ok(BlobView::new(
            file,
            held,
            refs.into_iter().map(|(id, _)| id).collect(),
        ))
    }
}

/// The signed reference to read `hash` by: the one `entry` carries, or
/// else the one every reference here agrees on. Which reference is first
/// is no one's choice to make: entry ids are their writers' to grind, and a
/// member of a circle could otherwise name a wrong key, or a file a wrong
/// type, and be read first. References that disagree are refused, saying
/// to open the file from its post.
fn reference(
    ctx: &ReadCtx<'_>,
    hash: &BlobHash,
    entry: Option<&crate::refs::EntryRef>,
) -> Result<BlobRef> {
    let refs = ctx.reader.store().blob_refs(hash)?;
    if let Some(entry) = entry {
        let id = entry.resolve(ctx.reader.store())?;
        return refs
            .into_iter()
            .find(|(e, _)| *e == id)
            .map(|(_, file)| file)
            .ok_or_else(|| Error::NotFound(format!("entry {id} does not attach blob {hash}")));
    }
    let mut refs = refs.into_iter().map(|(_, file)| file);
    let first = refs.next().ok_or_else(|| not_referenced(hash))?;
    for other in refs {
        if other.key != first.key || other.media_type != first.media_type {
            return Err(Error::Conflict(format!(
                "entries describe blob {hash} differently: open it from its post (`entry`)"
            )));
        }
    }
    Ok(first)
}

fn not_referenced(hash: &BlobHash) -> Error {
    Error::NotFound(format!(
        "no entry on this node references blob {hash} (files travel with the posts and pages that name them)"
    ))
}

/// How a read fetches a blob it does not hold from trusted peers (the
/// node implements it).
pub trait FetchBlob: Send + Sync {
    /// Fetches `file` and waits until it is held whole (from a blocking thread).
    fn fetch(&self, file: &BlobRef) -> Result<()>;
}
