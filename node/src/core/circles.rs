//! Private circles on the node (PROTOCOL.md §12): learning epoch keys,
//! opening circle entries into the ordinary views, and writing into a
//! circle (sealing, and starting a new epoch when the members' devices
//! changed or concurrent epochs need merging).
//!
//! Circle entries are stored sealed like any other entry. After every
//! write, [`Core::circles_after`] learns the keys of new epochs (trying
//! this device's X25519 keys on their wraps, then following each readable
//! epoch's parents), resolves the circle, and opens the content that
//! belongs to it: its inner body goes into the views, search and the wiki
//! as if it were public, marked with its circle. If a new epoch makes
//! content already opened no longer belong (a removal that cuts off a
//! member's writes), the views are rebuilt.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use kith_protocol::circle::{
    self, Change, CircleEpoch, CircleId, ContentKey, DeviceSecret, EpochId, EpochKeys, EpochState,
    Op, ParentKey, Randomness, Resolved, Seen,
};
use kith_protocol::identity::Registry;
use kith_protocol::{AuthorId, Body, Entry, Verified};

use super::Core;
use crate::error::{Error, Result};
use crate::model::{CircleChangeView, CircleMemberView, CircleView};
use crate::store::Indexing;
use crate::store::circles::Wrapped;

/// Most earlier content keys a `Rekey` carries (the newest first): 48
/// bytes each, well inside one entry.
const MAX_REKEY_HISTORY: usize = 256;

/// Member devices and their X25519 keys.
type Recipients = BTreeMap<AuthorId, [u8; 32]>;

/// A circle as this node can read it.
pub(crate) struct CircleState {
    pub id: CircleId,
    pub resolved: Resolved,
    /// Readable epochs: their entry, state and state key.
    pub readable: BTreeMap<EpochId, (Entry, EpochState, [u8; 32])>,
    /// Content keys per epoch: this device's wrap's first, then those
    /// given as history by epochs that count (each is tried; AEAD tells).
    pub content_keys: BTreeMap<EpochId, Vec<[u8; 32]>>,
    /// Epoch entries of this circle by current members that this node
    /// cannot read.
    pub unreadable: usize,
    /// What this device's own wraps gave.
    pub own: BTreeMap<EpochId, Wrapped>,
}

impl CircleState {
    /// The heads, with their state keys, for a new epoch to follow.
    fn parents(&self) -> Vec<ParentKey> {
        self.resolved
            .heads
            .iter()
            .filter_map(|h| {
                self.readable.get(h).map(|(_, _, key)| ParentKey {
                    epoch: *h,
                    state_key: *key,
                })
            })
            .collect()
    }
}

fn randomness() -> Result<Randomness> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| Error::Io(format!("no randomness: {e}")))?;
    Ok(Randomness::from_seed(seed))
}

fn decode_epoch(entry: &Entry) -> Option<CircleEpoch> {
    match entry.body().map(Body::decode) {
        Some(Ok(Body::CircleEpoch(e))) => Some(e),
        _ => None,
    }
}

impl Core {
    /// This node's X25519 keys: its log key's, and its network key's if it
    /// went on under a new log key (epochs before that were wrapped to it).
    fn device_secrets(&self) -> Vec<DeviceSecret> {
        let mut out = vec![DeviceSecret::of(&self.keypair)];
        if self.node_keypair.author() != self.keypair.author() {
            out.push(DeviceSecret::of(&self.node_keypair));
        }
        out
    }

    /// Publishes this device's X25519 key (kind 15) unless its log already
    /// carries it, so friends can add this person to circles.
    pub fn ensure_encryption_key(&mut self) -> Result<()> {
        // While a rebuild walks, the view that says it is published may
        // not be back yet.
        if self.indexing() != Indexing::All {
            return Ok(());
        }
        let mine = DeviceSecret::of(&self.keypair);
        if self.store.encryption_key(&self.me())? == Some(mine.public()) {
            return Ok(());
        }
        self.append_raw(&[Body::EncryptionKey(mine.announcement())])?;
        Ok(())
    }

    /// Learns the keys of a circle's epochs and resolves it.
    ///
    /// Keys are believed only when they open something: this device's
    /// wraps (tried once per epoch, the outcome kept), state keys that
    /// readable epochs name for their parents (each opens that parent's
    /// state or is dropped), and content keys given as history by epochs
    /// that count (tried on content). Nothing another author says about
    /// keys is stored.
    /// A circle's state, from the cache while no epoch of it and no
    /// certificate arrived since (they are what it depends on).
    pub(crate) fn circle_state(
        &mut self,
        id: &CircleId,
        registry: &Registry,
    ) -> Result<Arc<CircleState>> {
        if let Some(state) = self.circle_cache.get(id) {
            return Ok(state.clone());
        }
        let state = Arc::new(self.read_circle(id, registry)?);
        self.circle_cache.insert(*id, state.clone());
        Ok(state)
    }

    /// Forgets cached circle states: one circle's, or all.
    pub(super) fn circles_changed(&mut self, circle: Option<&CircleId>) {
        match circle {
            Some(c) => {
                self.circle_cache.remove(c);
            }
            None => self.circle_cache.clear(),
        }
    }

    fn read_circle(&self, id: &CircleId, registry: &Registry) -> Result<CircleState> {
        let epochs: Vec<(Entry, CircleEpoch)> = self
            .store
            .circle_epochs(id)?
            .into_iter()
            .filter_map(|e| decode_epoch(&e).map(|c| (e, c)))
            // Epochs whose ids are not their author's are nobody's
            // (PROTOCOL.md §12): ignored, not even counted as unreadable.
            .filter(|(e, c)| c.ids_hold(&e.author(), false))
            .collect();
        let wrapped = self.wrapped(id, &epochs)?;
        let mut readable: BTreeMap<EpochId, (Entry, EpochState, [u8; 32])> = BTreeMap::new();
        let mut hints: BTreeMap<EpochId, Vec<[u8; 32]>> = BTreeMap::new();
        loop {
            let mut progress = false;
            for (entry, epoch) in &epochs {
                if readable.contains_key(&epoch.epoch) {
                    continue;
                }
                let candidates = wrapped
                    .get(&epoch.epoch)
                    .map(|w| w.state)
                    .into_iter()
                    .chain(hints.get(&epoch.epoch).into_iter().flatten().copied());
                let opened = candidates.into_iter().find_map(|key| {
                    epoch
                        .open_state(&entry.author(), &key)
                        .ok()
                        .map(|state| (state, key))
                });
                let Some((state, key)) = opened else {
                    continue;
                };
                for p in &state.parents {
                    hints.entry(p.epoch).or_default().push(p.state_key);
                }
                readable.insert(epoch.epoch, (entry.clone(), state, key));
                progress = true;
            }
            if !progress {
                break;
            }
        }
        let ops = readable
            .iter()
            .map(|(epoch, (entry, state, _))| Op {
                id: entry.id(),
                person: registry.person_of(&entry.author()).root,
                device: entry.author(),
                seq: entry.seq(),
                epoch: *epoch,
                state: state.clone(),
            })
            .collect();
        let resolved = circle::resolve(id, ops);
        let mut content_keys: BTreeMap<EpochId, Vec<[u8; 32]>> =
            wrapped.iter().map(|(e, w)| (*e, vec![w.content])).collect();
        for epoch in &resolved.order {
            if let Some((_, state, _)) = readable.get(epoch) {
                for h in &state.history {
                    let keys = content_keys.entry(h.epoch).or_default();
                    if !keys.contains(&h.key) {
                        keys.push(h.key);
                    }
                }
            }
        }
        // Epochs I cannot read by people who are members: most likely
        // written after I was removed (others' epochs do not count).
        let unreadable = epochs
            .iter()
            .filter(|(e, c)| {
                !readable.contains_key(&c.epoch)
                    && resolved
                        .members
                        .contains(&registry.person_of(&e.author()).root)
            })
            .count();
        Ok(CircleState {
            id: *id,
            resolved,
            readable,
            content_keys,
            unreadable,
            own: wrapped,
        })
    }

    /// What this device's wraps of each epoch give, trying those not
    /// tried yet (and keeping the outcome).
    fn wrapped(
        &self,
        id: &CircleId,
        epochs: &[(Entry, CircleEpoch)],
    ) -> Result<BTreeMap<EpochId, Wrapped>> {
        let mut out = BTreeMap::new();
        let mut secrets = None;
        for (entry, epoch) in epochs {
            let known = match self.store.wrapped_keys(id, &epoch.epoch)? {
                Some(known) => known,
                None => {
                    let secrets = secrets.get_or_insert_with(|| self.device_secrets());
                    let found = secrets
                        .iter()
                        .find_map(|s| epoch.unwrap_keys(&entry.author(), s))
                        // Only keys that open the epoch's own state.
                        .filter(|k| epoch.open_state(&entry.author(), &k.state).is_ok())
                        .map(|k| Wrapped {
                            state: k.state,
                            content: k.content,
                        });
                    self.store.put_wrapped(id, &epoch.epoch, found.as_ref())?;
                    found
                }
            };
            if let Some(k) = known {
                out.insert(epoch.epoch, k);
            }
        }
        Ok(out)
    }

    /// Opens the circle entries among `entries` that belong to the circle.
    fn open_content(
        &self,
        state: &CircleState,
        registry: &Registry,
        entries: Vec<Entry>,
    ) -> Result<Vec<Verified>> {
        let mut out = Vec::new();
        for entry in entries {
            let Some(Ok(Body::Sealed(sealed))) = entry.body().map(Body::decode) else {
                continue;
            };
            let person = registry.person_of(&entry.author()).root;
            if !state
                .resolved
                .accepts(&person, &entry.author(), entry.seq(), &sealed.epoch)
            {
                continue;
            }
            let keys = state.content_keys.get(&sealed.epoch);
            let opened = keys
                .into_iter()
                .flatten()
                .find_map(|k| sealed.open(&entry.author(), k).ok());
            let Some(body) = opened else {
                tracing::debug!(id = %entry.id(), "a circle entry does not open with the keys this node holds");
                continue;
            };
            // A page belongs to one circle: a change of it sealed for
            // another is not opened (it would carry later edits there).
            if let Some((w, _)) = body.wiki_part()
                && self
                    .store
                    .page_circle(&w.page)?
                    .is_some_and(|c| c != state.id)
            {
                continue;
            }
            out.push(Verified::from_store(entry).unsealed(state.id, body));
        }
        Ok(out)
    }

    /// After entries are stored: learns new epochs' keys and opens the
    /// circle content that now can be read. Returns the opened entries
    /// (their views are written), for search and the wiki.
    pub(super) fn circles_after(&mut self, stored: &[Verified]) -> Vec<Verified> {
        // A rebuild that has not finished its walk opens every circle at
        // the walk's end.
        if self.indexing() != Indexing::All {
            return Vec::new();
        }
        let mut full: BTreeSet<CircleId> = BTreeSet::new();
        let mut content: BTreeMap<CircleId, Vec<Entry>> = BTreeMap::new();
        for v in stored {
            match v.body() {
                Some(Body::CircleEpoch(e)) => {
                    full.insert(e.circle);
                }
                Some(Body::Sealed(s)) => {
                    content.entry(s.circle).or_default().push(v.entry().clone())
                }
                _ => {}
            }
        }
        // A certificate can make a device a member's (or end one): every
        // circle is read again.
        let certificates = stored
            .iter()
            .any(|v| v.body().is_some_and(Body::is_certificate));
        if certificates {
            self.circles_changed(None);
            match self.store.circle_ids() {
                Ok(ids) => full.extend(ids),
                Err(e) => tracing::warn!(error = %e, "cannot list circles"),
            }
        }
        for circle in &full {
            self.circles_changed(Some(circle));
        }
        if full.is_empty() && content.is_empty() {
            return Vec::new();
        }
        let result = (|| -> Result<Vec<Verified>> {
            let registry = self.store.registry()?;
            let mut opened = Vec::new();
            for (circle, entries) in content {
                if !full.contains(&circle) {
                    opened.extend(self.circle_open(&circle, &registry, Some(entries), true)?);
                }
            }
            for circle in full {
                opened.extend(self.circle_open(&circle, &registry, None, true)?);
            }
            Ok(opened)
        })();
        result.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "opening circle entries failed; `kith reindex` retries");
            Vec::new()
        })
    }

    /// Opens a circle's content (`only` these entries, or all of it) and
    /// writes the views of what opened. With all of it, content opened
    /// before that no longer belongs starts a rebuild (if `may_rebuild`).
    fn circle_open(
        &mut self,
        circle: &CircleId,
        registry: &Registry,
        only: Option<Vec<Entry>>,
        may_rebuild: bool,
    ) -> Result<Vec<Verified>> {
        let state = self.circle_state(circle, registry)?;
        if let Some(name) = &state.resolved.name
            && self.store.circle_name(circle)?.as_ref() != Some(name)
        {
            self.store.put_circle_name(circle, name)?;
        }
        let whole = only.is_none();
        let entries = match only {
            Some(e) => e,
            None => self.store.circle_content(circle, None)?,
        };
        let mut before = BTreeSet::new();
        let mut fresh = Vec::new();
        for e in entries {
            if self.store.opened(&e.id())?.is_some() {
                before.insert(e.id());
            } else {
                fresh.push(e);
            }
        }
        if whole && !before.is_empty() {
            let still: Vec<Entry> = before
                .iter()
                .filter_map(|id| self.store.get(id).ok().flatten())
                .collect();
            let kept = self.open_content(&state, registry, still)?.len();
            if kept < before.len() && may_rebuild && self.rebuild.is_none() {
                tracing::info!(circle = %circle, "a membership change cuts off circle entries already shown; rebuilding the views");
                self.start_rebuild()?;
                return Ok(Vec::new());
            }
        }
        let opened = self.open_content(&state, registry, fresh)?;
        self.store.index_opened(&opened)?;
        Ok(opened)
    }

    /// At the end of a rebuild's walk: opens every circle again.
    pub(super) fn circles_reopen_all(&mut self) -> Result<Vec<Verified>> {
        self.circles_changed(None);
        let registry = self.store.registry()?;
        let mut opened = Vec::new();
        for circle in self.store.circle_ids()? {
            opened.extend(self.circle_open(&circle, &registry, None, false)?);
        }
        Ok(opened)
    }

    // ---- writing ----

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
    fn recipients(
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

    fn name_of(&self, person: &AuthorId) -> String {
        self.store
            .display_name(person)
            .ok()
            .flatten()
            .unwrap_or_else(|| person.short())
    }

    /// Signs a new epoch of `circle` for `members` (their devices with
    /// keys), following the circle's heads. Keeps its keys.
    fn new_epoch(
        &mut self,
        circle: Option<CircleId>,
        parents: Vec<ParentKey>,
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
        let state = EpochState {
            parents,
            change,
            recipients: recipients.keys().copied().collect(),
            history,
        };
        let pks: Vec<[u8; 32]> = recipients.values().copied().collect();
        let (epoch, keys): (CircleEpoch, EpochKeys) =
            circle::seal_epoch(circle, &self.me(), &state, &pks, &mut randomness()?)
                .map_err(|e| Error::InvalidInput(e.to_string()))?;
        self.store.put_wrapped(
            &epoch.circle,
            &epoch.epoch,
            Some(&Wrapped {
                state: keys.state,
                content: keys.content,
            }),
        )?;
        let id = epoch.epoch;
        Ok((Body::CircleEpoch(epoch), id, keys.content))
    }

    /// Circle writes wait while a rebuild has not read every circle again
    /// (what it has read so far could be missing a removal).
    fn circles_ready(&self) -> Result<()> {
        if self.indexing() != Indexing::All {
            return Err(Error::Busy(
                "a reindex is running; circle writes wait until it has read every circle again"
                    .into(),
            ));
        }
        Ok(())
    }

    /// I am a member, as far as I can tell: members would accept what I
    /// write.
    fn check_member(&self, state: &CircleState, registry: &Registry) -> Result<AuthorId> {
        let me = registry.person_of(&self.me()).root;
        let name = self
            .store
            .circle_name(&state.id)?
            .unwrap_or_else(|| state.id.to_string());
        if !state.resolved.members.contains(&me) {
            return Err(Error::InvalidInput(format!(
                "you are not a member of circle {name}"
            )));
        }
        if state.unreadable > 0 {
            // Epochs by members not wrapped to any of my devices and not
            // followed by one that is: most likely I was removed.
            return Err(Error::InvalidInput(format!(
                "circle {name} has {} change(s) you cannot read: you were probably removed, and members would not accept what you write",
                state.unreadable
            )));
        }
        Ok(me)
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
        self.check_member(&state, registry)?;
        let (wanted, _) = self.recipients(&state.resolved.members, registry)?;
        let current = *state.resolved.current().ok_or_else(|| {
            Error::Store(crate::store::Error::Corrupt(
                "a circle with members has an epoch".into(),
            ))
        })?;
        let info = &state.resolved.epochs[&current];
        // The current epoch fits if it is the only head, was wrapped to
        // exactly the members' devices now, and its author is still a
        // member (whoever left knows the key of the epoch that says so).
        let fits = state.resolved.heads.len() == 1
            && info.members.contains(&info.person)
            && info.recipients.iter().copied().collect::<BTreeSet<_>>()
                == wanted.keys().copied().collect::<BTreeSet<_>>();
        if fits && let Some(own) = state.own.get(&current) {
            return Ok((current, own.content, None));
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
            Some(circle),
            state.parents(),
            Change::Rekey,
            &state.resolved.members,
            history,
            registry,
        )?;
        Ok((epoch, content, Some(body)))
    }

    /// The circle a body belongs in when nobody says: that of the entry it
    /// answers, endorses or accepts, or of the page it edits.
    pub(super) fn implied_circle(&self, body: &Body) -> Result<Option<CircleId>> {
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
    pub(super) fn append_placed(
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
        Ok(mine.into_iter().map(|i| entries[i].clone()).collect())
    }

    // ---- membership ----

    fn check_replicated(&self, person: &AuthorId, registry: &Registry) -> Result<()> {
        let p = registry.resolve(*person);
        if p.keys.iter().any(|k| self.scope.contains(&k.key)) {
            return Ok(());
        }
        Err(Error::InvalidInput(format!(
            "you do not replicate {}: trust them first (`kith trust add`), so their circle entries reach you",
            self.name_of(person)
        )))
    }

    /// Starts a circle of me and `members`.
    pub fn circle_create(&mut self, name: &str, members: &[String]) -> Result<CircleView> {
        crate::text::check_label("a circle name", name.trim(), circle::MAX_CIRCLE_NAME)
            .map_err(Error::InvalidInput)?;
        let name = name.trim().to_string();
        self.circles_ready()?;
        if self.circle_named(&name).is_ok() {
            return Err(Error::InvalidInput(format!(
                "you already have a circle called {name:?}"
            )));
        }
        self.ensure_encryption_key()?;
        let registry = self.store.registry()?;
        let me = registry.person_of(&self.me()).root;
        let mut persons = BTreeSet::new();
        for m in members {
            let p = self.person_named(m)?;
            if p != me {
                self.check_replicated(&p, &registry)?;
                persons.insert(p);
            }
        }
        let mut all = persons.clone();
        all.insert(me);
        let (body, _, _) = self.new_epoch(
            None,
            Vec::new(),
            Change::Create {
                name: name.clone(),
                members: persons.into_iter().collect(),
            },
            &all,
            Vec::new(),
            &registry,
        )?;
        let Body::CircleEpoch(created) = &body else {
            unreachable!("new_epoch makes an epoch")
        };
        let circle = created.circle;
        self.append_raw(&[body])?;
        self.circle_show(&circle.to_string())
    }

    /// Adds a person; `history` also gives them every earlier epoch's
    /// content key this node holds.
    pub fn circle_add(&mut self, circle: &str, member: &str, history: bool) -> Result<CircleView> {
        let circle = self.circle_named(circle)?;
        self.circles_ready()?;
        self.ensure_encryption_key()?;
        let registry = self.store.registry()?;
        let state = self.circle_state(&circle, &registry)?;
        self.check_member(&state, &registry)?;
        let person = self.person_named(member)?;
        if state.resolved.members.contains(&person) {
            return Err(Error::InvalidInput(format!(
                "{} is already a member",
                self.name_of(&person)
            )));
        }
        self.check_replicated(&person, &registry)?;
        let mut keys = Vec::new();
        if history {
            // The keys this device's own wraps gave (not others' history,
            // which it cannot vouch for).
            for epoch in &state.resolved.order {
                if let Some(own) = state.own.get(epoch) {
                    keys.push(ContentKey {
                        epoch: *epoch,
                        key: own.content,
                    });
                }
            }
        }
        let mut members = state.resolved.members.clone();
        members.insert(person);
        let (body, _, _) = self.new_epoch(
            Some(circle),
            state.parents(),
            Change::Add { person, history },
            &members,
            keys,
            &registry,
        )?;
        self.append_raw(&[body])?;
        self.circle_show(&circle.to_string())
    }

    /// Removes a person (yourself: leave): a new epoch they cannot read.
    pub fn circle_remove(&mut self, circle: &str, member: &str) -> Result<CircleView> {
        let circle = self.circle_named(circle)?;
        self.circles_ready()?;
        let registry = self.store.registry()?;
        let state = self.circle_state(&circle, &registry)?;
        self.check_member(&state, &registry)?;
        let person = self.person_named(member)?;
        if !state.resolved.members.contains(&person) {
            return Err(Error::InvalidInput(format!(
                "{} is not a member",
                self.name_of(&person)
            )));
        }
        let mut seen = Vec::new();
        for key in &registry.resolve(person).keys {
            if let Some(head) = self.store.head(&key.key)? {
                seen.push(Seen {
                    key: key.key,
                    seq: head.seq,
                });
            }
        }
        let mut members = state.resolved.members.clone();
        members.remove(&person);
        if members.is_empty() {
            return Err(Error::InvalidInput(
                "the last member cannot leave a circle".into(),
            ));
        }
        let (body, _, _) = self.new_epoch(
            Some(circle),
            state.parents(),
            Change::Remove { person, seen },
            &members,
            Vec::new(),
            &registry,
        )?;
        self.append_raw(&[body])?;
        self.circle_show(&circle.to_string())
    }

    pub fn circle_list(&mut self) -> Result<Vec<CircleView>> {
        let registry = self.store.registry()?;
        let mut out = Vec::new();
        for id in self.store.circle_ids()? {
            out.push(self.circle_view(&id, &registry, false)?);
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    pub fn circle_show(&mut self, circle: &str) -> Result<CircleView> {
        let id = self.circle_named(circle)?;
        let registry = self.store.registry()?;
        self.circle_view(&id, &registry, true)
    }

    fn circle_view(
        &mut self,
        id: &CircleId,
        registry: &Registry,
        changes: bool,
    ) -> Result<CircleView> {
        let state = self.circle_state(id, registry)?;
        let me = registry.person_of(&self.me()).root;
        let (wanted, _) = self.recipients(&state.resolved.members, registry)?;
        let mut members = Vec::new();
        for person in &state.resolved.members {
            let p = registry.resolve(*person);
            let devices = p.active_keys().count();
            let with_keys = p
                .active_keys()
                .filter(|k| wanted.contains_key(&k.key))
                .count();
            members.push(CircleMemberView {
                person: *person,
                name: self.store.display_name(person)?,
                devices,
                devices_without_key: devices - with_keys,
            });
        }
        let current = state.resolved.current().copied();
        let needs_new_epoch = match current {
            Some(c) => {
                state.resolved.heads.len() > 1
                    || state.resolved.epochs[&c]
                        .recipients
                        .iter()
                        .copied()
                        .collect::<BTreeSet<_>>()
                        != wanted.keys().copied().collect::<BTreeSet<_>>()
            }
            None => false,
        };
        let mut list = Vec::new();
        if changes {
            let rejected: BTreeMap<_, _> = state
                .resolved
                .rejected
                .iter()
                .map(|r| (r.op, r.reason.clone()))
                .collect();
            for (entry, st, _) in state.readable.values() {
                let by = registry.person_of(&entry.author()).root;
                list.push(CircleChangeView {
                    entry: entry.id(),
                    by,
                    by_name: self.store.display_name(&by)?,
                    timestamp: entry.header().timestamp_ms,
                    change: self.describe(&st.change),
                    counted: state.resolved.epochs.values().any(|i| i.op == entry.id()),
                    why_not: rejected.get(&entry.id()).cloned(),
                });
            }
            list.sort_by_key(|c| c.timestamp);
        }
        Ok(CircleView {
            id: *id,
            name: state.resolved.name.clone().or(self.store.circle_name(id)?),
            member: state.resolved.members.contains(&me),
            members,
            epoch: current,
            epochs: state.resolved.order.len(),
            unreadable: state.unreadable,
            needs_new_epoch,
            changes: list,
        })
    }

    fn describe(&self, change: &Change) -> String {
        match change {
            Change::Create { name, members } => {
                let names: Vec<String> = members.iter().map(|m| self.name_of(m)).collect();
                format!("created {name:?} with {}", names.join(", "))
            }
            Change::Add { person, history } => format!(
                "added {}{}",
                self.name_of(person),
                if *history { " (with history)" } else { "" }
            ),
            Change::Remove { person, .. } => format!("removed {}", self.name_of(person)),
            Change::Rekey => "new key for the same members".into(),
        }
    }
}

#[cfg(test)]
mod tests;
