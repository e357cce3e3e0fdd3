//! The two forms of a change group (PROTOCOL.md §7) as Automerge changes:
//! reading either form, and writing the compact one.
//!
//! A save's changes are sent as one *bundle* (kind 8): Automerge's
//! column-wise encoding of a set of changes, which leaves out what the
//! changes repeat (actor, the hash of the previous change, the header) and
//! recomputes each change's bytes and hash on loading, then raw DEFLATE.
//! Automerge 0.12.0 writes bundles; Kith reads them itself (`unbundle`,
//! PROTOCOL.md §7.1), since Automerge's reader hangs or aborts the process
//! on some hostile bundles. Every change of either form is checked
//! (`unbundle::check_change`) before Automerge parses it, and then like any
//! change (actor = the entry's author, op cap) before it touches a page.
//! Automerge's bundle format is experimental upstream, so the crate is
//! pinned (`=0.12.0`); `tests::the_bundle_format_is_pinned` decodes a
//! bundle written by it, and the `unbundle` tests compare Kith's reading
//! of the vectors with Automerge's own.

use automerge::{AutoCommit, Change, ChangeHash};
use kith_protocol::{GroupForm, change_group};

use super::doc::guarded;
use super::unbundle;
use super::{Error, Result};

/// The changes a group holds, in order, not yet checked against its author.
pub(super) fn changes(form: GroupForm, data: &[u8]) -> Result<Vec<Change>> {
    let raws: Vec<Vec<u8>> = match form {
        GroupForm::Framed => change_group::split(data)
            .map_err(|e| Error::BadChange(e.to_string()))?
            .into_iter()
            .map(<[u8]>::to_vec)
            .collect(),
        GroupForm::Bundle => {
            let bytes =
                change_group::decompress(data).map_err(|e| Error::BadChange(e.to_string()))?;
            unbundle::changes(&bytes).map_err(|e| Error::BadChange(format!("bundle: {e}")))?
        }
    };
    // Every chunk is checked, and the group's ops counted, before
    // Automerge parses any of them.
    let mut ops: u64 = 0;
    for raw in &raws {
        let claimed = unbundle::check_change(raw)
            .map_err(|e| Error::BadChange(format!("change chunk: {e}")))?;
        ops = ops.saturating_add(claimed);
        if ops > unbundle::MAX_GROUP_OPS {
            return Err(Error::BadChange(format!(
                "the group's changes claim more than {} ops",
                unbundle::MAX_GROUP_OPS
            )));
        }
    }
    raws.into_iter()
        .map(|raw| {
            guarded("decoding a change", || Change::from_bytes(raw))?
                .map_err(|e| Error::BadChange(format!("not an Automerge change: {e}")))
        })
        .collect()
}

/// The bundle of `hashes` (changes the document holds), uncompressed: what
/// `load_incremental` reads back.
pub(super) fn bundle_raw(doc: &AutoCommit, hashes: &[ChangeHash]) -> Result<Vec<u8>> {
    let bundle = guarded("bundling changes", || doc.bundle(hashes.iter().copied()))?
        .map_err(|e| Error::Document(format!("bundling changes: {e}")))?;
    Ok(bundle.bytes().to_vec())
}

/// The compact group of `hashes`: their bundle, compressed.
#[cfg(test)]
pub(super) fn bundle(doc: &AutoCommit, hashes: &[ChangeHash]) -> Result<Vec<u8>> {
    Ok(change_group::compress(&bundle_raw(doc, hashes)?))
}

#[cfg(test)]
mod tests {
    use automerge::transaction::Transactable;
    use automerge::{ActorId, ObjType, ROOT};

    use super::*;

    /// The bundle of `kith_protocol::vectors::AUTOMERGE_BUNDLE`, made again
    /// by this automerge: if an upgrade changes the bundle format, decoding
    /// the vector written by 0.12.0 fails here before peers notice.
    #[test]
    fn the_bundle_format_is_pinned() {
        let (doc, hashes) = vector_changes();
        let group = bundle(&doc, &hashes).unwrap();
        let back = changes(GroupForm::Bundle, &group).unwrap();
        assert_eq!(back.iter().map(Change::hash).collect::<Vec<_>>(), hashes);
        let fixed = hex::decode(kith_protocol::vectors::AUTOMERGE_BUNDLE).unwrap();
        let decoded = changes(GroupForm::Bundle, &fixed);
        assert_eq!(
            decoded
                .map(|d| d.iter().map(Change::hash).collect::<Vec<_>>())
                .ok(),
            Some(hashes),
            "made now: {}",
            hex::encode(&group)
        );
        let mut page = crate::wiki::doc::new_doc();
        page.apply_changes(back).unwrap();
        assert_eq!(crate::wiki::doc::title_of(&page), "Hi");
        assert_eq!(crate::wiki::doc::body_text(&page), "Hello");
    }

    /// The vector's two changes: `title` = "Hi", then `body` = "Hello".
    fn vector_changes() -> (AutoCommit, Vec<ChangeHash>) {
        let author = kith_protocol::Keypair::from_secret(&kith_protocol::vectors::seed()).author();
        let mut doc = crate::wiki::doc::new_doc();
        doc.set_actor(ActorId::from(author.as_bytes().to_vec()));
        let at_zero = || automerge::transaction::CommitOptions::default().with_time(0);
        doc.put(ROOT, "title", "Hi").unwrap();
        doc.commit_with(at_zero());
        let mut hashes = doc.get_heads();
        let text = doc.put_object(ROOT, "body", ObjType::Text).unwrap();
        doc.splice_text(&text, 0, 0, "Hello").unwrap();
        doc.commit_with(at_zero());
        hashes.extend(doc.get_heads());
        (doc, hashes)
    }

    /// The layout vector of PROTOCOL.md §7.1: a save of three changes by
    /// B on a page A and C wrote concurrently before, so that the bundle
    /// has external dependencies, several actors in its ops, every value
    /// type, text and list inserts and deletes, a counter, a mark and a
    /// commit message. Each actor is the public key of a fixed seed.
    fn layout_vector() -> (Vec<(char, ActorId)>, AutoCommit, Vec<ChangeHash>) {
        use automerge::marks::{ExpandMark, Mark};
        use automerge::transaction::CommitOptions;
        use automerge::{ObjId, ScalarValue};
        let actor = |seed: u8| {
            let key = kith_protocol::Keypair::from_secret(&[seed; 32]).author();
            ActorId::from(key.as_bytes().to_vec())
        };
        let (a, b, c) = (actor(0x0a), actor(0x0b), actor(0x0c));
        let at = |s: i64| CommitOptions::default().with_time(1_700_000_000 + s);
        let mut doc = AutoCommit::new();
        doc.set_actor(a.clone());
        doc.put(ROOT, "title", "Plan").unwrap();
        doc.put(ROOT, "archived", false).unwrap();
        let body = doc.put_object(ROOT, "body", ObjType::Text).unwrap();
        doc.splice_text(&body, 0, 0, "Hello world").unwrap();
        doc.put(ROOT, "count", ScalarValue::counter(1)).unwrap();
        doc.put(ROOT, "n", -3i64).unwrap();
        doc.put(ROOT, "u", 7u64).unwrap();
        doc.put(ROOT, "f", 1.5f64).unwrap();
        doc.put(ROOT, "at", ScalarValue::Timestamp(1_700_000_000_000))
            .unwrap();
        doc.put(ROOT, "raw", vec![1u8, 2, 3]).unwrap();
        doc.put(ROOT, "none", ScalarValue::Null).unwrap();
        let tags = doc.put_object(ROOT, "tags", ObjType::List).unwrap();
        doc.insert(&tags, 0, "x").unwrap();
        doc.insert(&tags, 1, "y").unwrap();
        doc.commit_with(at(0));
        let mut other = doc.fork();
        other.set_actor(c.clone());
        other.splice_text(&body, 5, 0, ",").unwrap();
        other.increment(ROOT, "count", 2).unwrap();
        other.delete(&tags, 0).unwrap();
        other.commit_with(at(60));
        doc.splice_text(&body, 6, 5, "there").unwrap();
        doc.commit_with(at(61));
        doc.merge(&mut other).unwrap();
        let before = doc.get_heads();
        doc.set_actor(b.clone());
        // B's save: three changes.
        doc.put(ROOT, "title", "Plan, v2").unwrap();
        doc.splice_text(&body, 4, 3, "!").unwrap();
        doc.commit_with(at(120).with_message("retitle"));
        doc.mark(
            &body,
            Mark::new("bold".into(), true, 0, 4),
            ExpandMark::After,
        )
        .unwrap();
        doc.commit_with(at(121));
        doc.delete(ROOT, "none").unwrap();
        doc.increment(ROOT, "count", -1).unwrap();
        doc.put(ROOT, "n", 300i64).unwrap();
        doc.insert(&tags, 1, "z").unwrap();
        let _: &ObjId = &tags;
        doc.commit_with(at(122));
        let hashes: Vec<ChangeHash> = doc
            .get_changes(&before)
            .iter()
            .map(|ch| ch.hash())
            .collect();
        (vec![('A', a), ('B', b), ('C', c)], doc, hashes)
    }

    /// PROTOCOL.md §7.1's block, made again from [`layout_vector`].
    fn layout_block() -> String {
        let (actors, mut doc, hashes) = layout_vector();
        let mut out = String::new();
        for (name, actor) in &actors {
            out.push_str(&format!("actor     {name} {actor}\n"));
        }
        let raw = bundle_raw(&doc, &hashes).unwrap();
        out.push_str(&format!(
            "group     {}\n",
            hex::encode(change_group::compress(&raw))
        ));
        out.push_str(&format!("bundle    {}\n", hex::encode(&raw)));
        for hash in &hashes {
            let change = doc.get_change_by_hash(hash).unwrap().clone();
            out.push_str(&format!("change    {hash}\n"));
            out.push_str(&format!("bytes     {}\n", hex::encode(change.raw_bytes())));
            out.push_str(&format!(
                "json      {}\n",
                serde_json::to_string(&change.decode()).unwrap()
            ));
        }
        out
    }

    #[test]
    fn protocol_md_compact_group_layout_vector_matches() {
        let made = layout_block();
        let doc = include_str!("../../../docs/PROTOCOL.md");
        let begin = "<!-- compact-group-vector:begin -->\n```text\n";
        let start = doc.find(begin).map(|i| i + begin.len());
        let end = doc.find("```\n<!-- compact-group-vector:end -->");
        let written = start.zip(end).map(|(s, e)| &doc[s..e]);
        assert_eq!(written, Some(made.as_str()), "the block, made now:\n{made}");
        // The bundle expands to exactly these changes, each whole.
        let (_, doc, hashes) = layout_vector();
        let group = change_group::compress(&bundle_raw(&doc, &hashes).unwrap());
        let back = changes(GroupForm::Bundle, &group).unwrap();
        assert_eq!(back.iter().map(Change::hash).collect::<Vec<_>>(), hashes);
    }

    /// Bundles on which Automerge 0.12 itself panics (found by fuzzing the
    /// wiki_change target; `fuzz/regressions/wiki_change/`): refused as bad
    /// changes, the panic caught by the guard.
    #[test]
    fn bundles_automerge_panics_on_are_refused() {
        for input in [
            &include_bytes!(
                "../../../fuzz/regressions/wiki_change/caught-automerge-bundle-builder827"
            )[..],
            include_bytes!(
                "../../../fuzz/regressions/wiki_change/caught-automerge-bundle-hexane-lib354"
            ),
            include_bytes!(
                "../../../fuzz/regressions/wiki_change/caught-automerge-bundle-hexane-lib696"
            ),
            include_bytes!(
                "../../../fuzz/regressions/wiki_change/caught-automerge-bundle-hexane-lib702"
            ),
        ] {
            // The fuzz input: a mode byte, then the bundle the target compresses.
            let group = change_group::compress(&input[1..]);
            assert!(changes(GroupForm::Bundle, &group).is_err());
        }
    }

    /// Groups that Automerge 0.12.0's readers do not survive: they loop
    /// forever, or the process aborts (`fuzz/regressions/wiki_change/`; the
    /// first byte is the fuzz target's mode: 0x40 a bundle, 0x00 one change).
    #[test]
    fn groups_automerge_does_not_survive_are_refused() {
        for input in [
            &include_bytes!(
                "../../../fuzz/regressions/wiki_change/hang-automerge-bundle-boolean-varint"
            )[..],
            include_bytes!(
                "../../../fuzz/regressions/wiki_change/abort-automerge-bundle-dep-count"
            ),
            include_bytes!(
                "../../../fuzz/regressions/wiki_change/abort-automerge-bundle-pred-count"
            ),
            include_bytes!(
                "../../../fuzz/regressions/wiki_change/abort-automerge-change-is-a-bundle"
            ),
            include_bytes!("../../../fuzz/regressions/wiki_change/hang-automerge-change-ops"),
            include_bytes!("../../../fuzz/regressions/wiki_change/abort-automerge-change-preds"),
            include_bytes!("../../../fuzz/regressions/wiki_change/slow-automerge-change-16m-ops"),
            include_bytes!("../../../fuzz/regressions/wiki_change/bomb-automerge-change-deflate"),
        ] {
            let result = if input[0] == 0x40 {
                changes(GroupForm::Bundle, &change_group::compress(&input[1..]))
            } else {
                changes(
                    GroupForm::Framed,
                    &change_group::frame(&[input[1..].to_vec()]),
                )
            };
            assert!(matches!(result, Err(Error::BadChange(_))));
        }
    }

    /// A framed group of small changes that each claim 1,000,000 ops (a
    /// run-length ACTION column): refused as a whole, at once, before
    /// Automerge parses any of them.
    #[test]
    fn a_group_whose_changes_claim_too_many_ops_together_is_refused_at_once() {
        // No deps, a 32-byte actor, seq 1, startOp 1, time 0, no message,
        // no other actors; one column, ACTION (spec 0x42): a run of
        // 1,000,000 (signed LEB c0 84 3d) of action 1.
        let mut body = vec![0u8, 32];
        body.extend([7u8; 32]);
        body.extend([1, 1, 0, 0, 0]);
        body.extend([1, 0x42, 4, 0xc0, 0x84, 0x3d, 1]);
        let mut chunk = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 1, body.len() as u8];
        chunk.extend(body);
        assert_eq!(unbundle::check_change(&chunk).ok(), Some(1_000_000));
        let group = change_group::frame(&vec![chunk; 5]);
        let started = std::time::Instant::now();
        let refused = changes(GroupForm::Framed, &group).map(|c| c.len());
        assert!(
            matches!(&refused, Err(Error::BadChange(m)) if m.contains("claim more than")),
            "{refused:?}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn garbage_is_refused_without_panicking() {
        for data in [
            &b""[..],
            b"\x00\x00\x00",
            &change_group::compress(b"not a bundle"),
            &change_group::compress(&[0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 3, 0]),
        ] {
            assert!(changes(GroupForm::Bundle, data).is_err());
        }
    }
}
