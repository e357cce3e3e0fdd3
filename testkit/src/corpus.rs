//! Text for benches and probes: the words of a real paper (realistic term
//! statistics for search) and a small seeded generator, so that two
//! programs given the same seed ask the very same queries.

use std::io::Read;

/// The Automerge paper's text (`../shared/data/automerge-paper.json.gz`).
pub fn paper_text() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/data/automerge-paper.json.gz"
    );
    let file = std::fs::File::open(path).expect("the shared paper data");
    let mut json = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut json)
        .expect("the paper data is gzip");
    let v: serde_json::Value = serde_json::from_str(&json).expect("the paper data is JSON");
    v["endContent"]
        .as_str()
        .expect("the paper data has endContent")
        .to_string()
}

/// The paper's words of three letters or more, lowercase, in the order
/// of the text (repeats kept: realistic term frequencies).
pub fn paper_words() -> Vec<String> {
    paper_text()
        .split(|c: char| !c.is_alphabetic())
        .filter(|w| w.len() >= 3)
        .map(str::to_lowercase)
        .collect()
}

/// The paper's distinct words of three letters or more, lowercase, sorted.
pub fn vocabulary() -> Vec<String> {
    let mut words = paper_words();
    words.sort();
    words.dedup();
    words
}

/// xorshift64: small, seeded, the same sequence everywhere.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}
