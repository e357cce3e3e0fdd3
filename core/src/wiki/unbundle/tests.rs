use std::io::Read;
use std::time::{Duration, Instant};

use automerge::{Bundle, Change};
use kith_protocol::change_group;
use proptest::prelude::*;

use super::check::{count_values, sum_values};
use super::*;

/// The vectors (`docs/vectors/compact-group/README.md`): bundles made by Automerge 0.12.0,
/// with the hash and bytes of each change.
const VECTORS: [(&str, &str); 6] = [
    (
        "cg",
        include_str!("../../../../docs/vectors/compact-group/cg.block"),
    ),
    (
        "types",
        include_str!("../../../../docs/vectors/compact-group/types.block"),
    ),
    (
        "whole",
        include_str!("../../../../docs/vectors/compact-group/whole.block"),
    ),
    (
        "deflated",
        include_str!("../../../../docs/vectors/compact-group/deflated.block"),
    ),
    (
        "sizes",
        include_str!("../../../../docs/vectors/compact-group/sizes.block"),
    ),
    (
        "kith-s10",
        include_str!("../../../../docs/vectors/compact-group/kith-s10.block"),
    ),
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
                    "bytes" => recorded.last_mut().unwrap().1 = Some(hex::decode(rest).unwrap()),
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
    flate2::read::DeflateDecoder::new(
        &include_bytes!("../../../../docs/vectors/compact-group/malformed.txt.deflate")[..],
    )
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
    let inputs = include_str!("../../../../docs/vectors/compact-group/crash-inputs.txt");
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
            &include_bytes!("../../../../fuzz/regressions/wiki_change/hang-automerge-change-ops")[..],
        ),
        (
            "2^62 preds",
            include_bytes!("../../../../fuzz/regressions/wiki_change/abort-automerge-change-preds"),
        ),
        (
            "2^24 ops",
            include_bytes!(
                "../../../../fuzz/regressions/wiki_change/slow-automerge-change-16m-ops"
            ),
        ),
        (
            "17 MiB compressed",
            include_bytes!(
                "../../../../fuzz/regressions/wiki_change/bomb-automerge-change-deflate"
            ),
        ),
        (
            "a bundle",
            include_bytes!(
                "../../../../fuzz/regressions/wiki_change/abort-automerge-change-is-a-bundle"
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
