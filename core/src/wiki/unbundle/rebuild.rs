//! Rebuilding each change as a standard change chunk (§7.1.7), in the
//! canonical column forms, and its hash.

use super::*;

/// What the rebuilt changes may still take, in bytes.
pub(super) struct Budget(pub(super) Cell<usize>);

impl Budget {
    pub(super) fn spend(&self, n: usize) -> Result<()> {
        let left = self.0.get();
        if n > left {
            return Err(TooLarge("the rebuilt changes are over 64 MiB"));
        }
        self.0.set(left - n);
        Ok(())
    }
}

/// Bytes being written, each charged to the budget.
pub(super) struct Out<'b> {
    pub(super) bytes: Vec<u8>,
    pub(super) budget: &'b Budget,
}

impl<'b> Out<'b> {
    pub(super) fn new(budget: &'b Budget) -> Self {
        Out {
            bytes: Vec::new(),
            budget,
        }
    }

    pub(super) fn varint(&mut self, n: u64) -> Result<()> {
        let before = self.bytes.len();
        put_varint(&mut self.bytes, n);
        self.budget.spend(self.bytes.len() - before)
    }

    pub(super) fn leb(&mut self, n: i64) -> Result<()> {
        let before = self.bytes.len();
        put_leb(&mut self.bytes, n);
        self.budget.spend(self.bytes.len() - before)
    }

    pub(super) fn bytes(&mut self, bytes: &[u8]) -> Result<()> {
        self.budget.spend(bytes.len())?;
        self.bytes.extend_from_slice(bytes);
        Ok(())
    }
}

/// Writes `values` as a canonical run-length column (§7.1.4): maximal runs
/// of equal values; null runs, repeated runs of two or more, and the single
/// values between them gathered into literal runs.
pub(super) fn rle<V: Copy + PartialEq>(
    out: &mut Out<'_>,
    values: impl IntoIterator<Item = Option<V>>,
    pack: impl Fn(&mut Out<'_>, V) -> Result<()>,
) -> Result<()> {
    let mut literal: Vec<V> = Vec::new();
    let mut run: Option<(Option<V>, u64)> = None;
    let flush = |out: &mut Out<'_>, literal: &mut Vec<V>| -> Result<()> {
        if !literal.is_empty() {
            // At most `MAX_OPS` values: the length fits.
            out.leb(-(literal.len() as i64))?;
            for v in literal.drain(..) {
                pack(out, v)?;
            }
        }
        Ok(())
    };
    let end_run = |out: &mut Out<'_>, literal: &mut Vec<V>, value, n: u64| -> Result<()> {
        match value {
            None => {
                flush(out, literal)?;
                out.leb(0)?;
                out.varint(n)
            }
            Some(v) if n >= 2 => {
                flush(out, literal)?;
                out.leb(n as i64)?;
                pack(out, v)
            }
            Some(v) => {
                literal.push(v);
                Ok(())
            }
        }
    };
    for value in values {
        match &mut run {
            Some((current, n)) if *current == value => *n += 1,
            _ => {
                if let Some((current, n)) = run.take() {
                    end_run(out, &mut literal, current, n)?;
                }
                run = Some((value, 1));
            }
        }
    }
    if let Some((current, n)) = run {
        end_run(out, &mut literal, current, n)?;
    }
    flush(out, &mut literal)
}

/// Writes `values` as a canonical delta column.
pub(super) fn delta(
    out: &mut Out<'_>,
    values: impl IntoIterator<Item = Option<u64>>,
) -> Result<()> {
    let mut previous = 0i64;
    let mut deltas = Vec::new();
    for value in values {
        deltas.push(match value {
            None => None,
            Some(v) => {
                let v = i64::try_from(v).map_err(|_| Unspecified("a counter over 63 bits"))?;
                let d = v
                    .checked_sub(previous)
                    .ok_or(Unspecified("a delta overflows 64 bits"))?;
                previous = v;
                Some(d)
            }
        });
    }
    rle(out, deltas, |out, d| out.leb(d))
}

/// Writes `values` as a canonical boolean column.
pub(super) fn bools(out: &mut Out<'_>, values: impl IntoIterator<Item = bool>) -> Result<()> {
    let (mut current, mut n, mut any) = (false, 0u64, false);
    for value in values {
        any = true;
        if value == current {
            n += 1;
        } else {
            out.varint(n)?;
            (current, n) = (value, 1);
        }
    }
    if any {
        out.varint(n)?;
    }
    Ok(())
}

/// The op columns of a change chunk being written, in order.
pub(super) struct ChunkColumns<'b> {
    pub(super) list: Vec<(u32, Vec<u8>)>,
    pub(super) budget: &'b Budget,
}

impl<'b> ChunkColumns<'b> {
    /// Writes a column; one that comes out empty is left out (§7.1.7).
    pub(super) fn add(
        &mut self,
        spec: u32,
        write: impl FnOnce(&mut Out<'b>) -> Result<()>,
    ) -> Result<()> {
        let mut out = Out::new(self.budget);
        write(&mut out)?;
        self.add_written(spec, out);
        Ok(())
    }

    pub(super) fn add_written(&mut self, spec: u32, out: Out<'b>) {
        if !out.bytes.is_empty() {
            self.list.push((spec, out.bytes));
        }
    }
}

/// Rebuilds changes as change chunks (§7.1.7).
pub(super) struct Rebuild<'r> {
    pub(super) chunk: &'r Chunk<'r>,
    pub(super) changes: &'r Changes<'r>,
    pub(super) ops: &'r Ops<'r>,
    pub(super) budget: &'r Budget,
}

/// The local number of actor `a` in a change chunk whose other actors are
/// `others` (sorted): 0 is the change's own actor.
fn local(others: &[u32], a: u32) -> u64 {
    match others.binary_search(&a) {
        Ok(i) => i as u64 + 1,
        Err(_) => 0,
    }
}

impl Rebuild<'_> {
    /// The change chunk of `change`, and its hash.
    pub(super) fn change(
        &self,
        change: &Change,
        gathered: &Gathered,
        deps: &[[u8; 32]],
    ) -> Result<(Vec<u8>, [u8; 32])> {
        let ops: Vec<&Op> = gathered
            .ops
            .iter()
            .filter_map(|&i| self.ops.list.get(i as usize))
            .collect();
        let others = self.others(change, &ops);
        let mut other_ids = Vec::with_capacity(others.len());
        for &a in &others {
            other_ids.push(
                self.chunk
                    .actor(a)
                    .ok_or(Malformed("an op names an actor not in the actor table"))?,
            );
        }
        let mut columns = ChunkColumns {
            list: Vec::new(),
            budget: self.budget,
        };
        self.place_columns(&mut columns, &ops, &others)?;
        self.op_columns(&mut columns, &ops, &others)?;
        self.chunk_of(change, gathered, deps, &other_ids, columns)
    }

    /// The actors other than the change's own that its ops name, in the
    /// order of the actor table.
    fn others(&self, change: &Change, ops: &[&Op]) -> Vec<u32> {
        let mut others: Vec<u32> = Vec::new();
        for op in ops {
            others.extend(op.obj.map(|(_, a)| a));
            if let Key::Elem(_, a) = op.key {
                others.push(a);
            }
            others.extend(self.ops.preds_of(op).iter().map(|&(_, a)| a));
        }
        others.sort_unstable();
        others.dedup();
        others.retain(|&a| a != change.actor);
        others
    }

    /// Where each op acts: the object and key columns.
    fn place_columns(
        &self,
        columns: &mut ChunkColumns<'_>,
        ops: &[&Op],
        others: &[u32],
    ) -> Result<()> {
        let uint = |out: &mut Out<'_>, v: u64| out.varint(v);
        if ops.iter().any(|op| op.obj.is_some()) {
            columns.add(spec::OBJ_ACTOR, |out| {
                rle(
                    out,
                    ops.iter().map(|op| op.obj.map(|(_, a)| local(others, a))),
                    uint,
                )
            })?;
            columns.add(spec::CHUNK_OBJ_CTR, |out| {
                rle(out, ops.iter().map(|op| op.obj.map(|(c, _)| c)), uint)
            })?;
        }
        let key_actor = |op: &&&Op| match op.key {
            Key::Elem(_, a) => Some(local(others, a)),
            _ => None,
        };
        if ops.iter().any(|op| key_actor(&op).is_some()) {
            columns.add(spec::KEY_ACTOR, |out| {
                rle(out, ops.iter().map(|op| key_actor(&op)), uint)
            })?;
        }
        let key_ctr = |op: &&&Op| match op.key {
            Key::Map(_) => None,
            Key::Head => Some(0),
            Key::Elem(c, _) => Some(c),
        };
        if ops.iter().any(|op| key_ctr(&op).is_some()) {
            columns.add(spec::KEY_CTR, |out| {
                delta(out, ops.iter().map(|op| key_ctr(&op)))
            })?;
        }
        let key_str = |op: &&&Op| match op.key {
            Key::Map(s) => Some(s),
            _ => None,
        };
        if ops.iter().any(|op| key_str(&op).is_some()) {
            let keys = &self.ops.keys;
            columns.add(spec::KEY_STR, |out| {
                rle(out, ops.iter().map(|op| key_str(&op)), |out, s| {
                    string(keys, out, s)
                })
            })?;
        }
        Ok(())
    }

    /// What each op does: insert, action, value, preds and mark columns.
    fn op_columns(
        &self,
        columns: &mut ChunkColumns<'_>,
        ops: &[&Op],
        others: &[u32],
    ) -> Result<()> {
        let uint = |out: &mut Out<'_>, v: u64| out.varint(v);
        let preds = || ops.iter().flat_map(|op| self.ops.preds_of(op));
        columns.add(spec::INSERT, |out| {
            bools(out, ops.iter().map(|op| op.insert))
        })?;
        columns.add(spec::ACTION, |out| {
            rle(out, ops.iter().map(|op| Some(u64::from(op.action))), uint)
        })?;
        // The values, re-encoded canonically, and their metadata words.
        let mut value = Out::new(columns.budget);
        let mut metas = Vec::with_capacity(ops.len());
        for op in ops {
            let before = value.bytes.len();
            match op.value {
                Value::Empty => {}
                Value::Uint(v) => value.varint(v)?,
                Value::Int(v) => value.leb(v)?,
                raw @ Value::Raw(..) => value.bytes(self.ops.value_bytes(raw))?,
            }
            let len = (value.bytes.len() - before) as u64;
            metas.push(Some(len << 4 | u64::from(op.code)));
        }
        columns.add(spec::VALUE_META, |out| {
            rle(out, metas.iter().copied(), uint)
        })?;
        columns.add_written(spec::VALUE, value);
        columns.add(spec::PRED_COUNT, |out| {
            rle(out, ops.iter().map(|op| Some(u64::from(op.preds.1))), uint)
        })?;
        columns.add(spec::PRED_ACTOR, |out| {
            rle(out, preds().map(|&(_, a)| Some(local(others, a))), uint)
        })?;
        columns.add(spec::PRED_CTR, |out| {
            delta(out, preds().map(|&(c, _)| Some(c)))
        })?;
        if ops.iter().any(|op| op.expand) {
            columns.add(spec::EXPAND, |out| {
                bools(out, ops.iter().map(|op| op.expand))
            })?;
        }
        if ops.iter().any(|op| op.mark.is_some()) {
            let marks = &self.ops.marks;
            columns.add(spec::MARK_NAME, |out| {
                rle(out, ops.iter().map(|op| op.mark), |out, s| {
                    string(marks, out, s)
                })
            })?;
        }
        Ok(())
    }

    /// The change chunk: its header fields, the columns, the extra bytes,
    /// and the hash over them.
    fn chunk_of(
        &self,
        change: &Change,
        gathered: &Gathered,
        deps: &[[u8; 32]],
        other_ids: &[&[u8]],
        columns: ChunkColumns<'_>,
    ) -> Result<(Vec<u8>, [u8; 32])> {
        let mut data = Out::new(self.budget);
        data.varint(deps.len() as u64)?;
        for hash in deps {
            data.bytes(hash)?;
        }
        let actor = self
            .chunk
            .actor(change.actor)
            .ok_or(Malformed("a change's actor is not in the actor table"))?;
        data.varint(actor.len() as u64)?;
        data.bytes(actor)?;
        data.varint(change.seq)?;
        data.varint(gathered.start_op)?;
        data.leb(change.time)?;
        let message = change
            .message
            .map_or(&[][..], |m| self.changes.messages.text(m));
        data.varint(message.len() as u64)?;
        data.bytes(message)?;
        data.varint(other_ids.len() as u64)?;
        for id in other_ids {
            data.varint(id.len() as u64)?;
            data.bytes(id)?;
        }
        data.varint(columns.list.len() as u64)?;
        for (spec, column) in &columns.list {
            data.varint(u64::from(*spec))?;
            data.varint(column.len() as u64)?;
        }
        for (_, column) in columns.list {
            // Charged when it was written.
            data.bytes.extend_from_slice(&column);
        }
        let extra = self.chunk.changes.get(spec::EXTRA);
        data.bytes(extra.get(change.extra.clone()).unwrap_or_default())?;

        let mut head = vec![1];
        put_varint(&mut head, data.bytes.len() as u64);
        let hash: [u8; 32] = Sha256::new()
            .chain_update(&head)
            .chain_update(&data.bytes)
            .finalize()
            .into();
        let mut chunk = Vec::with_capacity(8 + head.len() + data.bytes.len());
        chunk.extend_from_slice(&MAGIC);
        chunk.extend_from_slice(hash.get(..4).unwrap_or_default());
        chunk.extend_from_slice(&head);
        chunk.extend_from_slice(&data.bytes);
        Ok((chunk, hash))
    }
}

/// A string value of a column: its length, then its bytes.
fn string(strings: &Strings<'_>, out: &mut Out<'_>, n: u32) -> Result<()> {
    let text = strings.text(n);
    out.varint(text.len() as u64)?;
    out.bytes(text)
}
