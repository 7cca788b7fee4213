//! Which deliveries an operator means: the filters `herald list`, the bulk
//! resend and the admin API share, parsed at the edge from their text, and
//! the cursor that pages through them newest first without an OFFSET.
//!
//! A cursor is the `(created_at, id)` of the last row a page showed (its
//! microseconds and the id's 16 bytes, base64url: 32 characters), which
//! users pass back as it is; the next page
//! holds the rows strictly after it in `created_at DESC, id DESC` order.

use super::{DeliveryStatus, WaitReason};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

/// Rows a page holds when no limit is given.
pub const DEFAULT_LIMIT: i64 = 50;
/// The most rows one page may hold.
pub const MAX_LIMIT: i64 = 10_000;

/// Validated filters; every one that is set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub status: Option<DeliveryStatus>,
    pub connection: Option<String>,
    /// Created at or after.
    pub since: Option<DateTime<Utc>>,
    /// Created before.
    pub until: Option<DateTime<Utc>>,
    pub wait_reason: Option<WaitReason>,
    /// The ordered group's id (`group.id` of the send).
    pub group: Option<String>,
}

/// Where a page ends: the last row it showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: DateTime<Utc>,
    pub id: Uuid,
}

/// A filter that does not parse, naming its field (`status`, `wait_reason`,
/// ...); the CLI shows it as `--status`, the API as `status`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct BadFilter {
    pub field: &'static str,
    pub reason: String,
}

impl BadFilter {
    pub fn new(field: &'static str, reason: impl Into<String>) -> BadFilter {
        BadFilter {
            field,
            reason: reason.into(),
        }
    }

    /// The message with the field as a command-line flag: `--wait-reason: ...`.
    pub fn as_flag(&self) -> String {
        format!("--{}: {}", self.field.replace('_', "-"), self.reason)
    }
}

/// The filters as text, as a query string, a JSON body or the command line
/// give them. An empty value counts as absent.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterText {
    pub status: Option<String>,
    pub connection: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub wait_reason: Option<String>,
    pub group: Option<String>,
}

/// One page's request: filters, how many rows, and where to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub filter: Filter,
    pub limit: i64,
    pub after: Option<Cursor>,
}

fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn time(field: &'static str, value: &Option<String>) -> Result<Option<DateTime<Utc>>, BadFilter> {
    given(value)
        .map(|v| {
            DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| {
                    BadFilter::new(
                        field,
                        format!("{v:?} is not an RFC 3339 time ({e}); e.g. 2026-12-02T14:00:00Z"),
                    )
                })
        })
        .transpose()
}

impl FilterText {
    pub fn parse(&self) -> Result<Filter, BadFilter> {
        let status = given(&self.status)
            .map(|s| {
                s.parse::<DeliveryStatus>()
                    .map_err(|e| BadFilter::new("status", e.to_string()))
            })
            .transpose()?;
        let wait_reason = given(&self.wait_reason)
            .map(|r| {
                WaitReason::parse(r).ok_or_else(|| {
                    let known: Vec<&str> = WaitReason::ALL.iter().map(|r| r.as_str()).collect();
                    BadFilter::new(
                        "wait_reason",
                        format!("unknown wait reason {r:?} (expected {})", known.join(", ")),
                    )
                })
            })
            .transpose()?;
        if wait_reason.is_some() && status.is_some_and(|s| s != DeliveryStatus::WaitForSending) {
            return Err(BadFilter::new(
                "wait_reason",
                "only waitForSending deliveries wait; drop --status or set it to waitForSending",
            ));
        }
        let since = time("since", &self.since)?;
        let until = time("until", &self.until)?;
        if let (Some(since), Some(until)) = (since, until)
            && since >= until
        {
            return Err(BadFilter::new("until", "must be later than since"));
        }
        Ok(Filter {
            status,
            connection: given(&self.connection).map(str::to_owned),
            since,
            until,
            wait_reason,
            group: given(&self.group).map(str::to_owned),
        })
    }
}

/// A page's size from its text (absent: [`DEFAULT_LIMIT`]).
pub fn parse_limit(value: Option<&str>) -> Result<i64, BadFilter> {
    let Some(text) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(DEFAULT_LIMIT);
    };
    match text.parse::<i64>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(BadFilter::new(
            "limit",
            format!("{text:?} is not a number from 1 to {MAX_LIMIT}"),
        )),
    }
}

impl Cursor {
    pub fn encode(&self) -> String {
        let mut bytes = [0u8; 24];
        bytes[..8].copy_from_slice(&self.created_at.timestamp_micros().to_be_bytes());
        bytes[8..].copy_from_slice(self.id.as_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// A cursor as [`Cursor::encode`] wrote it; anything else is a
    /// [`BadFilter`] naming `cursor`.
    pub fn decode(text: &str) -> Result<Cursor, BadFilter> {
        let bad = || {
            BadFilter::new(
                "cursor",
                "not a cursor herald gave; pass next_cursor (or the hint's --cursor) as it was printed",
            )
        };
        let bytes = URL_SAFE_NO_PAD.decode(text.trim()).map_err(|_| bad())?;
        let (micros, id) = (bytes.get(..8), bytes.get(8..));
        let (Some(micros), Some(id), 24) = (micros, id, bytes.len()) else {
            return Err(bad());
        };
        let micros = i64::from_be_bytes(micros.try_into().map_err(|_| bad())?);
        Ok(Cursor {
            created_at: DateTime::from_timestamp_micros(micros).ok_or_else(bad)?,
            id: Uuid::from_slice(id).map_err(|_| bad())?,
        })
    }
}

/// A cursor from its text, if one is given.
pub fn parse_cursor(value: Option<&str>) -> Result<Option<Cursor>, BadFilter> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(Cursor::decode)
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(status: Option<&str>, wait_reason: Option<&str>) -> FilterText {
        FilterText {
            status: status.map(str::to_owned),
            wait_reason: wait_reason.map(str::to_owned),
            ..FilterText::default()
        }
    }

    #[test]
    fn unknown_words_name_their_field() {
        let err = text(Some("lost"), None).parse().unwrap_err();
        assert_eq!(err.field, "status");
        assert!(err.reason.contains("waitForSending"), "{err}");
        let err = text(None, Some("moon")).parse().unwrap_err();
        assert_eq!(err.field, "wait_reason");
        assert_eq!(err.as_flag().split(':').next(), Some("--wait-reason"));
        let err = text(Some("failed"), Some("quota")).parse().unwrap_err();
        assert_eq!(err.field, "wait_reason");
        let filter = text(Some(""), Some("quota")).parse().expect("valid");
        assert_eq!(filter.status, None);
        assert_eq!(filter.wait_reason, Some(WaitReason::Quota));
    }

    #[test]
    fn times_and_limits_are_checked() {
        let bad = FilterText {
            since: Some("yesterday".into()),
            ..FilterText::default()
        };
        assert_eq!(bad.parse().unwrap_err().field, "since");
        let backwards = FilterText {
            since: Some("2026-12-02T10:00:00Z".into()),
            until: Some("2026-12-02T09:00:00+00:00".into()),
            ..FilterText::default()
        };
        assert_eq!(backwards.parse().unwrap_err().field, "until");
        assert_eq!(parse_limit(None), Ok(DEFAULT_LIMIT));
        assert_eq!(parse_limit(Some("7")), Ok(7));
        for bad in ["0", "-1", "x", "10001"] {
            assert_eq!(parse_limit(Some(bad)).unwrap_err().field, "limit");
        }
    }

    #[test]
    fn a_cursor_round_trips_and_refuses_what_herald_did_not_write() {
        let cursor = Cursor {
            created_at: DateTime::from_timestamp_micros(1_796_000_000_123_456).expect("time"),
            id: Uuid::new_v4(),
        };
        let encoded = cursor.encode();
        assert!(
            encoded
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(encoded.len(), 32);
        assert_eq!(Cursor::decode(&encoded), Ok(cursor));
        assert_eq!(parse_cursor(Some("")), Ok(None));
        let long = format!("{encoded}AA");
        for bad in ["", "!!", "bm9wZQ", &encoded[..31], &long] {
            assert_eq!(Cursor::decode(bad).unwrap_err().field, "cursor");
        }
    }
}
