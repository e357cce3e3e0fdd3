//! Bundles between two nodes that never connect.
#![allow(clippy::unwrap_used)]

use assert_cmd::Command;
use kith_node::{Config, Core, DataDir, identity};
use kith_protocol::{Body, Post, PostKind};
use kith_testkit::process::Kith;
use predicates::prelude::*;
use serde_json::Value;

fn kith(dir: &tempfile::TempDir) -> Command {
    Command::from_std(Kith::at(env!("CARGO_BIN_EXE_kith")).command(dir.path()))
}

fn out(cmd: &mut Command) -> String {
    String::from_utf8(cmd.assert().success().get_output().stdout.clone()).unwrap()
}

/// Appends `n` notes to the node's own log directly (fast, no process per post).
fn posts(dir: &tempfile::TempDir, prefix: &str, n: usize) {
    let data_dir = DataDir::new(dir.path());
    let keypair = identity::load(&data_dir.identity()).unwrap();
    let mut core = Core::open(Config::new(data_dir), keypair).unwrap();
    let bodies: Vec<Body> = (0..n)
        .map(|i| {
            Body::Post(Post {
                kind: PostKind::Note,
                text: format!("{prefix} {i}"),
                reply_to: None,
                tags: vec![],
                files: Vec::new(),
                mentions: Vec::new(),
            })
        })
        .collect();
    core.append(&bodies).unwrap();
    core.close().unwrap();
}

fn seq_of(dir: &tempfile::TempDir, author: &str) -> u64 {
    let status: Value = serde_json::from_str(&out(kith(dir).args(["status", "--json"]))).unwrap();
    status["authors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["author"] == author)
        .map_or(0, |a| a["local_seq"].as_u64().unwrap())
}

/// Exports `to`'s frontier, bundles what `from` has that `to` lacks, imports it.
fn exchange(
    from: &tempfile::TempDir,
    to: &tempfile::TempDir,
    to_id: &str,
    files: &tempfile::TempDir,
    name: &str,
) -> String {
    let frontier = files.path().join(format!("{name}.frontier.json"));
    let bundle = files.path().join(format!("{name}.kithbundle"));
    kith(to)
        .args(["frontier", "export"])
        .arg(&frontier)
        .assert()
        .success();
    let exported = out(kith(from)
        .args(["bundle", "export"])
        .arg(&bundle)
        .args(["--for", to_id, "--since"])
        .arg(&frontier));
    out(kith(to).args(["bundle", "import"]).arg(&bundle));
    exported
}

/// Ann and Ben, who trust each other, and a directory for their files.
fn friends() -> (
    tempfile::TempDir,
    tempfile::TempDir,
    tempfile::TempDir,
    String,
    String,
) {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let a_id = out(kith(&a).args(["init", "--name", "Ann"]))
        .trim()
        .to_string();
    let b_id = out(kith(&b).args(["init", "--name", "Ben"]))
        .trim()
        .to_string();
    kith(&a).args(["trust", "add", &b_id]).assert().success();
    kith(&b).args(["trust", "add", &a_id]).assert().success();
    (a, b, files, a_id, b_id)
}

#[test]
fn two_nodes_that_never_connect_sync_by_bundles_both_ways_incrementally() {
    let (a, b, files, a_id, b_id) = friends();
    posts(&a, "from ann", 1000);
    posts(&b, "from ben", 20);
    kith(&a)
        .args(["wiki", "new", "Field guide", "--file", "-"])
        .write_stdin("Birds seen at the lake.\n")
        .assert()
        .success();

    let first = exchange(&a, &b, &b_id, &files, "ab1");
    // encryption key + profile + 1000 posts + page
    assert!(first.contains("wrote 1003 entries"), "{first}");
    exchange(&b, &a, &a_id, &files, "ba1");
    assert_eq!(seq_of(&b, &a_id), 1003);
    assert_eq!(seq_of(&a, &b_id), 22);
    // More than a node's page (1,000): the CLI pages, nothing is cut.
    let all: Value =
        serde_json::from_str(&out(kith(&b).args(["feed", "--json", "--limit", "1000000"])))
            .unwrap();
    assert_eq!(all.as_array().unwrap().len(), 1020, "1,000 + 20 posts");
    let some: Value =
        serde_json::from_str(&out(kith(&b).args(["feed", "--json", "--limit", "1010"]))).unwrap();
    assert_eq!(some.as_array().unwrap().len(), 1010);
    let page: Value = serde_json::from_str(&out(kith(&b).args([
        "wiki",
        "show",
        "Field guide",
        "--json",
    ])))
    .unwrap();
    assert_eq!(page["body"], "Birds seen at the lake.\n");
    kith(&b).args(["log", "verify"]).assert().success();

    // Incremental: the second bundle carries only what is new.
    posts(&a, "more from ann", 10);
    kith(&a)
        .args(["wiki", "edit", "Field guide", "-"])
        .write_stdin("Birds seen at the lake: herons.\n")
        .assert()
        .success();
    let second = exchange(&a, &b, &b_id, &files, "ab2");
    assert!(second.contains("wrote 11 entries"), "{second}");
    let page: Value = serde_json::from_str(&out(kith(&b).args([
        "wiki",
        "show",
        "Field guide",
        "--json",
    ])))
    .unwrap();
    assert_eq!(page["body"], "Birds seen at the lake: herons.\n");
    // Importing the same bundle again changes nothing.
    let again = out(kith(&b)
        .args(["bundle", "import"])
        .arg(files.path().join("ab2.kithbundle")));
    assert!(again.contains("0 new, 11 already here"), "{again}");
    // Only for people you trust.
    kith(&a)
        .args(["bundle", "export"])
        .arg(files.path().join("x"))
        .args([
            "--for",
            "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA",
        ])
        .assert()
        .failure()
        .stderr(predicate::str::contains("you do not trust"));
}

#[test]
fn tampered_and_truncated_bundles_apply_nothing_invalid_and_say_why() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let a_id = out(kith(&a).args(["init"])).trim().to_string();
    let b_id = out(kith(&b).args(["init"])).trim().to_string();
    kith(&b).args(["trust", "add", &a_id]).assert().success();
    let _ = b_id;
    posts(&a, "note", 50);
    let bundle = files.path().join("a.kithbundle");
    kith(&a)
        .args(["bundle", "export"])
        .arg(&bundle)
        .assert()
        .success();
    let bytes = std::fs::read(&bundle).unwrap();

    // One byte changed inside entry 30's body.
    let mut tampered = bytes.clone();
    let needle = b"note 29";
    let at = tampered
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap();
    tampered[at + 5] = b'X';
    let path = files.path().join("tampered.kithbundle");
    std::fs::write(&path, &tampered).unwrap();
    let err = kith(&b)
        .args(["bundle", "import"])
        .arg(&path)
        .assert()
        .failure()
        .stderr(predicate::str::contains("checksum mismatch"))
        .stderr(predicate::str::contains("body does not match"))
        .get_output()
        .stderr
        .clone();
    // One line, as every error (the progress bar draws only on a terminal).
    let err = String::from_utf8(err).unwrap();
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    // Entries before the damaged one verified and were applied; nothing after it.
    assert_eq!(seq_of(&b, &a_id), 30); // the encryption key and notes 0-28
    kith(&b).args(["log", "verify"]).assert().success();
    let feed: Value =
        serde_json::from_str(&out(kith(&b).args(["feed", "--json", "--limit", "100"]))).unwrap();
    assert!(
        feed.as_array()
            .unwrap()
            .iter()
            .all(|e| !e["text"].as_str().unwrap().contains('X'))
    );

    // Truncated.
    let b2 = tempfile::tempdir().unwrap();
    kith(&b2).arg("init").assert().success();
    kith(&b2).args(["trust", "add", &a_id]).assert().success();
    let path = files.path().join("cut.kithbundle");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    kith(&b2)
        .args(["bundle", "import"])
        .arg(&path)
        .assert()
        .failure()
        .stderr(predicate::str::contains("truncated"));
    let got = seq_of(&b2, &a_id);
    assert!(got > 0 && got < 52, "{got}");
    kith(&b2).args(["log", "verify"]).assert().success();

    // Not a bundle at all.
    let path = files.path().join("junk");
    std::fs::write(&path, b"hello").unwrap();
    kith(&b2)
        .args(["bundle", "import"])
        .arg(&path)
        .assert()
        .failure()
        .stderr(predicate::str::contains("not a Kith bundle"));
}

/// A bundle is read as a stream: a malformed entry in the middle is named
/// as the reason the next one cannot follow, and every entry before it is
/// applied.
#[test]
fn a_malformed_entry_is_named_as_the_cause_of_the_gap_after_it() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let a_id = out(kith(&a).args(["init"])).trim().to_string();
    kith(&b).args(["init"]).assert().success();
    kith(&b).args(["trust", "add", &a_id]).assert().success();
    posts(&a, "note", 20);
    let bundle = files.path().join("a.kithbundle");
    kith(&a)
        .args(["bundle", "export"])
        .arg(&bundle)
        .assert()
        .success();
    let read = kith_node::bundle::read(
        &std::fs::read(&bundle).unwrap(),
        &kith_protocol::Limits::default(),
    )
    .unwrap();
    assert!(read.problems.is_empty());
    // Entry 11 of the file: its header length re-encoded as an overlong
    // varint, so it cannot decode (the file's framing stays right).
    let mut out_bytes = Vec::new();
    let writer = kith_node::bundle::Writer::new(&mut out_bytes, &read.header).unwrap();
    drop(writer.finish());
    let prelude = out_bytes.len() - 32;
    let mut damaged = out_bytes[..prelude].to_vec();
    for (i, e) in read.entries.iter().enumerate() {
        let mut wire = e.encode();
        if i == 10 {
            assert!(wire[0] < 0x80);
            wire[0] |= 0x80;
            wire.insert(1, 0);
        }
        kith_protocol::varint::encode(wire.len() as u64, &mut damaged);
        damaged.extend_from_slice(&wire);
    }
    let sum = blake3::hash(&damaged);
    damaged.extend_from_slice(sum.as_bytes());
    let path = files.path().join("damaged.kithbundle");
    std::fs::write(&path, &damaged).unwrap();
    let seq = read.entries[11].seq();
    kith(&b)
        .args(["bundle", "import"])
        .arg(&path)
        .assert()
        .failure()
        .stderr(predicate::str::contains("entry 11 is malformed"))
        .stderr(predicate::str::contains(format!(
            "seq {seq} of …{} not applied: entry 11 before it is malformed",
            &a_id[a_id.len() - 8..]
        )))
        .stdout(predicate::str::contains("10 new"));
    assert_eq!(seq_of(&b, &a_id), read.entries[9].seq());
}

/// The size of the store's newest sled snapshot (`store/snap.*`).
fn snapshot_bytes(dir: &tempfile::TempDir) -> u64 {
    std::fs::read_dir(dir.path().join("store"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("snap."))
        .map(|e| e.metadata().unwrap().len())
        .max()
        .unwrap_or(0)
}

/// sled 0.34 writes its page-table snapshot only when a store opens, and
/// each open replays the log written since: a large import with no node
/// running settles the store at its end, so the next `kith up` does not
/// pay for the whole import (docs/BENCHMARKS.md, "A million entries").
#[test]
fn a_large_import_with_no_node_running_settles_the_store_for_a_quick_start() {
    let (a, b, files, a_id, b_id) = friends();
    posts(&a, "a note among many", 10_500);
    let before = snapshot_bytes(&b);

    let bundle = files.path().join("large.kithbundle");
    out(kith(&a)
        .args(["bundle", "export"])
        .arg(&bundle)
        .args(["--for", &b_id]));
    let import = kith(&b)
        .args(["bundle", "import"])
        .arg(&bundle)
        .assert()
        .success();
    let output = import.get_output();
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(said.contains("10502 new"), "{said}");
    let warned = String::from_utf8_lossy(&output.stderr);
    assert!(warned.contains("settling the store"), "{warned}");
    // The snapshot now covers the imported pages (without settling it
    // stays the few hundred bytes written when the import opened the store).
    let after = snapshot_bytes(&b);
    assert!(
        after > before + 32 * 1024,
        "snapshot {before} -> {after} bytes"
    );
    kith(&b).args(["log", "verify"]).assert().success();

    // A small import is not worth the extra open.
    posts(&a, "one more", 3);
    let small = files.path().join("small.kithbundle");
    out(kith(&a)
        .args(["bundle", "export"])
        .arg(&small)
        .args(["--for", &b_id, "--authors", &a_id]));
    kith(&b)
        .args(["bundle", "import"])
        .arg(&small)
        .assert()
        .success()
        .stderr(predicate::str::contains("settling").not());
    assert_eq!(seq_of(&b, &a_id), 10_505);
}

/// Two people rewrite the same sentence while apart and meet by bundles:
/// `kith wiki sides` shows each one's version and what the merge changed
/// in it, until the page is marked reviewed.
#[test]
fn a_sentence_rewritten_on_both_sides_offline_is_reviewed_side_by_side() {
    let (a, b, files, a_id, b_id) = friends();
    kith(&a)
        .args(["wiki", "new", "Trip", "--file", "-"])
        .write_stdin("We leave on Friday.\n\nBring the tent.\n")
        .assert()
        .success();
    exchange(&a, &b, &b_id, &files, "ab1");
    let none = out(kith(&a).args(["wiki", "sides", "Trip"]));
    assert!(none.contains("nothing to review"), "{none}");
    for (dir, text) in [
        (&a, "We leave on Friday at 7.\n\nBring the tent.\n"),
        (&b, "We leave on Saturday.\n\nBring the tent.\n"),
    ] {
        kith(dir)
            .args(["wiki", "edit", "Trip", "-"])
            .write_stdin(text)
            .assert()
            .success();
    }
    exchange(&a, &b, &b_id, &files, "ab2");
    exchange(&b, &a, &a_id, &files, "ba2");
    let json: Value =
        serde_json::from_str(&out(kith(&a).args(["wiki", "sides", "Trip", "--json"]))).unwrap();
    let mut versions: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["body"].as_str().unwrap())
        .collect();
    versions.sort();
    assert_eq!(
        versions,
        [
            "We leave on Friday at 7.\n\nBring the tent.\n",
            "We leave on Saturday.\n\nBring the tent.\n"
        ]
    );
    let shown = out(kith(&a)
        .args(["wiki", "sides", "Trip"])
        .env("NO_COLOR", "1"));
    assert!(
        shown.contains("as Ann left it") && shown.contains("as Ben left it"),
        "{shown}"
    );
    assert!(
        shown.contains("{+") && shown.contains("[-"),
        "word diffs: {shown}"
    );
    kith(&a)
        .args(["wiki", "reviewed", "Trip"])
        .assert()
        .success();
    let none = out(kith(&a).args(["wiki", "sides", "Trip"]));
    assert!(none.contains("nothing to review"), "{none}");
}

/// Files travel in a bundle only when asked (`--with-blobs`): Ann posts a
/// screenshot and declares a PDF for a wiki page (`kith blob add`), all
/// from the command line with no node running. A bundle of entries alone
/// gives Ben the post but not its file; one with files gives him both, byte
/// for byte, and `kith blob get` saves them under their signed names. A
/// bundle's file that no entry references, or whose bytes were changed, is
/// not kept.
#[test]
fn files_travel_in_a_bundle_with_blobs() {
    let (a, b, files, _a_id, b_id) = friends();
    let shot: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let shot_path = files.path().join("screen.png");
    std::fs::write(&shot_path, &shot).unwrap();
    let pdf_path = files.path().join("guide.pdf");
    std::fs::write(&pdf_path, b"%PDF-1.4 the field guide").unwrap();
    out(kith(&a)
        .args(["post", "the new dashboard", "--attach"])
        .arg(&shot_path));
    let reference = out(kith(&a).args(["blob", "add"]).arg(&pdf_path));
    assert!(reference.starts_with("[guide.pdf](blob:"), "{reference}");
    let pdf_hash = reference
        .trim()
        .trim_end_matches(')')
        .rsplit("blob:")
        .next()
        .unwrap()
        .to_string();
    let shot_hash = blake3::hash(&shot).to_hex().to_string();

    // Entries alone: Ben has the post, not the file.
    let plain = files.path().join("plain.kithbundle");
    let said = out(kith(&a)
        .args(["bundle", "export"])
        .arg(&plain)
        .args(["--for", &b_id]));
    assert!(said.contains("wrote"), "{said}");
    out(kith(&b).args(["bundle", "import"]).arg(&plain));
    let info: Value =
        serde_json::from_str(&out(kith(&b).args(["blob", "info", &shot_hash, "--json"]))).unwrap();
    assert_eq!(
        (info["name"].as_str(), info["held"].as_bool()),
        (Some("screen.png"), Some(false))
    );
    let empty = tempfile::tempdir().unwrap();
    kith(&b)
        .args(["blob", "get", &shot_hash])
        .current_dir(empty.path())
        .assert()
        .failure()
        .stderr(predicate::str::contains("kith up"));

    // With files: both arrive.
    let full = files.path().join("full.kithbundle");
    out(kith(&a)
        .args(["bundle", "export"])
        .arg(&full)
        .args(["--for", &b_id, "--with-blobs"]));
    let said = out(kith(&b).args(["bundle", "import"]).arg(&full));
    assert!(said.contains("2 files added"), "{said}");
    let saved = tempfile::tempdir().unwrap();
    kith(&b)
        .args(["blob", "get", &shot_hash])
        .current_dir(saved.path())
        .assert()
        .success();
    assert_eq!(
        std::fs::read(saved.path().join("screen.png")).unwrap(),
        shot
    );
    kith(&b)
        .args(["blob", "get", &pdf_hash, "-o"])
        .arg(saved.path().join("copy.pdf"))
        .assert()
        .success();
    assert_eq!(
        std::fs::read(saved.path().join("copy.pdf")).unwrap(),
        b"%PDF-1.4 the field guide"
    );
    // Not over a file that is there.
    kith(&b)
        .args(["blob", "get", &shot_hash])
        .current_dir(saved.path())
        .assert()
        .failure()
        .stderr(predicate::str::contains("exists"));

    // A bundle whose file's bytes were changed: the file is not kept (the
    // checksum at the end says the bundle was modified, too).
    let c = tempfile::tempdir().unwrap();
    out(kith(&c).args(["init", "--name", "Cy"]));
    out(kith(&c).args(["trust", "add", &_a_id]));
    let mut bytes = std::fs::read(&full).unwrap();
    // The screenshot's bytes come before the PDF's (24 bytes) and the checksum.
    let at = bytes.len() - 32 - 24 - 1000;
    bytes[at] ^= 1;
    let bad = files.path().join("bad.kithbundle");
    std::fs::write(&bad, &bytes).unwrap();
    let said = kith(&c)
        .args(["bundle", "import"])
        .arg(&bad)
        .assert()
        .get_output()
        .clone();
    let text =
        String::from_utf8_lossy(&said.stdout).to_string() + &String::from_utf8_lossy(&said.stderr);
    assert!(
        text.contains("does not match its hash") || text.contains("checksum"),
        "{text}"
    );
    let info: Value =
        serde_json::from_str(&out(kith(&c).args(["blob", "info", &shot_hash, "--json"]))).unwrap();
    assert_eq!(info["held"], false, "the changed file was kept");
    let info: Value =
        serde_json::from_str(&out(kith(&c).args(["blob", "info", &pdf_hash, "--json"]))).unwrap();
    assert_eq!(info["held"], true, "the file after it was kept");

    // Dee does not replicate Ann: the bundle's entries are not kept, so
    // neither are its files (a bundle cannot fill a node with files).
    let d = tempfile::tempdir().unwrap();
    out(kith(&d).args(["init", "--name", "Dee"]));
    let said = out(kith(&d).args(["bundle", "import"]).arg(&full));
    assert!(said.contains("0 files added, 2 skipped"), "{said}");
    assert!(
        !d.path()
            .join("blobs")
            .join(&shot_hash[..2])
            .join(&shot_hash)
            .exists()
    );
}
