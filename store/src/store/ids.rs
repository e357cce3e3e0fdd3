//! The id index: an entry's id → where the entry is stored (author, seq).
//!
//! Ids are hashes. Kept as one key per id, the index got its writes in
//! random order, and in sled 0.34 each such write lands in a random leaf,
//! which keeps a chain of fragments in sled's page table and spreads
//! garbage over every log segment: at a million entries those keys took
//! the store from 2.76× to 6.47× its bundle and the heap's growth from 1.9
//! to 9.4 MiB per 100,000 entries (docs/BENCHMARKS.md, "What random-order
//! keys cost sled"). And whatever is written into sled's one log more than
//! once (a key rewritten, a record deleted later) is garbage that stays
//! beside the entries, which live forever. So ids are written once:
//!
//! - **The tail.** The ids of entries stored since the last run are held in
//!   memory, sorted. After a restart they are read again from the entries
//!   themselves: each author's entries above their *mark* (`Space::IdMark`:
//!   author → the last seq a run holds).
//! - **Runs.** Once the tail holds [`Params::flush_at`] ids they are written
//!   as a *run*, never rewritten: sorted blocks of [`Params::block_ids`]
//!   records (`Space::IdBlock`: run number, last id → records of id 32 +
//!   author 32 + seq 8), listed by `Space::IdRun` (run number → a Bloom
//!   filter of its ids, ~10 bits per id, kept in memory too), in the same
//!   batch as the marks they move.
//!
//! A lookup checks the tail, then the runs whose filter may hold the id
//! (about one run in a hundred that does not), newest first. A record can
//! outlive its entry (a revoked device's log is cut): a lookup checks that
//! the entry it finds there has that id, and cutting a log lowers the mark.
//!
//! A store written before runs has its ids as single keys (`Space::Id`);
//! they are read as they are, and moved into runs in bounded steps after
//! writes (each step one run of at most `flush_at` of them, written before
//! the keys are deleted). A run being written is listed in `Space::IdDrop`
//! until the batch that lists it; the blocks of a run left there by a crash
//! are deleted by later steps.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use kith_protocol::{AuthorId, Entry, EntryId, Limits};

use super::keyspace::Space;
use super::kv::{Batch, Kv};
use super::{HEAD, ID, MAX_BATCH_OPS, Result, Store, decode_author, decode_head};
use crate::store::Error;

/// Bytes of one record: id (32), author (32), seq (8).
const RECORD: usize = 72;
/// Bytes of a location: author (32), seq (8).
const LOCATION: usize = 40;
/// Bloom filter bits per id, and probes per lookup (~1 % false positives).
const BLOOM_BITS_PER_ID: usize = 10;
const BLOOM_PROBES: u64 = 7;

type Id = [u8; 32];
type Location = [u8; LOCATION];

/// How big the tail and the blocks are (smaller in tests).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Params {
    /// Ids the tail holds before they are written as a run.
    pub flush_at: usize,
    /// Records per block (64 × 72 bytes: a block of ~4.6 KB).
    pub block_ids: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            flush_at: 16_384,
            block_ids: 64,
        }
    }
}

/// The index's moving parts, shared by every clone of the store.
pub(crate) struct IdRuns {
    params: Params,
    tail: Mutex<BTreeMap<Id, Location>>,
    /// The listed runs' numbers and filters, newest first (replaced whole
    /// when a run is listed, so a lookup holds no lock while it reads).
    runs: RwLock<Arc<Vec<(u64, Bloom)>>>,
    /// The store still has ids as single keys (`Space::Id`).
    old_keys: AtomicBool,
    /// Something may be left to do (a flush, old keys, blocks to drop).
    pending: AtomicBool,
    /// Held by the step under way.
    work: Mutex<()>,
}

/// A Bloom filter of a run's ids (ids are hashes: their bytes are the
/// filter's hashes).
#[derive(Clone, PartialEq, Eq, Debug)]
struct Bloom(Vec<u8>);

impl Bloom {
    fn with_capacity(ids: usize) -> Bloom {
        Bloom(vec![0; (ids * BLOOM_BITS_PER_ID).div_ceil(8).max(8)])
    }

    fn probes(&self, id: &Id) -> impl Iterator<Item = usize> {
        let bits = (self.0.len() * 8) as u64;
        let h1 = u64::from_le_bytes(id[..8].try_into().expect("8 bytes"));
        let h2 = u64::from_le_bytes(id[8..16].try_into().expect("8 bytes")) | 1;
        (0..BLOOM_PROBES).map(move |i| (h1.wrapping_add(i.wrapping_mul(h2)) % bits) as usize)
    }

    fn insert(&mut self, id: &Id) {
        for bit in self.probes(id).collect::<Vec<_>>() {
            self.0[bit / 8] |= 1 << (bit % 8);
        }
    }

    fn may_hold(&self, id: &Id) -> bool {
        self.probes(id)
            .all(|bit| self.0[bit / 8] & (1 << (bit % 8)) != 0)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl IdRuns {
    /// The index of a store being opened: the runs' filters, and the tail
    /// read again from the entries above each author's mark.
    pub(crate) fn open(kv: &Kv, params: Params, limits: &Limits) -> Result<IdRuns> {
        let mut runs = Vec::new();
        for item in kv.scan_prefix(Space::IdRun.prefix()) {
            let (k, v) = item?;
            runs.push((run_of(Space::IdRun, &k)?, Bloom(v.to_vec())));
        }
        runs.reverse();
        let old_keys = kv.scan_prefix([ID]).next().is_some();
        let marks_written = kv.scan_prefix(Space::IdMark.prefix()).next().is_some();
        let mut tail = BTreeMap::new();
        let mut first_marks = Batch::default();
        for item in kv.scan_prefix([HEAD]) {
            let (k, v) = item?;
            let author = decode_author(&k[1..])?;
            let head = decode_head(&v)?.seq;
            if old_keys && !marks_written {
                // A store of the previous layout: its single keys hold
                // every id stored so far.
                first_marks.insert(mark_key(&author), head.to_be_bytes());
                continue;
            }
            let mark = match kv.get(mark_key(&author))? {
                Some(v) => u64::from_be_bytes(
                    v.as_ref()
                        .try_into()
                        .map_err(|_| Error::Corrupt("id mark".into()))?,
                ),
                None => 0,
            };
            if head <= mark {
                continue;
            }
            let start = super::entry_key(&author, mark + 1).with_prefix(super::ENTRY);
            let end = super::entry_key(&author, u64::MAX).with_prefix(super::ENTRY);
            for item in kv.range(&start, &end) {
                let (k, v) = item?;
                // An entry that no longer decodes is reported by `verify`;
                // it cannot be read by its id either way.
                let id = match Entry::decode(&v, limits) {
                    Ok(entry) => entry.id().0,
                    Err(e) => {
                        tracing::warn!(%author, error = %e, "a stored entry does not decode");
                        continue;
                    }
                };
                let loc: Location = k[1..]
                    .try_into()
                    .map_err(|_| Error::Corrupt("entry key".into()))?;
                tail.insert(id, loc);
            }
        }
        if !first_marks.is_empty() {
            kv.apply(first_marks)?;
        }
        Ok(IdRuns {
            params,
            tail: Mutex::new(tail),
            runs: RwLock::new(Arc::new(runs)),
            old_keys: AtomicBool::new(old_keys),
            pending: AtomicBool::new(true),
            work: Mutex::new(()),
        })
    }

    /// Puts the ids of an applied batch in the tail.
    pub(crate) fn applied(&self, records: &[u8]) {
        let mut tail = lock(&self.tail);
        for r in records.chunks_exact(RECORD) {
            tail.insert(
                r[..32].try_into().expect("32 bytes"),
                r[32..].try_into().expect("40 bytes"),
            );
        }
        if tail.len() >= self.params.flush_at {
            self.pending.store(true, Ordering::Relaxed);
        }
    }

    /// Whether a step may have something to do.
    pub(crate) fn pending(&self) -> bool {
        self.pending.load(Ordering::Relaxed)
    }

    /// Forgets `author`'s ids above `seq` once their log is cut there: the
    /// tail's are dropped, and the mark is lowered to `seq` (in `batch`) so
    /// that the entries taking the cut ones' places are read into the tail
    /// after a restart.
    pub(crate) fn cut(
        &self,
        kv: &Kv,
        author: &AuthorId,
        seq: u64,
        batch: &mut Batch,
    ) -> Result<()> {
        lock(&self.tail).retain(|_, loc| {
            loc[..32] != author.as_bytes()[..]
                || u64::from_be_bytes(loc[32..].try_into().expect("8 bytes")) <= seq
        });
        if let Some(mark) = kv.get(mark_key(author))?
            && mark.as_ref() > &seq.to_be_bytes()[..]
        {
            batch.insert(mark_key(author), seq.to_be_bytes());
        }
        Ok(())
    }

    /// How many ids the tail holds (tests).
    #[cfg(test)]
    pub(crate) fn tail_len(&self) -> usize {
        lock(&self.tail).len()
    }

    fn runs(&self) -> Arc<Vec<(u64, Bloom)>> {
        Arc::clone(&self.runs.read().unwrap_or_else(|e| e.into_inner()))
    }
}

fn mark_key(author: &AuthorId) -> Vec<u8> {
    Space::IdMark.key(&[author.as_bytes()])
}

fn run_key(space: Space, run: u64) -> Vec<u8> {
    space.key(&[&run.to_be_bytes()])
}

fn run_of(space: Space, key: &[u8]) -> Result<u64> {
    space
        .rest(key)
        .and_then(|r| r.get(..8))
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| Error::Corrupt("id index key".into()))
}

/// A number no run, listed or being dropped, has.
fn next_run(kv: &Kv) -> Result<u64> {
    let mut next = 0;
    for space in [Space::IdRun, Space::IdDrop] {
        if let Some(item) = kv.scan_prefix(space.prefix()).next_back() {
            next = next.max(run_of(space, &item?.0)? + 1);
        }
    }
    Ok(next)
}

/// A block's key: its run, then its *last* id, so the block that may hold
/// an id is the first at or after it (a forward seek: sled 0.34's reverse
/// ones cost a feed page of lookups twice its time).
fn block_key(run: u64, last_id: &[u8]) -> Vec<u8> {
    Space::IdBlock.key(&[&run.to_be_bytes(), last_id])
}

fn records(bytes: &[u8]) -> Result<impl Iterator<Item = (Id, Location)> + '_> {
    if !bytes.len().is_multiple_of(RECORD) {
        return Err(Error::Corrupt("id block".into()));
    }
    Ok(bytes.chunks_exact(RECORD).map(|r| {
        (
            r[..32].try_into().expect("32 bytes"),
            r[32..].try_into().expect("40 bytes"),
        )
    }))
}

/// The location of `id` in `run`, if the run holds it.
fn find_in_run(kv: &Kv, run: u64, id: &EntryId) -> Result<Option<Location>> {
    let start = block_key(run, id.as_bytes());
    let end = block_key(run + 1, &[]);
    let Some(item) = kv.range(&start, &end).next() else {
        return Ok(None);
    };
    let (_, block) = item?;
    let records: Vec<(Id, Location)> = records(&block)?.collect();
    Ok(records
        .binary_search_by(|(r, _)| r.cmp(&id.0))
        .ok()
        .map(|i| records[i].1))
}

/// The location of `id` in the first of `runs` whose filter lets it
/// through and that holds it.
fn find_in_runs(kv: &Kv, runs: &[(u64, Bloom)], id: &EntryId) -> Result<Option<Location>> {
    for (run, bloom) in runs {
        if bloom.may_hold(&id.0)
            && let Some(loc) = find_in_run(kv, *run, id)?
        {
            return Ok(Some(loc));
        }
    }
    Ok(None)
}

/// Where `id` is stored, and whether that may be stale (anything but an
/// old single key: the caller checks the entry found there has that id).
pub(crate) fn location(store: &Store, id: &EntryId) -> Result<Option<(Vec<u8>, bool)>> {
    if let Some(loc) = lock(&store.ids.tail).get(&id.0) {
        return Ok(Some((loc.to_vec(), true)));
    }
    let kv = store.kv();
    // The runs are read before the old keys, and again at the end: a step
    // lists a run before it deletes the old keys or tail ids it holds.
    let runs = store.ids.runs();
    if store.ids.old_keys.load(Ordering::Relaxed) {
        let mut key = vec![ID];
        key.extend_from_slice(id.as_bytes());
        if let Some(loc) = kv.get(&key)? {
            return Ok(Some((loc.to_vec(), false)));
        }
    }
    let mut found = find_in_runs(kv, &runs, id)?;
    let now = store.ids.runs();
    if found.is_none() && !Arc::ptr_eq(&now, &runs) {
        found = find_in_runs(kv, &now, id)?;
    }
    Ok(found.map(|loc| (loc.to_vec(), true)))
}

/// Ids in the tail and the runs whose bytes lie in `[low, high]`, at most
/// `limit` (resolving a hex prefix; the caller checks each still names an
/// entry).
pub(crate) fn ids_between(
    store: &Store,
    low: &Id,
    high: &Id,
    limit: usize,
) -> Result<Vec<EntryId>> {
    let mut out: Vec<EntryId> = lock(&store.ids.tail)
        .range(*low..=*high)
        .take(limit)
        .map(|(id, _)| EntryId(*id))
        .collect();
    let kv = store.kv();
    for &(run, _) in store.ids.runs().iter() {
        if out.len() >= limit {
            break;
        }
        // The blocks from the one that may hold `low` (the first whose
        // last id is not below it) to the one that may hold `high`.
        'blocks: for item in kv.range(&block_key(run, low), &block_key(run + 1, &[])) {
            let (k, block) = item?;
            for (id, _) in records(&block)? {
                if &id >= low && &id <= high && !out.contains(&EntryId(id)) {
                    out.push(EntryId(id));
                    if out.len() >= limit {
                        break 'blocks;
                    }
                }
            }
            if k[k.len() - 32..] >= high[..] {
                break;
            }
        }
    }
    Ok(out)
}

impl Store {
    /// One bounded step of the id index's upkeep, if one is due: writing a
    /// full tail as a run, moving a slice of old single keys into one, or
    /// a slice of a dropped run's blocks. Returns whether it did anything.
    /// Called after writes; a step another thread is taking is not waited
    /// for.
    pub(crate) fn tidy_ids(&self) -> Result<bool> {
        let ids = &self.ids;
        if !ids.pending() {
            return Ok(false);
        }
        let Ok(_work) = ids.work.try_lock() else {
            return Ok(false);
        };
        if lock(&ids.tail).len() >= ids.params.flush_at {
            self.flush_tail()?;
            return Ok(true);
        }
        if ids.old_keys.load(Ordering::Relaxed) {
            self.move_old_keys()?;
            return Ok(true);
        }
        if drop_step(self.kv())? {
            return Ok(true);
        }
        ids.pending.store(false, Ordering::Relaxed);
        Ok(false)
    }

    /// Writes the tail's ids as a run, moving each author's mark past them,
    /// then takes them out of the tail.
    fn flush_tail(&self) -> Result<()> {
        let ids: Vec<(Id, Location)> = lock(&self.ids.tail).iter().map(|(i, l)| (*i, *l)).collect();
        let mut marks: BTreeMap<Id, u64> = BTreeMap::new();
        for (_, loc) in &ids {
            let author: Id = loc[..32].try_into().expect("32 bytes");
            let seq = u64::from_be_bytes(loc[32..].try_into().expect("8 bytes"));
            let mark = marks.entry(author).or_default();
            *mark = (*mark).max(seq);
        }
        let mut commit = Batch::default();
        for (author, seq) in marks {
            commit.insert(Space::IdMark.key(&[&author]), seq.to_be_bytes());
        }
        self.write_run(ids.iter().map(|(i, l)| (&i[..], &l[..])), ids.len(), commit)?;
        let mut tail = lock(&self.ids.tail);
        for (id, _) in &ids {
            tail.remove(id);
        }
        Ok(())
    }

    /// Moves up to `flush_at` ids kept as single keys (a store written
    /// before runs) into a run, then deletes those keys.
    fn move_old_keys(&self) -> Result<()> {
        let kv = self.kv();
        let mut old = Vec::with_capacity(self.ids.params.flush_at);
        for item in kv.scan_prefix([ID]).take(self.ids.params.flush_at) {
            let (k, v) = item?;
            if k.len() != 33 || v.len() != LOCATION {
                return Err(Error::Corrupt("id index record".into()));
            }
            old.push((k, v));
        }
        if old.is_empty() {
            self.ids.old_keys.store(false, Ordering::Relaxed);
            return Ok(());
        }
        self.write_run(
            old.iter().map(|(k, v)| (&k[1..], &v[..])),
            old.len(),
            Batch::default(),
        )?;
        for chunk in old.chunks(MAX_BATCH_OPS) {
            let mut batch = Batch::default();
            for (k, _) in chunk {
                batch.remove(k);
            }
            kv.apply(batch)?;
        }
        Ok(())
    }

    /// Writes `count` records, in key order, as a new run, and lists it
    /// (with its filter) in one batch with `commit`.
    fn write_run<'a>(
        &self,
        records: impl Iterator<Item = (&'a [u8], &'a [u8])>,
        count: usize,
        mut commit: Batch,
    ) -> Result<()> {
        let kv = self.kv();
        let block_ids = self.ids.params.block_ids;
        let run = next_run(kv)?;
        let mut bloom = Bloom::with_capacity(count);
        let mut batch = Batch::default();
        batch.insert(run_key(Space::IdDrop, run), []);
        let mut block = Vec::with_capacity(block_ids * RECORD);
        let mut records = records.peekable();
        while let Some((id, loc)) = records.next() {
            bloom.insert(id.try_into().expect("32 bytes"));
            block.extend_from_slice(id);
            block.extend_from_slice(loc);
            if block.len() == block_ids * RECORD || records.peek().is_none() {
                let last = &block[block.len() - RECORD..][..32];
                batch.insert(block_key(run, last), std::mem::take(&mut block));
                if batch.len() >= MAX_BATCH_OPS {
                    kv.apply(std::mem::take(&mut batch))?;
                }
            }
        }
        kv.apply(batch)?;
        commit.remove(run_key(Space::IdDrop, run));
        commit.insert(run_key(Space::IdRun, run), &bloom.0);
        kv.apply(commit)?;
        let mut listed = self.ids.runs.write().unwrap_or_else(|e| e.into_inner());
        let mut runs = Vec::with_capacity(listed.len() + 1);
        runs.push((run, bloom));
        runs.extend(listed.iter().cloned());
        *listed = Arc::new(runs);
        Ok(())
    }
}

/// Deletes a slice of the blocks of a run a crash left half written.
/// Returns whether there was one.
fn drop_step(kv: &Kv) -> Result<bool> {
    let Some(item) = kv.scan_prefix(Space::IdDrop.prefix()).next() else {
        return Ok(false);
    };
    let run = run_of(Space::IdDrop, &item?.0)?;
    let mut batch = Batch::default();
    let start = block_key(run, &[]);
    let end = block_key(run + 1, &[]);
    for item in kv.range(&start, &end).take(MAX_BATCH_OPS) {
        batch.remove(item?.0);
    }
    if batch.is_empty() {
        batch.remove(run_key(Space::IdDrop, run));
    }
    kv.apply(batch)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bloom_filter_holds_what_it_was_given_and_rarely_more() {
        // Ids are hashes: random bytes (xorshift) stand in for them.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut id = || {
            let mut out = [0u8; 32];
            for chunk in out.chunks_mut(8) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                chunk.copy_from_slice(&state.to_le_bytes());
            }
            out
        };
        let ids: Vec<Id> = (0..10_000).map(|_| id()).collect();
        let mut bloom = Bloom::with_capacity(ids.len());
        for id in &ids {
            bloom.insert(id);
        }
        assert!(ids.iter().all(|id| bloom.may_hold(id)));
        let false_positives = (0..10_000).filter(|_| bloom.may_hold(&id())).count();
        assert!(false_positives < 200, "{false_positives} of 10,000");
    }
}
