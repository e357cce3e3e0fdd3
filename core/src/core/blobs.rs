//! Files and images a person adds (`kith blob add`, `--attach`).

use std::path::Path;

use kith_protocol::Body;
use kith_protocol::blob::{BlobRef, Files, check_media_type, check_name};

use super::Core;
use crate::error::{Error, Result};
use crate::ops::blobs::{BlobAdd, BlobView};

impl Core {
    /// Adds a file to the blob store and, if asked, declares it in a signed
    /// entry (kind 21).
    pub fn blob_add(&mut self, add: &BlobAdd) -> Result<BlobView> {
        let path = Path::new(&add.path);
        if !path.is_absolute() {
            return Err(Error::InvalidInput(format!(
                "{} is not an absolute path (the node may run elsewhere than this directory)",
                add.path
            )));
        }
        if !path.is_file() {
            return Err(Error::InvalidInput(format!("{} is not a file", add.path)));
        }
        let name = match &add.name {
            Some(name) => name.clone(),
            None => path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .ok_or_else(|| Error::InvalidInput(format!("{} has no file name", add.path)))?,
        };
        check_name(&name)?;
        let media_type = match &add.media_type {
            Some(t) => t.trim().to_ascii_lowercase(),
            None => media_type_of(&name),
        };
        check_media_type(&media_type)?;
        let (hash, size) = self.blobs.add_file(path)?;
        let file = BlobRef {
            hash,
            size,
            media_type,
            name,
        };
        let mut entries = Vec::new();
        if add.declare {
            let body = Body::Files(Files {
                files: vec![file.clone()],
            });
            body.check(self.store.limits())?;
            let entry = self
                .append_placed(vec![(body, None)])?
                .pop()
                .expect("one entry per body");
            entries.push(entry.id());
        }
        Ok(BlobView::new(file, true, entries))
    }

    /// Checks the files a post attaches: each is held here, whole, with
    /// the size it claims.
    pub(crate) fn check_attached(&self, files: &[BlobRef]) -> Result<()> {
        kith_protocol::blob::check_files(files)?;
        for file in files {
            match self.blobs.size(&file.hash) {
                Some(size) if size == file.size => {}
                Some(size) => {
                    return Err(Error::InvalidInput(format!(
                        "{} is {size} bytes here, not {}",
                        file.hash, file.size
                    )));
                }
                None => {
                    return Err(Error::InvalidInput(format!(
                        "blob {} is not on this node: add the file first (`kith blob add`)",
                        file.hash
                    )));
                }
            }
        }
        Ok(())
    }
}

/// The media type of a file by its name's extension
/// (`application/octet-stream` when unknown).
pub fn media_type_of(name: &str) -> String {
    let guess = mime_guess::from_path(name).first_or_octet_stream();
    let essence = guess.essence_str().to_ascii_lowercase();
    if check_media_type(&essence).is_ok() {
        essence
    } else {
        "application/octet-stream".into()
    }
}
