//! A configured secret (a password, a token): usable as a `&str`, but never
//! printed by `{:?}`, so a configuration logged by mistake leaks nothing.
//! A value of the wrong type is refused without being shown either
//! (`password = 987654321` says "must be a string", not the number).

use serde::{Deserialize, Deserializer};
use std::fmt;
use std::ops::Deref;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

/// Takes a string; a value of another type is refused by its type's name,
/// never by its value.
impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Secret, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Other(toml::Value),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Text(text) => Ok(Secret(text)),
            Raw::Other(other) => Err(serde::de::Error::custom(format!(
                "must be a string, not a TOML {} (a secret's value is not shown)",
                other.type_str()
            ))),
        }
    }
}

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl Deref for Secret {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "\"[redacted]\""
        })
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Secret {
        Secret::new(value)
    }
}

/// `url` without its password, for logs: `amqp://guest@host:5672/%2f`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, None), |(a, p)| (a, Some(p)));
    let host = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            format!("{user}@{host}")
        }
        None => authority.to_owned(),
    };
    match path {
        Some(path) => format!("{scheme}://{host}/{path}"),
        None => format!("{scheme}://{host}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_value() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?}"), "\"[redacted]\"");
        assert_eq!(secret.expose(), "hunter2");
        assert_eq!(&*secret, "hunter2");
    }
}
