//! How a command reaches the node: through the API of a running node on the
//! same data dir, or, with none running, directly on the store. Either way
//! it is the same operation of `kith_node::ops`, run by `call`.

use anyhow::{Context, Result};
use kith_node::api::Client;
use kith_node::{Config, Core, DataDir, Operation, identity};

pub enum Backend {
    /// A node is running: go through its API.
    Api(Client),
    /// No node running: work on the store directly.
    Direct(Box<Core>),
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Backend::Direct(core) = self
            && let Err(e) = core.close()
        {
            eprintln!("warning: closing the store: {e}");
        }
    }
}

/// The data directory's config, keeping the head witness in its default
/// place (`kith up --witness-dir` overrides it).
pub fn load_config(data_dir: &DataDir) -> Result<Config> {
    let mut config = Config::load(data_dir.clone())?;
    config.witness_dir = kith_node::witness::Witness::default_dir();
    Ok(config)
}

impl Backend {
    /// Connects to the node of `data_dir`: its API if it runs, else the store.
    pub fn connect(data_dir: &DataDir) -> Result<Backend> {
        if let Some(client) = Client::discover(data_dir)? {
            return Ok(Backend::Api(client));
        }
        let config = load_config(data_dir)?;
        let keypair = identity::load(&data_dir.identity())?;
        let core = Core::open(config, keypair)
            .with_context(|| format!("opening the store in {}", data_dir.path().display()))?;
        Ok(Backend::Direct(Box::new(core)))
    }

    /// Whether a node runs (and this goes through its API).
    pub fn is_running(&self) -> bool {
        matches!(self, Backend::Api(_))
    }

    /// Runs an operation and writes its answer's body to `out` as it is
    /// produced (a bundle), through the API or directly. Returns the bytes
    /// written.
    pub fn call_into<O: Operation>(&mut self, op: O, out: &mut dyn std::io::Write) -> Result<u64> {
        use kith_node::ops::http::Response as _;
        Ok(match self {
            Backend::Api(client) => client.call_into(op, out)?,
            Backend::Direct(core) => {
                let mut counted = Counted { out, bytes: 0 };
                core.run(op)?.into_http().1.write_to(&mut counted)?;
                counted.bytes
            }
        })
    }

    /// Runs an operation on the node, or directly on the store.
    pub fn call<O: Operation>(&mut self, op: O) -> Result<O::Output> {
        Ok(match self {
            Backend::Api(client) => client.call(op)?,
            Backend::Direct(core) => core.run(op)?,
        })
    }
}

/// A writer that counts what goes through it.
struct Counted<'a> {
    out: &'a mut dyn std::io::Write,
    bytes: u64,
}

impl std::io::Write for Counted<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(data)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}
