//! The send gate (the rate's slot) against the OneBox twin, whose token
//! comes first: the gate is passed after the token is fetched, right
//! before each message request, never before the token's wait.

use super::tests::spawn;
use super::*;
use crate::adapters::onebox::OneboxAdapter;
use crate::adapters::{ChannelAdapter, Outbound, ProviderError, SendGate, through_gate};
use crate::config::OneboxSettings;
use crate::domain::Message;
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

/// A gate that notes when it was passed, and how many tokens the twin had
/// issued by then.
struct Noting {
    sim: SimHandle,
    passed: Mutex<Vec<(DateTime<Utc>, u64)>>,
}

impl SendGate for Noting {
    fn pass(&self) -> BoxFuture<'_, Result<(), ProviderError>> {
        Box::pin(async move {
            let noted = (Utc::now(), self.sim.onebox_authentications());
            self.passed.lock().expect("not poisoned").push(noted);
            Ok(())
        })
    }
}

fn message(to: &str) -> Message {
    serde_json::from_value(
        json!({"from": "469218373611012", "to": to, "method": "DIRECT",
        "conversation_id": "222536", "text": "hi"}),
    )
    .expect("message")
}

async fn send(onebox: &OneboxAdapter, gate: &Arc<Noting>, to: &str) {
    let message = message(to);
    let outbound = Outbound {
        delivery_id: Uuid::new_v4(),
        message: &message,
        attempt: 1,
        resends: 0,
        remote_id: None,
        group: None,
    };
    let gate = Some(gate.clone() as Arc<dyn SendGate>);
    through_gate(gate, onebox.send(outbound))
        .await
        .expect("sent");
}

/// Each message request's arrival, after the gate's passing it follows.
fn gaps(sim: &SimHandle, to: &str, passed: &[(DateTime<Utc>, u64)]) -> Vec<Duration> {
    let arrived: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.provider == "onebox" && r.body["To"] == to)
        .map(|r| r.at)
        .collect();
    assert_eq!(
        arrived.len(),
        passed.len(),
        "one passing per message request"
    );
    arrived
        .iter()
        .zip(passed)
        .map(|(at, (gate, _))| (*at - *gate).to_std().expect("after the gate"))
        .collect()
}

#[tokio::test]
async fn the_gate_is_passed_after_the_token_and_right_before_each_message_request() {
    let sim = spawn().await;
    // Every answer, the token's too, takes 300 ms.
    sim.set_latency(Duration::from_millis(300));
    let settings = OneboxSettings {
        email: "sim@onebox.example".into(),
        password: "sim-pass".into(),
        site_id: "169".into(),
        connection_id: 583,
    };
    let onebox = OneboxAdapter::new(&sim.base_url(), settings, reqwest::Client::new());
    let gate = Arc::new(Noting {
        sim: sim.clone(),
        passed: Mutex::new(Vec::new()),
    });
    // A first send fetches the token, then passes the gate.
    send(&onebox, &gate, "2001").await;
    let first = gate.passed.lock().expect("not poisoned").clone();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].1, 1, "the token came before the gate");
    // An expired token: refused, renewed, repeated; each message request
    // passes the gate, the repeat after the renewal.
    sim.expire_onebox_tokens();
    send(&onebox, &gate, "2002").await;
    let passed = gate.passed.lock().expect("not poisoned").clone();
    assert_eq!(passed.len(), 3);
    assert_eq!((passed[1].1, passed[2].1), (1, 2), "renewed between them");
    let mut all = gaps(&sim, "2001", &first);
    all.extend(gaps(&sim, "2002", &passed[1..]));
    for gap in all {
        assert!(
            gap < Duration::from_millis(100),
            "no token's wait between the gate and its request: {gap:?}"
        );
    }
    sim.shutdown();
}
