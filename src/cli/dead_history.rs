//! `herald dead history`: the record of every replay and purge
//! (`dead_letter_actions`), newest first, as a table or as JSON.

use super::{Failure, store};
use crate::config::Config;
use crate::print;
use crate::storage::dead_actions::ActionView;
use anyhow::Context as _;
use std::path::Path;

/// Actions a page shows unless `--limit` says.
const DEFAULT_LIMIT: i64 = 20;
/// Handles a row shows before it says how many more there are.
const ROW_HANDLES: usize = 3;
/// Characters of a reason a row shows (`--json` gives it whole).
const ROW_REASON: usize = 40;

#[derive(clap::Args, Debug)]
pub struct HistoryArgs {
    /// Show the latest N actions.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_LIMIT,
          value_parser = clap::value_parser!(i64).range(1..=10_000))]
    pub limit: i64,
    /// Show the actions before this one (its number, `#` in the table):
    /// the next page.
    #[arg(long, value_name = "NUMBER")]
    pub before: Option<i64>,
    /// Print a JSON array for scripts: each action with every dead letter
    /// it took (handle, message_id, type, id, error).
    #[arg(long)]
    pub json: bool,
}

pub async fn run(config: &Config, named: Option<&Path>, args: HistoryArgs) -> Result<(), Failure> {
    let store = store(config).await?;
    let actions = store
        .dead_actions(args.limit, args.before)
        .await
        .context("reading the history failed (has `herald setup` run on this database?)")?;
    if args.json {
        let text = serde_json::to_string_pretty(&actions).context("formatting failed")?;
        println!("{text}");
    } else {
        let older = |before: i64| {
            let mut words = vec!["dead".to_owned(), "history".to_owned()];
            if args.limit != DEFAULT_LIMIT {
                words.extend(["--limit".to_owned(), args.limit.to_string()]);
            }
            words.extend(["--before".to_owned(), before.to_string()]);
            super::list::rerun(named, &words)
        };
        println!("{}", table(&actions, args.limit, &older));
    }
    Ok(())
}

/// Who: the actor, and the operator's name where given.
fn by(action: &ActionView) -> String {
    match &action.operator {
        Some(name) => format!("{} ({})", action.actor, print::cut(name, 20)),
        None => action.actor.clone(),
    }
}

/// What it was asked to take.
fn asked(action: &ActionView) -> String {
    match (&action.handles, action.asked_count) {
        (Some(handles), _) => print::count(handles.len(), "handle", "handles"),
        (None, Some(n)) => format!("{n} counted"),
        (None, None) => "all".to_owned(),
    }
}

/// How it ended: how many it took, or that it never said.
fn done(action: &ActionView) -> String {
    match (action.count, &action.error) {
        (None, _) => "unfinished".to_owned(),
        (Some(n), None) => n.to_string(),
        (Some(n), Some(_)) => format!("{n}, stopped"),
    }
}

/// The first handles it took, and how many more.
fn letters(action: &ActionView) -> String {
    let shown: Vec<&str> = action
        .letters
        .iter()
        .take(ROW_HANDLES)
        .map(|l| l.handle.as_str())
        .collect();
    let more = action.letters.len().saturating_sub(ROW_HANDLES);
    let mut text = print::or_missing((!shown.is_empty()).then(|| shown.join(" ")));
    if more > 0 {
        text.push_str(&format!(" +{more}"));
    }
    text
}

/// The table of `herald dead history`, then what it shows and, where the
/// page is full, the command that prints the actions before (`older`).
pub fn table(actions: &[ActionView], limit: i64, older: &dyn Fn(i64) -> String) -> String {
    if actions.is_empty() {
        return "no replay or purge recorded".to_owned();
    }
    let mut table = print::table(
        &[
            "#",
            "started (UTC)",
            "action",
            "by",
            "asked",
            "done",
            "reason",
            "dead letters",
        ],
        &[0],
    );
    for action in actions {
        table.add_row([
            action.id.to_string(),
            print::time(action.started_at),
            action.action.clone(),
            by(action),
            asked(action),
            done(action),
            print::or_missing(action.reason.as_deref().map(|r| print::cut(r, ROW_REASON))),
            letters(action),
        ]);
    }
    let mut text = print::render(&table);
    for action in actions {
        if let (Some(error), Some(_)) = (&action.error, action.count) {
            text.push_str(&format!(
                "\n#{} stopped: {}",
                action.id,
                print::one_line(error)
            ));
        }
    }
    if actions.iter().any(|a| a.count.is_none()) {
        text.push_str(
            "\nunfinished: its process stopped before it could record the end; \
             any of what it was asked may have been done (`herald dead list` shows what is left)",
        );
    }
    let n = print::count(actions.len(), "action", "actions");
    text.push_str(&format!("\n{n}, newest first"));
    if i64::try_from(actions.len()).is_ok_and(|shown| shown == limit)
        && let Some(last) = actions.last()
    {
        text.push_str(&format!("\nolder ones: {}", older(last.id)));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::dead_actions::LetterRecord;
    use chrono::{TimeZone, Utc};

    fn action(id: i64, count: Option<i32>, error: Option<&str>) -> ActionView {
        let letter = |handle: &str| LetterRecord {
            handle: handle.into(),
            message_id: None,
            kind: Some("send".into()),
            id: None,
            error: Some("unknown connection".into()),
        };
        ActionView {
            id,
            started_at: Utc
                .with_ymd_and_hms(2026, 12, 2, 20, 40, 1)
                .single()
                .expect("time"),
            finished_at: count.map(|_| Utc::now()),
            action: "replay".into(),
            actor: "cli".into(),
            operator: Some("ana".into()),
            reason: Some("connection added".into()),
            queue: "herald.dead".into(),
            handles: None,
            asked_count: None,
            count,
            letters: ["a1", "b2", "c3", "d4"]
                .iter()
                .take(usize::try_from(count.unwrap_or(0)).unwrap_or(0))
                .map(|h| letter(h))
                .collect(),
            error: error.map(str::to_owned),
        }
    }

    #[test]
    fn a_row_says_who_what_how_many_and_which_and_what_is_unfinished() {
        let actions = [
            action(3, None, None),
            action(2, Some(4), Some("RabbitMQ went away")),
            action(1, Some(2), None),
        ];
        let older = |before: i64| format!("herald dead history --before {before}");
        let text = table(&actions, 3, &older);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].trim_start().starts_with('#'), "{text}");
        assert!(lines[2].contains("unfinished"), "{text}");
        assert!(lines[3].contains("4, stopped") && lines[3].ends_with("a1 b2 c3 +1"));
        assert!(lines[4].contains("2026-12-02 20:40:01  replay  cli (ana)  all"));
        assert!(lines[4].ends_with("a1 b2"), "{text}");
        assert!(text.contains("\n#2 stopped: RabbitMQ went away"), "{text}");
        assert!(text.contains("\nunfinished: "), "{text}");
        assert!(
            text.ends_with("3 actions, newest first\nolder ones: herald dead history --before 1"),
            "{text}"
        );
        assert_eq!(table(&[], 20, &older), "no replay or purge recorded");
    }
}
