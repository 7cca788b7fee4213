//! What the admin API reads and answers, as JSON and as OpenAPI schemas.
//! A delivery shows its state and, alone, a summary of its message with
//! the recipients; never a connection's secrets, nor the message's
//! attachments or metadata.

use crate::domain::filter::FilterText;
use crate::print;
use crate::storage::events::EventView;
use crate::storage::operator::{AttemptView, DeliveryView};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Characters of a message's text a summary shows.
const TEXT_PREVIEW: usize = 200;

/// Every error: what went wrong and what to do.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    #[schema(
        example = "status: unknown delivery status \"lost\" (expected waitForSending, sending, success or failed)"
    )]
    pub error: String,
}

/// A delivery's state (contract §4).
#[derive(Serialize, ToSchema)]
pub struct Delivery {
    pub id: Uuid,
    pub connection: String,
    /// `waitForSending`, `sending`, `success` or `failed`.
    pub status: String,
    /// -3 Failed, -2 Undelivered, -1 Unsent, 0 Pending, 1 Sent, 2 Delivered, 3 Read.
    pub provider_status: Option<i16>,
    pub remote_id: Option<String>,
    /// Attempts of the current round.
    pub attempts: i32,
    pub resends: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// `retry`, `quota`, `window`, `rate`, `group` or `scheduled`.
    pub wait_reason: Option<String>,
    pub fail_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The message, summed up: in `GET /v1/deliveries/{id}` only, and
    /// absent for a command that was rejected before it could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<MessageSummary>,
}

/// Who a message goes to and what it says, in short.
#[derive(Serialize, ToSchema)]
pub struct MessageSummary {
    pub to: Option<String>,
    pub from: Option<String>,
    pub cc: Vec<String>,
    pub bcc: Vec<String>,
    pub kind: Option<String>,
    pub subject: Option<String>,
    /// The text's first 200 characters, on one line.
    pub text: Option<String>,
    /// The ordered group and the place in it, if any.
    pub group: Option<Value>,
    pub not_before: Option<String>,
    pub expires_at: Option<String>,
}

/// One provider call.
#[derive(Serialize, ToSchema)]
pub struct Attempt {
    /// 0 for the first round, n after the n-th resend.
    pub round: i32,
    pub attempt: i32,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub http_status: Option<i32>,
    /// `success`, `retryable`, `permanent` or `deferred`.
    pub outcome: String,
    pub error: Option<String>,
}

/// One change of a delivery that no attempt row tells (its audit trail).
#[derive(Serialize, ToSchema)]
pub struct Event {
    pub at: DateTime<Utc>,
    /// `deferred`, `failed`, `released`, `aborted`, `requeued`, `recovered`,
    /// `resent`, `cancelled`, `expired` or `provider_status`.
    pub kind: String,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    /// Why: a wait or fail reason, the operator's reason, the provider's status.
    pub reason: Option<String>,
    /// Until when it waits after this change, where it waits.
    pub until: Option<DateTime<Utc>>,
    /// `worker`, `cli`, `api`, `callback` or `producer`.
    pub actor: String,
    /// The operator's name, where given.
    pub operator: Option<String>,
}

/// One delivery with its attempts and its other changes, oldest first.
#[derive(Serialize, ToSchema)]
pub struct DeliveryDetail {
    pub delivery: Delivery,
    pub attempts: Vec<Attempt>,
    pub events: Vec<Event>,
}

/// One page of deliveries, newest first.
#[derive(Serialize, ToSchema)]
pub struct DeliveryPage {
    pub deliveries: Vec<Delivery>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// A resend or cancel command was published (confirmed by RabbitMQ); a
/// worker applies it, if the delivery's state still allows it then.
#[derive(Serialize, ToSchema)]
pub struct Published {
    pub id: Uuid,
    pub published: bool,
}

/// How many resend commands a bulk resend published.
#[derive(Serialize, ToSchema)]
pub struct PublishedCount {
    pub published: u64,
}

/// The query of `GET /v1/deliveries`; every filter optional, an empty
/// value counts as absent.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `waitForSending`, `sending`, `success` or `failed`.
    pub status: Option<String>,
    /// A connection's name.
    pub connection: Option<String>,
    /// Created at or after (RFC 3339).
    pub since: Option<String>,
    /// Created before (RFC 3339).
    pub until: Option<String>,
    /// `retry`, `quota`, `window`, `rate`, `group` or `scheduled`.
    pub wait_reason: Option<String>,
    /// An ordered group's id.
    pub group: Option<String>,
    /// Rows per page, 1 to 10000 (default 50).
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl ListQuery {
    pub fn filters(&self) -> FilterText {
        FilterText {
            status: self.status.clone(),
            connection: self.connection.clone(),
            since: self.since.clone(),
            until: self.until.clone(),
            wait_reason: self.wait_reason.clone(),
            group: self.group.clone(),
        }
    }
}

/// The optional body of a single resend.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResendBody {
    /// Why, kept in the command.
    pub reason: Option<String>,
}

/// The body of a bulk resend: the filters of `herald resend --status ...`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkResendBody {
    /// Required: `failed` or `success`.
    pub status: Option<String>,
    pub connection: Option<String>,
    /// Created at or after (RFC 3339).
    pub since: Option<String>,
    /// Created before (RFC 3339).
    pub until: Option<String>,
    /// An ordered group's id.
    pub group: Option<String>,
    /// Why, kept in each command.
    pub reason: Option<String>,
}

impl BulkResendBody {
    pub fn filters(&self) -> FilterText {
        FilterText {
            status: self.status.clone(),
            connection: self.connection.clone(),
            since: self.since.clone(),
            until: self.until.clone(),
            wait_reason: None,
            group: self.group.clone(),
        }
    }
}

fn text(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn texts(value: &Value, key: &str) -> Vec<String> {
    value
        .get(key)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The summary of a stored send command.
fn summary(command: &Value) -> MessageSummary {
    let message = command.get("message").unwrap_or(&Value::Null);
    MessageSummary {
        to: text(message, "to"),
        from: text(message, "from"),
        cc: texts(message, "cc"),
        bcc: texts(message, "bcc"),
        kind: text(message, "kind").or_else(|| Some("text".into())),
        subject: text(message, "subject"),
        text: text(message, "text").map(|t| print::cut(&t, TEXT_PREVIEW)),
        group: command.get("group").cloned(),
        not_before: text(command, "not_before"),
        expires_at: text(command, "expires_at"),
    }
}

impl From<DeliveryView> for Delivery {
    fn from(d: DeliveryView) -> Delivery {
        Delivery {
            message: d.command.as_ref().map(summary),
            id: d.id,
            connection: d.connection,
            status: d.status,
            provider_status: d.provider_status,
            remote_id: d.remote_id,
            attempts: d.attempts,
            resends: d.resends,
            next_attempt_at: d.next_attempt_at,
            wait_reason: d.wait_reason,
            fail_reason: d.fail_reason,
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

impl From<EventView> for Event {
    fn from(e: EventView) -> Event {
        Event {
            at: e.at,
            kind: e.kind,
            from_status: e.from_status,
            to_status: e.to_status,
            reason: e.reason,
            until: e.until,
            actor: e.actor,
            operator: e.operator,
        }
    }
}

impl From<AttemptView> for Attempt {
    fn from(a: AttemptView) -> Attempt {
        Attempt {
            round: a.round,
            attempt: a.attempt,
            started_at: a.started_at,
            finished_at: a.finished_at,
            http_status: a.http_status,
            outcome: a.outcome,
            error: a.error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_summary_names_the_recipients_and_cuts_the_text() {
        let command = json!({"type": "send", "message": {
            "to": "628111", "cc": ["a@x"], "text": "y".repeat(500),
            "attachments": [{"name": "f.csv", "content_base64": "AAAA"}]},
            "group": {"id": "g", "order": 2}, "metadata": {"tenant": "acme"}});
        let s = summary(&command);
        assert_eq!(s.to.as_deref(), Some("628111"));
        assert_eq!(s.cc, ["a@x"]);
        assert_eq!(s.kind.as_deref(), Some("text"));
        assert_eq!(s.text.map(|t| t.chars().count()), Some(TEXT_PREVIEW));
        let shown = serde_json::to_string(&summary(&command)).expect("json");
        assert!(
            !shown.contains("AAAA") && !shown.contains("acme"),
            "{shown}"
        );
    }
}
