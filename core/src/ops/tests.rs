#![allow(clippy::unwrap_used)]

#[test]
fn the_api_documentation_lists_every_operation() {
    let doc = include_str!("../../../docs/API.md");
    for info in super::all() {
        let row = format!(
            "| `{}` | `/api/v1{}` | `{}` |",
            info.method.as_str(),
            info.path,
            info.name
        );
        assert!(doc.contains(&row), "docs/API.md lacks {row}");
    }
}
