//! How the store actor commits a store operation (`Info::commit`), and
//! what answers the requests of a job operation when the job ends.

use serde::Serialize;

use super::{Info, Respond, StoreOp};
use crate::error::{Error, ErrorKind, Result};
use crate::store::ReindexReport;

/// How the store actor runs and commits a store operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Commit {
    /// On its own: what it wrote is durable before it answers.
    Alone,
    /// With the requests of the same operation already queued behind it:
    /// one durable write for all of them (group commit), each its answer.
    Grouped,
    /// As the store's long job: started, then run in slices between other
    /// messages, and answered when it ends. A request that arrives while
    /// the job runs is answered when that one ends.
    Job,
}

pub(super) fn not_a_job(info: Info) -> Error {
    Error::Remote {
        kind: ErrorKind::Internal,
        message: format!("{} does not run as a job", info.name),
    }
}

/// Answers a request of a [`Commit::Job`] operation once the job ends.
#[doc(hidden)]
pub type JobWaiter = Box<dyn FnOnce(&Result<ReindexReport>) + Send>;

pub(super) fn waiter<O: StoreOp>(reply: Respond<O::Output>) -> JobWaiter {
    Box::new(move |report| {
        let answer = match report {
            Ok(report) => O::job_answer(report),
            Err(e) => Err(error_again(e)),
        };
        let _ = reply.send(answer);
    })
}

/// The same error again, for each of several waiters.
fn error_again(e: &Error) -> Error {
    match e {
        Error::NodeStopped => Error::NodeStopped,
        e => Error::Remote {
            kind: e.kind(),
            message: e.to_string(),
        },
    }
}
