//! The filter flags of `herald list`, `resend` and `cancel`, defined once
//! and flattened into each, so that the three commands choose deliveries
//! with the same words and the same help.

use super::Failure;
use crate::domain::filter::{Filter, FilterText};

/// Which deliveries: every flag given must match.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct FilterArgs {
    /// Only deliveries in this status: waitForSending, sending, success or failed.
    #[arg(long, value_name = "STATUS")]
    pub status: Option<String>,
    /// Only deliveries of this connection (its `name` in herald.toml).
    #[arg(long, value_name = "NAME")]
    pub connection: Option<String>,
    /// Only deliveries created at or after this time (RFC 3339, e.g. 2026-12-02T14:00:00Z).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only deliveries created before this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Only waiting deliveries that wait for this: retry, quota, window, rate, group or scheduled.
    #[arg(long, value_name = "REASON")]
    pub wait_reason: Option<String>,
    /// Only the members of this ordered group (the `group.id` of their sends).
    #[arg(long, value_name = "GROUP_ID")]
    pub group: Option<String>,
}

impl FilterArgs {
    /// The flags as text, to be parsed as the API's filters are.
    pub fn text(&self) -> FilterText {
        FilterText {
            status: self.status.clone(),
            connection: self.connection.clone(),
            since: self.since.clone(),
            until: self.until.clone(),
            wait_reason: self.wait_reason.clone(),
            group: self.group.clone(),
        }
    }

    /// The validated filter; a bad value names its flag (exit 2).
    pub fn parse(&self) -> Result<Filter, Failure> {
        self.text().parse().map_err(|e| Failure::Usage(e.as_flag()))
    }

    /// The flags given, as `(flag, value)`, in the order `--help` lists them.
    pub fn given(&self) -> Vec<(&'static str, &str)> {
        [
            ("--status", &self.status),
            ("--connection", &self.connection),
            ("--since", &self.since),
            ("--until", &self.until),
            ("--wait-reason", &self.wait_reason),
            ("--group", &self.group),
        ]
        .into_iter()
        .filter_map(|(flag, value)| value.as_deref().map(|v| (flag, v)))
        .collect()
    }

    /// Whether any filter was given.
    pub fn any(&self) -> bool {
        !self.given().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use crate::cli::{Cli, Command};
    use clap::Parser as _;

    /// The filters of a command line, whichever command takes them.
    fn filters(args: &[&str]) -> super::FilterArgs {
        match Cli::parse_from(args).command {
            Command::List(a) => a.filters,
            Command::Resend(a) => a.selection.filters,
            Command::Cancel(s) => s.filters,
            other => panic!("no filters in {other:?}"),
        }
    }

    #[test]
    fn list_resend_and_cancel_read_the_same_flags_alike() {
        let flags = [
            "--status",
            "failed",
            "--connection",
            "c",
            "--since",
            "2026-12-02T14:00:00Z",
            "--until",
            "2026-12-02T15:00:00Z",
            "--group",
            "g",
        ];
        let mut seen = Vec::new();
        for command in ["list", "resend", "cancel"] {
            let args: Vec<&str> = ["herald", command].iter().chain(&flags).copied().collect();
            let f = filters(&args);
            assert_eq!(f.given().len(), 5, "{command}");
            seen.push(f.text().parse().expect("valid"));
        }
        assert!(seen.windows(2).all(|w| w[0] == w[1]), "{seen:?}");
        let bad = filters(&["herald", "cancel", "--wait-reason", "moon"]);
        let Err(crate::cli::Failure::Usage(message)) = bad.parse() else {
            panic!("an unknown wait reason is a usage error");
        };
        assert!(message.starts_with("--wait-reason: "), "{message}");
        assert!(!filters(&["herald", "list"]).any());
    }
}
