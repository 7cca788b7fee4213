//! `herald resend` and `herald cancel`: by ids, or every delivery a filter
//! matches, published as commands through the queue (the one path every
//! resend and cancel takes, and the audit trail records), in batches with
//! the broker's confirms.
//!
//! A resend is keyed by its delivery and the round it starts: running the
//! same bulk resend twice (say, after an interrupted run) publishes the
//! same keys again, and a worker applies each once. `--dry-run` prints
//! what would be published and publishes nothing.

use super::{Failure, parse_id, store};
use crate::config::Config;
use crate::domain::filter::{Cursor, Filter, FilterText};
use crate::domain::status::{DeliveryEvent, sources};
use crate::domain::{Actor, CancelCommand, Command, Requester, ResendCommand};
use crate::print::{self, count};
use crate::queue::{self, Publisher};
use crate::storage::Store;
use crate::storage::operator::DeliveryView;
use anyhow::Context as _;
use std::io::{IsTerminal, Write};

/// Commands published per batch; each batch is confirmed before the next.
const BATCH: usize = 500;

/// Which deliveries: ids, or filters (the same as `herald list`'s).
#[derive(clap::Args, Debug)]
pub struct Selection {
    /// Delivery ids (or give filters instead).
    pub ids: Vec<String>,
    /// Every delivery in this status.
    #[arg(long, value_name = "STATUS")]
    pub status: Option<String>,
    /// Every delivery of this connection.
    #[arg(long, value_name = "NAME")]
    pub connection: Option<String>,
    /// Created at or after this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Created before this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Waiting for this reason (retry, quota, window, rate, group, scheduled).
    #[arg(long, value_name = "REASON")]
    pub wait_reason: Option<String>,
    /// Members of this ordered group.
    #[arg(long, value_name = "GROUP_ID")]
    pub group: Option<String>,
    /// Print what would be published, and publish nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Your name, for the audit trail (`herald show ID` prints who did it).
    #[arg(long = "as", value_name = "NAME")]
    pub operator: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct ResendArgs {
    #[command(flatten)]
    pub selection: Selection,
    /// Why, kept in the command and in each delivery's audit trail.
    #[arg(long)]
    pub reason: Option<String>,
}

impl Selection {
    fn filters(&self) -> FilterText {
        FilterText {
            status: self.status.clone(),
            connection: self.connection.clone(),
            since: self.since.clone(),
            until: self.until.clone(),
            wait_reason: self.wait_reason.clone(),
            group: self.group.clone(),
        }
    }

    fn bulk(&self) -> bool {
        let f = self.filters();
        [
            f.status,
            f.connection,
            f.since,
            f.until,
            f.wait_reason,
            f.group,
        ]
        .iter()
        .any(Option::is_some)
    }

    /// The deliveries chosen, with `status` required (or implied) of a
    /// bulk choice: `statuses` are the ones the command applies to.
    async fn deliveries(
        &self,
        store: &Store,
        what: &str,
        statuses: &[&str],
    ) -> Result<Vec<DeliveryView>, Failure> {
        match (self.bulk(), self.ids.is_empty()) {
            (true, false) => Err(Failure::Usage(format!(
                "{what}: give ids or filters, not both"
            ))),
            (false, true) => Err(Failure::Usage(format!(
                "{what}: give delivery ids, or filters such as --status {} --connection NAME",
                statuses[0]
            ))),
            (false, false) => {
                let ids = self
                    .ids
                    .iter()
                    .map(|id| parse_id(id))
                    .collect::<Result<Vec<_>, _>>()?;
                let found = store
                    .deliveries_of(&ids)
                    .await
                    .context("reading the deliveries failed")?;
                for id in &ids {
                    if !found.iter().any(|d| d.id == *id) {
                        return Err(Failure::Usage(format!("no delivery {id}")));
                    }
                }
                // In the order given.
                Ok(ids
                    .iter()
                    .filter_map(|id| found.iter().find(|d| d.id == *id).cloned())
                    .collect())
            }
            (true, true) => {
                let mut filter = self.filters().parse().map_err(|e| {
                    Failure::Usage(format!("--{}", e.to_string().replace('_', "-")))
                })?;
                match filter.status {
                    Some(status) if !statuses.contains(&status.as_str()) => {
                        return Err(Failure::Usage(format!(
                            "--status: {what} applies to {} deliveries only",
                            statuses.join(" or ")
                        )));
                    }
                    Some(_) => {}
                    None if statuses.len() == 1 => filter.status = statuses[0].parse().ok(),
                    None => {
                        return Err(Failure::Usage(format!(
                            "bulk {what} needs --status {}",
                            statuses.join(" or --status ")
                        )));
                    }
                }
                matching(store, &filter).await
            }
        }
    }
}

/// Every delivery `filter` matches, a page at a time, without OFFSET.
async fn matching(store: &Store, filter: &Filter) -> Result<Vec<DeliveryView>, Failure> {
    let mut all = Vec::new();
    let mut after: Option<Cursor> = None;
    loop {
        let page = store
            .page(filter, after.as_ref(), 1000)
            .await
            .context("listing deliveries failed")?;
        all.extend(page.deliveries);
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(all),
        }
    }
}

/// Who asks, as the commands the CLI publishes say it.
fn from_cli(operator: Option<&String>) -> Option<Requester> {
    Some(Requester::new(Actor::Cli, operator.cloned()))
}

pub async fn resend(config: &Config, args: ResendArgs) -> Result<(), Failure> {
    let s = &args.selection;
    let store = store(config).await?;
    let chosen = s
        .deliveries(&store, "resend", &sources(DeliveryEvent::Resend))
        .await?;
    let by = from_cli(s.operator.as_ref());
    let commands: Vec<(Command, String)> = chosen
        .iter()
        .map(|d| {
            let command = Command::Resend(ResendCommand {
                id: d.id,
                reason: args.reason.clone(),
                by: by.clone(),
            });
            (command, ResendCommand::key(d.id, d.resends))
        })
        .collect();
    publish(config, "resend", &chosen, commands, s.dry_run).await
}

pub async fn cancel(config: &Config, selection: Selection) -> Result<(), Failure> {
    let store = store(config).await?;
    let chosen = selection
        .deliveries(&store, "cancel", &sources(DeliveryEvent::Cancel))
        .await?;
    let by = from_cli(selection.operator.as_ref());
    let commands = chosen
        .iter()
        .map(|d| {
            let command = Command::Cancel(CancelCommand {
                id: d.id,
                by: by.clone(),
            });
            (command, format!("cancel {}", d.id))
        })
        .collect();
    publish(config, "cancel", &chosen, commands, selection.dry_run).await
}

/// Publishes `commands` (one per delivery of `chosen`, each with its key)
/// in confirmed batches, with the progress on a terminal, and says how many.
async fn publish(
    config: &Config,
    what: &str,
    chosen: &[DeliveryView],
    commands: Vec<(Command, String)>,
    dry_run: bool,
) -> Result<(), Failure> {
    let n = commands.len();
    let deliveries = count(n, "delivery", "deliveries");
    if dry_run {
        for d in chosen {
            println!(
                "would {what} {} ({}, {}, created {})",
                d.id,
                d.connection,
                d.status,
                print::time(d.created_at)
            );
        }
        println!("{what} would be published for {deliveries} (--dry-run: nothing published)");
        return Ok(());
    }
    if n > 0 {
        let amqp = queue::connect_to(&config.amqp)
            .await
            .context("cannot connect to RabbitMQ")?;
        let publisher = Publisher::open(&amqp, &config.amqp)
            .await
            .context("cannot open a channel")?;
        let progress = std::io::stderr().is_terminal() && n > BATCH;
        let mut done = 0;
        for batch in commands.chunks(BATCH) {
            let bodies: Vec<(Vec<u8>, String)> = batch
                .iter()
                .map(|(c, key)| (c.to_json().to_string().into_bytes(), key.clone()))
                .collect();
            publisher.publish_keyed(&bodies).await.with_context(|| {
                format!("publishing failed after {done} of {n}; running the same command again publishes the rest, and what was published is applied once")
            })?;
            done += batch.len();
            if progress {
                eprint!("\r{what}: {done} of {n} published");
                std::io::stderr().flush().ok();
            }
        }
        if progress {
            eprintln!();
        }
        queue::close(&amqp, "published").await;
    }
    println!("{what} published for {deliveries}");
    Ok(())
}
