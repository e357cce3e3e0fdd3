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

impl Gather {
    fn for_change(change: &Change) -> Gather {
        match change.claimed() {
            n if n <= SLOT_MAX_OPS => Gather::Slots(vec![None; n as usize]),
            _ => Gather::Arrival {
                appended: Vec::new(),
                pending: BTreeMap::new(),
                next: 0,
            },
        }
    }

    /// Places op `index` of the list, the `i`th of its change.
    fn place(&mut self, i: u64, index: u32) -> Result<()> {
        match self {
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
        Ok(())
    }

    /// The change's ops in order, and its rebuilt `startOp`.
    fn finish(self, change: &Change, list: &[Op]) -> Result<Gathered> {
        let ops = match self {
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
        Ok(Gathered { ops, start_op })
    }
}

/// An op's object from OBJ_ACTOR and OBJ_CTR (`None`: the root map).
fn object(actor: Option<u64>, ctr: Option<i64>) -> Result<Option<(u64, u32)>> {
    match (actor, ctr) {
        (None, None) | (Some(_), Some(0)) => Ok(None),
        (Some(a), Some(c)) if c > 0 => Ok(Some((c.unsigned_abs(), a as u32))),
        _ => Err(Malformed("an op's object is half null, or negative")),
    }
}

/// An op's key from KEY_STR, KEY_ACTOR and KEY_CTR: a map key or an
/// element id, exactly one of them.
fn key_of(s: Option<u32>, a: Option<u64>, c: Option<i64>) -> Result<Key> {
    let elem = match (c, a) {
        (None, None) => None,
        (Some(0), None) => Some(Key::Head),
        (Some(c), Some(a)) if c > 0 => Some(Key::Elem(c.unsigned_abs(), a as u32)),
        _ => return Err(Malformed("an op's element id is malformed")),
    };
    match (s, elem) {
        (Some(s), None) => Ok(Key::Map(s)),
        (None, Some(elem)) => Ok(elem),
        _ => Err(Malformed(
            "an op has not exactly one of a key and an element id",
        )),
    }
}

/// One op's `n` preds, appended to `preds`. As for DEP_COUNT, the count is
/// checked against the limit before anything is read.
fn read_preds(
    n: u64,
    read: &mut u64,
    (actors, counters): (&mut Rle<'_, Uints>, &mut Delta<'_>),
    preds: &mut Vec<(u64, u32)>,
) -> Result<()> {
    *read = read
        .checked_add(n)
        .filter(|&total| total <= MAX_OPS)
        .ok_or(TooLarge("more than 4,000,000 pred entries"))?;
    for _ in 0..n {
        match (actors.next()?, counters.next()?) {
            (Some(a), Some(c)) if c >= 0 => preds.push((c.unsigned_abs(), a as u32)),
            _ => return Err(Malformed("a pred id is null or negative")),
        }
    }
    Ok(())
}

/// The op columns' readers (§7.1.6), one value each per row.
struct Rows<'a> {
    id_actor: Rle<'a, Uints>,
    obj_actor: Rle<'a, Uints>,
    obj_ctr: Delta<'a>,
    key_str: Rle<'a, Strings<'a>>,
    key_actor: Rle<'a, Uints>,
    key_ctr: Delta<'a>,
    action: Rle<'a, Uints>,
    insert: Bools<'a>,
    expand: Bools<'a>,
    mark: Rle<'a, Strings<'a>>,
    value_meta: Rle<'a, Uints>,
    pred_count: Rle<'a, Uints>,
    pred_actor: Rle<'a, Uints>,
    pred_ctr: Delta<'a>,
}

impl<'a> Rows<'a> {
    fn new(columns: &'a Columns<'_>) -> Rows<'a> {
        let uints = |spec| Rle::new(columns.get(spec), Uints);
        Rows {
            id_actor: uints(spec::ID_ACTOR),
            obj_actor: uints(spec::OBJ_ACTOR),
            obj_ctr: Delta::new(columns.get(spec::OBJ_CTR)),
            key_str: Rle::new(columns.get(spec::KEY_STR), Strings::default()),
            key_actor: uints(spec::KEY_ACTOR),
            key_ctr: Delta::new(columns.get(spec::KEY_CTR)),
            action: uints(spec::ACTION),
            insert: Bools::new(columns.get(spec::INSERT)),
            expand: Bools::new(columns.get(spec::EXPAND)),
            mark: Rle::new(columns.get(spec::MARK_NAME), Strings::default()),
            value_meta: uints(spec::VALUE_META),
            pred_count: uints(spec::PRED_COUNT),
            pred_actor: uints(spec::PRED_ACTOR),
            pred_ctr: Delta::new(columns.get(spec::PRED_CTR)),
        }
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
    let mut r = Rows::new(columns);
    let values = columns.get(spec::VALUE);
    let mut value_at = 0;
    let mut preds_read = 0u64;

    let mut list = Vec::new();
    let mut preds = Vec::new();
    let mut gathers: Vec<Gather> = changes.iter().map(Gather::for_change).collect();
    // 0.12.0 reads the next ID_ACTOR value before it sees that the counters
    // have ended, so a bad value there refuses the bundle too.
    for row in 0..=counters.len() {
        let (Some(actor), Some(&counter)) = (r.id_actor.next()?, counters.get(row)) else {
            break;
        };
        let obj = object(r.obj_actor.next()?, r.obj_ctr.next()?)?;
        let key = key_of(r.key_str.next()?, r.key_actor.next()?, r.key_ctr.next()?)?;
        let action = r.action.next()?.ok_or(Malformed("an op has no action"))?;
        let action = u8::try_from(action)
            .ok()
            .filter(|&a| a <= 7)
            .ok_or(Malformed("an action above 7"))?;
        let insert = r.insert.next()?.unwrap_or(false);
        let expand = r.expand.next()?.unwrap_or(false);
        let mark = r.mark.next()?;
        let meta = r
            .value_meta
            .next()?
            .ok_or(Malformed("an op has no value metadata"))?;
        let raw = slice(values, value_at, meta >> 4)
            .ok_or(Malformed("VALUE is shorter than VALUE_META says"))?;
        let code = (meta & 0x0f) as u8;
        let value = read_value(code, raw, value_at)?;
        value_at += raw.len();
        let first = preds.len();
        let n = r.pred_count.next()?.unwrap_or(0);
        read_preds(
            n,
            &mut preds_read,
            (&mut r.pred_actor, &mut r.pred_ctr),
            &mut preds,
        )?;
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
        gather.place(counter.saturating_sub(change.start_op), index)?;
    }

    let mut gathered = Vec::with_capacity(changes.len());
    for (change, gather) in changes.iter().zip(gathers) {
        gathered.push(gather.finish(change, &list)?);
    }
    Ok(Ops {
        list,
        preds,
        keys: r.key_str.values,
        marks: r.mark.values,
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
