//! A status callback's body, as Konnek's and as Chatwoot's push (the first
//! byte picks which): read or refused as malformed, never a panic.
#![no_main]

use herald::adapters::callback::parse_as;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let [pick, body @ ..] = bytes else {
        return;
    };
    let adapter = if pick % 2 == 0 { "konnek" } else { "chatwoot" };
    let _ = parse_as(adapter, body);
});
