//! Fork proofs: two validly signed entries by one author at one seq. An
//! author with a proof on record is flagged and their log is held until the
//! user decides.

use kith_protocol::{AuthorId, Entry, ForkProof};

use super::{Error, FORK, Result, Store, author_key};

impl Store {
    pub fn is_flagged(&self, author: &AuthorId) -> Result<bool> {
        Ok(self
            .kv
            .scan_prefix(author_key(FORK, author))
            .next()
            .is_some())
    }

    pub fn forks(&self) -> Result<Vec<ForkProof>> {
        let mut out = Vec::new();
        for item in self.kv.scan_prefix([FORK]) {
            let (_, v) = item?;
            out.push(self.decode_fork(&v)?);
        }
        Ok(out)
    }

    /// Where each flagged author's log forked: (author, seq), lowest seq
    /// per author first.
    pub fn fork_points(&self) -> Result<Vec<(AuthorId, u64)>> {
        let mut out: Vec<(AuthorId, u64)> = Vec::new();
        for item in self.kv.scan_prefix([FORK]) {
            let (k, _) = item?;
            if k.len() < 1 + 32 + 8 {
                return Err(Error::Corrupt("fork proof key".into()));
            }
            let author = super::decode_author(&k[1..33])?;
            let seq = u64::from_be_bytes(k[33..41].try_into().expect("8 bytes"));
            if out.last().is_none_or(|(a, _)| *a != author) {
                out.push((author, seq));
            }
        }
        Ok(out)
    }

    /// Forgets the fork proofs for `author`, so their entries replicate again
    /// (the user decided, e.g. after talking to them).
    pub fn clear_fork(&self, author: &AuthorId) -> Result<usize> {
        let removed = self.kv.remove_prefix(&author_key(FORK, author))?;
        self.registry_changed();
        Ok(removed)
    }

    /// Keeps both entries as proof, durably, whatever happens to the batch
    /// that revealed them.
    pub(super) fn record_fork(&self, proof: &ForkProof) -> Result<()> {
        let mut out = proof.first.encode();
        proof.second.encode_into(&mut out);
        self.kv.insert(
            super::entry_key(&proof.author(), proof.seq()).with_prefix(FORK),
            out,
        )?;
        self.registry_changed();
        Ok(())
    }

    fn decode_fork(&self, bytes: &[u8]) -> Result<ForkProof> {
        let (first, rest) =
            Entry::decode_prefix(bytes, &self.limits).map_err(|e| Error::Corrupt(e.to_string()))?;
        let second = self.decode_stored(rest)?;
        Ok(ForkProof { first, second })
    }
}
