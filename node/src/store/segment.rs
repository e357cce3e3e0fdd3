//! An author's log in sealed segments: every run of [`SEGMENT`] consecutive
//! entries (seqs `64k+1 ..= 64k+64`) is stored under one key once the run
//! is complete, and the open tail of a log stays one key per entry.
//!
//! A post still writes only its own bytes: entries are stored as single
//! records (`E` keys) like before, and once a write completes a run, the
//! run is *sealed* in one atomic batch of its own (the segment written, its
//! 64 single records removed). A crash between the two leaves single
//! records that the next seal of that author picks up; readers accept
//! either form, so nothing is lost or unreadable in between. Records only
//! ever move from single keys into segments (except when a revoked
//! device's log is cut short, which unseals), so a reader that looks up the
//! single key first and the segment second never misses an entry that is
//! being sealed at the same moment.
//!
//! Why: sled 0.34 spends about as much on a key as on a small value, and
//! reclaims a log segment of its file only once half of it is garbage; 64
//! entries under one key cost 1.8–2.0× their bytes on disk against 2.9×
//! one key per entry (docs/BENCHMARKS.md, "Disk: what a key layout costs
//! sled").
//!
//! Value format (version 1): the byte `1`, then for each of the 64 entries
//! in seq order its wire bytes' length (u32, little endian) and the bytes.

use kith_protocol::AuthorId;

use super::keyspace::Space;
use super::kv::{Batch, Value};
use super::{ENTRY, Error, Result, Store, entry_key};

/// Entries per sealed segment.
pub const SEGMENT: u64 = 64;

const FORMAT: u8 = 1;

/// The segment number holding `seq` (seqs start at 1).
pub(crate) fn segment_of(seq: u64) -> u64 {
    (seq - 1) / SEGMENT
}

/// The first seq of segment `n`.
pub(crate) fn first_seq(n: u64) -> u64 {
    n * SEGMENT + 1
}

pub(crate) fn segment_key(author: &AuthorId, n: u64) -> Vec<u8> {
    Space::Segment.key(&[author.as_bytes(), &n.to_be_bytes()])
}

/// The (author, segment number) of a segment key.
pub(crate) fn parse_key(key: &[u8]) -> Result<(AuthorId, u64)> {
    let rest = Space::Segment
        .rest(key)
        .filter(|r| r.len() == 40)
        .ok_or_else(|| Error::Corrupt("segment key".into()))?;
    Ok((
        super::decode_author(&rest[..32])?,
        u64::from_be_bytes(rest[32..].try_into().expect("8 bytes")),
    ))
}

/// The bytes of a segment holding `records` (each an entry's wire bytes).
pub(crate) fn encode<R: AsRef<[u8]>>(records: &[R]) -> Vec<u8> {
    let len = 1 + records.iter().map(|r| 4 + r.as_ref().len()).sum::<usize>();
    let mut out = Vec::with_capacity(len);
    out.push(FORMAT);
    for r in records {
        let r = r.as_ref();
        out.extend_from_slice(
            &u32::try_from(r.len())
                .expect("entries are small")
                .to_le_bytes(),
        );
        out.extend_from_slice(r);
    }
    out
}

/// The 64 records of a segment, in seq order; a malformed segment is an
/// error, never a shorter log.
pub(crate) fn records(bytes: &[u8]) -> Result<Vec<&[u8]>> {
    let corrupt = |why: &str| Error::Corrupt(format!("log segment: {why}"));
    let mut rest = match bytes.split_first() {
        Some((&FORMAT, rest)) => rest,
        Some((v, _)) => return Err(corrupt(&format!("unknown format {v}"))),
        None => return Err(corrupt("empty")),
    };
    let mut out = Vec::with_capacity(SEGMENT as usize);
    while !rest.is_empty() {
        let (len, tail) = rest
            .split_first_chunk::<4>()
            .ok_or_else(|| corrupt("cut short in a length"))?;
        let len = u32::from_le_bytes(*len) as usize;
        if tail.len() < len {
            return Err(corrupt("cut short in an entry"));
        }
        out.push(&tail[..len]);
        rest = &tail[len..];
    }
    if out.len() as u64 != SEGMENT {
        return Err(corrupt(&format!("{} entries, not {SEGMENT}", out.len())));
    }
    Ok(out)
}

impl Store {
    /// The stored wire bytes of `author`'s entry `seq`: its single record,
    /// else its place in a sealed segment (in that order, so an entry
    /// sealed meanwhile is still found).
    pub(crate) fn record(&self, author: &AuthorId, seq: u64) -> Result<Option<Value>> {
        if seq == 0 {
            return Ok(None);
        }
        if let Some(single) = self.kv.get(entry_key(author, seq).with_prefix(ENTRY))? {
            return Ok(Some(single));
        }
        let Some(segment) = self.kv.get(segment_key(author, segment_of(seq)))? else {
            return Ok(None);
        };
        let at = (seq - first_seq(segment_of(seq))) as usize;
        let record = records(&segment)?[at];
        let offset = record.as_ptr() as usize - segment.as_ptr() as usize;
        Ok(Some(segment.subslice(offset, record.len())))
    }

    /// Calls `visit` with `author`'s records from `from` on, in log order,
    /// until it returns `false` or the log ends: whole segments by one
    /// lookup each, then the open tail by a range.
    pub(crate) fn visit_log(
        &self,
        author: &AuthorId,
        from: u64,
        mut visit: impl FnMut(u64, &[u8]) -> Result<bool>,
    ) -> Result<()> {
        let mut seq = from.max(1);
        loop {
            let n = segment_of(seq);
            if let Some(segment) = self.kv.get(segment_key(author, n))? {
                for (i, record) in records(&segment)?.into_iter().enumerate() {
                    let at = first_seq(n) + i as u64;
                    if at >= seq && !visit(at, record)? {
                        return Ok(());
                    }
                }
                seq = first_seq(n + 1);
                continue;
            }
            // The tail: single records from `seq` while they follow on.
            let start = entry_key(author, seq).with_prefix(ENTRY);
            let end = entry_key(author, u64::MAX).with_prefix(ENTRY);
            let before = seq;
            for item in self.kv.range(&start, &end) {
                let (key, value) = item?;
                let at = u64::from_be_bytes(key[33..41].try_into().expect("entry key"));
                if at != seq {
                    break; // a gap: the run may have been sealed meanwhile
                }
                if !visit(at, &value)? {
                    return Ok(());
                }
                seq += 1;
            }
            if seq == before && self.kv.get(segment_key(author, segment_of(seq)))?.is_none() {
                return Ok(());
            }
        }
    }

    /// Seals every complete run of single records of `author` into a
    /// segment, one atomic batch per segment. Returns how many it sealed.
    pub(crate) fn seal(&self, author: &AuthorId) -> Result<u64> {
        let start = entry_key(author, 1).with_prefix(ENTRY);
        let end = entry_key(author, u64::MAX).with_prefix(ENTRY);
        let mut sealed = 0;
        // The run being gathered: its first seq and its records.
        let mut run_start = 0;
        let mut run: Vec<(Value, Value)> = Vec::with_capacity(SEGMENT as usize);
        for item in self.kv.range(&start, &end) {
            let (key, value) = item?;
            let seq = u64::from_be_bytes(key[33..41].try_into().expect("entry key"));
            if run.is_empty() || seq != run_start + run.len() as u64 {
                run.clear();
                if seq != first_seq(segment_of(seq)) {
                    continue; // not the start of a run
                }
                run_start = seq;
            }
            run.push((key, value));
            if run.len() as u64 == SEGMENT {
                let key = segment_key(author, segment_of(run_start));
                if !self.kv.contains(&key)? {
                    let mut batch = Batch::default();
                    let values: Vec<&[u8]> = run.iter().map(|(_, v)| v.as_ref()).collect();
                    batch.insert(key, encode(&values));
                    for (k, _) in &run {
                        batch.remove(k);
                    }
                    self.apply(batch)?;
                    sealed += 1;
                }
                run.clear();
            }
        }
        Ok(sealed)
    }

    /// Seals `author`'s log if entries `first..=last` just written complete
    /// a run.
    pub(crate) fn seal_if_complete(&self, author: &AuthorId, first: u64, last: u64) -> Result<()> {
        if first >= 1 && last / SEGMENT > (first - 1) / SEGMENT {
            self.seal(author)?;
        }
        Ok(())
    }

    /// Replaces one record of a sealed segment (a deletion dropping its
    /// target's body); `false` if `seq` is not sealed.
    pub(crate) fn rewrite_sealed(
        &self,
        author: &AuthorId,
        seq: u64,
        bytes: &[u8],
        batch: &mut Batch,
    ) -> Result<bool> {
        let key = segment_key(author, segment_of(seq));
        let Some(segment) = self.kv.get(&key)? else {
            return Ok(false);
        };
        let mut records = records(&segment)?;
        records[(seq - first_seq(segment_of(seq))) as usize] = bytes;
        batch.insert(key, encode(&records));
        Ok(true)
    }
}

/// Set while a migration from one key per entry seals the logs; a store
/// opened with it set finishes the migration.
const SEALING: &str = "sealing";

/// A test hook: the migration stops (the process sleeps) once it has
/// sealed at least this many segments, so a test can kill it mid-way.
const STALL_ENV: &str = "KITH_TEST_STALL_MIGRATION";

impl Store {
    /// Migrates a store of schema 1 (one key per entry): the schema is
    /// marked 2 first, so an older binary refuses the store from then on
    /// instead of missing sealed entries, then every log is sealed.
    pub(super) fn migrate_to_segments(&self) -> Result<()> {
        self.kv.insert(super::meta_key(SEALING), [1])?;
        self.kv.insert(
            super::meta_key("schema"),
            super::SCHEMA_VERSION.to_be_bytes(),
        )?;
        self.kv.flush()?;
        self.finish_migration()
    }

    /// Seals every log if a migration is under way (it was interrupted, or
    /// has just begun). Each segment is sealed atomically and the store
    /// flushed after each author, so a crash at any point leaves a store
    /// that opens, reads every entry and picks up where it stopped.
    pub(super) fn finish_migration(&self) -> Result<()> {
        if !self.kv.contains(super::meta_key(SEALING))? {
            return Ok(());
        }
        tracing::info!("sealing the logs in segments of {SEGMENT} (once, after an upgrade)");
        let stall_after = std::env::var(STALL_ENV)
            .ok()
            .and_then(|v| v.parse::<u64>().ok());
        let mut sealed = 0;
        for author in self.frontier()?.into_keys() {
            sealed += self.seal(&author)?;
            self.kv.flush()?;
            if stall_after.is_some_and(|n| sealed >= n) {
                eprintln!("migration stalled after {sealed} segments ({STALL_ENV})");
                loop {
                    std::thread::sleep(std::time::Duration::from_secs(60));
                }
            }
        }
        self.kv.remove(super::meta_key(SEALING))?;
        self.kv.flush()?;
        tracing::info!(segments = sealed, "logs sealed");
        Ok(())
    }
}

#[cfg(test)]
mod tests;
