//! The real Chatwoot adapter against the Chatwoot twin: the documented
//! request and answer, scripted faults, and the twin's refusals.

use super::tests::spawn;
use super::*;
use crate::adapters::chatwoot::ChatwootAdapter;
use crate::adapters::{ChannelAdapter, ErrorClass, Outbound, ProviderError, Sent};
use crate::config::ChatwootSettings;
use crate::domain::{Message, ProviderStatus};
use serde_json::{Value, json};
use uuid::Uuid;

fn adapter(sim: &SimHandle, token: &str) -> ChatwootAdapter {
    let settings = ChatwootSettings {
        api_access_token: token.into(),
        account_id: 3,
    };
    ChatwootAdapter::new(&sim.base_url(), settings, reqwest::Client::new())
}

fn text(conversation: &str) -> Message {
    serde_json::from_value(json!({"to": "contact", "text": "Your order has shipped",
        "conversation_id": conversation}))
    .expect("message")
}

async fn send(adapter: &ChatwootAdapter, message: &Message) -> Result<Sent, ProviderError> {
    let outbound = Outbound {
        delivery_id: Uuid::new_v4(),
        message,
        attempt: 1,
        resends: 0,
        remote_id: None,
        group: None,
    };
    adapter.send(outbound).await
}

#[tokio::test]
async fn a_send_gets_the_message_id_and_status() {
    let sim = spawn().await;
    let chatwoot = adapter(&sim, "sim-token");
    let sent = send(&chatwoot, &text("42")).await.expect("sent");
    assert_eq!(sent.http_status, 200);
    assert_eq!(sent.remote_id.as_deref(), Some("1"));
    assert_eq!(sent.provider_status, Some(ProviderStatus::SENT));
    let received = sim.requests();
    assert_eq!(received[0].provider, "chatwoot");
    assert_eq!(
        received[0].path,
        "/api/v1/accounts/3/conversations/42/messages"
    );
    assert_eq!(
        received[0].body,
        json!({"content": "Your order has shipped", "message_type": "outgoing",
               "private": false, "content_type": "text", "content_attributes": {}})
    );
    let token = received[0]
        .headers
        .iter()
        .find(|(name, _)| name == "api_access_token");
    assert_eq!(token.map(|(_, v)| v.as_str()), Some("sim-token"));

    sim.script("42", vec![Step::Ok { provider_status: 3 }]);
    let read = send(&chatwoot, &text("42")).await.expect("sent");
    assert_eq!(read.remote_id.as_deref(), Some("2"));
    assert_eq!(read.provider_status, Some(ProviderStatus::READ));
    assert_eq!(sim.stats().accepted, 2);
    sim.shutdown();
}

#[tokio::test]
async fn scripted_faults_are_classified() {
    let sim = spawn().await;
    let chatwoot = adapter(&sim, "sim-token");
    sim.script(
        "7",
        vec![
            Step::Http {
                status: 502,
                retry_after: None,
            },
            Step::Http {
                status: 429,
                retry_after: Some(5),
            },
            Step::MetaFalse {
                code: 422,
                message: "Conversation is resolved".into(),
            },
            Step::Ok {
                provider_status: -3,
            },
            Step::Garbage,
        ],
    );
    let class = |r: Result<Sent, ProviderError>| r.expect_err("a fault").class;
    assert_eq!(
        class(send(&chatwoot, &text("7")).await),
        ErrorClass::Transient
    );
    assert_eq!(
        class(send(&chatwoot, &text("7")).await),
        ErrorClass::RateLimited {
            retry_after: Some(Duration::from_secs(5))
        }
    );
    let err = send(&chatwoot, &text("7")).await.expect_err("422");
    assert_eq!(err.class, ErrorClass::Permanent);
    assert_eq!(
        err.message,
        "Chatwoot answered (HTTP 422): Conversation is resolved"
    );
    let err = send(&chatwoot, &text("7")).await.expect_err("failed");
    assert_eq!(err.class, ErrorClass::Permanent);
    assert_eq!(
        class(send(&chatwoot, &text("7")).await),
        ErrorClass::Transient
    );
    send(&chatwoot, &text("7"))
        .await
        .expect("the script is done");
    sim.shutdown();
}

#[tokio::test]
async fn a_wrong_token_is_permanent_and_never_echoed() {
    let sim = spawn().await;
    let chatwoot = adapter(&sim, "wrong-token");
    let err = send(&chatwoot, &text("42")).await.expect_err("refused");
    assert_eq!(err.class, ErrorClass::Permanent);
    assert_eq!(
        err.message,
        "Chatwoot refused the api_access_token (HTTP 401): Invalid Access Token"
    );
    assert_eq!(sim.stats().accepted, 0);
    sim.shutdown();
}

async fn post(sim: &SimHandle, path: &str, body: &Value) -> u16 {
    reqwest::Client::new()
        .post(format!("{}{path}", sim.base_url()))
        .header("api_access_token", "sim-token")
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
    let path = "/api/v1/accounts/3/conversations/42/messages";
    assert_eq!(post(&sim, path, &json!({"content": "hi"})).await, 200);
    for bad in [
        json!({"content": ""}),
        json!({"message_type": "outgoing"}),
        json!({"content": "hi", "message_type": "outbound"}),
        json!({"content": "hi", "content_type": "article"}),
        json!({"content": "hi", "private": "no"}),
        json!({"content": "hi", "content_attributes": []}),
        json!("hi"),
    ] {
        assert_eq!(post(&sim, path, &bad).await, 400, "{bad}");
    }
    let unknown = "/api/v1/accounts/3/conversations/abc/messages";
    assert_eq!(post(&sim, unknown, &json!({"content": "hi"})).await, 404);
    sim.shutdown();
}
