//! `[secrets]`: the key herald seals the provider credentials it stores
//! with (HighQ's rotating pair), and the old keys still opened after a
//! rotation. `HERALD_SECRETS_KEY` and `HERALD_SECRETS_OLD_KEYS` (keys
//! separated by commas) override them. A key is 32 random bytes in base64;
//! a bad one is refused by its key's path, never shown.

use super::{ConfigError, Secret};
use crate::secrets::{Key, Keys, MAKE_A_KEY};
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSecrets {
    #[serde(default)]
    key: Option<Secret>,
    #[serde(default)]
    old_keys: Vec<Secret>,
}

/// The parsed `[secrets]`.
#[derive(Debug, Clone, Default)]
pub struct SecretsConfig {
    pub keys: Keys,
}

fn parse_key(path: &str, text: &str) -> Result<Key, ConfigError> {
    Key::parse(text).ok_or_else(|| {
        ConfigError::at(
            path,
            format!("must be 32 bytes in base64 (the value is not shown): {MAKE_A_KEY}"),
        )
    })
}

impl RawSecrets {
    /// The keys, with the environment's overrides.
    pub(super) fn parse(
        self,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<SecretsConfig, ConfigError> {
        let key = match lookup("HERALD_SECRETS_KEY").filter(|k| !k.trim().is_empty()) {
            Some(text) => Some(parse_key("HERALD_SECRETS_KEY", &text)?),
            None => match self.key.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(text) => Some(parse_key("secrets.key", text)?),
            },
        };
        let old = match lookup("HERALD_SECRETS_OLD_KEYS").filter(|k| !k.trim().is_empty()) {
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .enumerate()
                .map(|(i, k)| parse_key(&format!("HERALD_SECRETS_OLD_KEYS[{i}]"), k))
                .collect::<Result<Vec<_>, _>>()?,
            None => self
                .old_keys
                .iter()
                .enumerate()
                .map(|(i, k)| parse_key(&format!("secrets.old_keys[{i}]"), k))
                .collect::<Result<Vec<_>, _>>()?,
        };
        Ok(SecretsConfig {
            keys: Keys::new(key, old),
        })
    }
}
