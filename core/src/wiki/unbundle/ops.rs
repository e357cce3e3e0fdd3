//! The op columns (§7.1.6): op ids from ID_CTR_INVERSE, objects, keys,
//! values and preds, and which change each op belongs to.

use super::*;

#[derive(Clone, Copy, PartialEq)]
pub(super) enum Key {
    /// A map key: its number in [`Ops::keys`].
    Map(u32),
    Head,
    Elem(u64, u32),
}

#[derive(Clone, Copy)]
pub(super) enum Value {
    /// Null, false or true: no bytes.
    Empty,
    Uint(u64),
    Int(i64),
    /// Bytes kept as they are, `(start, len)` in the VALUE column.
    Raw(u32, u32),
}

pub(super) struct Op {
    pub(super) counter: u64,
    /// `(counter, actor)`; `None` for the root map.
    pub(super) obj: Option<(u64, u32)>,
    pub(super) key: Key,
    pub(super) insert: bool,
    pub(super) expand: bool,
    pub(super) action: u8,
    pub(super) code: u8,
    pub(super) value: Value,
    /// The mark name's number in [`Ops::marks`].
    pub(super) mark: Option<u32>,
    /// `(start, len)` in [`Ops::preds`].
    pub(super) preds: (u32, u32),
}

/// How a change's ops are gathered (§7.1.8, 9 and 18).
pub(super) enum Gather {
    /// A change of at most 18 ops: each counter's op at its place.
    Slots(Vec<Option<u32>>),
    /// A larger change: ops appended as they arrive in row order, those
    /// that arrive early waiting in `pending`.
    Arrival {
        appended: Vec<u32>,
        pending: BTreeMap<u64, u32>,
        next: u64,
    },
}

/// A change's ops, in order, and its rebuilt `startOp`.
pub(super) struct Gathered {
    pub(super) ops: Vec<u32>,
    pub(super) start_op: u64,
}

/// The ops that belong to a change, and what they refer to.
pub(super) struct Ops<'a> {
    pub(super) list: Vec<Op>,
    pub(super) preds: Vec<(u64, u32)>,
    pub(super) keys: Strings<'a>,
    pub(super) marks: Strings<'a>,
    pub(super) values: &'a [u8],
    /// Per change, in bundle order.
    pub(super) gathered: Vec<Gathered>,
}

impl Ops<'_> {
    pub(super) fn preds_of(&self, op: &Op) -> &[(u64, u32)] {
        let (start, len) = (op.preds.0 as usize, op.preds.1 as usize);
        self.preds.get(start..start + len).unwrap_or_default()
    }

    pub(super) fn value_bytes(&self, value: Value) -> &[u8] {
        match value {
            Value::Raw(start, len) => slice(self.values, start as usize, u64::from(len)),
            _ => None,
        }
        .unwrap_or_default()
    }
}

/// The op rows, each gathered into its change (§7.1.6): the rows up to the
/// first null ID_ACTOR or the end of the counters (§7.1.8, 14).
pub(super) fn read_ops<'a>(
    columns: &'a Columns<'_>,
    counters: &[i64],
    owners: &Owners,
    changes: &[Change],
) -> Result<Ops<'a>> {
    let uints = |spec| Rle::new(columns.get(spec), Uints);
    let mut id_actor = uints(spec::ID_ACTOR);
    let mut obj_actor = uints(spec::OBJ_ACTOR);
    let mut obj_ctr = Delta::new(columns.get(spec::OBJ_CTR));
    let mut key_str = Rle::new(columns.get(spec::KEY_STR), Strings::default());
    let mut key_actor = uints(spec::KEY_ACTOR);
    let mut key_ctr = Delta::new(columns.get(spec::KEY_CTR));
    let mut action = uints(spec::ACTION);
    let mut insert = Bools::new(columns.get(spec::INSERT));
    let mut expand = Bools::new(columns.get(spec::EXPAND));
    let mut mark = Rle::new(columns.get(spec::MARK_NAME), Strings::default());
    let mut value_meta = uints(spec::VALUE_META);
    let values = columns.get(spec::VALUE);
    let mut value_at = 0;
    let mut pred_count = uints(spec::PRED_COUNT);
    let mut pred_actor = uints(spec::PRED_ACTOR);
    let mut pred_ctr = Delta::new(columns.get(spec::PRED_CTR));
    let mut preds_read = 0u64;

    let mut list = Vec::new();
    let mut preds = Vec::new();
    let mut gathers: Vec<Gather> = changes
        .iter()
        .map(|c| match c.claimed() {
            n if n <= SLOT_MAX_OPS => Gather::Slots(vec![None; n as usize]),
            _ => Gather::Arrival {
                appended: Vec::new(),
                pending: BTreeMap::new(),
                next: 0,
            },
        })
        .collect();
    // 0.12.0 reads the next ID_ACTOR value before it sees that the counters
    // have ended, so a bad value there refuses the bundle too.
    for row in 0..=counters.len() {
        let (Some(actor), Some(&counter)) = (id_actor.next()?, counters.get(row)) else {
            break;
        };
        let obj = match (obj_actor.next()?, obj_ctr.next()?) {
            (None, None) | (Some(_), Some(0)) => None,
            (Some(a), Some(c)) if c > 0 => Some((c.unsigned_abs(), a as u32)),
            _ => return Err(Malformed("an op's object is half null, or negative")),
        };
        let (s, a, c) = (key_str.next()?, key_actor.next()?, key_ctr.next()?);
        let elem = match (c, a) {
            (None, None) => None,
            (Some(0), None) => Some(Key::Head),
            (Some(c), Some(a)) if c > 0 => Some(Key::Elem(c.unsigned_abs(), a as u32)),
            _ => return Err(Malformed("an op's element id is malformed")),
        };
        let key = match (s, elem) {
            (Some(s), None) => Key::Map(s),
            (None, Some(elem)) => elem,
            _ => {
                return Err(Malformed(
                    "an op has not exactly one of a key and an element id",
                ));
            }
        };
        let action = action.next()?.ok_or(Malformed("an op has no action"))?;
        let action = u8::try_from(action)
            .ok()
            .filter(|&a| a <= 7)
            .ok_or(Malformed("an action above 7"))?;
        let insert = insert.next()?.unwrap_or(false);
        let expand = expand.next()?.unwrap_or(false);
        let mark = mark.next()?;
        let meta = value_meta
            .next()?
            .ok_or(Malformed("an op has no value metadata"))?;
        let raw = slice(values, value_at, meta >> 4)
            .ok_or(Malformed("VALUE is shorter than VALUE_META says"))?;
        let code = (meta & 0x0f) as u8;
        let value = read_value(code, raw, value_at)?;
        value_at += raw.len();
        // As for DEP_COUNT: the count is checked before anything is read.
        let n = pred_count.next()?.unwrap_or(0);
        preds_read = preds_read
            .checked_add(n)
            .filter(|&total| total <= MAX_OPS)
            .ok_or(TooLarge("more than 4,000,000 pred entries"))?;
        let first = preds.len();
        for _ in 0..n {
            match (pred_actor.next()?, pred_ctr.next()?) {
                (Some(a), Some(c)) if c >= 0 => preds.push((c.unsigned_abs(), a as u32)),
                _ => return Err(Malformed("a pred id is null or negative")),
            }
        }
        let Some(owner) = owners.owner(actor as u32, counter) else {
            preds.truncate(first);
            continue;
        };
        let (Some(change), Some(gather)) = (changes.get(owner), gathers.get_mut(owner)) else {
            continue;
        };
        // Both fit: there are at most `MAX_OPS` ops and preds.
        let index = list.len() as u32;
        let counter = counter.unsigned_abs();
        list.push(Op {
            counter,
            obj,
            key,
            insert,
            expand,
            action,
            code,
            value,
            mark,
            preds: (first as u32, (preds.len() - first) as u32),
        });
        // The owner's range holds the counter.
        let i = counter.saturating_sub(change.start_op);
        match gather {
            Gather::Slots(slots) => {
                let slot = usize::try_from(i).ok().and_then(|i| slots.get_mut(i));
                match slot {
                    Some(slot) if slot.is_none() => *slot = Some(index),
                    _ => {
                        return Err(Malformed(
                            "two ops with one id in a change of at most 18 ops",
                        ));
                    }
                }
            }
            Gather::Arrival {
                appended,
                pending,
                next,
            } => {
                if i == *next {
                    appended.push(index);
                    *next += 1;
                    while let Some(waiting) = pending.remove(next) {
                        appended.push(waiting);
                        *next += 1;
                    }
                } else {
                    pending.insert(i, index);
                }
            }
        }
    }

    let mut gathered = Vec::with_capacity(changes.len());
    for (change, gather) in changes.iter().zip(gathers) {
        let ops = match gather {
            Gather::Slots(slots) => {
                // A small change may lack its first ops, not later ones.
                let first = slots.iter().position(Option::is_some).unwrap_or(0);
                slots
                    .get(first..)
                    .unwrap_or_default()
                    .iter()
                    .copied()
                    .collect::<Option<Vec<u32>>>()
                    .ok_or(Malformed("a change of at most 18 ops lacks an op"))?
            }
            Gather::Arrival {
                mut appended,
                pending,
                ..
            } => {
                appended.extend(pending.into_values());
                appended
            }
        };
        let start_op = match ops.first() {
            Some(&first) => list.get(first as usize).map_or(0, |op: &Op| op.counter),
            None => change.max_op.saturating_add(1),
        };
        if start_op == 0 {
            return Err(Malformed("a rebuilt startOp of 0"));
        }
        gathered.push(Gathered { ops, start_op });
    }
    Ok(Ops {
        list,
        preds,
        keys: key_str.values,
        marks: mark.values,
        values,
        gathered,
    })
}

/// An op's value from its type code and bytes (§7.1.4), to be re-encoded
/// canonically (§7.1.8, 16). `at` is where the bytes are in VALUE.
pub(super) fn read_value(code: u8, raw: &[u8], at: usize) -> Result<Value> {
    let mut pos = 0;
    let kept = || -> Result<Value> {
        // VALUE is at most the size of the inflated bundle.
        let start = u32::try_from(at).map_err(|_| TooLarge("a VALUE column over 4 GiB"))?;
        let len = u32::try_from(raw.len()).map_err(|_| TooLarge("a VALUE column over 4 GiB"))?;
        Ok(Value::Raw(start, len))
    };
    match code {
        0..=2 => Ok(Value::Empty),
        3 => Ok(Value::Uint(read_varint(raw, &mut pos)?)),
        4 | 8 | 9 => Ok(Value::Int(read_leb(raw, &mut pos)?)),
        5 if raw.len() != 8 => Err(Malformed("a float64 value that is not 8 bytes")),
        6 if std::str::from_utf8(raw).is_err() => {
            Err(Malformed("a string value that is not UTF-8"))
        }
        _ => kept(),
    }
}
