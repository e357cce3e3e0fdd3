//! How a command reaches the node: through the API of a running node on the
//! same data dir, or, with none running, directly on the store.

use anyhow::{Context, Result};
use kith_node::model::{EntryView, FeedParams, IdView, NewPost, TrustParams, TrustView};
use kith_node::store::{ReindexReport, VerifyReport};
use kith_node::{Config, Core, DataDir, identity};

pub enum Backend {
    Direct(Box<Core>),
}

impl Backend {
    /// Connects to the node of `data_dir`.
    pub fn connect(data_dir: &DataDir) -> Result<Backend> {
        let config = Config::load(data_dir.clone())?;
        let keypair = identity::load(&data_dir.identity())?;
        let core = Core::open(config, keypair)
            .with_context(|| format!("opening the store in {}", data_dir.path().display()))?;
        Ok(Backend::Direct(Box::new(core)))
    }

    pub fn whoami(&mut self) -> Result<IdView> {
        match self {
            Backend::Direct(core) => Ok(core.whoami()?),
        }
    }

    pub fn post(&mut self, post: &NewPost) -> Result<EntryView> {
        match self {
            Backend::Direct(core) => Ok(core.post(post)?),
        }
    }

    pub fn feed(&mut self, params: &FeedParams) -> Result<Vec<EntryView>> {
        match self {
            Backend::Direct(core) => Ok(core.feed(params)?),
        }
    }

    pub fn trust_add(&mut self, params: &TrustParams) -> Result<TrustView> {
        match self {
            Backend::Direct(core) => Ok(core.trust_add(params)?),
        }
    }

    pub fn trust_remove(&mut self, author: &str) -> Result<bool> {
        match self {
            Backend::Direct(core) => Ok(core.trust_remove(author)?),
        }
    }

    pub fn trust_list(&mut self) -> Result<Vec<TrustView>> {
        match self {
            Backend::Direct(core) => Ok(core.trust_list()?),
        }
    }

    pub fn verify(&mut self) -> Result<VerifyReport> {
        match self {
            Backend::Direct(core) => Ok(core.verify()?),
        }
    }

    pub fn reindex(&mut self) -> Result<ReindexReport> {
        match self {
            Backend::Direct(core) => Ok(core.reindex()?),
        }
    }
}
