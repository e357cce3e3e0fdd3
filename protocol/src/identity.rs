//! Persons and their devices (PROTOCOL.md §11): certificates, and the one
//! way every node resolves a set of them into persons.
//!
//! A person starts as one key, their *root*: today's single-key identity.
//! The key that may sign certificates is the person's *identity key*; at
//! first that is the root. Every device keeps its own log under its own key.
//!
//! - A [`DeviceLink`] in the identity key's log says "this device key is
//!   mine"; the device's own signature over the pair (its consent) is inside,
//!   so nobody can claim another person's key.
//! - A [`DeviceRevoke`] ends a device at a sequence number: its entries up to
//!   there stay valid, later ones are invalid everywhere. A revoked key is
//!   never linked again.
//! - A [`Rotate`] hands the identity to a new key (which consents). The old
//!   key can no longer certify; it stays one of the person's devices (its
//!   log goes on) unless the new identity revokes it.
//! - A [`Succession`] is the first entry of a new key's log, carrying the
//!   signature of a key it takes over from: a node that cannot be sure of
//!   its own log's head (a restored backup, nobody to ask) goes on under a
//!   new key instead of risking a fork. The new key takes the old one's
//!   place: the identity if the old key was the identity, else a device.
//!
//! The outcome depends only on the *set* of certificates (each at its
//! author and sequence number), never on the order they arrived in:
//! certificates of one key are read in log order, and each identity key has
//! one log. Two certificates at one sequence number of one key (a forked
//! identity log) freeze the person at that key: nothing it certified from
//! that point on counts, and the conflict is reported for the user to settle.

use ed25519_dalek::Signature;
use serde::{Deserialize, Serialize};

use crate::body::Body;
use crate::keys::{AuthorId, Keypair};

/// Prefix of the message a device signs to consent to a link:
/// `LINK_DOMAIN || identity key (32) || device key (32)`.
pub const LINK_DOMAIN: &[u8] = b"kith-device-link-v1";
/// Prefix of the message a new identity key signs to accept a rotation:
/// `ROTATE_DOMAIN || old identity key (32) || new identity key (32)`.
pub const ROTATE_DOMAIN: &[u8] = b"kith-rotate-v1";
/// Prefix of the message a new identity key signs to ask its person's
/// recovery contacts to vouch for it:
/// `RECOVER_DOMAIN || lost identity key (32) || new identity key (32)`.
pub const RECOVER_DOMAIN: &[u8] = b"kith-recover-v1";
/// Prefix of the message a key signs to hand over to a successor key:
/// `SUCCEED_DOMAIN || old key (32) || new key (32) || identity (1 byte, 0/1)
/// || at (8 bytes, big-endian)`.
pub const SUCCEED_DOMAIN: &[u8] = b"kith-succeed-v1";
/// Longest chain of device successions that counts (PROTOCOL.md §11.3).
pub const MAX_SUCCESSION_CHAIN: usize = 8;
/// Most keys one person resolves to (root, identities, devices, successors):
/// links past it are skipped, so one person cannot fill a friend's
/// replication set and frontier with keys.
pub const MAX_KEYS_PER_PERSON: usize = 64;
/// Most certificates read from one log (its lowest seqs): what one key can
/// make every node resolve is bounded.
pub const MAX_CERTS_PER_LOG: usize = 1024;
/// Most recovery contacts a person may name.
pub const MAX_RECOVERY_CONTACTS: usize = 16;
/// Longest device name, in bytes.
pub const MAX_DEVICE_NAME: usize = 64;

/// Body kind 9: the author (an identity key) links a device key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceLink {
    pub device: AuthorId,
    /// What the person calls the device ("laptop"); may be empty.
    pub name: String,
    /// The device's signature over `LINK_DOMAIN || author || device`.
    #[serde(with = "serde_bytes")]
    pub consent: [u8; 64],
}

/// Body kind 10: the author (an identity key) revokes a device key. The
/// device's entries with `seq <= last_seq` stay valid; 0 revokes them all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRevoke {
    pub device: AuthorId,
    pub last_seq: u64,
}

/// Body kind 11: the author (an identity key) hands the identity to `new`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rotate {
    pub new: AuthorId,
    /// The new key's signature over `ROTATE_DOMAIN || author || new`.
    #[serde(with = "serde_bytes")]
    pub consent: [u8; 64],
}

/// Body kind 14: the first entry of the author's log: the author, a new
/// key, takes over from `from`, a key of the same person, which signed the
/// handover. `identity` says what it hands over: the person's identity
/// (`from` was the identity key), or a device's place. `at` is how far the
/// old key's log went as far as its signer knew: an identity handover
/// counts like a rotation at `at` (the old key's certificates after it do
/// not count). Only valid at seq 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Succession {
    pub from: AuthorId,
    pub identity: bool,
    pub at: u64,
    /// `from`'s signature over
    /// `SUCCEED_DOMAIN || from || author || identity || at (u64 BE)`.
    #[serde(with = "serde_bytes")]
    pub consent: [u8; 64],
}

impl Succession {
    /// `old`, whose log reached `at`, hands over to the key `new`: its
    /// identity role if `identity`, else its place as a device.
    pub fn new(old: &Keypair, new: &AuthorId, identity: bool, at: u64) -> Succession {
        Succession {
            from: old.author(),
            identity,
            at,
            consent: old.sign(&succeed_message(&old.author(), new, identity, at)),
        }
    }

    /// Whether `from` signed this handover to `new` (the entry's author).
    pub fn consented(&self, new: &AuthorId) -> bool {
        self.from != *new
            && signed_by(
                &self.from,
                &succeed_message(&self.from, new, self.identity, self.at),
                &self.consent,
            )
    }
}

/// The message an old key signs to hand over to `new`.
pub fn succeed_message(old: &AuthorId, new: &AuthorId, identity: bool, at: u64) -> Vec<u8> {
    let mut m = pair_message(SUCCEED_DOMAIN, old, new);
    m.push(u8::from(identity));
    m.extend_from_slice(&at.to_be_bytes());
    m
}

/// Body kind 12: the author (an identity key) names who may vouch for a
/// new identity key if every key of theirs is lost, and how many must.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryContacts {
    pub threshold: u8,
    pub contacts: Vec<AuthorId>,
}

/// Body kind 13: the author, a recovery contact, vouches that `new` is
/// the person whose identity key `old` was lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryApproval {
    pub old: AuthorId,
    pub new: AuthorId,
    /// The new key's signature over `RECOVER_DOMAIN || old || new`.
    #[serde(with = "serde_bytes")]
    pub consent: [u8; 64],
    /// The latest entry of `old`'s log the contact held: certificates of
    /// `old` after it do not count once the recovery holds.
    pub seen_seq: u64,
}

impl RecoveryApproval {
    /// The new key's request consent for recovering `old`.
    pub fn request(old: &AuthorId, new: &Keypair) -> [u8; 64] {
        new.sign(&recover_message(old, &new.author()))
    }

    pub fn consented(&self) -> bool {
        signed_by(
            &self.new,
            &recover_message(&self.old, &self.new),
            &self.consent,
        )
    }
}

/// The message a new identity key signs to ask to recover `old`.
pub fn recover_message(old: &AuthorId, new: &AuthorId) -> Vec<u8> {
    pair_message(RECOVER_DOMAIN, old, new)
}

fn pair_message(domain: &[u8], a: &AuthorId, b: &AuthorId) -> Vec<u8> {
    let mut m = Vec::with_capacity(domain.len() + 64);
    m.extend_from_slice(domain);
    m.extend_from_slice(a.as_bytes());
    m.extend_from_slice(b.as_bytes());
    m
}

/// The message a device signs to consent to being linked by `identity`.
pub fn link_message(identity: &AuthorId, device: &AuthorId) -> Vec<u8> {
    pair_message(LINK_DOMAIN, identity, device)
}

/// The message a new identity key signs to accept a rotation from `old`.
pub fn rotate_message(old: &AuthorId, new: &AuthorId) -> Vec<u8> {
    pair_message(ROTATE_DOMAIN, old, new)
}

fn signed_by(key: &AuthorId, message: &[u8], signature: &[u8; 64]) -> bool {
    match key.verifying_key() {
        Ok(k) => k
            .verify_strict(message, &Signature::from_bytes(signature))
            .is_ok(),
        Err(_) => false,
    }
}

impl DeviceLink {
    /// The link a device consents to: signed by the device's keypair.
    pub fn new(identity: &AuthorId, device: &Keypair, name: &str) -> DeviceLink {
        let consent = device.sign(&pair_message(LINK_DOMAIN, identity, &device.author()));
        DeviceLink {
            device: device.author(),
            name: name.to_string(),
            consent,
        }
    }

    /// Whether the device consented to being linked by `identity`.
    pub fn consented(&self, identity: &AuthorId) -> bool {
        signed_by(
            &self.device,
            &pair_message(LINK_DOMAIN, identity, &self.device),
            &self.consent,
        )
    }
}

impl Rotate {
    /// A rotation from `old` that the new keypair accepts.
    pub fn new(old: &AuthorId, new: &Keypair) -> Rotate {
        Rotate {
            new: new.author(),
            consent: new.sign(&pair_message(ROTATE_DOMAIN, old, &new.author())),
        }
    }

    /// Whether the new key accepted the rotation from `old`.
    pub fn consented(&self, old: &AuthorId) -> bool {
        signed_by(
            &self.new,
            &pair_message(ROTATE_DOMAIN, old, &self.new),
            &self.consent,
        )
    }
}

/// The certificate part of a body, if it is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertBody {
    Link(DeviceLink),
    Revoke(DeviceRevoke),
    Rotate(Rotate),
    Contacts(RecoveryContacts),
    Approval(RecoveryApproval),
    Succession(Succession),
}

impl CertBody {
    pub fn of(body: &Body) -> Option<CertBody> {
        match body {
            Body::DeviceLink(l) => Some(CertBody::Link(l.clone())),
            Body::DeviceRevoke(r) => Some(CertBody::Revoke(r.clone())),
            Body::Rotate(r) => Some(CertBody::Rotate(r.clone())),
            Body::RecoveryContacts(c) => Some(CertBody::Contacts(c.clone())),
            Body::RecoveryApproval(a) => Some(CertBody::Approval(a.clone())),
            Body::Succession(s) => Some(CertBody::Succession(s.clone())),
            _ => None,
        }
    }
}

/// What a key is to its person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The current identity key (also a device: it has its own log).
    Identity,
    /// A key that was the identity before a rotation: a device now.
    FormerIdentity,
    /// A linked device.
    Device,
}

/// One key of a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyState {
    pub key: AuthorId,
    pub role: Role,
    /// The name the link gave it.
    pub name: String,
    /// The certificate that made it the person's: (author, seq); `None` for
    /// the root.
    pub since: Option<(AuthorId, u64)>,
    /// Last valid sequence number of its log, if it was revoked or rotated
    /// away; `None` while it may still write.
    pub last_seq: Option<u64>,
    /// The certificate that ended it: (author, seq).
    pub ended_by: Option<(AuthorId, u64)>,
}

impl KeyState {
    /// Whether an entry of this key at `seq` counts.
    pub fn accepts(&self, seq: u64) -> bool {
        self.last_seq.is_none_or(|last| seq <= last)
    }

    /// Still writing: neither revoked nor rotated away.
    pub fn active(&self) -> bool {
        self.last_seq.is_none()
    }
}

/// Why a person's identity is frozen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// This identity key's log forked: two entries at one sequence number.
    /// Certificates of that key from `seq` on do not count.
    Fork { key: AuthorId, seq: u64 },
    /// Recovery contacts vouched, each set up to the threshold, for two
    /// different new keys: the person stays at `key` until the user decides.
    Recovery {
        key: AuthorId,
        candidates: Vec<AuthorId>,
    },
    /// The identity key handed over (kind 14) to a key while it also
    /// rotated, was recovered, or handed over again, to different keys: the
    /// person stays at `key` until the user decides.
    Succession {
        key: AuthorId,
        candidates: Vec<AuthorId>,
    },
}

/// A person as resolved from certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub root: AuthorId,
    /// The key that may certify now.
    pub identity: AuthorId,
    /// Every key that is or was the person's, root first, then in the
    /// order the certificates made them.
    pub keys: Vec<KeyState>,
    pub conflict: Option<Conflict>,
    /// If the identity was recovered: the contacts whose approvals made it
    /// (the last recovery), in key order.
    pub recovered_by: Vec<AuthorId>,
}

impl Person {
    pub fn key(&self, key: &AuthorId) -> Option<&KeyState> {
        self.keys.iter().find(|k| k.key == *key)
    }

    /// Keys that may still write.
    pub fn active_keys(&self) -> impl Iterator<Item = &KeyState> {
        self.keys.iter().filter(|k| k.active())
    }

    /// Hands the identity from `old` to `new` (a linked device may be
    /// chosen); `old` stays a key of the person, ended at `old_ends` if set.
    /// Makes `new` the identity in `old`'s place; `false` (and nothing
    /// changed) if `new` would be a key past [`MAX_KEYS_PER_PERSON`].
    #[must_use]
    fn promote(
        &mut self,
        old: AuthorId,
        new: AuthorId,
        since: (AuthorId, u64),
        old_ends: Option<u64>,
    ) -> bool {
        if self.key(&new).is_none() && self.keys.len() >= MAX_KEYS_PER_PERSON {
            return false;
        }
        if let Some(k) = self.keys.iter_mut().find(|k| k.key == old) {
            k.role = Role::FormerIdentity;
            if old_ends.is_some() {
                k.last_seq = old_ends;
            }
        }
        match self.keys.iter_mut().find(|k| k.key == new) {
            Some(k) => k.role = Role::Identity,
            None => self.keys.push(KeyState {
                key: new,
                role: Role::Identity,
                name: String::new(),
                since: Some(since),
                last_seq: None,
                ended_by: None,
            }),
        }
        true
    }

    /// A person with one key and no certificates: today's identity.
    pub fn single(root: AuthorId) -> Person {
        Person {
            root,
            identity: root,
            keys: vec![KeyState {
                key: root,
                role: Role::Identity,
                name: String::new(),
                since: None,
                last_seq: None,
                ended_by: None,
            }],
            conflict: None,
            recovered_by: Vec::new(),
        }
    }
}

mod registry;

pub use registry::Registry;

#[cfg(test)]
mod tests;
