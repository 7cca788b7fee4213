//! The binary as operators use it: setup, publish, show, list, resend, and
//! the HTTP endpoints of a running worker.

use crate::helpers::*;
use herald::tools::simulator::Step;
use serde_json::Value;
use std::process::{Command, Output};
use uuid::Uuid;

/// The binary, run with the test app's configuration as its file.
pub struct Cli {
    pub dir: std::path::PathBuf,
    pub config: String,
}

impl Cli {
    pub fn new(app: &TestApp) -> Cli {
        let dir = std::env::temp_dir().join(format!("herald-cli-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("herald.toml");
        std::fs::write(&path, &app.config_toml).expect("write config");
        Cli {
            config: path.to_str().expect("utf-8").to_owned(),
            dir,
        }
    }

    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_herald"))
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .output()
            .expect("run herald")
    }

    pub fn ok(&self, args: &[&str]) -> String {
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

/// A provider's refusal longer than a row of `herald list` shows.
const LONG_REASON: &str =
    "blocked: the recipient has not opted in to messages from this business account";

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
            message: LONG_REASON.into(),
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

    // `show --json` is the whole row for scripts; `show` is for a person:
    // the provider status by its name, times in UTC to the second, and the
    // attempts counted.
    let shown: Value = serde_json::from_str(&cli.ok(&["show", "--json", &good.to_string()]))
        .expect("show --json prints JSON");
    assert_eq!(shown["delivery"]["status"], "success");
    assert_eq!(shown["attempts"].as_array().map(Vec::len), Some(1));
    let shown = cli.ok(&["show", &good.to_string()]);
    let field = |name: &str| {
        shown
            .lines()
            .find_map(|line| line.trim().strip_prefix(name))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no {name} in:\n{shown}"))
            .to_owned()
    };
    assert_eq!(field("status"), "success");
    assert_eq!(field("provider"), "Sent", "a name, not 1");
    assert_eq!(field("created (UTC)").len(), "2026-12-02 14:03:11".len());
    assert!(shown.contains("\n1 attempt, 0 other changes\n"), "{shown}");
    assert_eq!(field("to"), "628111000400", "the recipient, in the summary");

    let shown = cli.ok(&["show", &bad.to_string()]);
    assert!(
        shown.contains(LONG_REASON),
        "show gives the whole reason: {shown}"
    );

    // The provider status by its name, the reason cut to fit the row, and
    // the rows counted.
    let listed = cli.ok(&["list", "--status", "failed"]);
    assert!(
        listed.contains(&bad.to_string()) && !listed.contains(&good.to_string()),
        "{listed}"
    );
    assert!(listed.ends_with("1 delivery, newest first\n"), "{listed}");
    let row = listed
        .lines()
        .find(|line| line.contains(&bad.to_string()))
        .unwrap_or_else(|| panic!("no row for {bad}:\n{listed}"));
    assert!(row.contains(" failed ") && row.contains("blocked"), "{row}");
    assert!(row.ends_with('…') && !row.contains(LONG_REASON), "{row}");
    let listed = cli.ok(&["list", "--connection", CONNECTION, "--limit", "1"]);
    assert!(
        listed.contains("1 delivery, newest first\nnext page: ") && listed.contains(" --cursor "),
        "{listed}"
    );
    let listed = cli.ok(&["list", "--status", "success", "--connection", CONNECTION]);
    let row = listed
        .lines()
        .find(|line| line.contains(&good.to_string()))
        .unwrap_or_else(|| panic!("no row for {good}:\n{listed}"));
    assert!(row.contains(" Sent ") && !row.contains(" 1 Sent"), "{row}");

    let resent = cli.ok(&[
        "resend",
        "--status",
        "failed",
        "--connection",
        CONNECTION,
        "--reason",
        "opted in since",
        "--as",
        "alice",
    ]);
    assert!(
        resent.contains("resend published for 1 delivery\n"),
        "{resent}"
    );
    let d = eventually(20, "the bulk resend to succeed", || async {
        app.delivery(bad).await.filter(|d| d.status == "success")
    })
    .await;
    assert_eq!(d.resends, 1);
    // One timeline: the failed attempt, the resend (who and why), the
    // attempt of the new round.
    let shown = cli.ok(&["show", &bad.to_string()]);
    let timeline: Vec<&str> = shown
        .lines()
        .skip_while(|line| !line.contains("time (UTC)"))
        .skip(2)
        .collect();
    assert_eq!(timeline.len(), 4, "{shown}");
    assert!(timeline[0].contains("accepted"), "{shown}");
    assert!(
        timeline[1].contains("attempt 1") && timeline[1].contains("permanent"),
        "{shown}"
    );
    assert!(
        timeline[2].contains("resent")
            && timeline[2].contains("opted in since")
            && timeline[2].trim_end().ends_with("cli (alice)"),
        "{shown}"
    );
    assert!(
        timeline[3].contains("attempt 1 (resend 1)") && timeline[3].contains("success"),
        "{shown}"
    );

    // Two deliveries not due for an hour, cancelled from the command line.
    let later: Vec<Uuid> = (0..2).map(|_| Uuid::new_v4()).collect();
    for (i, id) in later.iter().enumerate() {
        let mut command = send(*id, &format!("62811100041{i}"));
        command["not_before"] =
            serde_json::json!((chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339());
        app.publish(&command).await;
        app.wait_for_status(*id, "waitForSending").await;
    }
    let ids: Vec<String> = later.iter().map(Uuid::to_string).collect();
    let mut args = vec!["cancel"];
    args.extend(ids.iter().map(String::as_str));
    let cancelled = cli.ok(&args);
    assert!(
        cancelled.contains("cancel published for 2 deliveries\n"),
        "{cancelled}"
    );
    for id in later {
        app.wait_for_status(id, "failed").await;
    }

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

/// The cells of the demo summary's row for `connection`.
fn summary_row(stdout: &str, connection: &str) -> Vec<String> {
    let row = stdout
        .lines()
        .find(|line| line.contains(&format!(" {connection} ")))
        .unwrap_or_else(|| panic!("no row for {connection} in:\n{stdout}"));
    row.split(['|', '│'])
        .map(str::trim)
        .filter(|cell| !cell.is_empty())
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn the_demo_mixes_five_providers_with_retries_token_refreshes_and_a_quota_pause() {
    let app = spawn_app_without_worker().await;
    let cli = Cli::new(&app);
    // The test's own (classic) queue names: the demo deletes them at the end.
    let prefix = format!("{}.demo", app.config.amqp.exchange);
    let started = std::time::Instant::now();
    let stdout = cli.ok(&["demo", "--count", "100", "--queue-prefix", &prefix]);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
    // Its hint runs as printed.
    let hint = stdout
        .lines()
        .find_map(|line| line.strip_prefix("inspect them: "))
        .and_then(|hint| hint.split(" (or ").next())
        .unwrap_or_else(|| panic!("no hint in {stdout}"));
    let listed = Command::new("sh").args(["-c", hint]).output().expect("sh");
    let listed_text = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.status.success(),
        "{hint}: {}",
        String::from_utf8_lossy(&listed.stderr)
    );
    assert!(listed_text.contains("demo-onebox"), "{hint}: {listed_text}");
    assert!(
        stdout.contains("demo-onebox: OneBox's quota is closed") && stdout.contains("paused until"),
        "{stdout}"
    );

    // 20 samples per provider: the 18th (j = 17) is refused for good; the
    // 4th, 8th (twice) and 12th are retried; OneBox's and HighQ's 6th meet a
    // refused token.
    let counts: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT connection, status, count(*) FROM deliveries GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .fetch_all(&app.store.pool)
    .await
    .expect("counts");
    let attempts: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT d.connection, a.outcome, count(*) FROM delivery_attempts a \
         JOIN deliveries d ON d.id = a.delivery_id GROUP BY 1, 2",
    )
    .fetch_all(&app.store.pool)
    .await
    .expect("attempts");
    let attempts_of = |connection: &str, outcome: Option<&str>| -> i64 {
        attempts
            .iter()
            .filter(|(c, o, _)| c == connection && outcome.is_none_or(|x| x == o))
            .map(|row| row.2)
            .sum()
    };
    for connection in [
        "demo-chatwoot",
        "demo-comm100",
        "demo-highq",
        "demo-konnek",
        "demo-onebox",
    ] {
        let of = |status: &str| {
            counts
                .iter()
                .find(|(c, s, _)| c == connection && s == status)
                .map_or(0, |row| row.2)
        };
        assert_eq!(
            (of("success"), of("failed")),
            (19, 1),
            "{connection}: {counts:?}"
        );
        assert_eq!(
            attempts_of(connection, Some("retryable")),
            4,
            "{connection}: {attempts:?}"
        );
        let calls = attempts_of(connection, None).to_string();
        let row = summary_row(&stdout, connection);
        assert_eq!(row[1..6], ["19", "1", "0", calls.as_str(), "4"], "{row:?}");
    }
    let number = |cell: &str| cell.parse::<u64>().unwrap_or_else(|_| panic!("{cell:?}"));
    for connection in ["demo-onebox", "demo-highq"] {
        let row = summary_row(&stdout, connection);
        assert!(
            number(&row[6]) >= 1,
            "a token refresh for {connection}: {row:?}"
        );
    }
    let onebox = summary_row(&stdout, "demo-onebox");
    assert!(number(&onebox[7]) >= 1, "a quota deferral: {onebox:?}");
    assert_eq!(summary_row(&stdout, "demo-konnek")[7], "0");
    let refused = attempts_of("demo-onebox", Some("deferred"));
    assert!(refused >= 1, "OneBox's quota refusal is an attempt row");
    assert!(
        app.pause_of("demo-onebox").await.is_some(),
        "the pause was shared in PostgreSQL"
    );
}

/// A configuration file that is wrong: `herald setup` exits 2 before it
/// reaches PostgreSQL or RabbitMQ, and its message names the place.
#[test]
fn a_bad_configuration_exits_2_naming_the_place_and_never_a_secret() {
    let dir = std::env::temp_dir().join(format!("herald-config-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let connection = "[[connection]]\nname = \"k\"\nadapter = \"konnek\"\n\
        base_url = \"http://127.0.0.1:9\"\nchannel = \"whatsapp\"\nclient_id = \"c\"\n\
        username = \"u\"\n";
    let cases = [
        (
            format!("[amqp]\nexchange = \"\"\n\n{connection}password = \"p\"\n"),
            "amqp.exchange: must not be empty".to_owned(),
        ),
        (
            format!("[worker]\nhttp_timeout = \"0s\"\n\n{connection}password = \"p\"\n"),
            "worker.http_timeout: must be longer than 0".to_owned(),
        ),
        (
            format!("[worker]\nhttp_timeout = 2s\n\n{connection}password = \"p\"\n"),
            "herald.toml:2:16: not valid TOML".to_owned(),
        ),
        (
            format!("{connection}password = 987654321\n"),
            "connection[0].password: must be a string".to_owned(),
        ),
    ];
    for (text, expected) in cases {
        let path = dir.join("herald.toml");
        std::fs::write(&path, &text).expect("write config");
        let output = Command::new(env!("CARGO_BIN_EXE_herald"))
            .current_dir(&dir)
            .args(["--config", "herald.toml", "setup"])
            .env_remove("HERALD_DATABASE_URL")
            .env_remove("HERALD_AMQP_URL")
            .output()
            .expect("run herald");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{text}\n{stderr}");
        assert!(stderr.contains(&expected), "{expected:?} not in {stderr}");
        assert!(!stderr.contains("987654321"), "a secret shown: {stderr}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn show_and_list_read_the_default_database_where_no_configuration_file_is() {
    // The demo's hint, `herald list --connection demo-onebox`, run where
    // there is no herald.toml: the database comes from the defaults and
    // HERALD_DATABASE_URL, as in the demo.
    let app = spawn_app_without_worker().await;
    let id = Uuid::new_v4();
    app.store
        .accept_sends(&[send_command(id, "628111000901")], chrono::Utc::now())
        .await
        .expect("accepted");
    let dir = std::env::temp_dir().join(format!("herald-bare-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let herald = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_herald"))
            .current_dir(&dir)
            .args(args)
            .env_remove("HERALD_CONFIG")
            .env("HERALD_DATABASE_URL", &app.config.database.url)
            .output()
            .expect("run herald")
    };
    let connection = app.config.connections[0].name.clone();
    let listed = herald(&["list", "--connection", &connection]);
    let stdout = String::from_utf8_lossy(&listed.stdout);
    let stderr = String::from_utf8_lossy(&listed.stderr);
    assert!(listed.status.success(), "{stderr}");
    assert!(stdout.contains(&id.to_string()), "{stdout}");
    assert!(stderr.contains("no herald.toml here"), "{stderr}");
    let shown = herald(&["show", &id.to_string()]);
    assert!(shown.status.success());
    assert!(String::from_utf8_lossy(&shown.stdout).contains(&id.to_string()));
    // What needs the whole configuration still refuses to run without it,
    // and a file named but missing is an error, not the defaults.
    let setup = herald(&["setup"]);
    assert_eq!(setup.status.code(), Some(2));
    let named = herald(&["--config", "missing.toml", "list"]);
    assert_eq!(named.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&named.stderr).contains("cannot read missing.toml"));
    std::fs::remove_dir_all(&dir).ok();
}
