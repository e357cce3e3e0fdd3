//! Writing in a circle: naming circles and people, sealing own bodies
//! for the circle they belong in, and the epoch to write in (a new one
//! when the current no longer fits).

use std::collections::{BTreeMap, BTreeSet};

use kith_protocol::circle::{
    self, Change, CircleId, CircleKey, ContentKey, DeviceSecret, EpochId, NewEpoch,
};
use kith_protocol::identity::Registry;
use kith_protocol::{AuthorId, Body, Entry};

use kith_protocol::circle::Randomness;

use super::CircleState;
use crate::core::Core;
use crate::error::{Error, Result};
use crate::store::Indexing;
use crate::store::circles::Wrapped;

/// Most earlier content keys a `Rekey` carries (the newest first): 48
/// bytes each, well inside one entry.
const MAX_REKEY_HISTORY: usize = 256;

/// Member devices and their X25519 keys.
type Recipients = BTreeMap<AuthorId, [u8; 32]>;

fn randomness() -> Result<Randomness> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| Error::Io(format!("no randomness: {e}")))?;
    Ok(Randomness::from_seed(seed))
}

impl Core {
    /// The person a user means: `me`, a key of theirs, or the petname or
    /// profile name of someone trusted.
    pub fn person_named(&self, text: &str) -> Result<AuthorId> {
        let registry = self.store.registry()?;
        let text = text.trim();
        if text == "me" {
            return Ok(registry.person_of(&self.me()).root);
        }
        if let Ok(id) = text.parse::<AuthorId>() {
            return Ok(registry.person_of(&id).root);
        }
        let mut found = BTreeSet::new();
        for record in self.store.trust_list()? {
            let name = match &record.petname {
                Some(p) => Some(p.clone()),
                None => self.store.display_name(&record.author)?,
            };
            if name.is_some_and(|n| n.eq_ignore_ascii_case(text)) {
                found.insert(registry.person_of(&record.author).root);
            }
        }
        match found.len() {
            1 => Ok(found.pop_first().expect("one")),
            0 => Err(Error::NotFound(format!(
                "nobody you trust is called {text:?} (give their author id, or `kith trust add` them first)"
            ))),
            _ => Err(Error::InvalidInput(format!(
                "{text:?} names {} people you trust; give an author id",
                found.len()
            ))),
        }
    }

    /// A circle by id, id prefix (4+ hex characters) or name.
    pub fn circle_named(&self, text: &str) -> Result<CircleId> {
        let text = text.trim();
        let ids = self.store.circle_ids()?;
        let mut found = Vec::new();
        for id in &ids {
            let hex = id.to_string();
            let name = self.store.circle_name(id)?;
            if hex == text
                || (text.len() >= 4 && hex.starts_with(&text.to_ascii_lowercase()))
                || name.is_some_and(|n| n.eq_ignore_ascii_case(text))
            {
                found.push(*id);
            }
        }
        match found.len() {
            1 => Ok(found[0]),
            0 => Err(Error::NotFound(format!(
                "no circle {text:?} (see `kith circle list`)"
            ))),
            _ => Err(Error::InvalidInput(format!(
                "{text:?} names {} circles; give its id",
                found.len()
            ))),
        }
    }

    /// Every device of `persons` with a published X25519 key, and the
    /// persons none of whose devices has one.
    pub(super) fn recipients(
        &self,
        persons: &BTreeSet<AuthorId>,
        registry: &Registry,
    ) -> Result<(Recipients, Vec<AuthorId>)> {
        let mut out = BTreeMap::new();
        let mut missing = Vec::new();
        for person in persons {
            let resolved = registry.resolve(*person);
            let mut any = false;
            for key in resolved.active_keys() {
                if let Some(pk) = self.store.encryption_key(&key.key)? {
                    out.insert(key.key, pk);
                    any = true;
                }
            }
            if !any {
                missing.push(*person);
            }
        }
        Ok((out, missing))
    }

    pub(super) fn name_of(&self, person: &AuthorId) -> String {
        self.store
            .display_name(person)
            .ok()
            .flatten()
            .unwrap_or_else(|| person.short())
    }

    /// Signs a new epoch of `circle` (with its key; `None` for a
    /// creation) for `members` (their devices with keys), following
    /// `parents`. Keeps its keys.
    pub(super) fn new_epoch(
        &mut self,
        circle: Option<(CircleId, CircleKey)>,
        parents: Vec<EpochId>,
        change: Change,
        members: &BTreeSet<AuthorId>,
        history: Vec<ContentKey>,
        registry: &Registry,
    ) -> Result<(Body, EpochId, [u8; 32])> {
        let (recipients, missing) = self.recipients(members, registry)?;
        if let Some(p) = missing.first() {
            return Err(Error::InvalidInput(format!(
                "{} has no encryption key yet: their node must run a Kith with circles, and yours must have their log (trust them, then sync)",
                self.name_of(p)
            )));
        }
        let sealed = circle::seal_epoch(
            circle,
            &self.me(),
            NewEpoch {
                parents,
                change,
                recipients: recipients.into_iter().collect(),
                history,
            },
            &mut randomness()?,
        )
        .map_err(|e| Error::InvalidInput(e.to_string()))?;
        let body = sealed.body;
        self.store
            .put_circle_key(&body.circle, &sealed.circle_key)?;
        self.store.put_wrapped(
            &body.circle,
            &body.epoch,
            Some(&Wrapped {
                content: sealed.keys.content,
                history: sealed.keys.history,
            }),
        )?;
        let id = body.epoch;
        Ok((Body::CircleEpoch(body), id, sealed.keys.content))
    }

    /// Circle writes wait while a rebuild has not read every circle again
    /// (what it has read so far could be missing a removal).
    pub(super) fn circles_ready(&self) -> Result<()> {
        if self.indexing() != Indexing::All {
            return Err(Error::Busy(
                "a reindex is running; circle writes wait until it has read every circle again"
                    .into(),
            ));
        }
        Ok(())
    }

    /// I am a member, as every member's node resolves it (they all read
    /// the same membership changes), and I hold the circle's key.
    pub(super) fn check_member(
        &self,
        state: &CircleState,
        registry: &Registry,
    ) -> Result<(AuthorId, CircleKey)> {
        let me = registry.person_of(&self.me()).root;
        let name = self
            .store
            .circle_name(&state.id)?
            .unwrap_or_else(|| state.id.to_string());
        let Some(key) = state.key else {
            return Err(Error::InvalidInput(format!(
                "no key of circle {name} reached this device: a member must add you (or your device), then sync"
            )));
        };
        if !state.resolved.members.contains(&me) {
            return Err(Error::InvalidInput(format!(
                "you are not a member of circle {name}"
            )));
        }
        Ok((me, key))
    }

    /// The epoch to write `circle`'s content in, and a new epoch to sign
    /// first when the current one no longer fits (concurrent epochs to
    /// merge, a member's device joined or left, or its key is unknown).
    fn writing_epoch(
        &mut self,
        circle: CircleId,
        registry: &Registry,
    ) -> Result<(EpochId, [u8; 32], Option<Body>)> {
        self.circles_ready()?;
        let state = self.circle_state(&circle, registry)?;
        let (_, key) = self.check_member(&state, registry)?;
        let (wanted, _) = self.recipients(&state.resolved.members, registry)?;
        // The current epoch fits if it is the only head and counts, was
        // wrapped to exactly the members' devices now, its author is still
        // a member (whoever left knows the key of the epoch that says so),
        // and one of its wraps gave this device its key.
        if let Some(current) = state.resolved.current() {
            let info = &state.resolved.epochs[current];
            let fits = info.members.contains(&info.person)
                && info.recipients.iter().copied().collect::<BTreeSet<_>>()
                    == wanted.keys().copied().collect::<BTreeSet<_>>();
            if fits && let Some(own) = state.own.get(current) {
                return Ok((*current, own.content, None));
            }
        }
        // A new device of a member, or one wrapped to again, gets the
        // earlier epochs every member now could read anyway: those whose
        // members include all of today's (never one someone joined after,
        // nor, for a newcomer, one before their join).
        let history: Vec<ContentKey> = state
            .resolved
            .order
            .iter()
            .rev()
            .filter(|e| {
                state.resolved.epochs[*e]
                    .members
                    .is_superset(&state.resolved.members)
            })
            .filter_map(|e| {
                state.own.get(e).map(|w| ContentKey {
                    epoch: *e,
                    key: w.content,
                })
            })
            .take(MAX_REKEY_HISTORY)
            .collect();
        let (body, epoch, content) = self.new_epoch(
            Some((circle, key)),
            state.resolved.heads.clone(),
            Change::Rekey,
            &state.resolved.members,
            history,
            registry,
        )?;
        Ok((epoch, content, Some(body)))
    }

    /// The circle a body belongs in when nobody says: that of the entry it
    /// answers, endorses or accepts, or of the page it edits.
    pub(in crate::core) fn implied_circle(&self, body: &Body) -> Result<Option<CircleId>> {
        let target = match body {
            Body::Post(p) => p.reply_to,
            Body::Endorsement(e) => Some(e.target),
            Body::Accept(a) => Some(a.question),
            Body::WikiChange(w) | Body::WikiBundle(w) => {
                return Ok(self.store.page_circle(&w.page)?);
            }
            _ => None,
        };
        let Some(t) = target else {
            return Ok(None);
        };
        // A deleted entry no longer says which circle it was in: nothing
        // answers it (else the answer could go out in the clear).
        if self.store.get(&t)?.is_some_and(|e| e.body().is_none()) {
            return Err(Error::InvalidInput(format!("entry {t} was deleted")));
        }
        Ok(self.store.circle_of_entry(&t)?)
    }

    /// Appends own entries, each in the circle given, or else in the
    /// circle its target is in (sealed), or public. Returns one entry per
    /// body (new epochs it had to sign first are not among them).
    pub(in crate::core) fn append_placed(
        &mut self,
        items: Vec<(Body, Option<CircleId>)>,
    ) -> Result<Vec<Entry>> {
        let mut bodies = Vec::with_capacity(items.len() + 1);
        let mut mine = Vec::with_capacity(items.len());
        // A log without this device's encryption key gets it first (a node
        // publishes it when it starts; the CLI without a node, here).
        let device = DeviceSecret::of(&self.keypair);
        if !items.is_empty()
            && self.indexing() == Indexing::All
            && self.store.encryption_key(&self.me())? != Some(device.public())
        {
            bodies.push(Body::EncryptionKey(device.announcement()));
        }
        let mut epochs: BTreeMap<CircleId, (EpochId, [u8; 32])> = BTreeMap::new();
        // Files attached in a circle, as they were before it encrypted them.
        let mut cleartext = Vec::new();
        let mut registry = None;
        let mut rng = None;
        for (body, explicit) in items {
            let implied = self.implied_circle(&body)?;
            if let (Some(a), Some(b)) = (explicit, implied)
                && a != b
            {
                return Err(Error::InvalidInput(
                    "it answers an entry of another circle; it stays in that one".into(),
                ));
            }
            let Some(circle) = explicit.or(implied) else {
                mine.push(bodies.len());
                bodies.push(body);
                continue;
            };
            if matches!(body, Body::Files(_)) {
                return Err(Error::InvalidInput(
                    "a file is declared for everyone you trust; attach it to a post in the circle instead".into(),
                ));
            }
            // A circle's files travel encrypted: the sealed reference
            // carries each one's key (PROTOCOL.md §13.4).
            let body = match body {
                Body::Post(mut post) if !post.files.is_empty() => {
                    for file in &mut post.files {
                        if file.key.is_none() {
                            cleartext.push(file.hash);
                        }
                        *file = self.encrypt_file(file)?;
                    }
                    Body::Post(post)
                }
                other => other,
            };
            if registry.is_none() {
                registry = Some(self.store.registry()?);
            }
            let registry = registry.as_ref().expect("set above");
            let (epoch, key) = match epochs.get(&circle) {
                Some(known) => *known,
                None => {
                    let (epoch, key, first) = self.writing_epoch(circle, registry)?;
                    if let Some(first) = first {
                        bodies.push(first);
                    }
                    epochs.insert(circle, (epoch, key));
                    (epoch, key)
                }
            };
            if rng.is_none() {
                rng = Some(randomness()?);
            }
            let sealed = circle::seal(
                &body,
                circle,
                epoch,
                &self.me(),
                &key,
                rng.as_mut().expect("set above"),
            )
            .map_err(|e| Error::InvalidInput(e.to_string()))?;
            let sealed = Body::Sealed(sealed);
            sealed.check(self.store.limits())?;
            mine.push(bodies.len());
            bodies.push(sealed);
        }
        let entries = self.append_raw(&bodies)?;
        // A file sent into a circle is kept only as the circle's copy: its
        // clear bytes go, unless a public entry attaches them too.
        for hash in cleartext {
            if self.store.blob_refs(&hash)?.is_empty() {
                self.blobs().remove(&hash)?;
            }
        }
        Ok(mine.into_iter().map(|i| entries[i].clone()).collect())
    }
}

impl Core {
    /// A modified client's `Rekey` of `circle`: it lists every member
    /// device, as the stock client's does, but seals `device`'s wrap to
    /// `key` instead of the device's own (selective wraps, SECURITY.md).
    /// The stock client never writes one; `tests/adversary.rs` plays the
    /// adversary with it over real nodes.
    #[doc(hidden)]
    pub fn rekey_with_a_wrong_wrap(
        &mut self,
        circle: &str,
        device: AuthorId,
        key: [u8; 32],
    ) -> Result<()> {
        let registry = self.store.registry()?;
        let id = self.circle_named(circle)?;
        let state = self.circle_state(&id, &registry)?;
        let circle_key = state
            .key
            .ok_or_else(|| Error::InvalidInput("this node cannot read the circle".into()))?;
        let (mut recipients, _) = self.recipients(&state.resolved.members, &registry)?;
        recipients.insert(device, key);
        let sealed = circle::seal_epoch(
            Some((id, circle_key)),
            &self.me(),
            NewEpoch {
                parents: state.resolved.heads.clone(),
                change: Change::Rekey,
                recipients: recipients.into_iter().collect(),
                history: vec![],
            },
            &mut randomness()?,
        )
        .map_err(|e| Error::InvalidInput(e.to_string()))?;
        self.append_raw(&[Body::CircleEpoch(sealed.body)])?;
        Ok(())
    }
}
