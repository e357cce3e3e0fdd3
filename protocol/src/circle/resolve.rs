//! Resolving a circle's membership from its epochs (PROTOCOL.md §12.4):
//! the same answer on every node that holds the same epochs, whatever
//! order they arrived in.
//!
//! 1. Epochs are ordered: parents before children, concurrent epochs by
//!    entry id. An epoch whose parents are not all known waits.
//! 2. They are replayed in that order. An epoch counts if its author's
//!    person is a member just before it (a `Create`: the first one, with no
//!    parents), and it is not *cut off*: a removal of its author's person
//!    that the epoch does not follow, with the epoch's entry past the
//!    removed device's head the remover had seen.
//! 3. A removal that counts cuts off the removed person's epochs already
//!    replayed the same way; the replay then starts again without them
//!    (each restart rejects at least one more epoch, so it ends).
//!
//! Content is accepted by the same rule ([`Resolved::accepts`]).

use std::collections::{BTreeMap, BTreeSet};

use super::{Change, CircleId, EpochId, EpochState, circle_id};
use crate::entry::EntryId;
use crate::keys::AuthorId;

/// A readable membership change, as the node found it in a log.
#[derive(Debug, Clone)]
pub struct Op {
    pub id: EntryId,
    /// The author's person (root key), as the registry resolves the device.
    pub person: AuthorId,
    /// The key that signed the entry.
    pub device: AuthorId,
    pub seq: u64,
    pub epoch: EpochId,
    pub state: EpochState,
}

/// An epoch that counts.
#[derive(Debug, Clone)]
pub struct EpochInfo {
    pub op: EntryId,
    pub device: AuthorId,
    pub person: AuthorId,
    pub change: Change,
    /// Members right after this epoch.
    pub members: BTreeSet<AuthorId>,
    pub recipients: Vec<AuthorId>,
    /// Every epoch this one follows, transitively.
    pub past: BTreeSet<EpochId>,
}

/// A membership change that does not count, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub op: EntryId,
    pub reason: String,
}

#[derive(Debug, Clone)]
struct Removal {
    epoch: EpochId,
    person: AuthorId,
    seen: BTreeMap<AuthorId, u64>,
}

/// A circle as resolved from its readable epochs.
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    pub name: Option<String>,
    pub creator: Option<AuthorId>,
    pub members: BTreeSet<AuthorId>,
    /// Epochs that count, in replay order.
    pub order: Vec<EpochId>,
    pub epochs: BTreeMap<EpochId, EpochInfo>,
    /// Epochs that count and no counting epoch follows.
    pub heads: Vec<EpochId>,
    pub rejected: Vec<Rejected>,
    /// Changes waiting for an epoch they follow.
    pub waiting: Vec<EntryId>,
    /// Everyone who was a member at some epoch that counts.
    pub ever: BTreeSet<AuthorId>,
    removals: Vec<Removal>,
}

impl Resolved {
    /// The epoch new content goes to: the last that counts.
    pub fn current(&self) -> Option<&EpochId> {
        self.order.last()
    }

    /// Whether content by `device` (of `person`) at `seq`, sealed for
    /// `epoch`, belongs to the circle.
    pub fn accepts(&self, person: &AuthorId, device: &AuthorId, seq: u64, epoch: &EpochId) -> bool {
        let Some(info) = self.epochs.get(epoch) else {
            return false;
        };
        info.members.contains(person)
            && !cut_off(&self.removals, person, device, seq, epoch, &info.past)
    }
}

fn cut_off(
    removals: &[Removal],
    person: &AuthorId,
    device: &AuthorId,
    seq: u64,
    epoch: &EpochId,
    past: &BTreeSet<EpochId>,
) -> bool {
    removals.iter().any(|r| {
        r.person == *person
            && r.epoch != *epoch
            && !past.contains(&r.epoch)
            && seq > r.seen.get(device).copied().unwrap_or(0)
    })
}

/// Resolves circle `circle` from its readable epochs (whose ids hold:
/// [`super::CircleEpoch::ids_hold`]).
pub fn resolve(circle: &CircleId, mut ops: Vec<Op>) -> Resolved {
    let mut out = Resolved::default();
    ops.sort_by(|a, b| a.id.as_bytes().cmp(b.id.as_bytes()));
    // One op per epoch id: the lowest entry id.
    let mut by_epoch: BTreeMap<EpochId, usize> = BTreeMap::new();
    let mut unique = Vec::with_capacity(ops.len());
    for op in ops {
        if by_epoch.contains_key(&op.epoch) {
            out.rejected.push(Rejected {
                op: op.id,
                reason: "another change already started this epoch".into(),
            });
            continue;
        }
        by_epoch.insert(op.epoch, unique.len());
        unique.push(op);
    }
    let ops = unique;
    let order = topological(&ops, &by_epoch, &mut out);
    let past = pasts(&ops, &by_epoch, &order);

    let mut forced: BTreeSet<usize> = BTreeSet::new();
    loop {
        let mut run = Replay::default();
        let mut restart = false;
        for &i in &order {
            let op = &ops[i];
            let verdict = if forced.contains(&i) {
                Err("written after its author was removed".to_string())
            } else {
                run.check(circle, op, &past[i])
            };
            if let Err(reason) = verdict {
                run.rejected.push(Rejected { op: op.id, reason });
                continue;
            }
            run.apply(op, &past[i]);
            if let Change::Remove { person, .. } = &op.state.change {
                let removal = run
                    .removals
                    .last()
                    .expect("apply recorded the removal")
                    .clone();
                // The removed person's changes already replayed that this
                // removal cuts off.
                for &j in &run.accepted {
                    let other = &ops[j];
                    if other.person == *person
                        && cut_off(
                            std::slice::from_ref(&removal),
                            person,
                            &other.device,
                            other.seq,
                            &other.epoch,
                            &past[j],
                        )
                    {
                        forced.insert(j);
                        restart = true;
                    }
                }
            }
            run.accepted.push(i);
            if restart {
                break;
            }
        }
        if restart {
            continue;
        }
        out.name = run.name;
        out.creator = run.creator;
        out.members = run.members;
        out.removals = run.removals;
        out.ever = run.members_at.values().flatten().copied().collect();
        out.rejected.extend(run.rejected);
        let mut parents_of_counted = BTreeSet::new();
        for &i in &run.accepted {
            let op = &ops[i];
            for p in &op.state.parents {
                parents_of_counted.insert(p.epoch);
            }
            out.order.push(op.epoch);
            out.epochs.insert(
                op.epoch,
                EpochInfo {
                    op: op.id,
                    device: op.device,
                    person: op.person,
                    change: op.state.change.clone(),
                    members: run.members_at.remove(&op.epoch).unwrap_or_default(),
                    recipients: op.state.recipients.clone(),
                    past: past[i].clone(),
                },
            );
        }
        out.heads = out
            .order
            .iter()
            .filter(|e| !parents_of_counted.contains(e))
            .copied()
            .collect();
        return out;
    }
}

/// Parents before children, ready ops by entry id; ops whose parents never
/// all arrive (or that form a cycle) wait.
fn topological(ops: &[Op], by_epoch: &BTreeMap<EpochId, usize>, out: &mut Resolved) -> Vec<usize> {
    let mut missing: Vec<usize> = vec![0; ops.len()];
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); ops.len()];
    for (i, op) in ops.iter().enumerate() {
        let parents: BTreeSet<EpochId> = op.state.parents.iter().map(|p| p.epoch).collect();
        for p in parents {
            missing[i] += 1;
            if let Some(&j) = by_epoch.get(&p) {
                children[j].push(i);
            }
        }
    }
    let mut ready: BTreeSet<([u8; 32], usize)> = ops
        .iter()
        .enumerate()
        .filter(|(i, _)| missing[*i] == 0)
        .map(|(i, op)| (*op.id.as_bytes(), i))
        .collect();
    let mut order = Vec::with_capacity(ops.len());
    while let Some(first) = ready.pop_first() {
        let i = first.1;
        order.push(i);
        for &c in &children[i] {
            missing[c] -= 1;
            if missing[c] == 0 {
                ready.insert((*ops[c].id.as_bytes(), c));
            }
        }
    }
    let placed: BTreeSet<usize> = order.iter().copied().collect();
    out.waiting = (0..ops.len())
        .filter(|i| !placed.contains(i))
        .map(|i| ops[i].id)
        .collect();
    order
}

fn pasts(
    ops: &[Op],
    by_epoch: &BTreeMap<EpochId, usize>,
    order: &[usize],
) -> Vec<BTreeSet<EpochId>> {
    let mut past: Vec<BTreeSet<EpochId>> = vec![BTreeSet::new(); ops.len()];
    for &i in order {
        let mut mine = BTreeSet::new();
        for p in &ops[i].state.parents {
            mine.insert(p.epoch);
            if let Some(&j) = by_epoch.get(&p.epoch) {
                mine.extend(past[j].iter().copied());
            }
        }
        past[i] = mine;
    }
    past
}

#[derive(Default)]
struct Replay {
    name: Option<String>,
    creator: Option<AuthorId>,
    members: BTreeSet<AuthorId>,
    members_at: BTreeMap<EpochId, BTreeSet<AuthorId>>,
    removals: Vec<Removal>,
    accepted: Vec<usize>,
    rejected: Vec<Rejected>,
}

impl Replay {
    fn check(&self, circle: &CircleId, op: &Op, past: &BTreeSet<EpochId>) -> Result<(), String> {
        if let Change::Create { .. } = op.state.change {
            if circle_id(&op.epoch) != *circle {
                return Err("it creates another circle".into());
            }
            if !op.state.parents.is_empty() {
                return Err("a circle's creation follows no earlier epoch".into());
            }
            if self.creator.is_some() {
                return Err("the circle was already created".into());
            }
            return Ok(());
        }
        if op.state.parents.is_empty() {
            return Err("a change must follow an earlier epoch".into());
        }
        if !self.members.contains(&op.person) {
            return Err("its author is not a member".into());
        }
        if cut_off(
            &self.removals,
            &op.person,
            &op.device,
            op.seq,
            &op.epoch,
            past,
        ) {
            return Err("written after its author was removed".into());
        }
        if let Change::Remove { person, .. } = &op.state.change
            && !self.members.contains(person)
        {
            return Err("removes someone who is not a member".into());
        }
        Ok(())
    }

    fn apply(&mut self, op: &Op, _past: &BTreeSet<EpochId>) {
        match &op.state.change {
            Change::Create { name, members } => {
                self.name = Some(name.clone());
                self.creator = Some(op.person);
                self.members.insert(op.person);
                self.members.extend(members.iter().copied());
            }
            Change::Add { person, .. } => {
                self.members.insert(*person);
            }
            Change::Remove { person, seen } => {
                self.members.remove(person);
                self.removals.push(Removal {
                    epoch: op.epoch,
                    person: *person,
                    seen: seen.iter().map(|s| (s.key, s.seq)).collect(),
                });
            }
            Change::Rekey => {}
        }
        self.members_at.insert(op.epoch, self.members.clone());
    }
}
