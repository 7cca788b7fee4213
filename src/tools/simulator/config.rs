//! What the simulator starts with: the credentials the fake providers
//! accept, their token lifetimes and hours, and the latency.

use super::books::DEFAULT_HIGHQ_TOKEN_LIFETIME;
use super::onebox_book::{DEFAULT_TOKEN_LIFETIME, OpenHours};
use std::time::Duration;

/// The credentials the fake providers accept, and their starting latency.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub konnek_username: String,
    pub konnek_password: String,
    /// What OneBox's `/api/authenticate` accepts (`siteId` compared as text).
    pub onebox_email: String,
    pub onebox_password: String,
    pub onebox_site_id: String,
    /// How long a OneBox token lives (its `exp` says so too; see
    /// [`super::SimHandle::set_onebox_token_lifetime`]).
    pub onebox_token_lifetime: Duration,
    /// The hours OneBox takes messages (see [`super::SimHandle::set_onebox_hours`]);
    /// `None`: any hour.
    pub onebox_hours: Option<OpenHours>,
    /// The `api_access_token` the Chatwoot twin accepts.
    pub chatwoot_api_access_token: String,
    /// The bearer token the Comm100 twin accepts.
    pub comm100_access_token: String,
    /// HighQ's OAuth2 client, and the refresh token it accepts first.
    pub highq_client_id: String,
    pub highq_client_secret: String,
    pub highq_refresh_token: String,
    /// How long HighQ access tokens live (see
    /// [`super::SimHandle::set_highq_token_lifetime`]).
    pub highq_token_lifetime: Duration,
    /// Added to every provider request (see [`super::SimHandle::set_latency`]).
    pub latency: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            konnek_username: "sim-user".into(),
            konnek_password: "sim-pass".into(),
            onebox_email: "sim@onebox.example".into(),
            onebox_password: "sim-pass".into(),
            onebox_site_id: "169".into(),
            onebox_token_lifetime: DEFAULT_TOKEN_LIFETIME,
            onebox_hours: None,
            chatwoot_api_access_token: "sim-token".into(),
            comm100_access_token: "sim-comm100-token".into(),
            highq_client_id: "sim-client".into(),
            highq_client_secret: "sim-secret".into(),
            highq_refresh_token: "sim-refresh-0".into(),
            highq_token_lifetime: DEFAULT_HIGHQ_TOKEN_LIFETIME,
            latency: Duration::ZERO,
        }
    }
}
