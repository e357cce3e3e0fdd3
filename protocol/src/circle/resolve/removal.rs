//! Strong removal (PROTOCOL.md §12.4, step 5): which removals stand,
//! what they drop, and cycles of removals.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::graph::{Bits, Graph};
use super::judge::{Eval, evaluate_more};
use super::{MAX_BLOCKERS, MAX_ROUNDS, Op};
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

    /// Makes `positions` one cycle, merged with the cycles any of them
    /// was already in: they all stand, from now on together.
    pub(super) fn join(&mut self, mut positions: BTreeSet<usize>) {
        let old: BTreeSet<usize> = positions
            .iter()
            .filter_map(|p| self.cycle.get(p).copied())
            .collect();
        for (p, c) in &self.cycle {
            if old.contains(c) {
                positions.insert(*p);
            }
        }
        let Some(&id) = positions.first() else {
            return;
        };
        for p in positions {
            self.cycle.insert(p, id);
            self.forced.set(p);
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
/// The removals in play are those that count, and those that removals
/// they follow keep from counting (they would count without a smallest
/// set of them). `r` *defeats* another removal in play if its standing
/// keeps that one from counting: it drops it or drops what its author's
/// membership rests on; a removal kept from counting falls when every
/// smallest set of its blockers holds a standing one. Removals that
/// defeat each other in a cycle, none of them defeated from outside, all
/// stand, and stay forced from then on; any other removal falls if
/// standing ones defeat it ([`stand`]).
pub(super) fn strong_removal(
    root: &EpochId,
    ops: &[Op],
    graph: &Graph,
    round: &Round,
    eval: &Eval,
) -> (Vec<usize>, Round) {
    let n = graph.nodes.len();
    // Which epochs count with more dropped than this round's drops.
    // Remembered: the same drops are tried again for other removals, and
    // in every pass after a cycle forms.
    let memo: RefCell<HashMap<Bits, Bits>> = RefCell::new(HashMap::new());
    let counted_without = |without: &Bits| -> Bits {
        if let Some(hit) = memo.borrow().get(without) {
            return hit.clone();
        }
        let counted = evaluate_more(
            root,
            ops,
            graph,
            eval,
            &round.dropped,
            without,
            &round.forced,
        )
        .counted;
        memo.borrow_mut().insert(without.clone(), counted.clone());
        counted
    };
    let is_removal = |p: usize| {
        graph.nodes[p]
            .op
            .is_some_and(|i| matches!(ops[i].state.change, Change::Remove { .. }))
    };
    let counted: Vec<usize> = eval.counted.iter().filter(|&p| is_removal(p)).collect();
    // Removals kept from counting by the removals they follow of a person
    // their standing rests on ([`support`]: their author, the person they
    // remove, whoever added either, transitively), counted or not
    // themselves: in play if they count once those blockers are dropped.
    // Only a blocker that some removal could drop, or whose membership
    // could rest on what one drops, can ever stop blocking: the others
    // are left out (and the rest of the history — a chain of changes,
    // anything without concurrent removals — skips this). For each such removal, the
    // smallest sets of blockers whose drop lets it count (every subset is
    // tried up to MAX_BLOCKERS of them; beyond, all of them at once).
    let mut threat = Bits::new(n);
    for r in (0..n).filter(|&r| is_removal(r)) {
        threat.or(&candidates(ops, graph, r, None));
    }
    let threatened = |b: usize| threat.get(b) || threat.intersects(&graph.past[b]);
    // Only a removal of someone who is a member now can change who is —
    // or of someone who left by her own hand: by removing herself, or by
    // a removal from a person she added (whose add the removal would
    // drop, with her other concurrent writes).
    let members = eval.members(graph, &eval.counted);
    let left_by_own_hand = |t: usize| {
        let mut set = eval.counted.clone();
        for &r in &graph.removes[t] {
            let a = graph.who[r].author;
            if a == t
                || graph.adds[a]
                    .iter()
                    .any(|&x| eval.counted.get(x) && graph.who[x].author == t)
            {
                set.clear(r);
            }
        }
        eval.member(graph, t, &set)
    };
    let mut blocked: Vec<(usize, Vec<Vec<usize>>)> = Vec::new();
    for s in (0..n).filter(|&s| {
        is_removal(s) && !eval.counted.get(s) && !round.dropped.get(s) && {
            let t = graph.who[s].targets[0];
            members.contains(&graph.persons[t]) || left_by_own_hand(t)
        }
    }) {
        let support = support(graph, s);
        let blockers: Vec<usize> = graph.past[s]
            .iter()
            .filter(|&r| is_removal(r) && !round.dropped.get(r))
            .filter(|&r| support.contains(&graph.who[r].targets[0]))
            .filter(|&r| threatened(r))
            .collect();
        if blockers.is_empty() {
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
    let removals: Vec<usize> = in_play.into_iter().collect();
    let index: BTreeMap<usize, usize> = removals.iter().enumerate().map(|(i, &r)| (r, i)).collect();
    // Epochs that count, or would but for last round's drops (so a drop
    // stays made while its removal stands), and removals in play.
    let mut eligible = eval.counted.clone();
    eligible.or(&round.dropped);
    for &r in &removals {
        eligible.set(r);
    }
    // What each removal in play drops and which others it defeats, with
    // removals of one cycle (`mates`) never dropping or defeating each
    // other.
    let defeats_with = |mates: &Round, base: &Bits| -> (Vec<Bits>, Defeats) {
        let base_counted = counted_without(base);
        let drops: Vec<Bits> = removals
            .iter()
            .map(|&r| candidates(ops, graph, r, Some((&eligible, mates))))
            .collect();
        let mut defeats = Defeats {
            direct: vec![Vec::new(); removals.len()],
            blocked_by: vec![Vec::new(); removals.len()],
        };
        for (s, sets) in &blocked {
            // A blocker out of play counts nowhere: its set is met.
            defeats.blocked_by[index[s]] = sets
                .iter()
                .map(|set| {
                    set.iter()
                        .filter(|&&r| index.contains_key(&r) && !mates.mates(r, *s))
                        .map(|r| index[r])
                        .collect()
                })
                .collect();
        }
        for (i, d) in drops.iter().enumerate() {
            let affected: Vec<usize> = (0..removals.len())
                .filter(|&j| {
                    j != i
                        && !mates.mates(removals[i], removals[j])
                        && (d.get(removals[j]) || d.intersects(&graph.past[removals[j]]))
                })
                .collect();
            if affected.is_empty() {
                continue;
            }
            let mut without = base.clone();
            without.or(d);
            let after = counted_without(&without);
            for j in affected {
                let r = removals[j];
                // Dropped outright; or, counted, it stops counting; or,
                // kept from counting by the removals it follows, it would
                // still not count without them.
                let defeated = d.get(r)
                    || if eval.counted.get(r) {
                        base_counted.get(r) && !after.get(r)
                    } else {
                        // No smallest way to let it count survives the
                        // drops.
                        blockers_of[&r].iter().all(|set| {
                            let mut also = without.clone();
                            for &b in set {
                                also.set(b);
                            }
                            !counted_without(&also).get(r)
                        })
                    };
                if defeated {
                    defeats.direct[i].push(j);
                }
            }
        }
        (drops, defeats)
    };
    let mut next = Round {
        dropped: Bits::new(n),
        forced: round.forced.clone(),
        cycle: round.cycle.clone(),
    };
    let all: Vec<usize> = (0..removals.len()).collect();
    // A cycle found makes its removals mates, which changes what they
    // drop and so whom the others defeat (a defeat that rested on a drop
    // between mates is gone): judged again until no new cycle forms.
    // Every pass merges two groups or more, so this ends.
    let (drops, alive) = loop {
        // The drops of the counted removals nobody defeats are made
        // before judging what the others' drops do: a defeat must not
        // rest on an epoch that an uncontested removal drops anyway.
        let mut base = round.dropped.clone();
        let mut tries = 0;
        let (drops, mut defeats, uncontested) = loop {
            let (drops, defeats) = defeats_with(&next, &base);
            let hit = defeats.hit();
            let uncontested: Vec<usize> = (0..removals.len())
                .filter(|&u| !hit[u] && eval.counted.get(removals[u]))
                .collect();
            let mut wider = round.dropped.clone();
            for &u in &uncontested {
                wider.or(&drops[u]);
            }
            tries += 1;
            if wider == base || tries > MAX_ROUNDS {
                break (drops, defeats, uncontested);
            }
            base = wider;
        };
        // A removal that those drops alone keep from counting is defeated
        // by the uncontested removals whose drops reach it.
        let base_counted = counted_without(&base);
        for (j, &r) in removals.iter().enumerate() {
            if !eval.counted.get(r) || base_counted.get(r) {
                continue;
            }
            for &u in &uncontested {
                let d = &drops[u];
                if u != j
                    && (d.get(r) || d.intersects(&graph.past[r]))
                    && !defeats.direct[u].contains(&j)
                {
                    defeats.direct[u].push(j);
                }
            }
        }
        let mut alive = vec![false; removals.len()];
        let mut cycles = Vec::new();
        stand(&defeats, &defeats.edges(), &all, &mut alive, &mut cycles);
        if cycles.is_empty() {
            break (drops, alive);
        }
        // Cycles: every removal in one stands, from now on together.
        for group in cycles {
            next.join(group.iter().map(|&i| removals[i]).collect());
        }
    };
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

/// The persons removal `s`'s standing rests on: its author and the person
/// it removes, and, transitively, the authors of the adds of any of them
/// that `s` follows (whoever added its author, whoever added them, …).
/// Only a removal of one of them can keep `s` from counting.
fn support(graph: &Graph, s: usize) -> BTreeSet<usize> {
    let who = &graph.who[s];
    let mut support: BTreeSet<usize> = [who.author, who.targets[0]].into();
    let mut todo: Vec<usize> = support.iter().copied().collect();
    while let Some(p) = todo.pop() {
        for &a in &graph.adds[p] {
            if graph.past[s].get(a) && support.insert(graph.who[a].author) {
                todo.push(graph.who[a].author);
            }
        }
    }
    support
}

/// Whom each removal in play defeats (indices into the removals in play).
struct Defeats {
    /// Outright: its drops take them out or keep them from counting.
    direct: Vec<Vec<usize>>,
    /// For a removal kept from counting by removals it follows, its
    /// smallest sets of blockers still in play: it is defeated only if
    /// every set keeps a standing member.
    blocked_by: Vec<Vec<Vec<usize>>>,
}

impl Defeats {
    /// Every defeat as an edge (a blocker to what it blocks), for the
    /// order in which removals are decided.
    fn edges(&self) -> Vec<Vec<usize>> {
        let mut edges = self.direct.clone();
        for (s, sets) in self.blocked_by.iter().enumerate() {
            for &k in sets.iter().flatten() {
                if !edges[k].contains(&s) {
                    edges[k].push(s);
                }
            }
        }
        edges
    }

    /// Which removals anything in play could defeat.
    fn hit(&self) -> Vec<bool> {
        let mut hit = vec![false; self.direct.len()];
        for &j in self.direct.iter().flatten() {
            hit[j] = true;
        }
        for (j, sets) in self.blocked_by.iter().enumerate() {
            if !sets.is_empty() && sets.iter().all(|set| !set.is_empty()) {
                hit[j] = true;
            }
        }
        hit
    }

    /// Whether removal `i` falls to the standing removals outside
    /// `inside`.
    fn falls(&self, i: usize, alive: &[bool], inside: &BTreeSet<usize>) -> bool {
        let stands = |k: usize| alive[k] && !inside.contains(&k);
        (0..self.direct.len()).any(|k| stands(k) && self.direct[k].contains(&i))
            || (!self.blocked_by[i].is_empty()
                && self.blocked_by[i]
                    .iter()
                    .all(|set| set.iter().any(|&k| stands(k))))
    }
}

/// Which of `nodes` (removals in play, by index) stand, in the order of
/// the defeat graph (sources first; every other node is decided already):
/// a removal falls if standing removals defeat it. In a strongly connected
/// component, the members that standing removals outside defeat fall
/// first; if none does, the whole component is a cycle and stands (pushed
/// to `cycles`); otherwise what is left is decided the same way, on its
/// own: a cycle broken from outside is no cycle.
fn stand(
    defeats: &Defeats,
    edges: &[Vec<usize>],
    nodes: &[usize],
    alive: &mut [bool],
    cycles: &mut Vec<Vec<usize>>,
) {
    let local: BTreeMap<usize, usize> = nodes.iter().enumerate().map(|(l, &i)| (i, l)).collect();
    let sub: Vec<Vec<usize>> = nodes
        .iter()
        .map(|&i| {
            edges[i]
                .iter()
                .filter_map(|j| local.get(j).copied())
                .collect()
        })
        .collect();
    let component = components(&sub);
    let mut groups: Vec<Vec<usize>> = vec![Vec::new(); component.rank.len()];
    for (l, &c) in component.of.iter().enumerate() {
        groups[component.rank[c]].push(nodes[l]);
    }
    for group in groups {
        let inside: BTreeSet<usize> = group.iter().copied().collect();
        let left: Vec<usize> = group
            .iter()
            .copied()
            .filter(|&i| !defeats.falls(i, alive, &inside))
            .collect();
        match left.len() {
            0 => {}
            1 if group.len() == 1 => alive[left[0]] = true,
            _ if left.len() == group.len() => {
                for &i in &group {
                    alive[i] = true;
                }
                cycles.push(group);
            }
            _ => stand(defeats, edges, &left, alive, cycles),
        }
    }
}

/// A removal's candidates: the epochs of the person it removes that it
/// does not provably know and that do not follow it, but for that
/// person's removals of themselves (which agree with it: dropping one
/// would only bring back what it had kept from counting) (`counted`: only
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
            && node.op.is_some_and(|i| {
                ops[i].person == *x
                    && !matches!(&ops[i].state.change, Change::Remove { person, .. } if person == x)
            })
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
