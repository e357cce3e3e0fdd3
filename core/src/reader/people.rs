//! A person as the store resolves it, for `devices` and the web's people
//! pages.

use kith_protocol::AuthorId;

use crate::error::Result;
use crate::store::Store;

/// The person `key` belongs to, with every key it has or had.
pub fn person_view(store: &Store, key: AuthorId) -> Result<crate::model::PersonView> {
    let registry = store.registry()?;
    let person = registry.person_of(&key);
    let mut devices = Vec::with_capacity(person.keys.len());
    for k in &person.keys {
        devices.push(crate::model::DeviceView {
            key: k.key,
            role: k.role,
            name: k.name.clone(),
            this_device: k.key == key,
            revoked: !k.active(),
            last_seq: k.last_seq,
            head_seq: store.head(&k.key)?.map_or(0, |h| h.seq),
            took_over_from: registry.predecessor(&k.key),
        });
    }
    let named = |key: AuthorId| -> Result<crate::model::Named> {
        Ok(crate::model::Named {
            key,
            name: store.display_name(&key)?,
        })
    };
    let recovery = match registry.recovery_contacts(&person) {
        Some(c) => Some(crate::model::RecoveryView {
            threshold: c.threshold,
            contacts: c.contacts.into_iter().map(named).collect::<Result<_>>()?,
        }),
        None => None,
    };
    Ok(crate::model::PersonView {
        root: person.root,
        identity: person.identity,
        name: store.display_name(&key)?,
        devices,
        conflict: person.conflict.map(|c| match c {
            kith_protocol::identity::Conflict::Fork { key, seq } => format!(
                "the identity key {key} signed two entries at seq {seq}: certificates from there on do not count until you decide"
            ),
            kith_protocol::identity::Conflict::Recovery { key, candidates } => format!(
                "recovery contacts vouched for {} different new keys replacing {key}: nothing changes until you decide",
                candidates.len()
            ),
            kith_protocol::identity::Conflict::Succession { key, candidates } => format!(
                "the identity key {key} was handed to {} different keys (a rotation, a recovery, or a \
                 restored backup going on under a new key): nothing changes until you decide",
                candidates.len()
            ),
        }),
        recovery,
        recovered_by: person
            .recovered_by
            .into_iter()
            .map(named)
            .collect::<Result<_>>()?,
    })
}
