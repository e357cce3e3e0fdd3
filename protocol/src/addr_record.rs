//! Signed address records: "my node can be reached at these addresses",
//! signed by the node's key, published in Kith's DHT and checked by whoever
//! finds them (a DHT stores anything; only the signature makes it trustworthy).

use serde::{Deserialize, Serialize};

use crate::keys::{AuthorId, Keypair};

/// Prefix of the signed message.
pub const SIGNING_DOMAIN: &[u8] = b"kith-addr-v1";
/// Most addresses in one record.
pub const MAX_ADDRS: usize = 16;

/// The DHT key under which `author` publishes its record.
pub fn dht_key(author: &AuthorId) -> Vec<u8> {
    let mut key = b"/kith/addr/".to_vec();
    key.extend_from_slice(author.as_bytes());
    key
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Signed {
    author: AuthorId,
    /// Binary multiaddrs.
    addrs: Vec<serde_bytes::ByteBuf>,
    timestamp_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Wire {
    signed: serde_bytes::ByteBuf,
    signature: serde_bytes::ByteBuf,
}

/// A verified address record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrRecord {
    pub author: AuthorId,
    pub addrs: Vec<Vec<u8>>,
    pub timestamp_ms: u64,
}

/// Why bytes are not a valid record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("malformed address record: {0}")]
    Malformed(String),
    #[error("address record signature is invalid")]
    BadSignature,
    #[error("address record is for another author")]
    WrongAuthor,
}

impl AddrRecord {
    /// Signs a record (`wire = postcard { signed: bytes, signature: bytes }`,
    /// `signed = postcard { author, addrs, timestamp_ms }`, signature over
    /// `SIGNING_DOMAIN || signed`).
    pub fn sign(keypair: &Keypair, addrs: &[Vec<u8>], timestamp_ms: u64) -> Vec<u8> {
        let signed = postcard::to_stdvec(&Signed {
            author: keypair.author(),
            addrs: addrs
                .iter()
                .take(MAX_ADDRS)
                .cloned()
                .map(serde_bytes::ByteBuf::from)
                .collect(),
            timestamp_ms,
        })
        .expect("encoding into a Vec cannot fail");
        let mut message = SIGNING_DOMAIN.to_vec();
        message.extend_from_slice(&signed);
        let signature = keypair.sign(&message).to_vec();
        postcard::to_stdvec(&Wire {
            signed: signed.into(),
            signature: signature.into(),
        })
        .expect("encoding into a Vec cannot fail")
    }

    /// Checks a record found under `expected`'s key.
    pub fn verify(bytes: &[u8], expected: &AuthorId) -> Result<AddrRecord, Error> {
        if bytes.len() > 8192 {
            return Err(Error::Malformed("too large".into()));
        }
        let wire: Wire =
            postcard::from_bytes(bytes).map_err(|e| Error::Malformed(e.to_string()))?;
        let signed: Signed =
            postcard::from_bytes(&wire.signed).map_err(|e| Error::Malformed(e.to_string()))?;
        if signed.author != *expected {
            return Err(Error::WrongAuthor);
        }
        if signed.addrs.len() > MAX_ADDRS {
            return Err(Error::Malformed("too many addresses".into()));
        }
        let key = signed
            .author
            .verifying_key()
            .map_err(|_| Error::BadSignature)?;
        let signature = ed25519_dalek::Signature::from_slice(&wire.signature)
            .map_err(|_| Error::BadSignature)?;
        let mut message = SIGNING_DOMAIN.to_vec();
        message.extend_from_slice(&wire.signed);
        key.verify_strict(&message, &signature)
            .map_err(|_| Error::BadSignature)?;
        Ok(AddrRecord {
            author: signed.author,
            addrs: signed.addrs.into_iter().map(|b| b.into_vec()).collect(),
            timestamp_ms: signed.timestamp_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_reject_forgeries() {
        let kp = Keypair::from_secret(&[1; 32]);
        let other = Keypair::from_secret(&[2; 32]);
        let bytes = AddrRecord::sign(&kp, &[vec![4, 127, 0, 0, 1]], 5);
        let record = AddrRecord::verify(&bytes, &kp.author()).unwrap();
        assert_eq!(record.addrs, vec![vec![4, 127, 0, 0, 1]]);
        assert_eq!(
            AddrRecord::verify(&bytes, &other.author()),
            Err(Error::WrongAuthor)
        );
        let mut tampered = bytes.clone();
        let n = tampered.len();
        tampered[n - 70] ^= 1;
        assert!(AddrRecord::verify(&tampered, &kp.author()).is_err());
        assert!(AddrRecord::verify(b"junk", &kp.author()).is_err());
    }
}
