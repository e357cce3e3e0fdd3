//! Re-verifying every stored entry (`kith log verify`), and what the store
//! holds by keyspace.

use kith_protocol::{AuthorId, Entry, EntryId, Head};
use serde::{Deserialize, Serialize};

use super::keyspace::Space;
use super::{ENTRY, Result, Store, decode_author};
use crate::store::Error;

/// Result of [`Store::verify`].
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct VerifyReport {
    pub entries: u64,
    pub authors: u64,
    pub bodies_dropped: u64,
    pub problems: Vec<String>,
}

impl Store {
    /// Keys and bytes (keys plus values) stored, by keyspace (its prefix,
    /// [`Space`]).
    /// What the store's file holds besides sled's own overhead.
    pub fn usage(&self) -> Result<std::collections::BTreeMap<String, (u64, u64)>> {
        let mut out: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
        for item in self.kv.scan_prefix([]) {
            let (k, v) = item?;
            let tag = Space::ALL
                .iter()
                .find(|s| k.starts_with(s.prefix()))
                .map_or_else(
                    || "?".to_string(),
                    |s| String::from_utf8_lossy(s.prefix()).into_owned(),
                );
            let e = out.entry(tag).or_default();
            e.0 += 1;
            e.1 += (k.len() + v.len()) as u64;
        }
        Ok(out)
    }

    /// Re-verifies every stored entry: signature, body hash, chain links,
    /// indexes. Problems are collected, not fatal.
    pub fn verify(&self) -> Result<VerifyReport> {
        self.verify_with(|_| {})
    }

    /// [`Store::verify`], calling `progress` with the entries checked so far
    /// every thousand entries.
    pub fn verify_with(&self, mut progress: impl FnMut(u64)) -> Result<VerifyReport> {
        let mut report = VerifyReport::default();
        let mut last: Option<(AuthorId, Head)> = None;
        for item in self.kv.scan_prefix([ENTRY]) {
            let (k, v) = item?;
            report.entries += 1;
            if report.entries % 1_000 == 0 {
                progress(report.entries);
            }
            let key_author = decode_author(&k[1..33]).ok();
            let key_seq = k
                .get(33..41)
                .map(|s| u64::from_be_bytes(s.try_into().expect("8 bytes")));
            let entry = match Entry::decode(&v, &self.limits) {
                Ok(e) => e,
                Err(e) => {
                    report.problems.push(format!(
                        "entry {:?} seq {:?}: cannot decode: {e}",
                        key_author.map(|a| a.to_string()),
                        key_seq
                    ));
                    continue;
                }
            };
            let at = format!("{} seq {}", entry.author(), entry.seq());
            if key_author != Some(entry.author()) || key_seq != Some(entry.seq()) {
                report
                    .problems
                    .push(format!("{at}: stored under the wrong key"));
            }
            check_entry(&entry, &at, &mut report);
            let expected_prev = match last {
                Some((a, h)) if a == entry.author() => {
                    if h.seq + 1 != entry.seq() {
                        report
                            .problems
                            .push(format!("{at}: gap after seq {}", h.seq));
                    }
                    Some(h.id)
                }
                _ => {
                    report.authors += 1;
                    if let Some((a, h)) = last {
                        self.check_head(&a, h, &mut report)?;
                    }
                    if entry.seq() != 1 {
                        report
                            .problems
                            .push(format!("{at}: log does not start at seq 1"));
                    }
                    None
                }
            };
            if entry.header().prev != expected_prev && entry.seq() != 1 {
                report
                    .problems
                    .push(format!("{at}: prev does not match the previous entry"));
            }
            match self.get_location(&entry.id())? {
                Some((a, s)) if a == entry.author() && s == entry.seq() => {}
                _ => report
                    .problems
                    .push(format!("{at}: id index is missing or wrong")),
            }
            last = Some((
                entry.author(),
                Head {
                    seq: entry.seq(),
                    id: entry.id(),
                },
            ));
        }
        if let Some((a, h)) = last {
            self.check_head(&a, h, &mut report)?;
        }
        progress(report.entries);
        Ok(report)
    }

    fn check_head(&self, author: &AuthorId, last: Head, report: &mut VerifyReport) -> Result<()> {
        if self.head(author)? != Some(last) {
            report.problems.push(format!(
                "{author}: head record does not match the last entry"
            ));
        }
        Ok(())
    }

    fn get_location(&self, id: &EntryId) -> Result<Option<(AuthorId, u64)>> {
        match super::ids::location(self, id)?.map(|(loc, _)| loc) {
            None => Ok(None),
            Some(v) if v.len() == 40 => Ok(Some((
                decode_author(&v[..32])?,
                u64::from_be_bytes(v[32..40].try_into().expect("8 bytes")),
            ))),
            Some(_) => Err(Error::Corrupt("id index record".into())),
        }
    }
}

/// The checks one entry passes on its own: signature, body, body kept.
fn check_entry(entry: &Entry, at: &str, report: &mut VerifyReport) {
    if let Err(e) = entry.verify_signature() {
        report.problems.push(format!("{at}: {e}"));
    }
    if let Err(e) = entry.verify_body() {
        report.problems.push(format!("{at}: {e}"));
    }
    if entry.body().is_none() {
        report.bodies_dropped += 1;
    }
}
