//! Size and time limits every node enforces. Documented in `docs/PROTOCOL.md`.

/// Caps applied when decoding and validating what peers send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest body of one entry (wiki changes above this are chunked).
    pub max_body_bytes: usize,
    /// Largest encoded header (a v1 header is at most 123 bytes).
    pub max_header_bytes: usize,
    /// How far in the future an entry's timestamp may be.
    pub max_clock_skew_ms: u64,
    /// Largest batch of entries in one sync response.
    pub max_batch_bytes: usize,
    /// Most entries in one sync response.
    pub max_batch_entries: usize,
    /// Most authors in one frontier.
    pub max_frontier_authors: usize,
    /// Most tags on a post, and the longest tag.
    pub max_tags: usize,
    pub max_tag_len: usize,
}

/// 64 KiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_header_bytes: 256,
            max_clock_skew_ms: 10 * 60 * 1000,
            max_batch_bytes: 1024 * 1024,
            max_batch_entries: 4096,
            max_frontier_authors: 10_000,
            max_tags: 16,
            max_tag_len: 64,
        }
    }
}
