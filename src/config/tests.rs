//! The configuration's parser and checks: what a good file gives, and
//! how each mistake is named.

use super::*;
use crate::domain::limits::{DEFAULT_QUOTA_PAUSE, Limits};

const GOOD: &str = r#"
[database]
url = "postgres://x@127.0.0.1/db"

[worker]
http_timeout = "2s"
sending_lease = "10s"

[defaults.retry]
max_attempts = 3
schedule = ["1s", "2s"]

[[connection]]
name = "konnek-wa"
adapter = "konnek"
base_url = "http://127.0.0.1:9/konnek"
channel = "whatsapp"
client_id = "abc"
username = "${KONNEK_USER}"
password = "${KONNEK_PASS:-secret}"

[connection.retry]
jitter = 0.0

[connection.limits]
window = "22:00-06:00"
timezone = "Asia/Jakarta"
"#;

fn env(name: &str) -> Option<String> {
    match name {
        "KONNEK_USER" => Some("bot".into()),
        _ => None,
    }
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, &env)
}

fn error_path(text: &str) -> String {
    match parse(text) {
        Err(ConfigError::Key { path, .. }) => path,
        other => panic!("expected a key error, got {other:?}"),
    }
}

#[test]
fn a_good_file_parses_with_defaults() {
    let config = parse(GOOD).expect("valid");
    assert_eq!(config.amqp.exchange, "herald");
    assert_eq!(config.amqp.queue, "herald.commands");
    assert_eq!(config.worker.concurrency, 256);
    assert_eq!(config.retry.max_attempts, 3);
    let c = &config.connections[0];
    assert_eq!(c.retry.max_attempts, 3, "connection inherits defaults");
    assert_eq!(c.retry.jitter, 0.0);
    let AdapterSettings::Konnek(k) = &c.settings else {
        panic!("not konnek")
    };
    assert_eq!(k.username, "bot");
    assert_eq!(k.password.expose(), "secret");
    assert!(!format!("{c:?}").contains("secret"), "Debug hides secrets");
    assert_eq!(c.limits.timezone, chrono_tz::Asia::Jakarta);
}

#[test]
fn environment_overrides_urls() {
    let config = Config::parse(GOOD, &|name| match name {
        "HERALD_DATABASE_URL" => Some("postgres://other/db".into()),
        other => env(other),
    })
    .unwrap();
    assert_eq!(config.database.url, "postgres://other/db");
}

#[test]
fn errors_name_the_key() {
    assert_eq!(
        error_path(&GOOD.replace("22:00-06:00", "late")),
        "connection[0].limits.window"
    );
    assert_eq!(
        error_path(&GOOD.replace("Asia/Jakarta", "Mars/Base")),
        "connection[0].limits.timezone"
    );
    assert_eq!(
        error_path(&GOOD.replace("adapter = \"konnek\"", "adapter = \"pigeon\"")),
        "connection[0].adapter"
    );
    assert_eq!(
        error_path(&GOOD.replace("client_id = \"abc\"", "")),
        "connection[0]"
    );
    assert_eq!(
        error_path(&GOOD.replace("client_id = \"abc\"", "client_id = 5")),
        "connection[0].client_id"
    );
    assert_eq!(
        error_path(&GOOD.replace("http_timeout = \"2s\"", "http_timeout = \"2 parsecs\"")),
        "worker.http_timeout"
    );
    assert_eq!(
        error_path(&GOOD.replace("${KONNEK_USER}", "${UNSET_VAR}")),
        "connection[0].username"
    );
    assert_eq!(
        error_path(&GOOD.replace("sending_lease = \"10s\"", "sending_lease = \"1s\"")),
        "worker.sending_lease"
    );
    assert_eq!(
        error_path(&GOOD.replace("[worker]", "[worker]\ncolour = 1")),
        "worker.colour"
    );
    assert_eq!(
        error_path(&GOOD.replace("jitter = 0.0", "jitter = 3.0")),
        "connection[0].retry.jitter"
    );
    for bad in ["soon", "0s", "400d"] {
        let text = GOOD.replace(
            "timezone = \"Asia/Jakarta\"",
            &format!("timezone = \"Asia/Jakarta\"\nquota_pause = \"{bad}\""),
        );
        assert_eq!(
            error_path(&text),
            "connection[0].limits.quota_pause",
            "{bad}"
        );
    }
}

#[test]
fn a_quota_refusal_pauses_until_the_window_opens_else_for_quota_pause() {
    let at = |s: &str| {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .with_timezone(&chrono::Utc)
    };
    let now = at("2026-11-21T10:00:00Z"); // 17:00 in Jakarta
    let config = parse(GOOD).expect("valid");
    let limits = &config.connections[0].limits;
    assert_eq!(limits.quota_pause, DEFAULT_QUOTA_PAUSE);
    // The window 22:00-06:00 in Jakarta opens at 15:00 UTC.
    assert_eq!(limits.quota_paused_until(now), at("2026-11-21T15:00:00Z"));

    let no_window = GOOD.replace("window = \"22:00-06:00\"", "quota_pause = \"90s\"");
    let config = parse(&no_window).expect("valid");
    let limits = &config.connections[0].limits;
    assert_eq!(limits.quota_pause, std::time::Duration::from_secs(90));
    assert_eq!(limits.quota_paused_until(now), at("2026-11-21T10:01:30Z"));

    // Neither: the default hour.
    assert_eq!(
        Limits::default().quota_paused_until(now),
        at("2026-11-21T11:00:00Z")
    );
}

#[test]
fn missing_key_message_names_it() {
    let err = parse(&GOOD.replace("client_id = \"abc\"", "")).unwrap_err();
    assert!(err.to_string().contains("client_id"), "{err}");
}

#[test]
fn duplicate_connection_names_are_refused() {
    let twice = format!(
        "{GOOD}\n[[connection]]\nname = \"konnek-wa\"\nadapter = \"konnek\"\nbase_url = \"http://x\"\nchannel = \"line\"\nclient_id = \"c\"\nusername = \"u\"\npassword = \"p\"\n"
    );
    assert_eq!(error_path(&twice), "connection[1].name");
}

#[test]
fn the_example_file_is_valid() {
    let text = include_str!("../../herald.example.toml");
    let config = Config::parse(text, &|_| None).expect("herald.example.toml parses");
    assert_eq!(config.connections[0].retry.max_attempts, 8);
    assert_eq!(config.connections[0].limits.daily_quota, Some(10000));
}

/// The whole message of a key error: its path and its words.
fn error_text(text: &str) -> String {
    match parse(text) {
        Err(err @ ConfigError::Key { .. }) => err.to_string(),
        other => panic!("expected a key error, got {other:?}"),
    }
}

#[test]
fn zero_durations_are_refused_where_they_make_no_sense() {
    let worker = GOOD.replace("[worker]\n", "[worker]\nshutdown_grace = \"0s\"\n");
    let config = parse(&worker).expect("a zero grace means: do not drain");
    assert_eq!(config.worker.shutdown_grace, Duration::ZERO);
    let cases = [
        (
            "http_timeout = \"2s\"",
            "http_timeout = \"0s\"",
            "worker.http_timeout",
        ),
        (
            "http_timeout = \"2s\"",
            "http_timeout = \"0ms\"",
            "worker.http_timeout",
        ),
        (
            "[worker]\n",
            "[worker]\ngroup_timeout = \"0s\"\n",
            "worker.group_timeout",
        ),
    ];
    for (from, to, path) in cases {
        let text = GOOD.replace(from, to);
        let message = error_text(&text);
        assert!(
            message.starts_with(&format!("{path}: ")) && message.contains("longer than 0"),
            "{to}: {message}"
        );
    }
    // sending_lease = 0 with http_timeout = 0: the zero timeout is named.
    let text = GOOD
        .replace("http_timeout = \"2s\"", "http_timeout = \"0s\"")
        .replace("sending_lease = \"10s\"", "sending_lease = \"0s\"");
    assert_eq!(error_path(&text), "worker.http_timeout");
}

#[test]
fn amqp_names_must_be_names_rabbitmq_takes() {
    for key in [
        "exchange",
        "queue",
        "dead_letter_exchange",
        "dead_letter_queue",
    ] {
        let empty = GOOD.replace("[worker]\n", &format!("[amqp]\n{key} = \"\"\n\n[worker]\n"));
        let message = error_text(&empty);
        assert!(
            message.starts_with(&format!("amqp.{key}: ")) && message.contains("empty"),
            "{message}"
        );
        let long = "q".repeat(256);
        let long = GOOD.replace(
            "[worker]\n",
            &format!("[amqp]\n{key} = \"{long}\"\n\n[worker]\n"),
        );
        let message = error_text(&long);
        assert!(
            message.starts_with(&format!("amqp.{key}: ")) && message.contains("255 bytes"),
            "{message}"
        );
        let longest = "q".repeat(255);
        let fine = GOOD.replace(
            "[worker]\n",
            &format!("[amqp]\n{key} = \"{longest}\"\n\n[worker]\n"),
        );
        parse(&fine).expect("255 bytes is RabbitMQ's limit, and allowed");
    }
    let key = GOOD.replace("[worker]\n", "[amqp]\nrouting_key = \"k\"\n\n[worker]\n");
    parse(&key).expect("a routing key of one byte");
    let long = GOOD.replace(
        "[worker]\n",
        &format!(
            "[amqp]\nrouting_key = \"{}\"\n\n[worker]\n",
            "k".repeat(256)
        ),
    );
    assert_eq!(error_path(&long), "amqp.routing_key");
}

#[test]
fn a_toml_syntax_error_names_its_line_and_column() {
    let text = "[database]\nurl = \"postgres://x@127.0.0.1/db\"\n\n[worker]\nhttp_timeout = 2s\n";
    let err = Config::parse_named(text, "herald.toml", &env).expect_err("not TOML");
    let message = err.to_string();
    assert!(
        message.starts_with("herald.toml:5:16: not valid TOML"),
        "{message}"
    );
}

#[test]
fn a_mistyped_secret_is_not_echoed() {
    let secret_keys = [
        // (adapter table, key)
        (
            GOOD.replace(
                "password = \"${KONNEK_PASS:-secret}\"",
                "password = 987654321",
            ),
            "connection[0].password",
        ),
        (
            GOOD.replace(
                "[worker]\n",
                "[http]\nadmin_token = 987654321\n\n[worker]\n",
            ),
            "http.admin_token",
        ),
        (
            GOOD.replace(
                "client_id = \"abc\"\n",
                "client_id = \"abc\"\ncallback_token = 987654321\n",
            ),
            "connection[0].callback_token",
        ),
        (
            GOOD.replace(
                "password = \"${KONNEK_PASS:-secret}\"",
                "password = 9876543.21",
            ),
            "connection[0].password",
        ),
        (
            GOOD.replace("password = \"${KONNEK_PASS:-secret}\"", "password = true"),
            "connection[0].password",
        ),
    ];
    for (text, path) in &secret_keys {
        let message = error_text(text);
        assert!(message.starts_with(&format!("{path}: ")), "{message}");
        assert!(message.contains("must be a string"), "{message}");
        assert!(
            !message.contains("987654321")
                && !message.contains("9876543.21")
                && !message.contains("true"),
            "{message}"
        );
    }
    let adapters = [
        "adapter = \"onebox\"\nbase_url = \"http://127.0.0.1:9\"\nemail = \"a@b.c\"\npassword = 987654321\nsite_id = \"1\"\nconnection_id = 1\n",
        "adapter = \"chatwoot\"\nbase_url = \"http://127.0.0.1:9\"\napi_access_token = 987654321\naccount_id = 1\n",
        "adapter = \"highq\"\nbase_url = \"http://127.0.0.1:9\"\nclient_id = \"c\"\nclient_secret = 987654321\nrefresh_token = \"r\"\n",
        "adapter = \"highq\"\nbase_url = \"http://127.0.0.1:9\"\nclient_id = \"c\"\nclient_secret = \"s\"\nrefresh_token = 987654321\n",
        "adapter = \"highq\"\nbase_url = \"http://127.0.0.1:9\"\nclient_id = \"c\"\nclient_secret = \"s\"\nrefresh_token = \"r\"\naccess_token = 987654321\n",
        "adapter = \"comm100\"\nbase_url = \"http://127.0.0.1:9\"\naccess_token = 987654321\nchannel_id = \"e\"\nsent_by_id = \"a\"\n",
    ];
    for table in adapters {
        let text = format!("[[connection]]\nname = \"c\"\n{table}");
        let message = error_text(&text);
        assert!(!message.contains("987654321"), "{message}");
        assert!(message.contains("must be a string"), "{message}");
    }
}

#[test]
fn a_broken_substitution_in_a_secret_is_not_echoed() {
    for password in ["hunter2${KONNEK", "hunter2${not a name}"] {
        let text = GOOD.replace("${KONNEK_PASS:-secret}", password);
        let message = error_text(&text);
        assert!(message.starts_with("connection[0].password: "), "{message}");
        assert!(
            !message.contains("hunter2") && !message.contains("not a name"),
            "{message}"
        );
    }
}

#[test]
fn the_lease_must_hold_a_token_call_a_send_and_the_outcome_write() {
    // The defaults (15 s calls, a 60 s lease) pass; the shortest lease for
    // them is 51 s.
    let defaults = parse("").expect("defaults are valid");
    assert_eq!(defaults.worker.sending_lease, Duration::from_secs(60));
    let with = |lease: &str| {
        GOOD.replace("http_timeout = \"2s\"", "http_timeout = \"15s\"")
            .replace(
                "sending_lease = \"10s\"",
                &format!("sending_lease = \"{lease}\""),
            )
    };
    assert!(parse(&with("51s")).is_ok());
    match parse(&with("50s")) {
        Err(ConfigError::Key { path, message }) => {
            assert_eq!(path, "worker.sending_lease");
            assert!(message.contains("at least 51s"), "{message}");
            assert!(message.contains("http_timeout"), "{message}");
            assert!(message.contains("twice"), "says why: {message}");
        }
        other => panic!("a 50 s lease for 15 s calls: {other:?}"),
    }
}

#[test]
fn the_secrets_key_is_checked_overridden_and_never_shown() {
    let key = crate::secrets::Key::generate();
    let with = |table: &str| Config::parse(table, &|_| None);
    let config = with(&format!(
        "[secrets]\nkey = \"{key}\"\nold_keys = [\"{key}\"]"
    ))
    .unwrap();
    assert!(config.secrets.keys.current().is_some());
    match with("[secrets]\nkey = \"hunter2hunter2\"") {
        Err(ConfigError::Key { path, message }) => {
            assert_eq!(path, "secrets.key");
            assert!(!message.contains("hunter2"), "{message}");
            assert!(message.contains("herald secrets new-key"), "{message}");
        }
        other => panic!("a short key: {other:?}"),
    }
    match with("[secrets]\nold_keys = [\"nope\"]") {
        Err(ConfigError::Key { path, .. }) => assert_eq!(path, "secrets.old_keys[0]"),
        other => panic!("a bad old key: {other:?}"),
    }
    let env = |name: &str| (name == "HERALD_SECRETS_KEY").then(|| key.clone());
    let config = Config::parse("", &env).unwrap();
    assert!(config.secrets.keys.current().is_some());
    // Needed only where a connection keeps sealed credentials.
    assert!(parse("").unwrap().require_secrets_key().is_ok());
}

#[test]
fn the_ca_files_come_from_the_file_or_the_environment() {
    let config = parse("[database]\nca_file = \"/etc/db-ca.pem\"").unwrap();
    assert_eq!(
        config.database.ca_file.as_deref(),
        Some(Path::new("/etc/db-ca.pem"))
    );
    assert_eq!(config.amqp.ca_file, None);
    let env = |name: &str| match name {
        "HERALD_DATABASE_CA_FILE" => Some("/a.pem".to_owned()),
        "HERALD_AMQP_CA_FILE" => Some("/b.pem".to_owned()),
        _ => None,
    };
    let config = Config::parse("", &env).unwrap();
    assert_eq!(
        config.database.ca_file.as_deref(),
        Some(Path::new("/a.pem"))
    );
    assert_eq!(config.amqp.ca_file.as_deref(), Some(Path::new("/b.pem")));
}

#[test]
fn a_printed_configuration_holds_no_password() {
    let env = |name: &str| match name {
        "HERALD_DATABASE_URL" => Some("postgres://herald:db-s3cret@db:5432/herald".to_owned()),
        "HERALD_AMQP_URL" => Some("amqps://guest:mq-s3cret@mq:5671/%2f".to_owned()),
        "HERALD_ADMIN_TOKEN" => Some("admin-s3cret".to_owned()),
        _ => None,
    };
    let config = Config::parse("[http]\nadmin_token = \"${HERALD_ADMIN_TOKEN}\"", &env).unwrap();
    let printed = format!("{config:?}");
    for secret in ["db-s3cret", "mq-s3cret", "admin-s3cret"] {
        assert!(!printed.contains(secret), "{printed}");
    }
    assert!(
        printed.contains("postgres://herald@db:5432/herald"),
        "{printed}"
    );
}
