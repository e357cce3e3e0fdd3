//! The identity node's side of linking a device (`crate::device_link`): one-time
//! codes, letting in each code's ephemeral key for ten minutes, and turning
//! a consent that arrives into a certificate through the store actor.

use std::collections::HashMap;

use futures::future::BoxFuture;
use kith_protocol::identity::DeviceLink;
use libp2p::PeerId;
use libp2p::request_response::{self, ResponseChannel};
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::Network;
use crate::device_link::{LINK_TTL, LinkCode, LinkRequest, LinkResponse};
use crate::error::{Error, Result};
use crate::model::{LinkCodeView, PersonView};
use crate::ops::{Operation, Route};
use crate::store_actor::StoreMsg;
use crate::swarm;

/// Link codes waiting for their device: ephemeral peer → expiry; and
/// used ones, whose door closes once the answer had time to leave.
#[derive(Default)]
pub(super) struct Links {
    pending: HashMap<PeerId, Instant>,
    spent: HashMap<PeerId, Instant>,
}

/// How long a used code's ephemeral peer stays admitted for its answer.
const ANSWER_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

/// A certificate being written, and where its answer goes.
pub(super) type Linking = BoxFuture<'static, (ResponseChannel<LinkResponse>, Result<PersonView>)>;

impl Links {
    pub(super) fn admits(&self, peer: &PeerId) -> bool {
        self.pending
            .get(peer)
            .is_some_and(|expiry| *expiry > Instant::now())
    }
}

impl Network {
    /// Makes a one-time link code and lets its ephemeral key in.
    pub(crate) fn link_code(&mut self) -> Result<LinkCodeView> {
        let identity =
            crate::core::devices::certifier(self.reader.store(), &self.log, "link devices")?
                .author();
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)
            .map_err(|e| Error::Network(format!("no randomness for a link secret: {e}")))?;
        let invite = self.invite();
        let code = LinkCode {
            identity,
            node: self.me,
            addrs: invite.addrs.iter().filter_map(|a| a.parse().ok()).collect(),
            secret,
        };
        let peer = swarm::peer_id(&code.ephemeral().author());
        self.expire_links();
        self.links.pending.insert(peer, Instant::now() + LINK_TTL);
        let behaviour = self.swarm.behaviour_mut();
        behaviour.allow.allow_peer(peer);
        // It may only ask to be linked: no gossip reaches it.
        behaviour.gossipsub.blacklist_peer(&peer);
        Ok(LinkCodeView {
            code: code.encode(),
            expires_in_secs: LINK_TTL.as_secs(),
        })
    }

    /// Forgets expired codes and closes their door.
    pub(super) fn expire_links(&mut self) {
        let now = Instant::now();
        let expired: Vec<PeerId> = self
            .links
            .pending
            .iter()
            .chain(self.links.spent.iter())
            .filter(|(_, e)| **e <= now)
            .map(|(p, _)| *p)
            .collect();
        for peer in expired {
            self.close_link(&peer);
        }
    }

    fn close_link(&mut self, peer: &PeerId) {
        self.links.pending.remove(peer);
        self.links.spent.remove(peer);
        let behaviour = self.swarm.behaviour_mut();
        behaviour.allow.disallow_peer(*peer);
        behaviour.gossipsub.remove_blacklisted_peer(peer);
    }

    pub(super) fn is_link_peer(&self, peer: &PeerId) -> bool {
        self.links.admits(peer)
    }

    pub(super) fn on_link(&mut self, event: request_response::Event<LinkRequest, LinkResponse>) {
        let request_response::Event::Message {
            peer,
            message:
                request_response::Message::Request {
                    request, channel, ..
                },
            ..
        } = event
        else {
            return;
        };
        if !self.links.admits(&peer) {
            let _ = self.swarm.behaviour_mut().link.send_response(
                channel,
                LinkResponse::Refused("this link code expired or was used".into()),
            );
            return;
        }
        // One use: the door closes once the answer had time to leave.
        self.links.pending.remove(&peer);
        self.links.spent.insert(peer, Instant::now() + ANSWER_GRACE);
        tracing::info!(device = %request.link.device, "a new device asks to be linked");
        self.linking.push(self.add_device(request.link, channel));
    }

    /// Sends the consent to the store actor as the `DeviceAdd` operation.
    fn add_device(&self, link: DeviceLink, channel: ResponseChannel<LinkResponse>) -> Linking {
        let store = self.wiring.store.clone();
        Box::pin(async move {
            let (reply, answer) = oneshot::channel();
            let Route::Store(request) = crate::ops::DeviceAdd { link }.route(reply).0 else {
                unreachable!("DeviceAdd runs on the store actor")
            };
            if store.send(StoreMsg::Op(request)).await.is_err() {
                return (channel, Err(Error::NodeStopped));
            }
            let result = answer.await.unwrap_or(Err(Error::NodeStopped));
            (channel, result)
        })
    }

    /// The certificate was written (or refused): answer the device.
    pub(super) fn linked(
        &mut self,
        channel: ResponseChannel<LinkResponse>,
        result: Result<PersonView>,
    ) {
        let response = match result {
            Ok(person) => LinkResponse::Linked {
                root: person.root,
                identity: person.identity,
            },
            Err(e) => LinkResponse::Refused(e.to_string()),
        };
        let _ = self
            .swarm
            .behaviour_mut()
            .link
            .send_response(channel, response);
    }
}
