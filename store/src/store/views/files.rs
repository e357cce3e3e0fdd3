//! The views of files and promotions: which entries reference a blob
//! (`vb`), which posts were added to a page (`vq`) and which pages a post
//! was added to (`vt`).

use kith_protocol::blob::{BlobHash, BlobRef};
use kith_protocol::{AuthorId, Entry, EntryId, Promotion};

use super::super::keyspace::Space;
use super::super::kv::Batch;
use super::super::{Error, Result, Store};

/// A promotion as the view keeps it: a post added to a page.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Promoted {
    /// The promotion entry, and who wrote it (who added the post).
    pub promotion: EntryId,
    pub promoter: AuthorId,
    pub timestamp_ms: u64,
    pub source: EntryId,
    pub source_author: AuthorId,
    /// The promoter's wiki change entries that inserted the text.
    pub changes: Vec<EntryId>,
}

/// A promotion's records.
pub(super) fn index_promotion(entry: &Entry, p: &Promotion, batch: &mut Batch) {
    let value = Promoted {
        promotion: entry.id(),
        promoter: entry.author(),
        timestamp_ms: entry.header().timestamp_ms,
        source: p.source,
        source_author: p.source_author,
        changes: p.changes.clone(),
    };
    batch.insert(
        Space::PromotedTo.key(&[&p.page.0, entry.id().as_bytes()]),
        postcard::to_stdvec(&value).expect("encoding into a Vec cannot fail"),
    );
    batch.insert(
        Space::PromotedFrom.key(&[p.source.as_bytes(), &p.page.0]),
        [],
    );
}

/// Each well-formed file reference (a peer's malformed one is skipped:
/// its name or type is never shown or used).
pub(super) fn index_files(entry: &Entry, files: &[BlobRef], batch: &mut Batch) {
    for file in files.iter().filter(|f| f.check().is_ok()) {
        batch.insert(
            blob_ref_key(&file.hash, &entry.id()),
            postcard::to_stdvec(file).expect("encoding into a Vec cannot fail"),
        );
    }
}

pub(super) fn blob_ref_key(hash: &BlobHash, entry: &EntryId) -> Vec<u8> {
    Space::BlobRef.key(&[&hash.0, entry.as_bytes()])
}

/// The entries that reference a blob, with what each says of it.
pub(crate) fn blob_refs(store: &Store, hash: &BlobHash) -> Result<Vec<(EntryId, BlobRef)>> {
    let prefix = Space::BlobRef.key(&[&hash.0]);
    let mut out = Vec::new();
    for item in store.kv().scan_prefix(&prefix) {
        let (key, value) = item?;
        let mut id = [0u8; 32];
        id.copy_from_slice(&key[prefix.len()..]);
        let file: BlobRef = postcard::from_bytes(&value)
            .map_err(|e| Error::Corrupt(format!("blob reference record: {e}")))?;
        out.push((EntryId(id), file));
    }
    Ok(out)
}

impl Store {
    /// The posts added to `page` (by promotion entries), in the order they
    /// were added (by the promotions' times, then ids: not by id alone,
    /// which a writer chooses by signing).
    pub fn promoted_to(&self, page: &kith_protocol::PageId) -> Result<Vec<Promoted>> {
        let prefix = Space::PromotedTo.key(&[&page.0]);
        let mut out: Vec<Promoted> = Vec::new();
        for item in self.kv.scan_prefix(&prefix) {
            let (_, v) = item?;
            out.push(
                postcard::from_bytes(&v)
                    .map_err(|e| Error::Corrupt(format!("promotion record: {e}")))?,
            );
        }
        out.sort_by_key(|p| (p.timestamp_ms, p.promotion));
        Ok(out)
    }

    /// The pages a post was added to.
    pub fn promoted_from(&self, source: &EntryId) -> Result<Vec<kith_protocol::PageId>> {
        let prefix = Space::PromotedFrom.key(&[source.as_bytes()]);
        let mut out = Vec::new();
        for item in self.kv.scan_prefix(&prefix) {
            let (k, _) = item?;
            let id: [u8; 16] = k[prefix.len()..]
                .try_into()
                .map_err(|_| Error::Corrupt("promotion key".into()))?;
            out.push(kith_protocol::PageId(id));
        }
        Ok(out)
    }

    /// The entries that reference a blob, with what each says of it
    /// (size, media type, name), in entry id order.
    pub fn blob_refs(&self, hash: &BlobHash) -> Result<Vec<(EntryId, BlobRef)>> {
        blob_refs(self, hash)
    }
}
