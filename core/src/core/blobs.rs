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
            key: None,
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
            self.blobs.referenced(&file.hash);
        }
        Ok(BlobView::new(file, true, entries))
    }

    /// A circle's copy of a file this node holds: encrypted under a new
    /// random key, which the (sealed) reference carries.
    pub(crate) fn encrypt_file(&self, file: &BlobRef) -> Result<BlobRef> {
        if file.key.is_some() {
            return Ok(file.clone());
        }
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| Error::Io(format!("no randomness: {e}")))?;
        let (hash, size) = self.blobs.add_encrypted(&file.hash, &key)?;
        self.blobs.referenced(&hash);
        Ok(BlobRef {
            hash,
            size,
            key: Some(key),
            ..file.clone()
        })
    }

    /// Drops the blobs no entry references any more (after a deletion).
    pub(crate) fn sweep_blobs(&self) {
        let store = &self.store;
        let referenced = |hash: &kith_protocol::blob::BlobHash| {
            // A store that cannot be read keeps the blob.
            store.blob_refs(hash).map_or(true, |refs| !refs.is_empty())
        };
        match self.blobs.sweep(referenced) {
            Ok(dropped) => {
                for hash in dropped {
                    tracing::info!(%hash, "dropped a file no entry references any more");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot sweep the blob store"),
        }
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
        for file in files {
            self.blobs.referenced(&file.hash);
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::config::DataDir;
    use crate::ops;

    fn core_in(dir: &std::path::Path, seed: u8) -> Core {
        let data = DataDir::new(dir);
        crate::testing::core_with(seed, |c| c.data_dir = data)
    }

    fn add(core: &mut Core, dir: &std::path::Path, name: &str, bytes: &[u8]) -> BlobRef {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        core.run(ops::BlobAdd {
            path: path.to_string_lossy().into_owned(),
            name: None,
            media_type: None,
            declare: false,
        })
        .unwrap()
        .file
    }

    /// A file attached to a post lives as long as some entry references
    /// it: deleting the post drops it, unless another post attaches it too.
    #[test]
    fn deleting_the_last_post_that_attaches_a_file_drops_it() {
        let dir = tempfile::tempdir().unwrap();
        let files = tempfile::tempdir().unwrap();
        let mut core = core_in(dir.path(), 1);
        let shared = add(&mut core, files.path(), "shared.pdf", b"in two posts");
        let alone = add(&mut core, files.path(), "alone.png", b"in one post");
        let first = core
            .run(ops::Post {
                files: vec![shared.clone(), alone.clone()],
                ..ops::Post::note("the first")
            })
            .unwrap();
        core.run(ops::Post {
            files: vec![shared.clone()],
            ..ops::Post::note("the second")
        })
        .unwrap();
        core.run(ops::Delete {
            id: first.id.into(),
        })
        .unwrap();
        assert!(!core.blobs().has(&alone.hash), "nothing references it");
        assert!(core.blobs().has(&shared.hash), "the second post does");
    }

    /// What a user writes is checked: a file this node does not hold, a
    /// size that is not the file's, a bad name, and files in a circle are
    /// refused with a sentence that says what to do.
    #[test]
    fn attaching_checks_what_is_attached() {
        let dir = tempfile::tempdir().unwrap();
        let files = tempfile::tempdir().unwrap();
        let mut core = core_in(dir.path(), 1);
        let file = add(&mut core, files.path(), "notes.txt", b"notes");
        assert_eq!(file.media_type, "text/plain");
        let refused = |core: &mut Core, files: Vec<BlobRef>| {
            core.run(ops::Post {
                files,
                ..ops::Post::note("with a file")
            })
            .unwrap_err()
            .to_string()
        };
        let missing = BlobRef {
            hash: kith_protocol::blob::BlobHash([7; 32]),
            ..file.clone()
        };
        assert!(refused(&mut core, vec![missing]).contains("add the file first"));
        let wrong = BlobRef {
            size: 99,
            ..file.clone()
        };
        assert!(refused(&mut core, vec![wrong]).contains("not 99"));
        let named = BlobRef {
            name: "../x".into(),
            ..file.clone()
        };
        assert!(refused(&mut core, vec![named]).contains("bad file name"));
        let err = core
            .run(ops::BlobAdd {
                path: "notes.txt".into(),
                name: None,
                media_type: None,
                declare: false,
            })
            .unwrap_err();
        assert!(err.to_string().contains("not an absolute path"), "{err}");
        // A post of files alone (no text) is fine.
        core.run(ops::Post {
            files: vec![file.clone()],
            ..ops::Post::note("")
        })
        .unwrap();
        core.run(ops::CircleCreate {
            name: "team".into(),
            members: vec![],
        })
        .unwrap();
        // In a circle, the file is a new blob: the file encrypted under a
        // key only the sealed post carries.
        let posted = core
            .run(ops::Post {
                files: vec![file.clone()],
                circle: Some("team".into()),
                ..ops::Post::note("for the team")
            })
            .unwrap();
        let sealed = &posted.files[0];
        assert_ne!(sealed.hash, file.hash);
        assert!(sealed.key.is_some());
        assert_eq!(
            (sealed.size, sealed.name.as_str()),
            (file.size, "notes.txt")
        );
        let on_disk = std::fs::read(core.blobs().path(&sealed.hash)).unwrap();
        assert_ne!(on_disk, b"notes", "a circle's file is kept encrypted");
        let read = core
            .run(ops::BlobGet {
                hash: sealed.hash.to_string(),
                entry: None,
            })
            .unwrap()
            .into_bytes()
            .unwrap();
        assert_eq!(read, b"notes");
        // Declaring a file (for everyone) in a circle is refused.
        let err = core
            .run(ops::BlobAdd {
                path: files
                    .path()
                    .join("notes.txt")
                    .to_string_lossy()
                    .into_owned(),
                name: None,
                media_type: None,
                declare: true,
            })
            .map(|_| ());
        assert!(err.is_ok(), "declaring outside a circle works");
    }

    /// A modified client references someone's file with a key of its own
    /// (in a circle, to make members read garbage) or another type: which
    /// reference is read is not decided by entry ids, which writers can
    /// grind. Read from its post, the file is right; read by hash alone,
    /// the disagreement is refused.
    #[test]
    fn a_reference_a_writer_chose_to_win_does_not_decide_how_a_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let files = tempfile::tempdir().unwrap();
        let mut core = core_in(dir.path(), 1);
        let file = add(&mut core, files.path(), "plan.txt", b"the real plan");
        let honest = core
            .run(ops::Post {
                files: vec![file.clone()],
                ..ops::Post::note("the plan")
            })
            .unwrap();
        let forged = BlobRef {
            key: Some([9; 32]),
            ..file.clone()
        };
        core.append(&[kith_protocol::Body::Post(kith_protocol::Post {
            kind: kith_protocol::PostKind::Note,
            text: "the plan, again".into(),
            reply_to: None,
            tags: vec![],
            files: vec![forged],
            mentions: vec![],
        })])
        .unwrap();
        let read = |core: &mut Core, entry: Option<kith_protocol::EntryId>| {
            core.run(ops::BlobGet {
                hash: file.hash.to_string(),
                entry: entry.map(Into::into),
            })
            .and_then(|s| s.into_bytes())
        };
        let refused = read(&mut core, None).unwrap_err();
        assert!(
            refused.to_string().contains("open it from its post"),
            "{refused}"
        );
        assert_eq!(read(&mut core, Some(honest.id)).unwrap(), b"the real plan");
    }
}
