//! Human-readable and JSON output.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use kith_node::model::EntryView;
use serde::Serialize;

/// `value` with every string made safe to print on a terminal: what other
/// people wrote (names, titles, posts) may hold escape sequences that would
/// recolour, retitle or rewrite the terminal (see `kith_node::text`).
/// For human output only: `--json` prints data as it is, escaped by JSON.
pub fn inert<T: Serialize + serde::de::DeserializeOwned>(value: T) -> T {
    fn walk(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::String(s) => {
                if let std::borrow::Cow::Owned(clean) = kith_node::text::for_terminal(s) {
                    *s = clean;
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            serde_json::Value::Object(map) => map.values_mut().for_each(walk),
            _ => {}
        }
    }
    let Ok(mut json) = serde_json::to_value(&value) else {
        return value;
    };
    walk(&mut json);
    serde_json::from_value(json).unwrap_or(value)
}

/// Prints `value` as pretty JSON on stdout.
pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// "3 minutes ago", "2 days ago", or a date for old entries.
pub fn ago(timestamp_ms: u64) -> String {
    let then = UNIX_EPOCH + Duration::from_millis(timestamp_ms);
    let secs = match SystemTime::now().duration_since(then) {
        Ok(d) => d.as_secs(),
        Err(_) => return "just now".to_string(),
    };
    match secs {
        0..=59 => "just now".to_string(),
        60..=3599 => plural(secs / 60, "minute"),
        3600..=86_399 => plural(secs / 3600, "hour"),
        86_400..=2_591_999 => plural(secs / 86_400, "day"),
        _ => format!("on {}", &rfc3339(timestamp_ms)[..10]),
    }
}

fn plural(n: u64, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit} ago")
    } else {
        format!("{n} {unit}s ago")
    }
}

/// `name (…last8)` or the short id.
pub fn who(view: &EntryView) -> String {
    let short = view.author.short();
    match &view.author_name {
        Some(name) => format!("{name} (…{short})"),
        None => format!("…{short}"),
    }
}

/// One entry as a block of text: id, author and time in columns (styled on
/// a terminal), what it replies to, then the text.
pub fn entry(view: &EntryView) {
    let mut head = format!(
        "{DIM}{}{DIM:#}  {BOLD}{}{BOLD:#}  {}  {DIM}{}{DIM:#}",
        &view.id.to_hex()[..12],
        who(view),
        view.kind,
        ago(view.timestamp)
    );
    if let Some(circle) = &view.circle {
        head.push_str(&format!("  [circle {circle}]"));
    }
    if !view.tags.is_empty() {
        head.push_str("  ");
        head.push_str(
            &view
                .tags
                .iter()
                .map(|t| format!("{TAG}#{t}{TAG:#}"))
                .collect::<Vec<_>>()
                .join(" "),
        );
    }
    anstream::println!("{head}");
    if let Some(reply_to) = &view.reply_to {
        match &view.parent {
            Some(p) => anstream::println!(
                "  {DIM}↳ replying to {}: “{}” ({}){DIM:#}",
                p.author_name
                    .clone()
                    .unwrap_or_else(|| format!("…{}", p.author.short())),
                p.excerpt,
                &reply_to.to_hex()[..12]
            ),
            None => anstream::println!(
                "  {DIM}↳ {} {} you do not have (written by someone you do not trust, or not arrived yet){DIM:#}",
                if view.kind == "answer" {
                    "an answer to"
                } else {
                    "a reply to"
                },
                &reply_to.to_hex()[..12]
            ),
        }
    }
    if let Some(text) = &view.text {
        for line in text.lines() {
            println!("  {line}");
        }
    }
    for page in &view.in_wiki {
        anstream::println!(
            "  {DIM}added to the wiki: {} ({}){DIM:#}",
            page.title,
            page.id
        );
    }
    println!();
}

const TAG: anstyle::Style =
    anstyle::Style::new().fg_color(Some(anstyle::Color::Ansi(anstyle::AnsiColor::Cyan)));

/// `2026-11-25T19:00:00.000Z`.
pub fn rfc3339(timestamp_ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(timestamp_ms)).to_string()
}

/// One search result.
pub fn hit(hit: &kith_node::search::SearchHit) {
    let who = match (&hit.author_name, &hit.author) {
        (Some(name), _) => name.clone(),
        (None, Some(a)) => format!("…{}", a.short()),
        _ => String::new(),
    };
    let what = match &hit.title {
        Some(title) => format!("wiki \"{title}\""),
        None => hit.kind.to_string(),
    };
    let short = if hit.kind == kith_node::search::SearchKind::Wiki {
        hit.id.clone()
    } else {
        hit.id.chars().take(12).collect()
    };
    anstream::println!(
        "{DIM}{short}{DIM:#}  {BOLD}{what}{BOLD:#}  {who}  {DIM}{}{DIM:#}",
        ago(hit.timestamp)
    );
    anstream::println!("  {}", highlighted(&hit.snippet));
    println!();
}

const BOLD: anstyle::Style = anstyle::Style::new().bold();
const DIM: anstyle::Style = anstyle::Style::new().dimmed();
const MATCH: anstyle::Style = anstyle::Style::new()
    .bold()
    .fg_color(Some(anstyle::Color::Ansi(anstyle::AnsiColor::Yellow)));

/// A snippet on one line with its matches in bold yellow (plain text when
/// the output is not a terminal or `NO_COLOR` is set: `anstream` strips
/// the styles).
pub fn highlighted(snippet: &kith_node::search::Snippet) -> String {
    let text = &snippet.text;
    let mut out = String::new();
    let mut from = 0;
    for &[start, end] in &snippet.matches {
        let (Some(before), Some(word)) = (text.get(from..start), text.get(start..end)) else {
            continue;
        };
        out.push_str(before);
        out.push_str(&format!("{MATCH}{word}{MATCH:#}"));
        from = end;
    }
    out.push_str(text.get(from..).unwrap_or_default());
    out.replace('\n', " ").trim().to_string()
}

/// One line about a running job.
pub fn job(job: &kith_node::jobs::JobView) -> String {
    let kind = match job.kind {
        kith_node::jobs::JobKind::Reindex => "reindex",
        kith_node::jobs::JobKind::Verify => "verify",
        kith_node::jobs::JobKind::Import => "import",
        kith_node::jobs::JobKind::Export => "export",
    };
    if job.total > 0 {
        format!(
            "{kind} running: {} ({} of {} entries)",
            job.phase, job.done, job.total
        )
    } else {
        format!("{kind} running: {}", job.phase)
    }
}

/// A progress bar of a long job on the running node (on stderr, shown only
/// on a terminal), polled until the command's call returns.
pub struct JobWatch {
    bar: indicatif::ProgressBar,
    stop: std::sync::mpsc::Sender<()>,
}

impl JobWatch {
    /// Watches the node's job of `kind`, if a node runs on `data_dir`.
    pub fn start(
        data_dir: &kith_node::DataDir,
        kind: kith_node::jobs::JobKind,
    ) -> Option<JobWatch> {
        let client = kith_node::api::Client::discover(data_dir).ok()??;
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {bar:40} {pos}/{len} entries  {msg}",
            )
            .expect("valid template"),
        );
        let (stop, rx) = std::sync::mpsc::channel::<()>();
        let shown = bar.clone();
        std::thread::spawn(move || {
            while rx.recv_timeout(Duration::from_millis(250)).is_err() {
                let Ok(jobs) = client.call(kith_node::ops::Jobs {}) else {
                    return;
                };
                if let Some(job) = jobs.iter().find(|j| j.kind == kind) {
                    shown.set_length(job.total);
                    shown.set_position(job.done);
                    shown.set_message(job.phase.clone());
                }
                shown.tick();
            }
        });
        Some(JobWatch { bar, stop })
    }
}

impl Drop for JobWatch {
    fn drop(&mut self) {
        let _ = self.stop.send(());
        self.bar.finish_and_clear();
    }
}

/// A progress bar over `len` entries (on stderr, shown only on a terminal).
pub fn entries_bar(len: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} entries  {msg}")
            .expect("valid template"),
    );
    bar
}
