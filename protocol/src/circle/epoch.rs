//! Sealing a membership change (kind 18) and opening one: the wraps of
//! its secret and circle key, its state and its history.

use super::*;

/// A new epoch to seal: what its state says, and to whom.
#[derive(Debug, Clone)]
pub struct NewEpoch {
    pub parents: Vec<EpochId>,
    pub change: Change,
    /// The recipient devices and their X25519 keys.
    pub recipients: Vec<(AuthorId, [u8; 32])>,
    /// Earlier content keys for the recipients.
    pub history: Vec<ContentKey>,
}

/// A sealed epoch and what its author keeps of it.
#[derive(Debug, Clone)]
pub struct SealedEpoch {
    pub body: CircleEpoch,
    pub keys: EpochKeys,
    /// The circle key (new for a `Create`).
    pub circle_key: CircleKey,
}

/// A new epoch written by `author`: a fresh secret wrapped, with the
/// circle key, to each recipient, its state sealed under the circle key's
/// state key and its history under the secret's history key. `circle` is
/// `None` for a `Create`, which makes the circle key and the circle's id.
pub fn seal_epoch(
    circle: Option<(CircleId, CircleKey)>,
    author: &AuthorId,
    new: NewEpoch,
    rng: &mut Randomness,
) -> Result<SealedEpoch, CircleError> {
    check_new_epoch(circle.as_ref(), &new)?;
    let nonce: [u8; 24] = rng.bytes();
    let epoch = epoch_id(author, &nonce);
    let (circle, circle_key) = match circle {
        Some(known) => known,
        None => {
            let key = CircleKey(rng.bytes());
            (circle_id(&epoch, &key), key)
        }
    };
    let secret: [u8; 32] = rng.bytes();
    let keys = EpochKeys::derive(&secret, &circle, &epoch);
    let mut plain = [0u8; 64];
    plain[..32].copy_from_slice(&secret);
    plain[32..].copy_from_slice(&circle_key.0);
    let info = wrap_info(&circle, &epoch);
    let wraps = wrap_all(&new.recipients, &info, &plain, author, rng)?;
    let state = EpochState {
        parents: new.parents,
        change: new.change,
        recipients: new.recipients.iter().map(|(k, _)| *k).collect(),
        key_check: keys.check,
    };
    state.check()?;
    let state = xseal(
        &circle_key.state_key(&circle, &epoch),
        &nonce,
        &postcard::to_stdvec(&state).expect("encoding into a Vec cannot fail"),
        &context(STATE_LABEL, &circle, &epoch, author),
    );
    let history = xseal(
        &keys.history,
        &nonce,
        &postcard::to_stdvec(&new.history).expect("encoding into a Vec cannot fail"),
        &context(HISTORY_LABEL, &circle, &epoch, author),
    );
    Ok(SealedEpoch {
        body: CircleEpoch {
            circle,
            epoch,
            wraps,
            nonce,
            state,
            history,
        },
        keys,
        circle_key,
    })
}

/// Whether `new` may be sealed at all: 1 to [`MAX_RECIPIENTS`] recipients,
/// not too many parents or history keys, and `circle` given for every
/// change but a `Create`.
fn check_new_epoch(
    circle: Option<&(CircleId, CircleKey)>,
    new: &NewEpoch,
) -> Result<(), CircleError> {
    if new.recipients.is_empty() || new.recipients.len() > MAX_RECIPIENTS {
        return Err(CircleError::Invalid(format!(
            "an epoch needs 1 to {MAX_RECIPIENTS} recipient devices (got {})",
            new.recipients.len()
        )));
    }
    if new.history.len() > MAX_HISTORY || new.parents.len() > MAX_PARENTS {
        return Err(CircleError::Invalid(
            "too many parents or history keys".into(),
        ));
    }
    let creates = matches!(new.change, Change::Create { .. });
    if creates != circle.is_none() {
        return Err(CircleError::Invalid(
            "a circle's id is given for every change but its creation".into(),
        ));
    }
    Ok(())
}

/// Wraps `plain` (the epoch secret and the circle key) to each recipient's
/// X25519 key, the wraps sorted by their encapsulated keys.
fn wrap_all(
    recipients: &[(AuthorId, [u8; 32])],
    info: &[u8],
    plain: &[u8; 64],
    author: &AuthorId,
    rng: &mut Randomness,
) -> Result<Vec<Wrap>, CircleError> {
    let mut wraps = Vec::with_capacity(recipients.len());
    for (_, pk) in recipients {
        let pk = <Wrapper as hpke::Kem>::PublicKey::from_bytes(pk)
            .map_err(|_| CircleError::Invalid("a recipient's X25519 key is invalid".into()))?;
        let (enc, ct) = hpke::single_shot_seal_with_rng::<WrapAead, WrapKdf, Wrapper>(
            &OpModeS::Base,
            &pk,
            info,
            plain,
            author.as_bytes(),
            &mut rng.0,
        )
        .map_err(|e| CircleError::Invalid(format!("wrapping the epoch secret failed: {e}")))?;
        let mut e = [0u8; 32];
        e.copy_from_slice(&enc.to_bytes());
        wraps.push(Wrap { enc: e, ct });
    }
    wraps.sort_by_key(|w| w.enc);
    Ok(wraps)
}

/// What one wrap opened to.
#[derive(Clone)]
pub struct Unwrapped {
    pub secret: [u8; 32],
    pub circle_key: CircleKey,
}

impl fmt::Debug for Unwrapped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Unwrapped(..)")
    }
}

impl CircleEpoch {
    /// Whether its epoch id is its author's: it follows from `author` and
    /// the nonce. Nodes ignore epochs that fail this (anyone who carries a
    /// circle's entries sees its ids; nobody else can reuse them).
    pub fn ids_hold(&self, author: &AuthorId) -> bool {
        self.epoch == epoch_id(author, &self.nonce)
    }

    /// Whether a node tries its wraps at all: 1 to [`MAX_RECIPIENTS`]
    /// wraps of [`WRAP_CT_LEN`] bytes each. Any other epoch is junk on
    /// every node (bounds the work a remote author can cause).
    pub fn well_formed(&self) -> bool {
        (1..=MAX_RECIPIENTS).contains(&self.wraps.len())
            && self.wraps.iter().all(|w| w.ct.len() == WRAP_CT_LEN)
    }

    /// Every wrap that opens for `device` (wraps do not name their
    /// recipient, and a wrap that opens may still be a decoy: the caller
    /// checks the circle key against the circle and the secret against
    /// the state's key check). At most [`MAX_RECIPIENTS`] X25519
    /// operations, none for an epoch that is not [`well_formed`](Self::well_formed).
    pub fn unwrap_all(&self, author: &AuthorId, device: &DeviceSecret) -> Vec<Unwrapped> {
        if !self.well_formed() {
            return Vec::new();
        }
        let info = wrap_info(&self.circle, &self.epoch);
        self.wraps
            .iter()
            .filter_map(|w| {
                let enc = <Wrapper as hpke::Kem>::EncappedKey::from_bytes(&w.enc).ok()?;
                let plain = hpke::single_shot_open::<WrapAead, WrapKdf, Wrapper>(
                    &OpModeR::Base,
                    &device.secret,
                    &enc,
                    &info,
                    &w.ct,
                    author.as_bytes(),
                )
                .ok()?;
                let plain: [u8; 64] = plain.try_into().ok()?;
                let mut secret = [0u8; 32];
                secret.copy_from_slice(&plain[..32]);
                let mut key = [0u8; 32];
                key.copy_from_slice(&plain[32..]);
                Some(Unwrapped {
                    secret,
                    circle_key: CircleKey(key),
                })
            })
            .collect()
    }

    /// The epoch's state, read with the circle key.
    pub fn open_state(
        &self,
        author: &AuthorId,
        circle_key: &CircleKey,
    ) -> Result<EpochState, CircleError> {
        let plain = xopen(
            &circle_key.state_key(&self.circle, &self.epoch),
            &self.nonce,
            &self.state,
            &context(STATE_LABEL, &self.circle, &self.epoch, author),
        )?;
        let state: EpochState = canonical(&plain, "epoch state")?;
        state.check()?;
        Ok(state)
    }

    /// The content keys this epoch hands its recipients, read with its
    /// history key.
    pub fn open_history(
        &self,
        author: &AuthorId,
        history_key: &[u8; 32],
    ) -> Result<Vec<ContentKey>, CircleError> {
        let plain = xopen(
            history_key,
            &self.nonce,
            &self.history,
            &context(HISTORY_LABEL, &self.circle, &self.epoch, author),
        )?;
        let history: Vec<ContentKey> = canonical(&plain, "epoch history")?;
        if history.len() > MAX_HISTORY {
            return Err(CircleError::Invalid("too many history keys".into()));
        }
        Ok(history)
    }

    /// The keys of this epoch that one of `device`'s wraps gives: every
    /// wrap is tried, and a wrap counts only if its circle key is
    /// `circle_key` and its secret derives the state's key check.
    pub fn keys_for(
        &self,
        author: &AuthorId,
        device: &DeviceSecret,
        circle_key: &CircleKey,
        state: &EpochState,
    ) -> Option<EpochKeys> {
        self.unwrap_all(author, device).into_iter().find_map(|u| {
            let keys = EpochKeys::derive(&u.secret, &self.circle, &self.epoch);
            (u.circle_key == *circle_key && keys.check == state.key_check).then_some(keys)
        })
    }

    /// This epoch with `plain` sealed as its state (fuzzing: what a member
    /// decrypts, whatever the bytes).
    #[doc(hidden)]
    pub fn with_state_plaintext(
        &self,
        author: &AuthorId,
        circle_key: &CircleKey,
        plain: &[u8],
    ) -> CircleEpoch {
        let mut out = self.clone();
        out.state = xseal(
            &circle_key.state_key(&self.circle, &self.epoch),
            &self.nonce,
            plain,
            &context(STATE_LABEL, &self.circle, &self.epoch, author),
        );
        out
    }
}
