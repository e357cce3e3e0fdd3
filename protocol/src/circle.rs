//! Private circles (PROTOCOL.md §12): posts, questions, answers,
//! endorsements and wiki changes encrypted for a chosen set of persons.
//!
//! Three body kinds carry them, all ordinary signed entries of their
//! author's log (so replication, bundles, fork detection and deletion see
//! nothing new):
//!
//! - kind 15 [`EncryptionKey`]: a device publishes its X25519 public key;
//!   the entry's signature binds it to the device key, which the person's
//!   certificates bind to the person (§11).
//! - kind 16 [`CircleEpoch`]: a membership change. It starts a new *epoch*
//!   with a fresh 32-byte secret, wrapped to every current member device
//!   with HPKE (RFC 9180: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
//!   ChaCha20-Poly1305, base mode), and carries the change itself
//!   ([`EpochState`]) encrypted under the epoch's *state key*, so who is in
//!   a circle is visible to its members only.
//! - kind 17 [`Sealed`]: any circle content: an inner body encrypted with
//!   XChaCha20-Poly1305 under the epoch's *content key*.
//!
//! Keys of an epoch: `state` and `content` are HKDF-SHA256 of the secret
//! (salt = circle id || epoch id, info = a label). Each epoch's state names
//! its parent epochs with their state keys, so a member who can read one
//! epoch can read every membership change before it (and so resolve the
//! circle like everyone else) without being able to read earlier content;
//! an `Add` may hand the newcomer earlier content keys too (`history`).
//!
//! Everything here is pure: randomness comes in as a seed
//! ([`Randomness`]), so test vectors are reproducible.

mod resolve;
pub mod vectors;

use std::fmt;

use chacha20::ChaCha20Rng;
use chacha20::rand_core::{Rng, SeedableRng};
use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use serde::{Deserialize, Serialize};

use crate::body::Body;
use crate::keys::{AuthorId, Keypair};

pub use resolve::{Op, Rejected, Resolved, resolve};

type Wrapper = X25519HkdfSha256;
type WrapKdf = hpke::kdf::HkdfSha256;
type WrapAead = hpke::aead::ChaCha20Poly1305;

/// Most names a `Create` may list, and most wraps of one epoch.
pub const MAX_RECIPIENTS: usize = 512;
/// Longest circle name, in bytes.
pub const MAX_CIRCLE_NAME: usize = 100;
/// Bytes sealing adds around an inner body (circle, epoch, nonce, tag and
/// their length prefix), for splitting wiki changes before sealing.
pub const SEAL_OVERHEAD: usize = 1 + 16 + 16 + 24 + 3 + 16;

/// HPKE `info` prefix of a wrap; followed by circle id and epoch id.
pub const WRAP_INFO: &[u8] = b"kith-circle-v1 wrap";
/// AEAD associated data prefix of an epoch's state.
pub const STATE_AAD: &[u8] = b"kith-circle-v1 state";
/// AEAD associated data prefix of sealed content.
pub const CONTENT_AAD: &[u8] = b"kith-circle-v1 content";
/// blake3 `derive_key` context turning a device's ed25519 seed into the
/// input keying material of its X25519 key (RFC 9180 DeriveKeyPair).
pub const DEVICE_KEY_CONTEXT: &str = "kith 2026-11 device x25519 key v1";

/// Why circle content could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CircleError {
    #[error("this device holds no key for the epoch")]
    NoKey,
    #[error("decryption failed: the ciphertext, its context or the key is wrong")]
    Decrypt,
    #[error("malformed circle data: {0}")]
    Malformed(String),
    #[error("{0}")]
    Invalid(String),
}

id16!(
    CircleId,
    "circle",
    "A circle's id: derived from its creating epoch's id ([`circle_id`])."
);
id16!(
    EpochId,
    "circle epoch",
    "An epoch's id: derived from its author's key and nonce ([`epoch_id`])."
);

/// Kind 15: the author's X25519 public key for circle wraps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptionKey {
    pub key: [u8; 32],
}

/// The epoch secret sealed to one recipient device with HPKE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wrap {
    /// HPKE encapsulated key.
    pub enc: [u8; 32],
    /// The 32-byte secret, sealed (48 bytes).
    #[serde(with = "serde_bytes")]
    pub ct: Vec<u8>,
}

/// Kind 16: a membership change starting a new epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CircleEpoch {
    pub circle: CircleId,
    pub epoch: EpochId,
    /// One per recipient device, in no meaningful order (sorted by `enc`).
    pub wraps: Vec<Wrap>,
    pub nonce: [u8; 24],
    /// The postcard encoding of [`EpochState`], sealed under the state key.
    #[serde(with = "serde_bytes")]
    pub state: Vec<u8>,
}

/// Kind 17: circle content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    pub circle: CircleId,
    pub epoch: EpochId,
    pub nonce: [u8; 24],
    /// An inner body (`varint(kind) || payload`), sealed under the content key.
    #[serde(with = "serde_bytes")]
    pub ct: Vec<u8>,
}

/// What an epoch's members read in its [`CircleEpoch`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochState {
    /// The epochs this one follows (the circle's heads its author knew),
    /// with their state keys.
    pub parents: Vec<ParentKey>,
    pub change: Change,
    /// The device keys the secret was wrapped to.
    pub recipients: Vec<AuthorId>,
    /// Content keys of earlier epochs given to a newcomer (`Add` with history).
    pub history: Vec<ContentKey>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParentKey {
    pub epoch: EpochId,
    pub state_key: [u8; 32],
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentKey {
    pub epoch: EpochId,
    pub key: [u8; 32],
}

/// A membership change. Members are persons (their root key, §11).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    /// Starts the circle; its author's person is a member too.
    Create {
        name: String,
        members: Vec<AuthorId>,
    },
    Add {
        person: AuthorId,
        history: bool,
    },
    /// `seen`: the removed person's device heads the remover held. Their
    /// writes past these, in epochs that do not follow the removal, are not
    /// accepted into the circle.
    Remove {
        person: AuthorId,
        seen: Vec<Seen>,
    },
    /// A new secret for the same members (merging concurrent epochs, or a
    /// device that joined or left a member).
    Rekey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    pub key: AuthorId,
    pub seq: u64,
}

/// The two keys of an epoch.
#[derive(Clone, PartialEq, Eq)]
pub struct EpochKeys {
    pub state: [u8; 32],
    pub content: [u8; 32],
}

impl fmt::Debug for EpochKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EpochKeys(..)")
    }
}

impl EpochKeys {
    /// HKDF-SHA256 of the epoch secret: salt = circle || epoch, info =
    /// "kith-circle-v1 state" / "kith-circle-v1 content".
    pub fn derive(secret: &[u8; 32], circle: &CircleId, epoch: &EpochId) -> EpochKeys {
        let mut salt = [0u8; 32];
        salt[..16].copy_from_slice(&circle.0);
        salt[16..].copy_from_slice(&epoch.0);
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(&salt), secret);
        let mut state = [0u8; 32];
        let mut content = [0u8; 32];
        hk.expand(STATE_AAD, &mut state)
            .expect("32 bytes is a valid HKDF output length");
        hk.expand(CONTENT_AAD, &mut content)
            .expect("32 bytes is a valid HKDF output length");
        EpochKeys { state, content }
    }
}

/// A device's X25519 key pair for circle wraps, derived from its ed25519
/// seed (so it is backed up, restored and replaced with the log key).
#[derive(Clone)]
pub struct DeviceSecret {
    secret: <Wrapper as hpke::Kem>::PrivateKey,
    public: [u8; 32],
}

impl fmt::Debug for DeviceSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceSecret({})", hex::encode(self.public))
    }
}

impl DeviceSecret {
    /// RFC 9180 DeriveKeyPair(ikm) with ikm = blake3::derive_key(
    /// [`DEVICE_KEY_CONTEXT`], ed25519 seed).
    pub fn of(keypair: &Keypair) -> DeviceSecret {
        let ikm = blake3::derive_key(DEVICE_KEY_CONTEXT, &keypair.secret_bytes());
        let (secret, public) = Wrapper::derive_keypair(&ikm);
        let mut pk = [0u8; 32];
        pk.copy_from_slice(&public.to_bytes());
        DeviceSecret { secret, public: pk }
    }

    pub fn public(&self) -> [u8; 32] {
        self.public
    }

    /// The body announcing this key (kind 15).
    pub fn announcement(&self) -> EncryptionKey {
        EncryptionKey { key: self.public }
    }
}

/// Where a circle operation's random bytes come from: a 32-byte seed
/// expanded by ChaCha20 (the node seeds it from the OS; tests and vectors
/// from fixed bytes).
pub struct Randomness(ChaCha20Rng);

impl fmt::Debug for Randomness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Randomness(..)")
    }
}

impl Randomness {
    pub fn from_seed(seed: [u8; 32]) -> Randomness {
        Randomness(ChaCha20Rng::from_seed(seed))
    }

    pub fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        self.0.fill_bytes(&mut out);
        out
    }
}

fn context(prefix: &[u8], circle: &CircleId, epoch: &EpochId, author: &AuthorId) -> Vec<u8> {
    let mut out = Vec::with_capacity(prefix.len() + 64);
    out.extend_from_slice(prefix);
    out.extend_from_slice(&circle.0);
    out.extend_from_slice(&epoch.0);
    out.extend_from_slice(author.as_bytes());
    out
}

fn wrap_info(circle: &CircleId, epoch: &EpochId) -> Vec<u8> {
    let mut info = WRAP_INFO.to_vec();
    info.extend_from_slice(&circle.0);
    info.extend_from_slice(&epoch.0);
    info
}

fn xseal(key: &[u8; 32], nonce: &[u8; 24], msg: &[u8], aad: &[u8]) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(key.into());
    cipher
        .encrypt(nonce.into(), Payload { msg, aad })
        .expect("XChaCha20-Poly1305 seals any message below 256 GiB")
}

fn xopen(key: &[u8; 32], nonce: &[u8; 24], ct: &[u8], aad: &[u8]) -> Result<Vec<u8>, CircleError> {
    let cipher = XChaCha20Poly1305::new(key.into());
    cipher
        .decrypt(nonce.into(), Payload { msg: ct, aad })
        .map_err(|_| CircleError::Decrypt)
}

/// blake3 `derive_key` context of an epoch id.
pub const EPOCH_ID_CONTEXT: &str = "kith 2026-11 circle epoch id v1";
/// blake3 `derive_key` context of a circle id.
pub const CIRCLE_ID_CONTEXT: &str = "kith 2026-11 circle id v1";

/// An epoch's id: the first 16 bytes of blake3::derive_key(
/// [`EPOCH_ID_CONTEXT`], author || nonce). Bound to the key that signs the
/// epoch, so nobody else can publish an epoch under the same id.
pub fn epoch_id(author: &AuthorId, nonce: &[u8; 24]) -> EpochId {
    let mut material = [0u8; 56];
    material[..32].copy_from_slice(author.as_bytes());
    material[32..].copy_from_slice(nonce);
    let hash = blake3::derive_key(EPOCH_ID_CONTEXT, &material);
    let mut id = [0u8; 16];
    id.copy_from_slice(&hash[..16]);
    EpochId(id)
}

/// A circle's id: the first 16 bytes of blake3::derive_key(
/// [`CIRCLE_ID_CONTEXT`], id of its creating epoch). Only its creator's
/// `Create` can count for it.
pub fn circle_id(create: &EpochId) -> CircleId {
    let hash = blake3::derive_key(CIRCLE_ID_CONTEXT, &create.0);
    let mut id = [0u8; 16];
    id.copy_from_slice(&hash[..16]);
    CircleId(id)
}

/// A new epoch written by `author`: a fresh secret wrapped to each of
/// `recipients` (X25519 public keys) and `state` sealed under its state
/// key. `circle` is `None` for a `Create` (the circle's id follows from the
/// epoch's). Returns the body and the epoch's keys.
pub fn seal_epoch(
    circle: Option<CircleId>,
    author: &AuthorId,
    state: &EpochState,
    recipients: &[[u8; 32]],
    rng: &mut Randomness,
) -> Result<(CircleEpoch, EpochKeys), CircleError> {
    if recipients.is_empty() || recipients.len() > MAX_RECIPIENTS {
        return Err(CircleError::Invalid(format!(
            "an epoch needs 1 to {MAX_RECIPIENTS} recipient devices (got {})",
            recipients.len()
        )));
    }
    let creates = matches!(state.change, Change::Create { .. });
    if creates != circle.is_none() {
        return Err(CircleError::Invalid(
            "a circle's id is given for every change but its creation".into(),
        ));
    }
    let nonce: [u8; 24] = rng.bytes();
    let epoch = epoch_id(author, &nonce);
    let circle = circle.unwrap_or_else(|| circle_id(&epoch));
    let secret: [u8; 32] = rng.bytes();
    let info = wrap_info(&circle, &epoch);
    let mut wraps = Vec::with_capacity(recipients.len());
    for pk in recipients {
        let pk = <Wrapper as hpke::Kem>::PublicKey::from_bytes(pk)
            .map_err(|_| CircleError::Invalid("a recipient's X25519 key is invalid".into()))?;
        let (enc, ct) = hpke::single_shot_seal_with_rng::<WrapAead, WrapKdf, Wrapper>(
            &OpModeS::Base,
            &pk,
            &info,
            &secret,
            author.as_bytes(),
            &mut rng.0,
        )
        .map_err(|e| CircleError::Invalid(format!("wrapping the epoch secret failed: {e}")))?;
        let mut e = [0u8; 32];
        e.copy_from_slice(&enc.to_bytes());
        wraps.push(Wrap { enc: e, ct });
    }
    wraps.sort_by_key(|w| w.enc);
    let keys = EpochKeys::derive(&secret, &circle, &epoch);
    let plain = postcard::to_stdvec(state).expect("encoding into a Vec cannot fail");
    let sealed = xseal(
        &keys.state,
        &nonce,
        &plain,
        &context(STATE_AAD, &circle, &epoch, author),
    );
    Ok((
        CircleEpoch {
            circle,
            epoch,
            wraps,
            nonce,
            state: sealed,
        },
        keys,
    ))
}

impl CircleEpoch {
    /// Whether its ids are its own: the epoch id follows from `author` and
    /// the nonce, and a creation's circle id from the epoch id. Nodes
    /// ignore epochs that fail this (anyone who carries a circle's entries
    /// sees its ids; nobody else can reuse them).
    pub fn ids_hold(&self, author: &AuthorId, creates: bool) -> bool {
        self.epoch == epoch_id(author, &self.nonce)
            && (!creates || self.circle == circle_id(&self.epoch))
    }

    /// The epoch's keys, if one of the wraps is for `device` (tries each:
    /// wraps do not name their recipient).
    pub fn unwrap_keys(&self, author: &AuthorId, device: &DeviceSecret) -> Option<EpochKeys> {
        let info = wrap_info(&self.circle, &self.epoch);
        self.wraps.iter().find_map(|w| {
            let enc = <Wrapper as hpke::Kem>::EncappedKey::from_bytes(&w.enc).ok()?;
            let secret = hpke::single_shot_open::<WrapAead, WrapKdf, Wrapper>(
                &OpModeR::Base,
                &device.secret,
                &enc,
                &info,
                &w.ct,
                author.as_bytes(),
            )
            .ok()?;
            let secret: [u8; 32] = secret.try_into().ok()?;
            Some(EpochKeys::derive(&secret, &self.circle, &self.epoch))
        })
    }

    /// The epoch's state, read with its state key.
    pub fn open_state(
        &self,
        author: &AuthorId,
        state_key: &[u8; 32],
    ) -> Result<EpochState, CircleError> {
        let plain = xopen(
            state_key,
            &self.nonce,
            &self.state,
            &context(STATE_AAD, &self.circle, &self.epoch, author),
        )?;
        let (state, rest): (EpochState, _) = postcard::take_from_bytes(&plain)
            .map_err(|e| CircleError::Malformed(format!("epoch state: {e}")))?;
        if !rest.is_empty() {
            return Err(CircleError::Malformed("epoch state: trailing bytes".into()));
        }
        // One spelling per state, as for bodies (postcard reads overlong
        // varints).
        if postcard::to_stdvec(&state).ok().as_deref() != Some(&plain[..]) {
            return Err(CircleError::Malformed(
                "epoch state is not canonically encoded".into(),
            ));
        }
        state.check()?;
        Ok(state)
    }
}

impl CircleEpoch {
    /// This epoch with `plain` sealed as its state (fuzzing: what a member
    /// decrypts, whatever the bytes).
    #[doc(hidden)]
    pub fn with_state_plaintext(
        &self,
        author: &AuthorId,
        state_key: &[u8; 32],
        plain: &[u8],
    ) -> CircleEpoch {
        let mut out = self.clone();
        out.state = xseal(
            state_key,
            &self.nonce,
            plain,
            &context(STATE_AAD, &self.circle, &self.epoch, author),
        );
        out
    }
}

impl Sealed {
    /// This entry with `plain` sealed as its inner body (fuzzing).
    #[doc(hidden)]
    pub fn with_plaintext(
        &self,
        author: &AuthorId,
        content_key: &[u8; 32],
        plain: &[u8],
    ) -> Sealed {
        let mut out = self.clone();
        out.ct = xseal(
            content_key,
            &self.nonce,
            plain,
            &context(CONTENT_AAD, &self.circle, &self.epoch, author),
        );
        out
    }
}

impl EpochState {
    /// Bounds a member's node enforces on states it reads.
    pub fn check(&self) -> Result<(), CircleError> {
        if self.recipients.len() > MAX_RECIPIENTS || self.parents.len() > MAX_RECIPIENTS {
            return Err(CircleError::Invalid(
                "too many recipients or parents".into(),
            ));
        }
        if let Change::Create { name, members } = &self.change
            && (name.len() > MAX_CIRCLE_NAME || members.len() > MAX_RECIPIENTS)
        {
            return Err(CircleError::Invalid(
                "circle name or member list too long".into(),
            ));
        }
        Ok(())
    }
}

/// Whether `body` may travel inside a circle: what people write there
/// (posts, endorsements, accepts, wiki changes), not keys or certificates.
pub fn may_seal(body: &Body) -> bool {
    matches!(
        body,
        Body::Post(_)
            | Body::Endorsement(_)
            | Body::Accept(_)
            | Body::WikiChange(_)
            | Body::WikiBundle(_)
    )
}

/// Seals `body` for an epoch: XChaCha20-Poly1305 under its content key,
/// with a random 24-byte nonce; the associated data binds circle, epoch
/// and author.
pub fn seal(
    body: &Body,
    circle: CircleId,
    epoch: EpochId,
    author: &AuthorId,
    content_key: &[u8; 32],
    rng: &mut Randomness,
) -> Result<Sealed, CircleError> {
    if !may_seal(body) {
        return Err(CircleError::Invalid(format!(
            "a {} cannot be written in a circle",
            body.kind_name()
        )));
    }
    let nonce: [u8; 24] = rng.bytes();
    let ct = xseal(
        content_key,
        &nonce,
        &body.encode(),
        &context(CONTENT_AAD, &circle, &epoch, author),
    );
    Ok(Sealed {
        circle,
        epoch,
        nonce,
        ct,
    })
}

impl Sealed {
    /// The inner body, read with the epoch's content key.
    pub fn open(&self, author: &AuthorId, content_key: &[u8; 32]) -> Result<Body, CircleError> {
        let plain = xopen(
            content_key,
            &self.nonce,
            &self.ct,
            &context(CONTENT_AAD, &self.circle, &self.epoch, author),
        )?;
        let body = Body::decode(&plain).map_err(|e| CircleError::Malformed(e.to_string()))?;
        if !may_seal(&body) {
            return Err(CircleError::Invalid(format!(
                "a {} inside a circle entry",
                body.kind_name()
            )));
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests;
