//! The node's own records beside its entries: the keys it signs and
//! certifies with when they are not its libp2p key, the person a device
//! joined, and whether its head was ever witnessed.

use kith_protocol::AuthorId;

use super::{Result, Store, decode_author};
use crate::store::Error;

impl Store {
    /// The person this device joined (`kith device join`): keys of it (the
    /// identity key and the node that linked this device), replicated as
    /// my own person's.
    pub fn set_joined_person(&self, keys: &[AuthorId]) -> Result<()> {
        let key = super::meta_key("person");
        let value: Vec<u8> = keys.iter().flat_map(|k| *k.as_bytes()).collect();
        self.kv.insert(&key, value)?;
        self.kv.flush()?;
        Ok(())
    }

    /// The secret of the identity key this node holds since a rotation
    /// (`kith identity rotate`), when it is not the node's own key.
    pub fn set_cert_key(&self, secret: Option<&[u8; 32]>) -> Result<()> {
        self.set_secret("cert-key", secret)
    }

    pub fn cert_key(&self) -> Result<Option<[u8; 32]>> {
        self.secret("cert-key")
    }

    /// The secret of the key this node signs its log with since it took
    /// over from its previous key (PROTOCOL.md §11.6), when that is not the
    /// node's libp2p key.
    pub fn log_key(&self) -> Result<Option<[u8; 32]>> {
        self.secret("log-key")
    }

    /// A new log key, kept durable before its first entry is signed: it
    /// becomes the log key once that entry is stored ([`Store::adopt_log_key`]).
    pub fn set_pending_log_key(&self, secret: Option<&[u8; 32]>) -> Result<()> {
        self.set_secret("log-key-pending", secret)
    }

    pub fn pending_log_key(&self) -> Result<Option<[u8; 32]>> {
        self.secret("log-key-pending")
    }

    /// Makes the pending log key the log key, in one durable write.
    pub fn adopt_log_key(&self, secret: &[u8; 32]) -> Result<()> {
        let mut batch = super::kv::Batch::default();
        batch.insert(super::meta_key("log-key"), secret);
        batch.remove(super::meta_key("log-key-pending"));
        self.apply(batch)?;
        self.kv.flush()?;
        Ok(())
    }

    /// Whether this store's own writes were ever recorded in a head
    /// witness outside the data directory ([`crate::witness`]).
    pub fn witnessed(&self) -> Result<bool> {
        Ok(self.kv.get(super::meta_key("witnessed"))?.is_some())
    }

    pub fn set_witnessed(&self) -> Result<()> {
        self.kv.insert(super::meta_key("witnessed"), [])?;
        self.kv.flush()?;
        Ok(())
    }

    fn set_secret(&self, name: &str, secret: Option<&[u8; 32]>) -> Result<()> {
        let key = super::meta_key(name);
        match secret {
            Some(s) => self.kv.insert(&key, s)?,
            None => self.kv.remove(&key)?,
        }
        self.kv.flush()?;
        Ok(())
    }

    fn secret(&self, name: &str) -> Result<Option<[u8; 32]>> {
        match self.kv.get(super::meta_key(name))? {
            Some(v) => Ok(Some(
                v.as_ref()
                    .try_into()
                    .map_err(|_| Error::Corrupt(format!("{name} record")))?,
            )),
            None => Ok(None),
        }
    }

    pub fn joined_person(&self) -> Result<Vec<AuthorId>> {
        match self.kv.get(super::meta_key("person"))? {
            Some(v) if v.len() % 32 == 0 => v.chunks(32).map(decode_author).collect(),
            Some(_) => Err(Error::Corrupt("joined person record".into())),
            None => Ok(Vec::new()),
        }
    }
}
