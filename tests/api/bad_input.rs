//! Bad input is dead-lettered with its reason, never lost, never a panic, and
//! the next valid command is delivered.

use crate::helpers::*;
use serde_json::json;
use uuid::Uuid;

#[tokio::test]
async fn bad_commands_are_dead_lettered_and_the_next_is_delivered() {
    let app = spawn_app().await;
    let unknown_type = Uuid::new_v4();
    let unknown_connection = Uuid::new_v4();
    let oversized = Uuid::new_v4();
    let mut big = send(oversized, "628111000100");
    big["message"]["text"] = json!("x".repeat(1024 * 1024 + 10));

    app.publish_raw(b"{\"type\": \"send\", this is not json")
        .await;
    app.publish(&json!({"type": "shout", "id": unknown_type}))
        .await;
    app.publish(
        &json!({"type": "send", "id": unknown_connection, "connection": "nowhere",
                        "message": {"to": "1", "text": "x"}}),
    )
    .await;
    app.publish(&big).await;
    let good = Uuid::new_v4();
    app.publish(&send(good, "628111000101")).await;

    app.wait_for_status(good, "success").await;
    let mut errors = Vec::new();
    for _ in 0..4 {
        let (body, error) = app.next_dead_letter().await;
        assert!(!body.is_empty(), "the original body is kept");
        errors.push(error);
    }
    errors.sort();
    let has = |needle: &str| errors.iter().any(|e| e.contains(needle));
    assert!(has("not valid JSON"), "{errors:?}");
    assert!(has("unknown command type \"shout\""), "{errors:?}");
    assert!(has("unknown connection \"nowhere\""), "{errors:?}");
    assert!(has("larger than the 1 MiB limit"), "{errors:?}");

    // Where the id could be read, the delivery exists as failed with the reason.
    for id in [unknown_type, unknown_connection, oversized] {
        let d = app.wait_for_status(id, "failed").await;
        assert!(d.fail_reason.is_some());
    }
    let d = app.delivery(unknown_connection).await.expect("row");
    assert_eq!(d.connection, "nowhere");
    assert_eq!(
        app.sim.requests().len(),
        1,
        "only the valid command reached the provider"
    );
}

#[tokio::test]
async fn an_invalid_message_names_the_field() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    app.publish(&json!({"type": "send", "id": id, "connection": CONNECTION, "message": {"text": "no recipient"}}))
        .await;
    let (_, error) = app.next_dead_letter().await;
    assert!(error.contains("message") && error.contains("to"), "{error}");
    app.wait_for_status(id, "failed").await;
}

#[tokio::test]
async fn a_rejected_command_never_overwrites_an_existing_delivery() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    app.publish(&send(id, "628111000102")).await;
    app.wait_for_status(id, "success").await;
    // Same id, unknown connection: dead-lettered, the delivery stays as it was.
    app.publish(&json!({"type": "send", "id": id, "connection": "nowhere", "message": {"to": "1", "text": "x"}}))
        .await;
    let (_, error) = app.next_dead_letter().await;
    assert!(error.contains("unknown connection"));
    let d = app.delivery(id).await.expect("row");
    assert_eq!(d.status, "success");
    assert_eq!(d.connection, CONNECTION);
}
