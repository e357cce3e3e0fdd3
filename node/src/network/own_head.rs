//! Restore without forking (PROTOCOL.md §11.6): before this node signs
//! anything after it starts, it learns its own log's head from a peer that
//! replicates it, and catches up if the peer holds more (a store restored
//! from an old backup). Until then the store actor holds own writes.

use std::time::Duration;

use kith_protocol::sync::FrontierItem;
use tokio::time::Instant;

use super::Network;
use crate::store_actor::StoreMsg;

/// With no peer answering in this time, writes go on (nothing to learn).
pub(crate) const QUIET: Duration = Duration::from_secs(5);
/// Longest own writes wait while a peer says the log is further along.
pub(crate) const CATCH_UP_MAX: Duration = Duration::from_secs(60);

/// What this node has learned about its own log since it started.
pub(super) struct OwnHead {
    confirmed: bool,
    /// The highest head of this node's own log a peer reported; `Some(0)`
    /// when a peer replicates it but holds none of it.
    heard: Option<u64>,
    /// When the first peer answered: others get a moment to answer too, so
    /// one lagging peer cannot confirm a head that is behind.
    first_answer: Option<Instant>,
    since: Instant,
}

/// How long, after the first answer, other peers may still answer.
const MORE_ANSWERS: Duration = Duration::from_secs(1);

impl OwnHead {
    pub(super) fn new() -> OwnHead {
        OwnHead {
            confirmed: false,
            heard: None,
            first_answer: None,
            since: Instant::now(),
        }
    }
}

impl Network {
    /// A peer's frontier (asked or answered): does it say where my log is?
    pub(super) fn note_own_head(&mut self, items: &[FrontierItem]) {
        if let Some(item) = items.iter().find(|i| i.author == self.me) {
            let seq = item.head.map_or(0, |h| h.seq);
            self.own_head.heard = Some(self.own_head.heard.map_or(seq, |h| h.max(seq)));
            self.own_head.first_answer.get_or_insert_with(Instant::now);
        }
    }

    /// Opens own writes once the log's head is confirmed (or cannot be).
    pub(super) fn check_own_head(&mut self) {
        if self.own_head.confirmed {
            return;
        }
        let local = match self.reader.store().head(&self.me) {
            Ok(h) => h.map_or(0, |h| h.seq),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read this node's head");
                return;
            }
        };
        let waited = self.own_head.since.elapsed();
        let open = match self.own_head.heard {
            Some(_)
                if self
                    .own_head
                    .first_answer
                    .is_some_and(|t| t.elapsed() < MORE_ANSWERS) =>
            {
                false
            }
            Some(heard) if local >= heard => {
                tracing::debug!(local, heard, "own log head confirmed by a peer");
                true
            }
            Some(heard) if waited >= CATCH_UP_MAX => {
                tracing::warn!(
                    local,
                    heard,
                    "a peer holds more of this node's log than it could fetch; writing anyway"
                );
                true
            }
            Some(heard) => {
                tracing::info!(
                    local,
                    heard,
                    "this store is behind its own log (restored from a backup?): catching up before writing"
                );
                false
            }
            None if waited >= QUIET => {
                tracing::info!(
                    "no peer answered about this node's log; writing without confirmation"
                );
                true
            }
            None => false,
        };
        if open {
            self.own_head.confirmed = true;
            if self.wiring.store.try_send(StoreMsg::OwnHeadKnown).is_err() {
                // Retried at the next tick.
                self.own_head.confirmed = false;
            }
        }
    }
}
