//! The `herald worker` processes a measurement runs: started from this
//! binary with the run's configuration file (written here, readable only
//! by its owner, removed when the run ends), waited for until RabbitMQ
//! counts them as consumers, watched for an early exit, read for their CPU
//! time and RSS, and stopped as production stops them (SIGTERM, then
//! SIGKILL after a grace). `herald soak` also kills, stops and restarts
//! them one at a time.
//!
//! Each is started with `PR_SET_PDEATHSIG`: the kernel kills it when the
//! process that started it dies, so that a bench or soak killed with
//! SIGKILL leaves no worker behind (dropping a [`Workers`] kills them too,
//! but a killed process drops nothing).

use super::measure;
use crate::config::AmqpConfig;
use crate::queue;
use anyhow::Context as _;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// `herald worker` processes.
pub struct Workers {
    children: Vec<tokio::process::Child>,
    config_file: PathBuf,
}

impl Workers {
    pub fn spawn(n: usize, config_file: &Path) -> anyhow::Result<Workers> {
        let mut children = Vec::with_capacity(n);
        for _ in 0..n {
            children.push(start(config_file)?);
        }
        Ok(Workers {
            children,
            config_file: config_file.to_owned(),
        })
    }

    /// How many worker slots there are (a slot keeps its number across
    /// restarts).
    pub fn len(&self) -> usize {
        self.children.len()
    }

    /// The process id in each slot (`None` for one that has exited and
    /// was reaped).
    pub fn each_pid(&self) -> Vec<Option<u32>> {
        self.children.iter().map(|c| c.id()).collect()
    }

    /// SIGKILL to the worker in slot `i`, waited for.
    pub async fn kill_one(&mut self, i: usize) -> anyhow::Result<()> {
        let child = self.children.get_mut(i).context("no such worker")?;
        child.kill().await.context("cannot kill a worker")
    }

    /// SIGTERM to the worker in slot `i`; SIGKILL if it still runs after
    /// `grace`. Returns how it exited.
    pub async fn stop_one(&mut self, i: usize, grace: Duration) -> anyhow::Result<ExitStatus> {
        let child = self.children.get_mut(i).context("no such worker")?;
        if let Some(pid) = child.id() {
            signal("-TERM", pid);
        }
        match tokio::time::timeout(grace, child.wait()).await {
            Ok(status) => Ok(status?),
            Err(_) => {
                child.kill().await?;
                Ok(child.wait().await?)
            }
        }
    }

    /// A new worker in slot `i`, in place of one that exited.
    pub fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        let fresh = start(&self.config_file)?;
        let slot = self.children.get_mut(i).context("no such worker")?;
        *slot = fresh;
        Ok(())
    }

    /// The slots whose worker has exited, with how; each is counted once
    /// (restart it to watch it again).
    pub fn exited(&mut self) -> Vec<(usize, ExitStatus)> {
        self.children
            .iter_mut()
            .enumerate()
            .filter_map(|(i, c)| match c.try_wait() {
                Ok(Some(status)) => Some((i, status)),
                _ => None,
            })
            .collect()
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
            signal("-TERM", pid);
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

/// Starts one `herald worker` with `config_file`.
fn start(config_file: &Path) -> anyhow::Result<tokio::process::Child> {
    let exe: PathBuf = std::env::current_exe().context("cannot find the herald binary")?;
    let mut command = tokio::process::Command::new(&exe);
    command
        .arg("--config")
        .arg(config_file)
        .arg("worker")
        // The file names the run's database and queues; these would
        // override it.
        .env_remove("HERALD_DATABASE_URL")
        .env_remove("HERALD_AMQP_URL")
        .env("RUST_LOG", "herald=warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true);
    // SAFETY: between fork and exec only async-signal-safe calls are
    // allowed; prctl is a plain system call.
    unsafe {
        command.pre_exec(|| {
            // Killed by the kernel when the thread that started it exits:
            // tokio's worker threads live as long as the runtime, that is as
            // long as this process.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command
        .spawn()
        .with_context(|| format!("cannot start {}", exe.display()))
}

/// Sends `signal` (`-TERM`) to `pid` with kill(1); a process already gone
/// is no error.
fn signal(signal: &str, pid: u32) {
    let _ = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status();
}

/// The configuration file the worker processes read, readable only by its
/// owner (it holds the database URL), removed when the bench ends.
pub struct ConfigFile {
    pub path: PathBuf,
}

impl ConfigFile {
    /// `herald-bench-<uuid>.toml` in the temporary directory.
    pub fn write(text: &str) -> anyhow::Result<ConfigFile> {
        ConfigFile::write_as("herald-bench", text)
    }

    /// `<prefix>-<uuid>.toml`: the prefix is in the workers' command line,
    /// so `pgrep -f <prefix>` finds the workers of a run.
    pub fn write_as(prefix: &str, text: &str) -> anyhow::Result<ConfigFile> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let path = std::env::temp_dir().join(format!("{prefix}-{}.toml", uuid::Uuid::new_v4()));
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
