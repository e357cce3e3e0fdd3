//! Turning user content into safe HTML.
//!
//! Markdown is rendered with pulldown-cmark (raw HTML in it is shown as
//! text), `[[Page Title]]` links become links to pages, and the result is
//! sanitized with ammonia, which keeps only safe tags and `http`, `https`
//! and `mailto` URLs (plus relative ones): `<script>`, event handlers and
//! `javascript:` links never reach the browser.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use std::collections::HashSet;

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, TagEnd, html};

/// Where `[[links]]` point.
const WIKI_LINK: &str = "/wiki/by-title/";

/// The titles of the wiki's pages (case-insensitive), so that links to
/// pages not written yet can look different.
#[derive(Debug, Default)]
pub struct Titles {
    titles: Option<HashSet<String>>,
    /// Changes whenever the set does (a hash of it), for caching.
    generation: u64,
}

impl Titles {
    pub fn of<'a>(titles: impl IntoIterator<Item = &'a str>) -> Titles {
        let titles: HashSet<String> = titles.into_iter().map(str::to_lowercase).collect();
        let mut sorted: Vec<&String> = titles.iter().collect();
        sorted.sort();
        let mut hasher = blake3::Hasher::new();
        for t in sorted {
            hasher.update(t.as_bytes());
            hasher.update(&[0]);
        }
        let generation = u64::from_le_bytes(
            hasher.finalize().as_bytes()[..8]
                .try_into()
                .expect("8 bytes"),
        );
        Titles {
            titles: Some(titles),
            generation,
        }
    }

    /// Whether a page with this title exists (unknown titles count as
    /// existing when the list was not read).
    fn has(&self, title: &str) -> bool {
        self.titles
            .as_ref()
            .is_none_or(|t| t.contains(&title.to_lowercase()))
    }
}

/// [`markdown_with`] for an entry's text, remembered: an entry's text
/// never changes, so its HTML only changes with the wiki's titles.
pub fn entry_markdown(id: &kith_protocol::EntryId, text: &str, titles: &Titles) -> String {
    type Cache = std::collections::HashMap<(kith_protocol::EntryId, u64), String>;
    static CACHE: std::sync::Mutex<Option<Cache>> = std::sync::Mutex::new(None);
    /// Entries remembered (a few MiB at most).
    const CACHED: usize = 4096;
    let key = (*id, titles.generation);
    if let Some(html) = CACHE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .as_ref()
        .and_then(|c| c.get(&key))
    {
        return html.clone();
    }
    let html = markdown_with(text, titles);
    let mut cache = CACHE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let cache = cache.get_or_insert_with(Default::default);
    if cache.len() >= CACHED {
        cache.clear();
    }
    cache.insert(key, html.clone());
    html
}

/// Markdown → sanitized HTML, every `[[link]]` shown as an existing page.
pub fn markdown(text: &str) -> String {
    markdown_with(text, &Titles::default())
}

/// Markdown → sanitized HTML. `[[links]]` to pages not in `titles` get
/// the class `missing`; GFM task lists keep their (read-only) checkboxes.
pub fn markdown_with(text: &str, titles: &Titles) -> String {
    let text = wiki_links(text);
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut missing_open = false;
    let mut remote_image = false;
    let parser = Parser::new_ext(&text, options).map(|event| match event {
        // A file of this node's (PROTOCOL.md §13): served by `/blob/HASH`.
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) if blob_path(&dest_url).is_some() => Event::Start(Tag::Image {
            link_type,
            dest_url: CowStr::from(blob_path(&dest_url).unwrap_or_default()),
            title,
            id,
        }),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) if blob_path(&dest_url).is_some() => Event::Start(Tag::Link {
            link_type,
            dest_url: CowStr::from(format!(
                "{}?download=1",
                blob_path(&dest_url).unwrap_or_default()
            )),
            title,
            id,
        }),
        // An image from elsewhere would be fetched by every reader's
        // browser (a tracking beacon): it becomes a link to click instead.
        Event::Start(Tag::Image { dest_url, .. }) if is_remote(&dest_url) => {
            remote_image = true;
            Event::InlineHtml(CowStr::from(format!(
                "<a class=\"remote-image\" title=\"An image on another site: follow to load it\" href=\"{}\">🖼 ",
                html_attr(&dest_url)
            )))
        }
        Event::End(TagEnd::Image) if remote_image => {
            remote_image = false;
            Event::InlineHtml(CowStr::from("</a>"))
        }
        // Raw HTML in the source is escaped, not interpreted.
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        Event::Start(Tag::Link { dest_url, .. })
            if dest_url
                .strip_prefix(WIKI_LINK)
                .is_some_and(|t| !titles.has(&percent_decode(t))) =>
        {
            missing_open = true;
            Event::InlineHtml(CowStr::from(format!(
                "<a class=\"missing\" title=\"No such page yet: follow to create it\" href=\"{}\">",
                html_attr(&dest_url)
            )))
        }
        Event::End(TagEnd::Link) if missing_open => {
            missing_open = false;
            Event::InlineHtml(CowStr::from("</a>"))
        }
        other => other,
    });
    let mut out = String::new();
    html::push_html(&mut out, parser);
    SANITIZER.clean(&out).to_string()
}

/// What survives of rendered HTML (built once: a builder is a dozen sets).
static SANITIZER: std::sync::LazyLock<ammonia::Builder<'static>> = std::sync::LazyLock::new(|| {
    let mut b = ammonia::Builder::default();
    b.url_schemes(["http", "https", "mailto"].into())
        .link_rel(Some("noopener noreferrer nofollow"))
        .add_allowed_classes("a", ["missing", "remote-image"])
        .add_tags(["input"])
        .set_tag_attribute_value("input", "type", "checkbox")
        .set_tag_attribute_value("input", "disabled", "")
        .add_tag_attribute_values("input", "checked", [""]);
    b
});

/// A page body without a first `# Heading` that repeats the page's title
/// (the page shows its title already).
pub fn without_title<'a>(body: &'a str, title: &str) -> &'a str {
    let trimmed = body.trim_start();
    let (first, rest) = trimmed.split_once('\n').unwrap_or((trimmed, ""));
    match first.trim_end().strip_prefix("# ") {
        Some(heading) if heading.trim().to_lowercase() == title.trim().to_lowercase() => rest,
        _ => body,
    }
}

/// The web app's path of a `blob:HASH` link, if `url` is one.
pub fn blob_path(url: &str) -> Option<String> {
    let hash: kith_protocol::blob::BlobHash = url.strip_prefix("blob:")?.parse().ok()?;
    Some(format!("/blob/{hash}"))
}

/// The hashes of the files `text` links to as `blob:HASH`.
pub fn linked_blobs(text: &str) -> Vec<kith_protocol::blob::BlobHash> {
    text.match_indices("blob:")
        .filter_map(|(at, _)| text.get(at + 5..at + 5 + 64)?.parse().ok())
        .collect()
}

/// Media types the web app shows inline: raster images, which a browser
/// never runs script in. Everything else (SVG and HTML included) is
/// served as a download.
pub fn shown_inline(media_type: &str) -> bool {
    matches!(
        media_type,
        "image/png" | "image/jpeg" | "image/gif" | "image/webp" | "image/avif" | "image/bmp"
    )
}

/// A size for people: `812 bytes`, `4.2 KiB`, `13.0 MiB`.
pub fn size(bytes: u64) -> String {
    const KIB: f64 = 1024.0;
    let b = bytes as f64;
    if b < KIB {
        format!("{bytes} bytes")
    } else if b < KIB * KIB {
        format!("{:.1} KiB", b / KIB)
    } else if b < KIB * KIB * KIB {
        format!("{:.1} MiB", b / KIB / KIB)
    } else {
        format!("{:.1} GiB", b / KIB / KIB / KIB)
    }
}

/// Whether a URL points away from this node (scheme or `//host`).
fn is_remote(url: &str) -> bool {
    url.contains(':') || url.starts_with("//")
}

fn html_attr(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
}

/// Undoes [`percent_encode`].
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `[[Title]]` and `[[Title|label]]` → markdown links to `/wiki/by-title/Title`.
fn wiki_links(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("[[") {
        let Some(len) = rest[start + 2..].find("]]") else {
            break;
        };
        let inner = &rest[start + 2..start + 2 + len];
        if inner.contains('\n') || inner.trim().is_empty() || inner.len() > 200 {
            out.push_str(&rest[..start + 2]);
            rest = &rest[start + 2..];
            continue;
        }
        let (target, label) = match inner.split_once('|') {
            Some((t, l)) => (t.trim(), l.trim()),
            None => (inner.trim(), inner.trim()),
        };
        out.push_str(&rest[..start]);
        out.push('[');
        out.push_str(&escape_markdown(label));
        out.push_str("](");
        out.push_str(WIKI_LINK);
        out.push_str(&percent_encode(target));
        out.push(')');
        rest = &rest[start + 2 + len + 2..];
    }
    out.push_str(rest);
    out
}

fn escape_markdown(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if "\\`*_{}[]()#+-.!<>".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Percent-encodes everything but unreserved characters.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// "5 minutes ago" style.
pub fn ago(timestamp_ms: u64) -> String {
    let then = UNIX_EPOCH + Duration::from_millis(timestamp_ms);
    let secs = SystemTime::now()
        .duration_since(then)
        .map_or(0, |d| d.as_secs());
    match secs {
        0..=59 => "just now".into(),
        60..=3599 => format!("{} min ago", secs / 60),
        3600..=86_399 => format!("{} h ago", secs / 3600),
        _ => format!("{} days ago", secs / 86_400),
    }
}

/// A small symmetric 5×5 picture drawn from an author id (SVG), so that
/// people can tell authors apart at a glance; the same id always gives
/// the same picture. Not a security feature: names and ids are what count.
/// Remembered per author (a page shows the same few authors many times).
pub fn identicon(author: &str) -> String {
    static CACHE: std::sync::Mutex<Option<std::collections::HashMap<String, String>>> =
        std::sync::Mutex::new(None);
    let mut cache = CACHE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let cache = cache.get_or_insert_with(Default::default);
    if let Some(svg) = cache.get(author) {
        return svg.clone();
    }
    let svg = draw_identicon(author);
    if cache.len() >= 4096 {
        cache.clear();
    }
    cache.insert(author.to_string(), svg.clone());
    svg
}

fn draw_identicon(author: &str) -> String {
    let hash = blake3::hash(author.as_bytes());
    let bytes = hash.as_bytes();
    let hue = u16::from_be_bytes([bytes[0], bytes[1]]) % 360;
    let mut path = String::new();
    for row in 0..5u8 {
        for col in 0..3u8 {
            let bit = row * 3 + col;
            if bytes[2 + usize::from(bit / 8)] >> (bit % 8) & 1 == 1 {
                path.push_str(&format!("M{col} {row}h1v1h-1z"));
                if col < 2 {
                    path.push_str(&format!("M{} {row}h1v1h-1z", 4 - col));
                }
            }
        }
    }
    format!(
        "<svg class=\"avatar\" viewBox=\"-1 -1 7 7\" width=\"28\" height=\"28\" aria-hidden=\"true\">\
         <rect x=\"-1\" y=\"-1\" width=\"7\" height=\"7\" fill=\"hsl({hue} 45% 90%)\"/>\
         <path fill=\"hsl({hue} 55% 40%)\" d=\"{path}\"/></svg>"
    )
}

/// The invite code as an SVG QR code.
pub fn qr_svg(code: &str) -> String {
    match qrcode::QrCode::new(code.as_bytes()) {
        Ok(qr) => qr
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_and_javascript_links_are_inert() {
        let html = markdown(
            "hi <script>alert(1)</script> <img src=x onerror=alert(2)> [click](javascript:alert(3)) \
             <a href=\"javascript:alert(4)\">x</a> [ok](https://example.org)",
        );
        // Real tags start with `<`; the source's tags survive only as text.
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        for tag in html.split('<').skip(1).filter(|t| t.starts_with("a ")) {
            let tag = &tag[..tag.find('>').unwrap()];
            assert!(
                !tag.to_lowercase().contains("javascript"),
                "live javascript link: {tag}"
            );
        }
        assert!(html.contains("href=\"https://example.org\""), "{html}");
        assert!(html.contains("&lt;script&gt;"), "shown as text: {html}");
    }

    #[test]
    fn wiki_links_become_page_links() {
        let html = markdown("See [[Release Checklist]] and [[a/b|the b page]].");
        assert!(
            html.contains("href=\"/wiki/by-title/Release%20Checklist\""),
            "{html}"
        );
        assert!(html.contains(">Release Checklist</a>"), "{html}");
        assert!(html.contains("href=\"/wiki/by-title/a%2Fb\""), "{html}");
        assert!(html.contains(">the b page</a>"), "{html}");
    }

    #[test]
    fn links_to_missing_pages_look_missing() {
        let titles = Titles::of(["Release checklist"]);
        let html = markdown_with("[[release Checklist]] and [[Nowhere yet]]", &titles);
        assert!(
            html.contains("<a href=\"/wiki/by-title/release%20Checklist\""),
            "{html}"
        );
        assert!(
            html.contains("class=\"missing\"")
                && html.contains("href=\"/wiki/by-title/Nowhere%20yet\""),
            "{html}"
        );
        assert_eq!(html.matches("class=\"missing\"").count(), 1, "{html}");
        assert!(html.contains(">Nowhere yet</a>"), "{html}");
    }

    #[test]
    fn task_lists_keep_read_only_checkboxes() {
        let html = markdown("- [x] done\n- [ ] to do\n\n<input type=\"text\" name=\"evil\">");
        assert_eq!(html.matches("<input").count(), 2, "{html}");
        assert!(html.contains("checked"), "{html}");
        assert_eq!(html.matches("type=\"checkbox\"").count(), 2, "{html}");
        assert_eq!(html.matches("disabled").count(), 2, "{html}");
        assert!(html.contains("&lt;input"), "raw HTML stays text: {html}");
    }

    #[test]
    fn a_heading_that_repeats_the_title_is_dropped() {
        assert_eq!(without_title("# Trip\n\nWe leave", "trip"), "\nWe leave");
        assert_eq!(without_title("\n# Trip", "Trip"), "");
        assert_eq!(without_title("# Steps\n1. go", "Runbook"), "# Steps\n1. go");
        assert_eq!(without_title("## Trip\n", "Trip"), "## Trip\n");
    }

    #[test]
    fn identicons_are_stable_and_differ() {
        let a = identicon("12D3KooWA");
        assert_eq!(a, identicon("12D3KooWA"));
        assert_ne!(a, identicon("12D3KooWB"));
        assert!(a.starts_with("<svg") && a.contains("<path"));
    }

    #[test]
    fn remote_images_become_links() {
        let html = markdown("![pixel](http://elsewhere.example/p.png) ![local](/favicon.svg)");
        assert!(!html.contains("<img src=\"http"), "{html}");
        assert!(
            html.contains("class=\"remote-image\"")
                && html.contains("href=\"http://elsewhere.example/p.png\""),
            "{html}"
        );
        assert!(html.contains(">🖼 pixel</a>"), "{html}");
        assert!(html.contains("<img src=\"/favicon.svg\""), "{html}");
    }

    #[test]
    fn qr_code_renders() {
        assert!(qr_svg("kith1abc").starts_with("<?xml"));
    }
}
