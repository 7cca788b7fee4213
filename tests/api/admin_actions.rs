//! The admin API's resends through the queue, one and in bulk, and its
//! OpenAPI document.

use crate::admin::{Admin, TOKEN, app_with_token};
use crate::helpers::*;
use herald::tools::simulator::Step;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn resends_through_the_api_start_a_new_round_one_or_in_bulk() {
    let connection = unique_connection("konnek-admin-resend");
    let app = app_with_token(&connection).await;
    let admin = Admin::new(&app);
    let refused = || {
        vec![Step::MetaFalse {
            code: 400,
            message: "bad template".into(),
        }]
    };
    let mut failed = Vec::new();
    for to in ["628111810001", "628111810002", "628111810003"] {
        app.sim.script(to, refused());
        let (id, command) = send_to(&connection, to);
        app.publish(&command).await;
        failed.push(id);
    }
    for &id in &failed {
        app.wait_for_status(id, "failed").await;
    }

    let one = failed[0];
    let response = admin
        .http
        .post(app.http_url(&format!("/v1/deliveries/{one}/resend")))
        .bearer_auth(TOKEN)
        .header("X-Herald-Operator", "ana")
        .json(&json!({"reason": "template fixed"}))
        .send()
        .await
        .expect("resend");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body, json!({"id": one, "published": true}));
    let d = eventually(20, "the resend to succeed", || async {
        app.delivery(one).await.filter(|d| d.status == "success")
    })
    .await;
    assert_eq!((d.resends, d.attempts), (1, 1));

    let bulk = json!({"status": "failed", "connection": connection});
    let (status, body) = admin.post("/v1/deliveries/resend", Some(&bulk)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body, json!({"published": 2}));
    for &id in &failed[1..] {
        let d = eventually(20, "the bulk resend to succeed", || async {
            app.delivery(id).await.filter(|d| d.status == "success")
        })
        .await;
        assert_eq!(d.resends, 1);
    }
    let (_, body) = admin.post("/v1/deliveries/resend", Some(&bulk)).await;
    assert_eq!(body, json!({"published": 0}), "nothing failed is left");
    let rounds: Vec<i32> = app.attempts(one).await.iter().map(|a| a.round).collect();
    assert_eq!(rounds, [0, 1], "the old attempt is kept");
}

#[tokio::test]
async fn the_openapi_document_describes_every_admin_route() {
    let app = app_with_token(&unique_connection("konnek-openapi")).await;
    let response = reqwest::get(app.http_url("/v1/openapi.json"))
        .await
        .expect("GET /v1/openapi.json");
    assert_eq!(response.status(), StatusCode::OK, "served without a token");
    let doc: Value = response.json().await.expect("JSON");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"],
        json!({"type": "http", "scheme": "bearer"})
    );
    for (path, method, codes) in [
        (
            "/v1/deliveries/{id}",
            "get",
            &["200", "400", "401", "404"][..],
        ),
        ("/v1/deliveries", "get", &["200", "400", "401"]),
        (
            "/v1/deliveries/{id}/resend",
            "post",
            &["202", "400", "401", "404", "409"],
        ),
        (
            "/v1/deliveries/{id}/cancel",
            "post",
            &["202", "400", "401", "404", "409"],
        ),
        ("/v1/deliveries/resend", "post", &["202", "400", "401"]),
        ("/v1/dead-letters/history", "get", &["200", "400", "401"]),
        ("/v1/dead-letters", "get", &["200", "400", "401", "503"]),
        (
            "/v1/dead-letters/replay",
            "post",
            &["200", "400", "401", "503"],
        ),
        (
            "/v1/dead-letters/purge",
            "post",
            &["200", "400", "401", "409", "503"],
        ),
    ] {
        let operation = &doc["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} is missing");
        for code in codes {
            assert!(
                operation["responses"][code].is_object(),
                "{method} {path} {code}"
            );
        }
        assert_eq!(
            operation["security"],
            json!([{"bearer": []}]),
            "{method} {path}"
        );
    }
    let listed = &doc["paths"]["/v1/deliveries"]["get"]["parameters"];
    let names: Vec<&str> = listed
        .as_array()
        .expect("parameters")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for name in [
        "status",
        "connection",
        "since",
        "until",
        "wait_reason",
        "group",
        "limit",
        "cursor",
    ] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
}
