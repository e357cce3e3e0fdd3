//! Bundles as a reader writes them: what one will hold, then its entries
//! (and, for a version 2 bundle, the files they reference) as a stream.

use kith_protocol::{AuthorId, Entry};

use super::{Reader, files_of};
use crate::bundle::FrontierFile;
use crate::error::{Error, Result};
use crate::ops;

/// Entries read from a log at a time while exporting.
const EXPORT_PAGE: usize = 1024;

/// What a bundle will hold: its header, and each author's log from a seq
/// up to a head.
#[derive(Debug, Clone)]
pub struct BundlePlan {
    pub header: crate::bundle::Header,
    logs: Vec<(AuthorId, u64, u64)>,
    /// Carry the files the entries reference (a version 2 bundle).
    with_blobs: bool,
}

impl Reader {
    /// What a bundle will hold: every author this node replicates (or
    /// `authors`), after the recipient's frontier if given. Everything
    /// that can be refused is refused here, before a byte is written.
    pub fn bundle_plan(&self, params: &ops::Bundle) -> Result<BundlePlan> {
        let recipient = match params.recipient {
            Some(r) => {
                let r = r.resolve(self.me);
                if r != self.me && self.store.trust_get(&r)?.is_none() {
                    return Err(Error::InvalidInput(format!(
                        "you do not trust {r}; bundles carry your circle's entries only to people you trust"
                    )));
                }
                Some(r)
            }
            None => None,
        };
        let since = match &params.since {
            Some(text) => FrontierFile::parse(text)
                .and_then(|f| f.seqs())
                .map_err(|e| Error::InvalidInput(e.to_string()))?,
            None => Default::default(),
        };
        let authors: Vec<AuthorId> = if params.authors.is_empty() {
            self.scope.authors().iter().copied().collect()
        } else {
            params.authors.iter().map(|a| a.resolve(self.me)).collect()
        };
        // What to send, fixed before anything is read: each author's log
        // from after the recipient's frontier up to its head now (a log is
        // contiguous from seq 1, so the count is known up front and goes
        // in the header).
        let mut logs = Vec::with_capacity(authors.len());
        let mut total = 0;
        for author in authors {
            let from = since.get(&author).copied().unwrap_or(0) + 1;
            let head = self.store.head(&author)?.map_or(0, |h| h.seq);
            if head >= from {
                total += head - from + 1;
                logs.push((author, from, head));
            }
        }
        let header = crate::bundle::Header {
            created_ms: crate::clock::now_ms(),
            from: self.me,
            recipient,
            entries: total,
        };
        Ok(BundlePlan {
            header,
            logs,
            with_blobs: params.with_blobs,
        })
    }

    /// Writes the bundle `plan` describes to `out`, reading the logs a page
    /// at a time: the entries are never all held at once, and neither are
    /// the bundle's bytes. `progress` hears (entries read, entries in all)
    /// after each author.
    pub fn write_bundle(
        &self,
        plan: &BundlePlan,
        out: impl std::io::Write,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<()> {
        let io = |e: std::io::Error| Error::Io(format!("writing the bundle: {e}"));
        let total = plan.header.entries;
        let mut writer = if plan.with_blobs {
            crate::bundle::Writer::with_blobs(out, &plan.header)
        } else {
            crate::bundle::Writer::new(out, &plan.header)
        }
        .map_err(io)?;
        let mut written = 0;
        // The files the entries reference that this node holds, in the
        // order the entries name them.
        let mut blobs: Vec<(kith_protocol::blob::BlobHash, u64)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for &(author, from, head) in &plan.logs {
            let mut next = from;
            while next <= head {
                let page = self.store.log(&author, next, EXPORT_PAGE)?;
                let Some(last) = page.last().map(Entry::seq) else {
                    break;
                };
                for entry in page.iter().filter(|e| e.seq() <= head) {
                    writer.push(entry).map_err(io)?;
                    written += 1;
                    if plan.with_blobs {
                        for file in files_of(entry) {
                            if let Some(size) = self.blobs.size(&file.hash)
                                && seen.insert(file.hash)
                            {
                                blobs.push((file.hash, size));
                            }
                        }
                    }
                }
                next = last + 1;
            }
            progress(written, total);
        }
        if written != total {
            return Err(Error::Conflict(format!(
                "the logs hold {written} of the {total} entries their heads promise: the store \
                 changed during the export (export again) or a record is missing (`kith log \
                 verify` names it)"
            )));
        }
        if plan.with_blobs {
            writer
                .blobs(&blobs, |hash| {
                    self.blobs
                        .open_blob(hash)
                        .map_err(|e| std::io::Error::other(e.to_string()))
                })
                .map_err(io)?;
        }
        writer.finish().map_err(io)?;
        Ok(())
    }
}
