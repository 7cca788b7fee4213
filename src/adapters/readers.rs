//! Every reading herald makes of a provider's answer, by name: the fuzz
//! targets (`fuzz/`) and the property tests feed them any status and any
//! bytes. Each reading must classify whatever comes back, never panic.

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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Bodies near what providers send: JSON with the fields they use,
    /// cut, mutated, or plain bytes.
    fn body() -> impl Strategy<Value = Vec<u8>> {
        let json = prop::collection::vec(
            prop_oneof![
                Just("{\"status\":".to_owned()),
                Just("\"success\"".to_owned()),
                Just("\"message_id\":\"m1\"".to_owned()),
                Just("{\"meta\":{\"code\":200},\"data\":{".to_owned()),
                Just("\"access_token\":\"t\",\"refresh_token\":\"r\"".to_owned()),
                Just("\"id\":1".to_owned()),
                Just("null".to_owned()),
                Just("[".to_owned()),
                Just("}".to_owned()),
                Just(",".to_owned()),
                "\\PC{0,8}",
            ],
            0..12,
        )
        .prop_map(|parts| parts.concat().into_bytes());
        prop_oneof![json, prop::collection::vec(any::<u8>(), 0..64)]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// Any status and any body is classified, and no answer outside
        /// 2xx reads as a success.
        #[test]
        fn every_answer_is_classified(
            index in 0..READERS.len(),
            status in prop_oneof![100u16..600, any::<u16>()],
            wait in proptest::option::of(0u64..100_000),
            body in body(),
        ) {
            let class = classify(index, status, wait.map(Duration::from_millis), &body);
            if !(200..300).contains(&status) {
                prop_assert!(class.is_some(), "{} read status {status} as a success", READERS[index].0);
            }
        }
    }
}
