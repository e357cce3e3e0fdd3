//! Strong removal (PROTOCOL.md §12.4, step 5): which removals stand,
//! what they drop, and cycles of removals.

mod defeats;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::graph::{Bits, Graph};
use super::judge::{Eval, evaluate_more};
use super::{MAX_BLOCKERS, MAX_ROUNDS, Op};
use crate::circle::{Change, EpochId};
use crate::keys::AuthorId;
use defeats::{Defeats, stand};

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
    /// was already in: they all stand, from now on together. Whether that
    /// changed anything (false: they were one cycle already).
    pub(super) fn join(&mut self, mut positions: BTreeSet<usize>) -> bool {
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
            return false;
        };
        let mut changed = false;
        for p in positions {
            changed |= self.cycle.insert(p, id) != Some(id);
            self.forced.set(p);
        }
        changed
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
    let pass = Pass {
        root,
        ops,
        graph,
        round,
        eval,
        memo: RefCell::new(HashMap::new()),
    };
    let play = pass.in_play();
    let mut next = Round {
        dropped: Bits::new(graph.nodes.len()),
        forced: round.forced.clone(),
        cycle: round.cycle.clone(),
    };
    let (drops, alive) = pass.decide(&play, &mut next);
    pass.next_round(&play, &drops, &alive, next)
}

/// One round of rule 4: what it judges, and which epochs count with more
/// dropped.
struct Pass<'a> {
    root: &'a EpochId,
    ops: &'a [Op],
    graph: &'a Graph,
    round: &'a Round,
    eval: &'a Eval,
    /// Which epochs count with more dropped than this round's drops.
    /// Remembered: the same drops are tried again for other removals, and
    /// in every pass after a cycle forms.
    memo: RefCell<HashMap<Bits, Bits>>,
}

/// The removals in play in one round, and what judging them needs.
struct InPlay {
    /// The removals in play, by position; an index into this names one.
    removals: Vec<usize>,
    /// Position → index into `removals`.
    index: BTreeMap<usize, usize>,
    /// The removals kept from counting by removals they follow, each with
    /// its smallest sets of blockers (positions).
    blocked: Vec<(usize, Vec<Vec<usize>>)>,
    /// The same sets of blockers, by the position of what they block.
    blockers_of: BTreeMap<usize, Vec<Vec<usize>>>,
    /// Epochs that count, or would but for last round's drops (so a drop
    /// stays made while its removal stands), and removals in play.
    eligible: Bits,
}

/// What the removals in play drop and whom they defeat, judged with the
/// drops of the uncontested removals made.
struct Contest {
    /// Last round's drops and the uncontested removals' drops.
    base: Bits,
    /// What each removal in play drops.
    drops: Vec<Bits>,
    defeats: Defeats,
    /// Counted removals in play that nothing in play could defeat.
    uncontested: Vec<usize>,
}

impl Pass<'_> {
    /// Which epochs count with `without` dropped (remembered in `memo`).
    fn counted_without(&self, without: &Bits) -> Bits {
        if let Some(hit) = self.memo.borrow().get(without) {
            return hit.clone();
        }
        let counted = evaluate_more(
            self.root,
            self.ops,
            self.graph,
            self.eval,
            &self.round.dropped,
            without,
            &self.round.forced,
        )
        .counted;
        self.memo
            .borrow_mut()
            .insert(without.clone(), counted.clone());
        counted
    }

    /// Whether the epoch at `p` is a removal (a void epoch is none).
    fn is_removal(&self, p: usize) -> bool {
        self.graph.nodes[p]
            .op
            .is_some_and(|i| matches!(self.ops[i].state.change, Change::Remove { .. }))
    }

    /// The removals in play: those that count, and those kept from
    /// counting by removals they follow ([`Pass::blocked`]).
    fn in_play(&self) -> InPlay {
        let counted: Vec<usize> = self
            .eval
            .counted
            .iter()
            .filter(|&p| self.is_removal(p))
            .collect();
        let blocked = self.blocked();
        let in_play: BTreeSet<usize> = counted
            .iter()
            .copied()
            .chain(blocked.iter().map(|(s, _)| *s))
            .collect();
        let blockers_of: BTreeMap<usize, Vec<Vec<usize>>> = blocked.iter().cloned().collect();
        let removals: Vec<usize> = in_play.into_iter().collect();
        let index: BTreeMap<usize, usize> =
            removals.iter().enumerate().map(|(i, &r)| (r, i)).collect();
        let mut eligible = self.eval.counted.clone();
        eligible.or(&self.round.dropped);
        for &r in &removals {
            eligible.set(r);
        }
        InPlay {
            removals,
            index,
            blocked,
            blockers_of,
            eligible,
        }
    }

    /// The removals kept from counting by removals they follow, each with
    /// the smallest sets of those blockers whose drop lets it count.
    ///
    /// Removals kept from counting by the removals they follow of a person
    /// their standing rests on ([`support`]: their author, the person they
    /// remove, whoever added either, transitively), counted or not
    /// themselves: in play if they count once those blockers are dropped.
    /// Only a blocker that some removal could drop, or whose membership
    /// could rest on what one drops, can ever stop blocking: the others
    /// are left out (and the rest of the history — a chain of changes,
    /// anything without concurrent removals — skips this). For each such
    /// removal, the smallest sets of blockers whose drop lets it count
    /// (every subset is tried up to MAX_BLOCKERS of them; beyond, all of
    /// them at once).
    fn blocked(&self) -> Vec<(usize, Vec<Vec<usize>>)> {
        let graph = self.graph;
        let n = graph.nodes.len();
        let threat = self.threat();
        let threatened = |b: usize| threat.get(b) || threat.intersects(&graph.past[b]);
        let members = self.eval.members(graph, &self.eval.counted);
        let mut blocked: Vec<(usize, Vec<Vec<usize>>)> = Vec::new();
        for s in (0..n).filter(|&s| self.may_matter(s, &members)) {
            let support = support(graph, s);
            let blockers: Vec<usize> = graph.past[s]
                .iter()
                .filter(|&r| self.is_removal(r) && !self.round.dropped.get(r))
                .filter(|&r| support.contains(&graph.who[r].targets[0]))
                .filter(|&r| threatened(r))
                .collect();
            if blockers.is_empty() {
                continue;
            }
            let minimal = self.smallest_blocker_sets(s, blockers);
            if !minimal.is_empty() {
                blocked.push((s, minimal));
            }
        }
        blocked
    }

    /// The epochs some removal could drop: every removal's candidates.
    fn threat(&self) -> Bits {
        let n = self.graph.nodes.len();
        let mut threat = Bits::new(n);
        for r in (0..n).filter(|&r| self.is_removal(r)) {
            threat.or(&candidates(self.ops, self.graph, r, None));
        }
        threat
    }

    /// Whether `s` is a removal that does not count, was not dropped, and
    /// removes someone whose removal can change who is a member.
    fn may_matter(&self, s: usize, members: &BTreeSet<AuthorId>) -> bool {
        // Only a removal of someone who is a member now can change who is —
        // or of someone who left by her own hand: by removing herself, or by
        // a removal from a person she added (whose add the removal would
        // drop, with her other concurrent writes).
        self.is_removal(s) && !self.eval.counted.get(s) && !self.round.dropped.get(s) && {
            let t = self.graph.who[s].targets[0];
            members.contains(&self.graph.persons[t]) || self.left_by_own_hand(t)
        }
    }

    /// Whether person `t` is a member but for the counted removals of her
    /// by herself or by a person she added.
    fn left_by_own_hand(&self, t: usize) -> bool {
        let (graph, eval) = (self.graph, self.eval);
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
    }

    /// The smallest sets of `blockers` whose drop lets removal `s` count:
    /// none if dropping them all does not; every subset is tried up to
    /// [`MAX_BLOCKERS`] of them; beyond, all of them at once.
    fn smallest_blocker_sets(&self, s: usize, blockers: Vec<usize>) -> Vec<Vec<usize>> {
        let counts_without = |set: &[usize]| {
            let mut without = self.round.dropped.clone();
            for &r in set {
                without.set(r);
            }
            self.counted_without(&without).get(s)
        };
        let mut minimal: Vec<Vec<usize>> = Vec::new();
        if !counts_without(&blockers) {
            return minimal;
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
        minimal
    }

    /// Which removals in play stand, and what each drops, with the
    /// removals of every cycle found made mates in `next`.
    fn decide(&self, play: &InPlay, next: &mut Round) -> (Vec<Bits>, Vec<bool>) {
        let all: Vec<usize> = (0..play.removals.len()).collect();
        // A cycle found makes its removals mates, which changes what they
        // drop and so whom the others defeat (a defeat that rested on a drop
        // between mates is gone): judged again until no new cycle forms.
        // Every pass merges two groups or more, so this ends; a pass that
        // finds only cycles already made (a defeat between mates through
        // the uncontested removals' drops) would find them again forever,
        // so it ends the judgement with their removals standing (PROTOCOL.md
        // §12.4; before, such a history hung every node resolving it).
        loop {
            let mut contest = self.contest(play, next);
            self.defeat_by_uncontested(play, &mut contest);
            let mut alive = vec![false; play.removals.len()];
            let mut cycles = Vec::new();
            let defeats = &contest.defeats;
            stand(defeats, &defeats.edges(), &all, &mut alive, &mut cycles);
            if cycles.is_empty() {
                return (contest.drops, alive);
            }
            // Cycles: every removal in one stands, from now on together.
            let mut merged = false;
            for group in &cycles {
                merged |= next.join(group.iter().map(|&i| play.removals[i]).collect());
            }
            if !merged {
                for &i in cycles.iter().flatten() {
                    alive[i] = true;
                }
                return (contest.drops, alive);
            }
        }
    }

    /// What the removals in play drop and whom they defeat, with the drops
    /// of the counted removals nothing defeats made first.
    fn contest(&self, play: &InPlay, mates: &Round) -> Contest {
        // The drops of the counted removals nobody defeats are made
        // before judging what the others' drops do: a defeat must not
        // rest on an epoch that an uncontested removal drops anyway.
        let mut base = self.round.dropped.clone();
        let mut tries = 0;
        loop {
            let (drops, defeats) = self.defeats_with(play, mates, &base);
            let hit = defeats.hit();
            let uncontested: Vec<usize> = (0..play.removals.len())
                .filter(|&u| !hit[u] && self.eval.counted.get(play.removals[u]))
                .collect();
            let mut wider = self.round.dropped.clone();
            for &u in &uncontested {
                wider.or(&drops[u]);
            }
            tries += 1;
            if wider == base || tries > MAX_ROUNDS {
                return Contest {
                    base,
                    drops,
                    defeats,
                    uncontested,
                };
            }
            base = wider;
        }
    }

    /// A removal that the uncontested removals' drops alone keep from
    /// counting is defeated by the uncontested removals whose drops reach
    /// it.
    fn defeat_by_uncontested(&self, play: &InPlay, contest: &mut Contest) {
        let base_counted = self.counted_without(&contest.base);
        for (j, &r) in play.removals.iter().enumerate() {
            if !self.eval.counted.get(r) || base_counted.get(r) {
                continue;
            }
            for &u in &contest.uncontested {
                let d = &contest.drops[u];
                if u != j
                    && (d.get(r) || d.intersects(&self.graph.past[r]))
                    && !contest.defeats.direct[u].contains(&j)
                {
                    contest.defeats.direct[u].push(j);
                }
            }
        }
    }

    /// What each removal in play drops and which others it defeats, with
    /// `base` dropped, and removals of one cycle (`mates`) never dropping
    /// or defeating each other.
    fn defeats_with(&self, play: &InPlay, mates: &Round, base: &Bits) -> (Vec<Bits>, Defeats) {
        let base_counted = self.counted_without(base);
        let drops: Vec<Bits> = play
            .removals
            .iter()
            .map(|&r| candidates(self.ops, self.graph, r, Some((&play.eligible, mates))))
            .collect();
        let mut defeats = Defeats {
            direct: vec![Vec::new(); play.removals.len()],
            blocked_by: play.blocked_by(mates),
        };
        for (i, d) in drops.iter().enumerate() {
            let affected = play.affected(self.graph, mates, i, d);
            if affected.is_empty() {
                continue;
            }
            let mut without = base.clone();
            without.or(d);
            let after = self.counted_without(&without);
            for j in affected {
                let r = play.removals[j];
                // Dropped outright; or, counted, it stops counting; or,
                // kept from counting by the removals it follows, it would
                // still not count without them.
                let defeated = d.get(r)
                    || if self.eval.counted.get(r) {
                        base_counted.get(r) && !after.get(r)
                    } else {
                        self.stays_blocked(play, r, &without)
                    };
                if defeated {
                    defeats.direct[i].push(j);
                }
            }
        }
        (drops, defeats)
    }

    /// Whether removal `r`, kept from counting by the removals it follows,
    /// still does not count with `without` dropped: no smallest way to let
    /// it count survives the drops.
    fn stays_blocked(&self, play: &InPlay, r: usize, without: &Bits) -> bool {
        play.blockers_of[&r].iter().all(|set| {
            let mut also = without.clone();
            for &b in set {
                also.set(b);
            }
            !self.counted_without(&also).get(r)
        })
    }

    /// The next round's drops (those of the removals that stand, but for
    /// their mates, and every counted removal that fell), and the counted
    /// removals that stand.
    fn next_round(
        &self,
        play: &InPlay,
        drops: &[Bits],
        alive: &[bool],
        mut next: Round,
    ) -> (Vec<usize>, Round) {
        for (i, d) in drops.iter().enumerate() {
            if alive[i] {
                for p in d.iter() {
                    if !next.mates(p, play.removals[i]) {
                        next.dropped.set(p);
                    }
                }
            } else if self.eval.counted.get(play.removals[i]) {
                // A removal that fell stops counting itself.
                next.dropped.set(play.removals[i]);
            }
        }
        let living = play
            .removals
            .iter()
            .zip(alive)
            .filter(|(r, a)| **a && self.eval.counted.get(**r))
            .map(|(r, _)| *r)
            .collect();
        (living, next)
    }
}

impl InPlay {
    /// For each removal in play kept from counting, its smallest sets of
    /// blockers that are in play and not its mates (by index).
    fn blocked_by(&self, mates: &Round) -> Vec<Vec<Vec<usize>>> {
        let mut blocked_by = vec![Vec::new(); self.removals.len()];
        for (s, sets) in &self.blocked {
            // A blocker out of play counts nowhere: its set is met.
            blocked_by[self.index[s]] = sets
                .iter()
                .map(|set| {
                    set.iter()
                        .filter(|&&r| self.index.contains_key(&r) && !mates.mates(r, *s))
                        .map(|r| self.index[r])
                        .collect()
                })
                .collect();
        }
        blocked_by
    }

    /// The removals in play, but `i` and its mates, that drops `d` reach:
    /// it drops them or an epoch they follow.
    fn affected(&self, graph: &Graph, mates: &Round, i: usize, d: &Bits) -> Vec<usize> {
        let removals = &self.removals;
        (0..removals.len())
            .filter(|&j| {
                j != i
                    && !mates.mates(removals[i], removals[j])
                    && (d.get(removals[j]) || d.intersects(&graph.past[removals[j]]))
            })
            .collect()
    }
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
