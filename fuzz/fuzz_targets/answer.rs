//! A provider's answer to herald, for every adapter's readings: the first
//! byte picks the reading, the next two the HTTP status, the next one a
//! `Retry-After`, the rest is the body. Every answer is classified, and none
//! outside 2xx reads as a success.
#![no_main]

use herald::adapters::readers::{READERS, classify};
use libfuzzer_sys::fuzz_target;
use std::time::Duration;

fuzz_target!(|bytes: &[u8]| {
    let [pick, high, low, wait, body @ ..] = bytes else {
        return;
    };
    let index = usize::from(*pick) % READERS.len();
    let status = u16::from_be_bytes([*high, *low]);
    let wait = (*wait > 0).then(|| Duration::from_secs(u64::from(*wait)));
    let class = classify(index, status, wait, body);
    if !(200..300).contains(&status) {
        assert!(
            class.is_some(),
            "{} read status {status} as a success",
            READERS[index].0
        );
    }
});
