//! The id index: an entry's id → where the entry is stored (author, seq).
//!
//! Ids are hashes, so an index of one key per id gets its writes in random
//! order. In sled 0.34 each such write lands in a random leaf, which keeps
//! a chain of fragments in sled's page table and spreads garbage over
//! every log segment: at a million entries the id keys took the store from
//! 2.76× to 6.47× its bundle and the heap's growth from 1.9 to 9.4 MiB per
//! 100,000 entries (docs/BENCHMARKS.md, "What the id index costs sled").
//!
//! So only recent ids are single keys: the *tail* (`Space::Id`: id →
//! author seq), written with their entries in one batch, as before. Once the
//! tail holds [`Params::flush_at`] ids, they are moved in key order into a
//! *run*: sorted blocks of [`Params::block_ids`] records (`Space::IdBlock`:
//! run number, first id → records of id 32 + author 32 + seq 8), listed by
//! `Space::IdRun` (run number → how many ids). [`FAN_IN`] runs of one level
//! (sizes within a factor [`FAN_IN`]) are merged into one, so a million ids
//! lie in a dozen runs or fewer and each is rewritten a few times, always in
//! key order. Every step is bounded (one sled batch of blocks, or one slice
//! of deletions) and runs after a write ([`super::Store::apply`]), so a long
//! import or catch-up does the work in slices as it goes.
//!
//! Crash safety. A run being written is listed in `Space::IdDrop` until the
//! batch that lists it in `Space::IdRun`, which also moves the runs it
//! replaces to `IdDrop`; later steps delete the blocks of runs in `IdDrop`.
//! Tail keys are deleted only after the run holding them is listed. So a
//! crash anywhere leaves every id in the tail or in a listed run; one in
//! both has the same location there, which is harmless. A run's record can
//! outlive its entry (a revoked device's log is cut): a lookup through a
//! run checks that the entry it finds has that id.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

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

/// How big the tail and the blocks are (smaller in tests).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Params {
    /// Ids the tail holds before they are moved into a run.
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
    /// About how many ids the tail holds (exact after a flush that found
    /// too few; an estimate otherwise).
    tail: AtomicU64,
    /// Something may be left to do (a flush, a merge, blocks to drop).
    pending: AtomicBool,
    work: Mutex<Option<Merge>>,
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

impl IdRuns {
    /// The index of a store just opened: `tail` is what the store recorded
    /// at the last flush (None for a store written before runs existed,
    /// whose every id is in the tail: the first steps move them).
    pub(crate) fn new(params: Params, tail: Option<u64>) -> IdRuns {
        IdRuns {
            params,
            tail: AtomicU64::new(tail.unwrap_or(u64::MAX / 2)),
            pending: AtomicBool::new(true),
            work: Mutex::new(None),
        }
    }

    /// Counts ids written to the tail.
    pub(crate) fn added(&self, n: u64) {
        let was = self.tail.fetch_add(n, Ordering::Relaxed);
        if was + n >= self.params.flush_at as u64 {
            self.pending.store(true, Ordering::Relaxed);
        }
    }

    /// Whether a step may have something to do.
    pub(crate) fn pending(&self) -> bool {
        self.pending.load(Ordering::Relaxed)
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
        .ok_or_else(|| Error::Corrupt("id run key".into()))
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
fn find_in_run(kv: &Kv, run: u64, id: &EntryId) -> Result<Option<[u8; LOCATION]>> {
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

/// Where `id` is stored: the tail's record, or a run's (`true`: it may be
/// stale, so the caller checks the entry found there).
pub(crate) fn location(store: &Store, id: &EntryId) -> Result<Option<(Vec<u8>, bool)>> {
    let kv = store.kv();
    let mut key = vec![ID];
    key.extend_from_slice(id.as_bytes());
    if let Some(loc) = kv.get(&key)? {
        return Ok(Some((loc.to_vec(), false)));
    }
    // A merge that completes while this looks leaves the runs it read to
    // be dropped: if the list changed, look again in the new one.
    let mut listed = runs(kv)?;
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
    Ok(None)
}

/// Ids of the runs whose bytes lie in `[low, high]`, at most `limit`
/// (resolving a hex prefix; the caller checks each still names an entry).
pub(crate) fn run_ids_between(
    kv: &Kv,
    low: &[u8; 32],
    high: &[u8; 32],
    limit: usize,
) -> Result<Vec<EntryId>> {
    let mut out = Vec::new();
    for (run, _) in runs(kv)? {
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
        for item in kv.range(&start, &end) {
            let (_, block) = item?;
            for record in block.chunks_exact(RECORD) {
                let id: [u8; 32] = record[..32].try_into().expect("32 bytes");
                if &id >= low && &id <= high && !out.contains(&EntryId(id)) {
                    out.push(EntryId(id));
                    if out.len() >= limit {
                        return Ok(out);
                    }
                }
            }
        }
    }
    Ok(out)
}

impl Store {
    /// One bounded step of the id index's upkeep, if one is due: moving a
    /// full tail into a run, a slice of a merge, or a slice of a dropped
    /// run's blocks. Returns whether it did anything. Called after writes;
    /// a step another thread is taking is not waited for.
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
        if ids.tail.load(Ordering::Relaxed) >= params.flush_at as u64 && self.flush_tail()? {
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

    /// Moves the first `flush_at` ids of the tail into a new run; if the
    /// tail holds fewer, records how many and moves nothing.
    fn flush_tail(&self) -> Result<bool> {
        let kv = self.kv();
        let params = self.ids.params;
        let mut tail = Vec::with_capacity(params.flush_at);
        for item in kv.scan_prefix([ID]).take(params.flush_at) {
            let (k, v) = item?;
            if k.len() != 33 || v.len() != LOCATION {
                return Err(Error::Corrupt("id index record".into()));
            }
            tail.push((k, v));
        }
        if tail.len() < params.flush_at {
            self.ids.tail.store(tail.len() as u64, Ordering::Relaxed);
            return Ok(false);
        }
        let run = next_run(kv)?;
        let mut batch = Batch::default();
        batch.insert(run_key(Space::IdDrop, run), []);
        for chunk in tail.chunks(params.block_ids) {
            let mut block = Vec::with_capacity(chunk.len() * RECORD);
            for (k, v) in chunk {
                block.extend_from_slice(&k[1..]);
                block.extend_from_slice(v);
            }
            batch.insert(block_key(run, &chunk[0].0[1..]), block);
            if batch.len() >= MAX_BATCH_OPS {
                kv.apply(std::mem::take(&mut batch))?;
            }
        }
        kv.apply(batch)?;
        let left = self
            .ids
            .tail
            .load(Ordering::Relaxed)
            .saturating_sub(tail.len() as u64);
        let mut commit = Batch::default();
        commit.remove(run_key(Space::IdDrop, run));
        commit.insert(
            run_key(Space::IdRun, run),
            (tail.len() as u64).to_be_bytes(),
        );
        commit.insert(super::meta_key(TAIL_META), left.to_be_bytes());
        kv.apply(commit)?;
        let mut batch = Batch::default();
        for (k, _) in &tail {
            batch.remove(k);
            if batch.len() >= MAX_BATCH_OPS {
                kv.apply(std::mem::take(&mut batch))?;
            }
        }
        kv.apply(batch)?;
        self.ids.tail.store(left, Ordering::Relaxed);
        Ok(true)
    }
}

/// The store's meta record of the tail's size at the last flush.
pub(crate) const TAIL_META: &str = "id-tail";

/// Deletes a slice of the blocks of a run being dropped (not one a merge is
/// writing: that one is in `IdDrop` too until it is listed). Returns whether
/// there was one.
fn drop_step(kv: &Kv) -> Result<bool> {
    // A run being written by this process's merge is never the first
    // dropped one: its number is above every listed and dropped run when
    // it starts, and merges run one at a time, after the drops.
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
        let mut levels: std::collections::BTreeMap<u32, Vec<u64>> = Default::default();
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
            // The same id in two runs (a tail flushed twice around a
            // crash) has the same location: keep one.
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
