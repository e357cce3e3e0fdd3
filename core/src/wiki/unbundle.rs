//! Reading a compact group's bundle (PROTOCOL.md §7.1) without Automerge's
//! bundle reader, and checking every change chunk from a peer before
//! Automerge's change reader sees it.
//!
//! Automerge 0.12.0's `Bundle::try_from` is not safe on hostile bytes: a
//! boolean column holding a cut-off varint makes it loop forever, a
//! DEP_COUNT or PRED_COUNT of 2^40 makes it reserve terabytes (the process
//! aborts; no panic guard helps), and it reads map keys, mark names and
//! messages without checking their UTF-8. Kith therefore reads bundles
//! here, as §7.1 specifies them, and hands Automerge only the rebuilt
//! change chunks, each byte for byte what 0.12.0's `Bundle::to_changes`
//! gives (the tests check this on the vectors in
//! `docs/vectors/compact-group/`).
//!
//! The reader refuses what §7.1.8 lists: what 0.12.0 refuses, and what the
//! section leaves unspecified ([`UnbundleError::Unspecified`]). It also
//! refuses bundles beyond Kith's limits ([`UnbundleError::TooLarge`]):
//! run-length encoding lets a few bytes claim billions of changes, ops or
//! preds, so every count is checked against a limit before anything is
//! allocated or looped over for it. Every loop below either consumes input
//! or is bounded by one of these limits.
//!
//! Automerge 0.12.0's `Change::from_bytes`, which reads every change of
//! both group forms, has the same kind of trouble (see [`check_change`]),
//! so [`check_change`] looks at each change chunk first.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use kith_protocol::change_group::MAX_BUNDLE_BYTES;
use sha2::{Digest, Sha256};

use super::MAX_CHANGE_OPS;

mod check;
mod chunk;
mod encoding;
mod ops;
mod rebuild;
#[cfg(test)]
mod tests;

pub(super) use self::check::check_change;
use self::chunk::*;
use self::encoding::*;
use self::ops::*;
use self::rebuild::*;

/// Why a bundle, or a change chunk ([`check_change`]), is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum UnbundleError {
    /// Refused by Automerge 0.12.0 too, or an input it hangs or aborts on
    /// (for a bundle, PROTOCOL.md §7.1.8, items 1 to 11).
    #[error("malformed: {0}")]
    Malformed(&'static str),
    /// What §7.1.8 leaves unspecified: how 0.12.0 reads it depends on its
    /// internals or is undefined behaviour, and no honest writer makes it.
    #[error("{0} (unspecified in PROTOCOL.md §7.1.8)")]
    Unspecified(&'static str),
    /// Well-formed, but beyond what Kith reads from one group.
    #[error("over Kith's limits: {0}")]
    TooLarge(&'static str),
}

use UnbundleError::{Malformed, TooLarge, Unspecified};

type Result<T, E = UnbundleError> = std::result::Result<T, E>;

/// Most actors in one bundle's table: those its changes and ops name.
const MAX_ACTORS: u64 = 1 << 20;
/// Most changes in one bundle. A save is one bundle, and a
/// keystroke-by-keystroke save of a thousand edits is a thousand changes.
const MAX_CHANGES: usize = 100_000;
/// Most ops in one bundle, all changes together (one change holds at most
/// [`MAX_CHANGE_OPS`]). The same limit applies, separately, to the pred
/// entries of all ops and to the dependency entries of all changes.
const MAX_OPS: u64 = 4 * MAX_CHANGE_OPS as u64;
/// The most ops the changes of one group may claim together, in either
/// form (a framed group of 4 MiB could otherwise hold thousands of changes
/// of 1,000,000 ops each).
pub(in crate::wiki) const MAX_GROUP_OPS: u64 = MAX_OPS;
/// Most bytes the DEFLATEd columns of one bundle expand to, together: the
/// limit the whole group expands to.
const MAX_COLUMN_BYTES: usize = MAX_BUNDLE_BYTES;
/// Most bytes of rebuilt change chunks, all changes together. Rebuilt
/// changes repeat what the bundle leaves out (actor ids, dependency
/// hashes, headers), so they may be larger than the bundle.
const MAX_REBUILT_BYTES: usize = 4 * MAX_BUNDLE_BYTES;
/// Changes of at most this many ops are gathered as 0.12.0's smaller change
/// encoder gathers them, larger ones as its larger one does (§7.1.8, 18).
const SLOT_MAX_OPS: u64 = 18;
/// Most pred entries of one change, all its ops together. Each pred is an
/// op the change overwrites, deletes or increments, so an honest change
/// comes nowhere near as many as the ops a change may hold.
const MAX_CHANGE_PREDS: u64 = MAX_CHANGE_OPS as u64;
/// Most bytes a compressed change chunk (type 02) expands to: the limit a
/// whole group expands to.
const MAX_CHANGE_BYTES: usize = MAX_BUNDLE_BYTES;

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

/// Column specs (bit 3, DEFLATE, cleared) of §7.1.5 and §7.1.6.
mod spec {
    pub const ACTOR: u32 = 0x01;
    pub const SEQ: u32 = 0x03;
    pub const START_OP: u32 = 0x13;
    pub const MAX_OP: u32 = 0x23;
    pub const TIME: u32 = 0x33;
    pub const MESSAGE: u32 = 0x45;
    pub const DEP_COUNT: u32 = 0x50;
    pub const DEPS: u32 = 0x53;
    pub const EXTRA_COUNT: u32 = 0x60;
    pub const EXTRA: u32 = 0x67;
    pub const CHANGE: [u32; 10] = [
        ACTOR,
        SEQ,
        START_OP,
        MAX_OP,
        TIME,
        MESSAGE,
        DEP_COUNT,
        DEPS,
        EXTRA_COUNT,
        EXTRA,
    ];

    pub const OBJ_ACTOR: u32 = 0x01;
    pub const OBJ_CTR: u32 = 0x03;
    pub const KEY_ACTOR: u32 = 0x11;
    pub const KEY_CTR: u32 = 0x13;
    pub const KEY_STR: u32 = 0x15;
    pub const ID_ACTOR: u32 = 0x21;
    pub const ID_CTR: u32 = 0x23;
    pub const INSERT: u32 = 0x34;
    pub const ACTION: u32 = 0x42;
    pub const VALUE_META: u32 = 0x56;
    pub const VALUE: u32 = 0x57;
    pub const PRED_COUNT: u32 = 0x70;
    pub const PRED_ACTOR: u32 = 0x71;
    pub const PRED_CTR: u32 = 0x73;
    pub const EXPAND: u32 = 0x94;
    pub const MARK_NAME: u32 = 0xa5;
    pub const ID_CTR_INVERSE: u32 = 0xb3;
    pub const OP: [u32; 17] = [
        OBJ_ACTOR,
        OBJ_CTR,
        KEY_ACTOR,
        KEY_CTR,
        KEY_STR,
        ID_ACTOR,
        ID_CTR,
        INSERT,
        ACTION,
        VALUE_META,
        VALUE,
        PRED_COUNT,
        PRED_ACTOR,
        PRED_CTR,
        EXPAND,
        MARK_NAME,
        ID_CTR_INVERSE,
    ];

    /// The change chunk's OBJ_CTR: a uint column there, a delta one in a
    /// bundle.
    pub const CHUNK_OBJ_CTR: u32 = 0x02;
}

/// The changes of `bundle` (an inflated compact group), in bundle order,
/// each as a standard Automerge change chunk: the bytes Automerge 0.12.0's
/// `Bundle::to_changes` gives, whose SHA-256 is the change hash.
pub(super) fn changes(bundle: &[u8]) -> Result<Vec<Vec<u8>>> {
    let chunk = Chunk::parse(bundle)?;
    let changes = read_changes(&chunk)?;
    let owners = Owners::new(&changes.list)?;
    let counters = op_counters(&chunk.ops, &changes.list, &owners)?;
    let ops = read_ops(&chunk.ops, &counters, &owners, &changes.list)?;
    let budget = Budget(Cell::new(MAX_REBUILT_BYTES));
    let rebuild = Rebuild {
        chunk: &chunk,
        changes: &changes,
        ops: &ops,
        budget: &budget,
    };
    let mut hashes: Vec<[u8; 32]> = Vec::with_capacity(changes.list.len());
    let mut out = Vec::with_capacity(changes.list.len());
    for (i, (change, gathered)) in changes.list.iter().zip(&ops.gathered).enumerate() {
        let mut deps = Vec::new();
        for &d in changes.deps_of(change) {
            deps.push(chunk.dependency(d, i, changes.list.len(), &hashes)?);
        }
        let (bytes, hash) = rebuild.change(change, gathered, &deps)?;
        hashes.push(hash);
        out.push(bytes);
    }
    Ok(out)
}
