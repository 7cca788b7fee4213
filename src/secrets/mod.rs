//! Provider credentials herald stores, sealed at rest (HighQ's rotating
//! OAuth2 pair in `connection_tokens`): AES-256-GCM with a key from
//! `[secrets] key`, a random 96-bit nonce per write, and the value's place
//! (its table, row and column) as associated data, so that a sealed value
//! copied to another row or column does not open.
//!
//! A sealed value is text: `hrld1:<key id>:<base64 of nonce ‖ ciphertext>`.
//! The key id (8 hex digits of a SHA-256 of the key) names the key it was
//! sealed with, so that after a rotation the values sealed with an old key
//! (`[secrets] old_keys`) are opened with it and sealed again with the
//! current one. A value without the prefix is one written before herald
//! sealed anything: it is read as it is and sealed at its next write (or by
//! `herald secrets rotate`). Nothing here touches IO; `storage` uses it.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest, Sha256};

const PREFIX: &str = "hrld1:";
const NONCE_LEN: usize = 12;
/// How to make a key, in every message that asks for one.
pub const MAKE_A_KEY: &str =
    "make one with `herald secrets new-key` (or `openssl rand -base64 32`)";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error(
        "no [secrets] key is configured, and herald keeps HighQ's tokens sealed with it: {MAKE_A_KEY} and set it as [secrets] key or HERALD_SECRETS_KEY"
    )]
    NoKey,
    #[error(
        "{place} was sealed with key {key_id}, which is neither [secrets] key nor one of [secrets] old_keys: add the key it was sealed with to old_keys (HERALD_SECRETS_OLD_KEYS), or authorise the connection again with a new refresh_token"
    )]
    UnknownKey { place: String, key_id: String },
    #[error(
        "{place} does not open with key {key_id}: the stored value was altered or moved from another row"
    )]
    Damaged { place: String, key_id: String },
}

/// One 256-bit key and its id.
#[derive(Clone)]
pub struct Key {
    id: String,
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({})", self.id)
    }
}

impl Key {
    /// A key from its base64 text; `None` unless it is 32 bytes.
    pub fn parse(text: &str) -> Option<Key> {
        let bytes = BASE64.decode(text.trim()).ok()?;
        let bytes: [u8; 32] = bytes.try_into().ok()?;
        let digest = Sha256::new()
            .chain_update(b"herald key id\0")
            .chain_update(bytes)
            .finalize();
        let id = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        Some(Key {
            id,
            cipher: Aes256Gcm::new(&bytes.into()),
        })
    }

    /// A new random key, as base64 text.
    pub fn generate() -> String {
        BASE64.encode(Aes256Gcm::generate_key(OsRng))
    }

    pub fn id(&self) -> &str {
        &self.id
    }
}

/// The current key (what every write seals with) and the old ones (still
/// opened, for a rotation).
#[derive(Clone, Debug, Default)]
pub struct Keys {
    current: Option<Key>,
    old: Vec<Key>,
}

/// An opened value, and whether it should be sealed again: it was plain
/// text, or sealed with an old key.
#[derive(PartialEq, Eq)]
pub struct Opened {
    pub text: String,
    pub stale: bool,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("stale", &self.stale)
            .finish_non_exhaustive()
    }
}

impl Keys {
    pub fn new(current: Option<Key>, old: Vec<Key>) -> Keys {
        Keys { current, old }
    }

    pub fn current(&self) -> Option<&Key> {
        self.current.as_ref()
    }

    /// `text` sealed with the current key; `place` names where it is kept
    /// (table, row and column) and must be the same to open it.
    pub fn seal(&self, text: &str, place: &str) -> Result<String, SealError> {
        let key = self.current.as_ref().ok_or(SealError::NoKey)?;
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let payload = Payload {
            msg: text.as_bytes(),
            aad: place.as_bytes(),
        };
        // Encrypting into a Vec fails only when it cannot grow, which
        // aborts the process before this is reached; the error is still
        // answered rather than assumed away.
        let sealed = key
            .cipher
            .encrypt(&nonce, payload)
            .map_err(|_| SealError::Damaged {
                place: place.to_owned(),
                key_id: key.id.clone(),
            })?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        Ok(format!("{PREFIX}{}:{}", key.id, BASE64.encode(bytes)))
    }

    /// The text of a value [`Keys::seal`] made for `place`, or of a value
    /// stored before sealing (plain text, `stale`).
    pub fn open(&self, stored: &str, place: &str) -> Result<Opened, SealError> {
        let Some(rest) = stored.strip_prefix(PREFIX) else {
            return Ok(Opened {
                text: stored.to_owned(),
                stale: true,
            });
        };
        let (key_id, body) = rest.split_once(':').unwrap_or((rest, ""));
        let damaged = || SealError::Damaged {
            place: place.to_owned(),
            key_id: key_id.to_owned(),
        };
        let key = self
            .current
            .iter()
            .chain(&self.old)
            .find(|k| k.id == key_id)
            .ok_or_else(|| SealError::UnknownKey {
                place: place.to_owned(),
                key_id: key_id.to_owned(),
            })?;
        let bytes = BASE64.decode(body).map_err(|_| damaged())?;
        let (nonce, sealed) = bytes.split_at_checked(NONCE_LEN).ok_or_else(damaged)?;
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| damaged())?;
        let payload = Payload {
            msg: sealed,
            aad: place.as_bytes(),
        };
        let plain = key
            .cipher
            .decrypt(&Nonce::from(nonce), payload)
            .map_err(|_| damaged())?;
        let text = String::from_utf8(plain).map_err(|_| damaged())?;
        let stale = self.current.as_ref().is_none_or(|c| c.id != key.id);
        Ok(Opened { text, stale })
    }
}

/// A digest of a credential, to find a row by it without keeping it: hex
/// SHA-256. The credentials digested are provider-issued tokens, too long
/// and random to be guessed from their digest (PostgreSQL computes the same
/// in the migration that replaced the plain ones:
/// `encode(sha256(convert_to(t, 'UTF8')), 'hex')`).
pub fn digest(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests;
