//! The bundle chunk (§7.1.2, §7.1.3) and its change columns (§7.1.5).

use super::*;

/// One column set (§7.1.3), DEFLATEd columns inflated. Of two columns with
/// one spec, the last counts (§7.1.8, 13).
pub(super) struct Columns<'a>(pub(super) HashMap<u32, Cow<'a, [u8]>>);

impl Columns<'_> {
    pub(super) fn get(&self, spec: u32) -> &[u8] {
        self.0.get(&spec).map_or(&[], |c| c)
    }

    pub(super) fn has(&self, spec: u32) -> bool {
        self.0.contains_key(&spec)
    }
}

/// The bundle chunk, parsed (§7.1.2, §7.1.3).
pub(super) struct Chunk<'a> {
    /// The external dependencies, 32 bytes each.
    pub(super) ext: &'a [u8],
    pub(super) actors: Vec<&'a [u8]>,
    pub(super) changes: Columns<'a>,
    pub(super) ops: Columns<'a>,
}

impl<'a> Chunk<'a> {
    pub(super) fn parse(bundle: &'a [u8]) -> Result<Self> {
        let header = bundle.get(..9).ok_or(Malformed("not an Automerge chunk"))?;
        if header[..4] != MAGIC {
            return Err(Malformed("not an Automerge chunk"));
        }
        // Types 00, 01 and 02 read as a bundle (§7.1.8, 12).
        if header[8] > 3 {
            return Err(Malformed("an unknown chunk type"));
        }
        let mut pos = 9;
        let len = read_varint(bundle, &mut pos)?;
        if slice(bundle, pos, len).is_none() {
            return Err(Malformed("the chunk is shorter than its length"));
        }
        // The body runs to the end of the data, whatever `len` says, and
        // the checksum is not checked (§7.1.8, 12).
        let body = bundle.get(pos..).unwrap_or_default();
        let mut pos = 0;
        let n_ext = read_varint(body, &mut pos)?;
        let ext = n_ext
            .checked_mul(32)
            .and_then(|len| slice(body, pos, len))
            .ok_or(Malformed("an external dependency is cut off"))?;
        pos += ext.len();
        let n_actors = read_varint(body, &mut pos)?;
        if n_actors > MAX_ACTORS {
            return Err(TooLarge("more than 1,048,576 actors"));
        }
        let mut actors = Vec::new();
        // Each actor consumes at least its length byte.
        for _ in 0..n_actors {
            let len = read_varint(body, &mut pos)?;
            let actor = slice(body, pos, len).ok_or(Malformed("an actor id is cut off"))?;
            pos += actor.len();
            actors.push(actor);
        }
        let mut inflated = 0;
        let changes = read_columns(body, &mut pos, &spec::CHANGE, &mut inflated)?;
        let ops = read_columns(body, &mut pos, &spec::OP, &mut inflated)?;
        // Anything after the op columns is ignored (§7.1.8, 12).
        Ok(Chunk {
            ext,
            actors,
            changes,
            ops,
        })
    }

    pub(super) fn actor(&self, index: u32) -> Option<&'a [u8]> {
        self.actors.get(index as usize).copied()
    }

    /// The hash that DEPS value `d` of change `i` (of `n`) names (§7.1.5):
    /// an earlier change of the bundle, or an external hash.
    pub(super) fn dependency(
        &self,
        d: i64,
        i: usize,
        n: usize,
        built: &[[u8; 32]],
    ) -> Result<[u8; 32]> {
        let hash = usize::try_from(d).ok().and_then(|d| {
            if d < i {
                built.get(d).copied()
            } else {
                let external = d.checked_sub(n)?.checked_mul(32)?;
                slice(self.ext, external, 32)?.try_into().ok()
            }
        });
        hash.ok_or(Malformed("a dependency index points nowhere"))
    }
}

/// A column set's metadata and data (§7.1.3; a change chunk's are alike).
/// The metadata is read twice, first to measure the data, then to walk the
/// columns, so that nothing is kept per column: 0.12.0 allows a spec to
/// occur any number of times.
pub(super) struct ColumnSet<'a> {
    pub(super) count: u64,
    pub(super) meta: &'a [u8],
    pub(super) data: &'a [u8],
}

impl<'a> ColumnSet<'a> {
    pub(super) fn read(body: &'a [u8], pos: &mut usize) -> Result<Self> {
        let count = read_varint(body, pos)?;
        let start = *pos;
        let mut total = 0u64;
        // Each column's metadata consumes at least two bytes.
        for _ in 0..count {
            read_varint(body, pos)?;
            total = total
                .checked_add(read_varint(body, pos)?)
                .ok_or(Malformed("column data is cut off"))?;
        }
        let meta = body.get(start..*pos).unwrap_or_default();
        let data = slice(body, *pos, total).ok_or(Malformed("column data is cut off"))?;
        *pos += data.len();
        Ok(ColumnSet { count, meta, data })
    }

    /// Calls `f` with each column's spec word and data, in order.
    pub(super) fn each(&self, mut f: impl FnMut(u64, &'a [u8]) -> Result<()>) -> Result<()> {
        let (mut pos, mut at) = (0, 0);
        for _ in 0..self.count {
            let spec = read_varint(self.meta, &mut pos)?;
            let len = read_varint(self.meta, &mut pos)?;
            let data = slice(self.data, at, len).ok_or(Malformed("column data is cut off"))?;
            at += data.len();
            f(spec, data)?;
        }
        Ok(())
    }
}

/// A bundle's column set, its DEFLATEd columns inflated. `inflated` counts
/// the bytes the bundle's DEFLATEd columns have expanded to so far.
pub(super) fn read_columns<'a>(
    body: &'a [u8],
    pos: &mut usize,
    known: &[u32],
    inflated: &mut usize,
) -> Result<Columns<'a>> {
    let set = ColumnSet::read(body, pos)?;
    let mut columns = HashMap::new();
    let mut last = 0;
    set.each(|spec, data| {
        let spec = u32::try_from(spec).map_err(|_| Malformed("a column spec over 32 bits"))?;
        let plain = spec & !8;
        if plain < last {
            return Err(Malformed("columns out of order"));
        }
        last = plain;
        if !known.contains(&plain) {
            return Err(Malformed("an unknown column"));
        }
        let data = if spec & 8 == 0 {
            Cow::Borrowed(data)
        } else {
            let limit = MAX_COLUMN_BYTES.saturating_sub(*inflated);
            let too_large = TooLarge("DEFLATEd columns expand beyond 16 MiB");
            let out = inflate(data, limit, too_large)?;
            *inflated += out.len();
            Cow::Owned(out)
        };
        columns.insert(plain, data);
        Ok(())
    })?;
    Ok(Columns(columns))
}

/// What a DEFLATEd column or compressed change holds: it must be one
/// complete raw DEFLATE stream (bytes after its end are ignored, §7.1.3)
/// of at most `limit` bytes.
pub(super) fn inflate(data: &[u8], limit: usize, too_large: UnbundleError) -> Result<Vec<u8>> {
    let mut inflater = flate2::Decompress::new(false);
    let mut out: Vec<u8> = Vec::new();
    loop {
        if out.len() == out.capacity() {
            let room = limit.saturating_sub(out.len());
            if room == 0 {
                return Err(too_large);
            }
            let more = out
                .len()
                .max(data.len().saturating_mul(4))
                .max(4096)
                .min(room);
            out.reserve_exact(more);
        }
        let (in_before, out_before) = (inflater.total_in(), out.len());
        let rest = usize::try_from(in_before)
            .ok()
            .and_then(|consumed| data.get(consumed..))
            .ok_or(Malformed("a DEFLATEd column is not raw DEFLATE"))?;
        let status = inflater
            .decompress_vec(rest, &mut out, flate2::FlushDecompress::None)
            .map_err(|_| Malformed("a DEFLATEd column is not raw DEFLATE"))?;
        if status == flate2::Status::StreamEnd {
            return Ok(out);
        }
        // Without progress while there is room, the input has ended.
        let stuck = inflater.total_in() == in_before && out.len() == out_before;
        if stuck && out.len() < out.capacity() {
            return Err(Malformed("a DEFLATEd column is cut off"));
        }
    }
}

// ---------------------------------------------------------------- changes

/// A change's metadata (§7.1.5).
pub(super) struct Change {
    pub(super) actor: u32,
    pub(super) seq: u64,
    pub(super) start_op: u64,
    /// At most `i64::MAX`, like `seq` and `start_op` (a delta sum).
    pub(super) max_op: u64,
    pub(super) time: i64,
    pub(super) message: Option<u32>,
    /// Where its DEPS values are in [`Changes::deps`].
    pub(super) deps: Range<usize>,
    /// Where its extra bytes are in the EXTRA column.
    pub(super) extra: Range<usize>,
}

impl Change {
    /// How many ops the change claims, `MAX_OP − START_OP + 1`; 0 when
    /// `MAX_OP < START_OP − 1`, which [`Owners::new`] refuses.
    pub(super) fn claimed(&self) -> u64 {
        self.max_op.saturating_add(1).saturating_sub(self.start_op)
    }
}

pub(super) struct Changes<'a> {
    pub(super) list: Vec<Change>,
    pub(super) deps: Vec<i64>,
    pub(super) messages: Strings<'a>,
}

impl Changes<'_> {
    pub(super) fn deps_of(&self, change: &Change) -> &[i64] {
        self.deps.get(change.deps.clone()).unwrap_or_default()
    }
}

/// The changes: one per ACTOR value up to the first null (§7.1.8, 14).
pub(super) fn read_changes<'a>(chunk: &'a Chunk<'_>) -> Result<Changes<'a>> {
    let c = &chunk.changes;
    let mut actors = Rle::new(c.get(spec::ACTOR), Uints);
    let mut seqs = Delta::new(c.get(spec::SEQ));
    let mut start_ops = Delta::new(c.get(spec::START_OP));
    let mut max_ops = Delta::new(c.get(spec::MAX_OP));
    let mut times = Delta::new(c.get(spec::TIME));
    let mut messages = Rle::new(c.get(spec::MESSAGE), Strings::default());
    let mut dep_count = Rle::new(c.get(spec::DEP_COUNT), Uints);
    let mut dep_values = Delta::new(c.get(spec::DEPS));
    let mut extra_count = Rle::new(c.get(spec::EXTRA_COUNT), Uints);
    let extra = c.get(spec::EXTRA);
    let mut extra_at = 0;
    let mut list = Vec::new();
    let mut deps = Vec::new();
    while let Some(a) = actors.next()? {
        if list.len() == MAX_CHANGES {
            return Err(TooLarge("more than 100,000 changes"));
        }
        // 0.12.0 takes actor indexes modulo 2^32 (§7.1.8, 8).
        let a = a as u32;
        if chunk.actor(a).is_none() {
            return Err(Malformed("a change's actor is not in the actor table"));
        }
        let counter = |column: &mut Delta<'_>, missing| -> Result<u64> {
            let v = column.next()?.ok_or(Malformed(missing))?;
            u64::try_from(v).map_err(|_| Unspecified("a negative SEQ, START_OP or MAX_OP"))
        };
        let seq = counter(&mut seqs, "a change has no SEQ")?;
        let start_op = counter(&mut start_ops, "a change has no START_OP")?;
        let max_op = counter(&mut max_ops, "a change has no MAX_OP")?;
        let time = times.next()?.unwrap_or(0);
        let message = messages.next()?;
        // 0.12.0 reserves room for DEP_COUNT hashes before reading them,
        // and aborts on a huge count (§7.1.8, 6): the count is checked
        // against the limit first, and the values are read one by one.
        let n = dep_count.next()?.unwrap_or(0);
        let first = deps.len();
        if (first as u64)
            .checked_add(n)
            .is_none_or(|total| total > MAX_OPS)
        {
            return Err(TooLarge("more than 4,000,000 dependency entries"));
        }
        for _ in 0..n {
            let d = dep_values
                .next()?
                .ok_or(Malformed("fewer DEPS values than DEP_COUNT asks for"))?;
            deps.push(d);
        }
        let n = extra_count.next()?.unwrap_or(0);
        let bytes = slice(extra, extra_at, n)
            .ok_or(Malformed("fewer EXTRA bytes than EXTRA_COUNT asks for"))?;
        let extra_range = extra_at..extra_at + bytes.len();
        extra_at += bytes.len();
        list.push(Change {
            actor: a,
            seq,
            start_op,
            max_op,
            time,
            message,
            deps: first..deps.len(),
            extra: extra_range,
        });
    }
    Ok(Changes {
        list,
        deps,
        messages: messages.values,
    })
}

/// Which change an op belongs to: the one of its actor whose counter range
/// holds its counter (§7.1.6). Building it refuses what §7.1.8 leaves
/// unspecified about the ranges, and what is over Kith's limits.
pub(super) struct Owners {
    /// The changes' non-empty ranges `(actor, START_OP, MAX_OP, change)`,
    /// ascending; one actor's are disjoint.
    pub(super) ranges: Vec<(u32, u64, u64, usize)>,
    /// The changes sorted by (actor, seq).
    pub(super) order: Vec<usize>,
    /// The ops all changes claim (`T` of §7.1.6).
    pub(super) total: u64,
}

impl Owners {
    pub(super) fn new(changes: &[Change]) -> Result<Self> {
        let mut total = 0u64;
        for change in changes {
            if change
                .max_op
                .checked_add(1)
                .is_none_or(|end| end < change.start_op)
            {
                return Err(Unspecified("MAX_OP < START_OP - 1"));
            }
            let n = change.claimed();
            if n > MAX_CHANGE_OPS as u64 {
                return Err(TooLarge("a change of more than 1,000,000 ops"));
            }
            total += n;
            if total > MAX_OPS {
                return Err(TooLarge("more than 4,000,000 ops"));
            }
        }
        let mut order: Vec<usize> = (0..changes.len()).collect();
        order.sort_by_key(|&i| changes.get(i).map(|c| (c.actor, c.seq)));
        let mut ranges: Vec<(u32, u64, u64, usize)> = Vec::new();
        let mut prev: Option<&Change> = None;
        for &i in &order {
            let Some(change) = changes.get(i) else {
                continue;
            };
            if let Some(p) = prev.filter(|p| p.actor == change.actor) {
                if p.seq == change.seq {
                    return Err(Unspecified("two changes with the same actor and seq"));
                }
                if change.start_op < p.start_op {
                    return Err(Unspecified("counter ranges that do not increase with seq"));
                }
            }
            prev = Some(change);
            if change.claimed() == 0 {
                continue;
            }
            let overlaps = |&(actor, _, max, _): &(u32, u64, u64, usize)| {
                actor == change.actor && change.start_op <= max
            };
            if ranges.last().is_some_and(overlaps) {
                return Err(Unspecified("counter ranges of one actor that overlap"));
            }
            ranges.push((change.actor, change.start_op, change.max_op, i));
        }
        Ok(Owners {
            ranges,
            order,
            total,
        })
    }

    /// The change op `counter@actor` belongs to, if any (an op of none is
    /// dropped, §7.1.8, 17).
    pub(super) fn owner(&self, actor: u32, counter: i64) -> Option<usize> {
        let counter = u64::try_from(counter).ok()?;
        let after = self
            .ranges
            .partition_point(|&(a, start, _, _)| (a, start) <= (actor, counter));
        let &(a, _, max, change) = self.ranges.get(after.checked_sub(1)?)?;
        (a == actor && counter <= max).then_some(change)
    }
}

/// The counter of each op row (§7.1.6, "Op ids"), from ID_CTR_INVERSE, or
/// from the legacy ID_CTR without it.
pub(super) fn op_counters(
    ops: &Columns<'_>,
    changes: &[Change],
    owners: &Owners,
) -> Result<Vec<i64>> {
    if ops.has(spec::ID_CTR_INVERSE) {
        let total = usize::try_from(owners.total).map_err(|_| TooLarge("too many ops"))?;
        let mut counters = vec![0i64; total];
        let mut inverse = Delta::new(ops.get(spec::ID_CTR_INVERSE));
        for change in owners.order.iter().filter_map(|&i| changes.get(i)) {
            // `total` bounds this loop: it sums these ranges.
            for counter in change.start_op..=change.max_op {
                let row = match inverse.item()? {
                    Item::Value(row) => row,
                    Item::Null => return Err(Malformed("a null in ID_CTR_INVERSE")),
                    Item::End => return Err(Malformed("ID_CTR_INVERSE has fewer values than ops")),
                };
                let slot = usize::try_from(row)
                    .ok()
                    .and_then(|row| counters.get_mut(row))
                    .ok_or(Malformed("an ID_CTR_INVERSE value out of range"))?;
                *slot =
                    i64::try_from(counter).map_err(|_| Unspecified("a counter over 63 bits"))?;
            }
        }
        return match inverse.item()? {
            Item::End => Ok(counters),
            _ => Err(Malformed("ID_CTR_INVERSE has more values than ops")),
        };
    }
    let mut counters = Vec::new();
    if ops.has(spec::ID_CTR) {
        // The legacy form: read whole, as 0.12.0 does, up to the limit.
        let mut column = Delta::new(ops.get(spec::ID_CTR));
        loop {
            match column.item()? {
                Item::Value(counter) if (counters.len() as u64) < MAX_OPS => {
                    counters.push(counter);
                }
                Item::Value(_) => return Err(TooLarge("more than 4,000,000 ops")),
                Item::Null => return Err(Malformed("a null in ID_CTR")),
                Item::End => break,
            }
        }
    }
    Ok(counters)
}
