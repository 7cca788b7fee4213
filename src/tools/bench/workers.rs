//! The `herald worker` processes a measurement runs: started from this
//! binary with the bench's configuration file (written here, readable only
//! by its owner, removed when the bench ends), waited for until RabbitMQ
//! counts them as consumers, watched for an early exit, read for their CPU
//! time and peak RSS, and stopped as production stops them (SIGTERM, then
//! SIGKILL after a grace).

use super::measure;
use crate::config::AmqpConfig;
use crate::queue;
use anyhow::Context as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// `herald worker` processes.
pub struct Workers {
    children: Vec<tokio::process::Child>,
}

impl Workers {
    pub fn spawn(n: usize, config_file: &Path) -> anyhow::Result<Workers> {
        let exe: PathBuf = std::env::current_exe().context("cannot find the herald binary")?;
        let mut children = Vec::with_capacity(n);
        for _ in 0..n {
            let child = tokio::process::Command::new(&exe)
                .arg("--config")
                .arg(config_file)
                .arg("worker")
                // The file names the bench's database and queues; these
                // would override it.
                .env_remove("HERALD_DATABASE_URL")
                .env_remove("HERALD_AMQP_URL")
                .env("RUST_LOG", "herald=warn")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .with_context(|| format!("cannot start {}", exe.display()))?;
            children.push(child);
        }
        Ok(Workers { children })
    }

    fn pids(&self) -> impl Iterator<Item = u32> + '_ {
        self.children.iter().filter_map(|c| c.id())
    }

    pub fn cpu(&self) -> Option<f64> {
        self.pids().map(measure::cpu_of).sum()
    }

    pub fn peak_rss_mb(&self) -> Option<f64> {
        self.pids()
            .map(measure::peak_rss_mb)
            .try_fold(0.0f64, |max, mb| mb.map(|mb| max.max(mb)))
    }

    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        for child in &mut self.children {
            if let Ok(Some(status)) = child.try_wait() {
                anyhow::bail!("a herald worker exited during the bench ({status})");
            }
        }
        Ok(())
    }

    /// SIGTERM, and SIGKILL for a worker still running after its grace.
    pub async fn stop(mut self) {
        for pid in self.pids() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        for child in &mut self.children {
            if tokio::time::timeout(Duration::from_secs(30), child.wait())
                .await
                .is_err()
            {
                let _ = child.kill().await;
            }
        }
    }

    /// Waits until RabbitMQ counts `n` consumers on herald's queue.
    pub async fn wait_for_consumers(
        &mut self,
        amqp_config: &AmqpConfig,
        n: usize,
    ) -> anyhow::Result<()> {
        use lapin::options::QueueDeclareOptions;
        let amqp = queue::connect(&amqp_config.url).await?;
        let channel = amqp.create_channel().await?;
        let deadline = Instant::now() + Duration::from_secs(60);
        let result = loop {
            if let Err(err) = self.check_alive() {
                break Err(err);
            }
            let declared = channel
                .queue_declare(
                    amqp_config.queue.as_str().into(),
                    QueueDeclareOptions {
                        passive: true,
                        ..QueueDeclareOptions::default()
                    },
                    Default::default(),
                )
                .await;
            match declared {
                Ok(q) if q.consumer_count() as usize >= n => break Ok(()),
                Ok(_) => {}
                Err(err) => break Err(err.into()),
            }
            if Instant::now() > deadline {
                break Err(anyhow::anyhow!("the workers did not start consuming"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        queue::close(&amqp, "counted").await;
        result
    }
}

/// The configuration file the worker processes read, readable only by its
/// owner (it holds the database URL), removed when the bench ends.
pub struct ConfigFile {
    pub path: PathBuf,
}

impl ConfigFile {
    pub fn write(text: &str) -> anyhow::Result<ConfigFile> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let path = std::env::temp_dir().join(format!("herald-bench-{}.toml", uuid::Uuid::new_v4()));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        file.write_all(text.as_bytes())?;
        Ok(ConfigFile { path })
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
