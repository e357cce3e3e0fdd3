//! Invite codes: one line holding an author id and addresses to dial it at.
//!
//! Format: `kith1` followed by base58btc of the postcard encoding of
//! `{author: [u8; 32], addrs: Vec<bytes>}` where each address is a binary
//! multiaddr. Documented in `docs/PROTOCOL.md`.

use kith_protocol::AuthorId;
use libp2p::Multiaddr;
use serde::{Deserialize, Serialize};

const PREFIX: &str = "kith1";
/// Most addresses carried by one code.
pub const MAX_ADDRS: usize = 8;

/// A decoded invite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    pub author: AuthorId,
    pub addrs: Vec<Multiaddr>,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    author: AuthorId,
    addrs: Vec<serde_bytes::ByteBuf>,
}

/// Why a string is not an invite code.
#[derive(Debug, thiserror::Error)]
#[error("not a valid invite code: {0}")]
pub struct Error(String);

impl Invite {
    pub fn encode(&self) -> String {
        let wire = Wire {
            author: self.author,
            addrs: self
                .addrs
                .iter()
                .take(MAX_ADDRS)
                .map(|a| serde_bytes::ByteBuf::from(a.to_vec()))
                .collect(),
        };
        let bytes = postcard::to_stdvec(&wire).expect("encoding into a Vec cannot fail");
        format!("{PREFIX}{}", bs58::encode(bytes).into_string())
    }

    pub fn decode(code: &str) -> Result<Invite, Error> {
        let code = code.trim();
        let body = code
            .strip_prefix(PREFIX)
            .ok_or_else(|| Error(format!("it should start with {PREFIX:?}")))?;
        let bytes = bs58::decode(body)
            .into_vec()
            .map_err(|e| Error(format!("bad base58: {e}")))?;
        let wire: Wire =
            postcard::from_bytes(&bytes).map_err(|e| Error(format!("bad payload: {e}")))?;
        wire.author
            .verifying_key()
            .map_err(|e| Error(e.to_string()))?;
        if wire.addrs.len() > MAX_ADDRS {
            return Err(Error("too many addresses".into()));
        }
        let addrs = wire
            .addrs
            .into_iter()
            .map(|b| {
                Multiaddr::try_from(b.into_vec()).map_err(|e| Error(format!("bad address: {e}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Invite {
            author: wire.author,
            addrs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects() {
        let invite = Invite {
            author: kith_protocol::Keypair::from_secret(&[3; 32]).author(),
            addrs: vec![
                "/ip4/127.0.0.1/tcp/4001".parse().unwrap(),
                "/ip4/192.168.1.5/udp/4001/quic-v1".parse().unwrap(),
            ],
        };
        let code = invite.encode();
        assert!(code.starts_with("kith1"));
        assert!(!code.contains(char::is_whitespace));
        assert_eq!(Invite::decode(&format!(" {code}\n")).unwrap(), invite);
        assert!(Invite::decode("hello").is_err());
        assert!(Invite::decode("kith1111").is_err());
        assert!(Invite::decode(&code[..code.len() - 3]).is_err());
    }
}
