//! Linking a device (PROTOCOL.md §11.4): the one-time link code and the
//! handshake that turns it into a device certificate.
//!
//! The node holding the identity key makes a code: its identity, a few
//! addresses and a fresh 32-byte secret. Both sides derive an *ephemeral*
//! keypair from the secret; for ten minutes the identity node lets in that
//! one ephemeral PeerId, which may speak only `/kith/link/1`. The new
//! device dials as the ephemeral key and sends its consent (a
//! [`DeviceLink`] signed by its own device key); the identity node checks
//! it, appends the certificate and answers. The code works once.
//!
//! Whoever holds an unused code can link a device, so it is shown only to
//! the person, expires, and a device linked by mistake is revoked.

use std::time::Duration;

use futures::StreamExt;
use kith_protocol::identity::DeviceLink;
use kith_protocol::{AuthorId, Keypair};
use libp2p::StreamProtocol;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use libp2p::swarm::dial_opts::DialOpts;
use serde::{Deserialize, Serialize};

pub use crate::codes::{EPHEMERAL_CONTEXT, LinkCode, RecoveryCode, ephemeral};
use crate::error::{Error, Result};

/// The handshake's protocol name.
pub const PROTOCOL: &str = "/kith/link/1";
/// How long a link code can be used.
pub const LINK_TTL: Duration = Duration::from_secs(600);
/// The new device's request: its consent to be linked.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LinkRequest {
    pub link: DeviceLink,
}

/// The identity node's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum LinkResponse {
    /// Linked: the person's root and current identity key.
    Linked {
        root: AuthorId,
        identity: AuthorId,
    },
    Refused(String),
}

pub(crate) type Behaviour = request_response::json::Behaviour<LinkRequest, LinkResponse>;

/// The link behaviour: `serve` on the identity node, ask on a joining one.
pub(crate) fn behaviour(serve: bool) -> Behaviour {
    let support = if serve {
        ProtocolSupport::Inbound
    } else {
        ProtocolSupport::Outbound
    };
    request_response::json::Behaviour::new(
        [(StreamProtocol::new(PROTOCOL), support)],
        request_response::Config::default().with_request_timeout(Duration::from_secs(30)),
    )
}

/// Asks the identity node of `code` to link `device`, as the code's
/// ephemeral key. Returns the person's root key.
pub async fn join(
    code: &LinkCode,
    device: &Keypair,
    name: &str,
    wait: Duration,
) -> Result<AuthorId> {
    let err = |e: &dyn std::fmt::Display| Error::Network(format!("cannot start the link: {e}"));
    let ephemeral = code.ephemeral();
    let mut swarm =
        crate::swarm::transports!(crate::swarm::libp2p_keypair(&ephemeral), |e| err(&e))
            .with_behaviour(|_| behaviour(false))
            .map_err(|e| err(&e))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(5)))
            .build();
    let peer = crate::swarm::peer_id(&code.node);
    if code.addrs.is_empty() {
        return Err(Error::InvalidInput(
            "the link code holds no address to reach your other device at".into(),
        ));
    }
    swarm
        .dial(
            DialOpts::peer_id(peer)
                .addresses(code.addrs.clone())
                .build(),
        )
        .map_err(|e| Error::Network(format!("cannot dial your other device: {e}")))?;
    let request = LinkRequest {
        link: DeviceLink::new(&code.identity, device, name),
    };
    swarm.behaviour_mut().send_request(&peer, request);
    let deadline = tokio::time::sleep(wait);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => {
                return Err(Error::Network(format!(
                    "no answer from your other device within {}s: is `kith up` running there, \
                     and reachable at {}?",
                    wait.as_secs(),
                    code.addrs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                )));
            }
            event = swarm.select_next_some() => match event {
                SwarmEvent::Behaviour(request_response::Event::Message {
                    message: request_response::Message::Response { response, .. },
                    ..
                }) => {
                    return match response {
                        LinkResponse::Linked { root, .. } => Ok(root),
                        LinkResponse::Refused(why) => Err(Error::InvalidInput(format!(
                            "your other device refused the link: {why}"
                        ))),
                    };
                }
                SwarmEvent::Behaviour(request_response::Event::OutboundFailure { error, .. }) => {
                    return Err(Error::Network(format!(
                        "the link failed: {error} (the code may have expired or been used: make a new one)"
                    )));
                }
                SwarmEvent::OutgoingConnectionError { error, .. } => {
                    tracing::debug!(%error, "link dial failed");
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_say_what_is_wrong() {
        let code = LinkCode {
            identity: Keypair::from_secret(&[1; 32]).author(),
            node: Keypair::from_secret(&[1; 32]).author(),
            addrs: vec!["/ip4/127.0.0.1/tcp/4001".parse().unwrap()],
            secret: [7; 32],
        };
        let text = code.encode();
        assert!(text.starts_with("kithd1"));
        assert_eq!(LinkCode::decode(&text).unwrap(), code);
        let e = LinkCode::decode("kith1abc").unwrap_err().to_string();
        assert!(e.contains("invite code"), "{e}");
        let e = LinkCode::decode(&text[..text.len() - 5])
            .unwrap_err()
            .to_string();
        assert!(e.contains("damaged"), "{e}");
        // Both sides derive one ephemeral key, and it is not the secret.
        assert_eq!(code.ephemeral().author(), ephemeral(&[7; 32]).author());
        assert_ne!(code.ephemeral().secret_bytes(), [7; 32]);
        // The vector of PROTOCOL.md §11.4.
        assert_eq!(
            hex::encode(code.ephemeral().secret_bytes()),
            "ae48660cb3a6ecb983097d8a0843dd9775380a67c989dba63feac6eab236f96d"
        );
        assert_eq!(
            hex::encode(code.ephemeral().author().as_bytes()),
            "54e2debf8a2f34d4c1174f3d9bffb91ccb4a6b0236b360de28a9c0db5aedf0b6"
        );
    }

    /// The code vectors of PROTOCOL.md §8.4 (invite, device link and
    /// recovery codes) are what this node writes and reads. On a mismatch
    /// the message holds the block to paste.
    #[test]
    fn protocol_md_code_vectors_match_the_code() {
        use std::fmt::Write;
        let me = Keypair::from_secret(&kith_protocol::vectors::seed());
        let other = Keypair::from_secret(&[0x46; 32]);
        let device = Keypair::from_secret(&[0x47; 32]);
        let addrs: Vec<libp2p::Multiaddr> = vec![
            "/ip4/192.0.2.1/tcp/4001".parse().unwrap(),
            "/ip4/192.0.2.1/udp/4001/quic-v1".parse().unwrap(),
        ];
        let payload = |code: &str, prefix: &str| {
            hex::encode(bs58::decode(&code[prefix.len()..]).into_vec().unwrap())
        };
        let mut out = String::new();
        let mut line = |name: &str, value: &str| writeln!(out, "{name:<9} {value}").unwrap();
        for (what, person) in [
            ("invite", None),
            ("invite of a device", Some(other.author())),
        ] {
            let invite = crate::invite::Invite {
                author: me.author(),
                addrs: addrs.clone(),
                person,
            };
            let code = invite.encode();
            assert_eq!(crate::invite::Invite::decode(&code).unwrap(), invite);
            line("case", what);
            line("author", &me.author().to_string());
            if let Some(p) = person {
                line("person", &p.to_string());
            }
            for a in &addrs {
                line("addr", &format!("{a} = {}", hex::encode(a.to_vec())));
            }
            line("postcard", &payload(&code, "kith1"));
            line("code", &code);
            line("", "");
        }
        let link = LinkCode {
            identity: me.author(),
            node: me.author(),
            addrs: addrs[..1].to_vec(),
            secret: [7; 32],
        };
        let code = link.encode();
        assert_eq!(LinkCode::decode(&code).unwrap(), link);
        line("case", "device link code");
        line("identity", &me.author().to_string());
        line("node", &me.author().to_string());
        line(
            "addr",
            &format!("{} = {}", addrs[0], hex::encode(addrs[0].to_vec())),
        );
        line("secret", &hex::encode([7; 32]));
        line("postcard", &payload(&code, "kithd1"));
        line("code", &code);
        line(
            "ephemeral",
            &hex::encode(link.ephemeral().author().as_bytes()),
        );
        line("", "");
        let recovery = RecoveryCode {
            old: me.author(),
            new: other.author(),
            consent: kith_protocol::RecoveryApproval::request(&me.author(), &other),
            device: device.author(),
            addrs: Vec::new(),
        };
        let code = recovery.encode();
        assert_eq!(RecoveryCode::decode(&code).unwrap(), recovery);
        line("case", "recovery code");
        line("old", &me.author().to_string());
        line("new", &format!("{} (seed 4646…46)", other.author()));
        line("device", &format!("{} (seed 4747…47)", device.author()));
        line("consent", &hex::encode(recovery.consent));
        line("postcard", &payload(&code, "kithr1"));
        line("code", &code);
        line("", "");
        let recovery = RecoveryCode {
            addrs: addrs.clone(),
            ..recovery
        };
        let code = recovery.encode();
        assert_eq!(RecoveryCode::decode(&code).unwrap(), recovery);
        line("case", "recovery code with addresses");
        line("old", &me.author().to_string());
        line("new", &format!("{} (seed 4646…46)", other.author()));
        line("device", &format!("{} (seed 4747…47)", device.author()));
        line("consent", &hex::encode(recovery.consent));
        for a in &addrs {
            line("addr", &format!("{a} = {}", hex::encode(a.to_vec())));
        }
        line("postcard", &payload(&code, "kithr2"));
        line("code", &code);
        let out = out.replace("          \n", "\n");
        assert_eq!(
            crate::protocol_md_block("code-vectors"),
            out,
            "PROTOCOL.md §8.4 code vectors are stale; the block:\n{out}"
        );
    }

    /// The recovery code's bytes are laid out as PROTOCOL.md §11.5 says: the
    /// two keys, the consent with its varint length (64), then the device;
    /// `kithr2` then the addresses, a varint count and each with its
    /// varint length.
    #[test]
    fn a_recovery_code_is_laid_out_as_the_protocol_says() {
        let key = |n: u8| Keypair::from_secret(&[n; 32]).author();
        let mut code = RecoveryCode {
            old: key(1),
            new: key(2),
            consent: [9; 64],
            device: key(3),
            addrs: Vec::new(),
        };
        let text = code.encode();
        assert!(text.starts_with("kithr1"), "{text}");
        let bytes = bs58::decode(&text["kithr1".len()..]).into_vec().unwrap();
        let mut expect = Vec::new();
        expect.extend_from_slice(key(1).as_bytes());
        expect.extend_from_slice(key(2).as_bytes());
        expect.push(64);
        expect.extend_from_slice(&[9; 64]);
        expect.extend_from_slice(key(3).as_bytes());
        assert_eq!(bytes, expect);
        assert_eq!(RecoveryCode::decode(&text).unwrap(), code);

        let addr: libp2p::Multiaddr = "/ip4/192.0.2.1/tcp/4001".parse().unwrap();
        code.addrs = vec![addr.clone()];
        let text = code.encode();
        assert!(text.starts_with("kithr2"), "{text}");
        let bytes = bs58::decode(&text["kithr2".len()..]).into_vec().unwrap();
        expect.push(1);
        expect.push(addr.to_vec().len() as u8);
        expect.extend_from_slice(&addr.to_vec());
        assert_eq!(bytes, expect);
        assert_eq!(RecoveryCode::decode(&text).unwrap(), code);
    }

    /// A `kithr2` code with no address, or more than an invite carries, or
    /// a prefix of a later format, is refused with what to do.
    #[test]
    fn recovery_codes_that_break_the_format_are_refused() {
        let key = |n: u8| Keypair::from_secret(&[n; 32]).author();
        let code = |addrs: usize| {
            let addr: libp2p::Multiaddr = "/ip4/192.0.2.1/tcp/4001".parse().unwrap();
            RecoveryCode {
                old: key(1),
                new: key(2),
                consent: [9; 64],
                device: key(3),
                addrs: vec![addr; addrs],
            }
        };
        // Nine addresses are cut to the eight a code may carry.
        let text = code(9).encode();
        assert_eq!(RecoveryCode::decode(&text).unwrap().addrs.len(), 8);
        // Hand-made: kithr2 without addresses, and with nine.
        for n in [0usize, 9] {
            let mut bytes = bs58::decode(&code(0).encode()["kithr1".len()..])
                .into_vec()
                .unwrap();
            bytes.push(n as u8);
            let addr = code(1).addrs[0].to_vec();
            for _ in 0..n {
                bytes.push(addr.len() as u8);
                bytes.extend_from_slice(&addr);
            }
            let text = format!("kithr2{}", bs58::encode(bytes).into_string());
            let e = RecoveryCode::decode(&text).unwrap_err().to_string();
            assert!(e.contains("damaged"), "{n}: {e}");
        }
        let e = RecoveryCode::decode("kithr3abc").unwrap_err().to_string();
        assert!(e.contains("newer format"), "{e}");
        let e = RecoveryCode::decode("kith1abc").unwrap_err().to_string();
        assert!(e.contains("kith recovery request"), "{e}");
    }
}
