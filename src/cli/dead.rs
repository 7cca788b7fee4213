//! `herald dead list | replay | purge`: the commands herald or RabbitMQ
//! dead-lettered, read without taking them, replayed once fixed upstream,
//! or deleted. They need only RabbitMQ (`[amqp]`).

use super::{Failure, dead_view};
use crate::config::AmqpConfig;
use crate::print::count;
use crate::queue::dead::{DeadLetter, DeadQueue, letter::HANDLE_LEN};
use crate::queue::{QueueError, redact};
use clap::Subcommand;
use std::io::{BufRead, IsTerminal, Write};

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
    /// Print what would be replayed; publish and remove nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(clap::Args, Debug)]
pub struct PurgeArgs {
    /// Delete without asking: for scripts, and wherever stdin is not a terminal.
    #[arg(long)]
    pub yes: bool,
}

pub async fn run(amqp: &AmqpConfig, args: DeadArgs) -> Result<(), Failure> {
    match args.command {
        DeadCommand::List(args) => list(amqp, args).await,
        DeadCommand::Replay(args) => replay(amqp, args).await,
        DeadCommand::Purge(args) => purge(amqp, args).await,
    }
}

/// A broker error as the operator can act on it.
fn failed(amqp: &AmqpConfig, doing: &str, err: QueueError) -> Failure {
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

async fn open(amqp: &AmqpConfig) -> Result<DeadQueue, Failure> {
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
    let handle = text.trim().to_ascii_lowercase();
    if handle.len() == HANDLE_LEN && handle.chars().all(|c| c.is_ascii_hexdigit()) {
        return Ok(handle);
    }
    Err(Failure::Usage(format!(
        "{text:?} is not a dead letter's handle ({HANDLE_LEN} hex digits, as `herald dead list` shows them)"
    )))
}

async fn replay(amqp: &AmqpConfig, args: ReplayArgs) -> Result<(), Failure> {
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
    let queue = open(amqp).await?;
    let chosen = |letter: &DeadLetter| args.all || handles.contains(&letter.handle);
    let mut seen: Vec<String> = Vec::new();
    let verb = if args.dry_run {
        "would replay"
    } else {
        "replayed"
    };
    let result = queue
        .replay(chosen, args.dry_run, |letter| {
            println!("{verb} {}", dead_view::line(letter));
            seen.push(letter.handle.clone());
        })
        .await;
    let name = queue.name().to_owned();
    queue.close().await;
    let n = count(seen.len(), "dead letter", "dead letters");
    if let Err(err) = result {
        let done = if args.dry_run {
            String::new()
        } else {
            format!(" after {n} replayed")
        };
        return Err(failed(amqp, &format!("replaying{done}"), err));
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
            "no dead letter in {name} has the handle {}: `herald dead list` shows the handles",
            missing.join(", ")
        )));
    }
    Ok(())
}

async fn purge(amqp: &AmqpConfig, args: PurgeArgs) -> Result<(), Failure> {
    // Counted, then asked with no connection open: a person may take a while.
    let queue = open(amqp).await?;
    let name = queue.name().to_owned();
    let counted = queue.count().await;
    queue.close().await;
    let counted = counted.map_err(|err| failed(amqp, "counting the dead letters", err))?;
    if counted == 0 {
        println!("no dead letters in {name}: nothing to purge");
        return Ok(());
    }
    if !args.yes {
        confirm(counted, &name)?;
    }
    let queue = open(amqp).await?;
    let purged = queue.purge(counted).await;
    queue.close().await;
    let purged = purged.map_err(|err| failed(amqp, "purging", err))?;
    println!("purged {} from {name}", letters(purged));
    Ok(())
}

fn letters(n: u32) -> String {
    count(n as usize, "dead letter", "dead letters")
}

/// Asks on the terminal for the number of dead letters to delete.
fn confirm(counted: u32, name: &str) -> Result<(), Failure> {
    let n = letters(counted);
    if !std::io::stdin().is_terminal() {
        return Err(Failure::Usage(format!(
            "herald dead purge asks before it deletes, and stdin is not a terminal: \
             pass --yes to delete the {n} in {name} without asking"
        )));
    }
    eprint!(
        "This deletes {n} from {name} for good (`herald dead list` shows them).\n\
         Type the number of dead letters to confirm: "
    );
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|err| Failure::Runtime(err.into()))?;
    if answer.trim() == counted.to_string() {
        return Ok(());
    }
    Err(Failure::Runtime(anyhow::anyhow!(
        "not confirmed ({:?} is not {counted}): nothing was deleted",
        answer.trim()
    )))
}
