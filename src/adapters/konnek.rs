//! Konnek (Sprint Asia): `POST {base_url}/{channel}/send/{client_id}`.

use super::{ChannelAdapter, Outbound, ProviderError, Sent, Unsupported};
use crate::config::KonnekSettings;
use crate::domain::Message;
use futures_util::future::BoxFuture;

pub struct KonnekAdapter {
    base_url: String,
    settings: KonnekSettings,
    http: reqwest::Client,
}

impl KonnekAdapter {
    pub fn new(base_url: &str, settings: KonnekSettings, http: reqwest::Client) -> Self {
        KonnekAdapter {
            base_url: base_url.trim_end_matches('/').to_owned(),
            settings,
            http,
        }
    }
}

impl ChannelAdapter for KonnekAdapter {
    fn adapter(&self) -> &'static str {
        "konnek"
    }

    fn check(&self, _message: &Message) -> Result<(), Unsupported> {
        Ok(())
    }

    fn send<'a>(&'a self, _outbound: Outbound<'a>) -> BoxFuture<'a, Result<Sent, ProviderError>> {
        let _ = (&self.base_url, &self.settings, &self.http);
        Box::pin(async {
            Err(ProviderError::new(
                super::ErrorClass::Permanent,
                None,
                "not yet",
            ))
        })
    }
}
