//! Resolving a circle's membership from its epochs (PROTOCOL.md §12.4).
//!
//! Every rule here is a function of the *set* of epochs and of their
//! causal order (which epochs each one names as parents, transitively), and
//! of nothing their authors choose freely: entry ids, epoch ids, nonces,
//! timestamps and the order entries arrive in never decide anything. So a
//! writer who comes second cannot pick an id or a parent that makes it win.
//!
//! 1. An epoch id signed twice (its author equivocated) is *void*: neither
//!    version counts. Epochs wait until all their parents are known.
//! 2. An epoch *counts* if its author's person is a member in its causal
//!    view (the epochs it follows, transitively), it is not dropped (4),
//!    and for a `Remove`, the person removed is a member there too.
//! 3. Membership in a set of epochs is remove-wins: a person is a member if
//!    an add of theirs (the `Create`, an `Add`) counts and every removal of
//!    them that counts comes before that add.
//! 4. *Strong removal*: a removal of X that counts drops every epoch of X
//!    that it does not provably know (what it follows, and what its
//!    author's device wrote or followed earlier in its log) and that does
//!    not follow it: X's concurrent writes (but not X's removals of X,
//!    which agree with it). A removal dies if standing removals drop it,
//!    drop what its author's membership rests on, or, where removals it
//!    follows keep it from counting, hold every smallest set of them.
//!    Removals that would kill each other in a cycle — X and Y removing
//!    each other, a longer cycle, or one through a person X added
//!    concurrently — all stand unless one of them dies to a standing
//!    removal outside: everyone in the cycle is removed. Drops change who
//!    is a member, so this is repeated until nothing changes.
//!
//! Content is accepted by the same rules ([`Resolved::accepts`]).

mod graph;
mod judge;
mod removal;

use std::collections::{BTreeMap, BTreeSet};

use super::{Change, EpochId, EpochState};
use crate::entry::EntryId;
use crate::keys::AuthorId;
pub use graph::persons_added;
use graph::{Bits, Graph, capped, place};
use judge::{Eval, Reason, evaluate};
use removal::{Round, op_at, strong_removal};

/// Rounds of dropping before the rules stop looking for a fixpoint and
/// keep every drop made so far (crafted histories only; each round is a
/// function of the set, so every node stops the same way).
pub(super) const MAX_ROUNDS: usize = 16;
/// Most removals kept from counting by the removals it follows whose
/// subsets are all tried (2^6 evaluations); beyond, all at once.
pub(super) const MAX_BLOCKERS: usize = 6;

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
    /// Members in this epoch's view, itself included.
    pub members: BTreeSet<AuthorId>,
    pub recipients: Vec<AuthorId>,
    pub parents: Vec<EpochId>,
}

/// A membership change that does not count, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub op: EntryId,
    pub reason: String,
}

/// A removal that counts, as content is cut off by it.
#[derive(Debug, Clone)]
struct Removal {
    pos: usize,
    person: AuthorId,
    /// For each key of the removed person: the highest seq of theirs that
    /// comes before the removal (what its author listed as seen, or the
    /// key's own epochs the removal follows, whichever is higher).
    seen: BTreeMap<AuthorId, u64>,
}

/// A placed epoch that may hold content: not void, all parents known.
#[derive(Debug, Clone)]
struct Container {
    pos: usize,
    members: BTreeSet<AuthorId>,
}

/// A circle as resolved from its readable epochs.
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    pub name: Option<String>,
    pub creator: Option<AuthorId>,
    pub members: BTreeSet<AuthorId>,
    /// Epochs that count, parents before children (concurrent ones by
    /// epoch id: for display only, nothing depends on it).
    pub order: Vec<EpochId>,
    pub epochs: BTreeMap<EpochId, EpochInfo>,
    /// Placed epochs that no placed epoch follows: what a new epoch
    /// follows. Epochs that do not count are among them, so that a writer
    /// names everything it holds.
    pub heads: Vec<EpochId>,
    pub rejected: Vec<Rejected>,
    /// Changes waiting for an epoch they follow.
    pub waiting: Vec<EntryId>,
    /// Everyone who was a member in the view of some epoch that counts.
    pub ever: BTreeSet<AuthorId>,
    /// Rounds of dropping the rules took (for the cost bounds).
    pub rounds: usize,
    graph: Graph,
    removals: Vec<Removal>,
    containers: BTreeMap<EpochId, Container>,
}

impl Resolved {
    /// The epoch new content goes to: the only head, if it counts.
    pub fn current(&self) -> Option<&EpochId> {
        match self.heads.as_slice() {
            [only] if self.epochs.contains_key(only) => Some(only),
            _ => None,
        }
    }

    /// The last epoch that counts, in display order.
    pub fn latest(&self) -> Option<&EpochId> {
        self.order.last()
    }

    /// Whether epoch `a` follows epoch `b` (names it as a parent,
    /// transitively).
    pub fn follows(&self, a: &EpochId, b: &EpochId) -> bool {
        match (self.graph.index.get(a), self.graph.index.get(b)) {
            (Some(&a), Some(&b)) => self.graph.past[a].get(b),
            _ => false,
        }
    }

    /// Whether content by `device` (of `person`) at `seq`, sealed for
    /// `epoch`, belongs to the circle: the epoch is placed and not void,
    /// the person is a member in its view, and no removal of them that
    /// counts cuts it off (the epoch does not follow the removal and the
    /// write is past what the removal saw of that device).
    pub fn accepts(&self, person: &AuthorId, device: &AuthorId, seq: u64, epoch: &EpochId) -> bool {
        let Some(c) = self.containers.get(epoch) else {
            return false;
        };
        c.members.contains(person)
            && !self.removals.iter().any(|r| {
                r.person == *person
                    && r.pos != c.pos
                    && !self.graph.past[c.pos].get(r.pos)
                    && seq > r.seen.get(device).copied().unwrap_or(0)
            })
    }
}

/// Resolves a circle from its readable epochs. `root` is the epoch id of
/// its `Create` (the one the circle's id is derived from, §12).
pub fn resolve(root: &EpochId, ops: Vec<Op>) -> Resolved {
    let mut out = Resolved::default();
    let ops = capped(ops, &mut out.rejected);
    let graph = place(&ops, &mut out);
    let settled = settle(root, &ops, &graph);
    out.rounds = settled.rounds;
    finish(&ops, graph, &settled.eval, &settled.alive, &mut out);
    out
}

/// A settled resolution: the fixpoint of rule 4 from a start.
struct Settled {
    eval: Eval,
    alive: Vec<usize>,
    rounds: usize,
}

/// Rule 4 repeated, from no drops, until nothing changes.
fn settle(root: &EpochId, ops: &[Op], graph: &Graph) -> Settled {
    let n = graph.nodes.len();
    let mut round = Round::new(n);
    let mut union = Bits::new(n);
    let mut rounds = 0;
    loop {
        rounds += 1;
        let eval = evaluate(root, ops, graph, &round.dropped, &round.forced);
        let (alive, next) = strong_removal(root, ops, graph, &round, &eval);
        if next == round {
            return Settled {
                eval,
                alive,
                rounds,
            };
        }
        union.or(&next.dropped);
        if rounds >= MAX_ROUNDS {
            // No fixpoint: every drop made in any round stays.
            round = next;
            round.dropped = union;
            let eval = evaluate(root, ops, graph, &round.dropped, &round.forced);
            let (alive, _) = strong_removal(root, ops, graph, &round, &eval);
            return Settled {
                eval,
                alive,
                rounds,
            };
        }
        round = next;
    }
}

/// Fills `out` from the settled resolution: members, heads, what each
/// placed epoch holds and whether it counts, and the removals that stand.
fn finish(ops: &[Op], graph: Graph, eval: &Eval, alive: &[usize], out: &mut Resolved) {
    out.members = eval.members(&graph, &eval.counted);
    out.heads.extend(heads(&graph));
    for (pos, node) in graph.nodes.iter().enumerate() {
        let Some(i) = node.op else {
            continue;
        };
        record(&ops[i], &graph, eval, pos, out);
    }
    // Removals that stand cut off content: what they saw of each key of
    // the removed person, raised to that key's own epochs they provably
    // knew.
    for &r in alive {
        if let Some(removal) = cut_off(ops, &graph, r) {
            out.removals.push(removal);
        }
    }
    out.rejected.sort_by_key(|r| r.op);
    out.rejected.dedup();
    out.graph = graph;
}

/// The placed epochs that no placed epoch follows, in placing order.
fn heads(graph: &Graph) -> Vec<EpochId> {
    let mut followed = Bits::new(graph.nodes.len());
    for past in &graph.past {
        followed.or(past);
    }
    graph
        .nodes
        .iter()
        .enumerate()
        .filter(|(pos, _)| !followed.get(*pos))
        .map(|(_, node)| node.epoch)
        .collect()
}

/// Records the placed, non-void epoch at `pos` (its `op`): the content it
/// may hold, and either why it does not count or what it is.
fn record(op: &Op, graph: &Graph, eval: &Eval, pos: usize, out: &mut Resolved) {
    let n = graph.nodes.len();
    let epoch = graph.nodes[pos].epoch;
    // The epoch's view: the counted epochs it follows, and itself if
    // it counts.
    let mut view = Bits::new(n);
    for p in graph.past[pos].iter().chain(std::iter::once(pos)) {
        if eval.counted.get(p) {
            view.set(p);
        }
    }
    let members = eval.members(graph, &view);
    out.containers.insert(
        epoch,
        Container {
            pos,
            members: members.clone(),
        },
    );
    if !eval.counted.get(pos) {
        out.rejected.push(Rejected {
            op: op.id,
            reason: eval.reasons[pos].map_or("", Reason::text).to_string(),
        });
        return;
    }
    if let Change::Create { name, .. } = &op.state.change {
        out.name = Some(name.clone());
        out.creator = Some(op.person);
    }
    out.ever.extend(members.iter().copied());
    out.order.push(epoch);
    out.epochs.insert(
        epoch,
        EpochInfo {
            op: op.id,
            device: op.device,
            person: op.person,
            change: op.state.change.clone(),
            members,
            recipients: op.state.recipients.clone(),
            parents: op.state.parents.clone(),
        },
    );
}

/// How the standing removal at `r` cuts off content (`None` if it is no
/// removal).
fn cut_off(ops: &[Op], graph: &Graph, r: usize) -> Option<Removal> {
    let op = op_at(ops, graph, r);
    let Change::Remove { person, seen } = &op.state.change else {
        return None;
    };
    let mut seen: BTreeMap<AuthorId, u64> = seen.iter().map(|s| (s.key, s.seq)).collect();
    for p in graph.known[r].iter() {
        if let Some(i) = graph.nodes[p].op
            && ops[i].person == *person
        {
            let s = seen.entry(ops[i].device).or_default();
            *s = (*s).max(ops[i].seq);
        }
    }
    Some(Removal {
        pos: r,
        person: *person,
        seen,
    })
}
