//! The trust list (local, with petnames) and the replication scope derived
//! from it: me, the authors I trust and, at two hops, whom they vouch for.

use std::collections::BTreeSet;

use kith_protocol::AuthorId;
use serde::{Deserialize, Serialize};

use super::{Result, Store, TRUST, author_key, decode_author, views};
use crate::store::Error;

/// A trusted author, as the user recorded them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustRecord {
    pub author: AuthorId,
    /// The user's own name for this author; wins over the author's profile name.
    pub petname: Option<String>,
    pub since_ms: u64,
}

#[derive(Serialize, Deserialize)]
struct StoredTrust {
    petname: Option<String>,
    since_ms: u64,
}

/// The set of authors a node replicates: itself, the authors it trusts and,
/// at two hops, the authors they vouch for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    authors: BTreeSet<AuthorId>,
    direct: BTreeSet<AuthorId>,
}

impl Scope {
    pub fn contains(&self, author: &AuthorId) -> bool {
        self.authors.contains(author)
    }

    /// Trusted directly (or me).
    pub fn is_direct(&self, author: &AuthorId) -> bool {
        self.direct.contains(author)
    }

    pub fn authors(&self) -> &BTreeSet<AuthorId> {
        &self.authors
    }

    pub fn len(&self) -> usize {
        self.authors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.authors.is_empty()
    }

    /// A scope holding exactly these authors (tests, tools).
    pub fn of(authors: impl IntoIterator<Item = AuthorId>) -> Scope {
        let authors: BTreeSet<_> = authors.into_iter().collect();
        Scope {
            direct: authors.clone(),
            authors,
        }
    }
}

impl Store {
    pub fn trust_add(
        &self,
        author: AuthorId,
        petname: Option<String>,
        now_ms: u64,
    ) -> Result<TrustRecord> {
        let since_ms = match self.trust_get(&author)? {
            Some(existing) => existing.since_ms,
            None => now_ms,
        };
        let stored = StoredTrust { petname, since_ms };
        self.kv.insert(
            author_key(TRUST, &author),
            postcard::to_stdvec(&stored).expect("encoding into a Vec cannot fail"),
        )?;
        self.kv.flush()?;
        Ok(TrustRecord {
            author,
            petname: stored.petname,
            since_ms,
        })
    }

    /// Returns whether the author was trusted.
    pub fn trust_remove(&self, author: &AuthorId) -> Result<bool> {
        let key = author_key(TRUST, author);
        let existed = self.kv.contains(&key)?;
        self.kv.remove(&key)?;
        self.kv.flush()?;
        Ok(existed)
    }

    pub fn trust_get(&self, author: &AuthorId) -> Result<Option<TrustRecord>> {
        match self.kv.get(author_key(TRUST, author))? {
            None => Ok(None),
            Some(v) => Ok(Some(decode_trust(author, &v)?)),
        }
    }

    pub fn trust_list(&self) -> Result<Vec<TrustRecord>> {
        let mut out = Vec::new();
        for item in self.kv.scan_prefix([TRUST]) {
            let (k, v) = item?;
            out.push(decode_trust(&decode_author(&k[1..])?, &v)?);
        }
        Ok(out)
    }

    /// Me, the authors I trust, and at `hops >= 2` the authors they vouch for.
    pub fn scope(&self, me: AuthorId, hops: u8) -> Result<Scope> {
        let mut direct: BTreeSet<AuthorId> =
            self.trust_list()?.into_iter().map(|t| t.author).collect();
        direct.insert(me);
        let mut authors = direct.clone();
        if hops >= 2 {
            for truster in &direct {
                if *truster == me {
                    continue;
                }
                authors.extend(views::vouched_by(self, truster)?);
            }
        }
        Ok(Scope { authors, direct })
    }

    /// How to show an author: my petname for them, else their profile name.
    pub fn display_name(&self, author: &AuthorId) -> Result<Option<String>> {
        if let Some(TrustRecord {
            petname: Some(name),
            ..
        }) = self.trust_get(author)?
        {
            return Ok(Some(name));
        }
        views::profile_name(self, author)
    }
}

fn decode_trust(author: &AuthorId, bytes: &[u8]) -> Result<TrustRecord> {
    let stored: StoredTrust =
        postcard::from_bytes(bytes).map_err(|e| Error::Corrupt(format!("trust record: {e}")))?;
    Ok(TrustRecord {
        author: *author,
        petname: stored.petname,
        since_ms: stored.since_ms,
    })
}
