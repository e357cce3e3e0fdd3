//! Invite codes: one line holding an author id and addresses to dial it at.
//!
//! Format: `kith1` followed by base58btc of the postcard encoding of
//! `{author: [u8; 32], addrs: Vec<bytes>}` where each address is a binary
//! multiaddr, followed by `person: [u8; 32]` when the inviter is a device
//! of a person whose root is another key. Documented in `docs/PROTOCOL.md`.

use kith_protocol::AuthorId;
use multiaddr::Multiaddr;
use serde::{Deserialize, Serialize};

const PREFIX: &str = "kith1";
/// Most addresses a code may carry (decoding).
pub const MAX_ADDRS: usize = 8;
/// Most addresses this node puts in its own codes: a short code, a
/// readable QR code.
pub const INVITE_ADDRS: usize = 3;

/// A decoded invite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    pub author: AuthorId,
    pub addrs: Vec<Multiaddr>,
    /// The inviter's person (its root key), when that is not `author`.
    pub person: Option<AuthorId>,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    author: AuthorId,
    addrs: Vec<serde_bytes::ByteBuf>,
}

/// The form naming the person too; nodes that know only [`Wire`] read its
/// first two fields and ignore the rest.
#[derive(Serialize, Deserialize)]
struct WireWithPerson {
    author: AuthorId,
    addrs: Vec<serde_bytes::ByteBuf>,
    person: AuthorId,
}

/// Why a string is not an invite code.
#[derive(Debug, thiserror::Error)]
#[error("that is not a usable invite code: {0}")]
pub struct Error(String);

impl Invite {
    pub fn encode(&self) -> String {
        let addrs: Vec<_> = self
            .addrs
            .iter()
            .take(MAX_ADDRS)
            .map(|a| serde_bytes::ByteBuf::from(a.to_vec()))
            .collect();
        let bytes = match self.person.filter(|p| *p != self.author) {
            Some(person) => postcard::to_stdvec(&WireWithPerson {
                author: self.author,
                addrs,
                person,
            }),
            None => postcard::to_stdvec(&Wire {
                author: self.author,
                addrs,
            }),
        }
        .expect("encoding into a Vec cannot fail");
        format!("{PREFIX}{}", bs58::encode(bytes).into_string())
    }

    pub fn decode(code: &str) -> Result<Invite, Error> {
        let code = code.trim();
        let damaged = || {
            Error(
                "it is damaged or incomplete. Copy the whole code (one line starting with \
                 \"kith1\"), or ask for a new one"
                    .into(),
            )
        };
        let body = code.strip_prefix(PREFIX).ok_or_else(|| {
            Error("an invite code starts with \"kith1\". Ask the person for theirs: `kith invite` shows it".into())
        })?;
        let bytes = bs58::decode(body).into_vec().map_err(|_| damaged())?;
        let (wire, person) = match postcard::take_from_bytes::<WireWithPerson>(&bytes) {
            Ok((w, [])) => (
                Wire {
                    author: w.author,
                    addrs: w.addrs,
                },
                Some(w.person),
            ),
            _ => (
                postcard::from_bytes::<Wire>(&bytes).map_err(|_| damaged())?,
                None,
            ),
        };
        wire.author.verifying_key().map_err(|_| damaged())?;
        if let Some(p) = person {
            p.verifying_key().map_err(|_| damaged())?;
        }
        if wire.addrs.len() > MAX_ADDRS {
            return Err(Error(format!(
                "it holds more than {MAX_ADDRS} addresses. Ask for a new one"
            )));
        }
        let addrs = wire
            .addrs
            .into_iter()
            .map(|b| Multiaddr::try_from(b.into_vec()).map_err(|_| damaged()))
            .collect::<Result<_, _>>()?;
        Ok(Invite {
            author: wire.author,
            addrs,
            person: person.filter(|p| *p != wire.author),
        })
    }
}

/// Of a node's addresses, the few worth putting in an invite, best first:
/// public, then private (LAN), then one relayed, then loopback only when
/// nothing else is left. Unspecified addresses (`0.0.0.0`) and relay
/// circuits through the inviter itself are dropped, as is the trailing
/// `/p2p/<inviter>` (the code names the inviter already).
pub fn pick_addrs(
    me: &libp2p_identity::PeerId,
    addrs: impl IntoIterator<Item = Multiaddr>,
) -> Vec<Multiaddr> {
    use multiaddr::Protocol;
    let mut ranked: Vec<(u8, Multiaddr)> = Vec::new();
    for addr in addrs {
        let parts: Vec<Protocol<'_>> = addr.iter().collect();
        let circuit = parts.iter().position(|p| *p == Protocol::P2pCircuit);
        // A circuit through a relay that is the inviter itself.
        let through_me = circuit
            .is_some_and(|i| i > 0 && matches!(parts[i - 1], Protocol::P2p(relay) if relay == *me));
        let mut rank = 1;
        let mut clean = Multiaddr::empty();
        for (i, p) in parts.into_iter().enumerate() {
            match p {
                // The inviter's own id at the end: the code carries it.
                Protocol::P2p(peer) if peer == *me && circuit.is_none_or(|c| i > c) => continue,
                Protocol::Ip4(ip) if ip.is_unspecified() => rank = 255,
                Protocol::Ip6(ip) if ip.is_unspecified() => rank = 255,
                Protocol::Ip4(ip) if ip.is_loopback() => rank = rank.max(4),
                Protocol::Ip6(ip) if ip.is_loopback() => rank = rank.max(4),
                Protocol::Ip4(ip) if ip.is_private() || ip.is_link_local() => rank = rank.max(2),
                _ => {}
            }
            clean.push(p);
        }
        if through_me || rank == 255 {
            continue;
        }
        if circuit.is_some() && rank < 255 {
            rank = 3;
        }
        if !ranked.iter().any(|(_, a)| *a == clean) {
            ranked.push((rank, clean));
        }
    }
    ranked.sort_by_key(|(rank, _)| *rank);
    let best = ranked.first().map_or(0, |(r, _)| *r);
    let mut out = Vec::new();
    let mut relayed = 0;
    for (rank, addr) in ranked {
        // Loopback only when there is nothing better; one relay is enough.
        if (rank == 4 && best < 4) || (rank == 3 && relayed == 1) {
            continue;
        }
        relayed += usize::from(rank == 3);
        out.push(addr);
        if out.len() == INVITE_ADDRS {
            break;
        }
    }
    out
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
            person: None,
        };
        let code = invite.encode();
        // A device's code names its person; a node that knows only the
        // first form still reads the author and addresses from it.
        let device = Invite {
            person: Some(kith_protocol::Keypair::from_secret(&[4; 32]).author()),
            ..invite.clone()
        };
        let with_person = device.encode();
        assert_eq!(Invite::decode(&with_person).unwrap(), device);
        let bytes = bs58::decode(&with_person[5..]).into_vec().unwrap();
        let old: Wire = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(old.author, invite.author);
        assert_eq!(old.addrs.len(), 2);
        assert!(code.starts_with("kith1"));
        assert!(!code.contains(char::is_whitespace));
        assert_eq!(Invite::decode(&format!(" {code}\n")).unwrap(), invite);
        assert!(Invite::decode("hello").is_err());
        assert!(Invite::decode("kith1111").is_err());
        assert!(Invite::decode(&code[..code.len() - 3]).is_err());
        let garbage = Invite::decode("kith1garbage").unwrap_err().to_string();
        assert!(
            garbage.contains("damaged or incomplete") && !garbage.contains("buffer"),
            "{garbage}"
        );
        assert!(
            Invite::decode("hello")
                .unwrap_err()
                .to_string()
                .contains("starts with")
        );
    }

    #[test]
    fn invites_carry_few_dialable_addresses_and_no_loops() {
        let me = kith_protocol::Keypair::from_secret(&[3; 32]).author();
        let peer_id = |a: kith_protocol::AuthorId| {
            libp2p_identity::PeerId::from_bytes(&a.to_peer_id_bytes()).unwrap()
        };
        let me = peer_id(me);
        let relay = peer_id(kith_protocol::Keypair::from_secret(&[4; 32]).author());
        let addrs: Vec<Multiaddr> = [
            "/ip4/0.0.0.0/tcp/4001".to_string(),
            "/ip4/127.0.0.1/tcp/4001".to_string(),
            format!("/ip4/127.0.0.1/tcp/4001/p2p/{me}/p2p-circuit/p2p/{me}"),
            format!("/ip4/192.168.1.5/tcp/4001/p2p/{me}"),
            "/ip4/192.168.1.5/udp/4001/quic-v1".to_string(),
            "/ip4/203.0.113.7/tcp/4001".to_string(),
            format!("/ip4/198.51.100.1/tcp/4001/p2p/{relay}/p2p-circuit/p2p/{me}"),
            format!("/ip4/198.51.100.2/tcp/4001/p2p/{relay}/p2p-circuit"),
        ]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
        let picked: Vec<String> = pick_addrs(&me, addrs)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            picked,
            vec![
                "/ip4/203.0.113.7/tcp/4001".to_string(),
                "/ip4/192.168.1.5/tcp/4001".to_string(),
                "/ip4/192.168.1.5/udp/4001/quic-v1".to_string(),
            ]
        );
        // Only loopback: loopback it is.
        let local = pick_addrs(&me, ["/ip4/127.0.0.1/tcp/4001".parse().unwrap()]);
        assert_eq!(local.len(), 1);
        // A relayed address survives when there is room, once.
        let relayed = pick_addrs(
            &me,
            [
                format!("/ip4/198.51.100.1/tcp/4001/p2p/{relay}/p2p-circuit/p2p/{me}")
                    .parse()
                    .unwrap(),
                format!("/ip4/198.51.100.2/tcp/4001/p2p/{relay}/p2p-circuit")
                    .parse()
                    .unwrap(),
                "/ip4/127.0.0.1/tcp/4001".parse().unwrap(),
            ],
        );
        assert_eq!(relayed.len(), 1, "{relayed:?}");
        assert!(
            relayed[0].to_string().ends_with("/p2p-circuit"),
            "{relayed:?}"
        );
    }
}
