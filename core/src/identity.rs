//! The node's identity key on disk: 32 secret bytes as hex in
//! `<data dir>/identity.key`, created with mode 0600 and never overwritten.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use kith_protocol::Keypair;

/// Errors reading or creating the identity.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no identity in {0} yet: run `kith init` (or `kith up`, which creates one)")]
    Missing(PathBuf),
    #[error("an identity already exists at {0}; refusing to overwrite it")]
    Exists(PathBuf),
    #[error("identity file {path} is unreadable: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("identity file {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("no randomness available from the operating system: {0}")]
    Random(String),
}

/// Loads the identity stored at `path`.
pub fn load(path: &Path) -> Result<Keypair, Error> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Error::Missing(
                path.parent().unwrap_or(Path::new(".")).to_path_buf(),
            ));
        }
        Err(source) => {
            return Err(Error::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let mut secret = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut secret).map_err(|e| Error::Invalid {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    Ok(Keypair::from_secret(&secret))
}

/// Creates a fresh identity at `path`, refusing to replace an existing one.
pub fn create(path: &Path) -> Result<Keypair, Error> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| Error::Random(e.to_string()))?;
    create_from_secret(path, &secret)
}

/// Writes a given secret as the identity (tests use fixed seeds).
pub fn create_from_secret(path: &Path, secret: &[u8; 32]) -> Result<Keypair, Error> {
    let io_err = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io_err)?;
    }
    let mut file = match secret_file(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(Error::Exists(path.to_path_buf()));
        }
        Err(e) => return Err(io_err(e)),
    };
    let keypair = Keypair::from_secret(secret);
    writeln!(file, "{}", hex::encode(secret)).map_err(io_err)?;
    file.sync_all().map_err(io_err)?;
    Ok(keypair)
}

/// Loads the identity, creating it first if there is none.
pub fn load_or_create(path: &Path) -> Result<(Keypair, bool), Error> {
    match load(path) {
        Ok(k) => Ok((k, false)),
        Err(Error::Missing(_)) => match create(path) {
            Ok(k) => Ok((k, true)),
            // Another process created it between our read and write.
            Err(Error::Exists(_)) => Ok((load(path)?, false)),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    }
}

/// Opens a new file readable only by its owner, failing if it exists.
pub fn secret_file(path: &Path) -> io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_load_and_refuse_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("identity.key");
        assert!(matches!(load(&path), Err(Error::Missing(_))));
        let kp = create(&path).unwrap();
        assert_eq!(load(&path).unwrap().author(), kp.author());
        assert!(matches!(create(&path), Err(Error::Exists(_))));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (again, created) = load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(again.author(), kp.author());
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("identity.key");
        fs::write(&path, "not hex").unwrap();
        assert!(matches!(load(&path), Err(Error::Invalid { .. })));
    }
}
