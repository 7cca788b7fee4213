//! Resend and cancel, as commands through the queue.

use crate::helpers::*;
use herald::tools::simulator::Step;
use serde_json::json;
use uuid::Uuid;

#[tokio::test]
async fn resend_starts_a_new_round_and_keeps_the_old_attempts() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    app.sim.script(
        "628111000200",
        vec![Step::MetaFalse {
            code: 400,
            message: "bad template".into(),
        }],
    );
    app.publish(&send(id, "628111000200")).await;
    app.wait_for_status(id, "failed").await;

    app.publish(&json!({"type": "resend", "id": id, "reason": "template fixed"}))
        .await;
    let d = eventually(20, "the resend to succeed", || async {
        app.delivery(id)
            .await
            .filter(|d| d.status == "success" && d.resends == 1)
    })
    .await;
    assert_eq!(d.attempts, 1, "attempts count the current round");
    assert_eq!(d.fail_reason, None);
    let rounds: Vec<_> = app
        .attempts(id)
        .await
        .into_iter()
        .map(|a| (a.round, a.outcome))
        .collect();
    assert_eq!(
        rounds,
        vec![(0, "permanent".to_owned()), (1, "success".to_owned())]
    );
    assert_eq!(app.sim.sends_of(&id.to_string()), 1);
    let round = Uuid::new_v5(&id, b"resend 1").to_string();
    assert_eq!(app.sim.sends_of(&round), 1, "the new round's own id");
}

#[tokio::test]
async fn resend_of_a_waiting_delivery_changes_nothing() {
    let mut app = spawn_app().await;
    let id = Uuid::new_v4();
    let mut command = send(id, "628111000201");
    command["not_before"] = json!((chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339());
    app.publish(&command).await;
    app.wait_for_status(id, "waitForSending").await;
    app.publish(&json!({"type": "resend", "id": id})).await;
    settle(&mut app).await;
    let d = app.delivery(id).await.expect("row");
    assert_eq!((d.status.as_str(), d.resends), ("waitForSending", 0));
}

#[tokio::test]
async fn cancel_fails_a_waiting_delivery_and_leaves_others_alone() {
    let mut app = spawn_app().await;
    let waiting = Uuid::new_v4();
    let mut command = send(waiting, "628111000202");
    command["not_before"] = json!((chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339());
    app.publish(&command).await;
    app.wait_for_status(waiting, "waitForSending").await;
    app.publish(&json!({"type": "cancel", "id": waiting})).await;
    let d = app.wait_for_status(waiting, "failed").await;
    assert_eq!(d.fail_reason.as_deref(), Some("cancelled"));
    assert_eq!(app.sim.sends_of(&waiting.to_string()), 0);

    let done = Uuid::new_v4();
    app.publish(&send(done, "628111000203")).await;
    app.wait_for_status(done, "success").await;
    app.publish(&json!({"type": "cancel", "id": done})).await;
    settle(&mut app).await;
    assert_eq!(app.delivery(done).await.expect("row").status, "success");
}

#[tokio::test]
async fn a_konnek_resend_reaches_the_recipient_again_and_its_callbacks_find_it() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    app.publish(&send(id, "628111000230")).await;
    app.wait_for_status(id, "success").await;
    assert_eq!(app.sim.accepted_of(&id.to_string()), 1);

    // Konnek holds one message per body id: the resend's round sends an id
    // of its own, or Konnek would drop it as the message it has.
    app.publish(&json!({"type": "resend", "id": id})).await;
    let d = eventually(20, "the resend to succeed", || async {
        app.delivery(id)
            .await
            .filter(|d| d.status == "success" && d.resends == 1)
    })
    .await;
    let round = Uuid::new_v5(&id, b"resend 1").to_string();
    assert_eq!(app.sim.duplicates_of(&id.to_string()), 0, "not the old id");
    assert_eq!(
        app.sim.accepted_of(&round),
        1,
        "sent again, under the round's id"
    );
    assert_eq!(d.remote_id.as_deref(), Some(round.as_str()));

    // Konnek's callbacks for the resent message name it by that id.
    let push = json!({"status": {"message_id": round, "status": 3}});
    let answer = reqwest::Client::new()
        .post(app.callback_url(CONNECTION))
        .bearer_auth(CALLBACK_TOKEN)
        .json(&push)
        .send()
        .await
        .expect("callback answered");
    assert_eq!(answer.status(), 200);
    let d = app.delivery(id).await.expect("the delivery");
    assert_eq!(d.provider_status, Some(3));
}
