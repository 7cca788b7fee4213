//! `herald resend` and `herald cancel`: by ids, or every delivery a filter
//! matches, published as commands through the queue (the one path every
//! resend and cancel takes, and the audit trail records), in batches with
//! the broker's confirms. A filter's matches are read and published a page
//! at a time (`bulk_pages.rs`): a million of them never sit in memory.
//!
//! A resend is keyed by its delivery and the round it starts: running the
//! same bulk resend twice (say, after an interrupted run) publishes the
//! same keys again, and a worker applies each once. `--dry-run` prints
//! what would be published and publishes nothing.

use super::bulk_pages::{self, Chosen, Job};
use super::filters::FilterArgs;
use super::{Failure, parse_id, store};
use crate::config::Config;
use crate::domain::status::{DeliveryEvent, sources};
use crate::domain::{Actor, CancelCommand, Command, Requester, ResendCommand};
use crate::storage::Store;
use crate::storage::operator::DeliveryView;
use anyhow::Context as _;

/// Which deliveries: ids, or filters (the same as `herald list`'s).
#[derive(clap::Args, Debug)]
pub struct Selection {
    /// Delivery ids (or give filters instead).
    pub ids: Vec<String>,
    #[command(flatten)]
    pub filters: FilterArgs,
    /// Print what would be published, and publish nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Your name, for the audit trail (`herald show ID` prints who did it).
    #[arg(long = "as", value_name = "NAME")]
    pub operator: Option<String>,
    /// Deliveries read and published at a time, each batch confirmed by
    /// RabbitMQ before the next is read (1 to 10000).
    #[arg(long, value_name = "N", default_value_t = bulk_pages::BATCH,
          value_parser = clap::value_parser!(u16).range(1..=10_000))]
    pub batch: u16,
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
    /// The deliveries chosen, with `status` required (or implied) of a
    /// bulk choice: `statuses` are the ones the command applies to.
    async fn chosen(
        &self,
        store: &Store,
        what: &str,
        statuses: &[&str],
    ) -> Result<Chosen, Failure> {
        match (self.filters.any(), self.ids.is_empty()) {
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
                Ok(Chosen::Ids(
                    ids.iter()
                        .filter_map(|id| found.iter().find(|d| d.id == *id).cloned())
                        .collect(),
                ))
            }
            (true, true) => {
                let mut filter = self.filters.parse()?;
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
                Ok(Chosen::Matching(filter))
            }
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
        .chosen(&store, "resend", &sources(DeliveryEvent::Resend))
        .await?;
    let by = from_cli(s.operator.as_ref());
    let command = |d: &DeliveryView| {
        let command = Command::Resend(ResendCommand {
            id: d.id,
            reason: args.reason.clone(),
            by: by.clone(),
        });
        // Read with the page: the round this resend starts, its key.
        (command, ResendCommand::key(d.id, d.resends))
    };
    let job = Job {
        what: "resend",
        dry_run: s.dry_run,
        batch: usize::from(s.batch),
        command: &command,
    };
    bulk_pages::publish(config, &store, chosen, job).await
}

pub async fn cancel(config: &Config, selection: Selection) -> Result<(), Failure> {
    let store = store(config).await?;
    let chosen = selection
        .chosen(&store, "cancel", &sources(DeliveryEvent::Cancel))
        .await?;
    let by = from_cli(selection.operator.as_ref());
    let command = |d: &DeliveryView| {
        let command = Command::Cancel(CancelCommand {
            id: d.id,
            by: by.clone(),
        });
        (command, format!("cancel {}", d.id))
    };
    let job = Job {
        what: "cancel",
        dry_run: selection.dry_run,
        batch: usize::from(selection.batch),
        command: &command,
    };
    bulk_pages::publish(config, &store, chosen, job).await
}
