//! `herald.toml` (contract §2): parsing, `${NAME}` substitution, the
//! `HERALD_DATABASE_URL` / `HERALD_AMQP_URL` overrides and validation. Every
//! error names the key's path, e.g. `connection[2].limits.window`.

mod amqp;
mod connection;
mod defaults;
pub mod duration;
mod env;
mod error;
pub mod secret;
mod secrets;

pub use amqp::{AmqpConfig, QueueType};
pub use connection::{
    AdapterSettings, ChatwootSettings, Comm100Settings, ConnectionConfig, HighqSettings,
    KonnekSettings, OneboxSettings,
};
pub use error::ConfigError;
use error::line_column;
pub use secret::Secret;
pub use secrets::SecretsConfig;

use crate::domain::{Limits, RetryPolicy};
use serde::Deserialize;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Config {
    pub database: DatabaseConfig,
    pub amqp: AmqpConfig,
    pub http: HttpConfig,
    pub worker: WorkerConfig,
    pub retry: RetryPolicy,
    pub connections: Vec<ConnectionConfig>,
    pub secrets: SecretsConfig,
}

/// Printed by `{:?}` without the URL's password.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    #[serde(default = "defaults::database_url")]
    pub url: String,
    #[serde(default = "defaults::max_connections")]
    pub max_connections: u32,
    /// A PEM file of the CA that signed PostgreSQL's certificate (env
    /// `HERALD_DATABASE_CA_FILE`). With it, the server is verified against
    /// this CA and its name (`sslmode=verify-full`) unless the URL names
    /// another `sslmode`.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &secret::redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    #[serde(default = "defaults::listen")]
    pub listen: String,
    #[serde(default = "defaults::no_secret")]
    pub admin_token: Secret,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerConfig {
    #[serde(default = "defaults::concurrency")]
    pub concurrency: usize,
    #[serde(default = "defaults::http_timeout", with = "duration_serde")]
    pub http_timeout: Duration,
    #[serde(default = "defaults::shutdown_grace", with = "duration_serde")]
    pub shutdown_grace: Duration,
    #[serde(default = "defaults::sending_lease", with = "duration_serde")]
    pub sending_lease: Duration,
    #[serde(default = "defaults::group_timeout", with = "duration_serde")]
    pub group_timeout: Duration,
}

/// `#[serde(with)]` wrapper for [`duration`].
mod duration_serde {
    pub use super::duration::deserialize;
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRetry {
    pub max_attempts: Option<u32>,
    #[serde(default, deserialize_with = "opt_duration_list")]
    pub schedule: Option<Vec<Duration>>,
    pub jitter: Option<f64>,
}

fn opt_duration_list<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<Duration>>, D::Error> {
    duration::deserialize_list(d).map(Some)
}

impl RawRetry {
    /// This table's keys over `base`, checked.
    pub(crate) fn apply(&self, base: &RetryPolicy, path: &str) -> Result<RetryPolicy, ConfigError> {
        let policy = RetryPolicy {
            max_attempts: self.max_attempts.unwrap_or(base.max_attempts),
            schedule: self
                .schedule
                .clone()
                .unwrap_or_else(|| base.schedule.clone()),
            jitter: self.jitter.unwrap_or(base.jitter),
        };
        if policy.max_attempts == 0 {
            return Err(ConfigError::at(
                format!("{path}.max_attempts"),
                "must be at least 1",
            ));
        }
        if policy.schedule.is_empty() {
            return Err(ConfigError::at(
                format!("{path}.schedule"),
                "must list at least one delay",
            ));
        }
        if !(0.0..=1.0).contains(&policy.jitter) {
            return Err(ConfigError::at(
                format!("{path}.jitter"),
                "must be between 0 and 1",
            ));
        }
        Ok(policy)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default = "defaults::database")]
    database: DatabaseConfig,
    #[serde(default = "defaults::amqp")]
    amqp: AmqpConfig,
    #[serde(default = "defaults::http")]
    http: HttpConfig,
    #[serde(default = "defaults::worker")]
    worker: WorkerConfig,
    #[serde(default)]
    defaults: RawDefaults,
    #[serde(default)]
    connection: Vec<toml::Value>,
    #[serde(default)]
    secrets: secrets::RawSecrets,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    retry: Option<RawRetry>,
}

impl Config {
    /// Reads and validates a configuration file with the process environment.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let name = path.display().to_string();
        Config::parse_named(&text, &name, &|name| std::env::var(name).ok())
    }

    /// The defaults with the environment's overrides (`HERALD_DATABASE_URL`,
    /// `HERALD_AMQP_URL`, …): the configuration where there is no file.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::parse("", &|name| std::env::var(name).ok())
    }

    /// `path`'s configuration where that file exists, else
    /// [`Config::from_env`].
    pub fn load_or_env(path: &Path) -> Result<Config, ConfigError> {
        if path.exists() {
            Config::load(path)
        } else {
            Config::from_env()
        }
    }

    /// Parses a configuration with `lookup` for `${NAME}` and the overrides.
    pub fn parse(
        text: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        Config::parse_named(text, "(file)", lookup)
    }

    /// [`Config::parse`] of the file `name`: a TOML syntax error is named
    /// `name:line:column`. Only the parser's words are shown, not the
    /// line's text, which may hold a secret.
    pub fn parse_named(
        text: &str,
        name: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut value: toml::Value = toml::from_str(text).map_err(|e| {
            let at = match e.span() {
                Some(span) => {
                    let (line, column) = line_column(text, span.start);
                    format!("{name}:{line}:{column}")
                }
                None => name.to_owned(),
            };
            ConfigError::at(at, format!("not valid TOML: {}", e.message().trim_end()))
        })?;
        env::substitute(&mut value, "", lookup)?;
        let raw: RawConfig =
            serde_path_to_error::deserialize(value).map_err(|e| ConfigError::from_serde("", e))?;
        let retry = match &raw.defaults.retry {
            Some(r) => r.apply(&RetryPolicy::default(), "defaults.retry")?,
            None => RetryPolicy::default(),
        };
        let mut connections = Vec::with_capacity(raw.connection.len());
        for (i, value) in raw.connection.into_iter().enumerate() {
            let path = format!("connection[{i}]");
            let connection = ConnectionConfig::parse(value, &path, &retry)?;
            if connections
                .iter()
                .any(|c: &ConnectionConfig| c.name == connection.name)
            {
                return Err(ConfigError::at(
                    format!("{path}.name"),
                    format!("connection {:?} is defined twice", connection.name),
                ));
            }
            connections.push(connection);
        }
        let mut config = Config {
            database: raw.database,
            amqp: raw.amqp,
            http: raw.http,
            worker: raw.worker,
            retry,
            connections,
            secrets: raw.secrets.parse(lookup)?,
        };
        if let Some(url) = lookup("HERALD_DATABASE_URL").filter(|u| !u.is_empty()) {
            config.database.url = url;
        }
        if let Some(url) = lookup("HERALD_AMQP_URL").filter(|u| !u.is_empty()) {
            config.amqp.url = url;
        }
        if let Some(path) = lookup("HERALD_DATABASE_CA_FILE").filter(|p| !p.is_empty()) {
            config.database.ca_file = Some(path.into());
        }
        if let Some(path) = lookup("HERALD_AMQP_CA_FILE").filter(|p| !p.is_empty()) {
            config.amqp.ca_file = Some(path.into());
        }
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let w = &self.worker;
        if w.concurrency == 0 {
            return Err(ConfigError::at("worker.concurrency", "must be at least 1"));
        }
        // A zero `shutdown_grace` is allowed: stop without a drain, and the
        // sending lease recovers what was in flight.
        for (key, value, why) in [
            (
                "worker.http_timeout",
                w.http_timeout,
                "every provider call would time out, while the provider may have received it",
            ),
            (
                "worker.sending_lease",
                w.sending_lease,
                "every delivery in flight would be taken back and sent again",
            ),
            (
                "worker.group_timeout",
                w.group_timeout,
                "every group member whose predecessor is not there yet would fail",
            ),
        ] {
            if value.is_zero() {
                return Err(ConfigError::at(
                    key,
                    format!("must be longer than 0: {why}"),
                ));
            }
        }
        let min_lease = crate::domain::budget::min_sending_lease(w.http_timeout);
        if w.sending_lease < min_lease {
            return Err(ConfigError::at(
                "worker.sending_lease",
                format!(
                    "must be at least {min_lease:?} with worker.http_timeout = {:?}: a delivery \
                     may make two calls of up to http_timeout each (a token request, then the \
                     send) and then needs half the lease, at most 20s, plus 1s \
                     to record the outcome (a write set may wait for the one before it); a shorter lease lets another worker take back a \
                     delivery that is still being sent, and send it twice",
                    w.http_timeout
                ),
            ));
        }
        self.amqp.validate()?;
        if self.amqp.prefetch == 0 {
            return Err(ConfigError::at("amqp.prefetch", "must be at least 1"));
        }
        if self.database.max_connections == 0 {
            return Err(ConfigError::at(
                "database.max_connections",
                "must be at least 1",
            ));
        }
        if self.http.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(ConfigError::at(
                "http.listen",
                "must be an address like 127.0.0.1:9464",
            ));
        }
        Ok(())
    }

    /// Refuses a configuration whose connections need a key to seal what
    /// herald stores for them (HighQ's pair) when none is set: checked by
    /// the commands that store or read those credentials (the worker,
    /// `herald secrets rotate`), not by those that never do.
    pub fn require_secrets_key(&self) -> Result<(), ConfigError> {
        let sealed = self
            .connections
            .iter()
            .find(|c| matches!(c.settings, AdapterSettings::Highq(_)));
        match (sealed, self.secrets.keys.current()) {
            (Some(connection), None) => Err(ConfigError::at(
                "secrets.key",
                format!(
                    "must be set: connection {:?} (highq) keeps its rotating tokens in PostgreSQL, \
                     sealed with this key; {}, and set it as [secrets] key or HERALD_SECRETS_KEY",
                    connection.name,
                    crate::secrets::MAKE_A_KEY
                ),
            )),
            _ => Ok(()),
        }
    }

    pub fn connection(&self, name: &str) -> Option<&ConnectionConfig> {
        self.connections.iter().find(|c| c.name == name)
    }

    /// The limits of a connection; none for a connection not configured.
    pub fn limits_for(&self, connection: &str) -> &Limits {
        static NONE: std::sync::LazyLock<Limits> = std::sync::LazyLock::new(Limits::default);
        self.connection(connection).map_or(&NONE, |c| &c.limits)
    }

    /// The retry policy of a connection, falling back to `[defaults.retry]`.
    pub fn retry_for(&self, connection: &str) -> &RetryPolicy {
        self.connection(connection)
            .map(|c| &c.retry)
            .unwrap_or(&self.retry)
    }
}

#[cfg(test)]
mod tests;
