//! Cores on temporary stores, for tests and benches: this crate's unit
//! tests use it directly, every other crate through `kith-testkit` (the
//! `testing` feature). A core here has the key of a fixed seed, so two runs
//! write the same entries.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kith_protocol::{AuthorId, Keypair};

use crate::config::{Config, DataDir};
use crate::core::Core;
use crate::ops;
use crate::store::{self, Store};

/// A core with the key of `seed` on a temporary store.
pub fn core(seed: u8) -> Core {
    core_with(seed, |_| {})
}

/// [`core`] with its configuration changed first.
pub fn core_with(seed: u8, tweak: impl FnOnce(&mut Config)) -> Core {
    let mut config = Config::new(DataDir::new("/nonexistent"));
    tweak(&mut config);
    Core::with_store(
        config,
        Keypair::from_secret(&[seed; 32]),
        Store::temporary().unwrap(),
    )
    .unwrap()
}

/// `a` trusts `b` (no petname).
pub fn trust(a: &mut Core, b: &Core) {
    a.run(ops::TrustAdd {
        author: b.me().into(),
        petname: None,
    })
    .unwrap();
}

/// Every core trusts every other.
pub fn trust_all(cores: &mut [Core]) {
    let ids: Vec<AuthorId> = cores.iter().map(Core::me).collect();
    for core in cores.iter_mut() {
        for id in &ids {
            if *id != core.me() {
                core.run(ops::TrustAdd {
                    author: (*id).into(),
                    petname: None,
                })
                .unwrap();
            }
        }
    }
}

/// Offers `to` the part of `author`'s log that `from` holds and `to`
/// lacks; returns why storing stopped, if it did.
pub fn sync(from: &Core, to: &mut Core, author: AuthorId) -> Option<store::Error> {
    let have = to.store().head(&author).unwrap().map_or(0, |h| h.seq);
    let entries = from.store().log(&author, have + 1, usize::MAX).unwrap();
    to.ingest(&entries).error
}

/// Everything `from` wrote that `to` lacks, which `to` must accept.
pub fn copy_log(from: &Core, to: &mut Core) {
    let error = sync(from, to, from.me());
    assert!(error.is_none(), "{error:?}");
}

/// [`copy_log`] between every two of `cores`, both ways.
pub fn everyone(cores: &mut [Core]) {
    for from in 0..cores.len() {
        for to in 0..cores.len() {
            if from != to {
                let (from, to) = pair(cores, from, to);
                copy_log(from, to);
            }
        }
    }
}

/// Two distinct elements of `cores`, the second mutable.
pub fn pair(cores: &mut [Core], from: usize, to: usize) -> (&Core, &mut Core) {
    assert_ne!(from, to);
    if from < to {
        let (x, y) = cores.split_at_mut(to);
        (&x[from], &mut y[0])
    } else {
        let (x, y) = cores.split_at_mut(from);
        (&y[0], &mut x[to])
    }
}

/// Copies a directory tree (a store's backup, a second copy of a store).
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The body of a plain note with `text`, no tags, no reply.
pub fn note_body(text: impl Into<String>) -> kith_protocol::Body {
    kith_protocol::Body::Post(kith_protocol::Post {
        kind: kith_protocol::PostKind::Note,
        text: text.into(),
        reply_to: None,
        tags: vec![],
        files: Vec::new(),
        mentions: Vec::new(),
    })
}
