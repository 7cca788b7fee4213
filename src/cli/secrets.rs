//! `herald secrets`: the key the stored provider credentials are sealed
//! with (`docs/security.md`, "Rotating the key").
//!
//! - `new-key` prints a new random key (32 bytes, base64).
//! - `rotate` seals every stored credential again with `[secrets] key`,
//!   opening each with the key it was sealed with (the current one or one
//!   of `old_keys`); plain text a version before sealing left is sealed too.

use super::Failure;
use crate::config::{Config, ConfigError};
use anyhow::Context as _;

#[derive(clap::Args, Debug)]
pub struct SecretsArgs {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(clap::Subcommand, Debug)]
pub enum Action {
    /// Print a new random key for [secrets] key.
    NewKey,
    /// Seal every stored credential again with [secrets] key (after moving
    /// the previous key to [secrets] old_keys).
    Rotate,
}

pub async fn run(
    load: impl FnOnce() -> Result<Config, ConfigError>,
    args: SecretsArgs,
) -> Result<(), Failure> {
    match args.action {
        Action::NewKey => {
            println!("{}", crate::secrets::Key::generate());
            Ok(())
        }
        Action::Rotate => {
            let config = load()?;
            let Some(key) = config.secrets.keys.current() else {
                return Err(Failure::Usage(format!(
                    "bad configuration: secrets.key: must be set to rotate to it; {}",
                    crate::secrets::MAKE_A_KEY
                )));
            };
            let key_id = key.id().to_owned();
            let store = super::store(&config)
                .await?
                .with_keys(config.secrets.keys.clone());
            let done = store
                .reseal_tokens(None)
                .await
                .context("sealing the stored credentials again failed")?;
            println!(
                "sealed {} stored credential row(s) again with key {key_id}; {} already were",
                done.resealed, done.current
            );
            for (connection, err) in &done.unopened {
                eprintln!("herald: connection {connection}: {err}");
            }
            match done.unopened.len() {
                0 => Ok(()),
                n => Err(Failure::Runtime(anyhow::anyhow!(
                    "{n} row(s) do not open with [secrets] key or old_keys and were left as they are"
                ))),
            }
        }
    }
}
