//! Signature and validity checks of many entries at once, on every core:
//! pure (no I/O, no channels), used by the verification pool and by
//! imports with no node running.

use kith_protocol::{Entry, Limits, ValidationError, Verified};
use rayon::prelude::*;

/// A job's entries after verification: the verified prefix, and the first
/// entry that failed, if one did (entries after it are dropped: they could
/// not continue their author's chain anyway).
#[derive(Debug, Default)]
pub struct Checked {
    pub verified: Vec<Verified>,
    pub failed: Option<Box<(Entry, ValidationError)>>,
}

impl Checked {
    /// Stores the verified prefix with `ingest`; the first entry that
    /// failed verification becomes the outcome's error, unless storing
    /// stopped earlier with an error of its own.
    pub fn ingest_with(
        self,
        ingest: impl FnOnce(Vec<Verified>) -> crate::core::IngestOutcome,
    ) -> crate::core::IngestOutcome {
        let mut outcome = ingest(self.verified);
        if outcome.error.is_none()
            && let Some(failed) = self.failed
        {
            outcome.error = Some(crate::store::Error::Invalid(failed.1));
        }
        outcome
    }
}

/// Verifies `entries` on every core (the global rayon pool), keeping
/// their order.
pub fn verify_all(entries: Vec<Entry>, limits: &Limits, now_ms: u64) -> Checked {
    let results: Vec<_> = entries
        .into_par_iter()
        .map(|e| Verified::check(e, limits, now_ms))
        .collect();
    collect(results)
}

/// The verified prefix of `results`, and the first failure.
pub fn collect(
    results: Vec<std::result::Result<Verified, Box<(Entry, ValidationError)>>>,
) -> Checked {
    let mut checked = Checked::default();
    for result in results {
        match result {
            Ok(v) => checked.verified.push(v),
            Err(e) => {
                checked.failed = Some(e);
                break;
            }
        }
    }
    checked
}
