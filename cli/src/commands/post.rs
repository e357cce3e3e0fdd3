//! `kith post`: write a note, question or answer.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use kith_node::refs::EntryRef;
use kith_node::{DataDir, ops};
use kith_protocol::PostKind;
use kith_protocol::blob::BlobRef;

use crate::backend::Backend;
use crate::output;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    body: Respond,
    /// note, question or answer
    #[arg(long, default_value = "note")]
    kind: PostKind,
    /// Reply to an entry (id or unique prefix)
    #[arg(long, value_name = "ID")]
    reply_to: Option<EntryRef>,
    /// Write it in a private circle (name or id): only its members read it
    #[arg(long, value_name = "CIRCLE")]
    circle: Option<String>,
    /// Print the new entry as JSON
    #[arg(long)]
    json: bool,
}

/// The text of a post, answer or reply, and its tags.
#[derive(Debug, clap::Args)]
pub struct Respond {
    /// The text (markdown); `-` reads stdin
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    text: Option<String>,
    /// Read the text from a file
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
    /// A tag (repeatable)
    #[arg(long = "tag", short = 't', value_name = "TAG")]
    tags: Vec<String>,
    /// Attach a file: an image, a log, a PDF… (repeatable)
    #[arg(long = "attach", short = 'a', value_name = "FILE")]
    attach: Vec<PathBuf>,
}

impl Respond {
    /// Writes the operation `op` makes of the text and tags; prints the
    /// new entry's id.
    pub fn send<O>(
        self,
        data_dir: &DataDir,
        op: impl FnOnce(String, Vec<String>, Vec<BlobRef>) -> O,
    ) -> Result<()>
    where
        O: kith_node::Operation<Output = kith_node::model::EntryView>,
    {
        let text = read_text(self.text, self.file)?;
        let mut backend = Backend::connect(data_dir)?;
        let files = attach(&mut backend, &self.attach)?;
        let view = backend.call(op(text, self.tags, files))?;
        println!("{}", view.id);
        Ok(())
    }
}

/// Adds each file to the node's files: the references a post carries.
pub fn attach(backend: &mut Backend, paths: &[PathBuf]) -> Result<Vec<BlobRef>> {
    paths
        .iter()
        .map(|path| {
            let absolute = std::fs::canonicalize(path)
                .with_context(|| format!("cannot attach {}", path.display()))?;
            let view = backend.call(ops::BlobAdd {
                path: absolute.to_string_lossy().into_owned(),
                name: None,
                media_type: None,
                declare: false,
            })?;
            Ok(view.file)
        })
        .collect()
}

/// Reads the text argument, `-` (stdin) or `--file`, for a post.
pub fn read_text(text: Option<String>, file: Option<PathBuf>) -> Result<String> {
    read_text_for(
        text,
        file,
        kith_protocol::limits::DEFAULT_MAX_BODY_BYTES as u64,
        "a post",
    )
}

/// Reads the text argument, `-` (stdin) or `--file`: at most `max` bytes
/// for `what`.
pub fn read_text_for(
    text: Option<String>,
    file: Option<PathBuf>,
    max: u64,
    what: &str,
) -> Result<String> {
    let text = match (text.as_deref(), file) {
        (_, Some(path)) => crate::input::read_text_limited(Some(&path), max, what)?,
        (Some("-"), None) => crate::input::read_text_limited(None, max, what)?,
        (Some(t), None) => t.to_string(),
        (None, None) => bail!("give the text, `-` for stdin, or --file FILE"),
    };
    if text.trim().is_empty() {
        bail!("the text is empty");
    }
    Ok(text)
}

pub fn run(data_dir: &DataDir, args: Args) -> Result<()> {
    let text = read_text(args.body.text, args.body.file)?;
    let mut backend = Backend::connect(data_dir)?;
    let files = attach(&mut backend, &args.body.attach)?;
    let view = backend.call(ops::Post {
        circle: args.circle,
        text,
        kind: args.kind,
        reply_to: args.reply_to,
        tags: args.body.tags,
        files,
    })?;
    if args.json {
        output::json(&view)?;
    }
    println!("{}", view.id);
    Ok(())
}
