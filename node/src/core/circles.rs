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
//!
//! Writing (`write`): sealing own bodies for their circle, and the epoch
//! to write in. Membership (`members`): create, add, remove, show.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use kith_protocol::circle::{
    self, CircleEpoch, CircleId, DeviceSecret, EpochId, EpochState, Op, ParentKey, Resolved,
};
use kith_protocol::identity::Registry;
use kith_protocol::{Body, Entry, Verified};

use super::Core;
use crate::error::Result;
use crate::store::Indexing;
use crate::store::circles::Wrapped;

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
}

mod members;
mod write;

#[cfg(test)]
mod tests;
