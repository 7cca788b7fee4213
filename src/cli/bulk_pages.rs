//! How `herald resend` and `herald cancel` go through what they chose: a
//! batch at a time, each batch published with the broker's confirms
//! before the next is read, so that a million matches never sit in memory;
//! a progress line on a terminal, and the count at the end.
//!
//! A filter's matches are read with `herald list`'s keyset cursor, newest
//! first. Publishing a page changes those deliveries once a worker applies
//! it (a resend moves `failed` to `waitForSending`, a cancel `waitForSending`
//! to `failed`), so they may leave the filter between one page and the
//! next. That moves nothing else: the next page starts strictly after the
//! `(created_at, id)` of the last row read, and neither ever changes, so a
//! row not yet read is neither skipped (as an OFFSET would skip it once the
//! rows before it left) nor read twice. Rows a worker changed behind the
//! cursor are not looked at again.

use super::Failure;
use crate::config::Config;
use crate::domain::Command;
use crate::domain::filter::{Cursor, Filter};
use crate::print::{self, count};
use crate::queue::{self, Publisher};
use crate::storage::operator::DeliveryView;
use crate::storage::{StorageError, Store};
use anyhow::Context as _;
use std::io::{IsTerminal, Write};

/// Deliveries read and published at a time, unless `--batch` says.
pub const BATCH: u16 = 500;

/// What a bulk command works through.
pub enum Chosen {
    /// The deliveries of the ids given, in their order (a command line's worth).
    Ids(Vec<DeliveryView>),
    /// Every delivery the filter matches, read a page at a time.
    Matching(Filter),
}

/// One bulk command: its name, whether it only prints, its batch, and the
/// command (with its key, the AMQP `message_id`) for a delivery.
pub struct Job<'a> {
    pub what: &'static str,
    pub dry_run: bool,
    pub batch: usize,
    pub command: &'a dyn Fn(&DeliveryView) -> (Command, String),
}

/// The batches of a [`Chosen`], one at a time.
struct Batches {
    chosen: Chosen,
    /// Where the next page starts; `None` before the first.
    after: Option<Cursor>,
    finished: bool,
}

impl Batches {
    async fn next(
        &mut self,
        store: &Store,
        size: usize,
    ) -> Result<Option<Vec<DeliveryView>>, StorageError> {
        if self.finished {
            return Ok(None);
        }
        let batch = match &mut self.chosen {
            Chosen::Ids(left) => {
                let batch: Vec<DeliveryView> = left.drain(..size.min(left.len())).collect();
                self.finished = left.is_empty();
                batch
            }
            Chosen::Matching(filter) => {
                let limit = i64::try_from(size).unwrap_or(i64::MAX);
                let page = store.page(filter, self.after.as_ref(), limit).await?;
                self.finished = page.next.is_none();
                self.after = page.next;
                page.deliveries
            }
        };
        Ok((!batch.is_empty()).then_some(batch))
    }
}

/// A connection to RabbitMQ, opened at the first batch that has something
/// to publish.
struct Sink {
    amqp: lapin::Connection,
    publisher: Publisher,
}

impl Sink {
    async fn open(config: &Config) -> Result<Sink, Failure> {
        let amqp = queue::connect_to(&config.amqp)
            .await
            .context("cannot connect to RabbitMQ")?;
        let publisher = Publisher::open(&amqp, &config.amqp)
            .await
            .context("cannot open a channel")?;
        Ok(Sink { amqp, publisher })
    }
}

/// The progress line on a terminal: how many were published, of how many
/// matched when the command started.
struct Progress {
    what: &'static str,
    of: Option<usize>,
    shown: bool,
}

impl Progress {
    fn show(&mut self, done: usize) {
        if let Some(of) = self.of {
            eprint!("\r{}: {done} of {of} published", self.what);
            std::io::stderr().flush().ok();
            self.shown = true;
        }
    }

    fn end(&self) {
        if self.shown {
            eprintln!();
        }
    }
}

/// How many will go, where a progress line is worth showing (a terminal,
/// and more than one batch); `None` otherwise.
async fn progress_of(
    store: &Store,
    chosen: &Chosen,
    job: &Job<'_>,
) -> Result<Option<usize>, Failure> {
    if job.dry_run || !std::io::stderr().is_terminal() {
        return Ok(None);
    }
    let n = match chosen {
        Chosen::Ids(ids) => ids.len(),
        Chosen::Matching(filter) => {
            let n = store
                .count_matching(filter)
                .await
                .context("counting the deliveries failed")?;
            usize::try_from(n).unwrap_or(0)
        }
    };
    Ok((n > job.batch).then_some(n))
}

/// Publishes the command of each delivery `chosen` holds, batch by batch
/// (on a dry run, prints each instead), and says how many.
pub async fn publish(
    config: &Config,
    store: &Store,
    chosen: Chosen,
    job: Job<'_>,
) -> Result<(), Failure> {
    let what = job.what;
    let mut progress = Progress {
        what,
        of: progress_of(store, &chosen, &job).await?,
        shown: false,
    };
    let again =
        "running the same command again publishes the rest, and what was published is applied once";
    let mut batches = Batches {
        chosen,
        after: None,
        finished: false,
    };
    let mut sink: Option<Sink> = None;
    let mut done = 0usize;
    loop {
        let batch = batches.next(store, job.batch).await.with_context(|| {
            format!("reading the deliveries failed after {done} were published; {again}")
        })?;
        let Some(batch) = batch else { break };
        if job.dry_run {
            for d in &batch {
                println!(
                    "would {what} {} ({}, {}, created {})",
                    d.id,
                    d.connection,
                    d.status,
                    print::time(d.created_at)
                );
            }
            done += batch.len();
            continue;
        }
        let sink = match &mut sink {
            Some(sink) => sink,
            None => sink.insert(Sink::open(config).await?),
        };
        let bodies: Vec<(Vec<u8>, String)> = batch
            .iter()
            .map(|d| {
                let (command, key) = (job.command)(d);
                (command.to_json().to_string().into_bytes(), key)
            })
            .collect();
        sink.publisher
            .publish_keyed(&bodies)
            .await
            .with_context(|| format!("publishing failed after {done} were published; {again}"))?;
        done += batch.len();
        progress.show(done);
    }
    progress.end();
    if let Some(sink) = sink {
        queue::close(&sink.amqp, "published").await;
    }
    let deliveries = count(done, "delivery", "deliveries");
    if job.dry_run {
        println!("{what} would be published for {deliveries} (--dry-run: nothing published)");
    } else {
        println!("{what} published for {deliveries}");
    }
    Ok(())
}
