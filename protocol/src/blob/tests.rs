use super::*;

fn blob(len: usize) -> (Vec<u8>, Vec<u8>, BlobHash) {
    let bytes: Vec<u8> = (0..len).map(|i| (i * 7 + i / 1024) as u8).collect();
    let (outboard, hash) = bao::encode::outboard(&bytes);
    (bytes, outboard, BlobHash(*hash.as_bytes()))
}

#[test]
fn the_blob_hash_is_blake3_of_the_bytes() {
    let (bytes, _, hash) = blob(70_000);
    assert_eq!(hash, BlobHash::of(&bytes));
}

#[test]
fn every_slice_verifies_and_gives_back_its_range() {
    let (bytes, outboard, hash) = blob(300_000);
    for (offset, len) in [
        (0u64, 300_000u64),
        (0, 1024),
        (4096, 65536),
        (299_008, 65536),
    ] {
        let slice = extract_slice(&bytes, &outboard, offset, len).unwrap();
        let got = verify_slice(&hash, offset, len, &slice).unwrap();
        let end = (offset + len).min(bytes.len() as u64) as usize;
        assert_eq!(got, bytes[offset as usize..end], "{offset}+{len}");
    }
}

#[test]
fn a_flipped_byte_is_caught_at_its_chunk() {
    let (bytes, outboard, hash) = blob(200_000);
    let (offset, len) = (65536u64, 131072u64);
    let clean = extract_slice(&bytes, &outboard, offset, len).unwrap();
    // Flip a content byte at blob offset 100_000 (inside chunk 97, which
    // starts at 99_328): find it in the slice by flipping the same byte of
    // the content and extracting again.
    let mut bad_bytes = bytes.clone();
    bad_bytes[100_000] ^= 1;
    let bad = extract_slice(&bad_bytes, &outboard, offset, len).unwrap();
    assert_eq!(bad.len(), clean.len());
    assert_eq!(
        verify_slice(&hash, offset, len, &bad),
        Err(SliceError::Mismatch { offset: 99_328 })
    );
    // A flipped tree node is caught too, at the first chunk below it.
    let mut node = clean.clone();
    node[8] ^= 1;
    assert!(matches!(
        verify_slice(&hash, offset, len, &node),
        Err(SliceError::Mismatch { offset: 65536 })
    ));
    // Another blob's slice is refused at its first chunk.
    let (_, _, other) = blob(200_001);
    assert!(matches!(
        verify_slice(&other, offset, len, &clean),
        Err(SliceError::Mismatch { .. })
    ));
    // A cut slice is malformed, not accepted as shorter.
    assert!(verify_slice(&hash, offset, len, &clean[..clean.len() - 10]).is_err());
}

#[test]
fn references_keep_names_and_types_harmless() {
    let good = BlobRef {
        hash: BlobHash([1; 32]),
        size: 10,
        media_type: "image/png".into(),
        name: "screen shot.png".into(),
        key: None,
    };
    good.check().unwrap();
    for name in ["", ".", "..", "a/b", "..\\x", "a\nb", &"x".repeat(256)] {
        let r = BlobRef {
            name: name.into(),
            ..good.clone()
        };
        assert!(r.check().is_err(), "{name:?}");
    }
    for media in [
        "image",
        "Image/PNG",
        "text/html; charset=utf-8",
        "/png",
        "image/",
        "a/b/c",
    ] {
        let r = BlobRef {
            media_type: media.into(),
            ..good.clone()
        };
        assert!(r.check().is_err(), "{media:?}");
    }
    assert!(check_files(&vec![good.clone(); MAX_FILES]).is_ok());
    assert!(check_files(&vec![good; MAX_FILES + 1]).is_err());
}

#[test]
fn ranges_are_chunk_aligned_and_bounded() {
    let r = |offset, len| Request {
        hash: BlobHash([0; 32]),
        offset,
        len,
    };
    assert!(r(0, MAX_SLICE).check().is_ok());
    assert!(r(1024, 1).check().is_ok());
    assert!(r(1, 1024).check().is_err());
    assert!(r(0, 0).check().is_err());
    assert!(r(0, MAX_SLICE + 1).check().is_err());
}

#[test]
fn hashes_read_with_or_without_the_blob_prefix() {
    let h = BlobHash([0xab; 32]);
    assert_eq!(h.to_string().parse::<BlobHash>().unwrap(), h);
    assert_eq!(format!("blob:{h}").parse::<BlobHash>().unwrap(), h);
    assert!("blob:xyz".parse::<BlobHash>().is_err());
}

/// The vectors of PROTOCOL.md §13.5, computed here. On a mismatch the
/// message holds the block to paste.
#[test]
fn protocol_md_blob_vectors_match_the_code() {
    use crate::body::{Body, Post, PostKind};
    let content: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    let (outboard, root) = bao::encode::outboard(&content);
    let hash = BlobHash(*root.as_bytes());
    let file = BlobRef {
        hash,
        size: content.len() as u64,
        media_type: "text/plain".into(),
        name: "notes.txt".into(),
        key: None,
    };
    let post = Body::Post(Post {
        kind: PostKind::Note,
        text: "see the file".into(),
        reply_to: None,
        tags: vec![],
        files: vec![file.clone()],
        mentions: Vec::new(),
    });
    let files = Body::Files(Files {
        files: vec![file.clone()],
    });
    let request = Request {
        hash,
        offset: 1024,
        len: 1024,
    };
    let slice = extract_slice(&content, &outboard, 1024, 1024).unwrap();
    let response = postcard::to_stdvec(&Response::Slice(slice.clone())).unwrap();
    let mut flipped = slice.clone();
    let at = slice.len() - 1024 + 10;
    flipped[at] ^= 1;
    assert_eq!(
        verify_slice(&hash, 1024, 1024, &flipped),
        Err(SliceError::Mismatch { offset: 1024 })
    );
    let mut cipher = content.clone();
    apply_keystream(&[7; 32], 0, &mut cipher);
    // Any offset gives the same bytes: the keystream seeks.
    let mut tail = content[1000..].to_vec();
    apply_keystream(&[7; 32], 1000, &mut tail);
    assert_eq!(tail, cipher[1000..]);
    let block = format!(
        "content   the 3,000 bytes i mod 251 (i = 0, 1, …, 2999)\n\
         hash      {hash}\n\
         outboard  {} bytes, blake3 {}\n\
         post      {} (kind 20: a note \"see the file\" with notes.txt, text/plain)\n\
         files     {} (kind 21: the same file declared)\n\
         request   {} (offset 1024, len 1024)\n\
         slice     {} bytes, blake3 {} (the Bao slice of bytes 1024..2048)\n\
         response  {} bytes, blake3 {} (Response::Slice of it, postcard)\n\
         flipped   byte {at} of the slice (byte 1034 of the content) flipped: refused at the chunk at byte 1024\n\
         circle    key 07×32: ciphertext begins {}, blake3 {}\n\
         promotion {} (kind 22: page 11×16, source 22×32, its author the vector key, one change 33×32)\n",
        outboard.len(),
        blake3::hash(&outboard),
        hex::encode(post.encode()),
        hex::encode(files.encode()),
        hex::encode(postcard::to_stdvec(&request).unwrap()),
        slice.len(),
        blake3::hash(&slice),
        response.len(),
        blake3::hash(&response),
        hex::encode(&cipher[..32]),
        blake3::hash(&cipher),
        hex::encode(
            Body::Promotion(crate::body::Promotion {
                page: crate::body::PageId([0x11; 16]),
                source: crate::entry::EntryId([0x22; 32]),
                source_author: crate::keys::Keypair::from_secret(&crate::vectors::seed()).author(),
                changes: vec![crate::entry::EntryId([0x33; 32])],
            })
            .encode()
        ),
    );
    let doc = include_str!("../../../docs/PROTOCOL.md");
    let found = doc
        .split("<!-- blob-vectors:begin -->\n```text\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .unwrap_or_default();
    assert_eq!(
        found, block,
        "PROTOCOL.md §13.5 blob vectors are stale; the block:\n{block}"
    );
}
