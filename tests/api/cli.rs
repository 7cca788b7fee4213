//! The binary as operators use it: setup, publish, show, list, resend, and
//! the HTTP endpoints of a running worker.

use crate::helpers::*;
use herald::simulator::Step;
use serde_json::Value;
use std::process::{Command, Output};
use uuid::Uuid;

struct Cli {
    dir: std::path::PathBuf,
    config: String,
}

impl Cli {
    fn new(app: &TestApp) -> Cli {
        let dir = std::env::temp_dir().join(format!("herald-cli-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("herald.toml");
        std::fs::write(&path, &app.config_toml).expect("write config");
        Cli {
            config: path.to_str().expect("utf-8").to_owned(),
            dir,
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_herald"))
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .output()
            .expect("run herald")
    }

    fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "herald {args:?} failed: {stderr}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

impl Drop for Cli {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

#[tokio::test]
async fn operators_publish_inspect_and_resend_from_the_command_line() {
    // The production topology: quorum queues, as `herald setup` declares them.
    let app = spawn_app_with(Options {
        queue_type: "quorum",
        ..Options::default()
    })
    .await;
    let cli = Cli::new(&app);
    // Setup is idempotent: the test harness ran it once already.
    cli.ok(&["setup"]);

    let (good, bad) = (Uuid::new_v4(), Uuid::new_v4());
    app.sim.script(
        "628111000401",
        vec![Step::MetaFalse {
            code: 400,
            message: "blocked".into(),
        }],
    );
    let lines = format!(
        "{}\n{}\n",
        send(good, "628111000400"),
        send(bad, "628111000401")
    );
    std::fs::write(cli.dir.join("commands.jsonl"), lines).expect("write commands");
    let published = cli.ok(&[
        "publish",
        cli.dir.join("commands.jsonl").to_str().expect("utf-8"),
    ]);
    assert!(published.contains("published 2"), "{published}");
    app.wait_for_status(good, "success").await;
    app.wait_for_status(bad, "failed").await;

    let shown: Value =
        serde_json::from_str(&cli.ok(&["show", &good.to_string()])).expect("show prints JSON");
    assert_eq!(shown["delivery"]["status"], "success");
    assert_eq!(shown["attempts"].as_array().map(Vec::len), Some(1));

    let listed = cli.ok(&["list", "--status", "failed"]);
    assert!(
        listed.contains(&bad.to_string()) && !listed.contains(&good.to_string()),
        "{listed}"
    );

    let resent = cli.ok(&["resend", "--status", "failed", "--connection", CONNECTION]);
    assert!(
        resent.contains("resend published for 1 deliveries"),
        "{resent}"
    );
    let d = eventually(20, "the bulk resend to succeed", || async {
        app.delivery(bad).await.filter(|d| d.status == "success")
    })
    .await;
    assert_eq!(d.resends, 1);

    // Bad usage exits 2 and says what is wrong.
    let output = cli.run(&["show", "not-an-id"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("not-an-id"));
    let output = cli.run(&["list", "--status", "lost"]);
    assert_eq!(output.status.code(), Some(2));
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let mut app = spawn_app().await;
    let addr = app.worker.as_ref().expect("worker").0.http_addr;
    let get = |path: &'static str| async move {
        reqwest::get(format!("http://{addr}{path}"))
            .await
            .map(|r| r.status().as_u16())
            .ok()
    };
    assert_eq!(get("/healthz").await, Some(200));
    assert_eq!(get("/readyz").await, Some(200));
    app.stop_worker().await;
    assert_eq!(
        get("/readyz").await,
        None,
        "a stopped worker serves nothing"
    );
}
