//! Membership: creating a circle, adding and removing members, and how a
//! circle is shown.

use std::collections::{BTreeMap, BTreeSet};

use kith_protocol::circle::{self, Change, CircleId, ContentKey, Seen};
use kith_protocol::identity::Registry;
use kith_protocol::{AuthorId, Body};

use crate::core::Core;
use crate::error::{Error, Result};
use crate::model::{CircleChangeView, CircleMemberView, CircleView};

impl Core {
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
        let (_, key) = self.check_member(&state, &registry)?;
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
            Some((circle, key)),
            state.resolved.heads.clone(),
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
        let (_, key) = self.check_member(&state, &registry)?;
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
            Some((circle, key)),
            state.resolved.heads.clone(),
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
        let needs_new_epoch = state.key.is_some()
            && match current {
                Some(c) => {
                    !state.own.contains_key(&c)
                        || state.resolved.epochs[&c]
                            .recipients
                            .iter()
                            .copied()
                            .collect::<BTreeSet<_>>()
                            != wanted.keys().copied().collect::<BTreeSet<_>>()
                }
                None => !state.resolved.heads.is_empty(),
            };
        let mut list = Vec::new();
        if changes {
            let rejected: BTreeMap<_, _> = state
                .resolved
                .rejected
                .iter()
                .map(|r| (r.op, r.reason.clone()))
                .collect();
            for (entry, st) in state.readable.values() {
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
            epoch: current.or(state.resolved.latest().copied()),
            epochs: state.resolved.order.len(),
            unreadable: state.junk,
            warnings: state.warnings.clone(),
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
