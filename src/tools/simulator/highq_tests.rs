//! The HighQ twin over plain HTTP: refresh tokens replaced on every
//! refresh, 403 for an expired access token, JSON or XML answers, and the
//! control endpoints for the token lifetime and the answer format.

use super::tests::spawn;
use super::*;
use serde_json::{Value, json};

async fn refresh(sim: &SimHandle, refresh_token: &str) -> (u16, Value) {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
        ("client_id", "sim-client"),
        ("client_secret", "sim-secret"),
    ];
    let response = reqwest::Client::new()
        .post(format!("{}/acme/api/oauth2/token", sim.base_url()))
        .form(&form)
        .send()
        .await
        .expect("answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn conversation(sim: &SimHandle, token: &str, accept: &str, body: &Value) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(format!("{}/acme/api/4/conversations/", sim.base_url()))
        .bearer_auth(token)
        .header("accept", accept)
        .json(body)
        .send()
        .await
        .expect("answers");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

fn body() -> Value {
    json!({"recipients": {"users": {"user": [{"userid": 7}]}},
           "messages": {"message": [{"html": "<p>hi</p>"}]}})
}

#[tokio::test]
async fn each_refresh_replaces_the_refresh_token() {
    let sim = spawn().await;
    let (status, first) = refresh(&sim, "sim-refresh-0").await;
    assert_eq!(status, 200);
    assert_eq!(first["token_type"], "bearer");
    let next = first["refresh_token"]
        .as_str()
        .expect("a new refresh token");
    assert_ne!(next, "sim-refresh-0");
    let (status, refused) = refresh(&sim, "sim-refresh-0").await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = refresh(&sim, next).await;
    assert_eq!(status, 200);
    assert_eq!(sim.highq_refreshes(), (2, 1));
    sim.shutdown();
}

#[tokio::test]
async fn access_tokens_expire_into_403_and_answers_are_json_or_xml() {
    let sim = spawn().await;
    let (_, issued) = refresh(&sim, "sim-refresh-0").await;
    let token = issued["access_token"].as_str().expect("an access token");
    let (status, json) = conversation(&sim, token, "application/json", &body()).await;
    assert_eq!(status, 201);
    let json: Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(json["messages"]["message"][0]["messageid"], 1160);
    let (status, xml) = conversation(&sim, token, "*/*", &body()).await;
    assert_eq!(status, 201);
    assert!(xml.contains("<messageid>1161</messageid>"), "{xml}");
    let bad = json!({"recipients": {"users": {"user": [{"userid": "ana"}]}},
                     "messages": {"message": [{"html": "x"}]}});
    assert_eq!(
        conversation(&sim, token, "application/json", &bad).await.0,
        400
    );
    assert_eq!(
        conversation(&sim, "made-up", "application/json", &body())
            .await
            .0,
        403
    );
    sim.expire_highq_tokens();
    let (status, denied) = conversation(&sim, token, "application/json", &body()).await;
    assert_eq!(status, 403);
    assert!(denied.contains("Access denied"), "{denied}");
    sim.shutdown();
}

async fn control(sim: &SimHandle, path: &str, body: Value) -> u16 {
    reqwest::Client::new()
        .post(format!("{}/_sim/highq{path}", sim.base_url()))
        .json(&body)
        .send()
        .await
        .expect("answers")
        .status()
        .as_u16()
}

async fn state(sim: &SimHandle) -> Value {
    reqwest::get(format!("{}/_sim/highq", sim.base_url()))
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON")
}

#[tokio::test]
async fn the_access_token_lifetime_is_set_over_http() {
    let sim = spawn().await;
    assert_eq!(state(&sim).await["token_lifetime_millis"], 5 * 3600 * 1000);
    assert_eq!(
        control(&sim, "/token_lifetime", json!({"millis": 120_000})).await,
        204
    );
    let (_, issued) = refresh(&sim, "sim-refresh-0").await;
    assert_eq!(issued["expires_in"], 120, "the answer says so");
    assert_eq!(state(&sim).await["token_lifetime_millis"], 120_000);

    // A short-lived token is refused once its lifetime is over.
    assert_eq!(
        control(&sim, "/token_lifetime", json!({"millis": 300})).await,
        204
    );
    let next = issued["refresh_token"].as_str().expect("a refresh token");
    let before_issue = std::time::Instant::now();
    let (_, issued) = refresh(&sim, next).await;
    let token = issued["access_token"].as_str().expect("an access token");
    assert_eq!(
        conversation(&sim, token, "application/json", &body())
            .await
            .0,
        201
    );
    let deadline = before_issue + Duration::from_secs(5);
    while conversation(&sim, token, "application/json", &body())
        .await
        .0
        != 403
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the token never expired"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        before_issue.elapsed() >= Duration::from_millis(300),
        "expired early"
    );
    sim.shutdown();
}

#[tokio::test]
async fn xml_answers_are_switched_on_and_off_over_http() {
    let sim = spawn().await;
    let (_, issued) = refresh(&sim, "sim-refresh-0").await;
    let token = issued["access_token"].as_str().expect("an access token");
    assert_eq!(control(&sim, "/xml", json!({"xml": true})).await, 204);
    assert_eq!(state(&sim).await["xml"], true);
    let (status, answer) = conversation(&sim, token, "application/json", &body()).await;
    assert_eq!(status, 201);
    assert!(answer.contains("<messageid>1160</messageid>"), "{answer}");
    assert_eq!(control(&sim, "/xml", json!({"xml": false})).await, 204);
    assert_eq!(state(&sim).await["xml"], false);
    let (status, answer) = conversation(&sim, token, "application/json", &body()).await;
    assert_eq!(status, 201);
    let answer: Value = serde_json::from_str(&answer).expect("JSON again");
    assert_eq!(answer["messages"]["message"][0]["messageid"], 1161);
    assert_eq!(control(&sim, "/xml", json!({"xml": "yes"})).await, 422);
    sim.shutdown();
}
