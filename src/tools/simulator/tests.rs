//! The simulator over plain HTTP (reqwest), as another process sees it.

use super::*;
use serde_json::{Value, json};
use std::future::Future;
use std::time::Instant;

pub(super) async fn spawn() -> SimHandle {
    let addr = SocketAddr::from(([127, 0, 0, 1], 0));
    start(addr, SimConfig::default())
        .await
        .expect("the simulator starts")
}

/// Polls `condition` until it holds, failing after `within`.
pub(super) async fn eventually(within: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "condition not met within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Awaits `future`, failing after `within`.
pub(super) async fn within<T>(within: Duration, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(within, future)
        .await
        .expect("finished in time")
}

fn body(id: &str, recipient: &str) -> Value {
    json!({
        "id": id, "reply_id": "", "times": 1_700_000_000,
        "timestamp": "2023-11-10T12:38:08+07:00", "reply_token": "",
        "recipient": recipient, "type": "text", "body": {"text": "hi"}
    })
}

async fn post(
    sim: &SimHandle,
    password: &str,
    body: &Value,
) -> (u16, reqwest::header::HeaderMap, String) {
    let response = reqwest::Client::new()
        .post(format!("{}/whatsapp/send/c1", sim.base_url()))
        .header("Auth-username", "sim-user")
        .header("Auth-password", password)
        .json(body)
        .send()
        .await
        .expect("the simulator answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("a body");
    (status, headers, text)
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).expect("a JSON answer")
}

#[tokio::test]
async fn answers_success_in_the_documented_shape_and_records() {
    let sim = spawn().await;
    let (status, _, text) = post(&sim, "sim-pass", &body("m-1", "628111")).await;
    assert_eq!(status, 200);
    let answer = json_of(&text);
    assert_eq!(
        answer["meta"],
        json!({"status": true, "code": 200, "message": "OK", "errors": null})
    );
    assert_eq!(answer["data"]["message_id"], "m-1");
    assert_eq!(answer["data"]["status"], 1);
    assert!(
        answer["data"]["tid"]
            .as_str()
            .is_some_and(|t| t.len() == 36)
    );

    let requests = sim.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].provider, "konnek");
    assert_eq!(requests[0].path, "/whatsapp/send/c1");
    assert_eq!(requests[0].body["recipient"], "628111");
    let user = requests[0]
        .headers
        .iter()
        .find(|(n, _)| n == "auth-username");
    assert_eq!(user.map(|(_, v)| v.as_str()), Some("sim-user"));
    assert_eq!((sim.sends_of("m-1"), sim.accepted_of("m-1")), (1, 1));
    assert_eq!(
        sim.stats(),
        Stats {
            requests: 1,
            accepted: 1
        }
    );
    sim.shutdown();
}

#[tokio::test]
async fn bad_credentials_get_401_and_consume_no_step() {
    let sim = spawn().await;
    sim.script(
        "628111",
        vec![Step::Http {
            status: 503,
            retry_after: None,
        }],
    );
    let (status, _, text) = post(&sim, "wrong", &body("m-1", "628111")).await;
    assert_eq!(status, 401);
    let expected = json!({"meta": {"status": false, "code": 401, "message": "Unauthorized",
        "errors": "invalid credentials"}, "data": null});
    assert_eq!(json_of(&text), expected);
    let (status, _, _) = post(&sim, "sim-pass", &body("m-1", "628111")).await;
    assert_eq!(status, 503, "the scripted step is still queued");
    assert_eq!((sim.sends_of("m-1"), sim.accepted_of("m-1")), (2, 0));
    sim.shutdown();
}

#[tokio::test]
async fn bad_bodies_get_400() {
    let sim = spawn().await;
    let good = body("m-1", "628111");
    let mut cases = Vec::new();
    for (key, value) in [
        ("id", Value::Null),
        ("recipient", json!("")),
        ("type", json!("sticker")),
        ("times", json!("1700000000")),
        ("timestamp", Value::Null),
        ("body", json!({"media": {"url": "x"}})),
    ] {
        let mut bad = good.clone();
        bad[key] = value;
        cases.push(bad);
    }
    cases.push(json!([1, 2]));
    for bad in &cases {
        let (status, _, text) = post(&sim, "sim-pass", bad).await;
        assert_eq!(status, 400, "{bad}");
        let answer = json_of(&text);
        assert_eq!(answer["meta"]["status"], false);
        assert_eq!(answer["meta"]["code"], 400);
        assert!(answer["meta"]["errors"].is_string());
    }
    assert_eq!(
        sim.stats(),
        Stats {
            requests: cases.len() as u64,
            accepted: 0
        }
    );
    sim.shutdown();
}

#[tokio::test]
async fn control_endpoints_script_and_report() {
    let sim = spawn().await;
    let http = reqwest::Client::new();
    let control = |path: &str| format!("{}/_sim/{path}", sim.base_url());
    let steps = json!({"recipient": "628111", "steps": [
        {"answer": "http", "status": 429, "retry_after": 2},
        {"answer": "garbage"}
    ]});
    let response = http
        .post(control("script"))
        .json(&steps)
        .send()
        .await
        .expect("script");
    assert_eq!(response.status(), 204);
    let response = http
        .post(control("latency"))
        .json(&json!({"millis": 1}))
        .send()
        .await
        .expect("latency");
    assert_eq!(response.status(), 204);
    assert_eq!(sim.shared.latency(), Duration::from_millis(1));

    let (status, headers, _) = post(&sim, "sim-pass", &body("m-1", "628111")).await;
    assert_eq!(status, 429);
    assert_eq!(
        headers.get("retry-after").map(|v| v.as_bytes()),
        Some(&b"2"[..])
    );
    let (status, _, text) = post(&sim, "sim-pass", &body("m-1", "628111")).await;
    assert_eq!(status, 200);
    assert!(
        serde_json::from_str::<Value>(&text).is_err(),
        "garbage is not JSON"
    );
    let (status, _, _) = post(&sim, "sim-pass", &body("m-1", "628111")).await;
    assert_eq!(status, 200);

    let get = |path: &str| http.get(control(path)).send();
    let requests: Value = get("requests")
        .await
        .expect("requests")
        .json()
        .await
        .expect("JSON");
    assert_eq!(requests.as_array().map(Vec::len), Some(3));
    assert_eq!(requests[0]["provider"], "konnek");
    assert_eq!(requests[0]["body"]["id"], "m-1");
    let stats: Stats = get("stats")
        .await
        .expect("stats")
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        stats,
        Stats {
            requests: 3,
            accepted: 1
        }
    );

    let bad = http
        .post(control("script"))
        .json(&json!({"steps": []}))
        .send()
        .await
        .expect("answer");
    assert!(bad.status().is_client_error());
    let response = http.post(control("reset")).send().await.expect("reset");
    assert_eq!(response.status(), 204);
    assert_eq!(sim.stats(), Stats::default());
    assert!(sim.requests().is_empty());
    sim.shutdown();
}

#[tokio::test]
async fn the_record_limit_keeps_the_newest() {
    let sim = spawn().await;
    sim.set_record_limit(2);
    for id in ["a", "b", "c"] {
        post(&sim, "sim-pass", &body(id, "1")).await;
    }
    let ids: Vec<Value> = sim
        .requests()
        .into_iter()
        .map(|r| r.body["id"].clone())
        .collect();
    assert_eq!(ids, [json!("b"), json!("c")]);
    assert_eq!(sim.stats().requests, 3);
    assert_eq!(sim.sends_of("a"), 1);
    sim.shutdown();
}

#[tokio::test]
async fn shutdown_ends_hangs_and_stops_the_server() {
    let sim = spawn().await;
    sim.script("628111", vec![Step::Hang]);
    let hanging = tokio::spawn({
        let sim = sim.clone();
        async move { post(&sim, "sim-pass", &body("m-1", "628111")).await.0 }
    });
    eventually(Duration::from_secs(5), || sim.sends_of("m-1") == 1).await;
    sim.shutdown();
    within(Duration::from_secs(5), sim.stopped()).await;
    let status = within(Duration::from_secs(5), hanging)
        .await
        .expect("the task ends");
    assert_eq!(status, 503);
    let refused = reqwest::Client::new()
        .post(format!("{}/whatsapp/send/c1", sim.base_url()))
        .send()
        .await;
    assert!(refused.is_err(), "nothing listens any more");
}

#[tokio::test]
async fn base_url_is_a_loopback_address() {
    let sim = start(SocketAddr::from(([0, 0, 0, 0], 0)), SimConfig::default())
        .await
        .expect("starts");
    assert_eq!(
        sim.base_url(),
        format!("http://127.0.0.1:{}", sim.addr.port())
    );
    sim.shutdown();
}
