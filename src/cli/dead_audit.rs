//! The record `herald dead replay` and `purge` leave in
//! `dead_letter_actions`: written before the queue is touched, so that a
//! replay or purge never happens unrecorded, and completed with the dead
//! letters it took once it ends. An action whose process dies between the
//! two stays in the history as unfinished (see `storage::dead_actions`).

use super::Failure;
use crate::config::Config;
use crate::domain::DeadLetterAction;
use crate::queue::dead::DeadLetter;
use crate::storage::Store;
use crate::storage::dead_actions::{ActionStart, LetterRecord};

/// An action under way: its row, and the dead letters it took so far.
pub struct Audit {
    store: Store,
    id: i64,
    action: DeadLetterAction,
    letters: Vec<LetterRecord>,
}

fn done(action: DeadLetterAction) -> &'static str {
    match action {
        DeadLetterAction::Replay => "replayed",
        DeadLetterAction::Purge => "purged",
    }
}

impl Audit {
    /// Records that `start` begins. Nothing is done to the queue unless
    /// this succeeds: an action herald cannot record is not run.
    pub async fn start(config: &Config, start: ActionStart<'_>) -> Result<Audit, Failure> {
        let refused = |cause: String| {
            Failure::Runtime(anyhow::anyhow!(
                "cannot record the {} in the audit trail ({cause}): nothing was {}. \
                 herald dead {} needs PostgreSQL too ([database] url in herald.toml, or \
                 HERALD_DATABASE_URL), with `herald setup` run on it",
                start.action,
                done(start.action),
                start.action
            ))
        };
        let store = Store::connect(&config.database)
            .await
            .map_err(|e| refused(crate::error_chain(&e)))?;
        let id = store
            .dead_action_started(&start)
            .await
            .map_err(|e| refused(crate::error_chain(&e)))?;
        Ok(Audit {
            store,
            id,
            action: start.action,
            letters: Vec::new(),
        })
    }

    /// Notes one dead letter the action took.
    pub fn took(&mut self, letter: &DeadLetter) {
        self.letters.push(LetterRecord::of(letter));
    }

    /// Completes the record with the dead letters taken and, where the
    /// action stopped early, why.
    pub async fn finish(self, error: Option<&str>) -> Result<(), Failure> {
        let finished = self
            .store
            .dead_action_finished(self.id, &self.letters, error)
            .await;
        self.store.pool.close().await;
        finished.map_err(|e| {
            Failure::Runtime(anyhow::anyhow!(
                "{} {}, but its record (#{} in `herald dead history`) could not be completed \
                 ({}): it shows as unfinished",
                done(self.action),
                crate::print::count(self.letters.len(), "dead letter", "dead letters"),
                self.id,
                crate::error_chain(&e)
            ))
        })
    }
}
