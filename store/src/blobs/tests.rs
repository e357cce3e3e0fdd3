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
fn a_partial_blob_is_installed_only_whole_and_right() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = Blobs::open(dir.path(), Limits::default()).unwrap();
    let data = bytes(200_000);
    let hash = BlobHash::of(&data);
    let mut partial = blobs.partial(hash, data.len() as u64).unwrap();
    partial.write_at(0, &data[..100_352]).unwrap();
    assert!(!blobs.has(&hash), "not held before it is finished");
    // A range never written: the whole does not hash right.
    assert!(matches!(partial.finish(), Err(Error::Wrong { .. })));
    assert!(!blobs.has(&hash));
    let mut partial = blobs.partial(hash, data.len() as u64).unwrap();
    partial.write_at(100_352, &data[100_352..]).unwrap();
    partial.write_at(0, &data[..100_352]).unwrap();
    partial.finish().unwrap();
    assert_eq!(fs::read(blobs.path(&hash)).unwrap(), data);
    assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
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
    let hash = BlobHash::of(&data);
    let mut partial = blobs.partial(hash, 5000).unwrap();
    partial.write_at(0, &data[..4096]).unwrap();
    std::mem::forget(partial);
    // A blob whose outboard never landed is not held.
    fs::create_dir_all(blobs.path(&hash).parent().unwrap()).unwrap();
    fs::write(blobs.path(&hash), &data).unwrap();
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
