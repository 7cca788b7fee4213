//! No secret leaks: distinctive credentials for every adapter (the right
//! ones and wrong ones), the admin and callback tokens, the sealing key and
//! the database's and broker's passwords are configured; every kind of
//! authentication failure is provoked; and then the worker's log at trace
//! level, `herald show` and `herald list`, `/metrics`, the admin API's
//! answers, the OpenAPI document and every row of every table are read for
//! them.

use crate::helpers::*;
use herald::tools::simulator::{self, SimConfig};
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use uuid::Uuid;

const KONNEK_USER: &str = "LEAK-konnek-user-5c1d";
const KONNEK_PASS: &str = "LEAK-konnek-pass-8e2a";
const KONNEK_WRONG: &str = "LEAK-konnek-wrong-4b7f";
const ONEBOX_PASS: &str = "LEAK-onebox-pass-91ce";
const ONEBOX_WRONG: &str = "LEAK-onebox-wrong-0d3b";
const CHATWOOT_TOKEN: &str = "LEAK-chatwoot-token-6a4e";
const CHATWOOT_WRONG: &str = "LEAK-chatwoot-wrong-2f9c";
const COMM100_TOKEN: &str = "LEAK-comm100-token-7d15";
const COMM100_WRONG: &str = "LEAK-comm100-wrong-3e8a";
const HIGHQ_SECRET: &str = "LEAK-highq-client-secret-b41d";
const HIGHQ_REFRESH: &str = "LEAK-highq-refresh-c52e";
const HIGHQ_WRONG: &str = "LEAK-highq-wrong-refresh-d63f";
const ADMIN_TOKEN: &str = "LEAK-admin-token-e74a";
const ADMIN_WRONG: &str = "LEAK-admin-wrong-f85b";
const CALLBACK: &str = "LEAK-callback-token-a96c";
const CALLBACK_WRONG: &str = "LEAK-callback-wrong-ba7d";
const DB_PASS: &str = "LEAK-db-pass-cb8e";
const AMQP_PASS: &str = "LEAK-amqp-pass-dc9f";
/// Tokens the simulator's HighQ issues (its first ones).
const ISSUED: [&str; 2] = ["hq-at-1", "hq-rt-1"];

fn secrets() -> Vec<&'static str> {
    vec![
        KONNEK_USER,
        KONNEK_PASS,
        KONNEK_WRONG,
        ONEBOX_PASS,
        ONEBOX_WRONG,
        CHATWOOT_TOKEN,
        CHATWOOT_WRONG,
        COMM100_TOKEN,
        COMM100_WRONG,
        HIGHQ_SECRET,
        HIGHQ_REFRESH,
        HIGHQ_WRONG,
        ADMIN_TOKEN,
        ADMIN_WRONG,
        CALLBACK,
        CALLBACK_WRONG,
        DB_PASS,
        AMQP_PASS,
        TEST_KEY,
        ISSUED[0],
        ISSUED[1],
    ]
}

/// `text` without its terminal colours (a log written to a file is
/// coloured too), so that no escape sequence splits a secret.
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Fails naming every secret `text` (from `what`) holds.
fn assert_no_secret(what: &str, text: &str) {
    let text = &plain(text);
    let found: Vec<_> = secrets().into_iter().filter(|s| text.contains(s)).collect();
    if let Some(first) = found.first() {
        let at = text.find(first).unwrap_or(0);
        let start = text.floor_char_boundary(at.saturating_sub(300));
        let end = text.ceil_char_boundary((at + 200).min(text.len()));
        panic!("{what} holds {found:?}, e.g. …{}…", &text[start..end]);
    }
}

fn connections(sim: &str) -> String {
    format!(
        r#"
[[connection]]
name = "leak-konnek"
adapter = "konnek"
base_url = "{sim}"
callback_token = "{CALLBACK}"
channel = "whatsapp"
client_id = "client-1"
username = "{KONNEK_USER}"
password = "{KONNEK_PASS}"

[[connection]]
name = "leak-konnek-wrong"
adapter = "konnek"
base_url = "{sim}"
channel = "whatsapp"
client_id = "client-1"
username = "{KONNEK_USER}"
password = "{KONNEK_WRONG}"

[[connection]]
name = "leak-onebox"
adapter = "onebox"
base_url = "{sim}"
email = "sim@onebox.example"
password = "{ONEBOX_PASS}"
site_id = "169"
connection_id = 583

[[connection]]
name = "leak-onebox-wrong"
adapter = "onebox"
base_url = "{sim}"
email = "sim@onebox.example"
password = "{ONEBOX_WRONG}"
site_id = "169"
connection_id = 583

[[connection]]
name = "leak-chatwoot"
adapter = "chatwoot"
base_url = "{sim}"
callback_token = "{CALLBACK}"
api_access_token = "{CHATWOOT_TOKEN}"
account_id = 3

[[connection]]
name = "leak-chatwoot-wrong"
adapter = "chatwoot"
base_url = "{sim}"
api_access_token = "{CHATWOOT_WRONG}"
account_id = 3

[[connection]]
name = "leak-comm100"
adapter = "comm100"
base_url = "{sim}"
access_token = "{COMM100_TOKEN}"
channel_id = "Email"
sent_by_id = "{COMM100_AGENT}"

[[connection]]
name = "leak-comm100-wrong"
adapter = "comm100"
base_url = "{sim}"
access_token = "{COMM100_WRONG}"
channel_id = "Email"
sent_by_id = "{COMM100_AGENT}"

[[connection]]
name = "leak-highq"
adapter = "highq"
base_url = "{sim}/acme-instance/"
client_id = "sim-client"
client_secret = "{HIGHQ_SECRET}"
refresh_token = "{HIGHQ_REFRESH}"

[[connection]]
name = "leak-highq-wrong"
adapter = "highq"
base_url = "{sim}/acme-instance/"
client_id = "sim-client"
client_secret = "{HIGHQ_SECRET}"
refresh_token = "{HIGHQ_WRONG}"
"#
    )
}

fn command(connection: &str, to: &str) -> (Uuid, Value) {
    let id = Uuid::new_v4();
    let message = json!({"to": to, "from": "6282210695424", "text": "Your order has shipped",
        "html": "<p>Your order has shipped</p>", "conversation_id": "222536"});
    let body = json!({"type": "send", "id": id, "connection": connection, "message": message});
    (id, body)
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

/// `herald worker` with `config`, its log at trace level into `log`.
fn spawn_worker(config: &std::path::Path, log: &std::path::Path) -> Child {
    let log = std::fs::File::create(log).expect("log file");
    Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["--config", config.to_str().expect("utf-8"), "worker"])
        .env("RUST_LOG", "trace")
        .env_remove("HERALD_SECRETS_KEY")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("herald worker starts")
}

fn stop(child: &mut Child) {
    #[cfg(unix)]
    {
        // SIGTERM: a graceful stop, whose log is read too.
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        for _ in 0..100 {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test]
async fn no_secret_leaks_into_logs_outputs_answers_or_tables() {
    let sim = simulator::start(
        "127.0.0.1:0".parse().unwrap(),
        SimConfig {
            konnek_username: KONNEK_USER.into(),
            konnek_password: KONNEK_PASS.into(),
            onebox_password: ONEBOX_PASS.into(),
            chatwoot_api_access_token: CHATWOOT_TOKEN.into(),
            comm100_access_token: COMM100_TOKEN.into(),
            highq_client_secret: HIGHQ_SECRET.into(),
            highq_refresh_token: HIGHQ_REFRESH.into(),
            ..SimConfig::default()
        },
    )
    .await
    .expect("simulator");
    let app = spawn_app_with(Options {
        start_worker: false,
        admin_token: ADMIN_TOKEN,
        extra_toml: connections(&sim.base_url()),
        ..Options::default()
    })
    .await;
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("herald-leak-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let config_path = dir.join("herald.toml");
    let config = app.config_toml.replace(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"127.0.0.1:{port}\""),
    );
    std::fs::write(&config_path, &config).unwrap();
    let log_path = dir.join("worker.log");
    let mut worker = spawn_worker(&config_path, &log_path);
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    eventually(30, "the worker to be ready", || async {
        let ready = http.get(format!("{base}/readyz")).send().await;
        ready.is_ok_and(|r| r.status().is_success()).then_some(())
    })
    .await;

    // Every adapter, with the right and the wrong credentials.
    let names = [
        "leak-konnek",
        "leak-konnek-wrong",
        "leak-onebox",
        "leak-onebox-wrong",
        "leak-chatwoot",
        "leak-chatwoot-wrong",
        "leak-comm100",
        "leak-comm100-wrong",
        "leak-highq",
        "leak-highq-wrong",
    ];
    let mut ids = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let (id, body) = command(name, &format!("62811{i:04}"));
        app.publish(&body).await;
        ids.push(id);
    }
    let terminal = |ids: Vec<Uuid>| {
        let app = &app;
        async move {
            for id in ids {
                eventually(30, &format!("{id} to end"), || async {
                    app.delivery(id)
                        .await
                        .filter(|d| d.status == "success" || d.status == "failed")
                })
                .await;
            }
        }
    };
    terminal(ids.clone()).await;
    // The right credentials got through, and every wrong one was refused.
    for (name, id) in names.iter().zip(&ids) {
        let d = app.delivery(*id).await.expect("the delivery");
        let expected = if name.ends_with("-wrong") {
            "failed"
        } else {
            "success"
        };
        assert_eq!(d.status, expected, "{name}: {:?}", d.fail_reason);
    }
    // Expired tokens: OneBox's and HighQ's are renewed.
    sim.expire_onebox_tokens();
    sim.expire_highq_tokens();
    let mut more = Vec::new();
    for (i, name) in ["leak-onebox", "leak-highq"].iter().enumerate() {
        let (id, body) = command(name, &format!("62822{i:04}"));
        app.publish(&body).await;
        more.push(id);
    }
    terminal(more.clone()).await;
    for id in &more {
        let d = app.delivery(*id).await.expect("the delivery");
        assert_eq!(
            d.status, "success",
            "after an expired token: {:?}",
            d.fail_reason
        );
    }
    ids.extend(more);
    assert_eq!(sim.highq_refreshes().0, 2, "HighQ refreshed after its 403");

    // Wrong admin and callback tokens, in every place they are taken.
    let mut answers = String::new();
    for auth in [
        format!("Bearer {ADMIN_WRONG}"),
        ADMIN_WRONG.to_owned(),
        String::new(),
    ] {
        let r = http
            .get(format!("{base}/v1/deliveries"))
            .header("Authorization", auth)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        answers.push_str(&r.text().await.unwrap());
    }
    for connection in ["leak-konnek", "leak-chatwoot", "leak-onebox"] {
        let url = format!("{base}/v1/callbacks/{connection}");
        let body = json!({"status": {"message_id": "x", "status": 2}});
        let r = http
            .post(format!("{url}?token={CALLBACK_WRONG}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        answers.push_str(&r.text().await.unwrap());
        let r = http
            .post(&url)
            .bearer_auth(CALLBACK_WRONG)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        answers.push_str(&r.text().await.unwrap());
        // The right token, in the query, as providers send it.
        let r = http
            .post(format!("{url}?token={CALLBACK}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        answers.push_str(&r.text().await.unwrap());
    }
    // The admin API's answers, with the right token.
    let get = |path: String| {
        let http = http.clone();
        async move {
            http.get(path)
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    answers.push_str(&get(format!("{base}/v1/deliveries?limit=100")).await);
    for id in &ids {
        answers.push_str(&get(format!("{base}/v1/deliveries/{id}")).await);
    }
    let resend = http
        .post(format!("{base}/v1/deliveries/{}/resend", ids[1]))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"reason": "leak test"}))
        .send()
        .await
        .unwrap();
    answers.push_str(&resend.text().await.unwrap());
    assert_no_secret("the admin API's and the callbacks' answers", &answers);
    assert_no_secret(
        "/v1/openapi.json",
        &get(format!("{base}/v1/openapi.json")).await,
    );
    assert_no_secret("/metrics", &get(format!("{base}/metrics")).await);
    assert_no_secret("/readyz", &get(format!("{base}/readyz")).await);

    // herald show and herald list.
    let cli = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(["--config", config_path.to_str().unwrap()])
            .args(args)
            .env("RUST_LOG", "trace")
            .output()
            .expect("herald runs");
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let mut printed = cli(&["list", "--limit", "100"]);
    printed.push_str(&cli(&["list", "--json", "--limit", "100"]));
    for id in &ids {
        printed.push_str(&cli(&["show", &id.to_string()]));
        printed.push_str(&cli(&["show", "--json", &id.to_string()]));
    }
    assert!(printed.contains("leak-highq"), "{printed}");
    assert_no_secret("herald show and herald list", &printed);

    stop(&mut worker);
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("TRACE"), "the log is at trace level");
    assert_no_secret("the worker's log at trace level", &log);

    // Every row of every table, as text.
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
    )
    .fetch_all(&app.store.pool)
    .await
    .unwrap();
    let mut rows = String::new();
    for table in &tables {
        let texts: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT t::text FROM \"{table}\" AS t"
        )))
        .fetch_all(&app.store.pool)
        .await
        .unwrap();
        rows.push_str(&texts.join("\n"));
    }
    assert!(rows.contains("hrld1:"), "the HighQ pair is stored, sealed");
    assert_no_secret("the tables", &rows);

    // The database's and the broker's passwords, refused: a worker and
    // the operator commands say so without them.
    let (db_base, db_rest) = app.config.database.url.split_once('@').unwrap();
    let db_user = db_base.rsplit_once(':').unwrap().0;
    let bad_db = format!("{db_user}:{DB_PASS}@{db_rest}");
    let (mq_base, mq_rest) = amqp_url()
        .split_once('@')
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .unwrap();
    let mq_user = mq_base.rsplit_once(':').unwrap().0.to_owned();
    let bad_mq = format!("{mq_user}:{AMQP_PASS}@{mq_rest}");
    let bad = config
        .replace(&app.config.database.url, &bad_db)
        .replace(&amqp_url(), &bad_mq)
        .replace(
            &format!("127.0.0.1:{port}"),
            &format!("127.0.0.1:{}", free_port()),
        );
    assert!(bad.contains(DB_PASS) && bad.contains(AMQP_PASS));
    let bad_path = dir.join("bad.toml");
    std::fs::write(&bad_path, &bad).unwrap();
    // One worker refused by PostgreSQL, one by RabbitMQ only.
    let bad_broker = config.replace(&amqp_url(), &bad_mq).replace(
        &format!("127.0.0.1:{port}"),
        &format!("127.0.0.1:{}", free_port()),
    );
    let bad_broker_path = dir.join("bad-broker.toml");
    std::fs::write(&bad_broker_path, &bad_broker).unwrap();
    let (bad_log, bad_broker_log) = (dir.join("bad.log"), dir.join("bad-broker.log"));
    let mut refused = spawn_worker(&bad_path, &bad_log);
    let mut refused_by_broker = spawn_worker(&bad_broker_path, &bad_broker_log);
    // Until each has been refused and said so.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let said_so = |log: &std::path::Path, what: &str| {
        std::fs::read_to_string(log).is_ok_and(|text| text.contains(what))
    };
    while !(said_so(&bad_log, "waiting for PostgreSQL")
        && said_so(&bad_broker_log, "waiting for RabbitMQ"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the refused workers did not say they wait for their service"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop(&mut refused);
    stop(&mut refused_by_broker);
    let mut said = std::fs::read_to_string(&bad_log).unwrap();
    said.push_str(&std::fs::read_to_string(&bad_broker_log).unwrap());
    for args in [
        &["list"][..],
        &["show", &ids[0].to_string()],
        &["setup"],
        &["dead", "list"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(["--config", bad_path.to_str().unwrap()])
            .args(args)
            .env("RUST_LOG", "trace")
            .output()
            .expect("herald runs");
        said.push_str(&String::from_utf8_lossy(&out.stdout));
        said.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    assert!(said.contains("password authentication failed"), "{said}");
    assert!(
        said.contains("ACCESS_REFUSED") || said.contains("RabbitMQ"),
        "{said}"
    );
    assert_no_secret(
        "what herald says when PostgreSQL and RabbitMQ refuse it",
        &said,
    );
    let _ = std::fs::remove_dir_all(&dir);
}
