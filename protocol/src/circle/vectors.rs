//! Test vectors for PROTOCOL.md §12: three devices' X25519 keys and
//! kind-15 bodies, the creation of a circle by the vector key for two, an
//! `Add` of a third device's person with history, its `Remove` and a
//! `Rekey`, a post sealed in the first epoch, the page a circle's wiki
//! change edits, device A's log of its key, the creation and the post as
//! whole signed entries, and the outcome of the membership rules in the
//! contested cases (§12.4), also as JSON. The
//! bytes come from fixed seeds; an independent implementation checks them
//! by opening (the ephemeral HPKE keys depend on this implementation's use
//! of the random stream, so re-sealing need not give the same bytes).
//! `cargo run -q -p kith-protocol --example circle_vectors` prints them.

use super::*;
use crate::body::{Post, PostKind};

/// The seeds of the randomness of the creation, the sealed post, the
/// `Add`, the `Remove` and the `Rekey` (each from its own seed).
pub const RANDOM_SEEDS: [[u8; 32]; 5] =
    [[0x77; 32], [0x78; 32], [0x79; 32], [0x7a; 32], [0x7b; 32]];

fn hexline(out: &mut String, name: &str, bytes: &[u8]) {
    out.push_str(&format!("{name:<14} {}\n", hex::encode(bytes)));
}

/// The devices: the vector key (seed 00..1f), and the keys with seeds 0x42
/// and 0x43.
pub fn devices() -> [Keypair; 3] {
    [
        Keypair::from_secret(&crate::vectors::seed()),
        Keypair::from_secret(&[0x42; 32]),
        Keypair::from_secret(&[0x43; 32]),
    ]
}

/// What the vectors are made of.
#[derive(Debug)]
pub struct Built {
    pub create: SealedEpoch,
    pub create_state: EpochState,
    pub create_secret: [u8; 32],
    pub add: SealedEpoch,
    pub add_state: EpochState,
    pub add_secret: [u8; 32],
    pub add_history: Vec<ContentKey>,
    /// By A after the `Add`: removes C's person, having seen C's log up to
    /// seq 2; wraps to A and B.
    pub remove: SealedEpoch,
    pub remove_state: EpochState,
    pub remove_secret: [u8; 32],
    /// By A after the `Remove`: a new secret for the same members.
    pub rekey: SealedEpoch,
    pub rekey_state: EpochState,
    pub rekey_secret: [u8; 32],
    pub sealed: Sealed,
    pub inner: Body,
}

/// The secret `seal_epoch` draws from randomness with this seed (it draws
/// the nonce, then for a `Create` the circle key, then the secret).
fn peek_secret(seed: [u8; 32], creates: bool) -> [u8; 32] {
    let mut peek = Randomness::from_seed(seed);
    let _nonce: [u8; 24] = peek.bytes();
    if creates {
        let _key: [u8; 32] = peek.bytes();
    }
    peek.bytes()
}

pub fn build() -> Built {
    let [a, b, c] = devices();
    let pk = |k: &Keypair| (k.author(), DeviceSecret::of(k).public());
    let create_secret = peek_secret(RANDOM_SEEDS[0], true);
    let create = seal_epoch(
        None,
        &a.author(),
        NewEpoch {
            parents: vec![],
            change: Change::Create {
                name: "team".into(),
                members: vec![b.author()],
            },
            recipients: vec![pk(&a), pk(&b)],
            history: vec![],
        },
        &mut Randomness::from_seed(RANDOM_SEEDS[0]),
    )
    .expect("vector epoch");
    let circle = create.body.circle;
    let create_state = create
        .body
        .open_state(&a.author(), &create.circle_key)
        .expect("own state");
    let inner = Body::Post(Post {
        kind: PostKind::Note,
        text: "Meet at noon.".into(),
        reply_to: None,
        tags: vec![],
        files: Vec::new(),
        mentions: Vec::new(),
    });
    let sealed = seal(
        &inner,
        circle,
        create.body.epoch,
        &a.author(),
        &create.keys.content,
        &mut Randomness::from_seed(RANDOM_SEEDS[1]),
    )
    .expect("vector content");
    let add_secret = peek_secret(RANDOM_SEEDS[2], false);
    let add_history = vec![ContentKey {
        epoch: create.body.epoch,
        key: create.keys.content,
    }];
    let add = seal_epoch(
        Some((circle, create.circle_key)),
        &a.author(),
        NewEpoch {
            parents: vec![create.body.epoch],
            change: Change::Add {
                person: c.author(),
                history: true,
            },
            recipients: vec![pk(&a), pk(&b), pk(&c)],
            history: add_history.clone(),
        },
        &mut Randomness::from_seed(RANDOM_SEEDS[2]),
    )
    .expect("vector epoch");
    let add_state = add
        .body
        .open_state(&a.author(), &add.circle_key)
        .expect("own state");
    let next = |seed: [u8; 32], parent: &SealedEpoch, change: Change| {
        let e = seal_epoch(
            Some((circle, create.circle_key)),
            &a.author(),
            NewEpoch {
                parents: vec![parent.body.epoch],
                change,
                recipients: vec![pk(&a), pk(&b)],
                history: vec![],
            },
            &mut Randomness::from_seed(seed),
        )
        .expect("vector epoch");
        let state = e
            .body
            .open_state(&a.author(), &e.circle_key)
            .expect("own state");
        (peek_secret(seed, false), e, state)
    };
    let (remove_secret, remove, remove_state) = next(
        RANDOM_SEEDS[3],
        &add,
        Change::Remove {
            person: c.author(),
            seen: vec![Seen {
                key: c.author(),
                seq: 2,
            }],
        },
    );
    let (rekey_secret, rekey, rekey_state) = next(RANDOM_SEEDS[4], &remove, Change::Rekey);
    Built {
        create,
        create_state,
        create_secret,
        add,
        add_state,
        add_secret,
        add_history,
        remove,
        remove_state,
        remove_secret,
        rekey,
        rekey_state,
        rekey_secret,
        sealed,
        inner,
    }
}

fn epoch_lines(out: &mut String, e: &SealedEpoch, secret: &[u8; 32], state: &EpochState) {
    let author = devices()[0].author();
    let (circle, epoch) = (e.body.circle, e.body.epoch);
    hexline(out, "  nonce", &e.body.nonce);
    hexline(out, "  epoch", &epoch.0);
    hexline(out, "  secret", secret);
    hexline(out, "  content key", &e.keys.content);
    hexline(out, "  history key", &e.keys.history);
    hexline(out, "  key check", &e.keys.check);
    hexline(out, "  state key", &e.circle_key.state_key(&circle, &epoch));
    hexline(out, "  wrap info", &wrap_info(&circle, &epoch));
    hexline(
        out,
        "  state aad",
        &context(STATE_LABEL, &circle, &epoch, &author),
    );
    hexline(
        out,
        "  state",
        &postcard::to_stdvec(state).expect("encoding into a Vec cannot fail"),
    );
    hexline(
        out,
        "  history aad",
        &context(HISTORY_LABEL, &circle, &epoch, &author),
    );
    hexline(out, "  body", &Body::CircleEpoch(e.body.clone()).encode());
}

pub fn markdown() -> String {
    let mut out = String::new();
    for (name, key) in ["device A", "device B", "device C"].iter().zip(devices()) {
        out.push_str(&format!("{name}\n"));
        hexline(&mut out, "  seed", &key.secret_bytes());
        hexline(&mut out, "  ed25519", key.author().as_bytes());
        hexline(
            &mut out,
            "  ikm",
            &blake3::derive_key(DEVICE_KEY_CONTEXT, &key.secret_bytes()),
        );
        hexline(&mut out, "  x25519", &DeviceSecret::of(&key).public());
        hexline(
            &mut out,
            "  kind 15 body",
            &Body::EncryptionKey(EncryptionKey {
                key: DeviceSecret::of(&key).public(),
            })
            .encode(),
        );
    }
    let built = build();
    let create = &built.create;
    let circle = create.body.circle;
    let author = devices()[0].author();
    out.push_str("\nepoch (kind 18) by device A, for A and B: the circle's creation\n");
    hexline(&mut out, "  circle key", &create.circle_key.0);
    hexline(&mut out, "  commitment", &create.circle_key.commitment());
    hexline(&mut out, "  circle", &circle.0);
    epoch_lines(&mut out, create, &built.create_secret, &built.create_state);
    out.push_str("\nsealed post (kind 19) by device A in that epoch\n");
    hexline(&mut out, "  inner", &built.inner.encode());
    hexline(
        &mut out,
        "  aad",
        &context(CONTENT_LABEL, &circle, &create.body.epoch, &author),
    );
    hexline(
        &mut out,
        "  body",
        &Body::Sealed(built.sealed.clone()).encode(),
    );
    let written = crate::PageId([0xab; 16]);
    out.push_str("\na wiki change sealed in that circle for page `written` edits `page` (§12.5)\n");
    hexline(&mut out, "  written", &written.0);
    hexline(&mut out, "  page", &super::circle_page(&circle, &written).0);
    out.push_str("\nepoch (kind 18) by device A, for A, B and C: adds C's person, with history\n");
    epoch_lines(&mut out, &built.add, &built.add_secret, &built.add_state);
    hexline(
        &mut out,
        "  history",
        &postcard::to_stdvec(&built.add_history).expect("encoding into a Vec cannot fail"),
    );
    out.push_str(
        "\nepoch (kind 18) by device A, for A and B: removes C's person, having seen C's log to seq 2\n",
    );
    epoch_lines(
        &mut out,
        &built.remove,
        &built.remove_secret,
        &built.remove_state,
    );
    out.push_str("\nepoch (kind 18) by device A, for A and B: a new secret for the same members\n");
    epoch_lines(
        &mut out,
        &built.rekey,
        &built.rekey_secret,
        &built.rekey_state,
    );
    out.push_str("\ndevice A's log as whole entries (§2–§5): its key, the creation, the post\n");
    for entry in log() {
        out.push_str(&format!("  seq {}\n", entry.seq()));
        hexline(&mut out, "  header", entry.header_bytes());
        hexline(&mut out, "  signature", entry.signature());
        hexline(&mut out, "  id", &entry.id().0);
        hexline(&mut out, "  wire", &entry.encode());
    }
    out.push_str("\nmembership in the contested cases (§12.4)\n");
    for case in cases() {
        case.describe(&mut out);
    }
    out
}

/// Device A's log: its encryption key (kind 15), the creation epoch (kind
/// 18) and the sealed post (kind 19), signed at seq 1–3.
pub fn log() -> Vec<crate::Entry> {
    let a = &devices()[0];
    let built = build();
    let bodies = [
        Body::EncryptionKey(EncryptionKey {
            key: DeviceSecret::of(a).public(),
        }),
        Body::CircleEpoch(built.create.body.clone()),
        Body::Sealed(built.sealed.clone()),
    ];
    let mut prev = None;
    let mut out = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        let entry = crate::Entry::sign(
            a,
            crate::Draft {
                seq: i as u64 + 1,
                prev,
                timestamp_ms: crate::vectors::TIMESTAMP_MS + i as u64 * 1000,
                body: body.encode(),
            },
        );
        prev = Some(entry.id());
        out.push(entry);
    }
    out
}

mod cases;
pub use cases::{Case, CaseChange, cases, cases_json, person};

#[cfg(test)]
mod tests;
