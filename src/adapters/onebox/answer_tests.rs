//! OneBox's answers and tokens: the documented bodies classified, the JWT
//! lifetime read, and one authentication for a wave of expired tokens.

use super::answer::{Issued, interpret, interpret_token};
use super::token::{TokenCache, lifetime};
use super::*;
use crate::domain::ProviderStatus;
use base64::Engine as _;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

fn envelope(message: &str) -> Vec<u8> {
    json!({"_meta": {"status": "ERROR", "count": 1}, "records": {"errorCode": 401,
        "userMessage": message, "devMessage": null, "more": null, "applicationCode": null}})
    .to_string()
    .into_bytes()
}

/// The document's quota sample, byte for byte: its opening quote is broken.
const QUOTA_SAMPLE: &str = "{\n\t\"_meta\": {\n\t\t\t\"status\": \"ERROR\",\n\t\t\t\"count\": 1\n\t},\n\t\"records\": {\n\t\t\t\"errorCode\": 401,\n\t\t\t\u{e2}\u{20ac}\u{153}userMessage\": \"time limit reached please try again tomorrow at 18:00 - 06:00\",\n\t\t\t\"devMessage\": \"\",\n\t\t\t\"more\": null,\n\t\t\t\"applicationCode\": \"\"\n\t}\n}";

#[test]
fn the_documented_success_gives_the_id() {
    let body = br#"{"limit": "1", "offset": 0, "count": 2, "total": 707, "data": [
        {"Id": "75702", "SiteId": "169", "ConnectionId": "588", "StatusId": "MSS3",
         "RemoteId": "ABGHYoIhBpVCTwIKPrAljYHE0wcVZQ", "Retry": "0", "Processing": "1"}]}"#;
    let sent = interpret(200, None, body).expect("a send");
    assert_eq!(sent.http_status, 200);
    assert_eq!(sent.remote_id.as_deref(), Some("75702"));
    assert_eq!(sent.provider_status, Some(ProviderStatus::SENT));
    let numeric = interpret(200, None, br#"{"data": [{"Id": 9}]}"#).expect("a send");
    assert_eq!(numeric.remote_id.as_deref(), Some("9"));
}

#[test]
fn expired_token_is_auth_expired() {
    let err = interpret(401, None, &envelope("Expired token")).expect_err("expired");
    assert_eq!(err.class, ErrorClass::AuthExpired);
    assert_eq!(err.http_status, Some(401));
    assert_eq!(err.message, "OneBox answered \"Expired token\"");
}

#[test]
fn time_limit_is_quota_closed() {
    let said = "time limit reached please try again tomorrow at 18:00 - 06:00";
    let err = interpret(401, None, &envelope(said)).expect_err("quota");
    assert_eq!(err.class, ErrorClass::QuotaClosed);
    assert_eq!(err.message, format!("OneBox's quota is closed: {said}"));
    let err = interpret(401, None, QUOTA_SAMPLE.as_bytes()).expect_err("quota");
    assert_eq!(err.class, ErrorClass::QuotaClosed);
    assert_eq!(err.message, format!("OneBox's quota is closed: {said}"));
}

#[test]
fn another_401_is_renewed_too() {
    let err = interpret(401, None, &envelope("Invalid token")).expect_err("401");
    assert_eq!(err.class, ErrorClass::AuthExpired);
    assert_eq!(err.message, "OneBox refused the token: Invalid token");
}

#[test]
fn an_error_envelope_with_a_2xx_is_classified_by_its_code() {
    let body = json!({"_meta": {"status": "ERROR"}, "records": {"errorCode": 500,
        "userMessage": "db down"}});
    let err = interpret(200, None, body.to_string().as_bytes()).expect_err("error");
    assert_eq!(err.class, ErrorClass::Transient);
    assert_eq!(
        err.message,
        "OneBox answered HTTP 200 with error 500: db down"
    );
    let err = interpret(200, None, &envelope("Expired token")).expect_err("expired");
    assert_eq!(err.class, ErrorClass::AuthExpired);
}

#[test]
fn http_errors_use_the_status() {
    let wait = Some(Duration::from_secs(4));
    let err = interpret(429, wait, b"slow down").expect_err("429");
    assert_eq!(err.class, ErrorClass::RateLimited { retry_after: wait });
    assert_eq!(err.message, "OneBox answered HTTP 429: slow down");
    let err = interpret(503, None, b"").expect_err("503");
    assert_eq!(err.class, ErrorClass::Transient);
    let body = json!({"_meta": {"status": "ERROR"}, "records": {"errorCode": 400,
        "userMessage": "To is mandatory"}});
    let err = interpret(400, None, body.to_string().as_bytes()).expect_err("400");
    assert_eq!(err.class, ErrorClass::Permanent);
    assert_eq!(err.message, "OneBox answered HTTP 400: To is mandatory");
}

#[test]
fn an_unreadable_success_is_retried() {
    let err = interpret(200, None, b"<html>oops</html>").expect_err("garbage");
    assert_eq!(err.class, ErrorClass::Transient);
    assert!(err.message.contains("unreadable"), "{}", err.message);
}

#[test]
fn the_documented_token_answer_is_read() {
    let body = br#"{"response_code": "200", "response_status": "Success", "token": "a.b.c"}"#;
    let issued = interpret_token(200, None, body).expect("a token");
    assert_eq!(issued.token, "a.b.c");
    assert_eq!(format!("{issued:?}"), "Issued { token: [redacted] }");
}

#[test]
fn refused_credentials_are_permanent() {
    let err = interpret_token(401, None, &envelope("Invalid email or password")).expect_err("no");
    assert_eq!(err.class, ErrorClass::Permanent);
    assert_eq!(
        err.message,
        "OneBox refused the credentials (HTTP 401): Invalid email or password"
    );
    let body = br#"{"response_code": "401", "response_status": "Unauthorized"}"#;
    let err = interpret_token(200, None, body).expect_err("no");
    assert_eq!(err.class, ErrorClass::Permanent);
    assert_eq!(
        err.message,
        "OneBox refused the credentials (response_code 401: Unauthorized)"
    );
    let err = interpret_token(502, None, b"bad gateway").expect_err("502");
    assert_eq!(err.class, ErrorClass::Transient);
    let err = interpret_token(200, None, br#"{"response_code": "200"}"#).expect_err("none");
    assert_eq!(err.class, ErrorClass::Transient);
}

fn jwt(claims: serde_json::Value) -> String {
    let encode = |v: &serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    format!(
        "{}.{}.c2ln",
        encode(&json!({"alg": "HS256", "typ": "JWT"})),
        encode(&claims)
    )
}

#[test]
fn a_jwt_says_how_long_it_lives() {
    let now = 1_700_000_000;
    let token = jwt(json!({"iat": 1_600_000_000, "exp": 1_600_000_900}));
    assert_eq!(lifetime(&token, now), Some(Duration::from_secs(900)));
    let token = jwt(json!({"exp": now + 60}));
    assert_eq!(lifetime(&token, now), Some(Duration::from_secs(60)));
    let token = jwt(json!({"exp": now - 5}));
    assert_eq!(lifetime(&token, now), Some(Duration::ZERO));
    assert_eq!(lifetime(&jwt(json!({"sub": "x"})), now), None);
    assert_eq!(lifetime("opaque-token", now), None);
    assert_eq!(lifetime("a.%%%.c", now), None);
}

#[tokio::test]
async fn a_wave_of_expired_tokens_authenticates_once() {
    let cache = Arc::new(TokenCache::default());
    let calls = Arc::new(AtomicU32::new(0));
    let authenticate = |calls: Arc<AtomicU32>| async move {
        let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
        Ok::<_, ProviderError>(Issued {
            token: format!("token-{n}"),
        })
    };
    let first = cache
        .get(|| authenticate(calls.clone()))
        .await
        .expect("token");
    assert_eq!(&*first.token, "token-1");
    let again = cache
        .get(|| authenticate(calls.clone()))
        .await
        .expect("token");
    assert_eq!(&*again.token, "token-1", "cached");
    // Fifty tasks find token-1 expired at once.
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (cache, calls, seen) = (cache.clone(), calls.clone(), first.seen);
            tokio::spawn(async move {
                let lease = cache.renew(seen, || authenticate(calls)).await;
                lease.expect("renewed").token
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(&*task.await.expect("task"), "token-2");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(cache.renewals().await, 2);
}

#[tokio::test]
async fn a_failed_authentication_is_shared_by_its_waiters_then_tried_again() {
    let cache = TokenCache::default();
    let refused = || async {
        Err::<Issued, _>(ProviderError::new(
            ErrorClass::Permanent,
            Some(401),
            "refused",
        ))
    };
    let err = cache.get(refused).await.err().expect("refused");
    assert_eq!(err.message, "refused");
    // A caller that read before that failure shares it without a call.
    let err = cache
        .renew(0, || async { unreachable!("no second call") })
        .await
        .err()
        .expect("shared");
    assert_eq!(err.message, "refused");
    // A later caller tries again.
    let ok = || async {
        Ok(Issued {
            token: "fresh".into(),
        })
    };
    let lease = cache.get(ok).await.expect("a token");
    assert_eq!(&*lease.token, "fresh");
}

#[test]
fn errors_never_carry_the_password_or_a_token() {
    let settings = OneboxSettings {
        email: "ops@acme.co.id".into(),
        password: "pa55-word".into(),
        site_id: "169".into(),
        connection_id: 583,
    };
    let adapter = OneboxAdapter::new("http://onebox.example/", settings, reqwest::Client::new());
    assert_eq!(adapter.message_url, "http://onebox.example/api/message");
    assert_eq!(
        adapter.authenticate_url,
        "http://onebox.example/api/authenticate"
    );
    assert_eq!(adapter.credentials()["siteId"], 169);
    let lease = token::Lease {
        token: "jwt-abc".into(),
        seen: 1,
    };
    let echoed = ProviderError::new(
        ErrorClass::Transient,
        Some(500),
        "echo: pa55-word Bearer jwt-abc",
    );
    let err = adapter.redact(echoed, &[lease]);
    assert_eq!(err.message, "echo: [redacted] Bearer [redacted]");
}
