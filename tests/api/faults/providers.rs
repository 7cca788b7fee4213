//! Providers that hang, answer slowly, reset the connection, answer
//! garbage or answer with many megabytes: every call ends within the
//! timeout, an answer is read up to its bound, the retries come at the
//! configured schedule (read from the attempt rows' times), and another
//! connection keeps delivering meanwhile.

use super::*;
use herald::storage::operator::AttemptView;
use herald::tools::simulator::Step;
use tokio::io::AsyncReadExt;

const TIMEOUT: Duration = Duration::from_secs(3);
/// How much later than the timeout a call may be seen to end: the timer
/// and the task run late on a loaded machine (a hang unbounded would last
/// the simulator's hour).
const SLACK: Duration = Duration::from_millis(1500);
/// The delay after the 1st and the 2nd failure (jitter is 0 in the tests).
const SCHEDULE: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(2)];
/// How late a retry may start after its due time: within the sweeper's
/// tick (250 ms) and a claim on a quiet machine; with the whole suite in
/// parallel on 2 cores, PostgreSQL's answers have been seen to take 8 s.
/// The schedule itself is checked exactly, on the due times written.
const LATE: Duration = Duration::from_secs(15);

/// A provider that reads the request and resets the connection.
async fn resetting_provider() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = [0u8; 1024];
            let _ = socket.read(&mut buf).await;
            // Dropped with a zero linger: an RST, not a FIN.
            let _ = socket.set_zero_linger();
        }
    });
    format!("http://{addr}")
}

/// A provider that answers 200 with a body of `bytes` bytes (a length it
/// announces), none of it JSON.
async fn huge_provider(bytes: usize) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let body = axum::body::Bytes::from(vec![b'x'; bytes]);
    let app = axum::Router::new().fallback(move || {
        let body = body.clone();
        async move { (axum::http::StatusCode::OK, body) }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    format!("http://{addr}")
}

fn took(a: &AttemptView) -> Duration {
    (a.finished_at - a.started_at)
        .to_std()
        .expect("ends after it starts")
}

/// Each retry was due at exactly its schedule's delay after the failure
/// before it (jitter is 0), and started at its due time, not earlier.
async fn assert_on_schedule(app: &TestApp, id: Uuid, attempts: &[AttemptView]) {
    for (k, pair) in attempts.windows(2).enumerate() {
        let due: chrono::DateTime<chrono::Utc> =
            sqlx::query_scalar("SELECT due FROM retry_due WHERE id = $1 AND attempts = $2")
                .bind(id)
                .bind(i32::try_from(k + 1).expect("an attempt"))
                .fetch_one(&app.store.pool)
                .await
                .expect("the retry's due time was written");
        let delay = (due - pair[0].finished_at).to_std().expect("due after");
        let scheduled = SCHEDULE[k.min(SCHEDULE.len() - 1)];
        let off = delay.abs_diff(scheduled);
        assert!(
            off <= Duration::from_millis(1),
            "{id}: retry {} due {delay:?} after the failure, scheduled at {scheduled:?}",
            k + 1
        );
        let waited = (pair[1].started_at - due).to_std();
        assert!(
            waited.is_ok_and(|late| late <= LATE),
            "{id}: retry {} started at {}, due at {due}",
            k + 1,
            pair[1].started_at
        );
    }
}

#[tokio::test]
async fn faulty_providers_are_bounded_retried_on_schedule_and_hold_up_no_other() {
    let reset_url = resetting_provider().await;
    let huge_url = huge_provider(8 << 20).await;
    let healthy = unique_connection("konnek-healthy");
    let table = |name: &str, url: &str| konnek_connection(name).replace("{sim_url}", url);
    let app = spawn_app_with(Options {
        max_attempts: 3,
        schedule: r#"["1s", "2s"]"#,
        http_timeout: "3s",
        extra_toml: table("konnek-reset", &reset_url)
            + &table("konnek-huge", &huge_url)
            + &konnek_connection(&healthy),
        ..Options::default()
    })
    .await;
    // Every retry's due time, as the outcome writes it.
    app.run_sql(&[
        "CREATE TABLE retry_due (id uuid, attempts int, due timestamptz)",
        "CREATE FUNCTION log_retry() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             INSERT INTO retry_due VALUES (NEW.id, NEW.attempts, NEW.next_attempt_at); \
             RETURN NULL; END $$",
        "CREATE TRIGGER log_retry AFTER UPDATE ON deliveries FOR EACH ROW \
             WHEN (NEW.status = 'waitForSending' AND NEW.wait_reason = 'retry') \
             EXECUTE FUNCTION log_retry()",
    ])
    .await;
    let hang = Step::Hang;
    let garbage = Step::Garbage;
    let busy = Step::Http {
        status: 503,
        retry_after: None,
    };
    let scripted: [(&str, Vec<Step>); 4] = [
        ("6281170001", vec![hang.clone(), hang.clone(), hang]),
        ("6281170002", vec![Step::Delay { millis: 1000 }]),
        ("6281170003", vec![garbage.clone(), garbage]),
        ("6281170004", vec![busy.clone(), busy]),
    ];
    let mut ids = Vec::new();
    for (to, steps) in scripted {
        app.sim.script(to, steps);
        let id = Uuid::new_v4();
        app.publish(&send(id, to)).await;
        ids.push(id);
    }
    let [hung, slow, garbled, busy] = [ids[0], ids[1], ids[2], ids[3]];
    let (reset, command) = send_to("konnek-reset", "6281170005");
    app.publish(&command).await;
    let (huge, command) = send_to("konnek-huge", "6281170006");
    app.publish(&command).await;

    // Another connection delivers while the hung calls hold their worker's
    // permits: many of its calls start and end within a hung call.
    let others = publish_sends(&app, &healthy, "6281171", 100).await;
    wait_all_success(&app, &others, 30).await;

    for (id, status) in [
        (hung, "failed"),
        (slow, "success"),
        (garbled, "success"),
        (busy, "success"),
        (reset, "failed"),
        (huge, "failed"),
    ] {
        let d = eventually(30, "the delivery to settle", || async {
            app.delivery(id).await.filter(|d| d.status == status)
        })
        .await;
        let attempts = app.attempts(id).await;
        let expected = if id == slow { 1 } else { 3 };
        assert_eq!(attempts.len(), expected, "{id}: {attempts:?}");
        assert_eq!(d.attempts as usize, expected);
        for a in &attempts {
            assert!(
                took(a) <= TIMEOUT + SLACK,
                "a call of {id} took {:?}",
                took(a)
            );
        }
        assert_on_schedule(&app, id, &attempts).await;
    }
    for a in app.attempts(hung).await {
        assert!(
            took(&a) >= TIMEOUT - Duration::from_millis(100),
            "cut by the timeout"
        );
        assert_eq!(a.outcome, "retryable");
        assert!(a.error.unwrap_or_default().contains("timed out"));
    }
    assert!(took(&app.attempts(slow).await[0]) >= Duration::from_millis(1000));
    let garbled_attempts = app.attempts(garbled).await;
    assert_eq!(
        outcomes(&garbled_attempts),
        [
            ("retryable".into(), Some(200)),
            ("retryable".into(), Some(200)),
            ("success".into(), Some(200))
        ]
    );
    for a in app.attempts(reset).await {
        assert_eq!((a.outcome.as_str(), a.http_status), ("retryable", None));
    }
    for a in app.attempts(huge).await {
        let error = a.error.unwrap_or_default();
        assert_eq!(
            (a.outcome.as_str(), a.http_status),
            ("retryable", Some(200))
        );
        assert!(error.contains("larger than 1 MiB"), "{error}");
    }
    let hung_spans: Vec<_> = app
        .attempts(hung)
        .await
        .into_iter()
        .map(|a| (a.started_at, a.finished_at))
        .collect();
    let calls = calls_by_id(&app.sim.calls(), &others);
    let within = calls
        .values()
        .flatten()
        .filter(|c| {
            hung_spans
                .iter()
                .any(|(start, end)| c.started >= *start && c.finished <= *end)
        })
        .count();
    assert!(
        within >= 10,
        "{within} of the other connection's calls were made while a call hung"
    );
    println!(
        "faults::providers: {within} of 100 calls of another connection made while a call hung"
    );
}
