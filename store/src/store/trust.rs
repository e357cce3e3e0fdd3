//! The trust list (local, with petnames) and the replication scope derived
//! from it: me, the authors I trust and, at two hops, whom they vouch for.

use std::collections::{BTreeMap, BTreeSet};

use kith_protocol::identity::Person;
use kith_protocol::{AuthorId, Entry};
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

/// The set of authors a node replicates: my person's keys, the persons I
/// trust (each with every key it has or had, PROTOCOL.md §11) and the
/// recovery contacts they named, and, at two hops, the persons they vouch
/// for. Keys that ended (revoked, or lost and replaced by a recovery) stay
/// replicated up to their last valid entry, but are no peers: never
/// dialled, never let in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    authors: BTreeSet<AuthorId>,
    direct: BTreeSet<AuthorId>,
    /// Ended keys: their last valid sequence number.
    ended: BTreeMap<AuthorId, u64>,
    /// Keys that took over from another by a succession: their node keeps
    /// the earlier key as its PeerId (PROTOCOL.md §11.6), so nobody dials
    /// them.
    no_node: BTreeSet<AuthorId>,
    /// Each author's place in the frontier: (0 direct / 1 two hops, its
    /// index among its person's keys). A capped frontier lists every
    /// person's first key before anyone's second, so nobody's keys crowd
    /// out another person's.
    rank: BTreeMap<AuthorId, (u8, usize)>,
}

impl Scope {
    pub fn contains(&self, author: &AuthorId) -> bool {
        self.authors.contains(author)
    }

    /// Trusted directly (or me, or one of my person's keys).
    pub fn is_direct(&self, author: &AuthorId) -> bool {
        self.direct.contains(author)
    }

    /// Replicated and still writing: a peer to dial and let in.
    pub fn is_peer(&self, author: &AuthorId) -> bool {
        self.contains(author) && !self.ended.contains_key(author)
    }

    /// A peer worth dialling: one that runs a node under its own key.
    pub fn is_dialled(&self, author: &AuthorId) -> bool {
        self.is_peer(author) && !self.no_node.contains(author)
    }

    /// The last valid sequence number of a revoked or rotated-away key.
    pub fn last_seq(&self, author: &AuthorId) -> Option<u64> {
        self.ended.get(author).copied()
    }

    /// Ended keys and their last valid sequence numbers.
    pub fn ended(&self) -> Vec<(AuthorId, u64)> {
        self.ended.iter().map(|(a, s)| (*a, *s)).collect()
    }

    pub fn authors(&self) -> &BTreeSet<AuthorId> {
        &self.authors
    }

    /// Every author in frontier order: directly trusted persons before
    /// two-hop ones, each person's first key before anyone's second, then
    /// by key.
    pub fn ranked(&self) -> Vec<AuthorId> {
        let mut out: Vec<((u8, usize), AuthorId)> = self
            .authors
            .iter()
            .map(|a| (self.rank.get(a).copied().unwrap_or((2, 0)), *a))
            .collect();
        out.sort();
        out.into_iter().map(|(_, a)| a).collect()
    }

    pub fn len(&self) -> usize {
        self.authors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.authors.is_empty()
    }

    /// This scope, also admitting `author` (to store one entry a peer
    /// offered, before the registry says whose key it is).
    pub fn with(&self, author: AuthorId) -> Scope {
        let mut scope = self.clone();
        scope.authors.insert(author);
        scope
    }

    /// A scope holding exactly these authors (tests, tools).
    pub fn of(authors: impl IntoIterator<Item = AuthorId>) -> Scope {
        let authors: BTreeSet<_> = authors.into_iter().collect();
        Scope {
            direct: authors.clone(),
            authors,
            ended: BTreeMap::new(),
            no_node: BTreeSet::new(),
            rank: BTreeMap::new(),
        }
    }

    /// Adds every key of `person`.
    fn add_person(&mut self, person: &Person, direct: bool) {
        for (i, k) in person.keys.iter().enumerate() {
            self.authors.insert(k.key);
            let rank = (u8::from(!direct), i);
            let best = self.rank.entry(k.key).or_insert(rank);
            *best = (*best).min(rank);
            if direct {
                self.direct.insert(k.key);
            }
            if let Some(last) = k.last_seq {
                self.ended.insert(k.key, last);
            }
            if k.since == Some((k.key, 1)) {
                self.no_node.insert(k.key);
            }
        }
    }
}

/// The cached registry and the generation of the certificates and fork
/// proofs it was built from.
#[derive(Default)]
pub(crate) struct RegistryCache {
    pub(super) generation: std::sync::atomic::AtomicU64,
    pub(super) built:
        std::sync::Mutex<Option<(u64, std::sync::Arc<kith_protocol::identity::Registry>)>>,
}

impl Store {
    /// Certificates or fork proofs were written (after the write).
    pub(crate) fn registry_changed(&self) {
        self.registry
            .generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// Every identity certificate in the logs, as a registry (PROTOCOL.md
    /// §11): built once and shared until a certificate or a fork proof is
    /// written.
    pub fn registry(&self) -> Result<std::sync::Arc<kith_protocol::identity::Registry>> {
        let generation = self
            .registry
            .generation
            .load(std::sync::atomic::Ordering::SeqCst);
        let mut built = self
            .registry
            .built
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some((g, registry)) = built.as_ref()
            && *g == generation
        {
            return Ok(registry.clone());
        }
        let registry = std::sync::Arc::new(views::registry(self)?);
        *built = Some((generation, registry.clone()));
        Ok(registry)
    }

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

    /// My person's keys, the persons I trust (and whom my person's keys
    /// vouch for), and at `hops >= 2` the persons they vouch for.
    pub fn scope(&self, me: AuthorId, hops: u8) -> Result<Scope> {
        let registry = views::registry(self)?;
        let mut scope = Scope::default();
        let mine = registry.person_of(&me);
        scope.add_person(&mine, true);
        // A device that joined a person replicates the person's keys as
        // its own, before and after the certificate linking it arrives.
        let mut persons = vec![mine.clone()];
        for key in self.joined_person()? {
            if mine.key(&key).is_none() {
                let joined = registry.person_of(&key);
                scope.add_person(&joined, true);
                persons.push(joined);
            }
        }
        // My other devices' public vouches are my own trust.
        let mut trusted: BTreeSet<AuthorId> =
            self.trust_list()?.into_iter().map(|t| t.author).collect();
        for k in &mine.keys {
            if k.key != me {
                trusted.extend(views::vouched_by(self, &k.key)?);
            }
        }
        for author in &trusted {
            let person = registry.person_of(author);
            scope.add_person(&person, true);
            persons.push(person);
        }
        // Each person's recovery contacts: their approvals decide where
        // the person's identity goes if every key of theirs is lost.
        for person in &persons {
            if let Some(named) = registry.recovery_contacts(person) {
                for contact in named.contacts {
                    if !scope.is_direct(&contact) {
                        scope.add_person(&registry.person_of(&contact), true);
                    }
                }
            }
        }
        if hops >= 2 {
            let direct: Vec<AuthorId> = scope
                .direct
                .iter()
                .filter(|a| mine.key(a).is_none())
                .copied()
                .collect();
            for truster in direct {
                for subject in views::vouched_by(self, &truster)? {
                    if !scope.contains(&subject) {
                        scope.add_person(&registry.person_of(&subject), false);
                    }
                }
            }
        }
        Ok(scope)
    }

    /// The first entries (kind 14) of the logs that took over from `from`.
    pub fn handovers(&self, from: &AuthorId) -> Result<Vec<Entry>> {
        views::handovers(self, from)
    }

    /// How to show an author: my petname for their person, else the
    /// person's profile name (a device shows as the person it belongs to).
    pub fn display_name(&self, author: &AuthorId) -> Result<Option<String>> {
        let registry = self.registry()?;
        if registry.is_empty() {
            return self.key_name(author);
        }
        let person = registry.person_of(author);
        let mut keys = vec![person.identity, person.root];
        keys.extend(person.keys.iter().rev().map(|k| k.key));
        keys.dedup();
        for key in &keys {
            if let Some(TrustRecord {
                petname: Some(name),
                ..
            }) = self.trust_get(key)?
            {
                return Ok(Some(name));
            }
        }
        for key in &keys {
            if let Some(name) = views::profile_name(self, key)? {
                return Ok(Some(name));
            }
        }
        Ok(None)
    }

    /// My petname for this key, else its own profile name.
    fn key_name(&self, author: &AuthorId) -> Result<Option<String>> {
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
