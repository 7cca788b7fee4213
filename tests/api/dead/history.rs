//! The record of `herald dead replay` and `purge`: who, why and which dead
//! letters, read with `herald dead history` and the admin API; written
//! before the queue is touched, so that what cannot be recorded is not done.

use super::support::{Herald, handles, wait_for_dead};
use crate::admin::{Admin, TOKEN};
use crate::helpers::*;
use herald::domain::{Actor, DeadLetterAction};
use herald::storage::dead_actions::ActionStart;
use herald::storage::events::By;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// `text` with every run of spaces as one: a table's cells, one space apart.
fn words(text: &str) -> String {
    text.split(' ')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test]
async fn replays_and_purges_are_recorded_with_who_why_and_which_letters() {
    let app = spawn_app_with(Options {
        admin_token: TOKEN,
        ..Options::default()
    })
    .await;
    let herald = Herald::new(&app);
    let (first, command) = send_to("nowhere-first", "628111000980");
    app.publish(&command).await;
    let (second, command) = send_to("nowhere-second", "628111000981");
    app.publish(&command).await;
    wait_for_dead(&app, 2).await;
    let letters = herald.letters();
    let handle = letters
        .iter()
        .find(|l| l["id"] == first.to_string())
        .and_then(|l| l["handle"].as_str())
        .expect("the first one's handle")
        .to_owned();

    herald.ok(&["dead", "replay", "--all", "--dry-run"]);
    assert_eq!(
        herald.history(),
        Vec::<Value>::new(),
        "a dry run does nothing"
    );

    herald.ok(&[
        "dead",
        "replay",
        &handle,
        "--as",
        "ana",
        "--reason",
        "connection added",
    ]);
    let history = herald.history();
    assert_eq!(history.len(), 1, "{history:?}");
    let replay = &history[0];
    assert_eq!(
        (&replay["action"], &replay["actor"], &replay["operator"]),
        (&json!("replay"), &json!("cli"), &json!("ana"))
    );
    assert_eq!(replay["reason"], "connection added");
    assert_eq!(replay["handles"], json!([handle]));
    assert_eq!(replay["count"], 1);
    assert!(replay["finished_at"].is_string() && replay["error"].is_null());
    let taken = &replay["letters"][0];
    assert_eq!(taken["id"], first.to_string());
    assert_eq!(taken["type"], "send");
    assert!(
        taken["error"]
            .as_str()
            .is_some_and(|e| e.contains("nowhere-first")),
        "{taken}"
    );

    // Still bad, it comes back; then both are purged.
    eventually(20, "the replay to be refused again", || async {
        let letters = herald.letters();
        (letters.len() == 2 && letters.iter().any(|l| l["replays"] == 1)).then_some(())
    })
    .await;
    herald.ok(&["dead", "purge", "--yes", "--as", "bob"]);
    wait_for_dead(&app, 0).await;
    let history = herald.history();
    let purge = &history[0];
    assert_eq!(
        (&purge["action"], &purge["operator"]),
        (&json!("purge"), &json!("bob"))
    );
    assert_eq!(
        (&purge["asked_count"], &purge["count"]),
        (&json!(2), &json!(2))
    );
    let mut ids: Vec<&str> = purge["letters"]
        .as_array()
        .expect("letters")
        .iter()
        .filter_map(|l| l["id"].as_str())
        .collect();
    ids.sort_unstable();
    let mut want = [first.to_string(), second.to_string()];
    want.sort_unstable();
    assert_eq!(ids, want);
    let purged_handles = handles(purge["letters"].as_array().expect("letters"));
    assert!(purged_handles.contains(&handle));

    let table = herald.ok(&["dead", "history"]);
    let rows: Vec<String> = table.lines().map(words).collect();
    assert!(
        rows[2].contains(" purge cli (bob) 2 counted 2 – "),
        "{table}"
    );
    let replayed = format!(" replay cli (ana) 1 handle 1 connection added {handle}");
    assert!(rows[3].ends_with(&replayed), "{table}");
    assert_eq!(
        rows.last().map(String::as_str),
        Some("2 actions, newest first")
    );

    // The admin API: the same record, a page at a time.
    let admin = Admin::new(&app);
    let (status, page) = admin.get("/v1/dead-letters/history?limit=1").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["actions"][0]["action"], "purge");
    assert_eq!(page["actions"][0]["letters"], purge["letters"]);
    let before = page["next_before"].as_i64().expect("a next page");
    let (_, page) = admin
        .get(&format!("/v1/dead-letters/history?limit=1&before={before}"))
        .await;
    assert_eq!(page["actions"][0]["operator"], "ana");
    let (status, body) = admin.get("/v1/dead-letters/history?before=yesterday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("before: "))
    );
}

#[tokio::test]
async fn what_cannot_be_recorded_is_not_done_and_a_half_done_action_shows_unfinished() {
    let app = spawn_app().await;
    let (_, command) = send_to("nowhere-unrecorded", "628111000990");
    app.publish(&command).await;
    wait_for_dead(&app, 1).await;

    // The broker answers, the database does not exist.
    let (base, _) = app.config.database.url.rsplit_once('/').expect("a path");
    let missing = format!("{base}/herald_test_no_such_database");
    let blind = Herald::with_config(&app.config_toml.replace(&app.config.database.url, &missing));
    for (args, said) in [
        (&["dead", "replay", "--all"][..], "nothing was replayed"),
        (&["dead", "purge", "--yes"][..], "nothing was purged"),
    ] {
        let out = blind.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(said) && stderr.contains("PostgreSQL"),
            "{stderr}"
        );
    }
    let herald = Herald::new(&app);
    let letters = herald.letters();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0]["replays"], 0, "never replayed");
    assert_eq!(herald.history(), Vec::<Value>::new());

    // A replay whose process died after it started: recorded, never ended.
    let asked = vec!["0123456789ab".to_owned()];
    app.store
        .dead_action_started(&ActionStart {
            action: DeadLetterAction::Replay,
            by: By {
                actor: Actor::Cli,
                operator: Some("carol"),
            },
            reason: None,
            queue: &app.config.amqp.dead_letter_queue,
            handles: Some(&asked),
            asked_count: None,
        })
        .await
        .expect("recorded");
    let table = herald.ok(&["dead", "history"]);
    assert!(
        table.contains("cli (carol)  1 handle  unfinished"),
        "{table}"
    );
    assert!(
        table.contains("\nunfinished: its process stopped"),
        "{table}"
    );
}

#[tokio::test]
async fn the_admin_api_replays_and_purges_and_records_them_as_the_api() {
    let app = spawn_app_with(Options {
        admin_token: TOKEN,
        ..Options::default()
    })
    .await;
    let herald = Herald::new(&app);
    let admin = Admin::new(&app);
    let (id, command) = send_to("nowhere-api", "628111000995");
    app.publish(&command).await;
    wait_for_dead(&app, 1).await;
    let handle = handles(&herald.letters()).remove(0);
    let (status, listed) = admin.get("/v1/dead-letters?limit=5").await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed["total"], 1);
    assert_eq!(listed["letters"][0]["handle"], handle.as_str());
    assert_eq!(listed["letters"][0]["id"], id.to_string());
    assert!(
        listed["letters"][0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("nowhere-api"))
    );
    wait_for_dead(&app, 1).await;

    for (body, said) in [
        (json!({}), "handles: "),
        (json!({"all": true, "handles": [handle]}), "handles: "),
        (json!({"handles": ["zz"]}), "\"zz\""),
    ] {
        let (status, answer) = admin.post("/v1/dead-letters/replay", Some(&body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert!(
            answer["error"].as_str().is_some_and(|e| e.contains(said)),
            "{answer}"
        );
    }
    let response = admin
        .http
        .post(app.http_url("/v1/dead-letters/replay"))
        .bearer_auth(TOKEN)
        .header("X-Herald-Operator", "eve")
        .json(&json!({"handles": [handle.to_uppercase(), "0123456789ab"], "reason": "try again"}))
        .send()
        .await
        .expect("replay");
    assert_eq!(response.status(), StatusCode::OK);
    let done: Value = response.json().await.expect("JSON");
    assert_eq!(done["count"], 1, "{done}");
    assert_eq!(done["handles"], json!([handle]));
    assert_eq!(done["missing"], json!(["0123456789ab"]));
    eventually(20, "the replay to be refused again", || async {
        let letters = herald.letters();
        (letters.len() == 1 && letters[0]["replays"] == 1).then_some(())
    })
    .await;

    let (status, answer) = admin
        .post("/v1/dead-letters/purge", Some(&json!({"count": 5})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .is_some_and(|e| e.contains("holds 1 dead letters, not 5"))
    );
    wait_for_dead(&app, 1).await;
    let (status, done) = admin
        .post("/v1/dead-letters/purge", Some(&json!({"count": 1})))
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(
        (&done["count"], &done["handles"]),
        (&json!(1), &json!([handle]))
    );
    wait_for_dead(&app, 0).await;

    let (_, history) = admin.get("/v1/dead-letters/history").await;
    let actions = history["actions"].as_array().expect("actions");
    assert_eq!(actions.len(), 2, "{history}");
    assert_eq!(
        (
            &actions[0]["action"],
            &actions[0]["actor"],
            &actions[0]["operator"]
        ),
        (&json!("purge"), &json!("api"), &Value::Null)
    );
    assert_eq!(
        (
            &actions[1]["action"],
            &actions[1]["actor"],
            &actions[1]["operator"]
        ),
        (&json!("replay"), &json!("api"), &json!("eve"))
    );
    assert_eq!(actions[1]["reason"], "try again");
    assert_eq!(actions[1]["letters"][0]["id"], id.to_string());
    assert_eq!(actions[0]["id"], done["action"]);
}
