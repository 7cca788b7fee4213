//! `herald simulate`: the provider simulator as a server of its own, scripted
//! over its `/_sim/...` control endpoints.

use crate::startup::Failure;
use crate::tools::simulator::{self, OpenHours, SimConfig};
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
    /// OneBox's `email` the simulator's `/api/authenticate` expects.
    #[arg(long, env = "SIM_ONEBOX_EMAIL", default_value = "sim@onebox.example")]
    pub onebox_email: String,
    /// OneBox's `password` the simulator expects.
    #[arg(
        long,
        env = "SIM_ONEBOX_PASSWORD",
        default_value = "sim-pass",
        hide_env_values = true
    )]
    pub onebox_password: String,
    /// OneBox's `siteId` the simulator expects.
    #[arg(long, env = "SIM_ONEBOX_SITE_ID", default_value = "169")]
    pub onebox_site_id: String,
    /// How long the OneBox tokens the simulator issues live, in seconds.
    #[arg(long, default_value_t = 900)]
    pub onebox_token_lifetime_secs: u64,
    /// The hours OneBox takes messages, e.g. `06:00-18:00` (may wrap
    /// midnight); outside them it answers "time limit reached". Any hour
    /// when absent.
    #[arg(long)]
    pub onebox_hours: Option<String>,
    /// The time zone of `--onebox-hours` (an IANA name).
    #[arg(long, default_value = "UTC", requires = "onebox_hours")]
    pub onebox_timezone: String,
    /// The Chatwoot `api_access_token` the simulator expects.
    #[arg(
        long,
        env = "SIM_CHATWOOT_TOKEN",
        default_value = "sim-token",
        hide_env_values = true
    )]
    pub chatwoot_api_access_token: String,
    /// The Comm100 bearer token the simulator expects.
    #[arg(
        long,
        env = "SIM_COMM100_TOKEN",
        default_value = "sim-comm100-token",
        hide_env_values = true
    )]
    pub comm100_access_token: String,
    /// HighQ's OAuth2 `client_id` the simulator expects.
    #[arg(long, env = "SIM_HIGHQ_CLIENT_ID", default_value = "sim-client")]
    pub highq_client_id: String,
    /// HighQ's OAuth2 `client_secret` the simulator expects.
    #[arg(
        long,
        env = "SIM_HIGHQ_CLIENT_SECRET",
        default_value = "sim-secret",
        hide_env_values = true
    )]
    pub highq_client_secret: String,
    /// The HighQ refresh token the simulator accepts first (each refresh
    /// replaces it).
    #[arg(
        long,
        env = "SIM_HIGHQ_REFRESH_TOKEN",
        default_value = "sim-refresh-0",
        hide_env_values = true
    )]
    pub highq_refresh_token: String,
    /// How long the HighQ access tokens the simulator issues live, in seconds.
    #[arg(long, default_value_t = 5 * 3600)]
    pub highq_token_lifetime_secs: u64,
    /// Latency added to every answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
}

pub async fn run(args: SimulateArgs) -> Result<(), Failure> {
    let onebox_hours = args
        .onebox_hours
        .as_deref()
        .map(|hours| OpenHours::parse(hours, Some(&args.onebox_timezone)))
        .transpose()
        .map_err(|why| Failure::Usage(format!("--onebox-hours / --onebox-timezone: {why}")))?;
    let config = SimConfig {
        konnek_username: args.konnek_username,
        konnek_password: args.konnek_password,
        onebox_email: args.onebox_email,
        onebox_password: args.onebox_password,
        onebox_site_id: args.onebox_site_id,
        onebox_token_lifetime: Duration::from_secs(args.onebox_token_lifetime_secs),
        onebox_hours,
        chatwoot_api_access_token: args.chatwoot_api_access_token,
        comm100_access_token: args.comm100_access_token,
        highq_client_id: args.highq_client_id,
        highq_client_secret: args.highq_client_secret,
        highq_refresh_token: args.highq_refresh_token,
        highq_token_lifetime: Duration::from_secs(args.highq_token_lifetime_secs),
        latency: Duration::from_millis(args.latency_ms),
    };
    let sim = simulator::start(args.listen, config)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    println!(
        "simulator serving on {} (Konnek: POST /{{channel}}/send/{{client_id}}; \
         OneBox: POST /api/authenticate, /api/message; \
         Chatwoot: POST /api/v1/accounts/{{account_id}}/conversations/{{conversation_id}}/messages; \
         Comm100: POST /v4/ticketing/messages, /v4/ticketing/messages/{{id}}:resend; \
         HighQ: POST /{{instance}}/api/oauth2/token, /{{instance}}/api/4/conversations/)",
        sim.base_url()
    );
    let shutdown = tokio_util::sync::CancellationToken::new();
    crate::startup::stop_on_signal(shutdown.clone()).await;
    sim.shutdown();
    Ok(())
}
