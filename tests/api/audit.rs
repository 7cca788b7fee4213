//! The audit trail: every change no attempt row tells, with when, from,
//! to, why and by whom, written with the change; a send accepted and
//! delivered needs none.

use crate::helpers::*;
use chrono::{Duration as Span, Utc};
use herald::storage::events::EventView;
use herald::tools::simulator::Step;
use serde_json::json;
use uuid::Uuid;

async fn events(app: &TestApp, id: Uuid) -> Vec<EventView> {
    app.store.events(id).await.expect("the audit trail")
}

fn kinds(events: &[EventView]) -> Vec<&str> {
    events.iter().map(|e| e.kind.as_str()).collect()
}

#[tokio::test]
async fn a_delivered_send_and_a_retry_need_no_event_beyond_their_attempts() {
    let app = spawn_app().await;
    let (plain, retried) = (Uuid::new_v4(), Uuid::new_v4());
    app.sim.script(
        "628111000701",
        vec![Step::Http {
            status: 503,
            retry_after: None,
        }],
    );
    app.publish(&send(plain, "628111000700")).await;
    app.publish(&send(retried, "628111000701")).await;
    app.wait_for_status(plain, "success").await;
    app.wait_for_status(retried, "success").await;
    assert!(events(&app, plain).await.is_empty());
    assert!(events(&app, retried).await.is_empty());
    assert_eq!(
        app.attempts(retried).await.len(),
        2,
        "the retry is its attempts"
    );
}

#[tokio::test]
async fn a_deferral_an_expiry_and_a_cancel_are_recorded_with_who_and_why() {
    let connection = unique_connection("konnek-audit");
    let opens = Utc::now() + Span::hours(2);
    let app = spawn_app_with(Options {
        extra_toml: format!(
            "{}\n[connection.limits]\nwindow = \"{}-{}\"\n",
            konnek_connection(&connection),
            opens.format("%H:%M"),
            (opens + Span::hours(1)).format("%H:%M")
        ),
        ..Options::default()
    })
    .await;
    let (deferred, command) = send_to(&connection, "628111000710");
    app.publish(&command).await;
    let waiting = app.wait_for_reason(deferred, "window").await;
    let trail = events(&app, deferred).await;
    assert_eq!(kinds(&trail), ["deferred"]);
    let e = &trail[0];
    assert_eq!(
        (e.from_status.as_deref(), e.to_status.as_deref()),
        (Some("sending"), Some("waitForSending"))
    );
    assert_eq!(e.reason.as_deref(), Some("window"));
    assert_eq!(e.until, waiting.next_attempt_at);
    assert_eq!((e.actor.as_str(), e.operator.as_deref()), ("worker", None));

    // Expired while it waited.
    let (expiring, mut command) = send_to(&connection, "628111000711");
    command["expires_at"] = json!((Utc::now() + Span::seconds(2)).to_rfc3339());
    app.publish(&command).await;
    app.wait_for_status(expiring, "failed").await;
    let trail = events(&app, expiring).await;
    assert_eq!(kinds(&trail), ["deferred", "expired"]);
    assert_eq!(trail[1].reason.as_deref(), Some("expired"));

    // Cancelled by a producer's command that names no one.
    app.publish(&json!({"type": "cancel", "id": deferred}))
        .await;
    app.wait_for_status(deferred, "failed").await;
    let trail = events(&app, deferred).await;
    assert_eq!(kinds(&trail), ["deferred", "cancelled"]);
    assert_eq!(
        (trail[1].actor.as_str(), trail[1].to_status.as_deref()),
        ("producer", Some("failed"))
    );
}

#[tokio::test]
async fn a_resend_names_its_operator_and_a_group_abort_and_release_are_recorded() {
    let app = spawn_app().await;
    let member = |order: u32, to: &str| {
        let id = Uuid::new_v4();
        let mut command = send(id, to);
        command["group"] = json!({"id": "audited", "order": order});
        (id, command)
    };
    let (first, second, third) = (
        member(0, "628111000720"),
        member(1, "628111000721"),
        member(2, "628111000722"),
    );
    app.sim.script(
        "628111000720",
        vec![Step::MetaFalse {
            code: 400,
            message: "invalid recipient".into(),
        }],
    );
    for (_, command) in [&first, &second, &third] {
        app.publish(command).await;
    }
    app.wait_for_status(first.0, "failed").await;
    for id in [second.0, third.0] {
        let d = app.wait_for_status(id, "failed").await;
        assert_eq!(d.fail_reason.as_deref(), Some("group_aborted"));
        let trail = events(&app, id).await;
        let last = trail.last().expect("an event");
        assert!(
            last.kind == "aborted" || last.kind == "failed",
            "aborted waiting or when claimed: {trail:?}"
        );
        assert_eq!(last.reason.as_deref(), Some("group_aborted"));
    }

    let resend = json!({"type": "resend", "id": first.0, "reason": "number fixed",
                        "by": {"via": "cli", "name": "alice"}});
    app.publish(&resend).await;
    for id in [first.0, second.0, third.0] {
        app.wait_for_status(id, "success").await;
    }
    let trail = events(&app, first.0).await;
    let resent = trail.iter().find(|e| e.kind == "resent").expect("resent");
    assert_eq!(resent.from_status.as_deref(), Some("failed"));
    assert_eq!(resent.reason.as_deref(), Some("number fixed"));
    assert_eq!(
        (resent.actor.as_str(), resent.operator.as_deref()),
        ("cli", Some("alice"))
    );
    let trail = events(&app, second.0).await;
    let requeued = trail
        .iter()
        .find(|e| e.kind == "requeued")
        .expect("requeued");
    assert_eq!(requeued.operator.as_deref(), Some("alice"));
    assert!(
        trail.iter().any(|e| e.kind == "released"),
        "released by its predecessor's success: {trail:?}"
    );
}
