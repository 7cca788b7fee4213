//! `herald dead list | replay | purge | history`: the commands herald or
//! RabbitMQ dead-lettered, read without taking them, replayed once fixed
//! upstream, or deleted; and the record of every replay and purge. `list`
//! needs only RabbitMQ (`[amqp]`); `replay` and `purge` record what they
//! do in PostgreSQL first (`dead_audit.rs`), and `history` reads it.

use super::dead_audit::Audit;
use super::{Failure, dead_history, dead_purge, dead_view};
use crate::config::{AmqpConfig, Config};
use crate::domain::{Actor, DeadLetterAction};
use crate::print::count;
use crate::queue::dead::letter::{self, HANDLE_LEN};
use crate::queue::dead::{DeadLetter, DeadQueue};
use crate::queue::{QueueError, redact};
use crate::storage::dead_actions::ActionStart;
use crate::storage::events::By;
use clap::Subcommand;
use std::path::Path;

#[derive(clap::Args, Debug)]
pub struct DeadArgs {
    #[command(subcommand)]
    pub command: DeadCommand,
}

#[derive(Subcommand, Debug)]
pub enum DeadCommand {
    /// Print the dead letters without taking them off the queue.
    ///
    /// Oldest first: a handle to name each by, when it was dead-lettered
    /// and why (herald's `x-herald-error`, or RabbitMQ's `x-death` reason
    /// for what it dead-lettered itself), the command's type and id where
    /// the body is readable, and the body's first characters. Each message
    /// is read and handed back to the queue in its order.
    List(ListArgs),
    /// Publish dead letters again, once what made them fail is fixed.
    ///
    /// For commands fixed upstream (e.g. the unknown connection was added
    /// to the configuration and the workers restarted). Each goes to the
    /// command exchange as it was, without the headers that say it is
    /// dead, counted in `x-herald-replayed`; it leaves the dead-letter
    /// queue only after the broker confirmed its new copy, so a failure in
    /// between leaves a copy, never a loss. One still bad is refused again
    /// by the worker and comes back to the dead-letter queue.
    ///
    /// Examples: `herald dead replay 3f9a0c12be47`, `herald dead replay --all --dry-run`.
    Replay(ReplayArgs),
    /// Delete the dead letters for good.
    ///
    /// Asks you to type their number first; `--yes` does not ask (scripts).
    /// Deletes the ones counted: any that arrive meanwhile stay.
    Purge(PurgeArgs),
    /// Print the record of every replay and purge, newest first.
    ///
    /// When, what, who (`--as`, or the admin API's operator), why
    /// (`--reason`), how many, and which dead letters (their handles;
    /// `--json` adds their ids and reasons). An action whose process died
    /// before it ended shows as unfinished. Needs only PostgreSQL.
    History(dead_history::HistoryArgs),
}

/// Who acts and why, for the record of a replay or purge.
#[derive(clap::Args, Debug)]
pub struct Why {
    /// Your name, for the record (`herald dead history` prints who did it).
    #[arg(long = "as", value_name = "NAME")]
    pub operator: Option<String>,
    /// Why, kept in the record.
    #[arg(long)]
    pub reason: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// Show at most N dead letters (the oldest).
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub limit: usize,
    /// Print a JSON array for scripts: one object per dead letter, with the
    /// whole reason, its time in RFC 3339, and who dead-lettered it.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// The dead letters to replay, by the handles `herald dead list` shows
    /// (12 hex digits). Copies of one command share a handle.
    #[arg(value_name = "HANDLE", conflicts_with = "all")]
    pub handles: Vec<String>,
    /// Replay every dead letter in the queue.
    #[arg(long)]
    pub all: bool,
    /// Print what would be replayed; publish and remove nothing (and
    /// record nothing).
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub why: Why,
}

#[derive(clap::Args, Debug)]
pub struct PurgeArgs {
    /// Delete without asking: for scripts, and wherever stdin is not a terminal.
    #[arg(long)]
    pub yes: bool,
    #[command(flatten)]
    pub why: Why,
}

pub async fn run(config: &Config, named: Option<&Path>, args: DeadArgs) -> Result<(), Failure> {
    match args.command {
        DeadCommand::List(args) => list(&config.amqp, args).await,
        DeadCommand::Replay(args) => replay(config, args).await,
        DeadCommand::Purge(args) => dead_purge::run(config, args).await,
        DeadCommand::History(args) => dead_history::run(config, named, args).await,
    }
}

/// What the record of an action says before it starts.
pub(super) fn start<'a>(
    action: DeadLetterAction,
    why: &'a Why,
    queue: &'a str,
    handles: Option<&'a [String]>,
    asked_count: Option<u32>,
) -> ActionStart<'a> {
    ActionStart {
        action,
        by: By {
            actor: Actor::Cli,
            operator: why.operator.as_deref(),
        },
        reason: why.reason.as_deref(),
        queue,
        handles,
        asked_count,
    }
}

/// A broker error as the operator can act on it.
pub(super) fn failed(amqp: &AmqpConfig, doing: &str, err: QueueError) -> Failure {
    let hint = match &err {
        QueueError::NoQueue(name) => format!(
            "RabbitMQ at {} has no queue {name:?}: `herald setup` with this configuration \
             declares it, or --config names the one whose [amqp] has your dead-letter queue",
            redact(&amqp.url)
        ),
        _ => format!("{doing} failed: {}", crate::error_chain(&err)),
    };
    Failure::Runtime(anyhow::anyhow!(hint))
}

pub(super) async fn open(amqp: &AmqpConfig) -> Result<DeadQueue, Failure> {
    DeadQueue::open(amqp).await.map_err(|err| {
        Failure::Runtime(anyhow::anyhow!(
            "cannot connect to RabbitMQ at {} ({}): is it running? Its address is \
             [amqp] url in herald.toml, or HERALD_AMQP_URL",
            redact(&amqp.url),
            crate::error_chain(&err)
        ))
    })
}

async fn list(amqp: &AmqpConfig, args: ListArgs) -> Result<(), Failure> {
    if args.limit == 0 {
        return Err(Failure::Usage("--limit must be at least 1".into()));
    }
    let queue = open(amqp).await?;
    let listing = queue.list(args.limit).await;
    let name = queue.name().to_owned();
    queue.close().await;
    let listing = listing.map_err(|err| failed(amqp, "reading the dead letters", err))?;
    if args.json {
        let text = serde_json::to_string_pretty(&listing.letters)
            .map_err(|err| Failure::Runtime(err.into()))?;
        println!("{text}");
    } else {
        println!("{}", dead_view::list(&listing, &name, args.limit));
    }
    Ok(())
}

/// A handle as typed: 12 hex digits, any case.
fn parse_handle(text: &str) -> Result<String, Failure> {
    letter::parse_handle(text).ok_or_else(|| Failure::Usage(format!(
        "{text:?} is not a dead letter's handle ({HANDLE_LEN} hex digits, as `herald dead list` shows them)"
    )))
}

async fn replay(config: &Config, args: ReplayArgs) -> Result<(), Failure> {
    let amqp = &config.amqp;
    if args.handles.is_empty() && !args.all {
        return Err(Failure::Usage(
            "name the dead letters to replay by their handles (`herald dead list` shows them), or pass --all".into(),
        ));
    }
    let handles = args
        .handles
        .iter()
        .map(|h| parse_handle(h))
        .collect::<Result<Vec<_>, _>>()?;
    // Recorded before the queue is touched; a dry run changes nothing.
    let mut audit = match args.dry_run {
        true => None,
        false => {
            let asked = (!args.all).then_some(handles.as_slice());
            let start = start(
                DeadLetterAction::Replay,
                &args.why,
                &amqp.dead_letter_queue,
                asked,
                None,
            );
            Some(Audit::start(config, start).await?)
        }
    };
    let chosen = |letter: &DeadLetter| args.all || handles.contains(&letter.handle);
    let mut seen: Vec<String> = Vec::new();
    let verb = if args.dry_run {
        "would replay"
    } else {
        "replayed"
    };
    let result = match open(amqp).await {
        Ok(queue) => {
            let result = queue
                .replay(chosen, args.dry_run, |letter| {
                    println!("{verb} {}", dead_view::line(letter));
                    seen.push(letter.handle.clone());
                    if let Some(audit) = audit.as_mut() {
                        audit.took(letter);
                    }
                })
                .await
                .map_err(|err| failed(amqp, "replaying", err));
            queue.close().await;
            result
        }
        Err(failure) => Err(failure),
    };
    let n = count(seen.len(), "dead letter", "dead letters");
    if let Some(audit) = audit {
        let error = result.as_ref().err().map(failure_text);
        audit.finish(error.as_deref()).await?;
    }
    if let Err(failure) = result {
        if args.dry_run || seen.is_empty() {
            return Err(failure);
        }
        return Err(Failure::Runtime(anyhow::anyhow!(
            "{} (after {n} replayed)",
            failure_text(&failure)
        )));
    }
    let to = format!(
        "to exchange {:?} (routing key {:?})",
        amqp.exchange, amqp.routing_key
    );
    if args.dry_run {
        println!("dry run: would replay {n} {to}; nothing was published or removed");
    } else {
        println!("replayed {n} {to}");
    }
    let missing: Vec<&str> = handles
        .iter()
        .filter(|h| !seen.contains(h))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(Failure::Runtime(anyhow::anyhow!(
            "no dead letter in {} has the handle {}: `herald dead list` shows the handles",
            amqp.dead_letter_queue,
            missing.join(", ")
        )));
    }
    Ok(())
}

/// A failure's message, for the record.
pub(super) fn failure_text(failure: &Failure) -> String {
    match failure {
        Failure::Usage(message) => message.clone(),
        Failure::Runtime(err) => format!("{err:#}"),
    }
}
