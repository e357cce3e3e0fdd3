//! Identities: one ed25519 key per node, used both to sign entries and as the
//! node's libp2p identity.
//!
//! The text form of an [`AuthorId`] is the libp2p PeerId string of the same
//! key, so a user sees one name for a person's log and their node. An ed25519
//! PeerId embeds the public key itself (identity multihash over the protobuf
//! encoding of the key), so the conversion is exact in both directions.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Bytes that precede the 32 key bytes in an ed25519 PeerId: identity
/// multihash (code 0x00, length 36) over the protobuf `PublicKey { Type:
/// Ed25519 (1), Data: 32 bytes }`.
const PEER_ID_PREFIX: [u8; 6] = [0x00, 0x24, 0x08, 0x01, 0x12, 0x20];

/// Why a string or byte string is not a usable author id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("not a valid author id (expected an ed25519 peer id such as 12D3KooW…): {0}")]
    Malformed(String),
    #[error("public key is not a valid ed25519 point")]
    InvalidPoint,
    #[error("public key is weak (small order) and is rejected")]
    WeakKey,
}

/// An author's public key; also the PeerId of the author's node.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AuthorId([u8; 32]);

impl AuthorId {
    /// Wraps 32 public-key bytes. Validity as a curve point is checked when
    /// a signature is verified, and by [`AuthorId::from_str`].
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        AuthorId(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The ed25519 verifying key, rejecting invalid and weak keys.
    pub fn verifying_key(&self) -> Result<VerifyingKey, KeyError> {
        let key = VerifyingKey::from_bytes(&self.0).map_err(|_| KeyError::InvalidPoint)?;
        if key.is_weak() {
            return Err(KeyError::WeakKey);
        }
        Ok(key)
    }

    /// The libp2p PeerId bytes (identity multihash) of this key.
    pub fn to_peer_id_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(38);
        out.extend_from_slice(&PEER_ID_PREFIX);
        out.extend_from_slice(&self.0);
        out
    }

    /// Parses libp2p PeerId bytes, accepting only ed25519 identity PeerIds.
    pub fn from_peer_id_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        if bytes.len() != 38 || bytes[..6] != PEER_ID_PREFIX {
            return Err(KeyError::Malformed(
                "not an ed25519 identity peer id".to_string(),
            ));
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(&bytes[6..]);
        let id = AuthorId(key);
        id.verifying_key()?;
        Ok(id)
    }

    /// A short form for logs and tables: the last 8 characters of the text form.
    pub fn short(&self) -> String {
        let s = self.to_string();
        s[s.len().saturating_sub(8)..].to_string()
    }
}

impl fmt::Display for AuthorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bs58::encode(self.to_peer_id_bytes()).into_string())
    }
}

impl fmt::Debug for AuthorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthorId({})", self)
    }
}

impl FromStr for AuthorId {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let bytes = bs58::decode(s)
            .into_vec()
            .map_err(|e| KeyError::Malformed(format!("{s:?}: {e}")))?;
        AuthorId::from_peer_id_bytes(&bytes).map_err(|e| match e {
            KeyError::Malformed(_) => KeyError::Malformed(format!("{s:?}")),
            other => other,
        })
    }
}

impl Serialize for AuthorId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            self.0.serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for AuthorId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let s = String::deserialize(deserializer)?;
            s.parse().map_err(serde::de::Error::custom)
        } else {
            Ok(AuthorId(<[u8; 32]>::deserialize(deserializer)?))
        }
    }
}

/// A node's secret signing key.
#[derive(Clone)]
pub struct Keypair(SigningKey);

impl Keypair {
    /// Builds a keypair from a 32-byte secret seed. The caller supplies the
    /// randomness (this crate has no RNG of its own).
    pub fn from_secret(secret: &[u8; 32]) -> Self {
        Keypair(SigningKey::from_bytes(secret))
    }

    pub fn secret_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    pub fn author(&self) -> AuthorId {
        AuthorId(self.0.verifying_key().to_bytes())
    }

    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keypair({}, secret redacted)", self.author())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn author_id_text_is_the_libp2p_peer_id_of_the_same_key() {
        let secret = [7u8; 32];
        let ours = Keypair::from_secret(&secret);
        let theirs = libp2p_identity::Keypair::ed25519_from_bytes(secret).unwrap();
        let peer_id = theirs.public().to_peer_id();
        assert_eq!(ours.author().to_string(), peer_id.to_string());
        assert_eq!(ours.author().to_peer_id_bytes(), peer_id.to_bytes());
        let parsed: AuthorId = peer_id.to_string().parse().unwrap();
        assert_eq!(parsed, ours.author());
    }

    #[test]
    fn a_signature_from_our_key_verifies_under_libp2p_identity_and_back() {
        let secret = [9u8; 32];
        let ours = Keypair::from_secret(&secret);
        let theirs = libp2p_identity::Keypair::ed25519_from_bytes(secret).unwrap();
        let msg = b"one key, one name";
        assert!(theirs.public().verify(msg, &ours.sign(msg)));
        let sig = theirs.sign(msg).unwrap();
        let sig = ed25519_dalek::Signature::from_slice(&sig).unwrap();
        ours.author()
            .verifying_key()
            .unwrap()
            .verify_strict(msg, &sig)
            .unwrap();
    }

    #[test]
    fn malformed_author_ids_are_rejected() {
        assert!(matches!(
            "hello".parse::<AuthorId>(),
            Err(KeyError::Malformed(_))
        ));
        assert!(matches!(
            "".parse::<AuthorId>(),
            Err(KeyError::Malformed(_))
        ));
        // A secp256k1/RSA style sha256 peer id is not an ed25519 identity id.
        assert!(
            "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N"
                .parse::<AuthorId>()
                .is_err()
        );
    }

    #[test]
    fn weak_keys_are_rejected() {
        // The identity point (small order) encoded as a public key.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let id = AuthorId::from_bytes(identity);
        assert_eq!(id.verifying_key().unwrap_err(), KeyError::WeakKey);
        assert!(id.to_string().parse::<AuthorId>().is_err());
    }
}
