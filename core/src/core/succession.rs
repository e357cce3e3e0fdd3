//! Restore without forking (PROTOCOL.md §11.6): which key this node signs
//! its log with, how it starts writing, and going on under a new key that
//! takes over from the old one (body kind 14) when it cannot be sure where
//! its own log is. Also keeping such handovers when a peer offers them.

use kith_protocol::identity::Succession;
use kith_protocol::{AuthorId, Body, Keypair, Verified};

use super::{Core, IngestOutcome};
use crate::error::{Error, Result};
use crate::search::Put;
use crate::store::Store;
use crate::witness::{self, Start, Witness};

/// The key this node signs its log with: the node's own (libp2p) key, or
/// the key it took over with. A new key whose first entry a crash kept
/// from being stored is forgotten (the handover is made again).
pub(super) fn log_keypair(store: &Store, node_key: Keypair) -> Result<Keypair> {
    if let Some(pending) = store.pending_log_key()? {
        let new = Keypair::from_secret(&pending);
        if store.head(&new.author())?.is_some() {
            store.adopt_log_key(&pending)?;
        } else {
            store.set_pending_log_key(None)?;
        }
    }
    Ok(match store.log_key()? {
        Some(secret) => Keypair::from_secret(&secret),
        None => node_key,
    })
}

impl Core {
    /// The key of this node's libp2p identity (its PeerId); the same as
    /// [`Core::me`] unless the node went on under a new log key.
    pub fn node_key(&self) -> AuthorId {
        self.node_key
    }

    fn witness(&self) -> Option<Witness> {
        self.config.witness_dir.as_ref().map(Witness::new)
    }

    /// How own writes start after the node starts (PROTOCOL.md §11.6).
    pub fn start_check(&self) -> Result<Start> {
        let me = self.me();
        let local = self.store.head(&me)?.map_or(0, |h| h.seq);
        let recorded = match self.witness().map(|w| w.read(&me)) {
            None => None,
            // A key this store took over with, holding only the handover:
            // nothing else was ever signed with it.
            Some(Ok(None)) if local == 1 && me != self.node_key => Some(Some(1)),
            Some(Ok(head)) => Some(head),
            Some(Err(e)) => {
                tracing::warn!(error = %e, "cannot read the head witness; asking peers only");
                None
            }
        };
        Ok(witness::start(
            local,
            recorded,
            self.store.witnessed()?,
            self.has_peers_to_ask(),
        ))
    }

    /// Whether the head witness says this store cannot be sure of its own
    /// log (the start check would go on under a new key if no peer could
    /// say): what the CLI, with no node to ask, refuses to write on. Reads
    /// nothing when no witness is kept.
    pub(super) fn behind_witness(&self) -> Result<bool> {
        if self.witness().is_none() {
            return Ok(false);
        }
        Ok(matches!(
            self.start_check()?,
            Start::Ask {
                if_silent: witness::Silent::Succeed,
                ..
            }
        ))
    }

    /// Records own appends in the head witness.
    pub(super) fn witness_own(&mut self, author: &AuthorId, seq: u64) {
        let Some(witness) = self.witness() else {
            return;
        };
        if let Err(e) = witness.record(author, seq) {
            tracing::warn!(error = %e, "cannot record the head witness");
            return;
        }
        if !self.witnessed {
            match self.store.set_witnessed() {
                Ok(()) => self.witnessed = true,
                Err(e) => tracing::warn!(error = %e, "cannot mark the store as witnessed"),
            }
        }
    }

    /// Goes on under a new key that takes over from this node's log key:
    /// its first entry (kind 14) carries the old key's signature, for the
    /// identity if the old key is the person's identity, else for its place
    /// as a device. The node must restart to sign with it. Returns the new
    /// key.
    pub fn succeed(&mut self) -> Result<AuthorId> {
        let old = self.keypair.clone();
        let person = self.store.registry()?.person_of(&old.author());
        let identity = person.identity == old.author();
        // How far the old log went, as far as this machine knows: its
        // certificates after that point do not count once handed over.
        let local = self.store.head(&old.author())?.map_or(0, |h| h.seq);
        let signed = self
            .witness()
            .and_then(|w| w.read(&old.author()).ok().flatten())
            .unwrap_or(0);
        let at = local.max(signed);
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)
            .map_err(|e| Error::Io(format!("no randomness for a new key: {e}")))?;
        let new = Keypair::from_secret(&secret);
        // Durable before the first entry is signed with it; the witness
        // first, so a crash cannot leave a witnessed store without it.
        self.store.set_pending_log_key(Some(&secret))?;
        if let Some(witness) = self.witness() {
            witness
                .record(&new.author(), 1)
                .map_err(|e| Error::Io(format!("cannot record the head witness: {e}")))?;
        }
        let body = Body::Succession(Succession::new(&old, &new.author(), identity, at));
        self.append_as(&new, &[body])?;
        self.store.adopt_log_key(&secret)?;
        tracing::warn!(
            old = %old.author(),
            new = %new.author(),
            identity,
            "this store may be behind its own log (restored from a backup?) and no peer could \
             say: going on under a new key that takes over from the old one"
        );
        Ok(new.author())
    }

    /// Keeps handovers a peer offered (PROTOCOL.md §8.2): the first entry
    /// (kind 14) of a key taking over from a key this node replicates and
    /// that may still write. The registry then decides whether the new key
    /// is the person's; if so it is replicated from now on.
    pub fn ingest_offered(&mut self, entries: Vec<Verified>) -> IngestOutcome {
        let mut outcome = IngestOutcome::default();
        for verified in entries {
            let entry = verified.entry();
            let author = entry.author();
            let taken_over = match verified.body() {
                Some(Body::Succession(s)) if entry.seq() == 1 && s.consented(&author) => s.from,
                _ => {
                    tracing::debug!(%author, seq = entry.seq(), "an offered entry that is no handover: not kept");
                    continue;
                }
            };
            if self.scope.contains(&author) || !self.scope.is_peer(&taken_over) {
                continue;
            }
            let scope = self.scope.with(author);
            let batch = self
                .store
                .ingest_verified(vec![verified], &scope, self.indexing());
            if let Some(e) = batch.error {
                tracing::warn!(%author, error = %e, "an offered handover was refused");
                continue;
            }
            tracing::info!(old = %taken_over, new = %author, "a key took over from a key you replicate");
            // A handover is a certificate: circles are read again.
            let opened = self.circles_after(&batch.appended);
            self.index_search(&opened, Put::Again);
            outcome
                .appended
                .extend(batch.appended.into_iter().map(Verified::into_entry));
        }
        if !outcome.appended.is_empty() {
            match self.refresh_scope() {
                Ok(changed) => outcome.scope_changed = changed,
                Err(e) => tracing::warn!(error = %e, "could not refresh the replication scope"),
            }
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use kith_protocol::identity::Role;

    use super::*;
    use crate::config::{Config, DataDir};
    use crate::core::now_ms;
    use crate::ops;
    use crate::testing::{core, sync};
    use crate::witness::Silent;

    fn open(data: &std::path::Path, state: &std::path::Path) -> Core {
        let mut config = Config::new(DataDir::new(data));
        config.witness_dir = Some(state.to_path_buf());
        Core::open(config, Keypair::from_secret(&[1; 32])).unwrap()
    }

    fn checked(entry: kith_protocol::Entry) -> Verified {
        Verified::check(entry, &Default::default(), now_ms()).unwrap()
    }

    #[test]
    fn a_store_behind_its_witness_goes_on_under_a_new_key_that_friends_follow() {
        let (data, state) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let old = Keypair::from_secret(&[1; 32]).author();
        let mut alice = open(data.path(), state.path());
        assert_eq!(alice.start_check().unwrap(), Start::Sure, "a fresh store");
        alice.run(ops::Post::note("one")).unwrap();
        alice.run(ops::Post::note("two")).unwrap();
        alice.close().unwrap();
        drop(alice);
        let alice = open(data.path(), state.path());
        assert_eq!(
            alice.start_check().unwrap(),
            Start::Sure,
            "where it left off"
        );
        drop(alice);

        // This machine signed up to 5; the store (a restored backup) has 2.
        Witness::new(state.path()).record(&old, 5).unwrap();
        let mut alice = open(data.path(), state.path());
        assert_eq!(
            alice.start_check().unwrap(),
            Start::Ask {
                floor: 5,
                if_silent: Silent::Succeed
            }
        );
        // With no node running, own writes are refused: nobody can say
        // where the log is.
        let refused = alice.run(ops::Post::note("offline")).unwrap_err();
        assert!(matches!(refused, Error::Conflict(_)), "{refused}");
        let new = alice.succeed().unwrap();
        let handover = alice.store().entry_at(&new, 1).unwrap().unwrap();
        match Body::decode(handover.body().unwrap()).unwrap() {
            Body::Succession(s) => assert_eq!((s.from, s.identity, s.at), (old, true, 5)),
            other => panic!("{other:?}"),
        }
        alice.close().unwrap();
        drop(alice);

        let mut alice = open(data.path(), state.path());
        assert_eq!((alice.me(), alice.node_key()), (new, old));
        assert_eq!(alice.start_check().unwrap(), Start::Sure);
        let person = alice.person().unwrap();
        assert_eq!((person.root, person.identity), (old, new));
        let former = person.devices.iter().find(|d| d.key == old).unwrap();
        assert_eq!(former.role, Role::FormerIdentity);
        // This node's own invite names its network key: joining it is
        // refused, not a trust in itself.
        let own = crate::invite::Invite {
            author: old,
            addrs: Vec::new(),
            person: None,
        }
        .encode();
        assert!(alice.join(&own, None).is_err());
        // The old key is this node's network identity: not revocable here.
        let refused = alice
            .run(ops::DeviceRevoke {
                device: old.into(),
                keep: None,
            })
            .unwrap_err();
        assert!(matches!(refused, Error::InvalidInput(_)), "{refused}");
        let post = alice.run(ops::Post::note("after")).unwrap();
        // Seq 1 the handover, 2 the new key's encryption key.
        assert_eq!((post.author, post.seq), (new, 3));
        // The restored backup's head (its encryption key, then two posts):
        // nothing new under the old key.
        assert_eq!(alice.store().head(&old).unwrap().unwrap().seq, 3);

        // A friend who trusts the old key keeps the handover when it is
        // offered, and then replicates the new key's log.
        let mut bob = core(2);
        bob.run(ops::TrustAdd {
            author: old.into(),
            petname: None,
        })
        .unwrap();
        assert!(sync(&alice, &mut bob, old).is_none());
        assert!(!bob.scope().contains(&new));
        let handover = alice.store().entry_at(&new, 1).unwrap().unwrap();
        let outcome = bob.ingest_offered(vec![checked(handover.clone())]);
        assert_eq!(outcome.appended.len(), 1);
        assert!(outcome.scope_changed && bob.scope().contains(&new));
        // Replicated and let in, but never dialled: alice's node keeps the
        // old key as its PeerId.
        assert!(bob.scope().is_peer(&new) && !bob.scope().is_dialled(&new));
        assert!(bob.scope().is_dialled(&old));
        assert!(sync(&alice, &mut bob, new).is_none());
        assert_eq!(bob.store().head(&new).unwrap().unwrap().seq, 3);
        assert_eq!(bob.store().handovers(&old).unwrap(), vec![handover]);
    }

    #[test]
    fn offers_that_are_no_handover_from_a_replicated_key_are_not_kept() {
        let mut bob = core(2);
        let trusted = Keypair::from_secret(&[1; 32]);
        bob.run(ops::TrustAdd {
            author: trusted.author().into(),
            petname: None,
        })
        .unwrap();
        let sign = |key: &Keypair, seq: u64, body: Body| {
            checked(kith_protocol::Entry::sign(
                key,
                kith_protocol::Draft {
                    seq,
                    prev: None,
                    timestamp_ms: now_ms(),
                    body: body.encode(),
                },
            ))
        };
        let (new, stranger) = (
            Keypair::from_secret(&[7; 32]),
            Keypair::from_secret(&[8; 32]),
        );
        let from_stranger = Body::Succession(Succession::new(&stranger, &new.author(), true, 0));
        let mut forged = Succession::new(&stranger, &new.author(), true, 0);
        forged.from = trusted.author();
        let offers = vec![
            // A handover from a key bob does not replicate.
            sign(&new, 1, from_stranger),
            // A consent the trusted key never gave.
            sign(&new, 1, Body::Succession(forged)),
            // Not a handover at all.
            sign(
                &new,
                1,
                Body::Profile(kith_protocol::Profile {
                    name: "Mallory".into(),
                    about: String::new(),
                }),
            ),
        ];
        let outcome = bob.ingest_offered(offers);
        assert!(outcome.appended.is_empty());
        assert!(!bob.scope().contains(&new.author()));
        assert!(bob.store().head(&new.author()).unwrap().is_none());
    }

    #[test]
    fn a_new_key_whose_first_entry_was_never_stored_is_forgotten() {
        let (data, state) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let alice = open(data.path(), state.path());
        // A crash right after the new key was saved.
        alice.store().set_pending_log_key(Some(&[9; 32])).unwrap();
        drop(alice);
        let alice = open(data.path(), state.path());
        assert_eq!(alice.me(), alice.node_key());
        assert!(alice.store().pending_log_key().unwrap().is_none());
    }
}
