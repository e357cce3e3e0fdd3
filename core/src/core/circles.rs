//! Private circles on the node (PROTOCOL.md §12): learning epoch keys,
//! opening circle entries into the ordinary views, and writing into a
//! circle (sealing, and starting a new epoch when the members' devices
//! changed, concurrent epochs need merging, or this device holds no key of
//! the current one).
//!
//! Circle entries are stored sealed like any other entry. After every
//! write, [`Core::circles_after`] learns the circle key (the first wrap of
//! this device that gives one the circle's id commits to), reads every
//! epoch's state with it, resolves the circle, learns this device's
//! content keys (every wrap tried, each checked against the state's key
//! check) and opens the content that belongs: its inner body goes into the
//! views, search and the wiki as if it were public, marked with its
//! circle. If a new epoch makes content already opened no longer belong (a
//! removal that cuts off a member's writes), the views are rebuilt.
//!
//! Writing (`write`): sealing own bodies for their circle, and the epoch
//! to write in. Membership (`members`): create, add, remove, show.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use kith_protocol::circle::{
    self, CircleEpoch, CircleId, CircleKey, DeviceSecret, EpochId, EpochState, Op, Resolved,
};
use kith_protocol::identity::{Person, Registry};
use kith_protocol::{AuthorId, Body, Entry, Verified};

use super::Core;
use crate::error::Result;
use crate::store::Indexing;
use crate::store::circles::Wrapped;

/// A circle as this node can read it.
pub(crate) struct CircleState {
    pub id: CircleId,
    /// The circle key, if a wrap of this device gave it.
    pub key: Option<CircleKey>,
    pub resolved: Resolved,
    /// Epochs whose state opened with the circle key: entry and state.
    pub readable: BTreeMap<EpochId, (Entry, EpochState)>,
    /// Content keys per epoch: this device's wrap's first, then those
    /// given as history by epochs that count (each is tried; AEAD tells).
    pub content_keys: BTreeMap<EpochId, Vec<[u8; 32]>>,
    /// Epoch entries of this circle that no holder of the circle key can
    /// read (junk: the same on every member's node).
    pub junk: usize,
    /// What this device's own wraps gave.
    pub own: BTreeMap<EpochId, Wrapped>,
    /// Things members should know: epochs that list this device but gave
    /// it no key, epochs whose wraps and recipients disagree.
    pub warnings: Vec<String>,
    /// The persons this state was resolved with (each epoch author's, each
    /// member's): a certificate that changes none of them changes nothing
    /// here.
    pub persons: Vec<(AuthorId, Person)>,
}

impl CircleState {
    /// Whether the certificates in `registry` resolve every person this
    /// state depends on as they were.
    fn persons_hold(&self, registry: &Registry) -> bool {
        self.persons
            .iter()
            .all(|(key, person)| registry.person_of(key) == *person)
    }
}

fn decode_epoch(entry: &Entry) -> Option<CircleEpoch> {
    match entry.body().map(Body::decode) {
        Some(Ok(Body::CircleEpoch(e))) => Some(e),
        _ => None,
    }
}

impl Core {
    /// This node's device keys: its log key, and its network key if it
    /// went on under a new log key.
    fn device_keys(&self) -> BTreeSet<kith_protocol::AuthorId> {
        [self.keypair.author(), self.node_keypair.author()]
            .into_iter()
            .collect()
    }

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
            // (PROTOCOL.md §12): ignored, not even counted as junk.
            .filter(|(e, c)| c.ids_hold(&e.author()))
            .collect();
        let mut state = CircleState {
            id: *id,
            key: None,
            resolved: Resolved::default(),
            readable: BTreeMap::new(),
            content_keys: BTreeMap::new(),
            junk: 0,
            own: BTreeMap::new(),
            warnings: Vec::new(),
            persons: Vec::new(),
        };
        let mut keys: BTreeSet<AuthorId> = epochs.iter().map(|(e, _)| e.author()).collect();
        let Some((key, root)) = self.circle_key_of(id, &epochs)? else {
            state.persons = keys
                .into_iter()
                .map(|k| (k, registry.person_of(&k)))
                .collect();
            return Ok(state);
        };
        state.key = Some(key);
        let ops = self.open_epochs(&epochs, &key, registry, &mut state);
        state.resolved = circle::resolve(&root, ops);
        keys.extend(state.resolved.ever.iter().copied());
        state.persons = keys
            .into_iter()
            .map(|k| (k, registry.person_of(&k)))
            .collect();
        state.own = self.wrapped(id, &key, &epochs, &state.readable)?;
        self.warn_of_missing_wraps(registry, &mut state);
        state.content_keys = content_keys(&state);
        Ok(state)
    }

    /// Opens every epoch with the circle's key; the ones that open (from a
    /// device key still valid at that seq) become `state.readable` and the
    /// operations resolution orders; the rest count as junk.
    fn open_epochs(
        &self,
        epochs: &[(Entry, CircleEpoch)],
        key: &CircleKey,
        registry: &Registry,
        state: &mut CircleState,
    ) -> Vec<Op> {
        let mut ops = Vec::new();
        for (entry, epoch) in epochs {
            let opened = epoch
                .well_formed()
                .then(|| epoch.open_state(&entry.author(), key).ok())
                .flatten();
            let Some(st) = opened else {
                state.junk += 1;
                continue;
            };
            let person = registry.person_of(&entry.author());
            // A device's entries past the end of its key do not count.
            if !person
                .key(&entry.author())
                .is_some_and(|k| k.accepts(entry.seq()))
            {
                continue;
            }
            if epoch.wraps.len() != st.recipients.len() {
                state.warnings.push(format!(
                    "a change by {} carries {} keys for {} listed devices",
                    self.name_of(&person.root),
                    epoch.wraps.len(),
                    st.recipients.len()
                ));
            }
            ops.push(Op {
                id: entry.id(),
                person: person.root,
                device: entry.author(),
                seq: entry.seq(),
                epoch: epoch.epoch,
                state: st.clone(),
            });
            state.readable.insert(epoch.epoch, (entry.clone(), st));
        }
        ops
    }

    /// Warns of epochs that list this device but give it no wrap.
    fn warn_of_missing_wraps(&self, registry: &Registry, state: &mut CircleState) {
        let devices = self.device_keys();
        for (epoch, (entry, st)) in &state.readable {
            if st.recipients.iter().any(|r| devices.contains(r)) && !state.own.contains_key(epoch) {
                let by = registry.person_of(&entry.author()).root;
                state.warnings.push(format!(
                    "a change by {} lists this device but gives it no key (it writes a new key for the circle before writing there)",
                    self.name_of(&by)
                ));
            }
        }
    }

    /// The circle's key and the epoch id of its creation: from the store,
    /// or learned from the first of this device's wraps that gives a key
    /// the circle's id commits to (with one of the circle's epochs as its
    /// creation).
    fn circle_key_of(
        &self,
        id: &CircleId,
        epochs: &[(Entry, CircleEpoch)],
    ) -> Result<Option<(CircleKey, EpochId)>> {
        let root_of = |key: &CircleKey| {
            epochs
                .iter()
                .map(|(_, e)| e.epoch)
                .find(|e| key.is_of(id, e))
        };
        if let Some(key) = self.store.circle_key(id)? {
            return Ok(root_of(&key).map(|root| (key, root)));
        }
        let secrets = self.device_secrets();
        for (entry, epoch) in epochs {
            for secret in &secrets {
                for u in epoch.unwrap_all(&entry.author(), secret) {
                    if let Some(root) = root_of(&u.circle_key) {
                        self.store.put_circle_key(id, &u.circle_key)?;
                        return Ok(Some((u.circle_key, root)));
                    }
                }
            }
        }
        Ok(None)
    }

    /// What this device's wraps of each readable epoch give (every wrap
    /// tried, a secret believed only if it passes the state's key check),
    /// trying those not tried yet and keeping the outcome.
    fn wrapped(
        &self,
        id: &CircleId,
        key: &CircleKey,
        epochs: &[(Entry, CircleEpoch)],
        readable: &BTreeMap<EpochId, (Entry, EpochState)>,
    ) -> Result<BTreeMap<EpochId, Wrapped>> {
        let mut out = BTreeMap::new();
        let mut secrets = None;
        for (entry, epoch) in epochs {
            let Some((_, st)) = readable.get(&epoch.epoch) else {
                continue;
            };
            let known = match self.store.wrapped_keys(id, &epoch.epoch)? {
                Some(known) => known,
                None => {
                    let secrets = secrets.get_or_insert_with(|| self.device_secrets());
                    let found = secrets
                        .iter()
                        .find_map(|s| epoch.keys_for(&entry.author(), s, key, st))
                        .map(|k| Wrapped {
                            content: k.content,
                            history: k.history,
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
            let Some(mut body) = opened else {
                tracing::debug!(id = %entry.id(), "a circle entry does not open with the keys this node holds");
                continue;
            };
            // The circle is part of a page's identity (PROTOCOL.md §12.5):
            // the id a change carries names another page in every other
            // circle and in the clear.
            if let Some(w) = body.wiki_part_mut() {
                self.store.put_circle_page(&state.id, &w.page)?;
                w.page = circle::circle_page(&state.id, &w.page);
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
        // A certificate can make a device a member's (or end one): the
        // circles whose persons it changes are read again (and those not
        // read since start); the others stay as they are.
        let certificates = stored
            .iter()
            .any(|v| v.body().is_some_and(Body::is_certificate));
        if certificates {
            let changed = (|| -> Result<Vec<CircleId>> {
                let registry = self.store.registry()?;
                let mut out = Vec::new();
                for id in self.store.circle_ids()? {
                    if !self
                        .circle_cache
                        .get(&id)
                        .is_some_and(|s| s.persons_hold(&registry))
                    {
                        out.push(id);
                    }
                }
                Ok(out)
            })();
            match changed {
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
}

mod members;
mod write;

#[cfg(test)]
mod adversary_tests;
#[cfg(test)]
mod tests;

/// The content keys this device can read with, per epoch: its own wraps',
/// and the earlier epochs' keys each of them carries in its history, in
/// resolution order.
fn content_keys(state: &CircleState) -> BTreeMap<EpochId, Vec<[u8; 32]>> {
    let mut keys: BTreeMap<EpochId, Vec<[u8; 32]>> = state
        .own
        .iter()
        .map(|(e, w)| (*e, vec![w.content]))
        .collect();
    for epoch in &state.resolved.order {
        let (Some((entry, _)), Some(own)) = (state.readable.get(epoch), state.own.get(epoch))
        else {
            continue;
        };
        let Some(body) = decode_epoch(entry) else {
            continue;
        };
        for h in body
            .open_history(&entry.author(), &own.history)
            .unwrap_or_default()
        {
            let epoch_keys = keys.entry(h.epoch).or_default();
            if !epoch_keys.contains(&h.key) {
                epoch_keys.push(h.key);
            }
        }
    }
    keys
}
