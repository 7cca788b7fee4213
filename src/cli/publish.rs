//! `herald publish FILE|-`: one command, or one per line, with confirms.
//! Each line is checked as JSON before anything is published, so a typo does
//! not leave half a file sent.

use super::Failure;
use crate::config::Config;
use crate::queue::{self, Publisher};
use anyhow::Context as _;
use std::io::Read;

pub async fn run(config: &Config, file: &str) -> Result<(), Failure> {
    let mut text = String::new();
    if file == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read stdin")?;
    } else {
        text = std::fs::read_to_string(file)
            .map_err(|e| Failure::Usage(format!("cannot read {file}: {e}")))?;
    }
    let bodies = commands(&text).map_err(Failure::Usage)?;
    if bodies.is_empty() {
        return Err(Failure::Usage(format!("{file} holds no command")));
    }
    publish_bodies(config, &bodies).await?;
    println!("published {} command(s)", bodies.len());
    Ok(())
}

/// Publishes `bodies` to the command exchange, each confirmed by the broker.
pub(super) async fn publish_bodies<B: AsRef<[u8]>>(
    config: &Config,
    bodies: &[B],
) -> Result<(), Failure> {
    let amqp = queue::connect_to(&config.amqp)
        .await
        .context("cannot connect to RabbitMQ")?;
    let publisher = Publisher::open(&amqp, &config.amqp)
        .await
        .context("cannot open a channel")?;
    publisher
        .publish_many(bodies)
        .await
        .context("publishing failed")?;
    queue::close(&amqp, "published").await;
    Ok(())
}

/// A whole-file JSON object, or JSON lines.
fn commands(text: &str) -> Result<Vec<Vec<u8>>, String> {
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
        return Ok(vec![value.to_string().into_bytes()]);
    }
    let mut bodies = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        serde_json::from_str::<serde_json::Value>(line)
            .map_err(|e| format!("line {}: not valid JSON: {e}", n + 1))?;
        bodies.push(line.as_bytes().to_vec());
    }
    Ok(bodies)
}

#[cfg(test)]
mod tests {
    use super::commands;

    #[test]
    fn one_object_or_json_lines() {
        assert_eq!(commands("{\n \"type\": \"cancel\"\n}").unwrap().len(), 1);
        assert_eq!(commands("{\"a\":1}\n\n{\"b\":2}\n").unwrap().len(), 2);
        assert!(
            commands("{\"a\":1}\n{oops")
                .unwrap_err()
                .starts_with("line 2")
        );
    }
}
