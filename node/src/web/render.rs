//! Turning user content into safe HTML.
//!
//! Markdown is rendered with pulldown-cmark (raw HTML in it is shown as
//! text), `[[Page Title]]` links become links to pages, and the result is
//! sanitized with ammonia, which keeps only safe tags and `http`, `https`
//! and `mailto` URLs (plus relative ones): `<script>`, event handlers and
//! `javascript:` links never reach the browser.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pulldown_cmark::{Event, Options, Parser, html};

/// Markdown → sanitized HTML.
pub fn markdown(text: &str) -> String {
    let text = wiki_links(text);
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    // Raw HTML in the source is escaped, not interpreted.
    let parser = Parser::new_ext(&text, options).map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        other => other,
    });
    let mut out = String::new();
    html::push_html(&mut out, parser);
    ammonia::Builder::default()
        .url_schemes(["http", "https", "mailto"].into())
        .link_rel(Some("noopener noreferrer nofollow"))
        .clean(&out)
        .to_string()
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
        out.push_str("](/wiki/by-title/");
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
    fn qr_code_renders() {
        assert!(qr_svg("kith1abc").starts_with("<?xml"));
    }
}
