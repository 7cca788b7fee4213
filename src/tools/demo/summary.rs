//! The demo's closing table: per connection, what was delivered, failed,
//! retried, deferred, and how often its token was renewed.

use super::samples::{CONNECTIONS, HIGHQ, ONEBOX};
use crate::storage::figures::ConnectionFigures;
use crate::tools::simulator::SimHandle;
use comfy_table::Table;

/// Token renewals each provider served beyond the first token: OneBox's
/// `/api/authenticate` calls and HighQ's refreshes (the first of which
/// fetches the first access token). The other three have static secrets.
pub fn token_refreshes(sim: &SimHandle, connection: &str) -> Option<u64> {
    match connection {
        ONEBOX => Some(sim.onebox_authentications().saturating_sub(1)),
        HIGHQ => Some(sim.highq_refreshes().0.saturating_sub(1)),
        _ => None,
    }
}

/// One row per connection, in the demo's provider order.
pub fn table(
    figures: &[ConnectionFigures],
    refreshes: impl Fn(&str) -> Option<u64>,
    deferrals: impl Fn(&str) -> u64,
) -> Table {
    let mut table = Table::new();
    table.set_header([
        "connection",
        "delivered",
        "failed",
        "waiting",
        "provider calls",
        "retries",
        "token refreshes",
        "deferrals",
    ]);
    for connection in CONNECTIONS {
        let empty = ConnectionFigures::default();
        let f = figures
            .iter()
            .find(|f| f.connection == connection)
            .unwrap_or(&empty);
        let refreshed = refreshes(connection).map_or_else(|| "-".to_owned(), |n| n.to_string());
        table.add_row([
            connection.to_owned(),
            f.success.to_string(),
            f.failed.to_string(),
            f.waiting.to_string(),
            f.calls.to_string(),
            f.retryable.to_string(),
            refreshed,
            deferrals(connection).to_string(),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_connection_has_a_row_even_without_deliveries() {
        let onebox = ConnectionFigures {
            connection: ONEBOX.into(),
            success: 9,
            failed: 1,
            calls: 14,
            retryable: 3,
            deferred: 1,
            ..ConnectionFigures::default()
        };
        let table = table(
            &[onebox],
            |c| (c == ONEBOX).then_some(2),
            |c| if c == ONEBOX { 4 } else { 0 },
        )
        .to_string();
        for connection in CONNECTIONS {
            assert!(table.contains(connection), "{table}");
        }
        let row = table
            .lines()
            .find(|line| line.contains(ONEBOX))
            .unwrap_or_default();
        let cells: Vec<&str> = row
            .split(['|', '│'])
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        assert_eq!(cells, [ONEBOX, "9", "1", "0", "14", "3", "2", "4"]);
    }
}
