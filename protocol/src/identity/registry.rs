//! The registry: every certificate a node holds, and the one way every
//! node resolves them into persons (PROTOCOL.md §11.2–11.5).

use std::collections::{BTreeMap, BTreeSet};

use super::{
    CertBody, Conflict, DeviceLink, DeviceRevoke, KeyState, MAX_CERTS_PER_LOG, MAX_KEYS_PER_PERSON,
    MAX_SUCCESSION_CHAIN, Person, RecoveryApproval, RecoveryContacts, Role, Rotate,
};
use crate::keys::AuthorId;
use recovery::Recovered;

mod recovery;

/// Every certificate a node holds, and the persons they make.
///
/// Certificates are kept per author and sequence number; a second,
/// different certificate at one (author, seq) marks that author's log as
/// forked there. Consents are checked once, when a certificate is added;
/// resolved persons are kept until the next certificate or fork.
#[derive(Debug, Default)]
pub struct Registry {
    /// Links and rotations whose consent verifies for their author.
    consented: BTreeSet<(AuthorId, u64)>,
    /// Persons resolved so far: (root, with recoveries) → person.
    resolved: std::sync::Mutex<BTreeMap<(AuthorId, bool), Person>>,
    certs: BTreeMap<AuthorId, BTreeMap<u64, CertBody>>,
    forks: BTreeMap<AuthorId, u64>,
    /// Reverse links: device or new identity key → keys whose certificate
    /// (with a valid consent) names it, or whose recovery asks for it.
    named_by: BTreeMap<AuthorId, BTreeSet<AuthorId>>,
    /// Recovery approvals with a valid consent, by the key they recover:
    /// (approver, approver's seq, approval).
    approvals: BTreeMap<AuthorId, Vec<(AuthorId, u64, RecoveryApproval)>>,
    /// Valid handovers of an identity (kind 14 at seq 1): old key → new
    /// key → how far the old key's log went (`at`).
    handovers: BTreeMap<AuthorId, BTreeMap<AuthorId, u64>>,
    /// Valid handovers of a device's place: old key → new keys.
    successors: BTreeMap<AuthorId, BTreeSet<AuthorId>>,
}

impl Clone for Registry {
    fn clone(&self) -> Registry {
        Registry {
            consented: self.consented.clone(),
            resolved: Default::default(),
            certs: self.certs.clone(),
            forks: self.forks.clone(),
            named_by: self.named_by.clone(),
            approvals: self.approvals.clone(),
            handovers: self.handovers.clone(),
            successors: self.successors.clone(),
        }
    }
}

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    fn forget_resolved(&mut self) {
        self.resolved
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Adds a certificate found at `author`'s `seq`. Returns whether it was
    /// new (a caller re-resolves persons then).
    pub fn add(&mut self, author: AuthorId, seq: u64, cert: CertBody) -> bool {
        self.forget_resolved();
        let log = self.certs.entry(author).or_default();
        match log.get(&seq) {
            Some(existing) if *existing == cert => return false,
            Some(_) => {
                let at = self.forks.entry(author).or_insert(seq);
                *at = (*at).min(seq);
                return true;
            }
            None => {}
        }
        let named = match &cert {
            CertBody::Link(l) if l.consented(&author) => {
                self.consented.insert((author, seq));
                Some((l.device, author))
            }
            CertBody::Rotate(r) if r.consented(&author) => {
                self.consented.insert((author, seq));
                Some((r.new, author))
            }
            CertBody::Approval(a) if a.consented() => {
                self.approvals
                    .entry(a.old)
                    .or_default()
                    .push((author, seq, a.clone()));
                Some((a.new, a.old))
            }
            CertBody::Succession(s) if seq == 1 && s.consented(&author) => {
                if s.identity {
                    self.handovers
                        .entry(s.from)
                        .or_default()
                        .insert(author, s.at);
                } else {
                    self.successors.entry(s.from).or_default().insert(author);
                }
                Some((author, s.from))
            }
            _ => None,
        };
        if let Some((named, by)) = named {
            self.named_by.entry(named).or_default().insert(by);
        }
        log.insert(seq, cert);
        true
    }

    /// Marks `author`'s log as forked at `seq` (a fork proof from elsewhere).
    pub fn add_fork(&mut self, author: AuthorId, seq: u64) {
        self.forget_resolved();
        let at = self.forks.entry(author).or_insert(seq);
        *at = (*at).min(seq);
    }

    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    /// The key `key` took over from (its first entry is a valid kind 14).
    pub fn predecessor(&self, key: &AuthorId) -> Option<AuthorId> {
        match self.certs.get(key)?.get(&1)? {
            CertBody::Succession(s) if s.consented(key) => Some(s.from),
            _ => None,
        }
    }

    /// The person a key belongs to. A key that no certificate names is a
    /// person of its own. A key claimed by two persons belongs to neither:
    /// it stands alone, so neither can borrow the other's entries.
    pub fn person_of(&self, key: &AuthorId) -> Person {
        self.person_of_with(key, true)
    }

    fn person_of_with(&self, key: &AuthorId, recovery: bool) -> Person {
        let roots = self.roots_of(key);
        let mut owners: Vec<Person> = roots
            .into_iter()
            .map(|root| self.resolve_with(root, recovery))
            .filter(|p| p.key(key).is_some())
            .collect();
        if owners.len() == 1 {
            return owners.remove(0);
        }
        // Claimed by several persons: a person of its own, but an end any
        // of them gave it stays (a revoked device cannot escape its
        // revocation by consenting to a second person).
        let mut alone = Person::single(*key);
        let ended = owners
            .iter()
            .filter_map(|p| p.key(key).and_then(|k| k.last_seq.map(|l| (l, k.ended_by))))
            .min_by_key(|(l, _)| *l);
        if let Some((last, by)) = ended {
            alone.keys[0].last_seq = Some(last);
            alone.keys[0].ended_by = by;
        }
        alone
    }

    /// Candidate roots of a key: walk back along the certificates that name
    /// it until a key no certificate names.
    fn roots_of(&self, key: &AuthorId) -> BTreeSet<AuthorId> {
        let mut roots = BTreeSet::new();
        let mut seen = BTreeSet::new();
        let mut todo = vec![*key];
        while let Some(k) = todo.pop() {
            if !seen.insert(k) || seen.len() > 4096 {
                continue;
            }
            match self.named_by.get(&k) {
                Some(by) if !by.is_empty() => todo.extend(by.iter().copied()),
                _ => {
                    roots.insert(k);
                }
            }
        }
        roots
    }

    /// The recovery contacts a person named last: in its identity key's
    /// log, else in the logs of the keys that were its identity before.
    pub fn recovery_contacts(&self, person: &Person) -> Option<RecoveryContacts> {
        let mut chain: Vec<AuthorId> = vec![person.identity];
        chain.extend(
            person
                .keys
                .iter()
                .rev()
                .filter(|k| k.role == Role::FormerIdentity)
                .map(|k| k.key),
        );
        chain.iter().find_map(|key| {
            self.certs.get(key)?.values().rev().find_map(|c| match c {
                CertBody::Contacts(c) => Some(c.clone()),
                _ => None,
            })
        })
    }

    /// Resolves the person whose root is `root` (PROTOCOL.md §11.3).
    pub fn resolve(&self, root: AuthorId) -> Person {
        self.resolve_with(root, true)
    }

    /// `recovery: false` resolves without recoveries (how a recovery
    /// contact's own devices are found, so resolution never recurses).
    fn resolve_with(&self, root: AuthorId, recovery: bool) -> Person {
        let known = self
            .resolved
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(root, recovery))
            .cloned();
        if let Some(p) = known {
            return p;
        }
        let person = self.resolve_fresh(root, recovery);
        self.resolved
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((root, recovery), person.clone());
        person
    }

    /// Resolves `root`'s person afresh: follows its identity from key to
    /// key, reading each identity key's log ([`Resolving::step`]).
    fn resolve_fresh(&self, root: AuthorId, recovery: bool) -> Person {
        let mut resolving = Resolving {
            registry: self,
            recovery,
            person: Person::single(root),
            revoked: BTreeSet::new(),
        };
        self.add_successors(&mut resolving.person, root, &resolving.revoked);
        let mut identity = root;
        let mut visited: BTreeSet<AuthorId> = BTreeSet::new();
        while visited.insert(identity) {
            match resolving.step(identity) {
                Some(next) => identity = next,
                None => break,
            }
        }
        let mut person = resolving.person;
        person.identity = identity;
        person
    }

    /// Keys that the identity key `old` validly handed its role to and that
    /// may take it in `person` (not revoked, not already one of its non-device keys).
    fn successors_of(
        &self,
        old: AuthorId,
        person: &Person,
        revoked: &BTreeSet<AuthorId>,
    ) -> Vec<(AuthorId, u64)> {
        self.handovers
            .get(&old)
            .into_iter()
            .flatten()
            .filter(|(n, _)| !revoked.contains(n))
            .filter(|(n, _)| person.key(n).is_none_or(|k| k.role == Role::Device))
            .map(|(n, at)| (*n, *at))
            .collect()
    }

    /// Adds the key that a key of the person handed its device's place to
    /// (and its, in turn) as a device of the person, under its name. A key
    /// has at most one successor (the lowest key, if it handed over more
    /// than once), and a chain is at most [`MAX_SUCCESSION_CHAIN`] long, so a
    /// device cannot fill its friends' replication sets with keys.
    fn add_successors(&self, person: &mut Person, device: AuthorId, revoked: &BTreeSet<AuthorId>) {
        let mut old = device;
        for _ in 0..MAX_SUCCESSION_CHAIN {
            if person.keys.len() >= MAX_KEYS_PER_PERSON {
                return;
            }
            let Some(name) = person.key(&old).map(|k| k.name.clone()) else {
                return;
            };
            let Some(new) = self
                .successors
                .get(&old)
                .and_then(|s| {
                    s.iter()
                        .find(|n| !revoked.contains(n) && person.key(n).is_none())
                })
                .copied()
            else {
                return;
            };
            person.keys.push(KeyState {
                key: new,
                role: Role::Device,
                name,
                since: Some((new, 1)),
                last_seq: None,
                ended_by: None,
            });
            old = new;
        }
    }

    /// A revoked device's successors were vouched for only by it: they end
    /// too, from their first entry.
    fn end_successors(
        &self,
        person: &mut Person,
        device: AuthorId,
        by: (AuthorId, u64),
        revoked: &mut BTreeSet<AuthorId>,
    ) {
        let mut todo = vec![device];
        while let Some(old) = todo.pop() {
            for new in self.successors.get(&old).into_iter().flatten() {
                if let Some(k) = person.keys.iter_mut().find(|k| k.key == *new)
                    && k.active()
                    && k.role == Role::Device
                    && k.since == Some((*new, 1))
                {
                    k.last_seq = Some(0);
                    k.ended_by = Some(by);
                    revoked.insert(*new);
                    todo.push(*new);
                }
            }
        }
    }
}

/// One person being resolved: the person so far, and the keys revoked so
/// far (no later certificate brings one back).
struct Resolving<'a> {
    registry: &'a Registry,
    /// Whether recoveries count ([`Registry::resolve_with`]).
    recovery: bool,
    person: Person,
    revoked: BTreeSet<AuthorId>,
}

/// Where resolution goes after a certificate of an identity key's log.
enum Next {
    /// On to the next certificate, or past the log.
    On,
    /// The identity moved to this key: its log is read next.
    Identity(AuthorId),
    /// Resolution ends at the current identity key.
    Stop,
}

impl Resolving<'_> {
    /// Reads the log of the identity key `identity`: the key the identity
    /// moves to next, or `None` if it stays at `identity`.
    fn step(&mut self, identity: AuthorId) -> Option<AuthorId> {
        let fork_at = self.registry.forks.get(&identity).copied();
        if let Some(seq) = fork_at {
            self.person.conflict = Some(Conflict::Fork { key: identity, seq });
        }
        let recovered = self.recovered(identity);
        // Identity handovers (kind 14) of this key. A recovery that
        // holds wins over them (a thief with the lost key cannot block
        // it); one handover counts like a rotation at its `at`.
        let handed = if recovered.is_some() {
            Vec::new()
        } else {
            self.registry
                .successors_of(identity, &self.person, &self.revoked)
        };
        match self.read_log(identity, fork_at, recovered.as_ref(), &handed) {
            Next::On => {}
            Next::Identity(new) => return Some(new),
            Next::Stop => return None,
        }
        // A key revoked in the lost key's log up to the point cannot
        // become the identity.
        let recovered = recovered.filter(|r| !self.revoked.contains(&r.new));
        if !handed.is_empty() {
            return self.hand_over(identity, &handed);
        }
        self.recover(identity, recovered?)
    }

    /// The recovery of `identity` that holds, if recoveries count and its
    /// new key may take the identity (not revoked, not already a non-device
    /// key of the person); a conflict of recoveries freezes the person.
    fn recovered(&mut self, identity: AuthorId) -> Option<Recovered> {
        match self.recovery.then(|| self.registry.recovery(identity)) {
            Some(Ok(r)) => r.filter(|r| {
                !self.revoked.contains(&r.new)
                    && self
                        .person
                        .key(&r.new)
                        .is_none_or(|k| k.role == Role::Device)
            }),
            Some(Err(conflict)) => {
                self.person.conflict.get_or_insert(conflict);
                None
            }
            None => None,
        }
    }

    /// Applies the certificates of `identity`'s log that count: none from
    /// a fork on (reaching one ends resolution), none past a recovery's
    /// point or a single handover's `at`.
    fn read_log(
        &mut self,
        identity: AuthorId,
        fork_at: Option<u64>,
        recovered: Option<&Recovered>,
        handed: &[(AuthorId, u64)],
    ) -> Next {
        let registry = self.registry;
        let cut = recovered.map(|r| r.point);
        let handover_at = match handed {
            [(_, at)] => Some(*at),
            _ => None,
        };
        let Some(log) = registry.certs.get(&identity) else {
            return Next::On;
        };
        for (&seq, cert) in log.iter().take(MAX_CERTS_PER_LOG) {
            if fork_at.is_some_and(|f| seq >= f) {
                return Next::Stop;
            }
            if cut.is_some_and(|p| seq > p) || handover_at.is_some_and(|a| seq > a) {
                break;
            }
            match cert {
                CertBody::Contacts(_) | CertBody::Approval(_) | CertBody::Succession(_) => {}
                CertBody::Link(link) => self.link(identity, seq, link),
                CertBody::Revoke(r) => self.revoke(identity, seq, r),
                CertBody::Rotate(_) if recovered.is_some_and(|r| seq > r.named_at) => {
                    // Made with the lost key after its contacts were
                    // named: the recovery that holds wins over it.
                }
                CertBody::Rotate(r) => match self.rotate(identity, seq, r, handed) {
                    Next::On => {}
                    next => return next,
                },
            }
        }
        Next::On
    }

    /// A link (kind 9) at `identity`'s `seq` adds its device, unless its
    /// consent fails, the device was revoked or is the person's already,
    /// or the person has [`MAX_KEYS_PER_PERSON`] keys.
    fn link(&mut self, identity: AuthorId, seq: u64, link: &DeviceLink) {
        if !self.registry.consented.contains(&(identity, seq))
            || self.revoked.contains(&link.device)
            || self.person.key(&link.device).is_some()
            || self.person.keys.len() >= MAX_KEYS_PER_PERSON
        {
            return;
        }
        self.person.keys.push(KeyState {
            key: link.device,
            role: Role::Device,
            name: link.name.clone(),
            since: Some((identity, seq)),
            last_seq: None,
            ended_by: None,
        });
        self.registry
            .add_successors(&mut self.person, link.device, &self.revoked);
    }

    /// A revocation (kind 10) at `identity`'s `seq` ends an active key of
    /// the person other than `identity`, and the successors it vouched for.
    fn revoke(&mut self, identity: AuthorId, seq: u64, r: &DeviceRevoke) {
        if r.device == identity {
            return;
        }
        if let Some(k) = self.person.keys.iter_mut().find(|k| k.key == r.device)
            && k.active()
        {
            k.last_seq = Some(r.last_seq);
            k.ended_by = Some((identity, seq));
            self.revoked.insert(r.device);
            self.registry.end_successors(
                &mut self.person,
                r.device,
                (identity, seq),
                &mut self.revoked,
            );
        }
    }

    /// A rotation (kind 11) at `identity`'s `seq` moves the identity to its
    /// new key, unless its consent fails or the key was revoked or is a
    /// non-device key of the person; beside handovers it freezes the person.
    fn rotate(
        &mut self,
        identity: AuthorId,
        seq: u64,
        r: &Rotate,
        handed: &[(AuthorId, u64)],
    ) -> Next {
        if !self.registry.consented.contains(&(identity, seq))
            || self.revoked.contains(&r.new)
            || self
                .person
                .keys
                .iter()
                .any(|k| k.key == r.new && k.role != Role::Device)
        {
            return Next::On;
        }
        if !handed.is_empty() {
            let mut candidates: Vec<AuthorId> = handed.iter().map(|(k, _)| *k).collect();
            candidates.push(r.new);
            candidates.sort();
            self.person.conflict.get_or_insert(Conflict::Succession {
                key: identity,
                candidates,
            });
            return Next::Stop;
        }
        if !self.person.promote(identity, r.new, (identity, seq), None) {
            return Next::On;
        }
        self.registry
            .add_successors(&mut self.person, r.new, &self.revoked);
        Next::Identity(r.new)
    }

    /// The handovers of `identity` after its log: the key the identity
    /// moves to, or `None` if it stays.
    fn hand_over(&mut self, identity: AuthorId, handed: &[(AuthorId, u64)]) -> Option<AuthorId> {
        // One identity handover: the new key becomes the identity, like
        // a rotation at `at`. Two or more freeze the person.
        if let [(new, _)] = handed {
            let new = *new;
            if !self.person.promote(identity, new, (new, 1), None) {
                return None;
            }
            self.registry
                .add_successors(&mut self.person, new, &self.revoked);
            return Some(new);
        }
        let mut candidates: Vec<AuthorId> = handed.iter().map(|(k, _)| *k).collect();
        candidates.sort();
        self.person.conflict.get_or_insert(Conflict::Succession {
            key: identity,
            candidates,
        });
        None
    }

    /// A recovery of `identity` that holds, after its log: its new key
    /// becomes the identity, or `None` if the person has no room for it.
    fn recover(&mut self, identity: AuthorId, r: Recovered) -> Option<AuthorId> {
        // The lost key ends where the contacts last saw it.
        if !self
            .person
            .promote(identity, r.new, (identity, r.point), Some(r.point))
        {
            return None;
        }
        self.registry
            .add_successors(&mut self.person, r.new, &self.revoked);
        self.person.recovered_by = r.by;
        Some(r.new)
    }
}
