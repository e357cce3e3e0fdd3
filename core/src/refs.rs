//! Typed values that user input is parsed into at the edge (HTTP, CLI,
//! web forms), so that the domain never sees a bare string where it means
//! an author, an entry or a kind.

use std::fmt;
use std::str::FromStr;

use kith_protocol::{AuthorId, EntryId};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};
use crate::store::Store;

/// An author as a user names one: `me`, or an author id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthorRef {
    Me,
    Id(AuthorId),
}

impl AuthorRef {
    /// The author meant, given who `me` is.
    pub fn resolve(self, me: AuthorId) -> AuthorId {
        match self {
            AuthorRef::Me => me,
            AuthorRef::Id(id) => id,
        }
    }
}

impl From<AuthorId> for AuthorRef {
    fn from(id: AuthorId) -> Self {
        AuthorRef::Id(id)
    }
}

impl FromStr for AuthorRef {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        if s == "me" {
            return Ok(AuthorRef::Me);
        }
        s.parse::<AuthorId>()
            .map(AuthorRef::Id)
            .map_err(|e| Error::InvalidInput(format!("{s:?} is not an author id or `me`: {e}")))
    }
}

impl fmt::Display for AuthorRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthorRef::Me => f.write_str("me"),
            AuthorRef::Id(id) => id.fmt(f),
        }
    }
}

/// An entry as a user names one: its full id, or a unique hex prefix of at
/// least [`EntryRef::MIN_PREFIX`] characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EntryRef(String);

impl EntryRef {
    pub const MIN_PREFIX: usize = 4;

    /// The entry meant, looked up in `store` if this is a prefix.
    pub fn resolve(&self, store: &Store) -> Result<EntryId> {
        Ok(store.resolve_id(&self.0)?)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<EntryId> for EntryRef {
    fn from(id: EntryId) -> Self {
        EntryRef(id.to_hex())
    }
}

impl FromStr for EntryRef {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim().to_ascii_lowercase();
        if s.is_empty() || !s.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(Error::InvalidInput(format!(
                "{s:?} is not an entry id (ids are hex, e.g. `kith feed` shows them)"
            )));
        }
        if s.len() < Self::MIN_PREFIX {
            return Err(Error::InvalidInput(format!(
                "{s:?} is too short to name an entry: give at least {} hex characters",
                Self::MIN_PREFIX
            )));
        }
        if s.len() > 64 {
            return Err(Error::InvalidInput(format!(
                "{s:?} is longer than an entry id"
            )));
        }
        Ok(EntryRef(s))
    }
}

impl fmt::Display for EntryRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A position in the feed: `<timestamp>-<entry id>` of the last item seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cursor {
    pub timestamp: u64,
    pub id: EntryId,
}

impl FromStr for Cursor {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::InvalidInput(format!("bad cursor {s:?} (expected TIMESTAMP-ID)"));
        let (ts, id) = s.trim().split_once('-').ok_or_else(bad)?;
        Ok(Cursor {
            timestamp: ts.parse().map_err(|_| bad())?,
            id: id.parse().map_err(|_| bad())?,
        })
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.timestamp, self.id)
    }
}

/// Serializes as the text form and parses with [`FromStr`], so JSON, query
/// strings and clap all share one parser.
macro_rules! text_serde {
    ($($t:ty),*) => {$(
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    )*};
}

text_serde!(AuthorRef, EntryRef, Cursor);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn authors_and_entries_parse_at_the_edge() {
        let me = kith_protocol::Keypair::from_secret(&[1; 32]).author();
        assert_eq!("me".parse::<AuthorRef>().unwrap().resolve(me), me);
        let other: AuthorRef = me.to_string().parse().unwrap();
        assert_eq!(other, AuthorRef::Id(me));
        assert!("nobody".parse::<AuthorRef>().is_err());
        assert!(
            "e2".parse::<EntryRef>()
                .unwrap_err()
                .to_string()
                .contains("too short")
        );
        assert!("xyz1".parse::<EntryRef>().is_err());
        assert_eq!("ABCD".parse::<EntryRef>().unwrap().as_str(), "abcd");
        let json = serde_json::to_string(&AuthorRef::Me).unwrap();
        assert_eq!(json, "\"me\"");
        assert!(serde_json::from_str::<EntryRef>("\"zz\"").is_err());
    }
}
