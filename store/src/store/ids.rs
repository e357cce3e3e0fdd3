//! The id index: an entry's id → where the entry is stored (author, seq).
//!
//! Ids are hashes. Kept as one key per id, the index got its writes in
//! random order, and in sled 0.34 each such write lands in a random leaf,
//! which keeps a chain of fragments in sled's page table and spreads
//! garbage over every log segment: at a million entries those keys took
//! the store from 2.76× to 6.47× its bundle and the heap's growth from 1.9
//! to 9.4 MiB per 100,000 entries (docs/BENCHMARKS.md, "What random-order
//! keys cost sled"). Moving ids from such keys into sorted runs later does
//! not help (tried: the single keys' writes cost the same); the ids must
//! never be single keys. So:
//!
//! - **The log.** Each write batch that stores entries also writes one
//!   record of their ids and locations under the next number
//!   (`Space::IdLog`), in the same atomic batch: keys in write order.
//! - **The tail.** The ids of the log's records are also held in memory,
//!   sorted (read back from the log when the store opens).
//! - **Runs.** Once the tail holds [`Params::flush_at`] ids they are written
//!   as a *run*: sorted blocks of [`Params::block_ids`] records
//!   (`Space::IdBlock`: run number, first id → records of id 32 + author 32
//!   + seq 8), listed by `Space::IdRun` (run number → how many ids); then
//!   the log records they came from are deleted. [`FAN_IN`] runs of one
//!   level (sizes within a factor [`FAN_IN`]) are merged into one, so a
//!   million ids lie in a dozen runs or fewer, each rewritten a few times,
//!   always in key order.
//!
//! Every step is bounded (one sled batch of blocks, or one slice of
//! deletions) and runs after a write ([`super::Store::apply`]), so a long
//! import or catch-up does the work in slices as it goes. A store written
//! before this layout has its ids as single keys (`Space::Id`); they are
//! read as they are and moved into runs in the same steps.
//!
//! Crash safety. A run being written is listed in `Space::IdDrop` until the
//! batch that lists it in `Space::IdRun`, which also moves the runs it
//! replaces to `IdDrop`; later steps delete the blocks of runs in `IdDrop`.
//! Log records (and old single keys) are deleted only after the run holding
//! their ids is listed. So a crash anywhere leaves every id in the log, an
//! old key or a listed run; one in two places has the same location in
//! both, which is harmless. A record can outlive its entry (a revoked
//! device's log is cut): a lookup checks that the entry it finds there has
//! that id.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use kith_protocol::EntryId;

use super::keyspace::Space;
use super::kv::{Batch, Kv};
use super::{ID, MAX_BATCH_OPS, Result, Store};
use crate::store::Error;

/// Runs of one level merged at a time; also the size factor between levels.
pub(crate) const FAN_IN: usize = 4;
/// Bytes of one record: id (32), author (32), seq (8).
const RECORD: usize = 72;
/// Bytes of a location: author (32), seq (8).
const LOCATION: usize = 40;

type Id = [u8; 32];
type Location = [u8; LOCATION];

/// How big the tail and the blocks are (smaller in tests).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Params {
    /// Ids the tail holds before they are written as a run.
    pub flush_at: usize,
    /// Records per block (64 × 72 bytes: a block of ~4.6 KB).
    pub block_ids: usize,
    /// Blocks a merge writes per step (one sled batch).
    pub step_blocks: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            flush_at: 16_384,
            block_ids: 64,
            step_blocks: MAX_BATCH_OPS,
        }
    }
}

/// The index's moving parts, shared by every clone of the store.
pub(crate) struct IdRuns {
    params: Params,
    /// Held from numbering a batch's log record until its ids are in the
    /// tail, so every record numbered up to `Tail::applied` is applied and
    /// in the tail when a flush deletes the records it wrote as a run.
    writing: Mutex<()>,
    tail: Mutex<Tail>,
    /// The store still has ids as single keys (`Space::Id`).
    old_keys: AtomicBool,
    /// Something may be left to do (a flush, a merge, blocks to drop).
    pending: AtomicBool,
    work: Mutex<Option<Merge>>,
}

/// The ids of the log's records, in memory.
#[derive(Default)]
struct Tail {
    ids: BTreeMap<Id, Location>,
    /// The next log record's number.
    next: u64,
    /// The highest record number whose ids are in `ids`.
    applied: Option<u64>,
}

/// A merge under way: its inputs' next records and the run it writes.
struct Merge {
    output: u64,
    inputs: Vec<Input>,
    /// Records not yet in a block, in key order.
    pending: Vec<u8>,
    written: u64,
}

struct Input {
    run: u64,
    /// The key of the block last read (the next is after it).
    last_block: Option<Vec<u8>>,
    records: VecDeque<[u8; RECORD]>,
    done: bool,
}

/// A log record's ids, to be put in the tail once its batch is applied.
pub(crate) struct Logged {
    number: u64,
    records: Vec<u8>,
}

fn records(bytes: &[u8]) -> Result<impl Iterator<Item = (Id, Location)> + '_> {
    if bytes.len() % RECORD != 0 {
        return Err(Error::Corrupt("id index record".into()));
    }
    Ok(bytes.chunks_exact(RECORD).map(|r| {
        (
            r[..32].try_into().expect("32 bytes"),
            r[32..].try_into().expect("40 bytes"),
        )
    }))
}

impl IdRuns {
    /// The index of a store being opened: the tail read back from the log.
    pub(crate) fn open(kv: &Kv, params: Params) -> Result<IdRuns> {
        let mut tail = Tail::default();
        for item in kv.scan_prefix(Space::IdLog.prefix()) {
            let (k, v) = item?;
            let number = run_of(Space::IdLog, &k)?;
            tail.ids.extend(records(&v)?);
            tail.next = number + 1;
            tail.applied = Some(number);
        }
        let old_keys = kv.scan_prefix([ID]).next().is_some();
        Ok(IdRuns {
            params,
            writing: Mutex::new(()),
            tail: Mutex::new(tail),
            old_keys: AtomicBool::new(old_keys),
            pending: AtomicBool::new(true),
            work: Mutex::new(None),
        })
    }

    /// Taken before [`IdRuns::log`] and held until [`IdRuns::applied`]
    /// (None for a batch that stores no entry).
    pub(crate) fn writing(&self, batch: &Batch) -> Option<std::sync::MutexGuard<'_, ()>> {
        (!batch.ids.is_empty()).then(|| self.writing.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Writes the ids `batch` stores as the log's next record, in `batch`.
    pub(crate) fn log(&self, batch: &mut Batch) -> Option<Logged> {
        if batch.ids.is_empty() {
            return None;
        }
        let records = std::mem::take(&mut batch.ids);
        let number = {
            let mut tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
            tail.next += 1;
            tail.next - 1
        };
        batch.insert(run_key(Space::IdLog, number), &records);
        Some(Logged { number, records })
    }

    /// Puts the ids of an applied batch in the tail.
    pub(crate) fn applied(&self, logged: Logged) {
        let mut tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        if let Ok(records) = records(&logged.records) {
            tail.ids.extend(records);
        }
        tail.applied = tail.applied.max(Some(logged.number));
        if tail.ids.len() >= self.params.flush_at {
            self.pending.store(true, Ordering::Relaxed);
        }
    }

    /// Whether a step may have something to do.
    pub(crate) fn pending(&self) -> bool {
        self.pending.load(Ordering::Relaxed)
    }

    fn tail_len(&self) -> usize {
        self.tail.lock().unwrap_or_else(|e| e.into_inner()).ids.len()
    }

    /// The run a merge under way is writing (tests).
    #[cfg(test)]
    pub(crate) fn merging_into(&self) -> Option<u64> {
        self.work.lock().ok()?.as_ref().map(|m| m.output)
    }
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

/// The listed runs, newest first, with their sizes.
fn runs(kv: &Kv) -> Result<Vec<(u64, u64)>> {
    let mut out = Vec::new();
    for item in kv.scan_prefix(Space::IdRun.prefix()) {
        let (k, v) = item?;
        let count = v
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_be_bytes)
            .ok_or_else(|| Error::Corrupt("id run record".into()))?;
        out.push((run_of(Space::IdRun, &k)?, count));
    }
    out.reverse();
    Ok(out)
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

fn level(count: u64, params: &Params) -> u32 {
    let mut level = 0;
    let mut size = (params.flush_at as u64).max(1) * FAN_IN as u64;
    while count >= size {
        level += 1;
        size = size.saturating_mul(FAN_IN as u64);
    }
    level
}

fn block_key(run: u64, first_id: &[u8]) -> Vec<u8> {
    Space::IdBlock.key(&[&run.to_be_bytes(), first_id])
}

/// The location of `id` in `run`, if the run holds it.
fn find_in_run(kv: &Kv, run: u64, id: &EntryId) -> Result<Option<Location>> {
    let start = block_key(run, &[]);
    let mut end = block_key(run, id.as_bytes());
    end.push(0);
    let Some(item) = kv.range(&start, &end).next_back() else {
        return Ok(None);
    };
    let (_, block) = item?;
    if block.len() % RECORD != 0 {
        return Err(Error::Corrupt("id block".into()));
    }
    let records: Vec<&[u8]> = block.chunks(RECORD).collect();
    Ok(records
        .binary_search_by(|r| r[..32].cmp(id.as_bytes()))
        .ok()
        .map(|i| records[i][32..].try_into().expect("a record's location")))
}

/// Where `id` is stored, and whether that may be stale (anything but an
/// old single key: the caller checks the entry found there has that id).
pub(crate) fn location(store: &Store, id: &EntryId) -> Result<Option<(Vec<u8>, bool)>> {
    if let Some(loc) = store.ids.tail.lock().unwrap_or_else(|e| e.into_inner()).ids.get(&id.0) {
        return Ok(Some((loc.to_vec(), true)));
    }
    let kv = store.kv();
    // Read the runs before the old keys: a step that moves old keys lists
    // their run before deleting them.
    let mut listed = runs(kv)?;
    if store.ids.old_keys.load(Ordering::Relaxed) {
        let mut key = vec![ID];
        key.extend_from_slice(id.as_bytes());
        if let Some(loc) = kv.get(&key)? {
            return Ok(Some((loc.to_vec(), false)));
        }
    }
    // A merge or flush that completes while this looks changes the list
    // (the runs it read are then dropped): look again in the new one.
    for _ in 0..3 {
        for &(run, _) in &listed {
            if let Some(loc) = find_in_run(kv, run, id)? {
                return Ok(Some((loc.to_vec(), true)));
            }
        }
        let now = runs(kv)?;
        if now == listed {
            break;
        }
        listed = now;
    }
    // Ids a flush just moved from the tail into a run it listed after
    // this looked at the tail.
    let tail = store.ids.tail.lock().unwrap_or_else(|e| e.into_inner());
    Ok(tail.ids.get(&id.0).map(|loc| (loc.to_vec(), true)))
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
    let mut out: Vec<EntryId> = {
        let tail = store.ids.tail.lock().unwrap_or_else(|e| e.into_inner());
        tail.ids
            .range(*low..=*high)
            .take(limit)
            .map(|(id, _)| EntryId(*id))
            .collect()
    };
    let kv = store.kv();
    for (run, _) in runs(kv)? {
        if out.len() >= limit {
            break;
        }
        // The block that may hold `low`, then those that start before `high`.
        let mut before = block_key(run, low);
        before.push(0);
        let first = kv
            .range(&block_key(run, &[]), &before)
            .next_back()
            .transpose()?
            .map(|(k, _)| k.to_vec());
        let start = first.unwrap_or(before);
        let mut end = block_key(run, high);
        end.push(0);
        'blocks: for item in kv.range(&start, &end) {
            let (_, block) = item?;
            for (id, _) in records(&block)? {
                if &id >= low && &id <= high && !out.contains(&EntryId(id)) {
                    out.push(EntryId(id));
                    if out.len() >= limit {
                        break 'blocks;
                    }
                }
            }
        }
    }
    Ok(out)
}

impl Store {
    /// One bounded step of the id index's upkeep, if one is due: writing a
    /// full tail as a run, moving a slice of old single keys into one, a
    /// slice of a merge, or a slice of a dropped run's blocks. Returns
    /// whether it did anything. Called after writes; a step another thread
    /// is taking is not waited for.
    pub(crate) fn tidy_ids(&self) -> Result<bool> {
        let ids = &self.ids;
        if !ids.pending() {
            return Ok(false);
        }
        let Ok(mut work) = ids.work.try_lock() else {
            return Ok(false);
        };
        let kv = self.kv();
        let params = ids.params;
        if ids.tail_len() >= params.flush_at {
            self.flush_tail()?;
            return Ok(true);
        }
        if ids.old_keys.load(Ordering::Relaxed) {
            self.move_old_keys()?;
            return Ok(true);
        }
        if let Some(merge) = work.as_mut() {
            if merge.step(kv, &params)? {
                *work = None;
            }
            return Ok(true);
        }
        if drop_step(kv)? {
            return Ok(true);
        }
        if let Some(merge) = Merge::start(kv, &params)? {
            *work = Some(merge);
            return Ok(true);
        }
        ids.pending.store(false, Ordering::Relaxed);
        Ok(false)
    }

    /// Writes the tail's ids as a run, then deletes the log records they
    /// came from and takes them out of the tail.
    fn flush_tail(&self) -> Result<()> {
        let (ids, covered) = {
            let tail = self.ids.tail.lock().unwrap_or_else(|e| e.into_inner());
            let ids: Vec<(Id, Location)> = tail.ids.iter().map(|(i, l)| (*i, *l)).collect();
            (ids, tail.applied)
        };
        self.write_run(ids.iter().map(|(i, l)| (&i[..], &l[..])), ids.len())?;
        if let Some(covered) = covered {
            let start = run_key(Space::IdLog, 0);
            let end = run_key(Space::IdLog, covered + 1);
            let logged: Vec<Vec<u8>> = self
                .kv()
                .range(&start, &end)
                .map(|item| item.map(|(k, _)| k.to_vec()))
                .collect::<std::result::Result<_, _>>()?;
            remove_all(self.kv(), logged)?;
        }
        let mut tail = self.ids.tail.lock().unwrap_or_else(|e| e.into_inner());
        for (id, _) in &ids {
            tail.ids.remove(id);
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
        self.write_run(old.iter().map(|(k, v)| (&k[1..], &v[..])), old.len())?;
        remove_all(kv, old.into_iter().map(|(k, _)| k.to_vec()).collect())
    }

    /// Writes `count` records, in key order, as a new run and lists it.
    fn write_run<'a>(
        &self,
        records: impl Iterator<Item = (&'a [u8], &'a [u8])>,
        count: usize,
    ) -> Result<()> {
        let kv = self.kv();
        let block_ids = self.ids.params.block_ids;
        let run = next_run(kv)?;
        let mut batch = Batch::default();
        batch.insert(run_key(Space::IdDrop, run), []);
        let mut block = Vec::with_capacity(block_ids * RECORD);
        let mut records = records.peekable();
        while let Some((id, loc)) = records.next() {
            block.extend_from_slice(id);
            block.extend_from_slice(loc);
            if block.len() == block_ids * RECORD || records.peek().is_none() {
                batch.insert(block_key(run, &block[..32]), std::mem::take(&mut block));
                if batch.len() >= MAX_BATCH_OPS {
                    kv.apply(std::mem::take(&mut batch))?;
                }
            }
        }
        kv.apply(batch)?;
        let mut commit = Batch::default();
        commit.remove(run_key(Space::IdDrop, run));
        commit.insert(run_key(Space::IdRun, run), (count as u64).to_be_bytes());
        kv.apply(commit)?;
        Ok(())
    }
}

/// Deletes `keys` in bounded batches.
fn remove_all(kv: &Kv, keys: Vec<Vec<u8>>) -> Result<()> {
    for chunk in keys.chunks(MAX_BATCH_OPS) {
        let mut batch = Batch::default();
        for k in chunk {
            batch.remove(k);
        }
        kv.apply(batch)?;
    }
    Ok(())
}

/// Deletes a slice of the blocks of a run being dropped. Returns whether
/// there was one. (The run a merge is writing is in `IdDrop` too until it
/// is listed, but drops run only between merges.)
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

impl Merge {
    /// Starts merging the oldest [`FAN_IN`] runs of the lowest level that
    /// has that many, if one does.
    fn start(kv: &Kv, params: &Params) -> Result<Option<Merge>> {
        let mut listed = runs(kv)?;
        listed.reverse();
        let mut levels: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
        for (run, count) in listed {
            levels.entry(level(count, params)).or_default().push(run);
        }
        let Some(inputs) = levels.into_values().find(|runs| runs.len() >= FAN_IN) else {
            return Ok(None);
        };
        let output = next_run(kv)?;
        kv.insert(run_key(Space::IdDrop, output), [])?;
        Ok(Some(Merge {
            output,
            inputs: inputs[..FAN_IN]
                .iter()
                .map(|&run| Input {
                    run,
                    last_block: None,
                    records: VecDeque::new(),
                    done: false,
                })
                .collect(),
            pending: Vec::new(),
            written: 0,
        }))
    }

    /// Writes up to one batch of merged blocks; at the end lists the output
    /// and drops the inputs. Returns whether the merge is complete.
    fn step(&mut self, kv: &Kv, params: &Params) -> Result<bool> {
        let mut batch = Batch::default();
        loop {
            for input in &mut self.inputs {
                input.fill(kv)?;
            }
            let next = self
                .inputs
                .iter()
                .enumerate()
                .filter_map(|(i, input)| input.records.front().map(|r| (i, r)))
                .min_by(|a, b| a.1[..32].cmp(&b.1[..32]))
                .map(|(i, _)| i);
            let Some(i) = next else { break };
            let record = self.inputs[i].records.pop_front().expect("a front record");
            // The same id in two runs (moved twice around a crash) has
            // the same location: keep one.
            let duplicate = self.pending.len() >= RECORD
                && self.pending[self.pending.len() - RECORD..][..32] == record[..32];
            if !duplicate {
                self.pending.extend_from_slice(&record);
            }
            if self.pending.len() >= params.block_ids * RECORD {
                self.write_block(&mut batch);
                if batch.len() >= params.step_blocks {
                    kv.apply(batch)?;
                    return Ok(false);
                }
            }
        }
        if !self.pending.is_empty() {
            self.write_block(&mut batch);
        }
        kv.apply(batch)?;
        let mut commit = Batch::default();
        commit.remove(run_key(Space::IdDrop, self.output));
        commit.insert(run_key(Space::IdRun, self.output), self.written.to_be_bytes());
        for input in &self.inputs {
            commit.remove(run_key(Space::IdRun, input.run));
            commit.insert(run_key(Space::IdDrop, input.run), []);
        }
        kv.apply(commit)?;
        Ok(true)
    }

    fn write_block(&mut self, batch: &mut Batch) {
        let block = std::mem::take(&mut self.pending);
        self.written += (block.len() / RECORD) as u64;
        batch.insert(block_key(self.output, &block[..32]), block);
    }
}

impl Input {
    /// Reads the run's next block once the records read are used up.
    fn fill(&mut self, kv: &Kv) -> Result<()> {
        if !self.records.is_empty() || self.done {
            return Ok(());
        }
        let start = match &self.last_block {
            Some(last) => {
                let mut after = last.clone();
                after.push(0);
                after
            }
            None => block_key(self.run, &[]),
        };
        let end = block_key(self.run + 1, &[]);
        match kv.range(&start, &end).next().transpose()? {
            None => self.done = true,
            Some((k, block)) => {
                if block.len() % RECORD != 0 {
                    return Err(Error::Corrupt("id block".into()));
                }
                self.records = block
                    .chunks_exact(RECORD)
                    .map(|r| r.try_into().expect("a record"))
                    .collect();
                self.last_block = Some(k.to_vec());
            }
        }
        Ok(())
    }
}
