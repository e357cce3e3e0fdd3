//! The placed epochs and their causal order (PROTOCOL.md §12.4, steps
//! 1–2): caps, equivocation, placing, pasts and what each epoch's device
//! provably knew.

use std::collections::{BTreeMap, BTreeSet};

use super::{Op, Rejected, Resolved};
use crate::circle::{Change, EpochId, MAX_EPOCHS, MAX_EPOCHS_PER_DEVICE};
use crate::keys::AuthorId;

/// A fixed-size set of positions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(super) struct Bits(pub(super) Vec<u64>);

impl Bits {
    pub(super) fn new(n: usize) -> Bits {
        Bits(vec![0; n.div_ceil(64)])
    }
    pub(super) fn get(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
    pub(super) fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    pub(super) fn clear(&mut self, i: usize) {
        self.0[i / 64] &= !(1 << (i % 64));
    }
    pub(super) fn or(&mut self, other: &Bits) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a |= b;
        }
    }
    pub(super) fn intersects(&self, other: &Bits) -> bool {
        self.0.iter().zip(&other.0).any(|(a, b)| a & b != 0)
    }
    pub(super) fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(i, w)| {
            (0..64)
                .filter(move |b| w & (1 << b) != 0)
                .map(move |b| i * 64 + b)
        })
    }
}

/// The placed epochs, parents before children, with their pasts.
#[derive(Debug, Clone, Default)]
pub(super) struct Graph {
    /// Epoch id → position.
    pub(super) index: BTreeMap<EpochId, usize>,
    pub(super) nodes: Vec<Node>,
    /// Every epoch each one follows, transitively.
    pub(super) past: Vec<Bits>,
    /// What each epoch's author provably knew when writing it: what it
    /// follows, and what its device wrote or followed earlier in its log
    /// (a device's log is hash-chained: a lower seq was signed first).
    pub(super) known: Vec<Bits>,
    /// Every person named (as author or in a change), in key order.
    pub(super) persons: Vec<AuthorId>,
    /// Each epoch's change, with persons as indices into `persons`.
    pub(super) who: Vec<Who>,
    /// Every placed, non-void add of each person (the `Create` for its
    /// author and members) and removal, by position.
    pub(super) adds: Vec<Vec<usize>>,
    pub(super) removes: Vec<Vec<usize>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Create,
    Add,
    Remove,
    Rekey,
}

/// An epoch's change in indices: its author's person, and the persons it
/// adds (a `Create`: its members) or removes.
#[derive(Debug, Clone)]
pub(super) struct Who {
    pub(super) kind: Kind,
    pub(super) author: usize,
    pub(super) targets: Vec<usize>,
}

#[derive(Debug, Clone)]
pub(super) struct Node {
    pub(super) epoch: EpochId,
    /// The op, unless the epoch id was signed twice (void).
    pub(super) op: Option<usize>,
    pub(super) parents: Vec<usize>,
}

/// Every person some op makes a member (a `Create`'s author and members,
/// an `Add`'s person), whether or not that op counts: whoever is not
/// among them can never be a member.
pub fn persons_added(ops: &[Op]) -> BTreeSet<AuthorId> {
    ops.iter()
        .flat_map(|o| match &o.state.change {
            Change::Create { members, .. } => std::iter::once(o.person)
                .chain(members.iter().copied())
                .collect(),
            Change::Add { person, .. } => vec![*person],
            _ => Vec::new(),
        })
        .collect()
}

/// The ops resolution reads: each entry once; not those of persons no
/// change ever adds (they can never count); each device's first
/// [`MAX_EPOCHS_PER_DEVICE`] (by seq); and at most [`MAX_EPOCHS`] in all,
/// taking every device's first epochs before anyone's later ones.
pub(super) fn capped(mut ops: Vec<Op>, rejected: &mut Vec<Rejected>) -> Vec<Op> {
    ops.sort_by_key(|o| (o.device, o.seq, o.id));
    ops.dedup_by(|a, b| a.id == b.id);
    let added = persons_added(&ops);
    let mut reject = |op: &Op, reason: String| rejected.push(Rejected { op: op.id, reason });
    let mut rank: BTreeMap<AuthorId, usize> = BTreeMap::new();
    let mut ranked: Vec<(usize, Op)> = Vec::with_capacity(ops.len());
    for op in ops {
        if !added.contains(&op.person) {
            reject(&op, "its author was never added to the circle".into());
            continue;
        }
        let n = rank.entry(op.device).or_default();
        *n += 1;
        if *n > MAX_EPOCHS_PER_DEVICE {
            reject(
                &op,
                format!(
                    "its device wrote more than {MAX_EPOCHS_PER_DEVICE} changes of this circle"
                ),
            );
            continue;
        }
        ranked.push((*n, op));
    }
    ranked.sort_by_key(|(n, o)| (*n, o.device, o.seq));
    let mut out = Vec::with_capacity(ranked.len().min(MAX_EPOCHS));
    for (_, op) in ranked {
        if out.len() < MAX_EPOCHS {
            out.push(op);
        } else {
            reject(
                &op,
                format!(
                    "the circle has more than {MAX_EPOCHS} changes; its devices' earlier ones come first"
                ),
            );
        }
    }
    out
}

/// Groups ops by epoch id (two under one id: void), places those whose
/// parents are all placed, parents first, and computes every past.
pub(super) fn place(ops: &[Op], out: &mut Resolved) -> Graph {
    let mut by_epoch: BTreeMap<EpochId, Vec<usize>> = BTreeMap::new();
    for (i, op) in ops.iter().enumerate() {
        by_epoch.entry(op.epoch).or_default().push(i);
    }
    let (parents_of, op_of) = versions(ops, &by_epoch, &mut out.rejected);
    let mut graph = sorted(&parents_of, &op_of);
    graph.persons = persons(ops, &graph.nodes);
    graph.who = who(ops, &graph.nodes, &graph.persons);
    (graph.adds, graph.removes) = adds_and_removes(&graph.nodes, &graph.who, graph.persons.len());
    graph.past = pasts(&graph.nodes);
    graph.known = known(ops, &graph.nodes, &graph.past);
    out.waiting = by_epoch
        .iter()
        .filter(|(e, _)| !graph.index.contains_key(e))
        .flat_map(|(_, v)| v.iter().map(|&i| ops[i].id))
        .collect();
    out.waiting.sort();
    graph
}

/// Each epoch id's parents and op (none if void), rejecting every version
/// of a void one.
fn versions(
    ops: &[Op],
    by_epoch: &BTreeMap<EpochId, Vec<usize>>,
    rejected: &mut Vec<Rejected>,
) -> (
    BTreeMap<EpochId, BTreeSet<EpochId>>,
    BTreeMap<EpochId, Option<usize>>,
) {
    // One candidate node per epoch id; a void one follows every parent its
    // versions name (so whoever followed either version still places).
    let mut parents_of: BTreeMap<EpochId, BTreeSet<EpochId>> = BTreeMap::new();
    let mut op_of: BTreeMap<EpochId, Option<usize>> = BTreeMap::new();
    for (epoch, versions) in by_epoch {
        let parents = parents_of.entry(*epoch).or_default();
        for &i in versions {
            parents.extend(ops[i].state.parents.iter().copied());
        }
        parents.remove(epoch);
        if versions.len() > 1 {
            for &i in versions {
                rejected.push(Rejected {
                    op: ops[i].id,
                    reason: "its author signed another change under the same epoch id".into(),
                });
            }
            op_of.insert(*epoch, None);
        } else {
            op_of.insert(*epoch, Some(versions[0]));
        }
    }
    (parents_of, op_of)
}

/// The epochs whose parents are all placed, parents first: a graph with
/// its index and nodes only.
fn sorted(
    parents_of: &BTreeMap<EpochId, BTreeSet<EpochId>>,
    op_of: &BTreeMap<EpochId, Option<usize>>,
) -> Graph {
    // Kahn's algorithm; ready epochs by id (any order gives the same
    // result: nothing below depends on it but the display order).
    let mut missing: BTreeMap<EpochId, usize> = BTreeMap::new();
    let mut children: BTreeMap<EpochId, Vec<EpochId>> = BTreeMap::new();
    for (epoch, parents) in parents_of {
        missing.insert(*epoch, parents.len());
        for p in parents {
            children.entry(*p).or_default().push(*epoch);
        }
    }
    let mut ready: BTreeSet<EpochId> = missing
        .iter()
        .filter(|(_, m)| **m == 0)
        .map(|(e, _)| *e)
        .collect();
    let mut graph = Graph::default();
    while let Some(epoch) = ready.pop_first() {
        let pos = graph.nodes.len();
        graph.index.insert(epoch, pos);
        let parents: Vec<usize> = parents_of[&epoch].iter().map(|p| graph.index[p]).collect();
        graph.nodes.push(Node {
            epoch,
            op: op_of[&epoch],
            parents,
        });
        for c in children.get(&epoch).into_iter().flatten() {
            if let Some(m) = missing.get_mut(c) {
                *m -= 1;
                if *m == 0 {
                    ready.insert(*c);
                }
            }
        }
    }
    graph
}

/// Every person a placed, non-void epoch names (as author or in its
/// change), in key order.
fn persons(ops: &[Op], nodes: &[Node]) -> Vec<AuthorId> {
    let mut persons: BTreeSet<AuthorId> = BTreeSet::new();
    for node in nodes {
        if let Some(i) = node.op {
            persons.insert(ops[i].person);
            match &ops[i].state.change {
                Change::Create { members, .. } => persons.extend(members.iter().copied()),
                Change::Add { person, .. } | Change::Remove { person, .. } => {
                    persons.insert(*person);
                }
                Change::Rekey => {}
            }
        }
    }
    persons.into_iter().collect()
}

/// Each placed epoch's change in indices into `persons` (a void epoch: a
/// rekey by no one).
fn who(ops: &[Op], nodes: &[Node], persons: &[AuthorId]) -> Vec<Who> {
    let index = |p: &AuthorId| persons.binary_search(p).expect("every person was listed");
    nodes
        .iter()
        .map(|node| match node.op.map(|i| &ops[i]) {
            None => Who {
                kind: Kind::Rekey,
                author: 0,
                targets: vec![],
            },
            Some(op) => {
                let (kind, targets) = match &op.state.change {
                    Change::Create { members, .. } => {
                        (Kind::Create, members.iter().map(index).collect())
                    }
                    Change::Add { person, .. } => (Kind::Add, vec![index(person)]),
                    Change::Remove { person, .. } => (Kind::Remove, vec![index(person)]),
                    Change::Rekey => (Kind::Rekey, vec![]),
                };
                Who {
                    kind,
                    author: index(&op.person),
                    targets,
                }
            }
        })
        .collect()
}

/// Every placed, non-void add and removal of each of `persons` persons,
/// by position.
fn adds_and_removes(
    nodes: &[Node],
    who: &[Who],
    persons: usize,
) -> (Vec<Vec<usize>>, Vec<Vec<usize>>) {
    let mut adds = vec![Vec::new(); persons];
    let mut removes = vec![Vec::new(); persons];
    for (pos, node) in nodes.iter().enumerate() {
        if node.op.is_none() {
            continue;
        }
        let who = &who[pos];
        match who.kind {
            Kind::Create => {
                adds[who.author].push(pos);
                for &m in &who.targets {
                    adds[m].push(pos);
                }
            }
            Kind::Add => adds[who.targets[0]].push(pos),
            Kind::Remove => removes[who.targets[0]].push(pos),
            Kind::Rekey => {}
        }
    }
    (adds, removes)
}

/// Every epoch each placed one follows, transitively.
fn pasts(nodes: &[Node]) -> Vec<Bits> {
    let n = nodes.len();
    let mut pasts: Vec<Bits> = Vec::with_capacity(n);
    for node in nodes {
        let mut past = Bits::new(n);
        for &p in &node.parents {
            past.set(p);
            past.or(&pasts[p]);
        }
        pasts.push(past);
    }
    pasts
}

/// What each placed epoch's device provably knew: its past, and what the
/// device wrote before it (a lower seq) and what that followed.
fn known(ops: &[Op], nodes: &[Node], past: &[Bits]) -> Vec<Bits> {
    // What each epoch's device had written before it (a lower seq), and
    // what that followed. An earlier epoch that follows this one (a
    // crafted log can name an epoch id before signing it) adds nothing.
    let mut by_device: BTreeMap<AuthorId, Vec<(u64, usize)>> = BTreeMap::new();
    for (pos, node) in nodes.iter().enumerate() {
        if let Some(i) = node.op {
            by_device
                .entry(ops[i].device)
                .or_default()
                .push((ops[i].seq, pos));
        }
    }
    let mut known = past.to_vec();
    for chain in by_device.values_mut() {
        chain.sort();
        for (k, &(seq, pos)) in chain.iter().enumerate() {
            for &(earlier, p) in &chain[..k] {
                if earlier < seq && !past[p].get(pos) {
                    known[pos].or(&past[p]);
                    known[pos].set(p);
                }
            }
        }
    }
    known
}
