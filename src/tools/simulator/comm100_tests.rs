//! The real Comm100 adapter against the Comm100 twin: create, resend of a
//! held message, scripted faults, and the twin's refusals.

use super::tests::spawn;
use super::*;
use crate::adapters::comm100::Comm100Adapter;
use crate::adapters::{ChannelAdapter, ErrorClass, Outbound, ProviderError, Sent};
use crate::config::Comm100Settings;
use crate::domain::{GroupRef, Message, ProviderStatus};
use serde_json::{Value, json};
use uuid::Uuid;

const AGENT: &str = "902f53f4-4acc-4103-8e85-fd20e7678edd";

fn adapter(sim: &SimHandle, token: &str) -> Comm100Adapter {
    let settings = Comm100Settings {
        access_token: token.into(),
        site_id: None,
        channel_id: "Email".into(),
        sent_by_id: AGENT.into(),
        sent_by_type: "agent".into(),
    };
    Comm100Adapter::new(&sim.base_url(), settings, reqwest::Client::new())
}

fn text(ticket: &str) -> Message {
    serde_json::from_value(json!({"to": "contact", "text": "Your order has shipped",
        "conversation_id": ticket}))
    .expect("message")
}

async fn send(
    adapter: &Comm100Adapter,
    message: &Message,
    remote_id: Option<&str>,
) -> Result<Sent, ProviderError> {
    let group = GroupRef {
        id: "bot-reply-42".into(),
        order: 1,
    };
    let outbound = Outbound {
        delivery_id: Uuid::new_v4(),
        message,
        attempt: 1,
        resends: u32::from(remote_id.is_some()),
        remote_id,
        group: Some(&group),
    };
    adapter.send(outbound).await
}

#[tokio::test]
async fn a_create_and_a_resend_of_the_held_message() {
    let sim = spawn().await;
    let comm100 = adapter(&sim, "sim-comm100-token");
    let sent = send(&comm100, &text("100"), None).await.expect("created");
    assert_eq!(sent.http_status, 201);
    assert_eq!(sent.provider_status, Some(ProviderStatus::SENT));
    let id = sent.remote_id.expect("an id");
    let held = sim.comm100_message(&id).expect("the twin holds it");
    assert_eq!(held["ticketId"], "100");
    assert_eq!(held["sentById"], AGENT);
    assert_eq!(held["messageDelivery"]["orderNum"], 1);
    let received = sim.requests();
    assert_eq!(received[0].path, "/v4/ticketing/messages");
    let bearer = received[0]
        .headers
        .iter()
        .find(|(n, _)| n == "authorization");
    assert_eq!(
        bearer.map(|(_, v)| v.as_str()),
        Some("Bearer sim-comm100-token")
    );

    sim.script("100", vec![Step::Ok { provider_status: 0 }]);
    let resent = send(&comm100, &text("100"), Some(&id))
        .await
        .expect("resent");
    assert_eq!(resent.http_status, 200);
    assert_eq!(resent.remote_id.as_deref(), Some(id.as_str()));
    assert_eq!(resent.provider_status, Some(ProviderStatus::PENDING));
    assert_eq!(sim.comm100_counts(), (1, 1), "one message, resent once");
    assert_eq!(
        sim.requests()[1].path,
        format!("/v4/ticketing/messages/{id}:resend")
    );
    sim.shutdown();
}

#[tokio::test]
async fn scripted_faults_are_classified() {
    let sim = spawn().await;
    let comm100 = adapter(&sim, "sim-comm100-token");
    sim.script(
        "7",
        vec![
            Step::Http {
                status: 503,
                retry_after: None,
            },
            Step::Http {
                status: 429,
                retry_after: Some(5),
            },
            Step::MetaFalse {
                code: 404,
                message: "ticket not found".into(),
            },
            Step::Ok {
                provider_status: -3,
            },
            Step::Garbage,
        ],
    );
    let class = |r: Result<Sent, ProviderError>| r.expect_err("a fault").class;
    assert_eq!(
        class(send(&comm100, &text("7"), None).await),
        ErrorClass::Transient
    );
    assert_eq!(
        class(send(&comm100, &text("7"), None).await),
        ErrorClass::RateLimited {
            retry_after: Some(Duration::from_secs(5))
        }
    );
    let err = send(&comm100, &text("7"), None).await.expect_err("404");
    assert_eq!(err.class, ErrorClass::Permanent);
    assert_eq!(err.message, "Comm100 answered (HTTP 404): ticket not found");
    let failed = send(&comm100, &text("7"), None).await.expect_err("failed");
    assert_eq!(failed.class, ErrorClass::Permanent);
    let id = failed.remote_id.expect("the failed message's id");
    assert_eq!(
        sim.comm100_message(&id).expect("held")["messageDelivery"]["status"],
        "failed"
    );
    assert_eq!(
        class(send(&comm100, &text("7"), None).await),
        ErrorClass::Transient
    );
    let resent = send(&comm100, &text("7"), Some(&id)).await.expect("resent");
    assert_eq!(resent.provider_status, Some(ProviderStatus::SENT));
    sim.shutdown();
}

#[tokio::test]
async fn a_wrong_token_is_permanent_and_never_echoed() {
    let sim = spawn().await;
    let comm100 = adapter(&sim, "wrong-token");
    let err = send(&comm100, &text("1"), None).await.expect_err("refused");
    assert_eq!(err.class, ErrorClass::Permanent);
    assert_eq!(
        err.message,
        "Comm100 refused the access token (HTTP 401): invalid access token"
    );
    let unknown = Uuid::new_v4().to_string();
    let good = adapter(&sim, "sim-comm100-token");
    let err = send(&good, &text("1"), Some(&unknown))
        .await
        .expect_err("unknown");
    assert_eq!(err.class, ErrorClass::Permanent);
    assert_eq!(
        err.message,
        "Comm100 answered (HTTP 404): message not found"
    );
    assert_eq!(sim.stats().accepted, 0);
    sim.shutdown();
}

async fn post(sim: &SimHandle, body: &Value) -> u16 {
    reqwest::Client::new()
        .post(format!("{}/v4/ticketing/messages", sim.base_url()))
        .bearer_auth("sim-comm100-token")
        .json(body)
        .send()
        .await
        .expect("answers")
        .status()
        .as_u16()
}

#[tokio::test]
async fn the_twin_refuses_bodies_the_document_does_not_allow() {
    let sim = spawn().await;
    let good = json!({"ticketId": "100", "sentById": AGENT, "sentByType": "agent",
        "type": "text", "metadata": {}, "channelId": "Email"});
    assert_eq!(post(&sim, &good).await, 201);
    let with = |key: &str, value: Value| {
        let mut body = good.clone();
        body[key] = value;
        body
    };
    let without = |key: &str| {
        let mut body = good.clone();
        body.as_object_mut().map(|o| o.remove(key));
        body
    };
    for bad in [
        without("ticketId"),
        with("ticketId", json!("T-1")),
        without("sentById"),
        with("sentById", json!("agent-1")),
        with("sentByType", json!("bot")),
        with("type", json!("markdown")),
        without("metadata"),
        without("channelId"),
        with("body", json!(1)),
        with("messageDelivery", json!({"status": "queued"})),
        with("messageDelivery", json!({"groupId": "bot-reply-42"})),
        with("messageDelivery", json!({"orderNum": "1"})),
        with("attachments", json!([{"name": "f", "type": "document"}])),
        json!("hi"),
    ] {
        assert_eq!(post(&sim, &bad).await, 400, "{bad}");
    }
    sim.shutdown();
}
