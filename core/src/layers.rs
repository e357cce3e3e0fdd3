//! The layers inside this crate, checked: every module belongs to one
//! layer and uses only modules of its own layer or below (the wiki engine
//! never reaches up into `Core`, the base never into the store), and the
//! crate's manifest names no network, web or node crate. Cargo keeps the
//! node layer out altogether: it is another crate, above this one.

use std::path::{Path, PathBuf};

/// The layers, lowest first, and the top-level modules in each (`store`,
/// `search`, `clock` and `text` are `kith-store`'s, re-exported here).
const LAYERS: &[(&str, &[&str])] = &[
    (
        "base",
        &[
            "clock", "text", "identity", "witness", "bundle", "config", "jobs", "invite",
        ],
    ),
    ("store", &["store", "wiki", "search"]),
    (
        "core",
        &[
            "error", "codes", "refs", "model", "reader", "core", "ops", "verify", "testing",
        ],
    ),
];

/// Crates a layer must not use, and from which layer up each is allowed
/// (libp2p, axum and tokio's networking are not in this crate's manifest
/// at all: the manifest test below keeps them out).
const CRATES: &[(&str, &str)] = &[("tokio::", "core")];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, ms)| ms.contains(&module))
}

fn layer_named(name: &str) -> usize {
    LAYERS
        .iter()
        .position(|(n, _)| *n == name)
        .expect("a layer")
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("source dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "tests") {
                sources(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs")
            && path.file_name().is_some_and(|n| n != "tests.rs")
        {
            out.push(path);
        }
    }
}

/// The code of a file without its test module and comments.
fn code(text: &str) -> String {
    let end = text.find("#[cfg(test)]\nmod ").unwrap_or(text.len());
    text[..end]
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The crate modules a file's code names (`crate::m` and `crate::{m, …}`).
fn uses(code: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            out.extend(group.split(',').map(|p| ident(p.trim())));
        } else {
            out.push(ident(rest));
        }
    }
    out
}

#[test]
fn every_module_uses_only_its_layer_and_below() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    let mut wrong = Vec::new();
    let mut unplaced = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&root).expect("under src");
        let top = rel
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .map(|s| s.trim_end_matches(".rs").to_string())
            .expect("a module");
        if top == "lib" || top == "layers" {
            continue;
        }
        let Some(layer) = layer_of(&top) else {
            unplaced.push(top);
            continue;
        };
        let code = code(&std::fs::read_to_string(file).expect("readable"));
        for used in uses(&code) {
            if let Some(l) = layer_of(&used)
                && l > layer
            {
                wrong.push(format!(
                    "{} ({}) uses crate::{used} ({})",
                    rel.display(),
                    LAYERS[layer].0,
                    LAYERS[l].0
                ));
            }
        }
        for (pattern, from) in CRATES {
            if layer < layer_named(from) && code.contains(pattern) {
                wrong.push(format!(
                    "{} ({}) uses {pattern} (allowed from the {from} layer up)",
                    rel.display(),
                    LAYERS[layer].0
                ));
            }
        }
    }
    unplaced.sort();
    unplaced.dedup();
    assert!(unplaced.is_empty(), "modules in no layer: {unplaced:?}");
    assert!(
        wrong.is_empty(),
        "{} back-arrows:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// The check itself finds an arrow up (so a pass above means something).
#[test]
fn the_check_sees_an_arrow_up() {
    let found =
        uses("use crate::{error::Result, network::Network};\nlet x = crate::clock::now_ms();");
    assert_eq!(found, vec!["error", "network", "clock"]);
}

/// The core crate stays below the network and the API: its manifest names
/// no networking or web crate and not the node, and takes from tokio its
/// channels only.
#[test]
fn the_core_crate_depends_on_no_network_web_or_node() {
    let manifest = include_str!("../Cargo.toml");
    let deps = manifest
        .split("[dependencies]")
        .nth(1)
        .expect("a [dependencies] table")
        .split("\n[")
        .next()
        .unwrap_or_default();
    let lines: Vec<&str> = deps
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert!(
        lines.iter().any(|l| l.starts_with("kith-store")),
        "{lines:?}"
    );
    for line in &lines {
        let name = line.split(['=', '.']).next().unwrap_or_default().trim();
        for forbidden in [
            "libp2p ",
            "axum",
            "hyper",
            "ureq",
            "minijinja",
            "kith-node",
            "futures",
        ] {
            assert!(
                !format!("{name} ").starts_with(forbidden),
                "kith-core depends on {name}"
            );
        }
        if name == "tokio" {
            assert!(
                line.contains("default-features = false") && line.contains("[\"sync\"]"),
                "kith-core takes more of tokio than its channels: {line}"
            );
        }
    }
}
