//! The admin API (contract §6) of a running worker: its token, every
//! route, its errors, a cancel, and paging (`admin_actions.rs`: resends and
//! the OpenAPI document).

use crate::helpers::*;
use crate::listing::{assert_newest_first, some_deliveries};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

pub const TOKEN: &str = "adm-s3cret-token";

/// Every admin route, with a body where it takes one.
fn routes(id: Uuid) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::GET, format!("/v1/deliveries/{id}"), None),
        (
            Method::GET,
            "/v1/deliveries?status=failed&limit=5".into(),
            None,
        ),
        (Method::POST, format!("/v1/deliveries/{id}/resend"), None),
        (Method::POST, format!("/v1/deliveries/{id}/cancel"), None),
        (
            Method::POST,
            "/v1/deliveries/resend".into(),
            Some(json!({"status": "failed"})),
        ),
        (Method::GET, "/v1/dead-letters/history".into(), None),
        (Method::GET, "/v1/dead-letters?limit=5".into(), None),
        (
            Method::POST,
            "/v1/dead-letters/replay".into(),
            Some(json!({"all": true})),
        ),
        (
            Method::POST,
            "/v1/dead-letters/purge".into(),
            Some(json!({"count": 1})),
        ),
    ]
}

/// A client of one app's admin API, with the token.
pub struct Admin<'a> {
    pub app: &'a TestApp,
    pub http: reqwest::Client,
}

impl Admin<'_> {
    pub fn new(app: &TestApp) -> Admin<'_> {
        Admin {
            app,
            http: reqwest::Client::new(),
        }
    }

    /// Calls `path` with `token` (none: no header) and returns the status
    /// and the JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, self.app.http_url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{path}: {status}: not JSON: {text:?}"));
        (status, body)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(TOKEN), None).await
    }

    pub async fn post(&self, path: &str, body: Option<&Value>) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(TOKEN), body).await
    }
}

/// An app whose admin API is on, with a Konnek connection of its own.
pub async fn app_with_token(connection: &str) -> TestApp {
    spawn_app_with(Options {
        admin_token: TOKEN,
        extra_toml: konnek_connection(connection),
        ..Options::default()
    })
    .await
}

#[tokio::test]
async fn without_a_token_configured_every_admin_route_is_404() {
    let app = spawn_app().await;
    let admin = Admin::new(&app);
    let mut all = routes(Uuid::new_v4());
    all.push((Method::GET, "/v1/openapi.json".into(), None));
    for (method, path, body) in all {
        for token in [None, Some(""), Some(TOKEN)] {
            let (status, body) = admin
                .call(method.clone(), &path, token, body.as_ref())
                .await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}");
            assert!(
                body["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("admin_token"))
            );
        }
    }
}

#[tokio::test]
async fn every_admin_route_needs_the_token_and_errors_name_what_is_wrong() {
    let connection = unique_connection("konnek-admin");
    let app = app_with_token(&connection).await;
    let admin = Admin::new(&app);
    let (id, command) = send_to(&connection, "628111800001");
    app.publish(&command).await;
    app.wait_for_status(id, "success").await;

    for (method, path, body) in routes(id) {
        for token in [
            None,
            Some("wrong"),
            Some("adm-s3cret-toke"),
            Some("adm-s3cret-token!"),
        ] {
            let (status, answer) = admin
                .call(method.clone(), &path, token, body.as_ref())
                .await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} {token:?}"
            );
            assert!(
                answer["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("Bearer"))
            );
        }
    }

    let (status, body) = admin.get(&format!("/v1/deliveries/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["delivery"]["status"], "success");
    assert_eq!(body["delivery"]["connection"], connection.as_str());
    assert_eq!(body["delivery"]["message"]["to"], "628111800001");
    assert_eq!(body["attempts"][0]["outcome"], "success");
    let text = body.to_string();
    assert!(
        !text.contains("sim-pass") && !text.contains(CALLBACK_TOKEN),
        "{text}"
    );

    let missing = Uuid::new_v4();
    for (method, path) in [
        (Method::GET, format!("/v1/deliveries/{missing}")),
        (Method::POST, format!("/v1/deliveries/{missing}/resend")),
        (Method::POST, format!("/v1/deliveries/{missing}/cancel")),
    ] {
        let (status, body) = admin.call(method, &path, Some(TOKEN), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert!(
            body["error"]
                .as_str()
                .is_some_and(|e| e.contains(&missing.to_string()))
        );
    }

    // A bad filter is 400 and names its field.
    for (query, field) in [
        ("status=lost", "status"),
        ("wait_reason=moon", "wait_reason"),
        ("status=failed&wait_reason=quota", "wait_reason"),
        ("since=yesterday", "since"),
        ("limit=0", "limit"),
        ("limit=many", "limit"),
        ("cursor=abc", "cursor"),
        ("colour=red", "colour"),
    ] {
        let (status, body) = admin.get(&format!("/v1/deliveries?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains(field), "{query}: {error}");
    }
    let (status, body) = admin.get("/v1/deliveries/not-a-uuid").await;
    assert_eq!(
        (status, body["error"].as_str().is_some()),
        (StatusCode::BAD_REQUEST, true)
    );
    for bad in [
        json!({}),
        json!({"status": "waitForSending"}),
        json!({"status": "failed", "colour": 1}),
    ] {
        let (status, body) = admin.post("/v1/deliveries/resend", Some(&bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    let (status, _) = admin
        .post(&format!("/v1/deliveries/{id}/resend"), Some(&json!([1])))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // 409: a cancel of a delivery that is not waiting, a resend of one
    // that is (neither failed nor success).
    let (status, body) = admin
        .post(&format!("/v1/deliveries/{id}/cancel"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("is success"))
    );
    let (waiting, mut command) = send_to(&connection, "628111800002");
    command["not_before"] = json!((chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339());
    app.publish(&command).await;
    app.wait_for_reason(waiting, "scheduled").await;
    let (status, body) = admin
        .post(&format!("/v1/deliveries/{waiting}/resend"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("is waitForSending"))
    );

    // The cancel of the waiting one goes through the queue.
    let (status, body) = admin
        .post(&format!("/v1/deliveries/{waiting}/cancel"), None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body, json!({"id": waiting, "published": true}));
    let d = app.wait_for_status(waiting, "failed").await;
    assert_eq!(d.fail_reason.as_deref(), Some("cancelled"));
}

#[tokio::test]
async fn pages_of_the_api_hold_every_row_once_newest_first() {
    let connection = unique_connection("konnek-admin-pages");
    let app = app_with_token(&connection).await;
    let admin = Admin::new(&app);
    let group = format!("admin-{}", Uuid::new_v4().simple());
    let (done, waiting, member) = some_deliveries(&app, &connection, &group, 4, 2).await;
    let all: Vec<Uuid> = [done, waiting.clone(), vec![member]].concat();
    assert_eq!(all.len(), 7);

    let mut seen = Vec::new();
    let mut cursor = String::new();
    let mut pages = 0;
    loop {
        pages += 1;
        let path = format!("/v1/deliveries?connection={connection}&limit=3&cursor={cursor}");
        let (status, body) = admin.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        for d in body["deliveries"].as_array().expect("deliveries") {
            let created = d["created_at"].as_str().expect("created_at");
            let created = chrono::DateTime::parse_from_rfc3339(created).expect("time");
            let id = Uuid::parse_str(d["id"].as_str().expect("id")).expect("uuid");
            assert!(d.get("message").is_none(), "a list shows no message: {d}");
            seen.push((created.with_timezone(&chrono::Utc), id));
        }
        match body["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
        assert!(pages < 5, "the pages never end");
    }
    assert_eq!(pages, 3, "7 rows in pages of 3");
    assert_newest_first(&seen, &all);

    let path = format!("/v1/deliveries?connection={connection}&wait_reason=scheduled&status=");
    let (_, body) = admin.get(&path).await;
    assert_eq!(
        body["deliveries"].as_array().map(Vec::len),
        Some(waiting.len())
    );
    assert_eq!(body["next_cursor"], Value::Null);
    let (_, body) = admin.get(&format!("/v1/deliveries?group={group}")).await;
    assert_eq!(body["deliveries"][0]["id"], json!(member));
}
