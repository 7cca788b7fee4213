//! A command as it comes off the queue: any bytes parse into a command or
//! a rejection with a reason, never a panic.
#![no_main]

use herald::domain::Command;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Err(rejection) = Command::parse(bytes, |name| name == "demo-onebox") {
        assert!(!rejection.reason.to_string().is_empty());
    }
});
