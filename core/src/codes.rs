//! The codes people copy between machines to link a device
//! (`kithd1…`, PROTOCOL.md §11.4) and to ask for recovery (`kithr1…`,
//! §11.5): their encoding and checks, without the network. The handshake
//! a link code starts is in `link`.

use kith_protocol::{AuthorId, Keypair};
use multiaddr::Multiaddr;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Key derivation context of the ephemeral key (BLAKE3 `derive_key`).
pub const EPHEMERAL_CONTEXT: &str = "kith 2026-11 device link ephemeral key v1";

const PREFIX: &str = "kithd1";

/// A decoded link code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkCode {
    /// The identity key of the person: what the consent is made for.
    pub identity: AuthorId,
    /// The node holding it, to dial (the identity key itself unless the
    /// identity was rotated).
    pub node: AuthorId,
    pub addrs: Vec<Multiaddr>,
    pub secret: [u8; 32],
}

#[derive(Serialize, Deserialize)]
struct Wire {
    identity: AuthorId,
    node: AuthorId,
    addrs: Vec<serde_bytes::ByteBuf>,
    secret: [u8; 32],
}

impl LinkCode {
    pub fn encode(&self) -> String {
        let wire = Wire {
            identity: self.identity,
            node: self.node,
            addrs: self
                .addrs
                .iter()
                .take(crate::invite::MAX_ADDRS)
                .map(|a| serde_bytes::ByteBuf::from(a.to_vec()))
                .collect(),
            secret: self.secret,
        };
        let bytes = postcard::to_stdvec(&wire).expect("encoding into a Vec cannot fail");
        format!("{PREFIX}{}", bs58::encode(bytes).into_string())
    }

    pub fn decode(code: &str) -> Result<LinkCode> {
        let damaged = || {
            Error::InvalidInput(
                "that link code is damaged or incomplete: copy the whole line starting with \
                 \"kithd1\", or make a new one with `kith device link`"
                    .into(),
            )
        };
        let code = code.trim();
        let Some(body) = code.strip_prefix(PREFIX) else {
            return Err(Error::InvalidInput(if code.starts_with("kith1") {
                "that is an invite code (to trust someone); a device link code starts with \
                 \"kithd1\": run `kith device link` on your device that holds your identity"
                    .into()
            } else {
                "a device link code starts with \"kithd1\": run `kith device link` on your \
                 device that holds your identity"
                    .into()
            }));
        };
        let bytes = bs58::decode(body).into_vec().map_err(|_| damaged())?;
        let wire: Wire = postcard::from_bytes(&bytes).map_err(|_| damaged())?;
        wire.identity.verifying_key().map_err(|_| damaged())?;
        wire.node.verifying_key().map_err(|_| damaged())?;
        if wire.addrs.len() > crate::invite::MAX_ADDRS {
            return Err(damaged());
        }
        let addrs = wire
            .addrs
            .into_iter()
            .map(|b| Multiaddr::try_from(b.into_vec()).map_err(|_| damaged()))
            .collect::<Result<_>>()?;
        Ok(LinkCode {
            identity: wire.identity,
            node: wire.node,
            addrs,
            secret: wire.secret,
        })
    }

    /// The ephemeral keypair both sides derive from the secret.
    pub fn ephemeral(&self) -> Keypair {
        ephemeral(&self.secret)
    }
}

/// The ephemeral keypair of a link secret.
pub fn ephemeral(secret: &[u8; 32]) -> Keypair {
    Keypair::from_secret(&blake3::derive_key(EPHEMERAL_CONTEXT, secret))
}

/// A recovery request (`kith recovery request`): shown to each recovery
/// contact, who approves it with `kith recovery approve CODE`.
///
/// Format: `kithr1` + base58btc of postcard `{old: [u8;32], new: [u8;32],
/// consent: bytes, device: [u8;32]}`, the consent with its length (PROTOCOL.md §11.5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryCode {
    /// The identity key that was lost.
    pub old: AuthorId,
    /// The new identity key asking to replace it.
    pub new: AuthorId,
    /// `new`'s signature over `RECOVER_DOMAIN || old || new`.
    #[serde(with = "serde_bytes")]
    pub consent: [u8; 64],
    /// The device asking (linked by `new`): contacts let it connect.
    pub device: AuthorId,
}

const RECOVERY_PREFIX: &str = "kithr1";

impl RecoveryCode {
    pub fn encode(&self) -> String {
        let bytes = postcard::to_stdvec(self).expect("encoding into a Vec cannot fail");
        format!("{RECOVERY_PREFIX}{}", bs58::encode(bytes).into_string())
    }

    pub fn decode(code: &str) -> Result<RecoveryCode> {
        let damaged = || {
            Error::InvalidInput(
                "that recovery code is damaged or incomplete: copy the whole line starting \
                 with \"kithr1\""
                    .into(),
            )
        };
        let body = code.trim().strip_prefix(RECOVERY_PREFIX).ok_or_else(|| {
            Error::InvalidInput(
                "a recovery code starts with \"kithr1\": the person recovering makes it with \
                 `kith recovery request`"
                    .into(),
            )
        })?;
        let bytes = bs58::decode(body).into_vec().map_err(|_| damaged())?;
        let code: RecoveryCode = postcard::from_bytes(&bytes).map_err(|_| damaged())?;
        for key in [code.old, code.new, code.device] {
            key.verifying_key().map_err(|_| damaged())?;
        }
        Ok(code)
    }
}
