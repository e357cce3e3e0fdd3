//! Unsigned LEB128 varints, as postcard writes them, with overlong encodings
//! rejected so every value has exactly one byte form.

/// Appends `value` as a varint.
pub fn encode(mut value: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Number of bytes [`encode`] writes for `value`.
pub fn encoded_len(value: u64) -> usize {
    let bits = 64 - (value | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Reads one varint from the front of `bytes`, returning it and the rest.
pub fn decode(bytes: &[u8]) -> Result<(u64, &[u8]), &'static str> {
    let mut value: u64 = 0;
    for (i, &byte) in bytes.iter().enumerate().take(10) {
        let part = u64::from(byte & 0x7f);
        if i == 9 && byte > 1 {
            return Err("varint overflows u64");
        }
        value |= part << (7 * i);
        if byte & 0x80 == 0 {
            if i > 0 && byte == 0 {
                return Err("overlong varint");
            }
            return Ok((value, &bytes[i + 1..]));
        }
    }
    if bytes.len() < 10 {
        Err("truncated varint")
    } else {
        Err("varint too long")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_matches_postcard() {
        for v in [
            0,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u32::MAX as u64,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            encode(v, &mut out);
            assert_eq!(out.len(), encoded_len(v));
            assert_eq!(out, postcard::to_stdvec(&v).unwrap());
            assert_eq!(decode(&out).unwrap(), (v, &[][..]));
        }
    }

    #[test]
    fn rejects_bad_forms() {
        assert!(decode(&[]).is_err());
        assert!(decode(&[0x80]).is_err());
        assert!(decode(&[0x81, 0x00]).is_err());
        assert!(decode(&[0xff; 11]).is_err());
        assert!(decode(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]).is_err());
    }
}
