//! HighQ's pair is sealed at rest: what the table holds, a rotation of the
//! key, a wrong key, and the rows a version before sealing left in plain
//! text.

use crate::helpers::*;
use herald::secrets::{Key, Keys};
use herald::storage::Store;
use serde_json::json;
use sqlx::Row;
use uuid::Uuid;

/// Every text of the connection's row, as PostgreSQL holds it.
async fn raw_row(app: &TestApp, connection: &str) -> String {
    let row = sqlx::query(
        "SELECT coalesce(access_token, '') || ' ' || refresh_token || ' ' || refresh_digest \
             || ' ' || seeded_from || ' ' || array_to_string(seeded, ' ') AS t \
         FROM connection_tokens WHERE connection = $1",
    )
    .bind(connection)
    .fetch_one(&app.store.pool)
    .await
    .expect("the row");
    row.get("t")
}

fn keys(current: &str, old: &[&str]) -> Keys {
    let parse = |k: &str| Key::parse(k).expect("a key");
    Keys::new(Some(parse(current)), old.iter().map(|k| parse(k)).collect())
}

#[tokio::test]
async fn the_stored_pair_is_sealed_and_a_refresh_seals_the_new_one() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    app.publish(&json!({"type": "send", "id": id, "connection": HIGHQ,
        "message": {"to": "4101", "html": "<p>hi</p>"}}))
        .await;
    app.wait_for_status(id, "success").await;
    let raw = raw_row(&app, HIGHQ).await;
    for secret in ["sim-refresh-0", "hq-rt-1", "hq-at-1"] {
        assert!(!raw.contains(secret), "{secret} in plain text: {raw}");
    }
    assert!(raw.contains("hrld1:"), "{raw}");
    let stored = app.store.stored_token(HIGHQ).await.unwrap().unwrap();
    assert_eq!(stored.refresh_token, "hq-rt-1");
    assert_eq!(stored.access_token.as_deref(), Some("hq-at-1"));
}

#[tokio::test]
async fn a_rotated_key_opens_old_rows_and_rotate_seals_them_again() {
    let app = spawn_app_without_worker().await;
    let old_key = Key::generate();
    let new_key = Key::generate();
    let before = app.store.clone().with_keys(keys(&old_key, &[]));
    before
        .load_token("hq-rot", Some("at-0"), "rt-0")
        .await
        .unwrap();

    // The new key alone does not open it, and says what to do.
    let without = app.store.clone().with_keys(keys(&new_key, &[]));
    let err = without
        .stored_token("hq-rot")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("old_keys"), "{err}");
    let wrong = herald::secrets::digest("unused");
    assert!(!err.contains(&wrong));

    // With the old key among old_keys: read, and rotated by the command.
    let app_config = app.config_toml.replace(
        &format!("key = \"{TEST_KEY}\""),
        &format!("key = \"{new_key}\"\nold_keys = [\"{old_key}\"]"),
    );
    let path = std::env::temp_dir().join(format!("herald-rot-{}.toml", Uuid::new_v4()));
    std::fs::write(&path, &app_config).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["--config", path.to_str().unwrap(), "secrets", "rotate"])
        .output()
        .expect("herald runs");
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("sealed 1 stored credential row(s) again"),
        "{stdout}"
    );
    // Now the new key alone opens it.
    let token = without.stored_token("hq-rot").await.unwrap().unwrap();
    assert_eq!(token.refresh_token, "rt-0");
    assert_eq!(token.access_token.as_deref(), Some("at-0"));
    let raw = raw_row(&app, "hq-rot").await;
    let new_id = Key::parse(&new_key).unwrap().id().to_owned();
    assert!(raw.contains(&format!("hrld1:{new_id}:")), "{raw}");
}

#[tokio::test]
async fn a_worker_with_a_wrong_key_says_so_and_sends_nothing() {
    let mut app = spawn_app_with(Options {
        start_worker: false,
        max_attempts: 1,
        ..Options::default()
    })
    .await;
    // The row was sealed by a worker with another key.
    let other = app.store.clone().with_keys(keys(&Key::generate(), &[]));
    other
        .load_token(HIGHQ, None, "sim-refresh-0")
        .await
        .unwrap();
    app.start_worker().await;
    let id = Uuid::new_v4();
    app.publish(&json!({"type": "send", "id": id, "connection": HIGHQ,
        "message": {"to": "4201", "html": "<p>hi</p>"}}))
        .await;
    let d = app.wait_for_status(id, "failed").await;
    let reason = d.fail_reason.unwrap_or_default();
    assert!(
        reason.contains("neither [secrets] key nor one of [secrets] old_keys"),
        "{reason}"
    );
    assert_eq!(
        app.sim.highq_refreshes(),
        (0, 0),
        "no call with a pair it cannot read"
    );
}

#[tokio::test]
async fn a_worker_without_a_key_for_highq_refuses_to_start_and_says_what_to_do() {
    let app = spawn_app_without_worker().await;
    let config = app
        .config_toml
        .replace(&format!("key = \"{TEST_KEY}\""), "key = \"\"");
    let path = std::env::temp_dir().join(format!("herald-nokey-{}.toml", Uuid::new_v4()));
    std::fs::write(&path, &config).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["--config", path.to_str().unwrap(), "worker"])
        .env_remove("HERALD_SECRETS_KEY")
        .output()
        .expect("herald runs");
    let _ = std::fs::remove_file(&path);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("secrets.key: must be set"), "{stderr}");
    assert!(stderr.contains("herald secrets new-key"), "{stderr}");
}

/// A database migrated up to the version before sealing, with a plain pair
/// in it, then migrated: the seeds become digests, the worker reads the
/// pair and `herald setup` seals it.
#[tokio::test]
async fn plain_rows_of_before_sealing_are_migrated_and_sealed() {
    let app = spawn_app_without_worker().await;
    let db = format!("herald_test_{}", Uuid::new_v4().simple());
    app.run_sql(&[format!("CREATE DATABASE {db}")]).await;
    let (base, _) = app.config.database.url.rsplit_once('/').unwrap();
    let mut database = app.config.database.clone();
    database.url = format!("{base}/{db}");
    let store = Store::connect(&database).await.unwrap();
    let before_sealing = 20261202170100;
    herald::storage::MIGRATOR
        .run_to(before_sealing, &store.pool)
        .await
        .expect("old migrations");
    sqlx::query(
        "INSERT INTO connection_tokens (connection, access_token, refresh_token, seeded_from, seeded) \
         VALUES ($1, 'plain-at', 'plain-rt', 'plain-seed', ARRAY['plain-seed'])",
    )
    .bind(HIGHQ)
    .execute(&store.pool)
    .await
    .unwrap();
    store.migrate().await.expect("the sealing migration");
    let seeds: String = sqlx::query_scalar(
        "SELECT seeded_from || ' ' || array_to_string(seeded, ' ') || ' ' || refresh_digest \
         FROM connection_tokens",
    )
    .fetch_one(&store.pool)
    .await
    .unwrap();
    assert!(!seeds.contains("plain"), "{seeds}");
    assert!(seeds.contains(&herald::secrets::digest("plain-seed")));
    assert!(seeds.contains(&herald::secrets::digest("plain-rt")));

    // Read as it is before it is sealed.
    let sealed = store.clone().with_keys(keys(TEST_KEY, &[]));
    let token = sealed.stored_token(HIGHQ).await.unwrap().unwrap();
    assert_eq!(token.refresh_token, "plain-rt");
    // setup (with a key) seals the configured connections' rows.
    let mut config = app.config.clone();
    config.database = database;
    herald::cli::setup(&config).await.expect("setup");
    let raw: String =
        sqlx::query_scalar("SELECT access_token || refresh_token FROM connection_tokens")
            .fetch_one(&store.pool)
            .await
            .unwrap();
    assert!(!raw.contains("plain") && raw.starts_with("hrld1:"), "{raw}");
    let token = sealed.stored_token(HIGHQ).await.unwrap().unwrap();
    assert_eq!(
        (token.access_token.as_deref(), token.refresh_token.as_str()),
        (Some("plain-at"), "plain-rt")
    );
    // The configured seed the row came from still counts as seen: the
    // worker does not start the pair again from it.
    store.pool.close().await;
}
