//! herald's integration tests: a real PostgreSQL, a real RabbitMQ, the
//! provider simulator, and the worker in-process or as the real binary.

mod admin;
mod admin_actions;
mod audit;
mod bad_input;
mod broker;
mod bulk;
mod callbacks;
mod chatwoot;
mod cli;
mod comm100;
mod dead;
mod delivery;
mod deploy;
mod groups;
mod helpers;
mod highq;
mod lease;
mod lifecycle;
mod listing;
mod onebox;
mod operator;
mod overdue;
mod pauses;
mod poison;
mod proxy;
mod publishing;
mod quotas;
mod rates;
mod robustness;
mod soak;
mod storage;
mod windows;
