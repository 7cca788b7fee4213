//! `herald show`: one delivery as a person reads it, or as JSON (`list`:
//! `list.rs`; `resend` and `cancel`: `bulk.rs`).

use super::{Failure, parse_id, store, view};
use crate::config::Config;
use anyhow::Context as _;

#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    pub id: String,
    /// Print the delivery and its attempts as one JSON object.
    #[arg(long)]
    pub json: bool,
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
