//! Restarts, lost workers and signals: nothing is lost, nothing sent twice.

use crate::helpers::*;
use herald::tools::simulator::Step;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use uuid::Uuid;

#[tokio::test]
async fn a_scheduled_retry_survives_a_worker_restart() {
    let mut app = spawn_app_with(Options {
        schedule: r#"["2s"]"#,
        ..Options::default()
    })
    .await;
    let id = Uuid::new_v4();
    app.sim.script(
        "628111000300",
        vec![Step::Http {
            status: 503,
            retry_after: None,
        }],
    );
    app.publish(&send(id, "628111000300")).await;
    let waiting = app.wait_for_status(id, "waitForSending").await;
    assert_eq!(waiting.wait_reason.as_deref(), Some("retry"));
    assert!(waiting.next_attempt_at.is_some());

    app.stop_worker().await;
    app.start_worker().await;
    let d = app.wait_for_status(id, "success").await;
    assert_eq!(d.attempts, 2);
    assert_eq!(app.sim.sends_of(&id.to_string()), 2);
}

/// The real binary as a worker, with the test's configuration.
fn spawn_binary(app: &TestApp, dir: &std::path::Path) -> Child {
    let path = dir.join("herald.toml");
    std::fs::write(&path, &app.config_toml).expect("write config");
    Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["--config", path.to_str().expect("utf-8 path"), "worker"])
        .env("RUST_LOG", "herald=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start herald worker")
}

fn temp_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("herald-test-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[tokio::test]
async fn a_delivery_left_in_sending_by_a_killed_worker_is_recovered() {
    let mut app = spawn_app_without_worker().await;
    let dir = temp_dir();
    let mut child = spawn_binary(&app, &dir);
    let id = Uuid::new_v4();
    app.sim.script("628111000301", vec![Step::Hang]);
    app.publish(&send(id, "628111000301")).await;
    eventually(30, "the call to be in flight", || async {
        let sending = app
            .delivery(id)
            .await
            .is_some_and(|d| d.status == "sending");
        (sending && app.sim.sends_of(&id.to_string()) == 1).then_some(())
    })
    .await;
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");

    // A worker with a short lease (the shortest 500 ms calls allow) takes
    // the claim back and sends again.
    app.config.worker.http_timeout = Duration::from_millis(500);
    app.config.worker.sending_lease = Duration::from_secs(4);
    app.start_worker().await;
    let d = app.wait_for_status(id, "success").await;
    assert_eq!(d.attempts, 2, "the lost call counts as an attempt");
    let attempts = app.attempts(id).await;
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0].outcome, "retryable");
    assert!(
        attempts[0].error.as_deref().unwrap_or("").contains("lost"),
        "{attempts:?}"
    );
    assert_eq!(attempts[1].outcome, "success");
    assert_eq!(app.sim.sends_of(&id.to_string()), 2);
    let events = app.store.events(id).await.expect("the audit trail");
    let recovered: Vec<_> = events.iter().filter(|e| e.kind == "recovered").collect();
    assert_eq!(recovered.len(), 1, "{events:?}");
    assert_eq!(recovered[0].from_status.as_deref(), Some("sending"));
    assert_eq!(recovered[0].to_status.as_deref(), Some("waitForSending"));
    assert_eq!(recovered[0].actor, "worker");
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn sigterm_drains_in_flight_work_and_exits_zero() {
    let app = spawn_app_without_worker().await;
    let dir = temp_dir();
    let mut child = spawn_binary(&app, &dir);
    let id = Uuid::new_v4();
    app.sim
        .script("628111000302", vec![Step::Delay { millis: 1500 }]);
    app.publish(&send(id, "628111000302")).await;
    eventually(30, "the call to be in flight", || async {
        (app.sim.sends_of(&id.to_string()) == 1).then_some(())
    })
    .await;
    let pid = child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill -TERM");
    assert!(killed.success());

    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the worker did not exit"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(status.code(), Some(0), "a drained worker exits 0");
    // The call in flight was finished and recorded before the exit.
    let d = app.delivery(id).await.expect("row");
    assert_eq!(d.status, "success");
    assert_eq!(app.sim.sends_of(&id.to_string()), 1);
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn a_bad_configuration_exits_two_and_names_the_key() {
    let dir = temp_dir();
    let path = dir.join("herald.toml");
    std::fs::write(&path, "[[connection]]\nname = \"x\"\nadapter = \"konnek\"\nbase_url = \"http://x\"\nchannel = \"w\"\nclient_id = \"c\"\nusername = \"u\"\npassword = \"p\"\n[connection.limits]\nwindow = \"late\"\n").expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["--config", path.to_str().expect("utf-8"), "worker"])
        .output()
        .expect("run herald");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("connection[0].limits.window"), "{stderr}");
    std::fs::remove_dir_all(dir).ok();
}
