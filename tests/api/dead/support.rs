//! What the dead-letter tests share: the binary run with the test's
//! configuration, and the dead-letter queue's depth read straight from
//! RabbitMQ.

use crate::helpers::*;
use lapin::options::QueueDeclareOptions;
use serde_json::Value;
use std::process::{Command, Output};
use uuid::Uuid;

/// The binary with the test's configuration in a file of its own.
pub struct Herald {
    dir: std::path::PathBuf,
}

impl Herald {
    pub fn new(app: &TestApp) -> Herald {
        Herald::with_config(&app.config_toml)
    }

    /// The binary with `toml` as its configuration.
    pub fn with_config(toml: &str) -> Herald {
        let dir = std::env::temp_dir().join(format!("herald-dead-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(dir.join("herald.toml"), toml).expect("write config");
        Herald { dir }
    }

    /// Runs `herald ARGS` where the configuration is, stdin not a terminal.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_herald"))
            .current_dir(&self.dir)
            .args(args)
            .env_remove("HERALD_CONFIG")
            .output()
            .expect("run herald")
    }

    /// Runs `herald ARGS` on a terminal (util-linux `script`), typing
    /// `answer`; `None` where there is no `script` to run it with.
    pub fn on_terminal(&self, args: &str, answer: &str) -> Option<Output> {
        use std::io::Write;
        let line = format!("{} {args}", env!("CARGO_BIN_EXE_herald"));
        let mut child = Command::new("script")
            .args(["-qec", &line, "/dev/null"])
            .current_dir(&self.dir)
            .env_remove("HERALD_CONFIG")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .ok()?;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(answer.as_bytes()).expect("type the answer");
        drop(stdin);
        Some(child.wait_with_output().expect("herald on a terminal"))
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "herald {args:?} failed: {stderr}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `herald dead history --json`.
    pub fn history(&self) -> Vec<Value> {
        let text = self.ok(&["dead", "history", "--json"]);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    /// `herald dead list --json`.
    pub fn letters(&self) -> Vec<Value> {
        let text = self.ok(&["dead", "list", "--json"]);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }
}

impl Drop for Herald {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

/// Messages ready in the test's dead-letter queue.
pub async fn dead_depth(app: &TestApp) -> u32 {
    let channel = app.amqp.create_channel().await.expect("channel");
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let queue = channel
        .queue_declare(
            app.config.amqp.dead_letter_queue.as_str().into(),
            passive,
            Default::default(),
        )
        .await
        .expect("passive declare");
    herald::queue::close_channel(&channel, "depth read").await;
    queue.message_count()
}

pub async fn wait_for_dead(app: &TestApp, n: u32) {
    eventually(20, &format!("{n} dead letters"), || async {
        (dead_depth(app).await == n).then_some(())
    })
    .await;
}

pub fn handles(letters: &[Value]) -> Vec<String> {
    letters
        .iter()
        .map(|l| l["handle"].as_str().expect("a handle").to_owned())
        .collect()
}
