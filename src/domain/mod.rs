//! The pure core of herald: no IO, no clock of its own, no network.
//!
//! - [`status`]: the delivery state machine and its legal transitions.
//! - [`provider_status`]: the providers' -3..3 status scale, which only moves forward.
//! - [`message`]: the validated message a `send` command carries.
//! - [`command`]: the three commands (`send`, `resend`, `cancel`) as domain values.
//! - [`retry`]: when to try again, and when to give up.

pub mod command;
pub mod message;
pub mod provider_status;
pub mod retry;
pub mod status;

pub use command::{CancelCommand, Command, GroupRef, ResendCommand, SendCommand};
pub use message::{Message, MessageKind};
pub use provider_status::ProviderStatus;
pub use retry::{RetryDecision, RetryPolicy};
pub use status::{DeliveryEvent, DeliveryStatus, InvalidTransition};
