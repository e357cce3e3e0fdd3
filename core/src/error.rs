//! The error type of the node's public operations.

use serde::{Deserialize, Serialize};

/// What went wrong, in a form the CLI and the HTTP API both understand.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    #[error(transparent)]
    Identity(#[from] crate::identity::Error),
    #[error(transparent)]
    Config(#[from] crate::config::Error),
    #[error(transparent)]
    Wiki(#[from] crate::wiki::Error),
    #[error(transparent)]
    Blob(#[from] kith_store::blobs::Error),
    #[error("{0}")]
    InvalidInput(String),
    #[error("{0}")]
    NotFound(String),
    /// What the operation would change is in dispute (a forked log).
    #[error("{0}")]
    Conflict(String),
    #[error("the node has stopped")]
    NodeStopped,
    /// The operation needs a running node and none runs.
    #[error("no node is running on this data dir ({0}): start one with `kith up`")]
    NoNode(String),
    /// A long job holds what the operation needs; try again when it ends.
    #[error("{0}")]
    Busy(String),
    #[error("{0}")]
    Network(String),
    #[error("{0}")]
    Io(String),
    /// An error reported by a running node's API.
    #[error("{message}")]
    Remote { kind: ErrorKind, message: String },
}

/// Coarse classes of errors, carried over the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    InvalidInput,
    NotFound,
    Conflict,
    Unavailable,
    Internal,
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        use crate::store::Error as S;
        match self {
            Error::Store(S::NotFound(_)) | Error::NotFound(_) => ErrorKind::NotFound,
            Error::Store(
                S::Ambiguous(..)
                | S::TooShort(_)
                | S::Body(_)
                | S::Invalid(_)
                | S::NotReplicated(_)
                | S::Revoked { .. },
            )
            | Error::InvalidInput(_) => ErrorKind::InvalidInput,
            Error::Store(S::AuthorForked(_)) | Error::Conflict(_) => ErrorKind::Conflict,
            Error::NodeStopped | Error::Network(_) | Error::NoNode(_) | Error::Busy(_) => {
                ErrorKind::Unavailable
            }
            Error::Wiki(w) => {
                use crate::wiki::Error as W;
                match w {
                    W::NoPage(_) => ErrorKind::NotFound,
                    W::Ambiguous(..) | W::Archived(_) | W::Invalid(_) | W::BadChange(_) => {
                        ErrorKind::InvalidInput
                    }
                    W::TitleTaken(..) => ErrorKind::Conflict,
                    W::Store(S::NotFound(_)) => ErrorKind::NotFound,
                    _ => ErrorKind::Internal,
                }
            }
            Error::Blob(b) => {
                use kith_store::blobs::Error as B;
                match b {
                    B::TooLarge { .. } => ErrorKind::InvalidInput,
                    B::Full { .. } => ErrorKind::Conflict,
                    B::Missing(_) => ErrorKind::NotFound,
                    B::Incomplete { .. } | B::Io(_) => ErrorKind::Internal,
                }
            }
            Error::Remote { kind, .. } => *kind,
            _ => ErrorKind::Internal,
        }
    }
}

impl From<kith_protocol::KeyError> for Error {
    fn from(e: kith_protocol::KeyError) -> Self {
        Error::InvalidInput(e.to_string())
    }
}

impl From<kith_protocol::BodyError> for Error {
    fn from(e: kith_protocol::BodyError) -> Self {
        Error::InvalidInput(e.to_string())
    }
}

impl From<kith_protocol::entry::ParseIdError> for Error {
    fn from(e: kith_protocol::entry::ParseIdError) -> Self {
        Error::InvalidInput(e.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
