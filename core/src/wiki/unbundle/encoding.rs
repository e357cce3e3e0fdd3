//! Varints and the column encodings of §7.1.4: readers of run-length,
//! delta and boolean columns over a column's bytes.

use super::*;

/// A `varint` outside column data (header, prefix, column metadata, the
/// bytes of a value): shortest form, at most 64 bits (§7.1.8, 2, 3, 8).
pub(super) fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64> {
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
pub(super) fn read_leb(buf: &[u8], pos: &mut usize) -> Result<i64> {
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
pub(super) fn col_uint(buf: &[u8], pos: &mut usize) -> Option<u64> {
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
pub(super) fn col_int(buf: &[u8], pos: &mut usize) -> Option<i64> {
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

pub(super) fn put_varint(out: &mut Vec<u8>, mut n: u64) {
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

pub(super) fn put_leb(out: &mut Vec<u8>, mut n: i64) {
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
pub(super) fn slice(buf: &[u8], start: usize, len: u64) -> Option<&[u8]> {
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    buf.get(start..end)
}

// --------------------------------------------------------- column readers

/// What a run-length column reads next.
pub(super) enum Item<V> {
    Value(V),
    Null,
    /// The end of the column, also where a run header cannot be read or a
    /// null run has length 0 (§7.1.8, 13).
    End,
}

/// How a run-length column's values are read (§7.1.4).
pub(super) trait Values<'a> {
    type V: Copy;
    fn read(&mut self, data: &'a [u8], pos: &mut usize) -> Result<Self::V>;
}

pub(super) struct Uints;

impl Values<'_> for Uints {
    type V = u64;
    fn read(&mut self, data: &[u8], pos: &mut usize) -> Result<u64> {
        col_uint(data, pos).ok_or(Malformed("a column value is cut off"))
    }
}

pub(super) struct Ints;

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
pub(super) struct Strings<'a> {
    pub(super) numbers: HashMap<&'a [u8], u32>,
    pub(super) texts: Vec<&'a [u8]>,
}

impl<'a> Strings<'a> {
    pub(super) fn text(&self, number: u32) -> &'a [u8] {
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

pub(super) enum Run<V> {
    Literal,
    Repeat(V),
    Null,
}

/// A run-length column (§7.1.4), read lazily as 0.12.0 reads it: values
/// past those asked for are never read.
pub(super) struct Rle<'a, D: Values<'a>> {
    pub(super) data: &'a [u8],
    pub(super) pos: usize,
    pub(super) left: u64,
    pub(super) run: Run<D::V>,
    pub(super) values: D,
}

impl<'a, D: Values<'a>> Rle<'a, D> {
    pub(super) fn new(data: &'a [u8], values: D) -> Self {
        Rle {
            data,
            pos: 0,
            left: 0,
            run: Run::Null,
            values,
        }
    }

    pub(super) fn item(&mut self) -> Result<Item<D::V>> {
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
    pub(super) fn next(&mut self) -> Result<Option<D::V>> {
        Ok(match self.item()? {
            Item::Value(v) => Some(v),
            Item::Null | Item::End => None,
        })
    }
}

/// A delta column: run-length `leb` differences, summed; a null keeps the
/// running value.
pub(super) struct Delta<'a> {
    pub(super) rle: Rle<'a, Ints>,
    pub(super) sum: i64,
}

impl<'a> Delta<'a> {
    pub(super) fn new(data: &'a [u8]) -> Self {
        Delta {
            rle: Rle::new(data, Ints),
            sum: 0,
        }
    }

    pub(super) fn item(&mut self) -> Result<Item<i64>> {
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

    pub(super) fn next(&mut self) -> Result<Option<i64>> {
        Ok(match self.item()? {
            Item::Value(v) => Some(v),
            Item::Null | Item::End => None,
        })
    }
}

/// A boolean column: varint run lengths, alternately of false and true.
pub(super) struct Bools<'a> {
    pub(super) data: &'a [u8],
    pub(super) pos: usize,
    pub(super) left: u64,
    pub(super) value: bool,
}

impl<'a> Bools<'a> {
    pub(super) fn new(data: &'a [u8]) -> Self {
        // Each run flips the value, and the first run is of false.
        Bools {
            data,
            pos: 0,
            left: 0,
            value: true,
        }
    }

    pub(super) fn next(&mut self) -> Result<Option<bool>> {
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
