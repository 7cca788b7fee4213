//! The real OneBox adapter against the OneBox twin: tokens issued, expired
//! and renewed, the quota, scripted faults, and the twin's body rules.

use super::tests::spawn;
use super::*;
use crate::adapters::onebox::OneboxAdapter;
use crate::adapters::{ChannelAdapter, ErrorClass, Outbound, ProviderError, Sent};
use crate::config::OneboxSettings;
use crate::domain::{Message, ProviderStatus};
use serde_json::{Value, json};
use uuid::Uuid;

fn adapter(sim: &SimHandle, password: &str) -> OneboxAdapter {
    let settings = OneboxSettings {
        email: "sim@onebox.example".into(),
        password: password.into(),
        site_id: "169".into(),
        connection_id: 583,
    };
    OneboxAdapter::new(&sim.base_url(), settings, reqwest::Client::new())
}

fn direct(to: &str) -> Message {
    serde_json::from_value(
        json!({"from": "469218373611012", "to": to, "method": "DIRECT",
        "conversation_id": "222536", "text": "Send via api to FB DIRECT - test 1"}),
    )
    .expect("message")
}

async fn send(adapter: &OneboxAdapter, message: &Message) -> Result<Sent, ProviderError> {
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

fn messages_to(sim: &SimHandle, to: &str) -> Vec<Received> {
    sim.requests()
        .into_iter()
        .filter(|r| r.provider == "onebox" && r.body["To"] == to)
        .collect()
}

#[tokio::test]
async fn a_send_authenticates_once_and_gets_the_stored_id() {
    let sim = spawn().await;
    let onebox = adapter(&sim, "sim-pass");
    let first = send(&onebox, &direct("389961471775568"))
        .await
        .expect("sent");
    assert_eq!(first.http_status, 200);
    assert_eq!(first.remote_id.as_deref(), Some("75702"));
    assert_eq!(first.provider_status, Some(ProviderStatus::SENT));
    let second = send(&onebox, &direct("389961471775568"))
        .await
        .expect("sent");
    assert_eq!(second.remote_id.as_deref(), Some("75703"));
    assert_eq!(sim.onebox_authentications(), 1, "the token is cached");
    let received = messages_to(&sim, "389961471775568");
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].path, "/api/message");
    assert_eq!(received[0].body["ConnectionId"], 583);
    assert_eq!(received[0].body["MethodId"], "DIRECT");
    assert_eq!(received[0].body["ConversationId"], 222_536);
    let bearer = received[0]
        .headers
        .iter()
        .find(|(name, _)| name == "authorization")
        .map(|(_, value)| value.clone());
    assert!(bearer.is_some_and(|b| b.starts_with("Bearer ey")));
    sim.shutdown();
}

#[tokio::test]
async fn an_expired_token_is_renewed_and_the_call_repeated() {
    let sim = spawn().await;
    let onebox = adapter(&sim, "sim-pass");
    send(&onebox, &direct("1001")).await.expect("sent");
    sim.expire_onebox_tokens();
    let sent = send(&onebox, &direct("1002"))
        .await
        .expect("sent after renewal");
    assert_eq!(sent.http_status, 200);
    assert_eq!(sim.onebox_authentications(), 2);
    assert_eq!(
        messages_to(&sim, "1002").len(),
        2,
        "refused once, then repeated"
    );
    assert_eq!(sim.stats().accepted, 2);
    sim.shutdown();
}

#[tokio::test]
async fn many_tasks_meeting_an_expired_token_authenticate_once() {
    let sim = spawn().await;
    let onebox = adapter(&sim, "sim-pass");
    send(&onebox, &direct("2000")).await.expect("sent");
    sim.expire_onebox_tokens();
    let messages: Vec<Message> = (0..40).map(|i| direct(&format!("20{i:02}"))).collect();
    let sends = messages.iter().map(|m| send(&onebox, m));
    let results = futures_util::future::join_all(sends).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(sim.onebox_authentications(), 2);
    sim.shutdown();
}

#[tokio::test]
async fn a_token_refused_again_after_renewal_is_auth_expired() {
    let sim = spawn().await;
    sim.set_onebox_token_lifetime(Duration::ZERO);
    let onebox = adapter(&sim, "sim-pass");
    let err = send(&onebox, &direct("3000")).await.expect_err("expired");
    assert_eq!(err.class, ErrorClass::AuthExpired);
    assert_eq!(err.http_status, Some(401));
    assert_eq!(sim.onebox_authentications(), 2, "renewed once, not more");
    assert_eq!(messages_to(&sim, "3000").len(), 2);
    sim.shutdown();
}

#[tokio::test]
async fn a_closed_quota_is_quota_closed() {
    let sim = spawn().await;
    sim.set_onebox_quota(Some(1));
    let onebox = adapter(&sim, "sim-pass");
    send(&onebox, &direct("4000"))
        .await
        .expect("the last one the quota allows");
    let err = send(&onebox, &direct("4000")).await.expect_err("closed");
    assert_eq!(err.class, ErrorClass::QuotaClosed);
    assert_eq!(err.http_status, Some(401));
    assert_eq!(
        err.message,
        format!("OneBox's quota is closed: {TIME_LIMIT}")
    );
    assert_eq!(
        sim.onebox_authentications(),
        1,
        "a quota refusal is not an expiry"
    );
    sim.set_onebox_quota(None);
    send(&onebox, &direct("4000")).await.expect("open again");
    sim.shutdown();
}

#[tokio::test]
async fn wrong_credentials_fail_without_a_message_call() {
    let sim = spawn().await;
    let onebox = adapter(&sim, "not-the-password");
    let err = send(&onebox, &direct("5000")).await.expect_err("refused");
    assert_eq!(err.class, ErrorClass::Permanent);
    assert_eq!(
        err.message,
        "OneBox refused the credentials (HTTP 401): Invalid email or password"
    );
    assert!(sim.requests().is_empty());
    assert_eq!(sim.onebox_authentications(), 0);
    sim.shutdown();
}

#[tokio::test]
async fn scripted_faults_are_classified() {
    let sim = spawn().await;
    let onebox = adapter(&sim, "sim-pass");
    let to = "6000";
    sim.script(
        to,
        vec![
            Step::Http {
                status: 503,
                retry_after: None,
            },
            Step::Http {
                status: 429,
                retry_after: Some(3),
            },
            Step::MetaFalse {
                code: 400,
                message: "To is not a follower".into(),
            },
            Step::Garbage,
            Step::MetaFalse {
                code: 401,
                message: "Expired token".into(),
            },
        ],
    );
    let class = |r: Result<Sent, ProviderError>| r.expect_err("a fault").class;
    assert_eq!(
        class(send(&onebox, &direct(to)).await),
        ErrorClass::Transient
    );
    assert_eq!(
        class(send(&onebox, &direct(to)).await),
        ErrorClass::RateLimited {
            retry_after: Some(Duration::from_secs(3))
        }
    );
    let err = send(&onebox, &direct(to)).await.expect_err("refused");
    assert_eq!(err.class, ErrorClass::Permanent);
    assert_eq!(
        err.message,
        "OneBox answered HTTP 400: To is not a follower"
    );
    assert_eq!(
        class(send(&onebox, &direct(to)).await),
        ErrorClass::Transient
    );
    // The scripted expiry is renewed and repeated: the repeat succeeds.
    send(&onebox, &direct(to))
        .await
        .expect("sent after renewal");
    assert_eq!(sim.onebox_authentications(), 2);
    sim.shutdown();
}

async fn token(sim: &SimHandle) -> String {
    let answer: Value = reqwest::Client::new()
        .post(format!("{}/api/authenticate", sim.base_url()))
        .json(&json!({"email": "sim@onebox.example", "password": "sim-pass", "siteId": 169}))
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(answer["response_code"], "200");
    assert_eq!(answer["response_status"], "Success");
    answer["token"].as_str().expect("a token").to_owned()
}

async fn post_message(sim: &SimHandle, token: &str, body: &Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/api/message", sim.base_url()))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

fn valid() -> Value {
    json!({"ConnectionId": 583, "Subject": "s", "MethodId": "DIRECT", "From": "1", "To": "2",
        "ConversationId": 222536, "Attachments": [],
        "Content": {"Body": "b", "BodyText": "b", "ContentType": "text/plain", "Encoding": "UTF-8"}})
}

#[tokio::test]
async fn the_twin_refuses_bodies_the_document_does_not_allow() {
    let sim = spawn().await;
    let token = token(&sim).await;
    assert_eq!(post_message(&sim, &token, &valid()).await.0, 200);
    let email = json!({"ConnectionId": 572, "Subject": "s", "From": "a@b.co", "To": "c@d.co",
        "Content": {"Body": "b", "BodyText": "b", "ContentType": "text/html", "Encoding": "UTF-8"}});
    let mut cases = vec![json!([1]), email.clone()];
    for (key, value) in [
        ("ConnectionId", json!("583")),
        ("MethodId", json!("STORY")),
        ("From", json!("")),
        ("To", Value::Null),
        ("Subject", Value::Null),
        ("PreviousId", json!("abc")),
        ("Cc", json!(["x"])),
        (
            "Attachments",
            json!([{"Description": "d", "File": {"Name": "f"}}]),
        ),
        (
            "Attachments",
            json!([{"Description": "d", "File": {"Name": "f", "Content": "%%"}}]),
        ),
        (
            "Users",
            json!([{"IdentityId": "1", "Name": "n", "RoleId": "MSR9"}]),
        ),
        (
            "Content",
            json!({"Body": "", "BodyText": "", "ContentType": "text/plain",
                           "Encoding": "UTF-8"}),
        ),
        (
            "Content",
            json!({"Body": "b", "BodyText": "b", "ContentType": "html",
                           "Encoding": "UTF-8"}),
        ),
    ] {
        let mut bad = valid();
        bad[key] = value;
        cases.push(bad);
    }
    for bad in &cases {
        let (status, answer) = post_message(&sim, &token, bad).await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(answer["_meta"]["status"], "ERROR");
        assert_eq!(answer["records"]["errorCode"], 400);
    }
    let mut with_users = email;
    with_users["Users"] = json!([
        {"IdentityId": "a@b.co", "Name": "A", "RoleId": "MSR1"},
        {"IdentityId": "c@d.co", "Name": "C", "RoleId": "MSR2"}]);
    assert_eq!(post_message(&sim, &token, &with_users).await.0, 200);
    let (status, answer) = post_message(&sim, "never-issued", &valid()).await;
    assert_eq!(status, 401);
    assert_eq!(answer["records"]["userMessage"], "Invalid token");
    sim.shutdown();
}

#[tokio::test]
async fn the_documented_success_shape_is_echoed() {
    let sim = spawn().await;
    let token = token(&sim).await;
    let (status, answer) = post_message(&sim, &token, &valid()).await;
    assert_eq!(status, 200);
    assert_eq!(answer["limit"], "1");
    let stored = &answer["data"][0];
    assert_eq!(stored["Id"], "75702");
    assert_eq!(stored["ConnectionId"], "583");
    assert_eq!(stored["SiteId"], "169");
    assert_eq!(stored["ConversationId"], "222536");
    assert_eq!(stored["StatusId"], "MSS3");
    assert_eq!(stored["Content"]["Body"], "b");
    sim.shutdown();
}

#[tokio::test]
async fn control_endpoints_drive_tokens_and_quota() {
    let sim = spawn().await;
    let http = reqwest::Client::new();
    let control = |path: &str| format!("{}/_sim/onebox{path}", sim.base_url());
    let token = token(&sim).await;
    let post = |path: &'static str, body: Value| {
        let request = http.post(control(path)).json(&body);
        async move { request.send().await.expect("answers").status().as_u16() }
    };
    assert_eq!(post("/quota", json!({"remaining": 0})).await, 204);
    let (status, answer) = post_message(&sim, &token, &valid()).await;
    assert_eq!(status, 401);
    assert_eq!(answer["records"]["userMessage"], TIME_LIMIT);
    assert_eq!(post("/quota", json!({"remaining": null})).await, 204);
    assert_eq!(post("/expire", json!({})).await, 204);
    let (status, answer) = post_message(&sim, &token, &valid()).await;
    assert_eq!(status, 401);
    assert_eq!(answer["records"]["userMessage"], "Expired token");
    assert_eq!(
        post("/token_lifetime", json!({"millis": 60_000})).await,
        204
    );
    let state: Value = http
        .get(control(""))
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        state,
        json!({"authentications": 1, "quota": null, "token_lifetime_millis": 60_000,
               "hours": null, "timezone": null})
    );
    sim.shutdown();
}

/// `HH:MM-HH:MM` from `now + from` to `now + to` hours, in UTC.
fn hours_around(from: i64, to: i64) -> String {
    let now = chrono::Utc::now();
    let at = |h: i64| {
        (now + chrono::Duration::hours(h))
            .format("%H:%M")
            .to_string()
    };
    format!("{}-{}", at(from), at(to))
}

#[tokio::test]
async fn outside_its_hours_onebox_answers_time_limit_reached() {
    let sim = spawn().await;
    let http = reqwest::Client::new();
    let hours_url = format!("{}/_sim/onebox/hours", sim.base_url());
    let set = |body: Value| {
        let request = http.post(&hours_url).json(&body);
        async move { request.send().await.expect("answers").status().as_u16() }
    };
    let token = token(&sim).await;
    // Closed: the hours begin two hours from now (in Jakarta's time, which
    // shifts both ends alike).
    let closed = hours_around(2, 3);
    assert_eq!(
        set(json!({"hours": closed, "timezone": "Asia/Jakarta"})).await,
        204
    );
    let state: Value = http
        .get(format!("{}/_sim/onebox", sim.base_url()))
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(state["hours"], closed.as_str());
    assert_eq!(state["timezone"], "Asia/Jakarta");
    let (status, answer) = post_message(&sim, &token, &valid()).await;
    assert_eq!(status, 401);
    assert_eq!(answer["records"]["userMessage"], TIME_LIMIT);
    // Open: the hours began an hour ago (here in UTC, the default).
    assert_eq!(set(json!({"hours": hours_around(-1, 1)})).await, 204);
    assert_eq!(post_message(&sim, &token, &valid()).await.0, 200);
    // Closed again in process, then lifted: any hour.
    let hours = OpenHours::parse(&closed, None).expect("hours");
    sim.set_onebox_hours(Some(hours));
    let onebox = adapter(&sim, "sim-pass");
    let err = send(&onebox, &direct("6000")).await.expect_err("closed");
    assert_eq!(err.class, ErrorClass::QuotaClosed);
    assert_eq!(set(json!({"hours": null})).await, 204);
    send(&onebox, &direct("6000"))
        .await
        .expect("open at any hour");
    // Hours or a time zone that do not parse are refused, and change nothing.
    assert_eq!(set(json!({"hours": "9-5"})).await, 400);
    assert_eq!(
        set(json!({"hours": "09:00-17:00", "timezone": "Mars/Base"})).await,
        400
    );
    assert_eq!(post_message(&sim, &token, &valid()).await.0, 200);
    sim.shutdown();
}
