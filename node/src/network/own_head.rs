//! Restore without forking (PROTOCOL.md §11.6): before this node signs
//! anything after it starts, it learns its own log's head from a peer that
//! replicates it, and catches up if the peer holds more (a store restored
//! from an old backup). Until then the store actor holds own writes. If it
//! cannot be sure (the head witness says this machine signed more than the
//! store holds, or the store lost its witness, and no peer has it), it goes
//! on under a new key that takes over from the old one.

use std::time::Duration;

use kith_protocol::sync::FrontierItem;
use tokio::time::Instant;

use super::Network;
use crate::store_actor::StoreMsg;
use crate::witness::{Silent, Start};

/// With no peer answering in this time, the node decides without them.
pub(crate) const QUIET: Duration = Duration::from_secs(5);
/// Longest own writes wait while a peer says the log is further along.
pub(crate) const CATCH_UP_MAX: Duration = Duration::from_secs(60);

/// What this node has learned about its own log since it started.
pub(super) struct OwnHead {
    confirmed: bool,
    /// The head the store must reach: what the witness says this machine
    /// signed (0 when it says nothing).
    floor: u64,
    /// What to do when peers cannot confirm the head.
    if_silent: Silent,
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

/// What the node does about its own log now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Wait,
    Write,
    Succeed,
}

impl OwnHead {
    pub(super) fn new(start: Start) -> OwnHead {
        let (confirmed, floor, if_silent) = match start {
            Start::Sure => (true, 0, Silent::Write),
            Start::Ask { floor, if_silent } => (false, floor, if_silent),
        };
        OwnHead {
            confirmed,
            floor,
            if_silent,
            heard: None,
            first_answer: None,
            since: Instant::now(),
        }
    }

    /// The decision, with the store's own head at `local`.
    fn decide(&self, local: u64) -> Decision {
        let silent = match self.if_silent {
            Silent::Write => Decision::Write,
            Silent::Succeed => Decision::Succeed,
        };
        let waited = self.since.elapsed();
        match self.heard {
            Some(_)
                if self
                    .first_answer
                    .is_some_and(|t| t.elapsed() < MORE_ANSWERS) =>
            {
                Decision::Wait
            }
            Some(heard) if local >= heard.max(self.floor) => {
                tracing::debug!(local, heard, "own log head confirmed by a peer");
                Decision::Write
            }
            // Caught up with every peer, still short of what this machine
            // signed: nobody here holds the rest.
            Some(heard) if local >= heard => {
                tracing::warn!(
                    local,
                    heard,
                    signed = self.floor,
                    "this machine signed more of its log than this store or any peer holds"
                );
                silent
            }
            Some(heard) if waited >= CATCH_UP_MAX => {
                tracing::warn!(
                    local,
                    heard,
                    "a peer holds more of this node's log than it could fetch"
                );
                silent
            }
            Some(heard) => {
                tracing::info!(
                    local,
                    heard,
                    "this store is behind its own log (restored from a backup?): catching up before writing"
                );
                Decision::Wait
            }
            None if waited >= QUIET => {
                tracing::info!(?silent, "no peer answered about this node's log");
                silent
            }
            None => Decision::Wait,
        }
    }
}

impl Network {
    /// A peer's frontier (asked or answered): does it say where my log is?
    pub(super) fn note_own_head(&mut self, items: &[FrontierItem]) {
        let log = self.log.author();
        if let Some(item) = items.iter().find(|i| i.author == log) {
            let seq = item.head.map_or(0, |h| h.seq);
            self.own_head.heard = Some(self.own_head.heard.map_or(seq, |h| h.max(seq)));
            self.own_head.first_answer.get_or_insert_with(Instant::now);
        }
    }

    /// Opens own writes once the log's head is confirmed, or has the store
    /// go on under a new key when it cannot be.
    pub(super) fn check_own_head(&mut self) {
        if self.own_head.confirmed {
            return;
        }
        let local = match self.reader.store().head(&self.log.author()) {
            Ok(h) => h.map_or(0, |h| h.seq),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read this node's head");
                return;
            }
        };
        let msg = match self.own_head.decide(local) {
            Decision::Wait => return,
            Decision::Write => StoreMsg::OwnHeadKnown,
            Decision::Succeed => StoreMsg::OwnHeadUnsure,
        };
        // Retried at the next tick if the inbox is full.
        self.own_head.confirmed = self.wiring.store.try_send(msg).is_ok();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(floor: u64, if_silent: Silent) -> OwnHead {
        OwnHead::new(Start::Ask { floor, if_silent })
    }

    #[tokio::test(start_paused = true)]
    async fn peers_and_the_witness_decide_together() {
        // No answer: wait, then the policy.
        let head = asked(7, Silent::Succeed);
        assert_eq!(head.decide(3), Decision::Wait);
        tokio::time::advance(QUIET).await;
        assert_eq!(head.decide(3), Decision::Succeed);
        let head = asked(0, Silent::Write);
        tokio::time::advance(QUIET).await;
        assert_eq!(head.decide(3), Decision::Write);

        // A peer holds more: catch up first, and only then write.
        let mut head = asked(0, Silent::Succeed);
        head.heard = Some(9);
        head.first_answer = Some(Instant::now());
        assert_eq!(head.decide(3), Decision::Wait, "others may still answer");
        tokio::time::advance(MORE_ANSWERS).await;
        assert_eq!(head.decide(3), Decision::Wait, "catching up");
        assert_eq!(head.decide(9), Decision::Write);
        tokio::time::advance(CATCH_UP_MAX).await;
        assert_eq!(
            head.decide(3),
            Decision::Succeed,
            "could not catch up in time"
        );

        // The peers hold less than this machine signed: no use waiting.
        let mut head = asked(7, Silent::Succeed);
        head.heard = Some(5);
        head.first_answer = Some(Instant::now());
        tokio::time::advance(MORE_ANSWERS).await;
        assert_eq!(head.decide(3), Decision::Wait, "5 is still to fetch");
        assert_eq!(head.decide(5), Decision::Succeed);
        assert_eq!(head.decide(7), Decision::Write);
    }
}
