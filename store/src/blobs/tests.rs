use kith_protocol::blob::verify_slice;

use super::*;

fn bytes(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + i / 4096) as u8).collect()
}

#[test]
fn a_blob_added_is_named_by_its_hash_and_served_in_verified_slices() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = Blobs::open(dir.path(), Limits::default()).unwrap();
    let data = bytes(3 * 1024 * 1024 + 17);
    let src = dir.path().join("input.bin");
    fs::write(&src, &data).unwrap();
    let (hash, size) = blobs.add_file(&src).unwrap();
    assert_eq!(hash, BlobHash::of(&data));
    assert_eq!(size, data.len() as u64);
    assert_eq!(blobs.size(&hash), Some(size));
    assert_eq!(blobs.used(), size);
    let mut got = Vec::new();
    let mut offset = 0;
    while offset < size {
        let slice = blobs.slice(&hash, offset, MAX_SLICE).unwrap().unwrap();
        got.extend(verify_slice(&hash, offset, MAX_SLICE, &slice).unwrap());
        offset += MAX_SLICE;
    }
    assert_eq!(got, data);
    // The same bytes again: one blob.
    assert_eq!(blobs.add_bytes(&data).unwrap(), (hash, size));
    assert_eq!(blobs.used(), size);
    // Reopened, the use is counted from the files.
    drop(blobs);
    let blobs = Blobs::open(dir.path(), Limits::default()).unwrap();
    assert_eq!(blobs.used(), size);
    assert!(blobs.remove(&hash).unwrap());
    assert!(!blobs.has(&hash));
    assert_eq!(blobs.used(), 0);
    assert!(blobs.slice(&hash, 0, 1024).unwrap().is_none());
}

#[test]
fn a_partial_blob_takes_only_checked_ranges_and_is_installed_only_whole() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = Blobs::open(dir.path(), Limits::default()).unwrap();
    let data = bytes(200_000);
    let (outboard, root) = bao::encode::outboard(&data);
    let hash = BlobHash(*root.as_bytes());
    let slice = |offset: u64, len: u64| {
        kith_protocol::blob::extract_slice(&data, &outboard, offset, len).unwrap()
    };
    let mut partial = blobs.partial(hash, data.len() as u64).unwrap();
    assert_eq!(
        partial.write_slice(0, 102_400, &slice(0, 102_400)).unwrap(),
        102_400
    );
    assert!(!blobs.has(&hash), "not held before it is finished");
    // A range with a flipped byte is refused at its chunk, and not written.
    let mut bad = slice(102_400, 102_400);
    let at = bad.len() - 500;
    bad[at] ^= 1;
    assert!(matches!(
        partial.write_slice(102_400, 102_400, &bad),
        Err(kith_protocol::blob::SliceError::Mismatch { .. })
    ));
    // A range never written: not whole.
    assert!(matches!(
        partial.finish(),
        Err(Error::Incomplete { missing: 96, .. })
    ));
    assert!(!blobs.has(&hash));
    let mut partial = blobs.partial(hash, data.len() as u64).unwrap();
    partial
        .write_slice(102_400, 102_400, &slice(102_400, 102_400))
        .unwrap();
    partial.write_slice(0, 102_400, &slice(0, 102_400)).unwrap();
    assert!(partial.is_whole());
    partial.finish().unwrap();
    assert_eq!(fs::read(blobs.path(&hash)).unwrap(), data);
    // Held (and listed, so a sweep sees it) before it has an outboard.
    assert_eq!(blobs.list().unwrap(), vec![hash]);
    assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    // Its outboard is built when a range is first served.
    let served = blobs.slice(&hash, 1024, 4096).unwrap().unwrap();
    assert_eq!(
        verify_slice(&hash, 1024, 4096, &served).unwrap(),
        data[1024..5120]
    );
}

#[test]
fn a_file_changed_on_disk_is_dropped_when_it_is_served_again() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = Blobs::open(dir.path(), Limits::default()).unwrap();
    let data = bytes(50_000);
    let (outboard, root) = bao::encode::outboard(&data);
    let hash = BlobHash(*root.as_bytes());
    let mut partial = blobs.partial(hash, 50_000).unwrap();
    let slice = kith_protocol::blob::extract_slice(&data, &outboard, 0, 65_536).unwrap();
    partial.write_slice(0, 65_536, &slice).unwrap();
    partial.finish().unwrap();
    // Before any range was served (no outboard yet), the disk changes it.
    let mut on_disk = fs::read(blobs.path(&hash)).unwrap();
    on_disk[7] ^= 1;
    fs::write(blobs.path(&hash), on_disk).unwrap();
    assert!(blobs.slice(&hash, 0, 1024).unwrap().is_none());
    assert!(!blobs.has(&hash));
    assert_eq!(blobs.used(), 0);
}

#[test]
fn limits_refuse_a_file_too_large_and_a_full_store_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = Blobs::open(
        dir.path(),
        Limits {
            max_file: 1000,
            quota: 1500,
        },
    )
    .unwrap();
    let err = blobs.add_bytes(&bytes(1001)).unwrap_err();
    assert!(
        matches!(
            err,
            Error::TooLarge {
                size: 1001,
                limit: 1000,
                ..
            }
        ),
        "{err}"
    );
    blobs.add_bytes(&bytes(900)).unwrap();
    let err = blobs.add_bytes(&bytes(700)).unwrap_err();
    assert!(err.to_string().contains("raise quota"), "{err}");
    assert!(matches!(
        blobs.partial(BlobHash([1; 32]), 700),
        Err(Error::Full { .. })
    ));
    // A file that grows past the limit while it is read is refused too.
    let src = dir.path().join("big");
    fs::write(&src, bytes(1200)).unwrap();
    assert!(blobs.add_file(&src).is_err());
    assert_eq!(blobs.used(), 900);
}

#[test]
fn what_a_crash_left_half_written_is_gone_at_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = Blobs::open(dir.path(), Limits::default()).unwrap();
    let data = bytes(5000);
    let (outboard, root) = bao::encode::outboard(&data);
    let hash = BlobHash(*root.as_bytes());
    let mut partial = blobs.partial(hash, 5000).unwrap();
    let slice = kith_protocol::blob::extract_slice(&data, &outboard, 0, 4096).unwrap();
    partial.write_slice(0, 4096, &slice).unwrap();
    std::mem::forget(partial);
    assert!(!blobs.has(&hash));
    drop(blobs);
    let blobs = Blobs::open(dir.path(), Limits::default()).unwrap();
    assert!(
        !dir.path().join("tmp").exists(),
        "the half-written file is gone"
    );
    assert!(!blobs.has(&hash));
    blobs.add_bytes(&data).unwrap();
    assert!(blobs.has(&hash));
}

#[test]
fn a_sweep_drops_what_nothing_references_but_not_a_file_just_added() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = Blobs::open(dir.path(), Limits::default()).unwrap();
    let (kept, _) = blobs.add_bytes(b"referenced").unwrap();
    let (orphan, _) = blobs.add_bytes(b"no longer referenced").unwrap();
    let (pending, _) = blobs
        .add_bytes(b"attached to a post being written")
        .unwrap();
    // The first two were posted (referenced), then one post was deleted.
    blobs.referenced(&kept);
    blobs.referenced(&orphan);
    let dropped = blobs.sweep(|h| *h == kept).unwrap();
    assert_eq!(dropped, vec![orphan]);
    assert!(blobs.has(&kept) && blobs.has(&pending) && !blobs.has(&orphan));
    // After a restart nothing is fresh: an unreferenced blob goes.
    drop(blobs);
    let blobs = Blobs::open(dir.path(), Limits::default()).unwrap();
    assert_eq!(blobs.sweep(|h| *h == kept).unwrap(), vec![pending]);
    assert_eq!(blobs.list().unwrap(), vec![kept]);
}
