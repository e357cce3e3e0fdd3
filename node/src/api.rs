//! The local HTTP JSON API: how the CLI (and scripts) talk to a running node.
//! Its routes are the operations of [`crate::ops`], one each, encoded by
//! the rules of [`crate::ops::http`] (docs/API.md lists them).
//!
//! It listens on loopback by default and requires `Authorization: Bearer
//! <token>`, where the token lives in `<data dir>/api.token` (mode 0600), so
//! only the user who owns the data dir can use it. A running node writes
//! `<data dir>/api.json` ([`Endpoint`]) so other `kith` commands find it.
//! Requests whose `Host` header is not a loopback name are refused, which
//! defeats DNS rebinding from web pages.

mod client;
pub(crate) mod server;

use std::net::SocketAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use self::client::Client;
pub(crate) use self::server::router;
use crate::error::{Error, ErrorKind, Result};

/// The API path prefix.
pub const PREFIX: &str = "/api/v1";

/// Where a running node's API listens; written to `api.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Endpoint {
    pub addr: SocketAddr,
    pub pid: u32,
}

/// The body of every error response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    pub kind: ErrorKind,
}

/// Reads the token, creating a fresh random one (mode 0600) if there is none.
pub(crate) fn load_or_create_token(path: &Path) -> Result<String> {
    match std::fs::read_to_string(path) {
        Ok(t) if !t.trim().is_empty() => return Ok(t.trim().to_string()),
        Ok(_) => {
            std::fs::remove_file(path)
                .map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::Io(format!("{}: {e}", path.display()))),
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| Error::Io(format!("no randomness: {e}")))?;
    let token = hex::encode(bytes);
    let mut file = crate::identity::secret_file(path)
        .map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
    std::io::Write::write_all(&mut file, token.as_bytes())
        .map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
    Ok(token)
}

/// Writes `api.json` atomically (write to a temp file, then rename).
pub(crate) fn write_endpoint(path: &Path, endpoint: &Endpoint) -> Result<()> {
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string(endpoint).expect("an endpoint serializes");
    std::fs::write(&tmp, text).map_err(|e| Error::Io(format!("{}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::Io(format!("{}: {e}", path.display())))
}

pub(crate) fn read_endpoint(path: &Path) -> Option<Endpoint> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

/// The web app's sign-in URL for an API address and token.
pub fn web_url(addr: SocketAddr, token: &str) -> String {
    let host = if addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    };
    format!("http://{host}/login?token={token}")
}

/// The sign-in URL of the node running on `data_dir`, if one runs.
pub fn running_web_url(data_dir: &crate::config::DataDir) -> Option<String> {
    let endpoint = read_endpoint(&data_dir.api_endpoint())?;
    let token = std::fs::read_to_string(data_dir.api_token()).ok()?;
    Some(web_url(endpoint.addr, token.trim()))
}
