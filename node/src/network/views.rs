//! What the network loop shows: invite codes, peers and status. These read
//! the store through the loop's [`Reader`](crate::reader::Reader) and the
//! loop's own state, so they answer at once whatever the store is doing.

use libp2p::Multiaddr;

use super::Network;
use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::invite::{self, Invite};
use crate::model::{AuthorStatus, Connection, InviteView, PeerView, StatusView};
use crate::swarm;

/// Why a relayed connection stays relayed once hole punching failed.
const RELAYED_WHY: &str = "a direct connection is not possible between your network and theirs: \
     hole punching failed, as it does behind carrier-grade and port-changing NATs; \
     posts still go through your friend's relay";

impl Network {
    pub(crate) fn invite(&self) -> InviteView {
        let addrs = invite::pick_addrs(
            &crate::swarm::peer_id(&self.me),
            self.swarm
                .external_addresses()
                .cloned()
                .chain(self.listen.iter().cloned()),
        );
        let person = self
            .reader
            .store()
            .registry()
            .map(|r| r.person_of(&self.me).root)
            .ok()
            .filter(|root| *root != self.me);
        let invite = Invite {
            author: self.me,
            addrs,
            person,
        };
        InviteView {
            code: invite.encode(),
            author: invite.author,
            addrs: invite.addrs.iter().map(ToString::to_string).collect(),
            person: invite.person,
        }
    }

    pub(crate) fn dial_addr(&mut self, addr: &str) -> Result<()> {
        use libp2p::multiaddr::Protocol;
        let addr: Multiaddr = crate::config::parse_multiaddr("address", addr)?;
        let host = addr.iter().any(|p| {
            matches!(
                p,
                Protocol::Ip4(_)
                    | Protocol::Ip6(_)
                    | Protocol::Dns(_)
                    | Protocol::Dns4(_)
                    | Protocol::Dns6(_)
            )
        });
        let port = addr.iter().any(|p| {
            matches!(
                p,
                Protocol::Tcp(_) | Protocol::Udp(_) | Protocol::P2pCircuit
            )
        });
        if !host || !port {
            return Err(Error::InvalidInput(format!(
                "{addr:?} is not an address to dial: give a host and a port, \
                 e.g. /ip4/192.0.2.7/tcp/4001"
            )));
        }
        self.swarm
            .dial(addr.clone())
            .map_err(|e| Error::Network(format!("cannot dial {addr}: {e}")))
    }

    pub(crate) fn peers(&self) -> Result<Vec<PeerView>> {
        let store = self.reader.store();
        let mut out = Vec::new();
        for author in self.scope.authors() {
            if self.is_self(author) || !self.scope.is_direct(author) {
                continue;
            }
            let record = store.peer_get(author)?.unwrap_or_default();
            let peer = swarm::peer_id(author);
            let live = self.connected.get(&peer);
            out.push(PeerView {
                author: *author,
                name: store.display_name(author)?,
                addrs: record.addrs,
                connected: live.is_some(),
                connection: live.map(|c| {
                    if c.relayed {
                        Connection::Relayed
                    } else if self.holepunched.contains(&peer) {
                        Connection::HolePunched
                    } else {
                        Connection::Direct
                    }
                }),
                remote_addr: live.map(|c| c.addr.to_string()),
                last_seen: if live.is_some() {
                    Some(now_ms())
                } else {
                    record.last_seen_ms
                },
                last_sync: record.last_sync_ms,
                in_flight: self.pending.values().filter(|(p, _)| *p == peer).count(),
                relayed_why: live
                    .filter(|c| c.relayed && self.punch_failed.contains(&peer))
                    .map(|_| RELAYED_WHY.to_string()),
            });
        }
        Ok(out)
    }

    pub(crate) fn status(&self) -> Result<StatusView> {
        let store = self.reader.store();
        let mut authors = Vec::new();
        for author in self.scope.authors() {
            authors.push(AuthorStatus {
                author: *author,
                name: store.display_name(author)?,
                local_seq: store.head(author)?.map_or(0, |h| h.seq),
                seen_seq: self.replicator.best_seen(author),
                syncing: self.replicator.is_syncing_author(author),
                forked: store.is_flagged(author)?,
            });
        }
        Ok(StatusView {
            me: self.log.author(),
            running: true,
            syncing: self.replicator.is_syncing(),
            connected_peers: self.connected.len(),
            authors,
            listen: self.listen.iter().map(ToString::to_string).collect(),
            gossip: self.gossip_counts.clone(),
            refused_connections: self.refused_connections.values().sum(),
            recovering: self.probation.recovering(),
            let_in: self.probation.len(),
            reachability: self.nat.clone(),
            relays: self
                .reservations
                .iter()
                .filter_map(swarm::author_of)
                .collect(),
            relaying_for: self
                .relayed_for
                .iter()
                .filter_map(swarm::author_of)
                .collect(),
            relay_limits: self.config.relay.clone(),
            jobs: self.wiring.jobs.list(),
            refused_wiki_changes: self.reader.refused_wiki_changes()?,
            pages_to_review: self.reader.pages_to_review()?,
        })
    }
}
