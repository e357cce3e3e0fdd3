//! Judging epochs in their own views (PROTOCOL.md §12.4, steps 3–4).

use std::collections::BTreeSet;

use super::Op;
use super::graph::{Bits, Graph, Kind};
use crate::circle::EpochId;
use crate::keys::AuthorId;

/// Why a placed epoch does not count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reason {
    Void,
    Dropped,
    OtherCircle,
    CreateWithParents,
    NoParents,
    AuthorNotMember,
    TargetNotMember,
}

impl Reason {
    pub(super) fn text(self) -> &'static str {
        match self {
            Reason::Void => "its author signed another change under the same epoch id",
            Reason::Dropped => {
                "its author was removed by a change it does not follow and that does not follow it"
            }
            Reason::OtherCircle => "it creates another circle",
            Reason::CreateWithParents => "a circle's creation follows no earlier epoch",
            Reason::NoParents => "a change must follow an earlier epoch",
            Reason::AuthorNotMember => "its author is not a member in the epochs it follows",
            Reason::TargetNotMember => {
                "removes someone who is not a member in the epochs it follows"
            }
        }
    }
}

/// Which placed epochs count, given the dropped ones.
#[derive(Debug, Clone)]
pub(super) struct Eval {
    pub(super) counted: Bits,
    /// Why each placed epoch that does not count does not.
    pub(super) reasons: Vec<Option<Reason>>,
}

impl Eval {
    /// Rule 3: whether person `person` (an index) is a member in the view
    /// of `set` (positions before any still being judged).
    pub(super) fn member(&self, graph: &Graph, person: usize, set: &Bits) -> bool {
        let removes = &graph.removes[person];
        graph.adds[person].iter().any(|&a| {
            set.get(a)
                && self.counted.get(a)
                && removes
                    .iter()
                    .all(|&r| !set.get(r) || !self.counted.get(r) || graph.past[a].get(r))
        })
    }

    /// The members in the view of `set`: everyone with an add there.
    pub(super) fn members(&self, graph: &Graph, set: &Bits) -> BTreeSet<AuthorId> {
        (0..graph.persons.len())
            .filter(|&p| self.member(graph, p, set))
            .map(|p| graph.persons[p])
            .collect()
    }
}

/// Rule 2, in causal order: each epoch is judged in its own view only.
pub(super) fn evaluate(
    root: &EpochId,
    ops: &[Op],
    graph: &Graph,
    dropped: &Bits,
    forced: &Bits,
) -> Eval {
    let n = graph.nodes.len();
    let mut eval = Eval {
        counted: Bits::new(n),
        reasons: vec![None; n],
    };
    for pos in 0..n {
        match judge(root, ops, graph, dropped, forced, &eval, pos) {
            Err(reason) => eval.reasons[pos] = Some(reason),
            Ok(_) => eval.counted.set(pos),
        }
    }
    eval
}

/// [`evaluate`] with more epochs dropped than `base` was made with
/// (`base_dropped`), judging again only the epochs whose drop changed or
/// whose view holds an epoch whose verdict changed.
pub(super) fn evaluate_more(
    root: &EpochId,
    ops: &[Op],
    graph: &Graph,
    base: &Eval,
    base_dropped: &Bits,
    dropped: &Bits,
    forced: &Bits,
) -> Eval {
    let n = graph.nodes.len();
    let mut eval = base.clone();
    let mut changed = Bits::new(n);
    for pos in 0..n {
        if dropped.get(pos) == base_dropped.get(pos) && !changed.intersects(&graph.past[pos]) {
            continue;
        }
        let was = eval.counted.get(pos);
        match judge(root, ops, graph, dropped, forced, &eval, pos) {
            Err(reason) => {
                eval.reasons[pos] = Some(reason);
                eval.counted.clear(pos);
            }
            Ok(_) => {
                eval.reasons[pos] = None;
                eval.counted.set(pos);
            }
        }
        if eval.counted.get(pos) != was {
            changed.set(pos);
        }
    }
    eval
}

pub(super) fn judge<'a>(
    root: &EpochId,
    ops: &'a [Op],
    graph: &Graph,
    dropped: &Bits,
    forced: &Bits,
    eval: &Eval,
    pos: usize,
) -> Result<&'a Op, Reason> {
    let node = &graph.nodes[pos];
    let op = &ops[node.op.ok_or(Reason::Void)?];
    if dropped.get(pos) {
        return Err(Reason::Dropped);
    }
    if forced.get(pos) {
        // A removal in a cycle of removals: it stands (§12.4).
        return Ok(op);
    }
    let past = &graph.past[pos];
    let who = &graph.who[pos];
    match who.kind {
        Kind::Create => {
            if node.epoch != *root {
                return Err(Reason::OtherCircle);
            }
            if !op.state.parents.is_empty() {
                return Err(Reason::CreateWithParents);
            }
            Ok(op)
        }
        kind => {
            if op.state.parents.is_empty() {
                return Err(Reason::NoParents);
            }
            if !eval.member(graph, who.author, past) {
                return Err(Reason::AuthorNotMember);
            }
            if kind == Kind::Remove && !eval.member(graph, who.targets[0], past) {
                return Err(Reason::TargetNotMember);
            }
            Ok(op)
        }
    }
}
