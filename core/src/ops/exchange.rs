//! Fork proofs, frontier files, bundles and imports.

use kith_protocol::{Entry, Limits};
use serde::{Deserialize, Serialize};

use super::http::Payload;
use super::http::{Incoming, OCTETS, Outgoing, Request};
use super::{Info, ReadCtx, ReadOp, Respond, StoreOp, Streamed};
use crate::bundle::FrontierFile;
use crate::core::Core;
use crate::error::{Error, Result};
use crate::model::{ForkView, ImportEntriesReport};
use crate::refs::AuthorRef;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forks {}

impl ReadOp for Forks {
    fn run(self, ctx: &ReadCtx<'_>) -> Result<Vec<ForkView>> {
        ctx.reader.forks()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForksClear {
    pub author: AuthorRef,
}

impl StoreOp for ForksClear {
    fn run(self, core: &mut Core) -> Result<usize> {
        let author = self.author.resolve(core.me());
        core.forks_clear(author)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frontier {}

impl ReadOp for Frontier {
    fn run(self, ctx: &ReadCtx<'_>) -> Result<FrontierFile> {
        ctx.reader.frontier_file()
    }
}

/// The entries another node lacks, as a bundle file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bundle {
    /// Who the bundle is for (must be someone you trust).
    pub recipient: Option<AuthorRef>,
    /// Only these authors.
    #[serde(default)]
    pub authors: Vec<AuthorRef>,
    /// The recipient's frontier file (JSON): only what it lacks.
    pub since: Option<String>,
    /// Carry the files the entries reference (a version 2 bundle).
    #[serde(default)]
    pub with_blobs: bool,
}

impl ReadOp for Bundle {
    /// Checks the request and fixes what the bundle holds now; the entries
    /// are read and written later, as the answer is sent, holding the read
    /// lane and the job until it ends.
    fn run(self, ctx: &ReadCtx<'_>) -> Result<Streamed> {
        let plan = ctx.reader.bundle_plan(&self)?;
        let reader = ctx.reader.clone();
        let job = ctx
            .jobs
            .start(crate::jobs::JobKind::Export, plan.header.entries);
        let lane = ctx.lane.clone();
        Ok(Streamed(Payload::Stream(Box::new(move |out| {
            let _lane = lane;
            reader.write_bundle(&plan, out, |done, total| {
                job.progress(done, total, "reading entries")
            })
        }))))
    }
}

/// Entries from a bundle (or any source), verified and stored exactly as
/// if they came from the network. Over HTTP the body is the entries'
/// envelopes, concatenated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportEntries {
    pub entries: Vec<Entry>,
}

/// An import on its way through the verification pool.
pub struct ImportRequest {
    pub op: ImportEntries,
    pub reply: Respond<ImportEntriesReport>,
}

impl Request for ImportEntries {
    fn from_http(incoming: Incoming<'_>) -> Result<Self> {
        let limits = Limits::default();
        let mut entries = Vec::new();
        let mut rest = incoming.body;
        while !rest.is_empty() {
            let (entry, after) = Entry::decode_prefix(rest, &limits)
                .map_err(|e| Error::InvalidInput(format!("entry {}: {e}", entries.len() + 1)))?;
            entries.push(entry);
            rest = after;
        }
        Ok(ImportEntries { entries })
    }

    fn to_http(&self, info: &Info) -> Result<Outgoing> {
        let mut body = Vec::new();
        for e in &self.entries {
            e.encode_into(&mut body);
        }
        Ok(Outgoing {
            path: info.path.to_string(),
            query: Vec::new(),
            body: Some((OCTETS, body)),
        })
    }
}
