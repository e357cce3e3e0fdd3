//! Where a node keeps its files, and how it is configured: built-in
//! defaults, overridden by `<data dir>/config.toml`, overridden by flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kith_protocol::Limits;
use multiaddr::Multiaddr;
use serde::Deserialize;

/// The default port of the local HTTP API and web UI.
pub const DEFAULT_API_PORT: u16 = 7447;

/// Errors finding or reading configuration.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "cannot determine a data directory for this platform; pass --data-dir or set KITH_DATA_DIR"
    )]
    NoDataDir,
    #[error("config file {path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("invalid {what} {value:?}: {reason}")]
    Invalid {
        what: &'static str,
        value: String,
        reason: String,
    },
}

/// The files of one node, all under one directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir(PathBuf);

impl DataDir {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        DataDir(path.into())
    }

    /// The platform's per-user data directory for Kith
    /// (e.g. `~/.local/share/kith` on Linux).
    pub fn platform_default() -> Result<Self, Error> {
        directories::ProjectDirs::from("", "", "kith")
            .map(|d| DataDir(d.data_dir().to_path_buf()))
            .ok_or(Error::NoDataDir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn identity(&self) -> PathBuf {
        self.0.join("identity.key")
    }

    pub fn store(&self) -> PathBuf {
        self.0.join("store")
    }

    pub fn search_index(&self) -> PathBuf {
        self.0.join("search")
    }

    /// Files and images (`kith_store::blobs`).
    pub fn blobs(&self) -> PathBuf {
        self.0.join("blobs")
    }

    pub fn config_file(&self) -> PathBuf {
        self.0.join("config.toml")
    }

    /// Written by a running node: where its API listens (see `api::Endpoint`).
    pub fn api_endpoint(&self) -> PathBuf {
        self.0.join("api.json")
    }

    /// The API bearer token (mode 0600).
    pub fn api_token(&self) -> PathBuf {
        self.0.join("api.token")
    }

    /// The key web sessions are derived from (replaced to sign every
    /// browser out).
    pub fn web_session_key(&self) -> PathBuf {
        self.0.join("web-session.key")
    }

    /// The ports a node was given for its `.../0` listen addresses, so
    /// that it listens (and its invite code stays) the same after a restart.
    pub fn listen_ports(&self) -> PathBuf {
        self.0.join("ports.json")
    }
}

/// Everything a node needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: DataDir,
    /// libp2p listen addresses.
    pub listen: Vec<Multiaddr>,
    /// Address of the local HTTP API and web UI.
    pub api: SocketAddr,
    /// Find peers on the LAN by mDNS.
    pub mdns: bool,
    /// Addresses dialled at start.
    pub bootstrap: Vec<Multiaddr>,
    /// 1: replicate me and the authors I trust; 2: also whom they vouch for.
    pub hops: u8,
    pub limits: Limits,
    /// sled's page cache (`cache_mib`). 8 MiB by default, not 16: a node
    /// catching up 100,000 entries peaked 0.90× as high (123–139 MiB
    /// against 146–150), and reads at a million entries stayed far within
    /// their goals (docs/BENCHMARKS.md, "sled's cache"); the system's page
    /// cache holds the store's file either way.
    pub cache_bytes: u64,
    /// Most simultaneous connections (in plus out).
    pub max_connections: u32,
    /// How often catch-up re-runs with every connected peer, as a safety net
    /// behind gossip.
    pub resync_interval: Duration,
    /// Most entries a peer may push to us per second before we drop its
    /// gossip (catch-up is pulled, so not limited by this).
    pub gossip_rate_per_peer: u32,
    /// What this node offers friends as a relay (`[relay]` in config.toml).
    pub relay: RelayLimits,
    /// While a recovery is pending, how long a peer this node does not know
    /// yet stays connected unless the lost key's log names it a recovery
    /// contact (PROTOCOL.md §11.5).
    pub recovery_probation: Duration,
    /// Where the head witness is kept, outside the data directory
    /// ([`crate::witness`]); `None` keeps none (a restored backup is then
    /// found only by asking peers).
    pub witness_dir: Option<PathBuf>,
    /// How long opening the store may spend bringing a search index that
    /// is behind up to date before the node serves; a running node does
    /// the rest in slices between other work.
    pub open_search_budget: Duration,
    /// Files and images (`[blobs]` in config.toml).
    pub blobs: BlobSettings,
}

/// Limits of the blob store and when blobs are fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobSettings {
    /// Largest file a user may attach, and a node fetches (`max_file_mib`).
    pub max_file: u64,
    /// Space all blobs may take (`quota_mib`).
    pub quota: u64,
    /// Files up to this size are fetched as soon as the entry naming them
    /// arrives; larger ones when they are shown or asked for (`eager_mib`).
    pub eager_max: u64,
}

impl Default for BlobSettings {
    fn default() -> Self {
        let limits = kith_store::blobs::Limits::default();
        BlobSettings {
            max_file: limits.max_file,
            quota: limits.quota,
            eager_max: 16 * 1024 * 1024,
        }
    }
}

impl BlobSettings {
    /// The blob store's limits.
    pub fn limits(&self) -> kith_store::blobs::Limits {
        kith_store::blobs::Limits {
            max_file: self.max_file,
            quota: self.quota,
        }
    }
}

impl Config {
    /// Defaults for a node in `data_dir`.
    pub fn new(data_dir: DataDir) -> Self {
        Config {
            data_dir,
            listen: vec![
                "/ip4/0.0.0.0/tcp/0".parse().expect("valid multiaddr"),
                "/ip4/0.0.0.0/udp/0/quic-v1"
                    .parse()
                    .expect("valid multiaddr"),
            ],
            api: SocketAddr::from(([127, 0, 0, 1], DEFAULT_API_PORT)),
            mdns: true,
            bootstrap: Vec::new(),
            hops: 1,
            limits: Limits::default(),
            cache_bytes: 8 * 1024 * 1024,
            max_connections: 512,
            resync_interval: Duration::from_secs(60),
            gossip_rate_per_peer: 2_000,
            relay: RelayLimits::default(),
            recovery_probation: Duration::from_secs(30),
            witness_dir: None,
            open_search_budget: Duration::from_millis(300),
            blobs: BlobSettings::default(),
        }
    }

    /// Defaults, then `config.toml` in the data dir if it exists.
    pub fn load(data_dir: DataDir) -> Result<Self, Error> {
        let mut config = Config::new(data_dir);
        let path = config.data_dir.config_file();
        match std::fs::read_to_string(&path) {
            Ok(text) => config.apply_toml(&text).map_err(|reason| Error::File {
                path: path.clone(),
                reason,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::File {
                    path,
                    reason: e.to_string(),
                });
            }
        }
        Ok(config)
    }

    /// Applies the settings present in a TOML document.
    pub fn apply_toml(&mut self, text: &str) -> Result<(), String> {
        let file: FileConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        if let Some(listen) = file.listen {
            self.listen = parse_all("listen address", &listen).map_err(|e| e.to_string())?;
        }
        if let Some(api) = file.api {
            self.api = parse_api_addr(&api).map_err(|e| e.to_string())?;
        }
        if let Some(mdns) = file.mdns {
            self.mdns = mdns;
        }
        if let Some(bootstrap) = file.bootstrap {
            self.bootstrap =
                parse_all("bootstrap address", &bootstrap).map_err(|e| e.to_string())?;
        }
        if let Some(hops) = file.hops {
            if !(1..=2).contains(&hops) {
                return Err(format!("hops must be 1 or 2, not {hops}"));
            }
            self.hops = hops;
        }
        if let Some(v) = file.cache_mib {
            self.cache_bytes = v * 1024 * 1024;
        }
        if let Some(v) = file.max_connections {
            self.max_connections = v;
        }
        if let Some(v) = file.resync_secs {
            self.resync_interval = Duration::from_secs(v.max(1));
        }
        if let Some(v) = file.gossip_rate_per_peer {
            self.gossip_rate_per_peer = v;
        }
        if let Some(v) = file.recovery_probation_secs {
            self.recovery_probation = Duration::from_secs(v.clamp(1, 3600));
        }
        if let Some(r) = file.relay {
            self.relay.apply(r)?;
        }
        if let Some(b) = file.blobs {
            const MIB: u64 = 1024 * 1024;
            if let Some(v) = b.max_file_mib {
                self.blobs.max_file = v.saturating_mul(MIB);
            }
            if let Some(v) = b.quota_mib {
                self.blobs.quota = v.saturating_mul(MIB);
            }
            if let Some(v) = b.eager_mib {
                self.blobs.eager_max = v.saturating_mul(MIB);
            }
        }
        if let Some(l) = file.limits {
            if let Some(v) = l.max_body_bytes {
                self.limits.max_body_bytes = v;
            }
            if let Some(v) = l.max_batch_bytes {
                self.limits.max_batch_bytes = v;
            }
            if let Some(v) = l.max_clock_skew_secs {
                self.limits.max_clock_skew_ms = v * 1000;
            }
            if let Some(v) = l.max_frontier_authors {
                self.limits.max_frontier_authors = v;
            }
        }
        Ok(())
    }
}

/// The shape of `config.toml`; every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<Vec<String>>,
    api: Option<String>,
    mdns: Option<bool>,
    bootstrap: Option<Vec<String>>,
    hops: Option<u8>,
    cache_mib: Option<u64>,
    max_connections: Option<u32>,
    resync_secs: Option<u64>,
    gossip_rate_per_peer: Option<u32>,
    recovery_probation_secs: Option<u64>,
    limits: Option<FileLimits>,
    relay: Option<FileRelay>,
    blobs: Option<FileBlobs>,
}

/// `[blobs]` in config.toml.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileBlobs {
    max_file_mib: Option<u64>,
    quota_mib: Option<u64>,
    eager_mib: Option<u64>,
}

/// What a node offers friends as a relay (trusted peers only: nobody else
/// can connect). It offers slots only while it is reachable.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct RelayLimits {
    /// Whether to relay for friends at all.
    pub offer: bool,
    /// Friends holding a slot at once.
    pub max_reservations: usize,
    /// Circuits through this node at once, and per friend.
    pub max_circuits: usize,
    pub max_circuits_per_friend: usize,
    /// How long one circuit may last and how much it may carry (each
    /// way) before it is closed; the two ends then connect again.
    pub circuit_secs: u64,
    pub circuit_mib: u64,
}

impl Default for RelayLimits {
    fn default() -> Self {
        RelayLimits {
            offer: true,
            max_reservations: 128,
            max_circuits: 64,
            max_circuits_per_friend: 8,
            circuit_secs: 3600,
            circuit_mib: 1024,
        }
    }
}

impl RelayLimits {
    fn apply(&mut self, file: FileRelay) -> Result<(), String> {
        let at_least_one = |name: &str, v: u64| {
            if v == 0 {
                Err(format!(
                    "[relay] {name} must be at least 1 (to relay for nobody: offer = false)"
                ))
            } else {
                Ok(v)
            }
        };
        if let Some(v) = file.offer {
            self.offer = v;
        }
        if let Some(v) = file.max_reservations {
            self.max_reservations = at_least_one("max_reservations", v as u64)? as usize;
        }
        if let Some(v) = file.max_circuits {
            self.max_circuits = at_least_one("max_circuits", v as u64)? as usize;
        }
        if let Some(v) = file.max_circuits_per_friend {
            self.max_circuits_per_friend =
                at_least_one("max_circuits_per_friend", v as u64)? as usize;
        }
        if let Some(v) = file.circuit_secs {
            self.circuit_secs = at_least_one("circuit_secs", v)?;
        }
        if let Some(v) = file.circuit_mib {
            self.circuit_mib = at_least_one("circuit_mib", v)?;
        }
        Ok(())
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRelay {
    offer: Option<bool>,
    max_reservations: Option<usize>,
    max_circuits: Option<usize>,
    max_circuits_per_friend: Option<usize>,
    circuit_secs: Option<u64>,
    circuit_mib: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLimits {
    max_body_bytes: Option<usize>,
    max_batch_bytes: Option<usize>,
    max_clock_skew_secs: Option<u64>,
    max_frontier_authors: Option<usize>,
}

/// Parses a multiaddr with a message naming what it was for.
pub fn parse_multiaddr(what: &'static str, value: &str) -> Result<Multiaddr, Error> {
    value
        .trim()
        .parse()
        .map_err(|e: multiaddr::Error| Error::Invalid {
            what,
            value: value.to_string(),
            reason: e.to_string(),
        })
}

fn parse_all(what: &'static str, values: &[String]) -> Result<Vec<Multiaddr>, Error> {
    values.iter().map(|v| parse_multiaddr(what, v)).collect()
}

/// Parses `HOST:PORT` for the API, or a bare port meaning 127.0.0.1:PORT.
pub fn parse_api_addr(value: &str) -> Result<SocketAddr, Error> {
    let value = value.trim();
    if let Ok(port) = value.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    value
        .parse()
        .map_err(|e: std::net::AddrParseError| Error::Invalid {
            what: "API address",
            value: value.to_string(),
            reason: format!("{e} (expected e.g. 127.0.0.1:{DEFAULT_API_PORT})"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_overrides_defaults_and_rejects_mistakes() {
        let mut config = Config::new(DataDir::new("/tmp/x"));
        config
            .apply_toml(
                r#"
                listen = ["/ip4/127.0.0.1/tcp/4001"]
                api = "127.0.0.1:0"
                mdns = false
                hops = 2
                [limits]
                max_body_bytes = 1000
                "#,
            )
            .unwrap();
        assert_eq!(config.listen.len(), 1);
        assert_eq!(config.api.port(), 0);
        assert!(!config.mdns);
        assert_eq!(config.hops, 2);
        assert_eq!(config.limits.max_body_bytes, 1000);
        assert!(config.apply_toml("hops = 3").is_err());
        assert!(config.apply_toml("lisen = []").is_err());
        assert!(config.apply_toml("listen = [\"nonsense\"]").is_err());
    }

    #[test]
    fn relay_limits_are_set_in_config_toml_and_checked() {
        let mut config = Config::new(DataDir::new("/tmp/x"));
        assert_eq!(config.relay, RelayLimits::default());
        config
            .apply_toml("[relay]\nmax_circuits = 4\ncircuit_secs = 600\ncircuit_mib = 50\n")
            .unwrap();
        assert_eq!(config.relay.max_circuits, 4);
        assert_eq!(config.relay.circuit_secs, 600);
        assert_eq!(config.relay.circuit_mib, 50);
        assert_eq!(
            config.relay.max_circuits_per_friend, 8,
            "unset keys keep their default"
        );
        config.apply_toml("[relay]\noffer = false\n").unwrap();
        assert!(!config.relay.offer);
        let zero = config
            .apply_toml("[relay]\nmax_circuits = 0\n")
            .unwrap_err();
        assert!(zero.contains("offer = false"), "{zero}");
        assert!(config.apply_toml("[relay]\ncircuits = 3\n").is_err());
    }

    #[test]
    fn api_addr_forms() {
        assert_eq!(
            parse_api_addr("8080").unwrap().to_string(),
            "127.0.0.1:8080"
        );
        assert_eq!(parse_api_addr("0.0.0.0:1").unwrap().port(), 1);
        assert!(parse_api_addr("localhost").is_err());
    }
}
