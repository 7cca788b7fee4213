//! herald's integration tests: a real PostgreSQL, a real RabbitMQ, the
//! provider simulator, and the worker in-process or as the real binary.

mod bad_input;
mod cli;
mod delivery;
mod helpers;
mod lifecycle;
mod operator;
mod storage;
