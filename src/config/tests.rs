use super::*;

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
        LimitsConfig::default().quota_paused_until(now),
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

#[test]
fn the_lease_must_hold_a_token_call_a_send_and_the_outcome_write() {
    // The defaults (15 s calls, a 60 s lease) pass; the shortest lease for
    // them is 41 s.
    let defaults = parse("").expect("defaults are valid");
    assert_eq!(defaults.worker.sending_lease, Duration::from_secs(60));
    let with = |lease: &str| {
        GOOD.replace("http_timeout = \"2s\"", "http_timeout = \"15s\"")
            .replace(
                "sending_lease = \"10s\"",
                &format!("sending_lease = \"{lease}\""),
            )
    };
    assert!(parse(&with("41s")).is_ok());
    match parse(&with("40s")) {
        Err(ConfigError::Key { path, message }) => {
            assert_eq!(path, "worker.sending_lease");
            assert!(message.contains("at least 41s"), "{message}");
            assert!(message.contains("http_timeout"), "{message}");
            assert!(message.contains("twice"), "says why: {message}");
        }
        other => panic!("a 40 s lease for 15 s calls: {other:?}"),
    }
}
