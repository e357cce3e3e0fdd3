//! Social recovery in the registry: which contacts sets a recovery of a
//! key considers, whether a recovery holds (threshold of contacts who
//! speak for their persons), and which new key it names (PROTOCOL.md
//! §11.5).

use std::collections::{BTreeMap, BTreeSet};

use super::super::{CertBody, Conflict, MAX_CERTS_PER_LOG, RecoveryContacts};
use super::Registry;
use crate::keys::AuthorId;

/// A recovery that holds: contacts up to the threshold vouched for `new`.
#[derive(Debug, Clone)]
pub(super) struct Recovered {
    pub(super) new: AuthorId,
    /// Certificates of the lost key after this seq do not count.
    pub(super) point: u64,
    /// The seq of the contacts certificate the recovery holds under: a
    /// rotation of the lost key after it does not pre-empt the recovery.
    pub(super) named_at: u64,
    pub(super) by: Vec<AuthorId>,
}

impl Registry {
    /// The contacts certificates a recovery of `key` considers, in log
    /// order: those of its log below a fork, up to its first rotation (a
    /// set named after the key handed its identity on is not the person's).
    pub fn contact_sets(&self, key: &AuthorId) -> Vec<(u64, RecoveryContacts)> {
        let Some(log) = self.certs.get(key) else {
            return Vec::new();
        };
        let below = self.forks.get(key).copied().unwrap_or(u64::MAX);
        let mut out = Vec::new();
        for (&seq, cert) in log.range(..below).take(MAX_CERTS_PER_LOG) {
            match cert {
                CertBody::Contacts(c) => out.push((seq, c.clone())),
                CertBody::Rotate(_) if self.consented.contains(&(*key, seq)) => break,
                _ => {}
            }
        }
        out
    }

    /// Whether `key`'s recovery contacts vouched, up to their threshold,
    /// for one new key (PROTOCOL.md §11.5).
    ///
    /// Each contacts certificate of `key` (before its first rotation) is a
    /// set that may hold: its contacts (once per person) who approved the
    /// same new key, at least its threshold of them. Its *point* is the
    /// highest seq of `key` that a threshold of them saw (so one contact
    /// alone cannot keep the lost key alive), never below the set's own
    /// seq, and the set must be the one in force there (no later set named
    /// at or before the point). Of the sets that hold, the earliest named
    /// decides: a set named later was named after the loss as those
    /// contacts see it, so a thief holding the key can neither pre-empt the
    /// recovery by naming contacts of its own nor force a conflict. Two new
    /// keys vouched for by the same earliest set are a conflict.
    pub(super) fn recovery(&self, key: AuthorId) -> Result<Option<Recovered>, Conflict> {
        let Some(approvals) = self.approvals.get(&key) else {
            return Ok(None);
        };
        let sets = self.contact_sets(&key);
        if sets.is_empty() {
            return Ok(None);
        }
        let candidates: BTreeSet<AuthorId> = approvals.iter().map(|a| a.2.new).collect();
        let mut holds: Vec<(u64, Recovered)> = Vec::new();
        for (i, (named_at, named)) in sets.iter().enumerate() {
            if named.threshold == 0 {
                continue;
            }
            // Each named contact counts once per person (resolved without
            // recoveries, so resolution never recurses).
            let contacts: Vec<(AuthorId, AuthorId)> = named
                .contacts
                .iter()
                .filter(|c| **c != key)
                .map(|c| (*c, self.person_of_with(c, false).root))
                .collect();
            for new in &candidates {
                let mut counted: BTreeMap<AuthorId, (AuthorId, u64)> = BTreeMap::new();
                for (author, seq, approval) in approvals.iter().filter(|a| a.2.new == *new) {
                    // An approval at or after a fork of its author's log is
                    // in dispute: it does not count.
                    if self.forks.get(author).is_some_and(|f| seq >= f) {
                        continue;
                    }
                    for (contact, person) in &contacts {
                        if self.speaks_for(author, *seq, contact) {
                            let at = counted.entry(*person).or_insert((*contact, 0));
                            at.1 = at.1.max(approval.seen_seq);
                        }
                    }
                }
                let threshold = usize::from(named.threshold);
                if counted.len() < threshold {
                    continue;
                }
                let mut seen: Vec<u64> = counted.values().map(|(_, s)| *s).collect();
                seen.sort_unstable_by(|a, b| b.cmp(a));
                let point = seen[threshold - 1].max(*named_at);
                // The set in force at the point: no later one named by then.
                if sets[i + 1..].iter().any(|(at, _)| *at <= point) {
                    continue;
                }
                let mut by: Vec<AuthorId> = counted.values().map(|(c, _)| *c).collect();
                by.sort();
                holds.push((
                    *named_at,
                    Recovered {
                        new: *new,
                        point,
                        named_at: *named_at,
                        by,
                    },
                ));
            }
        }
        let Some(first) = holds.iter().map(|(at, _)| *at).min() else {
            return Ok(None);
        };
        let mut winners: Vec<Recovered> = holds
            .into_iter()
            .filter(|(at, _)| *at == first)
            .map(|(_, r)| r)
            .collect();
        match winners.len() {
            1 => Ok(winners.pop()),
            _ => Err(Conflict::Recovery {
                key,
                candidates: winners.into_iter().map(|r| r.new).collect(),
            }),
        }
    }

    /// Whether `author`'s entry at `seq` speaks for `contact`: the contact's
    /// key itself, or a key of the contact's person (resolved without
    /// recoveries) that was valid at that entry.
    pub(super) fn speaks_for(&self, author: &AuthorId, seq: u64, contact: &AuthorId) -> bool {
        if author == contact {
            return true;
        }
        self.person_of_with(contact, false)
            .key(author)
            .is_some_and(|k| k.accepts(seq))
    }
}
