//! The demo's five connections (one per provider, all against the one
//! simulator), its sample commands, and the faults scripted for them.
//!
//! Sample `i` goes to provider `i % 5`; `j = i / 5` numbers it within its
//! provider, and its fault depends on `j`, so every provider meets the
//! same mix: retries (503, 502 then 503, 429 with `Retry-After: 1`), a
//! permanent refusal, and for OneBox and HighQ a refused token that is
//! renewed. OneBox's quota closes halfway (see [`onebox_quota`]).

use crate::config::{
    AdapterSettings, ChatwootSettings, Comm100Settings, ConnectionConfig, HighqSettings,
    KonnekSettings, OneboxSettings,
};
use crate::domain::RetryPolicy;
use crate::tools::simulator::Step;
use serde_json::{Value, json};
use std::time::Duration;
use uuid::Uuid;

pub const KONNEK: &str = "demo-konnek";
pub const ONEBOX: &str = "demo-onebox";
pub const CHATWOOT: &str = "demo-chatwoot";
pub const HIGHQ: &str = "demo-highq";
pub const COMM100: &str = "demo-comm100";
/// In the order of `i % 5`.
pub const CONNECTIONS: [&str; 5] = [KONNEK, ONEBOX, CHATWOOT, HIGHQ, COMM100];

/// How long OneBox's quota refusal pauses `demo-onebox`: short, so that the
/// demo sees the pause end.
pub const QUOTA_PAUSE: Duration = Duration::from_secs(2);

/// The agent Comm100 messages are sent as.
const COMM100_AGENT: &str = "902f53f4-4acc-4103-8e85-fd20e7678edd";

fn connection(name: &str, base_url: String, retry: &RetryPolicy) -> ConnectionConfig {
    ConnectionConfig {
        name: name.into(),
        base_url,
        callback_token: None,
        retry: retry.clone(),
        limits: crate::domain::Limits::default(),
        settings: AdapterSettings::Konnek(KonnekSettings {
            channel: "whatsapp".into(),
            client_id: "demo".into(),
            username: "sim-user".into(),
            password: "sim-pass".into(),
        }),
    }
}

/// The five connections, with the simulator's credentials. HighQ starts
/// from `highq_refresh_token`, which the simulator of this run accepts.
pub fn connections(
    sim_url: &str,
    retry: &RetryPolicy,
    highq_refresh_token: &str,
) -> Vec<ConnectionConfig> {
    let mut onebox = connection(ONEBOX, sim_url.into(), retry);
    onebox.settings = AdapterSettings::Onebox(OneboxSettings {
        email: "sim@onebox.example".into(),
        password: "sim-pass".into(),
        site_id: "169".into(),
        connection_id: 583,
    });
    onebox.limits.quota_pause = QUOTA_PAUSE;
    let mut chatwoot = connection(CHATWOOT, sim_url.into(), retry);
    chatwoot.settings = AdapterSettings::Chatwoot(ChatwootSettings {
        api_access_token: "sim-token".into(),
        account_id: 1,
    });
    let mut highq = connection(HIGHQ, format!("{sim_url}/demo-instance"), retry);
    highq.settings = AdapterSettings::Highq(HighqSettings {
        client_id: "sim-client".into(),
        client_secret: "sim-secret".into(),
        refresh_token: highq_refresh_token.into(),
        access_token: None,
    });
    let mut comm100 = connection(COMM100, sim_url.into(), retry);
    comm100.settings = AdapterSettings::Comm100(Comm100Settings {
        access_token: "sim-comm100-token".into(),
        site_id: None,
        channel_id: "Email".into(),
        sent_by_id: COMM100_AGENT.into(),
        sent_by_type: "agent".into(),
    });
    vec![
        connection(KONNEK, sim_url.into(), retry),
        onebox,
        chatwoot,
        highq,
        comm100,
    ]
}

/// One sample command.
pub struct Sample {
    pub id: Uuid,
    /// What the simulator keys its scripts by for this provider.
    pub recipient: String,
    pub command: Value,
}

pub fn sample(i: usize) -> Sample {
    let id = Uuid::new_v4();
    let connection = CONNECTIONS[i % 5];
    let (recipient, message) = match connection {
        KONNEK => {
            let to = format!("62811{i:07}");
            (to.clone(), konnek_message(i, &to))
        }
        ONEBOX => {
            let to = format!("38996{i:07}");
            let message = json!({"from": "469218373611012", "to": to, "method": "DIRECT",
                "conversation_id": (200_000 + i).to_string(), "subject": "Order update",
                "text": format!("Your order #{i} has shipped")});
            (to, message)
        }
        CHATWOOT => {
            let conversation = (10_000 + i).to_string();
            let message = json!({"to": format!("contact-{i}"), "conversation_id": conversation,
                "text": format!("Your ticket #{i} was answered")});
            (conversation, message)
        }
        HIGHQ => {
            let user = (70_000 + i).to_string();
            let message =
                json!({"to": user, "html": format!("<p>Matter {i}: the draft is ready</p>")});
            (user, message)
        }
        _ => {
            let ticket = (30_000 + i).to_string();
            let message = json!({"to": format!("customer-{i}@example.com"), "conversation_id": ticket,
                "text": format!("Your ticket {i} is being handled")});
            (ticket, message)
        }
    };
    let command = json!({"type": "send", "id": id, "connection": connection, "message": message});
    Sample {
        id,
        recipient,
        command,
    }
}

fn konnek_message(i: usize, to: &str) -> Value {
    match (i / 5) % 4 {
        0 => json!({"to": to, "text": format!("Your order #{i} has shipped"), "kind": "text"}),
        1 => json!({"to": to, "text": "Your invoice", "kind": "document",
                    "media": {"url": format!("https://files.example/invoice-{i}.pdf"), "name": "invoice.pdf"}}),
        2 => {
            json!({"to": to, "kind": "location", "location": {"latitude": -6.2, "longitude": 106.8}})
        }
        _ => json!({"to": to, "text": "Was this helpful?", "kind": "buttons",
                    "buttons": [{"key": "yes", "title": "Yes"}, {"key": "no", "title": "No"}]}),
    }
}

fn http(status: u16, retry_after: Option<u64>) -> Step {
    Step::Http {
        status,
        retry_after,
    }
}

fn refusal(code: u16, message: &str) -> Step {
    Step::MetaFalse {
        code,
        message: message.into(),
    }
}

/// The faults scripted for sample `i`, if any.
pub fn faults(i: usize) -> Option<Vec<Step>> {
    let connection = CONNECTIONS[i % 5];
    let j = i / 5;
    match j % 20 {
        3 => return Some(vec![http(503, None)]),
        7 => return Some(vec![http(502, None), http(503, None)]),
        11 => return Some(vec![http(429, Some(1))]),
        17 if j % 40 == 17 => return Some(vec![refusal(400, "recipient not reachable")]),
        _ => {}
    }
    // A token refused once: the adapter renews it and repeats the call in
    // the same attempt.
    match (connection, j % 50) {
        (ONEBOX, 5) => Some(vec![refusal(401, "Expired token")]),
        (HIGHQ, 5) => Some(vec![refusal(403, "Access denied")]),
        _ => None,
    }
}

/// How many messages OneBox accepts before its quota closes: half of the
/// demo's OneBox messages (none closes for fewer than two).
pub fn onebox_quota(count: usize) -> Option<u64> {
    let onebox = (0..count).filter(|i| CONNECTIONS[i % 5] == ONEBOX).count();
    (onebox >= 2).then_some((onebox / 2) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_provider_meets_retries_a_refusal_and_the_tokens_a_renewal() {
        let faulted = |connection: &str, step: fn(&Step) -> bool| {
            (0..1000)
                .filter(|i| CONNECTIONS[i % 5] == connection)
                .filter_map(faults)
                .any(|steps| steps.iter().any(step))
        };
        for connection in CONNECTIONS {
            assert!(faulted(connection, |s| matches!(
                s,
                Step::Http { status: 503, .. }
            )));
            assert!(faulted(connection, |s| matches!(
                s,
                Step::Http { status: 429, .. }
            )));
            assert!(faulted(connection, |s| matches!(
                s,
                Step::MetaFalse { code: 400, .. }
            )));
        }
        assert!(faulted(ONEBOX, |s| matches!(
            s,
            Step::MetaFalse { code: 401, .. }
        )));
        assert!(faulted(HIGHQ, |s| matches!(
            s,
            Step::MetaFalse { code: 403, .. }
        )));
        assert_eq!(onebox_quota(2000), Some(200));
        assert_eq!(onebox_quota(5), None);
    }

    #[test]
    fn samples_are_valid_commands_for_their_connections() {
        for i in 0..10 {
            let sample = sample(i);
            let body = sample.command.to_string();
            let parsed =
                crate::domain::Command::parse(body.as_bytes(), |name| CONNECTIONS.contains(&name));
            assert!(parsed.is_ok(), "{i}: {body}");
            assert_eq!(sample.command["connection"], CONNECTIONS[i % 5]);
        }
    }
}
