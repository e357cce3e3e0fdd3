//! Test vectors for PROTOCOL.md §12: two devices' X25519 keys, an epoch
//! created by the vector key for both, and a post sealed in it. Everything
//! comes from fixed seeds; an independent implementation checks them by
//! opening (the ephemeral HPKE keys depend on this implementation's use of
//! the random stream, so re-sealing need not give the same bytes).
//! `cargo run -q -p kith-protocol --example circle_vectors` prints them.

use super::*;
use crate::body::{Post, PostKind};

/// The seed of the randomness the epoch and the sealed post use.
pub const RANDOM_SEED: [u8; 32] = [0x77; 32];

fn hexline(out: &mut String, name: &str, bytes: &[u8]) {
    out.push_str(&format!("{name:<13} {}\n", hex::encode(bytes)));
}

/// The two devices: the vector key (seed 00..1f) and the key with seed 0x42.
pub fn devices() -> [Keypair; 2] {
    [
        Keypair::from_secret(&crate::vectors::seed()),
        Keypair::from_secret(&[0x42; 32]),
    ]
}

/// The epoch, its keys and secret, and the sealed post.
pub fn build() -> (CircleEpoch, EpochState, [u8; 32], EpochKeys, Sealed, Body) {
    let [alice, bob] = devices();
    let mut rng = Randomness::from_seed(RANDOM_SEED);
    // seal_epoch draws the nonce (which makes the epoch id), then the
    // secret, first.
    let mut peek = Randomness::from_seed(RANDOM_SEED);
    let _nonce: [u8; 24] = peek.bytes();
    let secret: [u8; 32] = peek.bytes();
    let state = EpochState {
        parents: vec![],
        change: Change::Create {
            name: "team".into(),
            members: vec![bob.author()],
        },
        recipients: vec![alice.author(), bob.author()],
        history: vec![],
    };
    let pks = [
        DeviceSecret::of(&alice).public(),
        DeviceSecret::of(&bob).public(),
    ];
    let (epoch, keys) =
        seal_epoch(None, &alice.author(), &state, &pks, &mut rng).expect("vector epoch");
    let inner = Body::Post(Post {
        kind: PostKind::Note,
        text: "Meet at noon.".into(),
        reply_to: None,
        tags: vec![],
    });
    let sealed = seal(
        &inner,
        epoch.circle,
        epoch.epoch,
        &alice.author(),
        &keys.content,
        &mut rng,
    )
    .expect("vector content");
    (epoch, state, secret, keys, sealed, inner)
}

pub fn markdown() -> String {
    let mut out = String::new();
    for (name, key) in ["device A", "device B"].iter().zip(devices()) {
        out.push_str(&format!("{name}\n"));
        hexline(&mut out, "  ed25519", key.author().as_bytes());
        hexline(
            &mut out,
            "  ikm",
            &blake3::derive_key(DEVICE_KEY_CONTEXT, &key.secret_bytes()),
        );
        hexline(&mut out, "  x25519", &DeviceSecret::of(&key).public());
    }
    let (epoch, state, secret, keys, sealed, inner) = build();
    let author = devices()[0].author();
    let circle = epoch.circle;
    out.push_str("\nepoch (kind 16) by device A, for A and B: the circle's creation\n");
    hexline(&mut out, "  nonce", &epoch.nonce);
    hexline(&mut out, "  epoch", &epoch.epoch.0);
    hexline(&mut out, "  circle", &circle.0);
    hexline(&mut out, "  secret", &secret);
    hexline(&mut out, "  state key", &keys.state);
    hexline(&mut out, "  content key", &keys.content);
    hexline(&mut out, "  wrap info", &wrap_info(&circle, &epoch.epoch));
    hexline(
        &mut out,
        "  state aad",
        &context(STATE_AAD, &circle, &epoch.epoch, &author),
    );
    hexline(
        &mut out,
        "  state",
        &postcard::to_stdvec(&state).expect("encoding into a Vec cannot fail"),
    );
    hexline(
        &mut out,
        "  body",
        &Body::CircleEpoch(epoch.clone()).encode(),
    );
    out.push_str("\nsealed post (kind 17) by device A\n");
    hexline(&mut out, "  inner", &inner.encode());
    hexline(
        &mut out,
        "  aad",
        &context(CONTENT_AAD, &circle, &epoch.epoch, &author),
    );
    hexline(&mut out, "  body", &Body::Sealed(sealed).encode());
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const DOC: &str = include_str!("../../../docs/PROTOCOL.md");

    #[test]
    fn protocol_md_circle_vectors_match_the_code() {
        let start = DOC
            .find("<!-- circle-vectors:begin -->")
            .expect("circle vectors block");
        let end = DOC.find("<!-- circle-vectors:end -->").expect("block end");
        let block = DOC[start..end]
            .split("```text\n")
            .nth(1)
            .and_then(|b| b.split("```").next())
            .expect("a text code block");
        assert_eq!(
            block,
            markdown(),
            "docs/PROTOCOL.md circle vectors are stale"
        );
    }

    #[test]
    fn both_devices_open_the_vector_epoch_and_post_from_its_bytes() {
        let (epoch, state, secret, keys, sealed, inner) = build();
        let author = devices()[0].author();
        assert!(epoch.ids_hold(&author, true));
        assert_eq!(
            EpochKeys::derive(&secret, &epoch.circle, &epoch.epoch),
            keys
        );
        let body = Body::decode(&Body::CircleEpoch(epoch).encode()).unwrap();
        let Body::CircleEpoch(epoch) = body else {
            panic!()
        };
        for device in devices() {
            let got = epoch
                .unwrap_keys(&author, &DeviceSecret::of(&device))
                .unwrap();
            assert_eq!(got, keys);
            assert_eq!(epoch.open_state(&author, &got.state).unwrap(), state);
        }
        let stranger = DeviceSecret::of(&Keypair::from_secret(&[0x43; 32]));
        assert!(epoch.unwrap_keys(&author, &stranger).is_none());
        assert_eq!(sealed.open(&author, &keys.content).unwrap(), inner);
    }
}
