//! The operator's commands: `show`, `resend`, `cancel` (`list`: `list.rs`). Resend and
//! cancel are published as commands, so workers apply them like any other.

use super::{Failure, parse_id, view};
use crate::config::Config;
use crate::domain::filter::{Cursor, Filter};
use crate::domain::status::{DeliveryEvent, sources};
use crate::domain::{Actor, CancelCommand, Command, DeliveryStatus, Requester, ResendCommand};
use crate::print::count;
use crate::storage::Store;
use anyhow::Context as _;
use chrono::{DateTime, Utc};

#[derive(clap::Args, Debug)]
pub struct ResendArgs {
    /// Delivery ids to resend.
    pub ids: Vec<String>,
    /// Bulk: resend every delivery in this status (`failed` or `success`).
    #[arg(long)]
    pub status: Option<String>,
    #[arg(long)]
    pub connection: Option<String>,
    /// Only deliveries created at or after this time (RFC 3339).
    #[arg(long)]
    pub since: Option<String>,
    /// Only deliveries created before this time (RFC 3339).
    #[arg(long)]
    pub until: Option<String>,
    /// Why, kept in the command and in each delivery's audit trail.
    #[arg(long)]
    pub reason: Option<String>,
    /// Your name, for the audit trail (`herald show ID` prints who resent).
    #[arg(long = "as", value_name = "NAME")]
    pub operator: Option<String>,
}

/// Who asks, as the commands the CLI publishes say it.
fn from_cli(operator: Option<&String>) -> Option<Requester> {
    Some(Requester {
        via: Actor::Cli.as_str().to_owned(),
        name: operator.cloned(),
    })
}

#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    pub id: String,
    /// Print the delivery and its attempts as one JSON object.
    #[arg(long)]
    pub json: bool,
}

async fn store(config: &Config) -> Result<Store, Failure> {
    Ok(Store::connect(&config.database)
        .await
        .context("cannot connect to PostgreSQL")?)
}

fn status_arg(status: Option<String>) -> Result<Option<String>, Failure> {
    status
        .map(|s| s.parse::<DeliveryStatus>().map(|s| s.as_str().to_owned()))
        .transpose()
        .map_err(|e| Failure::Usage(format!("--status: {e}")))
}

fn time_arg(name: &str, value: Option<String>) -> Result<Option<DateTime<Utc>>, Failure> {
    value
        .map(|v| DateTime::parse_from_rfc3339(&v).map(|t| t.with_timezone(&Utc)))
        .transpose()
        .map_err(|e| Failure::Usage(format!("--{name}: not an RFC 3339 time: {e}")))
}

/// The ids of every delivery `filter` matches, a page at a time.
async fn matching(store: &Store, filter: &Filter) -> Result<Vec<uuid::Uuid>, Failure> {
    let mut ids = Vec::new();
    let mut after: Option<Cursor> = None;
    loop {
        let page = store
            .page(filter, after.as_ref(), 1000)
            .await
            .context("listing deliveries failed")?;
        ids.extend(page.deliveries.iter().map(|d| d.id));
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(ids),
        }
    }
}

async fn publish(config: &Config, commands: &[Command]) -> Result<(), Failure> {
    let bodies: Vec<Vec<u8>> = commands
        .iter()
        .map(|c| c.to_json().to_string().into_bytes())
        .collect();
    super::publish::publish_bodies(config, &bodies).await
}

pub async fn resend(config: &Config, args: ResendArgs) -> Result<(), Failure> {
    let bulk = args.status.is_some()
        || args.connection.is_some()
        || args.since.is_some()
        || args.until.is_some();
    let ids = match (bulk, args.ids.is_empty()) {
        (true, false) => return Err(Failure::Usage("give ids or filters, not both".into())),
        (false, true) => {
            return Err(Failure::Usage(
                "give delivery ids, or --status with filters".into(),
            ));
        }
        (false, false) => args
            .ids
            .iter()
            .map(|id| parse_id(id))
            .collect::<Result<Vec<_>, _>>()?,
        (true, true) => {
            let status = status_arg(args.status)?.ok_or_else(|| {
                Failure::Usage("bulk resend needs --status failed or --status success".into())
            })?;
            let resendable = sources(DeliveryEvent::Resend);
            if !resendable.contains(&status.as_str()) {
                return Err(Failure::Usage(
                    "--status: only failed or success deliveries can be resent".into(),
                ));
            }
            let filter = Filter {
                status: status.parse().ok(),
                connection: args.connection,
                since: time_arg("since", args.since)?,
                until: time_arg("until", args.until)?,
                ..Filter::default()
            };
            matching(&store(config).await?, &filter).await?
        }
    };
    let commands: Vec<Command> = ids
        .iter()
        .map(|&id| {
            Command::Resend(ResendCommand {
                id,
                reason: args.reason.clone(),
                by: from_cli(args.operator.as_ref()),
            })
        })
        .collect();
    if !commands.is_empty() {
        publish(config, &commands).await?;
    }
    println!(
        "resend published for {}",
        count(commands.len(), "delivery", "deliveries")
    );
    Ok(())
}

pub async fn cancel(
    config: &Config,
    ids: &[String],
    operator: Option<&String>,
) -> Result<(), Failure> {
    let cancel = |id| {
        Command::Cancel(CancelCommand {
            id,
            by: from_cli(operator),
        })
    };
    let commands = ids
        .iter()
        .map(|id| parse_id(id).map(cancel))
        .collect::<Result<Vec<_>, _>>()?;
    publish(config, &commands).await?;
    println!(
        "cancel published for {}",
        count(commands.len(), "delivery", "deliveries")
    );
    Ok(())
}

pub async fn show(config: &Config, args: ShowArgs) -> Result<(), Failure> {
    let id = parse_id(&args.id)?;
    let store = store(config).await?;
    let Some(delivery) = store
        .delivery(id)
        .await
        .context("reading the delivery failed")?
    else {
        return Err(Failure::Runtime(anyhow::anyhow!("no delivery {id}")));
    };
    let attempts = store
        .attempts(id)
        .await
        .context("reading attempts failed")?;
    let events = store
        .events(id)
        .await
        .context("reading the audit trail failed")?;
    if !args.json {
        println!("{}", view::show(&delivery, &attempts, &events));
        return Ok(());
    }
    let text = serde_json::to_string_pretty(
        &serde_json::json!({ "delivery": delivery, "attempts": attempts, "events": events }),
    )
    .context("formatting failed")?;
    println!("{text}");
    Ok(())
}
