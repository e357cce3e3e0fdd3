//! Social recovery (PROTOCOL.md §11.5): naming recovery contacts, asking
//! them to vouch for a new identity key after every key was lost, and
//! vouching for someone.

use kith_protocol::identity::{DeviceLink, RecoveryApproval, RecoveryContacts, Role};
use kith_protocol::{AuthorId, Body, Keypair};

use super::Core;
use super::devices::certifier;
use crate::codes::RecoveryCode;
use crate::error::{Error, Result};
use crate::model::{PersonView, RecoveryApprovalView, RecoveryCodeView};
use crate::reader::person_view;

/// The lost identity key this node asked to recover (`kith recovery
/// request`), while the recovery does not hold as this node resolves it.
pub fn pending_recovery(store: &crate::store::Store) -> Result<Option<AuthorId>> {
    let Some(secret) = store.cert_key()? else {
        return Ok(None);
    };
    let new = Keypair::from_secret(&secret).author();
    let &[old, asked] = store.joined_person()?.as_slice() else {
        return Ok(None);
    };
    if asked != new {
        return Ok(None);
    }
    let person = store.registry()?.person_of(&old);
    Ok((person.identity != new).then_some(old))
}

impl Core {
    /// Names who may vouch for a new identity key, and how many must.
    pub fn recovery_set(&mut self, threshold: u8, contacts: Vec<AuthorId>) -> Result<PersonView> {
        let certifier = certifier(&self.store, &self.keypair, "name recovery contacts")?;
        let registry = self.store.registry()?;
        let mine = registry.person_of(&self.me());
        let mut unique: Vec<AuthorId> = Vec::new();
        for c in contacts {
            if mine.key(&c).is_some() {
                return Err(Error::InvalidInput(format!(
                    "{c} is one of your own keys: recovery contacts are other people"
                )));
            }
            // One entry per person, by the key given.
            let root = registry.person_of(&c).root;
            if unique.iter().any(|u| registry.person_of(u).root == root) {
                return Err(Error::InvalidInput(format!("{c} is named twice")));
            }
            unique.push(c);
        }
        let body = Body::RecoveryContacts(RecoveryContacts {
            threshold,
            contacts: unique,
        });
        body.check(self.store.limits())?;
        self.append_as(&certifier, &[body])?;
        self.person()
    }

    /// On a fresh install, after every key of the person `old` was lost:
    /// makes a new identity key (kept here) that links this device, and the
    /// code its recovery contacts approve. `addrs`: where this node listens
    /// (the running node's invite addresses), put in the code so that each
    /// approving contact's node dials it.
    pub fn recovery_request(
        &mut self,
        old: AuthorId,
        addrs: Vec<multiaddr::Multiaddr>,
    ) -> Result<RecoveryCodeView> {
        let registry = self.store.registry()?;
        let pending = self.store.joined_person()?;
        let asked_before = pending.first() == Some(&old) && self.store.cert_key()?.is_some();
        if !asked_before && registry.person_of(&self.me()).keys.len() > 1 {
            return Err(Error::InvalidInput(
                "this device already belongs to a person with several keys; recover from a \
                 fresh install (`kith init` with a new data directory)"
                    .into(),
            ));
        }
        if old == self.me() {
            return Err(Error::InvalidInput(
                "that is this device's own key: give the identity key that was lost".into(),
            ));
        }
        // Asking again gives the same code: the contacts may already have
        // approved the key made the first time.
        let new = match self.store.cert_key()? {
            Some(secret) if asked_before => Keypair::from_secret(&secret),
            _ => {
                let mut secret = [0u8; 32];
                getrandom::fill(&mut secret)
                    .map_err(|e| Error::Io(format!("no randomness for a new key: {e}")))?;
                self.store.set_cert_key(Some(&secret))?;
                Keypair::from_secret(&secret)
            }
        };
        let link = DeviceLink::new(&new.author(), &self.keypair, "recovered");
        if self.store.head(&new.author())?.is_none() {
            self.append_as(&new, &[Body::DeviceLink(link)])?;
        }
        self.store.set_joined_person(&[old, new.author()])?;
        self.refresh_scope()?;
        let code = RecoveryCode {
            old,
            new: new.author(),
            consent: RecoveryApproval::request(&old, &new),
            device: self.me(),
            addrs,
        };
        Ok(RecoveryCodeView {
            code: code.encode(),
            old,
            new: new.author(),
            addrs: code
                .addrs
                .iter()
                .take(crate::invite::MAX_ADDRS)
                .map(ToString::to_string)
                .collect(),
        })
    }

    /// A recovery contact vouches for the new key in `code`, after checking
    /// that the lost key is (or was, before someone rotated it away) the
    /// person's identity key and named this node's person as a contact.
    /// `seen`: the last seq of the lost key the owner still held (default:
    /// the last this node holds); what the key certified after it no
    /// longer counts once the recovery holds.
    pub fn recovery_approve(
        &mut self,
        code: &str,
        seen: Option<u64>,
    ) -> Result<RecoveryApprovalView> {
        let code = RecoveryCode::decode(code)?;
        let held = self.store.head(&code.old)?.map_or(0, |h| h.seq);
        let approval = RecoveryApproval {
            old: code.old,
            new: code.new,
            consent: code.consent,
            seen_seq: seen.map_or(held, |s| s.min(held)),
        };
        if !approval.consented() {
            return Err(Error::InvalidInput(
                "the recovery code's signature does not verify: it was altered".into(),
            ));
        }
        let registry = self.store.registry()?;
        let person = registry.person_of(&code.old);
        let identity_once = person
            .key(&code.old)
            .is_some_and(|k| matches!(k.role, Role::Identity | Role::FormerIdentity));
        if !identity_once {
            return Err(Error::InvalidInput(format!(
                "{} was never the identity key of a person you know (their identity is {}): ask for a code naming the key they lost",
                code.old, person.identity
            )));
        }
        let sets = registry.contact_sets(&code.old);
        if sets.is_empty() {
            return Err(Error::InvalidInput(format!(
                "{} named no recovery contacts (or you do not have their log yet)",
                code.old
            )));
        }
        let mine = registry.person_of(&self.me());
        let Some(named_at) = sets
            .iter()
            .filter(|(_, set)| set.contacts.iter().any(|c| mine.key(c).is_some()))
            .map(|(seq, _)| *seq)
            .next()
        else {
            return Err(Error::InvalidInput(format!(
                "you are not one of {}'s recovery contacts",
                code.old
            )));
        };
        // What the lost key certified after the contacts were named.
        let mut later = Vec::new();
        for entry in self.store.log(&code.old, named_at + 1, usize::MAX)? {
            let Some(Ok(body)) = entry.body().map(Body::decode) else {
                continue;
            };
            let what = match &body {
                Body::Rotate(r) => format!("rotated the identity to {}", r.new),
                Body::DeviceRevoke(r) => format!("revoked {}", r.device),
                Body::DeviceLink(l) => format!("linked {}", l.device),
                Body::RecoveryContacts(c) => {
                    format!("named {} other recovery contacts", c.contacts.len())
                }
                _ => continue,
            };
            later.push(format!("entry {}: {what}", entry.seq()));
        }
        let seen_seq = approval.seen_seq;
        self.append_one(Body::RecoveryApproval(approval))?;
        // Let the recovering device connect, to fetch the approvals, and
        // dial it where its code says it listens: it knows nobody yet.
        if self.store.trust_get(&code.device)?.is_none() {
            self.store.trust_add(code.device, None, super::now_ms())?;
            self.refresh_scope()?;
        }
        if !code.addrs.is_empty() {
            let addrs: Vec<String> = code.addrs.iter().map(ToString::to_string).collect();
            self.store.peer_add_addrs(&code.device, &addrs)?;
            self.outbox.push(super::Effect::Dial {
                author: code.device,
                addrs: code.addrs.clone(),
            });
        }
        let person = person_view(&self.store, code.old)?;
        Ok(RecoveryApprovalView {
            old: code.old,
            new: code.new,
            seen_seq,
            later,
            holds: person.identity == code.new,
            dialled: code.addrs.iter().map(ToString::to_string).collect(),
            person,
        })
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::ops;
    use crate::testing::core;

    fn sync(from: &Core, to: &mut Core, author: AuthorId) {
        let error = crate::testing::sync(from, to, author);
        assert!(error.is_none(), "{error:?}");
    }

    fn trust(core: &mut Core, author: AuthorId) {
        core.run(ops::TrustAdd {
            author: author.into(),
            petname: None,
        })
        .unwrap();
    }

    /// A code with addresses: the contact who approves remembers them for
    /// the asking device and dials it there; a code without them dials
    /// nothing; addresses that do not parse are refused with the reason.
    #[test]
    fn an_approval_dials_the_fresh_install_where_its_code_says() {
        let mut alice = core(1);
        let mut bob = core(2);
        let a = alice.me();
        alice
            .run(ops::RecoverySet {
                threshold: 1,
                contacts: vec![bob.me().into()],
            })
            .unwrap();
        trust(&mut bob, a);
        sync(&alice, &mut bob, a);
        let mut fresh = core(9);
        let e = fresh
            .run(ops::RecoveryRequest {
                old: a.into(),
                addrs: vec!["not an address".into()],
            })
            .unwrap_err();
        assert!(e.to_string().contains("address"), "{e}");
        let addr = "/ip4/192.0.2.9/tcp/4001";
        let request = fresh
            .run(ops::RecoveryRequest {
                old: a.into(),
                addrs: vec![addr.into()],
            })
            .unwrap();
        assert!(request.code.starts_with("kithr2"));
        assert_eq!(request.addrs, vec![addr.to_string()]);
        bob.drain_effects();
        // Called directly: `run` drops the effects (no node to carry them).
        let view = bob.recovery_approve(&request.code, None).unwrap();
        assert_eq!(view.dialled, vec![addr.to_string()]);
        let dials: Vec<_> = bob
            .drain_effects()
            .into_iter()
            .filter_map(|e| match e {
                crate::core::Effect::Dial { author, addrs } => Some((author, addrs)),
                _ => None,
            })
            .collect();
        assert_eq!(dials, vec![(fresh.me(), vec![addr.parse().unwrap()])]);
        let record = bob.store().peer_get(&fresh.me()).unwrap().unwrap();
        assert_eq!(record.addrs, vec![addr.to_string()]);
        // The same request without addresses is a kithr1 code: no dial.
        let plain = RecoveryCode {
            addrs: Vec::new(),
            ..RecoveryCode::decode(&request.code).unwrap()
        };
        let view = bob.recovery_approve(&plain.encode(), None).unwrap();
        assert!(view.dialled.is_empty());
        assert!(
            !bob.drain_effects()
                .iter()
                .any(|e| matches!(e, crate::core::Effect::Dial { .. }))
        );
    }

    #[test]
    fn two_of_three_contacts_bring_friends_to_the_new_key() {
        let mut alice = core(1);
        let (mut bob, mut carol, mut dave, mut eve) = (core(2), core(3), core(4), core(5));
        let mut frank = core(6);
        let a = alice.me();
        alice
            .run(ops::ProfileSet {
                name: "Alice".into(),
                about: String::new(),
            })
            .unwrap();
        let person = alice
            .run(ops::RecoverySet {
                threshold: 2,
                contacts: vec![bob.me().into(), carol.me().into(), dave.me().into()],
            })
            .unwrap();
        assert_eq!(person.recovery.unwrap().threshold, 2);
        for c in [&mut bob, &mut carol, &mut dave, &mut eve, &mut frank] {
            trust(c, a);
            sync(&alice, c, a);
        }
        // Frank replicates alice's contacts: their approvals matter to him.
        assert!(frank.scope().is_direct(&bob.me()));

        // Every key of alice's is lost; a fresh install asks.
        let mut fresh = core(9);
        let request = fresh
            .run(ops::RecoveryRequest {
                old: a.into(),
                addrs: Vec::new(),
            })
            .unwrap();
        let new = request.new;
        // Asking again gives the same code.
        let again = fresh
            .run(ops::RecoveryRequest {
                old: a.into(),
                addrs: Vec::new(),
            })
            .unwrap();
        assert_eq!(again, request);
        let e = eve
            .run(ops::RecoveryApprove {
                code: request.code.clone(),
                seen: None,
            })
            .unwrap_err();
        assert!(e.to_string().contains("not one of"), "{e}");
        let mut tampered = RecoveryCode::decode(&request.code).unwrap();
        tampered.new = eve.me();
        let e = dave
            .run(ops::RecoveryApprove {
                code: tampered.encode(),
                seen: None,
            })
            .unwrap_err();
        assert!(e.to_string().contains("does not verify"), "{e}");

        bob.run(ops::RecoveryApprove {
            code: request.code.clone(),
            seen: None,
        })
        .unwrap();
        assert!(bob.scope().is_direct(&fresh.me()), "bob lets the device in");
        sync(&bob, &mut frank, bob.me());
        let seen = crate::reader::person_view(frank.store(), a).unwrap();
        assert_eq!(seen.identity, a, "one approval of two is not enough");

        carol
            .run(ops::RecoveryApprove {
                code: request.code.clone(),
                seen: None,
            })
            .unwrap();
        sync(&carol, &mut frank, carol.me());
        let seen = crate::reader::person_view(frank.store(), a).unwrap();
        assert_eq!(seen.identity, new);
        let by: Vec<AuthorId> = seen.recovered_by.iter().map(|n| n.key).collect();
        let mut expected = vec![bob.me(), carol.me()];
        expected.sort();
        assert_eq!(by, expected);
        // Frank follows: the new key's log and the fresh device are alice's.
        assert!(frank.scope().is_direct(&new));
        sync(&fresh, &mut frank, new);
        assert!(frank.scope().is_direct(&fresh.me()));
        fresh.run(ops::Post::note("back again")).unwrap();
        sync(&fresh, &mut frank, fresh.me());
        let feed = frank.run(ops::Feed::default()).unwrap();
        assert_eq!(feed[0].author_name.as_deref(), Some("Alice"));
        // The fresh device sees itself as alice's once it has the approvals.
        for from in [&alice, &bob, &carol] {
            sync(from, &mut fresh, from.me());
        }
        let mine = fresh.person().unwrap();
        assert_eq!((mine.root, mine.identity), (a, new));
        // And it certifies now: it can name new contacts.
        fresh
            .run(ops::RecoverySet {
                threshold: 1,
                contacts: vec![bob.me().into()],
            })
            .unwrap();
    }

    /// The thief acts first, with the stock client on a copy of Alice's
    /// store: `kith identity rotate`, then `kith device revoke` of her
    /// laptop. Alice's contacts, who saw all of it, still recover her: the
    /// rotation made with the lost key after its contacts were named does
    /// not stand, the thief's key is nobody's, the laptop stays, and every
    /// friend follows.
    #[test]
    fn a_thief_who_rotates_and_revokes_first_cannot_block_the_recovery() {
        let mut alice = core(1);
        let (mut bob, mut carol, mut dave, mut frank) = (core(2), core(3), core(4), core(6));
        let a = alice.me();
        let laptop_key = Keypair::from_secret(&[0x61; 32]);
        alice
            .run(ops::DeviceAdd {
                link: DeviceLink::new(&a, &laptop_key, "laptop"),
            })
            .unwrap();
        alice
            .run(ops::RecoverySet {
                threshold: 2,
                contacts: vec![bob.me().into(), carol.me().into(), dave.me().into()],
            })
            .unwrap();
        // The thief holds a copy of Alice's device.
        let mut thief = core(1);
        sync(&alice, &mut thief, a);
        let rotated = thief.run(ops::IdentityRotate {}).unwrap().identity;
        thief
            .run(ops::DeviceRevoke {
                device: laptop_key.author().into(),
                keep: None,
            })
            .unwrap();
        for c in [&mut bob, &mut carol, &mut dave, &mut frank] {
            trust(c, a);
            sync(&thief, c, a);
            sync(&thief, c, rotated);
            let seen = crate::reader::person_view(c.store(), a).unwrap();
            assert_eq!(seen.identity, rotated, "the theft shows everywhere");
        }
        // Alice, on a fresh install, asks her contacts; two who saw the
        // rotation approve.
        let mut fresh = core(9);
        let request = fresh
            .run(ops::RecoveryRequest {
                old: a.into(),
                addrs: Vec::new(),
            })
            .unwrap();
        for contact in [&mut bob, &mut carol] {
            let view = contact
                .run(ops::RecoveryApprove {
                    code: request.code.clone(),
                    seen: None,
                })
                .unwrap();
            assert_eq!((view.old, view.new), (a, request.new));
            assert!(
                view.later.iter().any(|l| l.contains("rotated")),
                "{:?}",
                view.later
            );
        }
        for c in [&bob, &carol] {
            sync(c, &mut frank, c.me());
        }
        let seen = crate::reader::person_view(frank.store(), a).unwrap();
        assert_eq!(seen.identity, request.new);
        assert!(seen.conflict.is_none(), "{:?}", seen.conflict);
        assert!(
            seen.devices
                .iter()
                .any(|d| d.key == laptop_key.author() && !d.revoked),
            "{seen:?}"
        );
        assert!(seen.devices.iter().all(|d| d.key != rotated));
        assert_eq!(
            crate::reader::person_view(frank.store(), rotated)
                .unwrap()
                .root,
            rotated,
            "the thief's key stands alone"
        );
    }
}
