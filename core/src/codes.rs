//! The codes people copy between machines to link a device
//! (`kithd1…`, PROTOCOL.md §11.4) and to ask for recovery (`kithr1…`,
//! §11.5): their encoding and checks, without the network. The handshake
//! a link code starts is in `link`.

use kith_protocol::{AuthorId, Keypair};
use multiaddr::Multiaddr;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A code's addresses on the wire: the first [`crate::invite::MAX_ADDRS`],
/// as binary multiaddrs.
fn wire_addrs(addrs: &[Multiaddr]) -> Vec<serde_bytes::ByteBuf> {
    addrs
        .iter()
        .take(crate::invite::MAX_ADDRS)
        .map(|a| serde_bytes::ByteBuf::from(a.to_vec()))
        .collect()
}

/// A code's addresses read back: at most [`crate::invite::MAX_ADDRS`],
/// each a valid multiaddr, else `damaged`.
fn read_addrs(
    wire: Vec<serde_bytes::ByteBuf>,
    damaged: impl Fn() -> Error,
) -> Result<Vec<Multiaddr>> {
    if wire.len() > crate::invite::MAX_ADDRS {
        return Err(damaged());
    }
    wire.into_iter()
        .map(|b| Multiaddr::try_from(b.into_vec()).map_err(|_| damaged()))
        .collect()
}

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
            addrs: wire_addrs(&self.addrs),
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
        Ok(LinkCode {
            identity: wire.identity,
            node: wire.node,
            addrs: read_addrs(wire.addrs, damaged)?,
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
/// Two formats (PROTOCOL.md §11.5): without addresses, `kithr1` + base58btc
/// of postcard `{old: [u8;32], new: [u8;32], consent: bytes, device:
/// [u8;32]}`, the consent with its length; with addresses, `kithr2` + the
/// same fields followed by `addrs`, a list of binary multiaddrs (at most
/// [`crate::invite::MAX_ADDRS`]) where `device` listens, which each
/// approving contact's node dials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryCode {
    /// The identity key that was lost.
    pub old: AuthorId,
    /// The new identity key asking to replace it.
    pub new: AuthorId,
    /// `new`'s signature over `RECOVER_DOMAIN || old || new`.
    pub consent: [u8; 64],
    /// The device asking (linked by `new`): contacts let it connect.
    pub device: AuthorId,
    /// Where `device` listens: a contact's node dials it there after
    /// approving, so the fresh install needs no invite code.
    pub addrs: Vec<Multiaddr>,
}

/// `kithr1`: the code without addresses.
#[derive(Serialize, Deserialize)]
struct RecoveryWire1 {
    old: AuthorId,
    new: AuthorId,
    #[serde(with = "serde_bytes")]
    consent: [u8; 64],
    device: AuthorId,
}

/// `kithr2`: the same fields, then the device's addresses.
#[derive(Serialize, Deserialize)]
struct RecoveryWire2 {
    old: AuthorId,
    new: AuthorId,
    #[serde(with = "serde_bytes")]
    consent: [u8; 64],
    device: AuthorId,
    addrs: Vec<serde_bytes::ByteBuf>,
}

const RECOVERY_PREFIX: &str = "kithr1";
const RECOVERY_PREFIX_ADDRS: &str = "kithr2";

impl RecoveryCode {
    /// `kithr1` when there is no address (readable by nodes that predate
    /// `kithr2`), else `kithr2` with the first [`crate::invite::MAX_ADDRS`].
    pub fn encode(&self) -> String {
        if self.addrs.is_empty() {
            let wire = RecoveryWire1 {
                old: self.old,
                new: self.new,
                consent: self.consent,
                device: self.device,
            };
            let bytes = postcard::to_stdvec(&wire).expect("encoding into a Vec cannot fail");
            return format!("{RECOVERY_PREFIX}{}", bs58::encode(bytes).into_string());
        }
        let wire = RecoveryWire2 {
            old: self.old,
            new: self.new,
            consent: self.consent,
            device: self.device,
            addrs: wire_addrs(&self.addrs),
        };
        let bytes = postcard::to_stdvec(&wire).expect("encoding into a Vec cannot fail");
        format!(
            "{RECOVERY_PREFIX_ADDRS}{}",
            bs58::encode(bytes).into_string()
        )
    }

    pub fn decode(code: &str) -> Result<RecoveryCode> {
        let damaged = || {
            Error::InvalidInput(
                "that recovery code is damaged or incomplete: copy the whole line starting \
                 with \"kithr\""
                    .into(),
            )
        };
        let code = code.trim();
        let (body, with_addrs) = if let Some(body) = code.strip_prefix(RECOVERY_PREFIX) {
            (body, false)
        } else if let Some(body) = code.strip_prefix(RECOVERY_PREFIX_ADDRS) {
            (body, true)
        } else if code.starts_with("kithr") {
            return Err(Error::InvalidInput(
                "that recovery code is of a newer format than this version of Kith reads \
                 (it reads kithr1 and kithr2): update Kith"
                    .into(),
            ));
        } else {
            return Err(Error::InvalidInput(
                "a recovery code starts with \"kithr1\" or \"kithr2\": the person \
                 recovering makes it with `kith recovery request`"
                    .into(),
            ));
        };
        let bytes = bs58::decode(body).into_vec().map_err(|_| damaged())?;
        let code = if with_addrs {
            let wire: RecoveryWire2 = postcard::from_bytes(&bytes).map_err(|_| damaged())?;
            if wire.addrs.is_empty() {
                return Err(damaged());
            }
            RecoveryCode {
                old: wire.old,
                new: wire.new,
                consent: wire.consent,
                device: wire.device,
                addrs: read_addrs(wire.addrs, damaged)?,
            }
        } else {
            let wire: RecoveryWire1 = postcard::from_bytes(&bytes).map_err(|_| damaged())?;
            RecoveryCode {
                old: wire.old,
                new: wire.new,
                consent: wire.consent,
                device: wire.device,
                addrs: Vec::new(),
            }
        };
        for key in [code.old, code.new, code.device] {
            key.verifying_key().map_err(|_| damaged())?;
        }
        Ok(code)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn key(seed: u8) -> AuthorId {
        Keypair::from_secret(&[seed; 32]).author()
    }

    proptest! {
        /// A real code's bytes, damaged anywhere (bytes changed, cut
        /// short or lengthened), or random bytes: decoding gives a code
        /// or says the code is damaged. It never panics, and a code it
        /// gives encodes to one that decodes the same.
        #[test]
        fn any_recovery_code_decodes_or_is_refused(
            r2 in any::<bool>(),
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
            cut in any::<Option<usize>>(),
            tail in proptest::collection::vec(any::<u8>(), 0..16),
            random in proptest::collection::vec(any::<u8>(), 0..300),
            use_random in any::<bool>(),
        ) {
            let code = RecoveryCode {
                old: key(1),
                new: key(2),
                consent: [9; 64],
                device: key(3),
                addrs: if r2 {
                    vec!["/ip4/192.0.2.1/tcp/4001".parse().unwrap()]
                } else {
                    Vec::new()
                },
            };
            let prefix = if r2 { RECOVERY_PREFIX_ADDRS } else { RECOVERY_PREFIX };
            let mut bytes = if use_random {
                random
            } else {
                bs58::decode(&code.encode()[prefix.len()..]).into_vec().unwrap()
            };
            for (at, with) in edits {
                if !bytes.is_empty() {
                    let at = at % bytes.len();
                    bytes[at] ^= with;
                }
            }
            if let Some(cut) = cut {
                bytes.truncate(cut % (bytes.len() + 1));
            }
            bytes.extend(tail);
            let text = format!("{prefix}{}", bs58::encode(&bytes).into_string());
            match RecoveryCode::decode(&text) {
                Ok(code) => prop_assert_eq!(RecoveryCode::decode(&code.encode()).unwrap(), code),
                Err(e) => prop_assert!(e.to_string().contains("damaged"), "{}", e),
            }
        }

        /// Every code with up to eight addresses round-trips, in the format
        /// its addresses call for.
        #[test]
        fn recovery_codes_round_trip(
            ports in proptest::collection::vec(1u16.., 0..=8),
            consent in any::<[u8; 32]>(),
        ) {
            let mut signature = [0u8; 64];
            signature[..32].copy_from_slice(&consent);
            let code = RecoveryCode {
                old: key(1),
                new: key(2),
                consent: signature,
                device: key(3),
                addrs: ports
                    .iter()
                    .map(|p| format!("/ip4/192.0.2.1/tcp/{p}").parse().unwrap())
                    .collect(),
            };
            let text = code.encode();
            let prefix = if ports.is_empty() { "kithr1" } else { "kithr2" };
            prop_assert!(text.starts_with(prefix));
            prop_assert_eq!(RecoveryCode::decode(&text).unwrap(), code);
        }
    }
}
