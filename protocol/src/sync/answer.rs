//! Answering a peer's requests (frontiers, fetches, offers, changes), and
//! offering it the handovers its frontier does not list.

use super::*;

impl<P: Clone + Ord> Replicator<P> {
    /// Answers a peer's request, and plans fetches from what it revealed.
    pub fn handle_request(
        &mut self,
        peer: P,
        request: Request,
        logs: &impl Logs,
    ) -> (Response, Vec<Output<P>>) {
        match request {
            Request::Frontier(items) => {
                let answer: Vec<FrontierItem> = items
                    .iter()
                    .take(self.limits.max_frontier_authors)
                    .filter(|i| logs.serves(&i.author))
                    .map(|i| FrontierItem {
                        author: i.author,
                        head: logs.head(&i.author),
                    })
                    .collect();
                let outputs = if self.peers.contains_key(&peer) {
                    self.learn_frontier(&peer, &items, logs);
                    let mut outputs = self.plan(logs);
                    outputs.extend(self.offer(peer, &items, logs));
                    outputs
                } else {
                    Vec::new()
                };
                (Response::Frontier(answer), outputs)
            }
            Request::Fetch {
                author,
                after_seq,
                max_bytes,
            } => {
                let mut bytes = Vec::new();
                if logs.serves(&author) {
                    let cap = (max_bytes as usize).min(self.limits.max_batch_bytes);
                    let entries = logs.entries_after(&author, after_seq, cap);
                    for entry in entries.iter().take(self.limits.max_batch_entries) {
                        entry.encode_into(&mut bytes);
                    }
                }
                (
                    Response::Entries {
                        author,
                        entries: bytes,
                    },
                    Vec::new(),
                )
            }
            Request::Changes { hashes } => {
                let hashes = &hashes[..hashes.len().min(MAX_CHANGES_PER_REQUEST)];
                let mut bytes = Vec::new();
                for entry in logs
                    .entries_with_changes(hashes, self.limits.max_batch_bytes)
                    .iter()
                    .take(self.limits.max_batch_entries)
                {
                    entry.encode_into(&mut bytes);
                }
                (Response::Changes { entries: bytes }, Vec::new())
            }
            Request::Offer { entries } => {
                let outputs = match decode_any_entries(&entries, &self.limits) {
                    Ok(list) if self.peers.contains_key(&peer) && !list.is_empty() => {
                        let mut list = list;
                        list.truncate(MAX_OFFER_ENTRIES);
                        vec![Output::Offered {
                            peer,
                            entries: list,
                        }]
                    }
                    _ => Vec::new(),
                };
                (Response::Frontier(Vec::new()), outputs)
            }
        }
    }

    /// The handovers to offer a peer whose frontier lists `items`: first
    /// entries of keys that took over from a listed author (and from
    /// those, in turn) that the frontier does not list.
    pub(super) fn offer(
        &mut self,
        peer: P,
        items: &[FrontierItem],
        logs: &impl Logs,
    ) -> Option<Output<P>> {
        let listed: std::collections::BTreeSet<AuthorId> = items
            .iter()
            .take(self.limits.max_frontier_authors)
            .map(|i| i.author)
            .collect();
        let mut todo: Vec<AuthorId> = listed.iter().copied().collect();
        let mut offered = std::collections::BTreeSet::new();
        let mut bytes = Vec::new();
        while let Some(from) = todo.pop() {
            for entry in logs.handovers(&from) {
                let new = entry.author();
                if listed.contains(&new) || offered.len() >= MAX_OFFER_ENTRIES {
                    continue;
                }
                if offered.insert(new) {
                    entry.encode_into(&mut bytes);
                    todo.push(new);
                }
            }
        }
        if bytes.is_empty() {
            return None;
        }
        Some(Output::Send {
            peer,
            token: self.token(),
            request: Request::Offer { entries: bytes },
        })
    }
}
