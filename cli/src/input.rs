//! Reading what the user hands a command: files and stdin, always with a
//! bound, so that `/dev/zero` or a 2 GB file is refused by name instead of
//! filling memory.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// Reads at most `max` bytes from `path` (or stdin for `None`); more is an
/// error that names `what` and the limit.
pub fn read_limited(path: Option<&Path>, max: u64, what: &str) -> Result<Vec<u8>> {
    let name = path.map_or_else(|| "stdin".to_string(), |p| p.display().to_string());
    let source: Box<dyn Read> = match path {
        Some(p) => Box::new(std::fs::File::open(p).with_context(|| format!("cannot read {name}"))?),
        None => Box::new(std::io::stdin()),
    };
    let mut buf = Vec::new();
    source
        .take(max + 1)
        .read_to_end(&mut buf)
        .with_context(|| format!("cannot read {name}"))?;
    if buf.len() as u64 > max {
        bail!(
            "{name} is too large: {what} is at most {}",
            human_bytes(max)
        );
    }
    Ok(buf)
}

/// Like [`read_limited`], as UTF-8 text.
pub fn read_text_limited(path: Option<&Path>, max: u64, what: &str) -> Result<String> {
    let bytes = read_limited(path, max, what)?;
    let name = path.map_or_else(|| "stdin".to_string(), |p| p.display().to_string());
    String::from_utf8(bytes).with_context(|| format!("{name} is not UTF-8 text"))
}

fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 && n % (1 << 30) == 0 => format!("{} GiB", n >> 30),
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} bytes"),
    }
}
