//! The contested membership cases of PROTOCOL.md §12.4: each a list of
//! epochs and the members and counted epochs the rules must give, written
//! as text for the document and as JSON for other implementations.

use std::collections::BTreeSet;

use super::super::*;
use crate::entry::EntryId;

/// A membership history written as a list of epochs, for the contested
/// cases of §12.4. Persons are letters (each writes with one device of the
/// same name); epochs are numbered E0, E1, …
#[derive(Debug, Clone)]
pub struct Case {
    pub name: &'static str,
    /// (epoch, author, change, parents)
    pub epochs: Vec<(usize, char, CaseChange, Vec<usize>)>,
    /// Members after resolution.
    pub members: &'static str,
    /// Epochs that count.
    pub counted: Vec<usize>,
}

#[derive(Debug, Clone)]
pub enum CaseChange {
    Create(&'static str),
    Add(char),
    Remove(char),
    Rekey,
}

/// The letter's person key in the cases (seed = the letter's byte).
pub fn person(letter: char) -> AuthorId {
    Keypair::from_secret(&[letter as u8; 32]).author()
}

fn case_epoch(n: usize) -> EpochId {
    EpochId([n as u8; 16])
}

impl Case {
    /// The ops of the case: epoch `n` is `[n; 16]`, written as its author's
    /// entry `n + 1`, and its Create's id is E0.
    pub fn ops(&self) -> Vec<Op> {
        self.epochs
            .iter()
            .map(|(n, by, change, parents)| Op {
                id: EntryId([*n as u8 + 1; 32]),
                person: person(*by),
                device: person(*by),
                seq: *n as u64 + 1,
                epoch: case_epoch(*n),
                state: EpochState {
                    parents: parents.iter().map(|p| case_epoch(*p)).collect(),
                    change: match change {
                        CaseChange::Create(ms) => Change::Create {
                            name: "case".into(),
                            members: ms.chars().map(person).collect(),
                        },
                        CaseChange::Add(p) => Change::Add {
                            person: person(*p),
                            history: false,
                        },
                        CaseChange::Remove(p) => Change::Remove {
                            person: person(*p),
                            seen: vec![],
                        },
                        CaseChange::Rekey => Change::Rekey,
                    },
                    recipients: vec![],
                    key_check: [0; 32],
                },
            })
            .collect()
    }

    pub fn resolve(&self) -> Resolved {
        resolve(&case_epoch(0), self.ops())
    }

    /// Members and counted epochs as the code resolves them.
    pub fn outcome(&self) -> (String, Vec<usize>) {
        let r = self.resolve();
        let letters: BTreeSet<char> = self
            .epochs
            .iter()
            .flat_map(|(_, by, change, _)| {
                let mut v = vec![*by];
                match change {
                    CaseChange::Create(ms) => v.extend(ms.chars()),
                    CaseChange::Add(p) | CaseChange::Remove(p) => v.push(*p),
                    CaseChange::Rekey => {}
                }
                v
            })
            .collect();
        let members = letters
            .into_iter()
            .filter(|l| r.members.contains(&person(*l)))
            .collect();
        let counted = self
            .epochs
            .iter()
            .filter(|(n, ..)| r.epochs.contains_key(&case_epoch(*n)))
            .map(|(n, ..)| *n)
            .collect();
        (members, counted)
    }

    pub(super) fn describe(&self, out: &mut String) {
        out.push_str(&format!("  case: {}\n", self.name));
        for (n, by, change, parents) in &self.epochs {
            let what = match change {
                CaseChange::Create(ms) => format!("Create with {}", spaced(ms)),
                CaseChange::Add(p) => format!("Add {p}"),
                CaseChange::Remove(p) => format!("Remove {p}"),
                CaseChange::Rekey => "Rekey".into(),
            };
            let after: Vec<String> = parents.iter().map(|p| format!("E{p}")).collect();
            let after = if after.is_empty() {
                String::new()
            } else {
                format!(", after {}", after.join(" "))
            };
            out.push_str(&format!("    E{n} by {by}: {what}{after}\n"));
        }
        let (members, counted) = self.outcome();
        let counted: Vec<String> = counted.iter().map(|n| format!("E{n}")).collect();
        out.push_str(&format!(
            "    members {}; counted {}\n",
            if members.is_empty() {
                "none".to_string()
            } else {
                spaced(&members)
            },
            counted.join(" ")
        ));
    }
}

/// The contested cases as JSON, for implementations to run through their
/// own resolution: every epoch's entry id, person, device, seq, epoch id,
/// parents and change as §12.4 reads them (keys and ids in hex), and the
/// members and counted epochs the rules must give.
pub fn cases_json() -> String {
    let hex = |b: &[u8]| format!("\"{}\"", hex::encode(b));
    let list = |items: Vec<String>| format!("[{}]", items.join(", "));
    let mut out = Vec::new();
    for case in cases() {
        let ops = case.ops();
        let mut epochs = Vec::new();
        for op in &ops {
            let change = match &op.state.change {
                Change::Create { members, .. } => format!(
                    "{{\"create\": {{\"members\": {}}}}}",
                    list(members.iter().map(|m| hex(m.as_bytes())).collect())
                ),
                Change::Add { person, history } => format!(
                    "{{\"add\": {{\"person\": {}, \"history\": {history}}}}}",
                    hex(person.as_bytes())
                ),
                Change::Remove { person, seen } => format!(
                    "{{\"remove\": {{\"person\": {}, \"seen\": {}}}}}",
                    hex(person.as_bytes()),
                    list(
                        seen.iter()
                            .map(|s| format!(
                                "{{\"key\": {}, \"seq\": {}}}",
                                hex(s.key.as_bytes()),
                                s.seq
                            ))
                            .collect()
                    )
                ),
                Change::Rekey => "\"rekey\"".into(),
            };
            epochs.push(format!(
                "        {{\"entry\": {}, \"person\": {}, \"device\": {}, \"seq\": {}, \"epoch\": {}, \"parents\": {}, \"change\": {change}}}",
                hex(&op.id.0),
                hex(op.person.as_bytes()),
                hex(op.device.as_bytes()),
                op.seq,
                hex(&op.epoch.0),
                list(op.state.parents.iter().map(|p| hex(&p.0)).collect()),
            ));
        }
        let (members, counted) = case.outcome();
        out.push(format!(
            "    {{\n      \"name\": \"{}\",\n      \"root\": {},\n      \"epochs\": [\n{}\n      ],\n      \"members\": {},\n      \"counted\": {}\n    }}",
            case.name,
            hex(&case_epoch(0).0),
            epochs.join(",\n"),
            list(members.chars().map(|l| hex(person(l).as_bytes())).collect()),
            list(counted.iter().map(|n| hex(&case_epoch(*n).0)).collect()),
        ));
    }
    format!("{{\n  \"cases\": [\n{}\n  ]\n}}\n", out.join(",\n"))
}

fn spaced(letters: &str) -> String {
    letters
        .chars()
        .map(String::from)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The contested cases, with the outcome the rules must give.
pub fn cases() -> Vec<Case> {
    use CaseChange::*;
    vec![
        Case {
            name: "concurrent mutual removal: both count",
            epochs: vec![
                (0, 'A', Create("BM"), vec![]),
                (1, 'A', Remove('M'), vec![0]),
                (2, 'M', Remove('A'), vec![0]),
            ],
            members: "B",
            counted: vec![0, 1, 2],
        },
        Case {
            name: "a removed member's concurrent writes do not count",
            epochs: vec![
                (0, 'A', Create("BM"), vec![]),
                (1, 'A', Remove('M'), vec![0]),
                (2, 'M', Add('P'), vec![0]),
                (3, 'M', Remove('B'), vec![0]),
            ],
            members: "AB",
            counted: vec![0, 1],
        },
        Case {
            name: "a removal through a puppet added concurrently: everyone in the cycle leaves",
            epochs: vec![
                (0, 'A', Create("BM"), vec![]),
                (1, 'A', Remove('M'), vec![0]),
                (2, 'M', Add('P'), vec![0]),
                (3, 'P', Remove('A'), vec![2]),
            ],
            members: "B",
            counted: vec![0, 1, 3],
        },
        Case {
            name: "pulling the ground from under one's remover: everyone in the cycle leaves",
            epochs: vec![
                (0, 'B', Create("CM"), vec![]),
                (1, 'B', Add('A'), vec![0]),
                (2, 'A', Remove('M'), vec![1]),
                (3, 'M', Remove('B'), vec![0]),
            ],
            members: "C",
            counted: vec![0, 2, 3],
        },
        Case {
            name: "a removal never voids what it follows",
            epochs: vec![
                (0, 'A', Create("B"), vec![]),
                (1, 'A', Add('C'), vec![0]),
                (2, 'B', Remove('A'), vec![1]),
            ],
            members: "BC",
            counted: vec![0, 1, 2],
        },
        Case {
            name: "remove wins over a concurrent add; an add that follows the removal stands",
            epochs: vec![
                (0, 'A', Create("BC"), vec![]),
                (1, 'A', Remove('C'), vec![0]),
                (2, 'B', Add('C'), vec![0]),
                (3, 'B', Rekey, vec![1, 2]),
                (4, 'A', Add('C'), vec![3]),
            ],
            members: "ABC",
            counted: vec![0, 1, 2, 3, 4],
        },
        Case {
            name: "a cycle of removals all count",
            epochs: vec![
                (0, 'A', Create("BCD"), vec![]),
                (1, 'A', Remove('B'), vec![0]),
                (2, 'B', Remove('C'), vec![0]),
                (3, 'C', Remove('A'), vec![0]),
            ],
            members: "D",
            counted: vec![0, 1, 2, 3],
        },
        Case {
            name: "a member removed concurrently writes nothing that counts after it",
            epochs: vec![
                (0, 'A', Create("BM"), vec![]),
                (1, 'M', Rekey, vec![0]),
                (2, 'A', Remove('M'), vec![0]),
                (3, 'B', Rekey, vec![1, 2]),
            ],
            members: "AB",
            counted: vec![0, 2, 3],
        },
    ]
}
