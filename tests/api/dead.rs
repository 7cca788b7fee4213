//! `herald dead list | replay | purge`, the real binary against the real
//! worker: dead letters read without being taken, replayed after a fix,
//! returned when still bad, and purged only when confirmed.

mod history;
mod support;

use crate::helpers::*;
use herald::config::Config;
use lapin::options::{BasicGetOptions, BasicNackOptions};
use serde_json::json;
use std::process::Command;
use support::{Herald, handles, wait_for_dead};
use uuid::Uuid;

#[tokio::test]
async fn dead_list_shows_reasons_and_previews_and_takes_nothing() {
    // The production topology: quorum queues, as `herald setup` declares them.
    let app = spawn_app_with(Options {
        queue_type: "quorum",
        ..Options::default()
    })
    .await;
    let herald = Herald::new(&app);
    let nowhere = Uuid::new_v4();
    app.publish_raw(b"{\"type\": \"send\",\n\x01 not json")
        .await;
    app.publish(
        &json!({"type": "send", "id": nowhere, "connection": "nowhere",
                        "message": {"to": "1", "text": "x"}}),
    )
    .await;
    let mut poison = send(Uuid::new_v4(), "628111000950");
    poison["message"]["text"] = json!("p".repeat(2 * 1024 * 1024));
    app.publish(&poison).await;
    wait_for_dead(&app, 3).await;

    let listed = herald.ok(&["dead", "list"]);
    assert!(listed.len() < 3000, "no body printed whole: {listed}");
    assert!(listed.contains("not valid JSON"), "{listed}");
    assert!(
        listed.contains("{\"type\": \"send\",\\n\\u{1} not json"),
        "{listed}"
    );
    let row = listed
        .lines()
        .find(|l| l.contains(&nowhere.to_string()))
        .unwrap_or_else(|| panic!("no row for {nowhere}:\n{listed}"));
    assert!(row.contains("unknown connection \"nowhere\"") && row.contains(" send "));
    assert!(listed.contains("larger than the 1 MiB limit"), "{listed}");
    let footer = format!(
        "3 dead letters in {}, oldest first; none was taken off the queue",
        app.config.amqp.dead_letter_queue
    );
    assert!(listed.trim_end().ends_with(&footer), "{listed}");

    let letters = herald.letters();
    assert_eq!(letters.len(), 3, "{letters:?}");
    for letter in &letters {
        assert_eq!(letter["source"], "herald", "{letter}");
        assert!(letter["dead_lettered_at"].is_string(), "{letter}");
        assert!(
            letter["preview"]
                .as_str()
                .is_some_and(|p| p.chars().count() <= 80)
        );
    }
    // Read again: the same, in the same order, and still all in the queue;
    // also after a read of the first only (a quorum queue puts what is
    // handed back behind the rest).
    let again = || async {
        let read = herald.letters();
        (read.len() == 3).then_some(handles(&read))
    };
    assert_eq!(
        eventually(10, "all 3 again", again).await,
        handles(&letters)
    );
    let limited = herald.ok(&["dead", "list", "--limit", "1"]);
    assert!(limited.contains("--limit 1), 2 more not"), "{limited}");
    assert!(limited.contains(&handles(&letters)[0]), "{limited}");
    assert_eq!(
        eventually(10, "all 3 again", again).await,
        handles(&letters)
    );
    wait_for_dead(&app, 3).await;
}

#[tokio::test]
async fn dead_letters_replayed_after_the_fix_are_delivered() {
    let mut app = spawn_app_without_worker().await;
    let herald = Herald::new(&app);
    // One RabbitMQ dead-letters itself: nacked without requeue.
    let (nacked, command) = send_to(CONNECTION, "628111000960");
    app.publish(&command).await;
    let channel = app.amqp.create_channel().await.expect("channel");
    let got = channel
        .basic_get(
            app.config.amqp.queue.as_str().into(),
            BasicGetOptions::default(),
        )
        .await
        .expect("basic_get")
        .expect("the command");
    got.delivery
        .nack(BasicNackOptions::default())
        .await
        .expect("nack");
    // One herald refuses: its connection is not configured yet.
    app.start_worker().await;
    let late = unique_connection("konnek-late");
    let (refused, command) = send_to(&late, "628111000961");
    app.publish(&command).await;
    app.wait_for_status(refused, "failed").await;
    wait_for_dead(&app, 2).await;

    let letters = herald.letters();
    let of = |id: Uuid| {
        letters
            .iter()
            .find(|l| l["id"] == id.to_string())
            .unwrap_or_else(|| panic!("no dead letter for {id}: {letters:?}"))
            .clone()
    };
    let by_broker = of(nacked);
    assert_eq!(by_broker["source"], "rabbitmq");
    assert!(
        by_broker["reason"]
            .as_str()
            .is_some_and(|r| r.contains("rejected"))
    );
    let by_herald = of(refused);
    assert!(
        by_herald["reason"]
            .as_str()
            .is_some_and(|r| r.contains(&late))
    );

    let dry = herald.ok(&["dead", "replay", "--all", "--dry-run"]);
    assert!(dry.contains("would replay 2 dead letters"), "{dry}");
    wait_for_dead(&app, 2).await;

    // The fix: the connection is added, the worker restarted with it.
    app.stop_worker().await;
    app.config_toml
        .push_str(&konnek_connection(&late).replace("{sim_url}", &app.sim.base_url()));
    app.config = Config::parse(&app.config_toml, &|_| None).expect("config");
    app.start_worker().await;
    let fixed = Herald::new(&app);
    let handles = handles(&[by_broker, by_herald]);
    let replayed = fixed.ok(&["dead", "replay", &handles[0], &handles[1].to_uppercase()]);
    assert!(
        replayed.contains("replayed 2 dead letters to exchange"),
        "{replayed}"
    );
    app.wait_for_status(nacked, "success").await;
    let d = app.wait_for_status(refused, "success").await;
    assert_eq!(d.connection, late);
    wait_for_dead(&app, 0).await;
    assert_eq!(app.sim.sends_of(&refused.to_string()), 1);
    assert_eq!(
        fixed.ok(&["dead", "list"]).trim_end(),
        format!("no dead letters in {}", app.config.amqp.dead_letter_queue)
    );
}

#[tokio::test]
async fn a_replay_still_bad_returns_to_the_dead_letters_with_its_reason() {
    let app = spawn_app().await;
    let herald = Herald::new(&app);
    let (id, command) = send_to("still-nowhere", "628111000970");
    app.publish(&command).await;
    wait_for_dead(&app, 1).await;
    let before = herald.letters();
    let handle = before[0]["handle"].as_str().expect("handle").to_owned();

    let replayed = herald.ok(&["dead", "replay", &handle]);
    assert!(replayed.contains("replayed 1 dead letter to"), "{replayed}");
    let after = eventually(20, "the replay to be refused again", || async {
        let letters = herald.letters();
        (letters.len() == 1 && letters[0]["replays"] == 1).then_some(letters)
    })
    .await;
    assert_eq!(after[0]["reason"], before[0]["reason"]);
    assert_eq!(after[0]["id"], id.to_string());
    let d = app.wait_for_status(id, "failed").await;
    assert!(d.fail_reason.is_some_and(|r| r.contains("still-nowhere")));

    // A handle no dead letter has, and one that is not a handle.
    let missing = herald.run(&["dead", "replay", "0123456789ab"]);
    assert_eq!(missing.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("herald dead list"), "{stderr}");
    let bad = herald.run(&["dead", "replay", "zz"]);
    assert_eq!(bad.status.code(), Some(2));
    let none = herald.run(&["dead", "replay"]);
    assert_eq!(none.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&none.stderr).contains("--all"));
    wait_for_dead(&app, 1).await;
}

#[tokio::test]
async fn purge_asks_on_a_terminal_refuses_without_one_and_deletes_with_yes() {
    let app = spawn_app().await;
    let herald = Herald::new(&app);
    app.publish_raw(b"not json").await;
    app.publish_raw(b"{}").await;
    wait_for_dead(&app, 2).await;

    let refused = herald.run(&["dead", "purge"]);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("pass --yes"), "{stderr}");
    wait_for_dead(&app, 2).await;

    // On a terminal it asks for their number: a wrong one deletes nothing.
    if let Some(wrong) = herald.on_terminal("dead purge", "3\n") {
        let text = String::from_utf8_lossy(&wrong.stdout);
        assert_eq!(wrong.status.code(), Some(1), "{text}");
        assert!(
            text.contains("Type the number of dead letters to confirm"),
            "{text}"
        );
        assert!(text.contains("nothing was deleted"), "{text}");
        wait_for_dead(&app, 2).await;
        let right = herald.on_terminal("dead purge", "2\n").expect("script");
        let text = String::from_utf8_lossy(&right.stdout);
        assert!(right.status.success(), "{text}");
        assert!(text.contains("purged 2 dead letters from "), "{text}");
        wait_for_dead(&app, 0).await;
        app.publish_raw(b"[]").await;
        app.publish_raw(b"null").await;
        wait_for_dead(&app, 2).await;
    }

    let purged = herald.ok(&["dead", "purge", "--yes"]);
    assert!(
        purged.starts_with("purged 2 dead letters from "),
        "{purged}"
    );
    wait_for_dead(&app, 0).await;
    let again = herald.ok(&["dead", "purge", "--yes"]);
    assert!(again.contains("nothing to purge"), "{again}");
}

#[test]
fn without_a_configuration_file_dead_uses_the_default_broker_and_names() {
    let dir = std::env::temp_dir().join(format!("herald-dead-bare-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    // A virtual host that does not exist: the defaults are used, and the
    // error says where it tried and what to do.
    let output = Command::new(env!("CARGO_BIN_EXE_herald"))
        .current_dir(&dir)
        .args(["dead", "list"])
        .env_remove("HERALD_CONFIG")
        .env(
            "HERALD_AMQP_URL",
            "amqp://guest:guest@127.0.0.1:5672/no-such-vhost",
        )
        .output()
        .expect("run herald");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no herald.toml here"), "{stderr}");
    assert!(stderr.contains("queue herald.dead"), "{stderr}");
    assert!(
        stderr.contains("cannot connect to RabbitMQ at amqp://guest@127.0.0.1:5672/no-such-vhost"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("guest:guest"),
        "no password shown: {stderr}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
