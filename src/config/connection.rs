//! One `[[connection]]`: its common keys, its limits and its adapter's own keys.

use super::secret::Secret;
use super::{ConfigError, RawRetry, duration};
use crate::domain::RetryPolicy;
use crate::domain::limits::{DEFAULT_QUOTA_PAUSE, Limits};
use crate::domain::window::Window;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// A longer `quota_pause` is a mistake in the file.
const MAX_QUOTA_PAUSE: Duration = Duration::from_secs(366 * 86_400);

#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    pub name: String,
    pub base_url: String,
    pub callback_token: Option<Secret>,
    pub retry: RetryPolicy,
    pub limits: Limits,
    pub settings: AdapterSettings,
}

#[derive(Debug, Clone)]
pub enum AdapterSettings {
    Onebox(OneboxSettings),
    Chatwoot(ChatwootSettings),
    Highq(HighqSettings),
    Konnek(KonnekSettings),
    Comm100(Comm100Settings),
}

impl AdapterSettings {
    pub fn adapter(&self) -> &'static str {
        match self {
            AdapterSettings::Onebox(_) => "onebox",
            AdapterSettings::Chatwoot(_) => "chatwoot",
            AdapterSettings::Highq(_) => "highq",
            AdapterSettings::Konnek(_) => "konnek",
            AdapterSettings::Comm100(_) => "comm100",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OneboxSettings {
    pub email: String,
    pub password: Secret,
    pub site_id: String,
    pub connection_id: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatwootSettings {
    pub api_access_token: Secret,
    pub account_id: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HighqSettings {
    pub client_id: String,
    pub client_secret: Secret,
    pub refresh_token: Secret,
    pub access_token: Option<Secret>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KonnekSettings {
    pub channel: String,
    pub client_id: String,
    pub username: String,
    pub password: Secret,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Comm100Settings {
    pub access_token: Secret,
    pub site_id: Option<String>,
    pub channel_id: String,
    pub sent_by_id: String,
    #[serde(default = "default_sent_by_type")]
    pub sent_by_type: String,
}

fn default_sent_by_type() -> String {
    "agent".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    rate_per_second: Option<f64>,
    burst: Option<u32>,
    daily_quota: Option<u64>,
    window: Option<String>,
    timezone: Option<String>,
    max_in_flight: Option<u32>,
    quota_pause: Option<String>,
}

const COMMON_KEYS: [&str; 6] = [
    "name",
    "adapter",
    "base_url",
    "callback_token",
    "retry",
    "limits",
];

fn take<T: DeserializeOwned>(value: toml::Value, path: &str) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(value).map_err(|e| ConfigError::from_serde(path, e))
}

fn required_string(table: &toml::Table, key: &str, path: &str) -> Result<String, ConfigError> {
    match table.get(key) {
        Some(toml::Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        Some(toml::Value::String(_)) => Err(ConfigError::at(
            format!("{path}.{key}"),
            "must not be empty",
        )),
        Some(_) => Err(ConfigError::at(format!("{path}.{key}"), "must be a string")),
        None => Err(ConfigError::at(format!("{path}.{key}"), "is missing")),
    }
}

impl ConnectionConfig {
    pub(crate) fn parse(
        value: toml::Value,
        path: &str,
        default_retry: &RetryPolicy,
    ) -> Result<ConnectionConfig, ConfigError> {
        let toml::Value::Table(mut table) = value else {
            return Err(ConfigError::at(path, "must be a table"));
        };
        let name = required_string(&table, "name", path)?;
        let adapter = required_string(&table, "adapter", path)?;
        let base_url = required_string(&table, "base_url", path)?;
        if reqwest::Url::parse(&base_url)
            .map(|u| u.cannot_be_a_base())
            .unwrap_or(true)
        {
            return Err(ConfigError::at(
                format!("{path}.base_url"),
                format!("{base_url:?} is not an http(s) URL"),
            ));
        }
        let callback_token = match table.get("callback_token") {
            None => None,
            Some(toml::Value::String(s)) if s.is_empty() => None,
            Some(toml::Value::String(s)) => Some(Secret::new(s.as_str())),
            Some(_) => {
                return Err(ConfigError::at(
                    format!("{path}.callback_token"),
                    "must be a string",
                ));
            }
        };
        let retry = match table.remove("retry") {
            Some(value) => {
                let rpath = format!("{path}.retry");
                take::<RawRetry>(value, &rpath)?.apply(default_retry, &rpath)?
            }
            None => default_retry.clone(),
        };
        let limits = match table.remove("limits") {
            Some(value) => parse_limits(value, &format!("{path}.limits"))?,
            None => Limits::default(),
        };
        for key in COMMON_KEYS {
            table.remove(key);
        }
        let rest = toml::Value::Table(table);
        let settings = match adapter.as_str() {
            "onebox" => AdapterSettings::Onebox(take(rest, path)?),
            "chatwoot" => AdapterSettings::Chatwoot(take(rest, path)?),
            "highq" => AdapterSettings::Highq(take(rest, path)?),
            "konnek" => AdapterSettings::Konnek(take(rest, path)?),
            "comm100" => AdapterSettings::Comm100(take(rest, path)?),
            other => {
                return Err(ConfigError::at(
                    format!("{path}.adapter"),
                    format!(
                        "unknown adapter {other:?} (expected onebox, chatwoot, highq, konnek or comm100)"
                    ),
                ));
            }
        };
        Ok(ConnectionConfig {
            name,
            base_url,
            callback_token,
            retry,
            limits,
            settings,
        })
    }
}

fn parse_limits(value: toml::Value, path: &str) -> Result<Limits, ConfigError> {
    let raw: RawLimits = take(value, path)?;
    let key = |k: &str| format!("{path}.{k}");
    if let Some(rate) = raw.rate_per_second
        && !(rate > 0.0 && rate.is_finite())
    {
        return Err(ConfigError::at(
            key("rate_per_second"),
            "must be a positive number",
        ));
    }
    if raw.burst == Some(0) {
        return Err(ConfigError::at(key("burst"), "must be at least 1"));
    }
    if raw.max_in_flight == Some(0) {
        return Err(ConfigError::at(key("max_in_flight"), "must be at least 1"));
    }
    let window = raw
        .window
        .as_deref()
        .map(Window::parse)
        .transpose()
        .map_err(|m| ConfigError::at(key("window"), m))?;
    let timezone = match raw.timezone.as_deref() {
        None => chrono_tz::UTC,
        Some(name) => name
            .parse::<chrono_tz::Tz>()
            .map_err(|_| ConfigError::at(key("timezone"), format!("unknown time zone {name:?}")))?,
    };
    let quota_pause = match raw.quota_pause.as_deref() {
        None => DEFAULT_QUOTA_PAUSE,
        Some(text) => match duration::parse(text) {
            Ok(pause) if pause.is_zero() => {
                return Err(ConfigError::at(key("quota_pause"), "must be longer than 0"));
            }
            Ok(pause) if pause > MAX_QUOTA_PAUSE => {
                return Err(ConfigError::at(key("quota_pause"), "must be at most 366d"));
            }
            Ok(pause) => pause,
            Err(message) => return Err(ConfigError::at(key("quota_pause"), message)),
        },
    };
    Ok(Limits {
        rate_per_second: raw.rate_per_second,
        burst: raw.burst.unwrap_or(1),
        daily_quota: raw.daily_quota,
        window,
        timezone,
        max_in_flight: raw.max_in_flight,
        quota_pause,
    })
}
