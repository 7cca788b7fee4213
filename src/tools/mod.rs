//! The tools that ship beside the service as `herald` subcommands, kept
//! apart from its modules: nothing in the service imports them; only the
//! command line dispatches to them.
//!
//! - [`simulator`]: the providers' fake APIs with fault injection
//!   (`herald simulate`, and every integration test's providers).
//! - [`demo`]: the simulator, a worker and a batch of sample commands
//!   (`herald demo`).
//! - [`bench`](mod@bench): deliveries per second against the machine's ceiling
//!   (`herald bench`).
//! - [`soak`]: workers kept running for a long time at a steady rate
//!   with faults injected on a schedule, counting what was lost and sent
//!   twice (`herald soak`); it runs on the bench's machinery.

pub mod bench;
pub mod demo;
pub mod simulate;
pub mod simulator;
pub mod soak;
