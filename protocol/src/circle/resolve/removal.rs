//! Strong removal (PROTOCOL.md §12.4, step 5): which removals stand,
//! what they drop, and cycles of removals.

use std::collections::{BTreeMap, BTreeSet};

use super::graph::{Bits, Graph};
use super::judge::{Eval, evaluate_more};
use super::{MAX_BLOCKERS, Op};
use crate::circle::{Change, EpochId};

/// What the rounds of rule 4 carry from one to the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Round {
    /// Epochs dropped by the removals that stood last round.
    pub(super) dropped: Bits,
    /// Removals found in a cycle: they count even if a drop takes their
    /// author's membership away (everyone in the cycle is removed).
    pub(super) forced: Bits,
    /// The cycle each forced removal belongs to (its smallest position):
    /// removals of one cycle never drop or kill each other.
    pub(super) cycle: BTreeMap<usize, usize>,
}

impl Round {
    pub(super) fn new(n: usize) -> Round {
        Round {
            dropped: Bits::new(n),
            forced: Bits::new(n),
            cycle: BTreeMap::new(),
        }
    }

    pub(super) fn mates(&self, a: usize, b: usize) -> bool {
        matches!((self.cycle.get(&a), self.cycle.get(&b)), (Some(x), Some(y)) if x == y)
    }
}

/// Rule 4 for one round: which removals stand, and the next round's
/// drops, forced removals and cycles.
///
/// For a removal `r` of X, its *drops* are X's epochs that `r` does not
/// provably know (not in [`Graph::known`]: what `r` follows, and what its
/// device wrote or followed earlier in its log) and that do not follow `r`.
/// The removals in play are those that count, and those that a counting
/// removal they follow keeps from counting (they would count without it).
/// `r` *defeats* another removal in play if its standing keeps that one
/// from counting: it drops it, drops what its author's membership rests
/// on, or is a removal it follows that takes its author's membership away.
/// Removals that defeat each other in a cycle all stand, and stay forced
/// from then on; any other removal falls if a standing one defeats it.
pub(super) fn strong_removal(
    root: &EpochId,
    ops: &[Op],
    graph: &Graph,
    round: &Round,
    eval: &Eval,
) -> (Vec<usize>, Round) {
    let n = graph.nodes.len();
    // Which epochs count with more dropped than this round's drops.
    let counted_without = |without: &Bits| {
        evaluate_more(
            root,
            ops,
            graph,
            eval,
            &round.dropped,
            without,
            &round.forced,
        )
        .counted
    };
    let is_removal = |p: usize| {
        graph.nodes[p]
            .op
            .is_some_and(|i| matches!(ops[i].state.change, Change::Remove { .. }))
    };
    let counted: Vec<usize> = eval.counted.iter().filter(|&p| is_removal(p)).collect();
    // Removals kept from counting by the removals they follow of their
    // author or of the person they remove (counted or not themselves): in
    // play if they count once all of those are dropped, and each of those
    // in play defeats them.
    let target_of = |p: usize| match &op_at(ops, graph, p).state.change {
        Change::Remove { person, .. } => *person,
        _ => unreachable!("filtered to removals"),
    };
    // For each such removal, the smallest sets of blockers whose drop
    // lets it count (every subset is tried up to MAX_BLOCKERS of them;
    // beyond, all of them at once).
    // Only a blocker that some removal could drop, or whose membership
    // could rest on what one drops, can ever stop blocking: the rest of
    // the history (a chain of changes, anything without concurrent
    // removals) skips this.
    let mut threat = Bits::new(n);
    for r in (0..n).filter(|&r| is_removal(r)) {
        threat.or(&candidates(ops, graph, r, None));
    }
    let threatened = |b: usize| threat.get(b) || threat.intersects(&graph.past[b]);
    // Only a removal of someone who is a member now can change who is.
    let members = eval.members(graph, &eval.counted);
    let mut blocked: Vec<(usize, Vec<Vec<usize>>)> = Vec::new();
    for s in (0..n).filter(|&s| {
        is_removal(s)
            && !eval.counted.get(s)
            && !round.dropped.get(s)
            && members.contains(&graph.persons[graph.who[s].targets[0]])
    }) {
        let (author, target) = (op_at(ops, graph, s).person, target_of(s));
        let blockers: Vec<usize> = graph.past[s]
            .iter()
            .filter(|&r| is_removal(r) && !round.dropped.get(r))
            .filter(|&r| {
                let t = target_of(r);
                t == author || t == target
            })
            .collect();
        if blockers.is_empty() || !blockers.iter().any(|&b| threatened(b)) {
            continue;
        }
        let counts_without = |set: &[usize]| {
            let mut without = round.dropped.clone();
            for &r in set {
                without.set(r);
            }
            counted_without(&without).get(s)
        };
        let mut minimal: Vec<Vec<usize>> = Vec::new();
        if !counts_without(&blockers) {
            continue;
        }
        if blockers.len() == 1 {
            minimal.push(blockers);
        } else if blockers.len() <= MAX_BLOCKERS {
            let mut subsets: Vec<Vec<usize>> = (1u32..(1 << blockers.len()))
                .map(|mask| {
                    (0..blockers.len())
                        .filter(|b| mask & (1 << b) != 0)
                        .map(|b| blockers[b])
                        .collect()
                })
                .collect();
            subsets.sort_by_key(Vec::len);
            for set in subsets {
                let covers = minimal
                    .iter()
                    .any(|m: &Vec<usize>| m.iter().all(|r| set.contains(r)));
                if !covers && counts_without(&set) {
                    minimal.push(set);
                }
            }
        } else {
            minimal.push(blockers);
        }
        if !minimal.is_empty() {
            blocked.push((s, minimal));
        }
    }
    let in_play: BTreeSet<usize> = counted
        .iter()
        .copied()
        .chain(blocked.iter().map(|(s, _)| *s))
        .collect();
    let blockers_of: BTreeMap<usize, Vec<Vec<usize>>> = blocked.iter().cloned().collect();
    let mut invalidates: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (s, sets) in &blocked {
        let union: BTreeSet<usize> = sets.iter().flatten().copied().collect();
        for r in union.into_iter().filter(|r| in_play.contains(r)) {
            invalidates.entry(r).or_default().push(*s);
        }
    }
    let removals: Vec<usize> = in_play.into_iter().collect();
    let index: BTreeMap<usize, usize> = removals.iter().enumerate().map(|(i, &r)| (r, i)).collect();
    // Epochs that count, or would but for last round's drops (so a drop
    // stays made while its removal stands), and removals in play.
    let mut eligible = eval.counted.clone();
    eligible.or(&round.dropped);
    for &r in &removals {
        eligible.set(r);
    }
    let drops: Vec<Bits> = removals
        .iter()
        .map(|&r| candidates(ops, graph, r, Some((&eligible, round))))
        .collect();
    let mut defeats: Vec<Vec<usize>> = vec![Vec::new(); removals.len()];
    for (r, ss) in &invalidates {
        for s in ss {
            if !round.mates(*r, *s) {
                defeats[index[r]].push(index[s]);
            }
        }
    }
    for (i, d) in drops.iter().enumerate() {
        let affected: Vec<usize> = (0..removals.len())
            .filter(|&j| {
                j != i
                    && !round.mates(removals[i], removals[j])
                    && (d.get(removals[j]) || d.intersects(&graph.past[removals[j]]))
            })
            .collect();
        if affected.is_empty() {
            continue;
        }
        let mut without = round.dropped.clone();
        without.or(d);
        let after = counted_without(&without);
        for j in affected {
            let r = removals[j];
            // Dropped outright; or, counted, it stops counting; or, kept
            // from counting by the removals it follows, it would still not
            // count without them.
            let defeated = d.get(r)
                || if eval.counted.get(r) {
                    !after.get(r)
                } else {
                    // No smallest way to let it count survives the drops.
                    blockers_of[&r].iter().all(|set| {
                        let mut also = without.clone();
                        for &b in set {
                            also.set(b);
                        }
                        !counted_without(&also).get(r)
                    })
                };
            if defeated {
                defeats[i].push(j);
            }
        }
    }
    let component = components(&defeats);
    let mut next = Round {
        dropped: Bits::new(n),
        forced: round.forced.clone(),
        cycle: round.cycle.clone(),
    };
    // Cycles: every removal in one stands, from now on together.
    let mut members_of: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, &c) in component.of.iter().enumerate() {
        members_of.entry(c).or_default().push(i);
    }
    for group in members_of.values().filter(|g| g.len() > 1) {
        let mut positions: BTreeSet<usize> = group.iter().map(|&i| removals[i]).collect();
        // Merge with the cycles its members were already in.
        let old: BTreeSet<usize> = positions
            .iter()
            .filter_map(|p| next.cycle.get(p).copied())
            .collect();
        for (p, c) in &next.cycle {
            if old.contains(c) {
                positions.insert(*p);
            }
        }
        let id = *positions.first().expect("a cycle has members");
        for p in positions {
            next.cycle.insert(p, id);
            next.forced.set(p);
        }
    }
    // Components sources first: a removal falls if a standing removal of
    // another component defeats it.
    let mut order: Vec<usize> = (0..removals.len()).collect();
    order.sort_by_key(|&i| component.rank[component.of[i]]);
    let mut alive = vec![true; removals.len()];
    for &i in &order {
        alive[i] = !(0..removals.len()).any(|k| {
            alive[k]
                && component.of[k] != component.of[i]
                && !next.mates(removals[k], removals[i])
                && defeats[k].contains(&i)
        });
    }
    for (i, d) in drops.iter().enumerate() {
        if alive[i] {
            for p in d.iter() {
                if !next.mates(p, removals[i]) {
                    next.dropped.set(p);
                }
            }
        } else if eval.counted.get(removals[i]) {
            // A removal that fell stops counting itself.
            next.dropped.set(removals[i]);
        }
    }
    let living = removals
        .iter()
        .zip(&alive)
        .filter(|(r, a)| **a && eval.counted.get(**r))
        .map(|(r, _)| *r)
        .collect();
    (living, next)
}

/// A removal's candidates: the epochs of the person it removes that it
/// does not provably know and that do not follow it (`counted`: only
/// those eligible — counting, dropped last round, or removals in play —
/// and not of its cycle).
pub(super) fn candidates(
    ops: &[Op],
    graph: &Graph,
    r: usize,
    counted: Option<(&Bits, &Round)>,
) -> Bits {
    let n = graph.nodes.len();
    let Change::Remove { person: x, .. } = &op_at(ops, graph, r).state.change else {
        unreachable!("only removals have candidates")
    };
    let mut d = Bits::new(n);
    for (p, node) in graph.nodes.iter().enumerate() {
        if p != r
            && counted.is_none_or(|(eligible, round)| eligible.get(p) && !round.mates(p, r))
            && node.op.is_some_and(|i| ops[i].person == *x)
            && !graph.known[r].get(p)
            && !graph.past[p].get(r)
        {
            d.set(p);
        }
    }
    d
}

pub(super) fn op_at<'a>(ops: &'a [Op], graph: &Graph, pos: usize) -> &'a Op {
    &ops[graph.nodes[pos].op.expect("counted epochs are not void")]
}

/// Strongly connected components of the kill graph, with a rank that
/// orders them so that every kill goes from a lower rank to a higher one
/// (or stays within a component).
pub(super) struct Components {
    pub(super) of: Vec<usize>,
    pub(super) rank: Vec<usize>,
}

pub(super) fn components(edges: &[Vec<usize>]) -> Components {
    // Tarjan's algorithm, iterative. It emits components in reverse
    // topological order.
    let n = edges.len();
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut of = vec![usize::MAX; n];
    let mut count = 0;
    let mut next = 0;
    for start in 0..n {
        if index[start] != usize::MAX {
            continue;
        }
        let mut work: Vec<(usize, usize)> = vec![(start, 0)];
        while let Some(&mut (v, ref mut e)) = work.last_mut() {
            if *e == 0 && index[v] == usize::MAX {
                index[v] = next;
                low[v] = next;
                next += 1;
                stack.push(v);
                on_stack[v] = true;
            }
            if let Some(&w) = edges[v].get(*e) {
                *e += 1;
                if index[w] == usize::MAX {
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    of[w] = count;
                    if w == v {
                        break;
                    }
                }
                count += 1;
            }
        }
    }
    // Tarjan emits sinks first: reverse for sources first.
    let rank = (0..count).map(|c| count - 1 - c).collect();
    Components { of, rank }
}
