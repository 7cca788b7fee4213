//! The pure core of herald: no IO, no clock of its own, no network. Every
//! decision about a delivery is made here, as a function of what happened
//! and the time; the worker and storage carry them out.
//!
//! The state machine:
//! - [`status`]: the delivery states and the one statement of their legal
//!   transitions; every outcome below is a [`status::transition`].
//! - [`reasons`]: the fixed words beside the state: why a delivery waits,
//!   what an attempt came to, the fixed reasons a delivery fails for.
//! - [`outcome`]: where a claimed delivery goes next, and the call it keeps.
//!
//! The decisions, in the order a delivery meets them:
//! - [`accept`]: the state an accepted `send` starts in.
//! - [`admit`]: whether a claimed delivery is called now, or waits or
//!   fails without a call (the place every limit asks).
//! - [`decide`]: what a provider's answer means: success, retry, deferral,
//!   failure ([`call`] has the answer's classes).
//! - [`lost`]: what a claim whose worker was lost becomes.
//! - [`retry`]: when to try again, and when to give up.
//! - [`budget`]: how a claim's sending lease is shared between its calls
//!   and its outcome's write, and whether a call may still start.
//! - [`limits`] and [`window`]: a connection's limits, its sending window,
//!   and how long a provider's quota refusal pauses it; [`pauses`]: the
//!   pauses as one worker knows them.
//! - [`rate`]: a connection's rate as send slots (the GCRA, a run of slots
//!   reserved at once, when a slot may be used); [`slots`]: the slots one
//!   worker holds.
//!
//! What the commands carry:
//! - [`command`]: the three commands (`send`, `resend`, `cancel`) as domain values.
//! - [`message`]: the validated message a `send` command carries.
//! - [`provider_status`]: the providers' -3..3 status scale, which only moves forward.
//!
//! What operators ask for:
//! - [`filter`]: the filters and the cursor of `herald list`, the bulk
//!   resend and the admin API, parsed from their text.

pub mod accept;
pub mod admit;
pub mod budget;
pub mod call;
pub mod command;
pub mod decide;
pub mod filter;
pub mod group;
pub mod limits;
pub mod lost;
pub mod message;
pub mod outcome;
pub mod pauses;
pub mod provider_status;
pub mod rate;
pub mod reasons;
pub mod retry;
pub mod slots;
pub mod status;
pub mod window;

#[cfg(test)]
mod machine_tests;

pub use command::{CancelCommand, Command, GroupRef, Requester, ResendCommand, SendCommand};
pub use limits::Limits;
pub use message::{Message, MessageKind};
pub use outcome::{AttemptRecord, Outcome};
pub use provider_status::ProviderStatus;
pub use reasons::{Actor, AttemptOutcome, DeadLetterAction, EventKind, FailReason, WaitReason};
pub use retry::{RetryDecision, RetryPolicy};
pub use status::{DeliveryEvent, DeliveryStatus, InvalidTransition};
