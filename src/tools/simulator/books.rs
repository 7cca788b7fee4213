//! The Chatwoot, Comm100 and HighQ twins' own state, and the switch and
//! record of Konnek's status callbacks: plain data that `state.rs` keeps
//! under the book's lock and the handlers read and write. OneBox's, the
//! largest, is `onebox_book.rs`.

use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Message ids the Chatwoot twin hands out.
#[derive(Debug)]
pub struct ChatwootBook {
    next_id: u64,
}

impl Default for ChatwootBook {
    fn default() -> Self {
        ChatwootBook { next_id: 1 }
    }
}

impl ChatwootBook {
    /// The id of the next message created.
    pub fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }
}

/// The messages the Comm100 twin holds, by id: what a resend acts on.
#[derive(Debug, Default)]
pub struct Comm100Book {
    messages: HashMap<Uuid, Value>,
    /// Resends served.
    pub resends: u64,
}

impl Comm100Book {
    /// The message with this id, as the twin last answered it.
    pub fn message(&self, id: &str) -> Option<Value> {
        let id = Uuid::parse_str(id).ok()?;
        self.messages.get(&id).cloned()
    }

    /// Holds `message` as the twin answers it, under its `id`.
    pub fn hold(&mut self, id: Uuid, message: Value) {
        self.messages.insert(id, message);
    }

    /// How many messages were created.
    pub fn created(&self) -> usize {
        self.messages.len()
    }
}

/// How long HighQ access tokens live by default (the document's default: 5 hours).
pub const DEFAULT_HIGHQ_TOKEN_LIFETIME: Duration = Duration::from_secs(5 * 3600);

/// The HighQ twin's tokens, counters and message ids.
#[derive(Debug)]
pub struct HighqBook {
    /// The one refresh token HighQ accepts now.
    pub refresh_token: String,
    access: HashMap<String, Instant>,
    pub lifetime: Duration,
    /// Refreshes served, and refused (an old or unknown refresh token).
    pub refreshes: u64,
    pub refused: u64,
    /// Answer XML whatever the `Accept` header says.
    pub xml: bool,
    /// How long the token endpoint waits before it answers a refresh it
    /// has already served (the new pair is issued, the old refresh token
    /// refused, from the moment the request arrives).
    pub token_delay: Duration,
    issued: u64,
    next_id: u64,
}

impl Default for HighqBook {
    fn default() -> Self {
        HighqBook::new("")
    }
}

impl HighqBook {
    /// Forgets the counters and the XML switch; tokens stay as they are.
    pub fn reset(&mut self) {
        self.refreshes = 0;
        self.refused = 0;
        self.xml = false;
        self.token_delay = Duration::ZERO;
    }

    pub fn new(refresh_token: &str) -> HighqBook {
        HighqBook {
            refresh_token: refresh_token.to_owned(),
            access: HashMap::new(),
            lifetime: DEFAULT_HIGHQ_TOKEN_LIFETIME,
            refreshes: 0,
            refused: 0,
            xml: false,
            token_delay: Duration::ZERO,
            issued: 0,
            next_id: 1,
        }
    }

    /// Serves a refresh: a new access token, valid for `lifetime`, which it
    /// returns, and a new refresh token that replaces the old one.
    pub fn refresh(&mut self) -> String {
        self.refreshes += 1;
        self.issued += 1;
        let access = format!("hq-at-{}", self.issued);
        self.refresh_token = format!("hq-rt-{}", self.issued);
        let until = Instant::now() + self.lifetime;
        self.access.insert(access.clone(), until);
        access
    }

    /// Every access token issued so far expires now.
    pub fn expire_tokens(&mut self) {
        let now = Instant::now();
        for until in self.access.values_mut() {
            *until = now;
        }
    }

    pub fn valid(&self, token: &str) -> bool {
        self.access
            .get(token)
            .is_some_and(|until| Instant::now() < *until)
    }

    /// The id of the next conversation created.
    pub fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }
}

/// Where and what to push after each accepted Konnek send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KonnekCallbacks {
    /// The receiver, e.g. herald's `http://.../v1/callbacks/{connection}`.
    pub url: String,
    /// Sent as `Authorization: Bearer <token>` when set.
    pub token: Option<String>,
    /// The statuses pushed, in this order (-3..3).
    pub statuses: Vec<i16>,
    /// The wait before each push.
    pub interval: Duration,
}

/// One push made: the message, the status, and the receiver's answer
/// (`None` when it could not be reached).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pushed {
    pub message_id: String,
    pub status: i16,
    pub answer: Option<u16>,
}

/// Konnek's status callbacks: the switch and the pushes made.
#[derive(Debug, Default)]
pub struct CallbackBook {
    pub target: Option<KonnekCallbacks>,
    pub pushed: Vec<Pushed>,
}
