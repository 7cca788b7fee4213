//! `herald simulate`: the provider simulator as a server of its own, scripted
//! over its `/_sim/...` control endpoints.

use super::Failure;
use crate::simulator::{self, SimConfig};
use anyhow::Context as _;
use std::net::SocketAddr;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct SimulateArgs {
    /// Address to serve on.
    #[arg(long, default_value = "127.0.0.1:9500")]
    pub listen: SocketAddr,
    /// Konnek's `Auth-username` the simulator expects.
    #[arg(long, env = "SIM_KONNEK_USERNAME", default_value = "sim-user")]
    pub konnek_username: String,
    /// Konnek's `Auth-password` the simulator expects.
    #[arg(
        long,
        env = "SIM_KONNEK_PASSWORD",
        default_value = "sim-pass",
        hide_env_values = true
    )]
    pub konnek_password: String,
    /// Latency added to every answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
}

pub async fn run(args: SimulateArgs) -> Result<(), Failure> {
    let config = SimConfig {
        konnek_username: args.konnek_username,
        konnek_password: args.konnek_password,
        latency: Duration::from_millis(args.latency_ms),
    };
    let sim = simulator::start(args.listen, config)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    println!(
        "simulator serving on {} (Konnek: POST /{{channel}}/send/{{client_id}})",
        sim.base_url()
    );
    let shutdown = tokio_util::sync::CancellationToken::new();
    super::stop_on_signal(shutdown.clone()).await;
    sim.shutdown();
    Ok(())
}
