//! The OneBox twin's state: the tokens it issued and when each expires, the
//! quota and the hours it is open, the message ids, and how many
//! authentications it served.

use crate::domain::window::Window;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The vendor's sample token lifetime.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(900);

/// The hours OneBox takes messages; outside them it answers "time limit
/// reached ..." as when its quota is used up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenHours {
    pub window: Window,
    pub timezone: chrono_tz::Tz,
}

impl OpenHours {
    /// `"06:00-18:00"` (may wrap midnight) in `timezone` (an IANA name;
    /// UTC when absent).
    pub fn parse(window: &str, timezone: Option<&str>) -> Result<OpenHours, String> {
        let window = Window::parse(window)?;
        let timezone = match timezone {
            None => chrono_tz::UTC,
            Some(name) => name
                .parse()
                .map_err(|_| format!("unknown time zone {name:?}"))?,
        };
        Ok(OpenHours { window, timezone })
    }

    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        self.window
            .contains(now.with_timezone(&self.timezone).time())
    }
}

/// Tokens, the quota, the hours and the counters.
#[derive(Debug)]
pub struct OneboxBook {
    /// Issued tokens and when each expires.
    tokens: HashMap<String, Instant>,
    pub lifetime: Duration,
    /// Successful calls to `/api/authenticate`.
    pub authentications: u64,
    /// Messages still accepted before the quota closes; `None`: no limit.
    pub quota: Option<u64>,
    /// When messages are accepted; `None`: at any hour.
    pub hours: Option<OpenHours>,
    pub next_id: u64,
}

impl Default for OneboxBook {
    fn default() -> Self {
        OneboxBook {
            tokens: HashMap::new(),
            lifetime: DEFAULT_TOKEN_LIFETIME,
            authentications: 0,
            quota: None,
            hours: None,
            next_id: 75_702,
        }
    }
}

impl OneboxBook {
    /// Every token issued so far expires now.
    pub fn expire_tokens(&mut self) {
        let now = Instant::now();
        for expiry in self.tokens.values_mut() {
            *expiry = (*expiry).min(now);
        }
    }

    /// Forgets the counters, the quota and the hours; issued tokens stay
    /// valid.
    pub fn reset(&mut self) {
        self.authentications = 0;
        self.quota = None;
        self.hours = None;
    }

    /// Whether a message at `now` meets "time limit reached ...": the quota
    /// is used up, or it is outside the hours.
    pub fn closed(&self, now: DateTime<Utc>) -> bool {
        self.quota == Some(0) || self.hours.is_some_and(|hours| !hours.is_open(now))
    }

    pub fn issue(&mut self, email: &str, site_id: &Value) -> String {
        let now = Instant::now();
        // Tokens expired an hour ago are forgotten.
        self.tokens
            .retain(|_, expiry| now.saturating_duration_since(*expiry) < Duration::from_secs(3600));
        self.authentications += 1;
        let iat = Utc::now().timestamp();
        let seconds = i64::try_from(self.lifetime.as_secs()).unwrap_or(i64::MAX);
        let encode =
            |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let claims = json!({"iss": "herald-simulator", "iat": iat, "exp": iat.saturating_add(seconds),
            "email": email, "siteId": site_id, "jti": self.authentications});
        let signature = uuid::Uuid::new_v4();
        let token = format!(
            "{}.{}.{}",
            encode(&json!({"alg": "HS256", "typ": "JWT"})),
            encode(&claims),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signature.as_bytes())
        );
        self.tokens.insert(token.clone(), now + self.lifetime);
        token
    }

    /// `None` for a valid token, else the refusal's `userMessage`.
    pub fn refuse_token(&self, token: Option<&str>) -> Option<&'static str> {
        match token.and_then(|t| self.tokens.get(t)) {
            None => Some("Invalid token"),
            Some(expiry) if Instant::now() >= *expiry => Some("Expired token"),
            Some(_) => None,
        }
    }
}
