//! Reading a compact group's bundle (PROTOCOL.md §7.1) without Automerge's
//! bundle reader, and checking every change chunk from a peer before
//! Automerge's change reader sees it.
//!
//! Automerge 0.12.0's `Bundle::try_from` is not safe on hostile bytes: a
//! boolean column holding a cut-off varint makes it loop forever, a
//! DEP_COUNT or PRED_COUNT of 2^40 makes it reserve terabytes (the process
//! aborts; no panic guard helps), and it reads map keys, mark names and
//! messages without checking their UTF-8. Kith therefore reads bundles
//! here, as §7.1 specifies them, and hands Automerge only the rebuilt
//! change chunks, each byte for byte what 0.12.0's `Bundle::to_changes`
//! gives (the tests check this on the vectors in `testdata/`).
//!
//! The reader refuses what §7.1.8 lists: what 0.12.0 refuses, and what the
//! section leaves unspecified ([`UnbundleError::Unspecified`]). It also
//! refuses bundles beyond Kith's limits ([`UnbundleError::TooLarge`]):
//! run-length encoding lets a few bytes claim billions of changes, ops or
//! preds, so every count is checked against a limit before anything is
//! allocated or looped over for it. Every loop below either consumes input
//! or is bounded by one of these limits.
//!
//! Automerge 0.12.0's `Change::from_bytes`, which reads every change of
//! both group forms, has the same kind of trouble (see [`check_change`]),
//! so [`check_change`] looks at each change chunk first.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use kith_protocol::change_group::MAX_BUNDLE_BYTES;
use sha2::{Digest, Sha256};

use super::MAX_CHANGE_OPS;

/// Why a bundle, or a change chunk ([`check_change`]), is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum UnbundleError {
    /// Refused by Automerge 0.12.0 too, or an input it hangs or aborts on
    /// (for a bundle, PROTOCOL.md §7.1.8, items 1 to 11).
    #[error("malformed: {0}")]
    Malformed(&'static str),
    /// What §7.1.8 leaves unspecified: how 0.12.0 reads it depends on its
    /// internals or is undefined behaviour, and no honest writer makes it.
    #[error("{0} (unspecified in PROTOCOL.md §7.1.8)")]
    Unspecified(&'static str),
    /// Well-formed, but beyond what Kith reads from one group.
    #[error("over Kith's limits: {0}")]
    TooLarge(&'static str),
}

use UnbundleError::{Malformed, TooLarge, Unspecified};

type Result<T, E = UnbundleError> = std::result::Result<T, E>;

/// Most actors in one bundle's table: those its changes and ops name.
const MAX_ACTORS: u64 = 1 << 20;
/// Most changes in one bundle. A save is one bundle, and a
/// keystroke-by-keystroke save of a thousand edits is a thousand changes.
const MAX_CHANGES: usize = 100_000;
/// Most ops in one bundle, all changes together (one change holds at most
/// [`MAX_CHANGE_OPS`]). The same limit applies, separately, to the pred
/// entries of all ops and to the dependency entries of all changes.
const MAX_OPS: u64 = 4 * MAX_CHANGE_OPS as u64;
/// Most bytes the DEFLATEd columns of one bundle expand to, together: the
/// limit the whole group expands to.
const MAX_COLUMN_BYTES: usize = MAX_BUNDLE_BYTES;
/// Most bytes of rebuilt change chunks, all changes together. Rebuilt
/// changes repeat what the bundle leaves out (actor ids, dependency
/// hashes, headers), so they may be larger than the bundle.
const MAX_REBUILT_BYTES: usize = 4 * MAX_BUNDLE_BYTES;
/// Changes of at most this many ops are gathered as 0.12.0's smaller change
/// encoder gathers them, larger ones as its larger one does (§7.1.8, 18).
const SLOT_MAX_OPS: u64 = 18;
/// Most pred entries of one change, all its ops together. Each pred is an
/// op the change overwrites, deletes or increments, so an honest change
/// comes nowhere near as many as the ops a change may hold.
const MAX_CHANGE_PREDS: u64 = MAX_CHANGE_OPS as u64;
/// Most bytes a compressed change chunk (type 02) expands to: the limit a
/// whole group expands to.
const MAX_CHANGE_BYTES: usize = MAX_BUNDLE_BYTES;

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

/// Column specs (bit 3, DEFLATE, cleared) of §7.1.5 and §7.1.6.
mod spec {
    pub const ACTOR: u32 = 0x01;
    pub const SEQ: u32 = 0x03;
    pub const START_OP: u32 = 0x13;
    pub const MAX_OP: u32 = 0x23;
    pub const TIME: u32 = 0x33;
    pub const MESSAGE: u32 = 0x45;
    pub const DEP_COUNT: u32 = 0x50;
    pub const DEPS: u32 = 0x53;
    pub const EXTRA_COUNT: u32 = 0x60;
    pub const EXTRA: u32 = 0x67;
    pub const CHANGE: [u32; 10] = [
        ACTOR,
        SEQ,
        START_OP,
        MAX_OP,
        TIME,
        MESSAGE,
        DEP_COUNT,
        DEPS,
        EXTRA_COUNT,
        EXTRA,
    ];

    pub const OBJ_ACTOR: u32 = 0x01;
    pub const OBJ_CTR: u32 = 0x03;
    pub const KEY_ACTOR: u32 = 0x11;
    pub const KEY_CTR: u32 = 0x13;
    pub const KEY_STR: u32 = 0x15;
    pub const ID_ACTOR: u32 = 0x21;
    pub const ID_CTR: u32 = 0x23;
    pub const INSERT: u32 = 0x34;
    pub const ACTION: u32 = 0x42;
    pub const VALUE_META: u32 = 0x56;
    pub const VALUE: u32 = 0x57;
    pub const PRED_COUNT: u32 = 0x70;
    pub const PRED_ACTOR: u32 = 0x71;
    pub const PRED_CTR: u32 = 0x73;
    pub const EXPAND: u32 = 0x94;
    pub const MARK_NAME: u32 = 0xa5;
    pub const ID_CTR_INVERSE: u32 = 0xb3;
    pub const OP: [u32; 17] = [
        OBJ_ACTOR,
        OBJ_CTR,
        KEY_ACTOR,
        KEY_CTR,
        KEY_STR,
        ID_ACTOR,
        ID_CTR,
        INSERT,
        ACTION,
        VALUE_META,
        VALUE,
        PRED_COUNT,
        PRED_ACTOR,
        PRED_CTR,
        EXPAND,
        MARK_NAME,
        ID_CTR_INVERSE,
    ];

    /// The change chunk's OBJ_CTR: a uint column there, a delta one in a
    /// bundle.
    pub const CHUNK_OBJ_CTR: u32 = 0x02;
}

/// The changes of `bundle` (an inflated compact group), in bundle order,
/// each as a standard Automerge change chunk: the bytes Automerge 0.12.0's
/// `Bundle::to_changes` gives, whose SHA-256 is the change hash.
pub(super) fn changes(bundle: &[u8]) -> Result<Vec<Vec<u8>>> {
    let chunk = Chunk::parse(bundle)?;
    let changes = read_changes(&chunk)?;
    let owners = Owners::new(&changes.list)?;
    let counters = op_counters(&chunk.ops, &changes.list, &owners)?;
    let ops = read_ops(&chunk.ops, &counters, &owners, &changes.list)?;
    let budget = Budget(Cell::new(MAX_REBUILT_BYTES));
    let rebuild = Rebuild {
        chunk: &chunk,
        changes: &changes,
        ops: &ops,
        budget: &budget,
    };
    let mut hashes: Vec<[u8; 32]> = Vec::with_capacity(changes.list.len());
    let mut out = Vec::with_capacity(changes.list.len());
    for (i, (change, gathered)) in changes.list.iter().zip(&ops.gathered).enumerate() {
        let mut deps = Vec::new();
        for &d in changes.deps_of(change) {
            deps.push(chunk.dependency(d, i, changes.list.len(), &hashes)?);
        }
        let (bytes, hash) = rebuild.change(change, gathered, &deps)?;
        hashes.push(hash);
        out.push(bytes);
    }
    Ok(out)
}

// ---------------------------------------------------------------- varints

/// A `varint` outside column data (header, prefix, column metadata, the
/// bytes of a value): shortest form, at most 64 bits (§7.1.8, 2, 3, 8).
fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64> {
    let mut value = 0u64;
    let mut shift = 0u32;
    loop {
        let byte = *buf.get(*pos).ok_or(Malformed("a varint is cut off"))?;
        *pos += 1;
        if shift < 64 {
            value |= u64::from(byte & 0x7f) << shift;
        }
        shift += 7;
        if byte & 0x80 == 0 {
            if shift > 64 && byte > 1 {
                return Err(Malformed("a varint over 64 bits"));
            }
            if shift > 7 && byte == 0 {
                return Err(Malformed("a varint not in shortest form"));
            }
            return Ok(value);
        }
        if shift > 64 {
            return Err(Malformed("a varint over 64 bits"));
        }
    }
}

/// A signed `leb` in a value's bytes: shortest form, at most 64 bits.
fn read_leb(buf: &[u8], pos: &mut usize) -> Result<i64> {
    let mut value = 0u64;
    let mut shift = 0u32;
    let mut prev = 0u8;
    loop {
        let byte = *buf.get(*pos).ok_or(Malformed("a leb is cut off"))?;
        *pos += 1;
        if shift < 64 {
            value |= u64::from(byte & 0x7f) << shift;
        }
        shift += 7;
        if byte & 0x80 == 0 {
            if shift > 64 && byte != 0 && byte != 0x7f {
                return Err(Malformed("a leb over 64 bits"));
            }
            let redundant = (byte == 0 && prev & 0x40 == 0) || (byte == 0x7f && prev & 0x40 != 0);
            if shift > 7 && redundant {
                return Err(Malformed("a leb not in shortest form"));
            }
            if shift < 64 && byte & 0x40 != 0 {
                value |= u64::MAX << shift;
            }
            // Two's complement: the bits are the value.
            return Ok(value as i64);
        }
        if shift > 64 {
            return Err(Malformed("a leb over 64 bits"));
        }
        prev = byte;
    }
}

/// An unsigned varint inside column data, where redundant zero groups are
/// allowed (at most 10 bytes, 64 bits). `None` if cut off or too long.
fn col_uint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    let mut shift = 0u32;
    loop {
        let byte = *buf.get(*pos)?;
        *pos += 1;
        // The tenth byte may only hold bit 63; it then has no continuation
        // bit, so `shift` never passes 63.
        if shift == 63 && byte > 1 {
            return None;
        }
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
        shift += 7;
    }
}

/// A signed leb inside column data, as [`col_uint`].
fn col_int(buf: &[u8], pos: &mut usize) -> Option<i64> {
    let mut value = 0u64;
    let mut shift = 0u32;
    loop {
        let byte = *buf.get(*pos)?;
        *pos += 1;
        if shift == 63 && byte != 0 && byte != 0x7f {
            return None;
        }
        value |= u64::from(byte & 0x7f) << shift;
        shift += 7;
        if byte & 0x80 == 0 {
            if shift < 64 && byte & 0x40 != 0 {
                value |= u64::MAX << shift;
            }
            return Some(value as i64);
        }
    }
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn put_leb(out: &mut Vec<u8>, mut n: i64) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if (n == 0 && byte & 0x40 == 0) || (n == -1 && byte & 0x40 != 0) {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// The `len` bytes of `buf` from `start`, if they lie within it.
fn slice(buf: &[u8], start: usize, len: u64) -> Option<&[u8]> {
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    buf.get(start..end)
}

// --------------------------------------------------------- column readers

/// What a run-length column reads next.
enum Item<V> {
    Value(V),
    Null,
    /// The end of the column, also where a run header cannot be read or a
    /// null run has length 0 (§7.1.8, 13).
    End,
}

/// How a run-length column's values are read (§7.1.4).
trait Values<'a> {
    type V: Copy;
    fn read(&mut self, data: &'a [u8], pos: &mut usize) -> Result<Self::V>;
}

struct Uints;

impl Values<'_> for Uints {
    type V = u64;
    fn read(&mut self, data: &[u8], pos: &mut usize) -> Result<u64> {
        col_uint(data, pos).ok_or(Malformed("a column value is cut off"))
    }
}

struct Ints;

impl Values<'_> for Ints {
    type V = i64;
    fn read(&mut self, data: &[u8], pos: &mut usize) -> Result<i64> {
        col_int(data, pos).ok_or(Malformed("a column value is cut off"))
    }
}

/// The texts of one string column (KEY_STR, MARK_NAME or MESSAGE), each
/// distinct text once; a value is its text's number. A repeated run gives
/// many ops one string without repeating its bytes, so comparing or
/// hashing texts per op could cost far more than the input; numbers
/// compare in constant time, and a text is checked and hashed only when it
/// is read from the input.
#[derive(Default)]
struct Strings<'a> {
    numbers: HashMap<&'a [u8], u32>,
    texts: Vec<&'a [u8]>,
}

impl<'a> Strings<'a> {
    fn text(&self, number: u32) -> &'a [u8] {
        self.texts.get(number as usize).copied().unwrap_or_default()
    }
}

impl<'a> Values<'a> for Strings<'a> {
    type V = u32;
    fn read(&mut self, data: &'a [u8], pos: &mut usize) -> Result<u32> {
        let len = col_uint(data, pos).ok_or(Malformed("a column value is cut off"))?;
        let text = slice(data, *pos, len).ok_or(Malformed("a string runs past its column"))?;
        *pos += text.len();
        // 0.12.0 copies these bytes unchecked (§7.1.8, unspecified).
        if std::str::from_utf8(text).is_err() {
            return Err(Unspecified("a string in a column is not UTF-8"));
        }
        if let Some(&number) = self.numbers.get(text) {
            return Ok(number);
        }
        // Every new text took at least a byte of input, so this fits.
        let number = u32::try_from(self.texts.len()).map_err(|_| TooLarge("too many strings"))?;
        self.texts.push(text);
        self.numbers.insert(text, number);
        Ok(number)
    }
}

enum Run<V> {
    Literal,
    Repeat(V),
    Null,
}

/// A run-length column (§7.1.4), read lazily as 0.12.0 reads it: values
/// past those asked for are never read.
struct Rle<'a, D: Values<'a>> {
    data: &'a [u8],
    pos: usize,
    left: u64,
    run: Run<D::V>,
    values: D,
}

impl<'a, D: Values<'a>> Rle<'a, D> {
    fn new(data: &'a [u8], values: D) -> Self {
        Rle {
            data,
            pos: 0,
            left: 0,
            run: Run::Null,
            values,
        }
    }

    fn item(&mut self) -> Result<Item<D::V>> {
        loop {
            if self.left > 0 {
                self.left -= 1;
                return Ok(match self.run {
                    Run::Literal => Item::Value(self.values.read(self.data, &mut self.pos)?),
                    Run::Repeat(v) => Item::Value(v),
                    Run::Null => Item::Null,
                });
            }
            if self.pos >= self.data.len() {
                return Ok(Item::End);
            }
            // Every header read consumes input, so this loop ends.
            let Some(n) = col_int(self.data, &mut self.pos) else {
                self.pos = self.data.len();
                return Ok(Item::End);
            };
            if n > 0 {
                let v = self.values.read(self.data, &mut self.pos)?;
                self.run = Run::Repeat(v);
                self.left = n.unsigned_abs();
            } else if n < 0 {
                self.run = Run::Literal;
                self.left = n.unsigned_abs();
            } else {
                let k = col_uint(self.data, &mut self.pos)
                    .ok_or(Malformed("a null run's length is cut off"))?;
                if k == 0 {
                    self.pos = self.data.len();
                    return Ok(Item::End);
                }
                self.run = Run::Null;
                self.left = k;
            }
        }
    }

    /// The next value; `None` for a null and at the end.
    fn next(&mut self) -> Result<Option<D::V>> {
        Ok(match self.item()? {
            Item::Value(v) => Some(v),
            Item::Null | Item::End => None,
        })
    }
}

/// A delta column: run-length `leb` differences, summed; a null keeps the
/// running value.
struct Delta<'a> {
    rle: Rle<'a, Ints>,
    sum: i64,
}

impl<'a> Delta<'a> {
    fn new(data: &'a [u8]) -> Self {
        Delta {
            rle: Rle::new(data, Ints),
            sum: 0,
        }
    }

    fn item(&mut self) -> Result<Item<i64>> {
        Ok(match self.rle.item()? {
            Item::Value(d) => {
                self.sum = self
                    .sum
                    .checked_add(d)
                    .ok_or(Unspecified("a delta sum overflows 64 bits"))?;
                Item::Value(self.sum)
            }
            other => other,
        })
    }

    fn next(&mut self) -> Result<Option<i64>> {
        Ok(match self.item()? {
            Item::Value(v) => Some(v),
            Item::Null | Item::End => None,
        })
    }
}

/// A boolean column: varint run lengths, alternately of false and true.
struct Bools<'a> {
    data: &'a [u8],
    pos: usize,
    left: u64,
    value: bool,
}

impl<'a> Bools<'a> {
    fn new(data: &'a [u8]) -> Self {
        // Each run flips the value, and the first run is of false.
        Bools {
            data,
            pos: 0,
            left: 0,
            value: true,
        }
    }

    fn next(&mut self) -> Result<Option<bool>> {
        loop {
            if self.left > 0 {
                self.left -= 1;
                return Ok(Some(self.value));
            }
            if self.pos >= self.data.len() {
                return Ok(None);
            }
            // 0.12.0 loops forever on a cut-off run length (§7.1.8, 11).
            self.left = col_uint(self.data, &mut self.pos)
                .ok_or(Malformed("a boolean run length is cut off"))?;
            self.value = !self.value;
        }
    }
}

// -------------------------------------------------------------- the chunk

/// One column set (§7.1.3), DEFLATEd columns inflated. Of two columns with
/// one spec, the last counts (§7.1.8, 13).
struct Columns<'a>(HashMap<u32, Cow<'a, [u8]>>);

impl Columns<'_> {
    fn get(&self, spec: u32) -> &[u8] {
        self.0.get(&spec).map_or(&[], |c| c)
    }

    fn has(&self, spec: u32) -> bool {
        self.0.contains_key(&spec)
    }
}

/// The bundle chunk, parsed (§7.1.2, §7.1.3).
struct Chunk<'a> {
    /// The external dependencies, 32 bytes each.
    ext: &'a [u8],
    actors: Vec<&'a [u8]>,
    changes: Columns<'a>,
    ops: Columns<'a>,
}

impl<'a> Chunk<'a> {
    fn parse(bundle: &'a [u8]) -> Result<Self> {
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

    fn actor(&self, index: u32) -> Option<&'a [u8]> {
        self.actors.get(index as usize).copied()
    }

    /// The hash that DEPS value `d` of change `i` (of `n`) names (§7.1.5):
    /// an earlier change of the bundle, or an external hash.
    fn dependency(&self, d: i64, i: usize, n: usize, built: &[[u8; 32]]) -> Result<[u8; 32]> {
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
struct ColumnSet<'a> {
    count: u64,
    meta: &'a [u8],
    data: &'a [u8],
}

impl<'a> ColumnSet<'a> {
    fn read(body: &'a [u8], pos: &mut usize) -> Result<Self> {
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
    fn each(&self, mut f: impl FnMut(u64, &'a [u8]) -> Result<()>) -> Result<()> {
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
fn read_columns<'a>(
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
fn inflate(data: &[u8], limit: usize, too_large: UnbundleError) -> Result<Vec<u8>> {
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
struct Change {
    actor: u32,
    seq: u64,
    start_op: u64,
    /// At most `i64::MAX`, like `seq` and `start_op` (a delta sum).
    max_op: u64,
    time: i64,
    message: Option<u32>,
    /// Where its DEPS values are in [`Changes::deps`].
    deps: Range<usize>,
    /// Where its extra bytes are in the EXTRA column.
    extra: Range<usize>,
}

impl Change {
    /// How many ops the change claims, `MAX_OP − START_OP + 1`; 0 when
    /// `MAX_OP < START_OP − 1`, which [`Owners::new`] refuses.
    fn claimed(&self) -> u64 {
        self.max_op.saturating_add(1).saturating_sub(self.start_op)
    }
}

struct Changes<'a> {
    list: Vec<Change>,
    deps: Vec<i64>,
    messages: Strings<'a>,
}

impl Changes<'_> {
    fn deps_of(&self, change: &Change) -> &[i64] {
        self.deps.get(change.deps.clone()).unwrap_or_default()
    }
}

/// The changes: one per ACTOR value up to the first null (§7.1.8, 14).
fn read_changes<'a>(chunk: &'a Chunk<'_>) -> Result<Changes<'a>> {
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
struct Owners {
    /// The changes' non-empty ranges `(actor, START_OP, MAX_OP, change)`,
    /// ascending; one actor's are disjoint.
    ranges: Vec<(u32, u64, u64, usize)>,
    /// The changes sorted by (actor, seq).
    order: Vec<usize>,
    /// The ops all changes claim (`T` of §7.1.6).
    total: u64,
}

impl Owners {
    fn new(changes: &[Change]) -> Result<Self> {
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
    fn owner(&self, actor: u32, counter: i64) -> Option<usize> {
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
fn op_counters(ops: &Columns<'_>, changes: &[Change], owners: &Owners) -> Result<Vec<i64>> {
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

// -------------------------------------------------------------------- ops

#[derive(Clone, Copy, PartialEq)]
enum Key {
    /// A map key: its number in [`Ops::keys`].
    Map(u32),
    Head,
    Elem(u64, u32),
}

#[derive(Clone, Copy)]
enum Value {
    /// Null, false or true: no bytes.
    Empty,
    Uint(u64),
    Int(i64),
    /// Bytes kept as they are, `(start, len)` in the VALUE column.
    Raw(u32, u32),
}

struct Op {
    counter: u64,
    /// `(counter, actor)`; `None` for the root map.
    obj: Option<(u64, u32)>,
    key: Key,
    insert: bool,
    expand: bool,
    action: u8,
    code: u8,
    value: Value,
    /// The mark name's number in [`Ops::marks`].
    mark: Option<u32>,
    /// `(start, len)` in [`Ops::preds`].
    preds: (u32, u32),
}

/// How a change's ops are gathered (§7.1.8, 9 and 18).
enum Gather {
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
struct Gathered {
    ops: Vec<u32>,
    start_op: u64,
}

/// The ops that belong to a change, and what they refer to.
struct Ops<'a> {
    list: Vec<Op>,
    preds: Vec<(u64, u32)>,
    keys: Strings<'a>,
    marks: Strings<'a>,
    values: &'a [u8],
    /// Per change, in bundle order.
    gathered: Vec<Gathered>,
}

impl Ops<'_> {
    fn preds_of(&self, op: &Op) -> &[(u64, u32)] {
        let (start, len) = (op.preds.0 as usize, op.preds.1 as usize);
        self.preds.get(start..start + len).unwrap_or_default()
    }

    fn value_bytes(&self, value: Value) -> &[u8] {
        match value {
            Value::Raw(start, len) => slice(self.values, start as usize, u64::from(len)),
            _ => None,
        }
        .unwrap_or_default()
    }
}

/// The op rows, each gathered into its change (§7.1.6): the rows up to the
/// first null ID_ACTOR or the end of the counters (§7.1.8, 14).
fn read_ops<'a>(
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
fn read_value(code: u8, raw: &[u8], at: usize) -> Result<Value> {
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

// ------------------------------------------------------------- rebuilding

/// What the rebuilt changes may still take, in bytes.
struct Budget(Cell<usize>);

impl Budget {
    fn spend(&self, n: usize) -> Result<()> {
        let left = self.0.get();
        if n > left {
            return Err(TooLarge("the rebuilt changes are over 64 MiB"));
        }
        self.0.set(left - n);
        Ok(())
    }
}

/// Bytes being written, each charged to the budget.
struct Out<'b> {
    bytes: Vec<u8>,
    budget: &'b Budget,
}

impl<'b> Out<'b> {
    fn new(budget: &'b Budget) -> Self {
        Out {
            bytes: Vec::new(),
            budget,
        }
    }

    fn varint(&mut self, n: u64) -> Result<()> {
        let before = self.bytes.len();
        put_varint(&mut self.bytes, n);
        self.budget.spend(self.bytes.len() - before)
    }

    fn leb(&mut self, n: i64) -> Result<()> {
        let before = self.bytes.len();
        put_leb(&mut self.bytes, n);
        self.budget.spend(self.bytes.len() - before)
    }

    fn bytes(&mut self, bytes: &[u8]) -> Result<()> {
        self.budget.spend(bytes.len())?;
        self.bytes.extend_from_slice(bytes);
        Ok(())
    }
}

/// Writes `values` as a canonical run-length column (§7.1.4): maximal runs
/// of equal values; null runs, repeated runs of two or more, and the single
/// values between them gathered into literal runs.
fn rle<V: Copy + PartialEq>(
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
fn delta(out: &mut Out<'_>, values: impl IntoIterator<Item = Option<u64>>) -> Result<()> {
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
fn bools(out: &mut Out<'_>, values: impl IntoIterator<Item = bool>) -> Result<()> {
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
struct ChunkColumns<'b> {
    list: Vec<(u32, Vec<u8>)>,
    budget: &'b Budget,
}

impl<'b> ChunkColumns<'b> {
    /// Writes a column; one that comes out empty is left out (§7.1.7).
    fn add(&mut self, spec: u32, write: impl FnOnce(&mut Out<'b>) -> Result<()>) -> Result<()> {
        let mut out = Out::new(self.budget);
        write(&mut out)?;
        self.add_written(spec, out);
        Ok(())
    }

    fn add_written(&mut self, spec: u32, out: Out<'b>) {
        if !out.bytes.is_empty() {
            self.list.push((spec, out.bytes));
        }
    }
}

/// Rebuilds changes as change chunks (§7.1.7).
struct Rebuild<'r> {
    chunk: &'r Chunk<'r>,
    changes: &'r Changes<'r>,
    ops: &'r Ops<'r>,
    budget: &'r Budget,
}

impl Rebuild<'_> {
    /// The change chunk of `change`, and its hash.
    fn change(
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
        let preds = || ops.iter().flat_map(|op| self.ops.preds_of(op));

        // The other actors its ops name, in the order of the actor table.
        let mut others: Vec<u32> = Vec::new();
        for op in &ops {
            others.extend(op.obj.map(|(_, a)| a));
            if let Key::Elem(_, a) = op.key {
                others.push(a);
            }
        }
        others.extend(preds().map(|&(_, a)| a));
        others.sort_unstable();
        others.dedup();
        others.retain(|&a| a != change.actor);
        let mut other_ids = Vec::with_capacity(others.len());
        for &a in &others {
            other_ids.push(
                self.chunk
                    .actor(a)
                    .ok_or(Malformed("an op names an actor not in the actor table"))?,
            );
        }
        let local = |a: u32| -> u64 {
            match others.binary_search(&a) {
                Ok(i) => i as u64 + 1,
                Err(_) => 0, // the change's own actor
            }
        };

        let mut columns = ChunkColumns {
            list: Vec::new(),
            budget: self.budget,
        };
        let uint = |out: &mut Out<'_>, v: u64| out.varint(v);
        let keys = &self.ops.keys;
        let marks = &self.ops.marks;
        let string = |strings: &Strings<'_>, out: &mut Out<'_>, n: u32| -> Result<()> {
            let text = strings.text(n);
            out.varint(text.len() as u64)?;
            out.bytes(text)
        };

        if ops.iter().any(|op| op.obj.is_some()) {
            columns.add(spec::OBJ_ACTOR, |out| {
                rle(
                    out,
                    ops.iter().map(|op| op.obj.map(|(_, a)| local(a))),
                    uint,
                )
            })?;
            columns.add(spec::CHUNK_OBJ_CTR, |out| {
                rle(out, ops.iter().map(|op| op.obj.map(|(c, _)| c)), uint)
            })?;
        }
        let key_actor = |op: &&Op| match op.key {
            Key::Elem(_, a) => Some(local(a)),
            _ => None,
        };
        if ops.iter().any(|op| key_actor(op).is_some()) {
            columns.add(spec::KEY_ACTOR, |out| {
                rle(out, ops.iter().map(key_actor), uint)
            })?;
        }
        let key_ctr = |op: &&Op| match op.key {
            Key::Map(_) => None,
            Key::Head => Some(0),
            Key::Elem(c, _) => Some(c),
        };
        if ops.iter().any(|op| key_ctr(op).is_some()) {
            columns.add(spec::KEY_CTR, |out| delta(out, ops.iter().map(key_ctr)))?;
        }
        let key_str = |op: &&Op| match op.key {
            Key::Map(s) => Some(s),
            _ => None,
        };
        if ops.iter().any(|op| key_str(op).is_some()) {
            columns.add(spec::KEY_STR, |out| {
                rle(out, ops.iter().map(key_str), |out, s| string(keys, out, s))
            })?;
        }
        columns.add(spec::INSERT, |out| {
            bools(out, ops.iter().map(|op| op.insert))
        })?;
        columns.add(spec::ACTION, |out| {
            rle(out, ops.iter().map(|op| Some(u64::from(op.action))), uint)
        })?;
        // The values, re-encoded canonically, and their metadata words.
        let mut value = Out::new(self.budget);
        let mut metas = Vec::with_capacity(ops.len());
        for op in &ops {
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
            rle(out, preds().map(|&(_, a)| Some(local(a))), uint)
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
            columns.add(spec::MARK_NAME, |out| {
                rle(out, ops.iter().map(|op| op.mark), |out, s| {
                    string(marks, out, s)
                })
            })?;
        }

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

// ---------------------------------------------------------- change chunks

/// Checks a change chunk from a peer before Automerge 0.12.0's
/// `Change::from_bytes` parses it. That parser reads the chunk's ops one by
/// one until its ACTION column ends, and a run-length column can claim
/// 2^62 ops in a few bytes (it never returns); it grows each op's pred list
/// to the length PRED_COUNT claims, again from a few bytes (the process
/// runs out of memory and aborts); it inflates a compressed change chunk
/// (type 02) without a limit; and it parses a chunk of another type in full
/// before refusing it, a bundle with the bundle reader this module
/// replaces. So a chunk is refused here unless it is a change chunk (type
/// 01, or 02 expanding to at most 16 MiB) whose ACTION column holds at most
/// [`MAX_CHANGE_OPS`] values and whose ops' PRED_COUNTs add up to at most
/// [`MAX_CHANGE_PREDS`]. A change with more ops is refused after parsing
/// anyway (PROTOCOL.md §7), and no honest change has that many preds. The
/// chunk's columns are read as 0.12.0 reads a change chunk's columns;
/// bytes they cannot be read as make 0.12.0 refuse the change too.
pub(super) fn check_change(chunk: &[u8]) -> Result<()> {
    let header = chunk.get(..9).ok_or(Malformed("not an Automerge chunk"))?;
    if header[..4] != MAGIC {
        return Err(Malformed("not an Automerge chunk"));
    }
    let mut pos = 9;
    let len = read_varint(chunk, &mut pos)?;
    let data = slice(chunk, pos, len).ok_or(Malformed("the chunk is shorter than its length"))?;
    let inflated;
    let body = match header[8] {
        1 => data,
        2 => {
            let too_large = TooLarge("a compressed change expands beyond 16 MiB");
            inflated = inflate(data, MAX_CHANGE_BYTES, too_large)?;
            &inflated[..]
        }
        _ => return Err(Malformed("not a change chunk")),
    };
    let mut pos = 0;
    let n_deps = read_varint(body, &mut pos)?;
    let deps = n_deps
        .checked_mul(32)
        .and_then(|len| slice(body, pos, len))
        .ok_or(Malformed("a dependency is cut off"))?;
    pos += deps.len();
    let skip = |pos: &mut usize| -> Result<()> {
        let len = read_varint(body, pos)?;
        let bytes = slice(body, *pos, len).ok_or(Malformed("a change chunk is cut off"))?;
        *pos += bytes.len();
        Ok(())
    };
    skip(&mut pos)?; // the actor
    read_varint(body, &mut pos)?; // seq
    read_varint(body, &mut pos)?; // startOp
    read_leb(body, &mut pos)?; // time
    skip(&mut pos)?; // the message
    // Each other actor consumes at least its length byte.
    for _ in 0..read_varint(body, &mut pos)? {
        skip(&mut pos)?;
    }
    let columns = ColumnSet::read(body, &mut pos)?;
    // Should a spec occur twice, whichever column 0.12.0 reads is counted.
    let mut ops = 0;
    columns.each(|spec, data| {
        if spec == u64::from(spec::ACTION) {
            ops = ops.max(count_values(data)?);
        }
        Ok(())
    })?;
    columns.each(|spec, data| {
        if spec == u64::from(spec::PRED_COUNT) {
            sum_values(data, ops)?;
        }
        Ok(())
    })?;
    Ok(())
}

/// How many values (nulls too) a change chunk's run-length column holds, as
/// 0.12.0 reads it: up to the first run it cannot read. Refused beyond
/// [`MAX_CHANGE_OPS`]; 0.12.0 takes a null run of 2^63 or more as endless.
fn count_values(data: &[u8]) -> Result<u64> {
    let too_many = TooLarge("a change of more than 1,000,000 ops");
    let mut pos = 0;
    let mut count = 0u64;
    while pos < data.len() {
        let Some(n) = col_int(data, &mut pos) else {
            break;
        };
        if n > 0 {
            if col_uint(data, &mut pos).is_none() {
                break;
            }
            count = count.saturating_add(n.unsigned_abs());
        } else if n < 0 {
            // Each literal value consumes input, and the count is checked
            // as it grows: this loop ends.
            for _ in 0..n.unsigned_abs() {
                if col_uint(data, &mut pos).is_none() {
                    return Ok(count);
                }
                count += 1;
                if count > MAX_CHANGE_OPS as u64 {
                    return Err(too_many);
                }
            }
        } else {
            let Some(k) = col_uint(data, &mut pos) else {
                break;
            };
            count = count.saturating_add(k);
        }
        if count > MAX_CHANGE_OPS as u64 {
            return Err(too_many);
        }
    }
    Ok(count)
}

/// The sum of the first `n` values of a change chunk's PRED_COUNT column,
/// refused beyond [`MAX_CHANGE_PREDS`]. 0.12.0 refuses a change at a null
/// or unreadable count, so the sum stops there.
fn sum_values(data: &[u8], n: u64) -> Result<u64> {
    let too_many = TooLarge("a change with more than 1,000,000 preds");
    let mut pos = 0;
    let mut left = n;
    let mut sum = 0u64;
    while left > 0 && pos < data.len() {
        let Some(run) = col_int(data, &mut pos) else {
            break;
        };
        if run > 0 {
            let Some(v) = col_uint(data, &mut pos) else {
                break;
            };
            let taken = left.min(run.unsigned_abs());
            sum = sum.saturating_add(v.saturating_mul(taken));
            left -= taken;
        } else if run < 0 {
            // Each literal value consumes input: this loop ends.
            for _ in 0..left.min(run.unsigned_abs()) {
                let Some(v) = col_uint(data, &mut pos) else {
                    return Ok(sum);
                };
                sum = sum.saturating_add(v);
                left -= 1;
            }
        } else {
            break;
        }
        if sum > MAX_CHANGE_PREDS {
            return Err(too_many);
        }
    }
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::time::{Duration, Instant};

    use automerge::{Bundle, Change};
    use kith_protocol::change_group;
    use proptest::prelude::*;

    use super::*;

    /// The vectors (`testdata/README.md`): bundles made by Automerge 0.12.0,
    /// with the hash and bytes of each change.
    const VECTORS: [(&str, &str); 6] = [
        ("cg", include_str!("testdata/cg.block")),
        ("types", include_str!("testdata/types.block")),
        ("whole", include_str!("testdata/whole.block")),
        ("deflated", include_str!("testdata/deflated.block")),
        ("sizes", include_str!("testdata/sizes.block")),
        ("kith-s10", include_str!("testdata/kith-s10.block")),
    ];

    struct Vector {
        name: &'static str,
        /// The inflated group.
        bundle: Vec<u8>,
        /// Each change's hash, and its bytes where the file has them.
        changes: Vec<(String, Option<Vec<u8>>)>,
        /// The changes as `changes` rebuilds them.
        rebuilt: Vec<Vec<u8>>,
    }

    fn vectors() -> &'static [Vector] {
        static VECTORS_READ: std::sync::OnceLock<Vec<Vector>> = std::sync::OnceLock::new();
        VECTORS_READ.get_or_init(read_vectors)
    }

    fn read_vectors() -> Vec<Vector> {
        VECTORS
            .iter()
            .map(|&(name, text)| {
                let (mut group, mut bundle, mut recorded) = (None, None, Vec::new());
                for line in text.lines().filter(|l| !l.starts_with('#')) {
                    let (tag, rest) = line.split_once(' ').unwrap_or((line, ""));
                    let rest = rest.trim();
                    match tag {
                        "group" => group = Some(hex::decode(rest).unwrap()),
                        "bundle" => bundle = Some(hex::decode(rest).unwrap()),
                        "change" => recorded.push((rest.to_string(), None)),
                        "bytes" => {
                            recorded.last_mut().unwrap().1 = Some(hex::decode(rest).unwrap())
                        }
                        _ => {}
                    }
                }
                let group = group.unwrap();
                let inflated = change_group::decompress(&group).unwrap();
                if let Some(bundle) = bundle {
                    assert_eq!(inflated, bundle, "{name}: the group inflates to the bundle");
                }
                let rebuilt = changes(&inflated).unwrap_or_default();
                Vector {
                    name,
                    bundle: inflated,
                    changes: recorded,
                    rebuilt,
                }
            })
            .collect()
    }

    fn hash_of(chunk: &[u8]) -> String {
        hex::encode(Sha256::digest(&chunk[8..]))
    }

    /// What Kith makes of a bundle: the change hashes, or why it refuses.
    fn verdict(bundle: &[u8]) -> Result<Vec<String>> {
        let chunks = changes(bundle)?;
        for chunk in &chunks {
            check_change(chunk)?;
        }
        Ok(chunks.iter().map(|c| hash_of(c)).collect())
    }

    #[test]
    fn vectors_are_rebuilt_byte_for_byte() {
        for v in vectors() {
            let got = changes(&v.bundle).unwrap_or_else(|e| panic!("{}: {e}", v.name));
            assert_eq!(got, v.rebuilt);
            assert_eq!(got.len(), v.changes.len(), "{}", v.name);
            for (i, (chunk, (hash, bytes))) in got.iter().zip(&v.changes).enumerate() {
                if let Some(bytes) = bytes {
                    assert_eq!(
                        hex::encode(chunk),
                        hex::encode(bytes),
                        "{} change {i}",
                        v.name
                    );
                }
                assert_eq!(&hash_of(chunk), hash, "{} change {i}", v.name);
                check_change(chunk).unwrap();
                let change = Change::from_bytes(chunk.clone()).unwrap();
                assert_eq!(&change.hash().to_string(), hash);
            }
        }
    }

    /// Automerge's own reader gives the same changes: should the pin move,
    /// this says whether the format did.
    #[test]
    fn automerge_reads_the_vectors_alike() {
        for v in vectors() {
            let theirs = Bundle::try_from(&v.bundle[..])
                .unwrap()
                .to_changes()
                .unwrap();
            let ours = changes(&v.bundle).unwrap();
            assert_eq!(theirs.len(), ours.len(), "{}", v.name);
            for (i, (theirs, ours)) in theirs.iter().zip(&ours).enumerate() {
                assert_eq!(theirs.raw_bytes(), &ours[..], "{} change {i}", v.name);
            }
        }
    }

    /// Variants of the vectors (`mutate.py`) with what 0.12.0 did with each
    /// through Kith's former path (`Bundle::try_from`, `to_changes`): Kith
    /// agrees, except where §7.1.8 leaves the case unspecified and Kith
    /// refuses it.
    #[test]
    fn malformed_bundles_get_automerges_verdict() {
        let mut text = String::new();
        flate2::read::DeflateDecoder::new(&include_bytes!("testdata/malformed.txt.deflate")[..])
            .read_to_string(&mut text)
            .unwrap();
        let (mut agree, mut unspecified) = (0, Vec::new());
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let mut fields = line.split('\t');
            let (name, want, bundle) = (
                fields.next().unwrap(),
                fields.next().unwrap(),
                hex::decode(fields.next().unwrap()).unwrap(),
            );
            let got = verdict(&bundle);
            let same = match (&got, want.strip_prefix("ACCEPT ")) {
                (Ok(hashes), Some(want)) => hashes.join(",") == want,
                (Err(_), None) => want == "REFUSE",
                _ => false,
            };
            if same {
                agree += 1;
            } else {
                assert!(
                    matches!(got, Err(Unspecified(_))),
                    "{name}: 0.12.0 {}, Kith {got:?}",
                    &want[..want.len().min(80)]
                );
                unspecified.push(name);
            }
        }
        assert_eq!(agree, 92);
        assert_eq!(unspecified, ["key-not-utf8"]);
    }

    /// The bundles 0.12.0 does not survive (it loops forever, or aborts
    /// reserving 8 TiB) are refused at once. They never reach Automerge.
    #[test]
    fn bundles_automerge_does_not_survive_are_refused_quickly() {
        let inputs = include_str!("testdata/crash-inputs.txt");
        let mut n = 0;
        for line in inputs.lines().filter(|l| !l.starts_with('#')) {
            let (name, hex_bundle) = line.split_once('\t').unwrap();
            let bundle = hex::decode(hex_bundle.rsplit('\t').next().unwrap()).unwrap();
            let start = Instant::now();
            let result = changes(&bundle);
            assert!(result.is_err(), "{name}");
            assert!(start.elapsed() < Duration::from_secs(2), "{name}");
            // Framed as a change, a bundle is no change chunk.
            assert!(check_change(&bundle).is_err(), "{name}");
            n += 1;
        }
        assert_eq!(n, 3);
    }

    /// Change chunks Automerge 0.12.0's `Change::from_bytes` does not
    /// survive, or takes seconds on (`fuzz/regressions/wiki_change/`; the
    /// first byte is the fuzz target's mode byte): refused by the check.
    #[test]
    fn changes_automerge_does_not_survive_are_refused_quickly() {
        for (name, input) in [
            (
                "2^62 ops",
                &include_bytes!("../../../fuzz/regressions/wiki_change/hang-automerge-change-ops")
                    [..],
            ),
            (
                "2^62 preds",
                include_bytes!(
                    "../../../fuzz/regressions/wiki_change/abort-automerge-change-preds"
                ),
            ),
            (
                "2^24 ops",
                include_bytes!(
                    "../../../fuzz/regressions/wiki_change/slow-automerge-change-16m-ops"
                ),
            ),
            (
                "17 MiB compressed",
                include_bytes!(
                    "../../../fuzz/regressions/wiki_change/bomb-automerge-change-deflate"
                ),
            ),
            (
                "a bundle",
                include_bytes!(
                    "../../../fuzz/regressions/wiki_change/abort-automerge-change-is-a-bundle"
                ),
            ),
        ] {
            let start = Instant::now();
            let result = check_change(&input[1..]);
            assert!(
                matches!(result, Err(TooLarge(_) | Malformed(_))),
                "{name}: {result:?}"
            );
            assert!(start.elapsed() < Duration::from_secs(2), "{name}");
        }
    }

    /// A change chunk's ACTION and PRED_COUNT columns are measured run by
    /// run, without reading value by value.
    #[test]
    fn change_columns_are_measured_by_runs() {
        let column = |runs: &[(i64, Option<u64>)]| {
            let mut out = Vec::new();
            for &(n, value) in runs {
                put_leb(&mut out, n);
                if let Some(v) = value {
                    put_varint(&mut out, v);
                }
            }
            out
        };
        let ops = TooLarge("a change of more than 1,000,000 ops");
        let preds = TooLarge("a change with more than 1,000,000 preds");
        // 3 × 1, then the literal 2, 5, then 4 nulls.
        let small = [
            column(&[(3, Some(1)), (-2, None)]),
            vec![2, 5],
            column(&[(0, Some(4))]),
        ];
        assert_eq!(count_values(&small.concat()), Ok(9));
        assert_eq!(
            count_values(&column(&[(1 << 40, Some(1))])),
            Err(ops.clone())
        );
        assert_eq!(count_values(&column(&[(0, Some(1 << 63))])), Err(ops));
        // A cut-off run ends the column, as it ends 0.12.0's reading.
        assert_eq!(count_values(&column(&[(2, Some(1)), (5, None)])), Ok(2));
        let counts = column(&[(3, Some(MAX_CHANGE_PREDS / 2))]);
        assert_eq!(sum_values(&counts, 2), Ok(MAX_CHANGE_PREDS));
        assert_eq!(sum_values(&counts, 3), Err(preds.clone()));
        assert_eq!(sum_values(&column(&[(1, Some(u64::MAX))]), 1), Err(preds));
        assert_eq!(sum_values(&small.concat(), 9), Ok(10));
    }

    /// Random edits of a bundle: never a panic, always an answer.
    fn edit(bytes: &[u8], edits: &[(usize, u8, u8)]) -> Vec<u8> {
        let mut b = bytes.to_vec();
        for &(at, byte, how) in edits {
            if b.is_empty() {
                break;
            }
            let at = at % b.len();
            match how % 4 {
                0 => b[at] = byte,
                1 => b[at] ^= 1 << (byte % 8),
                2 => {
                    b.remove(at);
                }
                _ => b.insert(at, byte),
            }
        }
        b
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn edited_bundles_never_panic(
            which in 0usize..VECTORS.len(),
            edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..4),
        ) {
            let bundle = edit(&vectors()[which].bundle, &edits);
            if let Ok(chunks) = changes(&bundle) {
                for chunk in chunks {
                    let _ = check_change(&chunk);
                }
            }
        }

        /// Random edits of change chunks: the check never panics, and what
        /// passes it Automerge parses (or refuses) without hanging.
        #[test]
        fn edited_changes_are_checked_without_panic(
            which in 0usize..VECTORS.len(),
            change in any::<usize>(),
            edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..4),
        ) {
            let v = &vectors()[which];
            let chunk = edit(&v.rebuilt[change % v.rebuilt.len()], &edits);
            if check_change(&chunk).is_ok() {
                let _ = std::panic::catch_unwind(|| Change::from_bytes(chunk));
            }
        }
    }
}
