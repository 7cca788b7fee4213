//! The hot path's set statements, driven directly.

use crate::helpers::*;
use herald::domain::{AttemptOutcome, AttemptRecord, Outcome};
use herald::storage::AcceptOutcome;
use herald::storage::batch::Accept;
use uuid::Uuid;

#[tokio::test]
async fn an_id_twice_in_one_set_is_claimed_once() {
    let app = spawn_app_without_worker().await;
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let set = [
        send_command(a, "628111000500"),
        send_command(a, "628111000500"),
        send_command(b, "628111000500"),
    ];
    let outcomes = app
        .store
        .accept_sends(&set, chrono::Utc::now())
        .await
        .expect("accept");
    let kinds: Vec<_> = outcomes
        .iter()
        .map(|o| match o {
            AcceptOutcome::Claimed(c) => format!("claimed {}", c.id),
            AcceptOutcome::Duplicate => "duplicate".to_owned(),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            format!("claimed {a}"),
            "duplicate".into(),
            format!("claimed {b}")
        ]
    );
    let again = app
        .store
        .accept_sends(&[send_command(b, "628111000500")], chrono::Utc::now())
        .await
        .expect("accept");
    assert!(matches!(again[..], [AcceptOutcome::Duplicate]));
}

fn success_now() -> Outcome {
    let now = chrono::Utc::now();
    Outcome {
        provider_status: Some(1),
        remote_id: Some("r".into()),
        ..Outcome::delivered(AttemptRecord {
            started_at: now,
            finished_at: now,
            http_status: Some(200),
            outcome: AttemptOutcome::Success,
            error: None,
        })
    }
}

#[tokio::test]
async fn one_set_accepts_sends_and_records_outcomes_together() {
    let app = spawn_app_without_worker().await;
    let (first, second, third) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let accepted = app
        .store
        .accept_sends(
            &[
                send_command(first, "628111000500"),
                send_command(second, "628111000500"),
            ],
            chrono::Utc::now(),
        )
        .await
        .expect("accept");
    let claims: Vec<_> = accepted
        .into_iter()
        .map(|a| match a {
            AcceptOutcome::Claimed(claim) => claim,
            other => panic!("not claimed: {other:?}"),
        })
        .collect();
    let outcome = success_now();
    let mut stale = (*claims[1]).clone();
    stale.claimed_at -= chrono::Duration::seconds(1);
    let written = app
        .store
        .write_set(
            &[
                Accept::new(send_command(third, "628111000500")),
                Accept::new(send_command(first, "628111000500")),
            ],
            &[(&*claims[0], &outcome), (&stale, &outcome)],
            chrono::Utc::now(),
        )
        .await
        .expect("write");
    assert!(
        matches!(written.accepted[..], [AcceptOutcome::Claimed(ref c), AcceptOutcome::Duplicate] if c.id == third),
        "{:?}",
        written.accepted
    );
    assert!(written.recorded[0].is_some());
    assert_eq!(written.recorded[1], None, "the stale claim does not land");
    assert_eq!(app.delivery(first).await.expect("row").status, "success");
    assert_eq!(app.delivery(second).await.expect("row").status, "sending");
    assert_eq!(app.delivery(third).await.expect("row").status, "sending");
    assert_eq!(app.attempts(first).await.len(), 1);
    assert_eq!(app.attempts(second).await.len(), 1, "kept as an attempt");
    assert!(app.attempts(third).await.is_empty());
}

#[tokio::test]
async fn an_outcome_for_a_lost_claim_keeps_only_its_attempt_row() {
    let app = spawn_app_without_worker().await;
    let id = Uuid::new_v4();
    let outcomes = app
        .store
        .accept_sends(&[send_command(id, "628111000500")], chrono::Utc::now())
        .await
        .expect("accept");
    let Some(AcceptOutcome::Claimed(claim)) = outcomes.into_iter().next() else {
        panic!("not claimed")
    };
    let outcome = success_now();
    let mut stale = (*claim).clone();
    stale.claimed_at -= chrono::Duration::seconds(1); // an older claim of the same row
    let applied = app
        .store
        .record_outcomes(&[(&stale, &outcome)])
        .await
        .expect("record");
    assert_eq!(applied, vec![None]);
    assert_eq!(app.delivery(id).await.expect("row").status, "sending");
    assert_eq!(
        app.attempts(id).await.len(),
        1,
        "the call is still on record"
    );

    let applied = app
        .store
        .record_outcomes(&[(&*claim, &outcome)])
        .await
        .expect("record");
    assert!(applied[0].is_some());
    assert_eq!(app.delivery(id).await.expect("row").status, "success");
}
