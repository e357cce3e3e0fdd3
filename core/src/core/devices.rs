//! A person's devices (PROTOCOL.md §11): linking a device that consented,
//! revoking one, and remembering which person this device joined.
//!
//! Only the node holding the person's identity key writes certificates;
//! every node resolves them the same way (`kith_protocol::identity`).

use kith_protocol::identity::{DeviceLink, DeviceRevoke, MAX_KEYS_PER_PERSON, Role, Rotate};
use kith_protocol::{AuthorId, Body, Keypair};

use super::Core;
use crate::error::{Error, Result};
use crate::model::PersonView;
use crate::reader::person_view;
use crate::store::Store;

/// The keypair that certifies for `me`'s person now, if this node holds it:
/// `me` itself, or the identity key kept since a rotation.
pub fn certifier(store: &Store, me: &Keypair, what: &str) -> Result<Keypair> {
    let person = store.registry()?.person_of(&me.author());
    if person.conflict.is_some() {
        return Err(Error::Conflict(
            "your identity log is forked; settle that first (`kith forks`)".into(),
        ));
    }
    if person.identity == me.author() {
        return Ok(me.clone());
    }
    if let Some(secret) = store.cert_key()? {
        let held = Keypair::from_secret(&secret);
        if held.author() == person.identity {
            return Ok(held);
        }
    }
    Err(Error::InvalidInput(format!(
        "only the device holding your identity key ({}) can {what}; run it there",
        person.identity
    )))
}

impl Core {
    /// The keypair that certifies for my person now: this node's own key,
    /// or the identity key it holds since a rotation. Refuses otherwise.
    fn certifier(&self, what: &str) -> Result<Keypair> {
        certifier(&self.store, &self.keypair, what)
    }

    /// Links a device that consented (its signature inside `link`).
    pub fn device_add(&mut self, link: DeviceLink) -> Result<PersonView> {
        let certifier = self.certifier("link devices")?;
        if !link.consented(&certifier.author()) {
            return Err(Error::InvalidInput(
                "the device's consent does not verify: it was not made for this identity".into(),
            ));
        }
        if !link.name.is_empty() {
            crate::text::check_label("a device name", &link.name, crate::text::MAX_NAME_CHARS)
                .map_err(Error::InvalidInput)?;
        }
        let person = self.store.registry()?.person_of(&self.me());
        if let Some(k) = person.key(&link.device) {
            return Err(Error::InvalidInput(if k.active() {
                format!("{} is already one of your devices", link.device)
            } else {
                format!(
                    "{} was revoked; a revoked key is never linked again",
                    link.device
                )
            }));
        }
        self.room_for_a_key("device")?;
        self.append_as(&certifier, &[Body::DeviceLink(link)])?;
        self.person()
    }

    /// Revokes one of my person's devices: what it wrote up to `keep` (by
    /// default its latest entry this node holds) stays valid; anything
    /// later is refused everywhere.
    pub fn device_revoke(&mut self, device: AuthorId, keep: Option<u64>) -> Result<PersonView> {
        let certifier = self.certifier("revoke devices")?;
        if device == self.me() || device == certifier.author() {
            return Err(Error::InvalidInput(
                "a device cannot revoke itself, nor the identity key".into(),
            ));
        }
        if device == self.node_key() {
            return Err(Error::InvalidInput(
                "that key is this node's network identity (its log went on under a new key): \
                 revoking it would cut this node off"
                    .into(),
            ));
        }
        let person = self.store.registry()?.person_of(&self.me());
        match person.key(&device) {
            None => {
                return Err(Error::NotFound(format!(
                    "{device} is not one of your devices (`kith device list`)"
                )));
            }
            Some(k) if !k.active() || k.role == Role::Identity => {
                return Err(Error::InvalidInput(format!(
                    "{device} is no longer one of your active devices"
                )));
            }
            Some(_) => {}
        }
        let held = self.store.head(&device)?.map_or(0, |h| h.seq);
        let last_seq = match keep {
            Some(k) if k > held => {
                return Err(Error::InvalidInput(format!(
                    "this node holds {device}'s entries up to {held} only: keeping entries it has not seen could keep what a thief wrote"
                )));
            }
            Some(k) => k,
            None => held,
        };
        self.append_as(
            &certifier,
            &[Body::DeviceRevoke(DeviceRevoke { device, last_seq })],
        )?;
        self.person()
    }

    /// Replaces the person's identity key with a fresh one, kept by this
    /// node: friends follow by the rotation certificate; the old key can no
    /// longer certify, and stays a device.
    pub fn identity_rotate(&mut self) -> Result<PersonView> {
        let current = self.certifier("rotate your identity key")?;
        self.room_for_a_key("identity key")?;
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)
            .map_err(|e| Error::Io(format!("no randomness for a new key: {e}")))?;
        let new = Keypair::from_secret(&secret);
        // Durable before any certificate names it.
        self.store.set_cert_key(Some(&secret))?;
        self.append_as(
            &current,
            &[Body::Rotate(Rotate::new(&current.author(), &new))],
        )?;
        self.person()
    }

    /// Refuses a certificate that would give my person a key past
    /// [`MAX_KEYS_PER_PERSON`]: no node would count it (PROTOCOL.md §11.3).
    fn room_for_a_key(&self, what: &str) -> Result<()> {
        let person = self.store.registry()?.person_of(&self.me());
        if person.keys.len() >= MAX_KEYS_PER_PERSON {
            return Err(Error::InvalidInput(format!(
                "you already have {} keys (devices, identity keys and revoked ones), the most \
                 one person has (PROTOCOL.md §11.3): a new {what} would count on no node",
                person.keys.len()
            )));
        }
        Ok(())
    }

    /// Remembers that this device joined `identity`'s person, so it
    /// replicates that log (where the certificate that links it is).
    pub fn device_joined(
        &mut self,
        identity: AuthorId,
        node: AuthorId,
        addrs: &[String],
    ) -> Result<()> {
        self.store.set_joined_person(&[identity, node])?;
        self.store.peer_add_addrs(&node, addrs)?;
        self.refresh_scope()?;
        Ok(())
    }

    /// Whether some peer could tell this node its own log's head: a
    /// trusted key other than this one that may still write.
    pub fn has_peers_to_ask(&self) -> bool {
        let me = self.me();
        // The identity key this node keeps runs no node of its own.
        let kept = self
            .store
            .cert_key()
            .ok()
            .flatten()
            .map(|s| Keypair::from_secret(&s).author());
        let node = self.node_key();
        self.scope.authors().iter().any(|a| {
            *a != me
                && *a != node
                && Some(*a) != kept
                && self.scope.is_direct(a)
                && self.scope.is_peer(a)
        })
    }

    /// My person, as `kith device list` shows it.
    pub fn person(&self) -> Result<PersonView> {
        person_view(&self.store, self.me())
    }
}

#[cfg(test)]
mod tests {
    use kith_protocol::Keypair;
    use kith_protocol::identity::DeviceLink;

    use super::*;
    use crate::ops;
    use crate::testing::{core, sync};

    fn post(core: &mut Core, text: &str) {
        core.run(ops::Post::note(text)).unwrap();
    }

    #[test]
    fn a_friend_sees_one_person_and_a_revocation_cuts_the_device_off() {
        let (mut alice, mut laptop, mut bob) = (core(1), core(2), core(3));
        let laptop_key = Keypair::from_secret(&[2; 32]);
        alice
            .run(ops::ProfileSet {
                name: "Alice".into(),
                about: String::new(),
            })
            .unwrap();
        bob.run(ops::TrustAdd {
            author: alice.me().into(),
            petname: None,
        })
        .unwrap();
        // A consent made for someone else does not link.
        let wrong = DeviceLink::new(&bob.me(), &laptop_key, "laptop");
        let e = alice.run(ops::DeviceAdd { link: wrong }).unwrap_err();
        assert!(e.to_string().contains("consent"), "{e}");
        let link = DeviceLink::new(&alice.me(), &laptop_key, "laptop");
        let person = alice.run(ops::DeviceAdd { link }).unwrap();
        assert_eq!(person.devices.len(), 2);
        // The laptop joins: it replicates alice's log and learns it is hers.
        laptop.device_joined(alice.me(), alice.me(), &[]).unwrap();
        assert!(sync(&alice, &mut laptop, alice.me()).is_none());
        let mine = laptop.person().unwrap();
        assert_eq!((mine.root, mine.identity), (alice.me(), alice.me()));
        assert!(
            mine.devices
                .iter()
                .any(|d| d.this_device && d.key == laptop.me())
        );
        // Only the identity holder links.
        let other = DeviceLink::new(&alice.me(), &Keypair::from_secret(&[9; 32]), "");
        let e = laptop.run(ops::DeviceAdd { link: other }).unwrap_err();
        assert!(e.to_string().contains("only the device holding"), "{e}");
        post(&mut laptop, "one");
        post(&mut laptop, "two");
        post(&mut laptop, "three");
        // Before bob has the certificate, the laptop is a stranger to him.
        assert!(matches!(
            sync(&laptop, &mut bob, laptop.me()),
            Some(crate::store::Error::NotReplicated(_))
        ));
        assert!(sync(&alice, &mut bob, alice.me()).is_none());
        assert!(sync(&laptop, &mut bob, laptop.me()).is_none());
        let feed = bob.run(ops::Feed::default()).unwrap();
        assert_eq!(feed.len(), 3);
        assert!(
            feed.iter()
                .all(|e| e.author_name.as_deref() == Some("Alice"))
        );
        let seen = crate::reader::person_view(bob.store(), laptop.me()).unwrap();
        assert_eq!(seen.root, alice.me());

        // Alice saw only the first post when the laptop was stolen.
        assert!(sync(&laptop, &mut alice, laptop.me()).is_none());
        // Seq 1 is the laptop's encryption key, 2 the post "one".
        alice.store().truncate_log(&laptop.me(), 2).unwrap();
        let person = alice
            .run(ops::DeviceRevoke {
                device: laptop.me().into(),
                keep: None,
            })
            .unwrap();
        let d = person
            .devices
            .iter()
            .find(|d| d.key == laptop.me())
            .unwrap();
        assert!(d.revoked && d.last_seq == Some(2));
        // Bob drops what the laptop wrote after that, and refuses more.
        assert!(sync(&alice, &mut bob, alice.me()).is_none());
        assert_eq!(bob.store().head(&laptop.me()).unwrap().unwrap().seq, 2);
        let feed = bob.run(ops::Feed::default()).unwrap();
        assert_eq!(feed.len(), 1);
        assert_eq!(feed[0].text.as_deref(), Some("one"));
        post(&mut laptop, "four");
        let later = laptop.store().log(&laptop.me(), 3, usize::MAX).unwrap();
        let outcome = bob.ingest(&later[..1]);
        assert!(
            matches!(
                outcome.error,
                Some(crate::store::Error::Revoked { last_seq: 2, .. })
            ),
            "{:?}",
            outcome.error
        );
        assert!(!bob.scope().is_peer(&laptop.me()));
        assert!(bob.scope().contains(&laptop.me()));
        // A revoked key is never linked again.
        let again = DeviceLink::new(&alice.me(), &laptop_key, "laptop");
        assert!(alice.run(ops::DeviceAdd { link: again }).is_err());
    }

    /// No node counts a person's 65th key, so the stock client says so
    /// instead of writing a certificate that would do nothing.
    #[test]
    fn a_65th_key_is_refused_with_a_reason() {
        let mut alice = core(1);
        for i in 0..63u32 {
            let mut seed = [0x61u8; 32];
            seed[..4].copy_from_slice(&i.to_le_bytes());
            let link = DeviceLink::new(&alice.me(), &Keypair::from_secret(&seed), "");
            alice.run(ops::DeviceAdd { link }).unwrap();
        }
        let person = alice.person().unwrap();
        assert_eq!(person.devices.len(), MAX_KEYS_PER_PERSON);
        let link = DeviceLink::new(&alice.me(), &Keypair::from_secret(&[0x62; 32]), "");
        let e = alice.run(ops::DeviceAdd { link }).unwrap_err();
        assert!(e.to_string().contains("64 keys"), "{e}");
        let e = alice.run(ops::IdentityRotate {}).unwrap_err();
        assert!(e.to_string().contains("a new identity key"), "{e}");
        assert_eq!(alice.person().unwrap().identity, alice.me());
    }

    #[test]
    fn friends_follow_a_rotation_and_the_new_key_links() {
        let (mut alice, mut bob) = (core(1), core(3));
        let old = alice.me();
        bob.run(ops::TrustAdd {
            author: old.into(),
            petname: Some("Al".into()),
        })
        .unwrap();
        let person = alice.run(ops::IdentityRotate {}).unwrap();
        let new = person.identity;
        assert_ne!(new, old);
        let me = person.devices.iter().find(|d| d.this_device).unwrap();
        assert_eq!(me.role, Role::FormerIdentity);
        assert!(!me.revoked, "the old key stays a device");
        // The new key certifies: a phone linked now is in its log.
        let phone = Keypair::from_secret(&[7; 32]);
        alice
            .run(ops::DeviceAdd {
                link: DeviceLink::new(&new, &phone, "phone"),
            })
            .unwrap();
        assert_eq!(alice.store().head(&new).unwrap().unwrap().seq, 1);
        // A consent made for the old key no longer links.
        let stale = DeviceLink::new(&old, &Keypair::from_secret(&[8; 32]), "");
        assert!(alice.run(ops::DeviceAdd { link: stale }).is_err());

        // Bob follows with no decision of his own.
        assert!(sync(&alice, &mut bob, old).is_none());
        assert!(bob.scope().is_direct(&new));
        assert!(sync(&alice, &mut bob, new).is_none());
        let seen = crate::reader::person_view(bob.store(), phone.author()).unwrap();
        assert_eq!((seen.root, seen.identity), (old, new));
        assert_eq!(seen.name.as_deref(), Some("Al"), "his petname carries over");
        assert!(bob.scope().is_direct(&phone.author()));
        // A second rotation works from the new key.
        let again = alice.run(ops::IdentityRotate {}).unwrap();
        assert_ne!(again.identity, new);
        assert_eq!(alice.store().head(&new).unwrap().unwrap().seq, 2);
    }

    /// One step of the person's history, by the node holding the identity.
    #[derive(Debug, Clone)]
    enum Step {
        Link(u8),
        Revoke(u8),
        Rotate,
        Post(u8),
    }

    fn step() -> impl proptest::strategy::Strategy<Value = Step> {
        use proptest::prelude::*;
        prop_oneof![
            3 => (20u8..24).prop_map(Step::Link),
            1 => (20u8..24).prop_map(Step::Revoke),
            1 => Just(Step::Rotate),
            3 => (20u8..24).prop_map(Step::Post),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        /// Random link / revoke / rotate histories, with devices writing in
        /// between, delivered log by log in random orders to two friends:
        /// both reach the identity node's view of the person, and keep the
        /// same entries.
        #[test]
        fn friends_reach_one_view_whatever_the_delivery_order(
            steps in proptest::collection::vec(step(), 1..14),
            order_one in proptest::collection::vec(proptest::prelude::any::<u16>(), 16),
            order_two in proptest::collection::vec(proptest::prelude::any::<u16>(), 16),
        ) {
            let mut alice = core(1);
            let mut devices: std::collections::BTreeMap<u8, Core> = Default::default();
            for step in &steps {
                match step {
                    Step::Link(d) => {
                        let key = Keypair::from_secret(&[*d; 32]);
                        let identity = alice.person().unwrap().identity;
                        let _ = alice.run(ops::DeviceAdd { link: DeviceLink::new(&identity, &key, "") });
                        devices.entry(*d).or_insert_with(|| core(*d));
                    }
                    Step::Revoke(d) => {
                        let key = Keypair::from_secret(&[*d; 32]).author();
                        let _ = alice.run(ops::DeviceRevoke { device: key.into(), keep: None });
                    }
                    Step::Rotate => {
                        alice.run(ops::IdentityRotate {}).unwrap();
                    }
                    Step::Post(d) => {
                        if let Some(dev) = devices.get_mut(d) {
                            dev.run(ops::Post::note("from a device")).unwrap();
                        }
                    }
                }
            }
            // Every log there is, and who holds it.
            let mut logs: Vec<(AuthorId, Vec<kith_protocol::Entry>)> = Vec::new();
            for (author, _) in alice.store().frontier().unwrap() {
                logs.push((author, alice.store().log(&author, 1, usize::MAX).unwrap()));
            }
            for dev in devices.values() {
                logs.push((dev.me(), dev.store().log(&dev.me(), 1, usize::MAX).unwrap()));
            }
            let deliver = |order: &[u16]| {
                let mut friend = core(3);
                friend.run(ops::TrustAdd { author: alice.me().into(), petname: None }).unwrap();
                let mut idx: Vec<usize> = (0..logs.len()).collect();
                idx.sort_by_key(|i| order[i % order.len()].wrapping_mul(*i as u16 + 1));
                // Like catch-up: keep offering what was refused until
                // nothing changes.
                loop {
                    let before = friend.store().frontier().unwrap();
                    for &i in &idx {
                        let (author, entries) = &logs[i];
                        let have = friend.store().head(author).unwrap().map_or(0, |h| h.seq);
                        let rest: Vec<_> = entries.iter().filter(|e| e.seq() > have).cloned().collect();
                        let _ = friend.ingest(&rest);
                    }
                    if friend.store().frontier().unwrap() == before {
                        break;
                    }
                }
                friend
            };
            let one = deliver(&order_one);
            let two = deliver(&order_two);
            let seen = |c: &Core| {
                let mut v = crate::reader::person_view(c.store(), alice.me()).unwrap();
                v.name = None;
                for d in &mut v.devices {
                    d.this_device = false;
                }
                v
            };
            let resolved = |c: &Core| {
                let mut v = seen(c);
                for d in &mut v.devices {
                    d.head_seq = 0; // what each node holds, not the person
                }
                v
            };
            proptest::prop_assert_eq!(&seen(&one), &seen(&two));
            proptest::prop_assert_eq!(&resolved(&one), &resolved(&alice));
            proptest::prop_assert_eq!(one.store().frontier().unwrap(), two.store().frontier().unwrap());
            proptest::prop_assert_eq!(one.scope().authors(), two.scope().authors());
        }
    }

    #[test]
    fn a_question_asked_on_one_device_is_accepted_on_another() {
        let (mut alice, mut laptop, mut bob) = (core(1), core(2), core(3));
        let link = DeviceLink::new(&alice.me(), &Keypair::from_secret(&[2; 32]), "");
        alice.run(ops::DeviceAdd { link }).unwrap();
        laptop.device_joined(alice.me(), alice.me(), &[]).unwrap();
        bob.run(ops::TrustAdd {
            author: alice.me().into(),
            petname: None,
        })
        .unwrap();
        let q = alice
            .run(ops::Ask {
                circle: None,
                text: "How do devices work?".into(),
                tags: vec![],
                yes: true,
            })
            .unwrap()
            .posted
            .unwrap();
        // Alice's public vouch for bob is her laptop's trust too.
        alice.vouch(bob.me(), true).unwrap();
        for c in [&mut laptop, &mut bob] {
            assert!(sync(&alice, c, alice.me()).is_none());
        }
        assert!(laptop.scope().is_direct(&bob.me()));
        let answer = bob
            .run(ops::Answer {
                id: q.id.into(),
                text: "Each has its own log.".into(),
                tags: vec![],
                files: Vec::new(),
            })
            .unwrap();
        assert!(sync(&bob, &mut laptop, bob.me()).is_none());
        laptop
            .run(ops::Accept {
                id: answer.id.into(),
                withdraw: false,
            })
            .unwrap();
        assert!(sync(&laptop, &mut bob, laptop.me()).is_none());
        let thread = bob.run(ops::Thread { id: q.id.into() }).unwrap();
        assert!(thread.answers[0].accepted, "{:?}", thread.answers);
    }

    #[test]
    fn blame_names_the_person_and_the_device() {
        let (mut alice, mut laptop, mut bob) = (core(1), core(2), core(3));
        alice
            .run(ops::ProfileSet {
                name: "Alice".into(),
                about: String::new(),
            })
            .unwrap();
        let link = DeviceLink::new(&alice.me(), &Keypair::from_secret(&[2; 32]), "laptop");
        alice.run(ops::DeviceAdd { link }).unwrap();
        bob.run(ops::TrustAdd {
            author: alice.me().into(),
            petname: None,
        })
        .unwrap();
        let page = laptop
            .run(ops::WikiNew {
                circle: None,
                title: "Runbook".into(),
                body: "Restart the node.".into(),
            })
            .unwrap();
        assert!(sync(&alice, &mut bob, alice.me()).is_none());
        assert!(sync(&laptop, &mut bob, laptop.me()).is_none());
        let blame = bob
            .run(ops::WikiBlame {
                page: page.id.to_string(),
            })
            .unwrap();
        assert_eq!(blame.lines[0].who(), "Alice (laptop)");
    }

    #[test]
    fn one_endorsement_per_person() {
        let (mut alice, mut laptop, mut bob) = (core(1), core(2), core(3));
        let link = DeviceLink::new(&alice.me(), &Keypair::from_secret(&[2; 32]), "");
        alice.run(ops::DeviceAdd { link }).unwrap();
        let q = bob
            .run(ops::Post::note("a question worth endorsing"))
            .unwrap();
        for c in [&mut alice, &mut laptop] {
            c.run(ops::TrustAdd {
                author: bob.me().into(),
                petname: None,
            })
            .unwrap();
            assert!(sync(&bob, c, bob.me()).is_none());
            c.run(ops::Endorse {
                id: q.id.into(),
                note: None,
                withdraw: false,
            })
            .unwrap();
        }
        bob.run(ops::TrustAdd {
            author: alice.me().into(),
            petname: None,
        })
        .unwrap();
        assert!(sync(&alice, &mut bob, alice.me()).is_none());
        assert!(sync(&laptop, &mut bob, laptop.me()).is_none());
        let thread = bob.run(ops::Thread { id: q.id.into() }).unwrap();
        assert_eq!(thread.endorsed_by.len(), 1, "{:?}", thread.endorsed_by);
    }
}
