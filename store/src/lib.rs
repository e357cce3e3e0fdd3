//! Kith's storage layer: the store of signed entries and the views built
//! from them (sled, behind `store::kv`), the full-text search index
//! (tantivy), and the small utilities they share. No network, no async
//! runtime, no HTTP: `kith-node` builds on it (docs/ARCHITECTURE.md).

pub mod blobs;
pub mod clock;
pub mod search;
pub mod store;
pub mod text;

#[cfg(test)]
mod tests {
    /// The storage layer stays below the network and the API: its manifest
    /// names no networking, async runtime or HTTP crate, and not the node.
    #[test]
    fn the_store_crate_depends_on_no_network_runtime_or_node() {
        let manifest = include_str!("../Cargo.toml");
        let deps = manifest
            .split("[dependencies]")
            .nth(1)
            .expect("a [dependencies] table")
            .split("\n[")
            .next()
            .unwrap_or_default();
        let names: Vec<&str> = deps
            .lines()
            .filter_map(|l| l.split(['=', '.']).next())
            .map(str::trim)
            .filter(|n| !n.is_empty() && !n.starts_with('#'))
            .collect();
        assert!(names.contains(&"sled"), "{names:?}");
        for forbidden in [
            "libp2p",
            "tokio",
            "axum",
            "hyper",
            "ureq",
            "kith-node",
            "futures",
        ] {
            assert!(
                !names.iter().any(|n| n.starts_with(forbidden)),
                "kith-store depends on {forbidden}: {names:?}"
            );
        }
    }
}
