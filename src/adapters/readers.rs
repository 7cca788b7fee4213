//! Every reading herald makes of a provider's answer, by name, for the
//! fuzz targets (`fuzz/`), which feed them any status and any bytes. Each
//! reading must classify whatever comes back, never panic (the property
//! tests of `answer_props` hold them to it in `cargo test`).

use super::{ErrorClass, ProviderError};
use std::time::Duration;

/// One reading: an HTTP status, the `Retry-After` herald parsed, the body;
/// `Ok` when the answer reads as a success.
pub type Reader = fn(u16, Option<Duration>, &[u8]) -> Result<(), ProviderError>;

/// Each adapter's answers to a message, and to a token request where it
/// has one.
pub const READERS: [(&str, Reader); 7] = [
    ("onebox", |s, w, b| {
        super::onebox::answer::interpret(s, w, b).map(drop)
    }),
    ("onebox token", |s, w, b| {
        super::onebox::answer::interpret_token(s, w, b).map(drop)
    }),
    ("chatwoot", |s, w, b| {
        super::chatwoot::interpret(s, w, b).map(drop)
    }),
    ("highq", |s, w, b| {
        super::highq::answer::interpret(s, w, b).map(drop)
    }),
    ("highq token", |s, w, b| {
        super::highq::answer::interpret_token(s, w, b).map(drop)
    }),
    ("konnek", |s, w, b| {
        super::konnek::answer::interpret(s, w, b).map(drop)
    }),
    ("comm100", |s, w, b| {
        super::comm100::interpret(s, w, b).map(drop)
    }),
];

/// Reads `body` with reader `index` (taken modulo their number): `None`
/// for a success, else the class the worker acts on.
pub fn classify(
    index: usize,
    status: u16,
    wait: Option<Duration>,
    body: &[u8],
) -> Option<ErrorClass> {
    let (_, read) = READERS[index % READERS.len()];
    read(status, wait, body).err().map(|e| e.class)
}
