//! Which removals in play stand, from whom each defeats: the defeat
//! graph's strongly connected components, decided sources first.

use std::collections::{BTreeMap, BTreeSet};

/// Whom each removal in play defeats (indices into the removals in play).
pub(super) struct Defeats {
    /// Outright: its drops take them out or keep them from counting.
    pub(super) direct: Vec<Vec<usize>>,
    /// For a removal kept from counting by removals it follows, its
    /// smallest sets of blockers still in play: it is defeated only if
    /// every set keeps a standing member.
    pub(super) blocked_by: Vec<Vec<Vec<usize>>>,
}

impl Defeats {
    /// Every defeat as an edge (a blocker to what it blocks), for the
    /// order in which removals are decided.
    pub(super) fn edges(&self) -> Vec<Vec<usize>> {
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
    pub(super) fn hit(&self) -> Vec<bool> {
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
pub(super) fn stand(
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

/// Strongly connected components of the kill graph, with a rank that
/// orders them so that every kill goes from a lower rank to a higher one
/// (or stays within a component).
struct Components {
    of: Vec<usize>,
    rank: Vec<usize>,
}

fn components(edges: &[Vec<usize>]) -> Components {
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
