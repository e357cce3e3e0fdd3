//! `kith wiki export` and `import`: pages as a folder of Markdown files
//! with front matter (what Obsidian and other tools read and write).

use std::path::Path;

use anyhow::{Context, Result, bail};
use kith_node::model::{ImportItem, PageView};

use crate::output;

/// A file name for a title, unique within the export.
fn file_name(title: &str, id: &str, taken: &mut std::collections::HashSet<String>) -> String {
    let mut name: String = title
        .chars()
        .map(|c| {
            if "/\\:*?\"<>|".contains(c) || c.is_control() {
                '-'
            } else {
                c
            }
        })
        .collect();
    name = name.trim().trim_start_matches('.').to_string();
    if name.is_empty() {
        name = id.to_string();
    }
    // Unique whatever the titles: another page may already hold the plain
    // name, or even the name with this id's prefix.
    let mut candidate = format!("{name}.md");
    let mut n = 1;
    while !taken.insert(candidate.to_lowercase()) {
        candidate = if n == 1 {
            format!("{name} ({}).md", &id[..8.min(id.len())])
        } else {
            format!("{name} ({} {n}).md", &id[..8.min(id.len())])
        };
        n += 1;
    }
    candidate
}

pub(super) fn export(dir: &Path, pages: &[PageView]) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut taken = std::collections::HashSet::new();
    for page in pages {
        let id = page.id.to_string();
        let name = file_name(&page.title, &id, &mut taken);
        let mut text = String::from("---\n");
        text.push_str(&format!("id: {id}\n"));
        text.push_str(&format!("title: {}\n", serde_json::to_string(&page.title)?));
        text.push_str("authors:\n");
        for a in &page.authors {
            let name = page
                .author_names
                .get(&a.to_string())
                .cloned()
                .unwrap_or_else(|| format!("…{}", a.short()));
            text.push_str(&format!(
                "  - name: {}\n    id: {a}\n",
                serde_json::to_string(&name)?
            ));
        }
        text.push_str(&format!("updated: {}\n", output::rfc3339(page.updated)));
        text.push_str("---\n");
        text.push_str(&page.body);
        let path = dir.join(&name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Every `.md` file under `dir` (hidden files and directories skipped).
/// Symbolic links are never followed (no loops, nothing from outside the
/// folder); a file over the page size limit is refused by name.
pub(super) fn read_markdown_dir(dir: &Path) -> Result<Vec<ImportItem>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&d)
            .with_context(|| format!("cannot read {}", d.display()))?
            .collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with('.') {
                continue;
            }
            let kind = entry
                .file_type()
                .with_context(|| format!("cannot read {}", path.display()))?;
            if kind.is_symlink() {
                eprintln!("skipped {}: links are not followed", path.display());
            } else if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file()
                && path
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("md"))
            {
                let shown = path
                    .strip_prefix(dir)
                    .unwrap_or(&path)
                    .display()
                    .to_string();
                let len = entry.metadata().map(|m| m.len()).unwrap_or(0);
                if len > kith_node::wiki::MAX_PAGE_BYTES as u64 {
                    bail!(
                        "{shown}: {len} bytes, over the page size limit of {} bytes",
                        kith_node::wiki::MAX_PAGE_BYTES
                    );
                }
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("{shown}: cannot read it as UTF-8 text"))?;
                let stem = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().to_string())
                    .unwrap_or_default();
                let mut item = parse_markdown(&text, &stem);
                item.source = Some(shown);
                out.push(item);
            }
        }
    }
    Ok(out)
}

/// Splits optional YAML front matter (`id`, `title`) from the body.
fn parse_markdown(text: &str, stem: &str) -> ImportItem {
    let mut id = None;
    let mut title = None;
    let mut body = text;
    if let Some(rest) = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))
        && let Some(end) = rest.find("\n---")
    {
        for line in rest[..end].lines() {
            if let Some(v) = line.strip_prefix("id:") {
                id = Some(v.trim().to_string());
            } else if let Some(v) = line.strip_prefix("title:") {
                let v = v.trim();
                title = Some(if v.starts_with('"') {
                    serde_json::from_str::<String>(v)
                        .unwrap_or_else(|_| v.trim_matches('"').to_string())
                } else {
                    v.trim_matches('\'').to_string()
                });
            }
        }
        let after = &rest[end + 4..];
        body = after
            .strip_prefix("\r\n")
            .or_else(|| after.strip_prefix('\n'))
            .unwrap_or(after);
    }
    ImportItem {
        id,
        title: title
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| stem.to_string()),
        body: body.to_string(),
        source: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_matter_round_trip() {
        let item = parse_markdown(
            "---\nid: abc\ntitle: \"A \\\"quoted\\\" title\"\nauthors:\n  - x\n---\nbody\nmore\n",
            "file",
        );
        assert_eq!(item.id.as_deref(), Some("abc"));
        assert_eq!(item.title, "A \"quoted\" title");
        assert_eq!(item.body, "body\nmore\n");
        let plain = parse_markdown("# Just text\n", "My Note");
        assert_eq!(plain.title, "My Note");
        assert_eq!(plain.body, "# Just text\n");
        assert!(plain.id.is_none());
    }

    #[test]
    fn file_names_are_safe_and_unique() {
        let mut taken = std::collections::HashSet::new();
        assert_eq!(file_name("a/b: c", "0123456789", &mut taken), "a-b- c.md");
        assert_eq!(
            file_name("A-B- C", "abcdef0123", &mut taken),
            "A-B- C (abcdef01).md"
        );
        assert_eq!(file_name("..", "abcdef0123", &mut taken), "abcdef0123.md");
        // A title that already looks like a disambiguated name cannot make
        // two pages share a file.
        let mut taken = std::collections::HashSet::new();
        let names = [
            file_name("X (abcdef01)", "1111111111", &mut taken),
            file_name("X", "abcdef0199", &mut taken),
            file_name("X", "abcdef0123", &mut taken),
        ];
        let unique: std::collections::HashSet<String> =
            names.iter().map(|n| n.to_lowercase()).collect();
        assert_eq!(unique.len(), 3, "{names:?}");
    }
}
