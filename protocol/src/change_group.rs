//! Change groups (PROTOCOL.md §7): how the Automerge changes of one wiki
//! edit travel in wiki-change entries.
//!
//! A group comes in one of two forms: *framed* (kind 3), a sequence of
//! changes each framed as `varint(len) || change`, or *bundle* (kind 8),
//! the raw DEFLATE (RFC 1951) of one Automerge change bundle, which stores
//! the changes of a save column-wise, as Automerge's document format does,
//! and recomputes their hashes on loading. `group_hash` is blake3 of the
//! whole group as sent (for a bundle, of the compressed bytes). A group larger than one body
//! is split into `parts` entries whose `data` concatenate in part order; a
//! receiver assembles the parts (all from one author), checks the hash, and
//! only then reads the changes.
//!
//! ```
//! use kith_protocol::change_group::{self, Part};
//! use kith_protocol::{Body, PageId};
//!
//! let changes = vec![b"first change".to_vec(), b"second".to_vec()];
//! let bodies = change_group::pack(PageId([7; 16]), &changes, 64 * 1024);
//! assert_eq!(bodies.len(), 1);
//! let Body::WikiChange(w) = &bodies[0].0 else { unreachable!() };
//! let data = change_group::assemble(&[Part { parts: w.parts, data: &w.data }], &w.group_hash).unwrap();
//! assert_eq!(change_group::split(&data).unwrap(), vec![&b"first change"[..], &b"second"[..]]);
//! ```

use crate::body::{Body, PageId, WikiChange};
use crate::varint;

/// Most parts of one group.
pub const MAX_PARTS: u32 = 128;
/// Largest change group (all parts together).
pub const MAX_GROUP_BYTES: usize = 4 * 1024 * 1024;
/// Largest bundle a compressed group may expand to.
pub const MAX_BUNDLE_BYTES: usize = 16 * 1024 * 1024;
/// Bytes of a wiki-change body besides its data (page id, hash, part
/// numbers, framing), reserved when packing.
pub const BODY_OVERHEAD: usize = 128;

/// Why a change group, or a part of one, is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("part {part} of {parts} is out of range (at most {MAX_PARTS} parts)")]
    PartRange { part: u32, parts: u32 },
    #[error("the parts of one group disagree on how many parts it has")]
    PartsDisagree,
    #[error("a change group is at most {MAX_GROUP_BYTES} bytes")]
    TooLarge,
    #[error("the group hash does not match its data")]
    HashMismatch,
    #[error("malformed change framing: {0}")]
    Framing(&'static str),
    #[error("the compressed group is not valid DEFLATE data")]
    Deflate,
    #[error("the compressed group expands beyond {MAX_BUNDLE_BYTES} bytes")]
    BundleTooLarge,
}

/// Compresses a bundle into a group's data (raw DEFLATE, best compression).
pub fn compress(bundle: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    encoder
        .write_all(bundle)
        .and_then(|()| encoder.finish())
        .expect("compressing into a Vec cannot fail")
}

/// The bundle a compressed group holds. Refuses data that is not a complete
/// raw DEFLATE stream, has bytes after its end, or expands beyond
/// [`MAX_BUNDLE_BYTES`].
pub fn decompress(data: &[u8]) -> Result<Vec<u8>, Error> {
    let mut inflater = flate2::Decompress::new(false);
    let mut out: Vec<u8> = Vec::new();
    loop {
        if out.len() == out.capacity() {
            if out.len() >= MAX_BUNDLE_BYTES {
                return Err(Error::BundleTooLarge);
            }
            // Not `clamp(4096, room)`: it panics once the room left is
            // under 4096 bytes.
            let more = out
                .len()
                .max(data.len().saturating_mul(4))
                .max(4096)
                .min(MAX_BUNDLE_BYTES - out.len());
            out.reserve_exact(more);
        }
        let (in_before, out_before) = (inflater.total_in(), out.len());
        let consumed = usize::try_from(in_before).map_err(|_| Error::Deflate)?;
        let status = inflater
            .decompress_vec(&data[consumed..], &mut out, flate2::FlushDecompress::None)
            .map_err(|_| Error::Deflate)?;
        if status == flate2::Status::StreamEnd {
            break;
        }
        let stuck = inflater.total_in() == in_before && out.len() == out_before;
        if stuck && out.len() < out.capacity() {
            return Err(Error::Deflate); // Truncated: the input ended first.
        }
    }
    if inflater.total_in() != data.len() as u64 {
        return Err(Error::Deflate); // Bytes after the end of the stream.
    }
    Ok(out)
}

/// Bodies (kind 8) carrying one compressed bundle group, split into parts
/// if it is larger than one body. `None` if the group is larger than
/// [`MAX_GROUP_BYTES`] (send the framed form instead).
pub fn pack_bundle(page: PageId, group: &[u8], max_body: usize) -> Option<Vec<Body>> {
    if group.len() > MAX_GROUP_BYTES {
        return None;
    }
    let cap = max_body.saturating_sub(BODY_OVERHEAD).max(1024);
    let group_hash = *blake3::hash(group).as_bytes();
    let chunks: Vec<&[u8]> = if group.is_empty() {
        vec![group]
    } else {
        group.chunks(cap).collect()
    };
    let parts = chunks.len() as u32;
    if parts > MAX_PARTS {
        return None;
    }
    Some(
        chunks
            .into_iter()
            .enumerate()
            .map(|(i, chunk)| {
                Body::WikiBundle(WikiChange {
                    page,
                    group_hash,
                    part: i as u32,
                    parts,
                    data: chunk.to_vec(),
                })
            })
            .collect(),
    )
}

/// Checks the part numbers of one wiki-change body.
pub fn check_part(change: &WikiChange) -> Result<(), Error> {
    if change.parts == 0 || change.part >= change.parts || change.parts > MAX_PARTS {
        return Err(Error::PartRange {
            part: change.part,
            parts: change.parts,
        });
    }
    Ok(())
}

/// Frames changes into one group.
pub fn frame(changes: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(changes.iter().map(|c| c.len() + 3).sum());
    for c in changes {
        varint::encode(c.len() as u64, &mut out);
        out.extend_from_slice(c);
    }
    out
}

/// Splits a group into its changes.
pub fn split(mut data: &[u8]) -> Result<Vec<&[u8]>, Error> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let (len, rest) = varint::decode(data).map_err(Error::Framing)?;
        let len = usize::try_from(len).map_err(|_| Error::Framing("length overflows"))?;
        if rest.len() < len {
            return Err(Error::Framing("truncated change group"));
        }
        out.push(&rest[..len]);
        data = &rest[len..];
    }
    Ok(out)
}

/// One received part of a group, as [`assemble`] needs it.
#[derive(Debug, Clone, Copy)]
pub struct Part<'a> {
    /// The `parts` the entry claims the group has.
    pub parts: u32,
    pub data: &'a [u8],
}

/// The group's data from all its parts (in part order), checked against
/// its hash. The caller makes sure every part comes from the same author.
pub fn assemble(parts: &[Part<'_>], group_hash: &[u8; 32]) -> Result<Vec<u8>, Error> {
    let mut data = Vec::new();
    for part in parts {
        if part.parts as usize != parts.len() {
            return Err(Error::PartsDisagree);
        }
        if data.len() + part.data.len() > MAX_GROUP_BYTES {
            return Err(Error::TooLarge);
        }
        data.extend_from_slice(part.data);
    }
    if blake3::hash(&data).as_bytes() != group_hash {
        return Err(Error::HashMismatch);
    }
    Ok(data)
}

/// Wiki-change bodies carrying `changes`, packed into as few entries as the
/// body cap allows; a group larger than one body is split into parts. Each
/// body comes with the indexes (into `changes`) of its group's changes;
/// every part of a split group lists the whole group.
pub fn pack(page: PageId, changes: &[Vec<u8>], max_body: usize) -> Vec<(Body, Vec<usize>)> {
    let cap = max_body.saturating_sub(BODY_OVERHEAD).max(1024);
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut size = 0;
    for (i, change) in changes.iter().enumerate() {
        let framed = change.len() + varint::encoded_len(change.len() as u64);
        match groups.last_mut() {
            Some(group) if size + framed <= cap => {
                group.push(i);
                size += framed;
            }
            _ => {
                groups.push(vec![i]);
                size = framed;
            }
        }
    }
    let mut out = Vec::new();
    for group in groups {
        let members: Vec<Vec<u8>> = group.iter().map(|&i| changes[i].clone()).collect();
        let data = frame(&members);
        let group_hash = *blake3::hash(&data).as_bytes();
        let chunks: Vec<&[u8]> = data.chunks(cap).collect();
        let parts = chunks.len() as u32;
        for (i, chunk) in chunks.into_iter().enumerate() {
            out.push((
                Body::WikiChange(WikiChange {
                    page,
                    group_hash,
                    part: i as u32,
                    parts,
                    data: chunk.to_vec(),
                }),
                group.clone(),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn frames_round_trip() {
        let changes = vec![vec![1u8; 200], vec![], vec![9; 3]];
        let data = frame(&changes);
        let back: Vec<Vec<u8>> = split(&data)
            .unwrap()
            .into_iter()
            .map(<[u8]>::to_vec)
            .collect();
        assert_eq!(back, changes);
        assert!(split(&data[..data.len() - 1]).is_err());
        assert!(split(&[0x80]).is_err());
    }

    #[test]
    fn large_groups_split_into_parts_that_reassemble() {
        let changes = vec![vec![5u8; 3000], vec![6u8; 2500]];
        let bodies = pack(PageId([1; 16]), &changes, 2048);
        assert!(bodies.len() > 2);
        let mut by_group: std::collections::BTreeMap<[u8; 32], Vec<WikiChange>> =
            Default::default();
        for (body, _) in bodies {
            let Body::WikiChange(w) = body else {
                panic!("not a wiki change")
            };
            check_part(&w).unwrap();
            by_group.entry(w.group_hash).or_default().push(w);
        }
        let mut all = Vec::new();
        for (hash, parts) in by_group {
            let parts: Vec<Part<'_>> = parts
                .iter()
                .map(|w| Part {
                    parts: w.parts,
                    data: &w.data,
                })
                .collect();
            let data = assemble(&parts, &hash).unwrap();
            all.extend(split(&data).unwrap().into_iter().map(<[u8]>::to_vec));
        }
        assert_eq!(all, changes);
    }

    #[test]
    fn bundles_compress_split_and_come_back() {
        let repetitive: Vec<u8> = (0..50_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        assert!(compress(&repetitive).len() < repetitive.len() / 4);
        // Incompressible, so that it needs several parts.
        let mut bundle = vec![0u8; 20_000];
        blake3::Hasher::new()
            .update(b"bundle")
            .finalize_xof()
            .fill(&mut bundle);
        let group = compress(&bundle);
        assert_eq!(decompress(&group).unwrap(), bundle);
        let bodies = pack_bundle(PageId([2; 16]), &group, 4096).unwrap();
        assert!(bodies.len() > 1);
        let parts: Vec<WikiChange> = bodies
            .into_iter()
            .map(|b| match b {
                Body::WikiBundle(w) => w,
                _ => panic!("not a bundle part"),
            })
            .collect();
        let views: Vec<Part<'_>> = parts
            .iter()
            .map(|w| Part {
                parts: w.parts,
                data: &w.data,
            })
            .collect();
        let data = assemble(&views, &parts[0].group_hash).unwrap();
        assert_eq!(decompress(&data).unwrap(), bundle);
    }

    #[test]
    fn bad_deflate_data_is_refused() {
        let group = compress(b"some bundle bytes, some bundle bytes");
        assert_eq!(decompress(&group[..group.len() - 2]), Err(Error::Deflate));
        let mut trailing = group.clone();
        trailing.push(0);
        assert_eq!(decompress(&trailing), Err(Error::Deflate));
        assert_eq!(decompress(&[0xff, 0xff, 0xff]), Err(Error::Deflate));
        assert_eq!(decompress(&[]), Err(Error::Deflate));
        // A bomb: 64 MiB of zeros compresses to ~64 KiB.
        let bomb = compress(&vec![0u8; 64 * 1024 * 1024]);
        assert_eq!(decompress(&bomb), Err(Error::BundleTooLarge));
    }

    /// Groups whose length makes the output buffer grow to just under the
    /// limit (here to 16,775,200 bytes, 2,016 short of it) and that expand
    /// beyond it are refused like any bomb, not by a panic.
    #[test]
    fn a_bomb_that_fills_the_buffer_to_just_under_the_limit_is_refused() {
        // Stored (uncompressed) blocks, then a compressed run of zeros: a
        // stored block ends on a byte boundary, so the two concatenate.
        let zeros = compress(&vec![0u8; 17_000_000]);
        let target = 2_096_900;
        let mut data = Vec::with_capacity(target);
        let mut left = target - zeros.len();
        while left > 0 {
            let len = (left - 5).min(65_535);
            data.push(0); // BFINAL 0, BTYPE 00 (stored)
            data.extend((len as u16).to_le_bytes());
            data.extend((!(len as u16)).to_le_bytes());
            data.extend(std::iter::repeat_n(0x5a, len));
            left -= len + 5;
        }
        data.extend(&zeros);
        assert_eq!(data.len(), target);
        assert_eq!(decompress(&data), Err(Error::BundleTooLarge));
    }

    #[test]
    fn bad_parts_and_hashes_are_refused() {
        let w = |part, parts| WikiChange {
            page: PageId([0; 16]),
            group_hash: [0; 32],
            part,
            parts,
            data: vec![],
        };
        assert!(check_part(&w(0, 1)).is_ok());
        assert!(check_part(&w(1, 1)).is_err());
        assert!(check_part(&w(0, 0)).is_err());
        assert!(check_part(&w(0, MAX_PARTS + 1)).is_err());
        let part = Part {
            parts: 1,
            data: b"x",
        };
        assert_eq!(assemble(&[part], &[0; 32]), Err(Error::HashMismatch));
        let hash = *blake3::hash(b"xx").as_bytes();
        assert_eq!(
            assemble(&[Part { parts: 3, ..part }, part], &hash),
            Err(Error::PartsDisagree)
        );
    }
}
