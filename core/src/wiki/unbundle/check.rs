//! The check on every change chunk before Automerge's change reader sees
//! it.

use super::*;

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
/// bytes they cannot be read as make 0.12.0 refuse the change too. Returns
/// how many ops the chunk claims (a group's changes together may claim at
/// most [`MAX_GROUP_OPS`]).
pub(in crate::wiki) fn check_change(chunk: &[u8]) -> Result<u64> {
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
    Ok(ops)
}

/// How many values (nulls too) a change chunk's run-length column holds, as
/// 0.12.0 reads it: up to the first run it cannot read. Refused beyond
/// [`MAX_CHANGE_OPS`]; 0.12.0 takes a null run of 2^63 or more as endless.
pub(super) fn count_values(data: &[u8]) -> Result<u64> {
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
pub(super) fn sum_values(data: &[u8], n: u64) -> Result<u64> {
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
