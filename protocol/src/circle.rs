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
//! - kind 18 [`CircleEpoch`]: a membership change. It starts a new *epoch*
//!   with a fresh 32-byte secret, wrapped to every current member device
//!   with HPKE (RFC 9180: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
//!   ChaCha20-Poly1305, base mode) together with the circle's *circle key*,
//!   and carries the change itself ([`EpochState`]) encrypted under a key
//!   derived from the circle key, so every device that ever held the circle
//!   key — everyone who was ever a member — reads every membership change,
//!   and every such node resolves the same members whatever content keys
//!   it holds. Content keys of earlier epochs handed to newcomers travel
//!   apart, under the epoch's own secret.
//! - kind 19 [`Sealed`]: any circle content: an inner body encrypted with
//!   XChaCha20-Poly1305 under the epoch's *content key*.
//!
//! The circle's id commits to its circle key (and its creating epoch), so
//! a member who hands a newcomer a different circle key is caught.
//! Kinds 16 and 17, the first revision of circles, are retired: their
//! membership could be steered by a member (PROTOCOL.md §12.8); nodes
//! store and forward them as unknown kinds.
//!
//! Everything here is pure: randomness comes in as a seed
//! ([`Randomness`]), so test vectors are reproducible.

mod epoch;
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

use crate::PageId;
use crate::body::Body;
use crate::keys::{AuthorId, Keypair};

pub use epoch::{NewEpoch, SealedEpoch, Unwrapped, seal_epoch};
pub use resolve::{EpochInfo, Op, Rejected, Resolved, persons_added, resolve};

type Wrapper = X25519HkdfSha256;
type WrapKdf = hpke::kdf::HkdfSha256;
type WrapAead = hpke::aead::ChaCha20Poly1305;

/// Most names a `Create` may list, most wraps and recipients of one epoch.
/// An epoch with more wraps is junk: no node tries them.
pub const MAX_RECIPIENTS: usize = 512;
/// Most parents of one epoch.
pub const MAX_PARENTS: usize = 512;
/// Most earlier content keys one epoch hands out (48 bytes each).
pub const MAX_HISTORY: usize = 1024;
/// Most epochs of one circle a node reads from one device (its first, by
/// seq); later ones do not count.
pub const MAX_EPOCHS_PER_DEVICE: usize = 1024;
/// Most epochs of one circle a node resolves (every device's first ones
/// before anyone's later ones): bounds resolution's memory (its causal
/// order is n² bits) and time (superlinear: docs/BENCHMARKS.md measures
/// a quarter of a second at this cap in the worst shape, 15 s at 8,192).
pub const MAX_EPOCHS: usize = 2048;
/// Longest circle name, in bytes.
pub const MAX_CIRCLE_NAME: usize = 100;
/// Length of a wrap's ciphertext: the epoch secret and the circle key (64
/// bytes) and the AEAD tag.
pub const WRAP_CT_LEN: usize = 64 + 16;
/// Bytes sealing adds around an inner body (kind, circle, epoch, nonce,
/// tag and their length prefix), for splitting wiki changes before sealing.
pub const SEAL_OVERHEAD: usize = 1 + 16 + 16 + 24 + 3 + 16;

/// HPKE `info` prefix of a wrap; followed by circle id and epoch id.
pub const WRAP_INFO: &[u8] = b"kith-circle-v2 wrap";
/// HKDF `info` of an epoch's state key (from the circle key) and AEAD
/// associated data prefix of its state.
pub const STATE_LABEL: &[u8] = b"kith-circle-v2 state";
/// HKDF `info` of an epoch's content key and AEAD associated data prefix
/// of sealed content.
pub const CONTENT_LABEL: &[u8] = b"kith-circle-v2 content";
/// HKDF `info` of an epoch's history key and AEAD associated data prefix
/// of its history.
pub const HISTORY_LABEL: &[u8] = b"kith-circle-v2 history";
/// HKDF `info` of an epoch's key check (in its state: a wrap's secret is
/// believed only if it derives the same check).
pub const CHECK_LABEL: &[u8] = b"kith-circle-v2 check";
/// blake3 `derive_key` context turning a device's ed25519 seed into the
/// input keying material of its X25519 key (RFC 9180 DeriveKeyPair).
pub const DEVICE_KEY_CONTEXT: &str = "kith 2026-11 device x25519 key v1";
/// blake3 `derive_key` context of an epoch id.
pub const EPOCH_ID_CONTEXT: &str = "kith 2026-12 circle epoch id v2";
/// blake3 `derive_key` context of a circle id.
pub const CIRCLE_ID_CONTEXT: &str = "kith 2026-12 circle id v2";
/// blake3 `derive_key` context of the commitment to a circle key.
pub const CIRCLE_KEY_CONTEXT: &str = "kith 2026-12 circle key commitment v2";
/// blake3 `derive_key` context of the page a circle's wiki change edits.
pub const CIRCLE_PAGE_CONTEXT: &str = "kith 2026-12 circle page v1";

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
    "A circle's id: derived from its creating epoch's id and its circle key ([`circle_id`])."
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

/// The epoch secret and the circle key, sealed to one recipient device
/// with HPKE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wrap {
    /// HPKE encapsulated key.
    pub enc: [u8; 32],
    /// secret (32) || circle key (32), sealed ([`WRAP_CT_LEN`] bytes).
    #[serde(with = "serde_bytes")]
    pub ct: Vec<u8>,
}

/// Kind 18: a membership change starting a new epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CircleEpoch {
    pub circle: CircleId,
    pub epoch: EpochId,
    /// One per recipient device, in no meaningful order (sorted by `enc`).
    pub wraps: Vec<Wrap>,
    pub nonce: [u8; 24],
    /// The postcard encoding of [`EpochState`], sealed under the state key
    /// (from the circle key).
    #[serde(with = "serde_bytes")]
    pub state: Vec<u8>,
    /// The postcard encoding of `Vec<ContentKey>`, earlier content keys
    /// for the recipients, sealed under the history key (from the secret).
    #[serde(with = "serde_bytes")]
    pub history: Vec<u8>,
}

/// Kind 19: circle content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    pub circle: CircleId,
    pub epoch: EpochId,
    pub nonce: [u8; 24],
    /// An inner body (`varint(kind) || payload`), sealed under the content key.
    #[serde(with = "serde_bytes")]
    pub ct: Vec<u8>,
}

/// What every holder of the circle key reads in a [`CircleEpoch`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochState {
    /// The epochs this one follows: every epoch of the circle its author
    /// held that no other one it held follows (§12.4).
    pub parents: Vec<EpochId>,
    pub change: Change,
    /// The device keys the secret was wrapped to.
    pub recipients: Vec<AuthorId>,
    /// HKDF of the epoch secret ([`CHECK_LABEL`]): a wrap's secret is
    /// believed only if it gives the same.
    pub key_check: [u8; 32],
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
    /// content past these, in epochs that do not follow the removal, is
    /// not accepted. (Their epochs are judged by the causal order alone.)
    Remove {
        person: AuthorId,
        seen: Vec<Seen>,
    },
    /// A new secret for the same members (merging concurrent epochs, or a
    /// device that joined or left a member, or one left without a key).
    Rekey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    pub key: AuthorId,
    pub seq: u64,
}

/// A circle's key: 32 random bytes made with the circle, handed to every
/// recipient of every epoch. It opens every epoch's state.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CircleKey(pub [u8; 32]);

impl fmt::Debug for CircleKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CircleKey(..)")
    }
}

impl CircleKey {
    /// What a circle's id commits to: blake3::derive_key(
    /// [`CIRCLE_KEY_CONTEXT`], key).
    pub fn commitment(&self) -> [u8; 32] {
        blake3::derive_key(CIRCLE_KEY_CONTEXT, &self.0)
    }

    /// Whether this is the key of `circle`, created by epoch `create`.
    pub fn is_of(&self, circle: &CircleId, create: &EpochId) -> bool {
        circle_id(create, self) == *circle
    }

    /// The key an epoch's state is sealed under: HKDF-SHA256 of the circle
    /// key, salt = circle || epoch, info = [`STATE_LABEL`].
    pub fn state_key(&self, circle: &CircleId, epoch: &EpochId) -> [u8; 32] {
        hkdf32(&self.0, circle, epoch, STATE_LABEL)
    }
}

/// The keys an epoch's secret gives.
#[derive(Clone, PartialEq, Eq)]
pub struct EpochKeys {
    pub content: [u8; 32],
    pub history: [u8; 32],
    pub check: [u8; 32],
}

impl fmt::Debug for EpochKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EpochKeys(..)")
    }
}

fn hkdf32(ikm: &[u8; 32], circle: &CircleId, epoch: &EpochId, info: &[u8]) -> [u8; 32] {
    let mut salt = [0u8; 32];
    salt[..16].copy_from_slice(&circle.0);
    salt[16..].copy_from_slice(&epoch.0);
    let mut out = [0u8; 32];
    hkdf::Hkdf::<sha2::Sha256>::new(Some(&salt), ikm)
        .expand(info, &mut out)
        .expect("32 bytes is a valid HKDF output length");
    out
}

impl EpochKeys {
    /// HKDF-SHA256 of the epoch secret: salt = circle || epoch, info =
    /// [`CONTENT_LABEL`] / [`HISTORY_LABEL`] / [`CHECK_LABEL`].
    pub fn derive(secret: &[u8; 32], circle: &CircleId, epoch: &EpochId) -> EpochKeys {
        EpochKeys {
            content: hkdf32(secret, circle, epoch, CONTENT_LABEL),
            history: hkdf32(secret, circle, epoch, HISTORY_LABEL),
            check: hkdf32(secret, circle, epoch, CHECK_LABEL),
        }
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

fn first16(hash: [u8; 32]) -> [u8; 16] {
    let mut id = [0u8; 16];
    id.copy_from_slice(&hash[..16]);
    id
}

/// An epoch's id: the first 16 bytes of blake3::derive_key(
/// [`EPOCH_ID_CONTEXT`], author || nonce). Bound to the key that signs the
/// epoch, so nobody else can publish an epoch under the same id.
pub fn epoch_id(author: &AuthorId, nonce: &[u8; 24]) -> EpochId {
    let mut material = [0u8; 56];
    material[..32].copy_from_slice(author.as_bytes());
    material[32..].copy_from_slice(nonce);
    EpochId(first16(blake3::derive_key(EPOCH_ID_CONTEXT, &material)))
}

/// A circle's id: the first 16 bytes of blake3::derive_key(
/// [`CIRCLE_ID_CONTEXT`], id of its creating epoch || the circle key's
/// commitment). Only its creator's `Create` can count for it, and only one
/// circle key opens it.
pub fn circle_id(create: &EpochId, key: &CircleKey) -> CircleId {
    let mut material = [0u8; 48];
    material[..16].copy_from_slice(&create.0);
    material[16..].copy_from_slice(&key.commitment());
    CircleId(first16(blake3::derive_key(CIRCLE_ID_CONTEXT, &material)))
}

/// The page a wiki change opened from `circle` edits, when the change
/// names page `written`: the first 16 bytes of blake3::derive_key(
/// [`CIRCLE_PAGE_CONTEXT`], circle id || written). The circle is part of a
/// page's identity, so the same id written in another circle, or in the
/// clear, names another page whatever order the changes arrive in: nobody
/// can move a circle's page into another circle (PROTOCOL.md §12.5).
pub fn circle_page(circle: &CircleId, written: &PageId) -> PageId {
    let mut material = [0u8; 32];
    material[..16].copy_from_slice(&circle.0);
    material[16..].copy_from_slice(&written.0);
    PageId(first16(blake3::derive_key(CIRCLE_PAGE_CONTEXT, &material)))
}

/// Decodes `plain` as a `T` in its one canonical spelling (postcard reads
/// overlong varints; a node accepts one spelling per value, as for bodies).
fn canonical<T: Serialize + serde::de::DeserializeOwned>(
    plain: &[u8],
    what: &str,
) -> Result<T, CircleError> {
    let (value, rest): (T, _) = postcard::take_from_bytes(plain)
        .map_err(|e| CircleError::Malformed(format!("{what}: {e}")))?;
    if !rest.is_empty() {
        return Err(CircleError::Malformed(format!("{what}: trailing bytes")));
    }
    if postcard::to_stdvec(&value).ok().as_deref() != Some(plain) {
        return Err(CircleError::Malformed(format!(
            "{what} is not canonically encoded"
        )));
    }
    Ok(value)
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
            &context(CONTENT_LABEL, &self.circle, &self.epoch, author),
        );
        out
    }
}

impl EpochState {
    /// Bounds a member's node enforces on states it reads.
    pub fn check(&self) -> Result<(), CircleError> {
        if self.recipients.len() > MAX_RECIPIENTS || self.parents.len() > MAX_PARENTS {
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
        if let Change::Remove { seen, .. } = &self.change
            && seen.len() > MAX_RECIPIENTS
        {
            return Err(CircleError::Invalid("seen list too long".into()));
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
            | Body::Promotion(_)
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
        &context(CONTENT_LABEL, &circle, &epoch, author),
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
            &context(CONTENT_LABEL, &self.circle, &self.epoch, author),
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
