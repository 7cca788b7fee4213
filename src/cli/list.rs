//! `herald list`: one page of the deliveries the filters match, newest
//! first, and the command that prints the next page, ready to run as
//! printed (the program as it was invoked, the configuration it read, the
//! filters given, the cursor).

use super::filters::FilterArgs;
use super::{Failure, view};
use crate::config::Config;
use crate::domain::filter::{self, PageRequest};
use anyhow::Context as _;
use std::path::Path;

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub filters: FilterArgs,
    /// At most this many rows (1 to 10000).
    #[arg(long, value_name = "N", default_value_t = filter::DEFAULT_LIMIT)]
    pub limit: i64,
    /// Start after the rows already seen: the cursor of the previous page's
    /// `next page:` hint (or `next_cursor` of --json).
    #[arg(long, value_name = "CURSOR")]
    pub cursor: Option<String>,
    /// Print {"deliveries": [...], "next_cursor": ...} as JSON; next_cursor
    /// is null on the last page.
    #[arg(long)]
    pub json: bool,
}

impl ListArgs {
    fn request(&self) -> Result<PageRequest, Failure> {
        let usage = |e: filter::BadFilter| Failure::Usage(e.as_flag());
        let limit = filter::parse_limit(Some(&self.limit.to_string())).map_err(usage)?;
        Ok(PageRequest {
            filter: self.filters.parse()?,
            limit,
            after: filter::parse_cursor(self.cursor.as_deref()).map_err(usage)?,
        })
    }

    /// The flags given that the next page repeats (all but the cursor).
    fn repeated(&self) -> Vec<String> {
        let mut args = Vec::new();
        for (flag, value) in self.filters.given() {
            args.extend([flag.to_owned(), value.to_owned()]);
        }
        if self.limit != filter::DEFAULT_LIMIT {
            args.extend(["--limit".to_owned(), self.limit.to_string()]);
        }
        args
    }
}

/// `word` as a POSIX shell reads it back: as it is when it holds only
/// characters no shell treats specially, else in single quotes.
fn quoted(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=+@,%".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The command that lists the page after `cursor`: this program as it was
/// invoked, `--config` where a file was named on the command line (one
/// from HERALD_CONFIG is still in the environment), the flags given.
fn next_page(config: Option<&Path>, args: &ListArgs, cursor: &str) -> String {
    let mut words = vec!["list".to_owned()];
    words.extend(args.repeated());
    words.extend(["--cursor".to_owned(), cursor.to_owned()]);
    rerun(config, &words)
}

/// The command line that runs herald with `words` as printed: this program
/// as it was invoked, `--config` where a file was named on the command
/// line (one from HERALD_CONFIG is still in the environment), each word
/// quoted for a shell where it needs to be.
pub(super) fn rerun(config: Option<&Path>, words: &[String]) -> String {
    let mut all = vec![crate::print::program()];
    let from_env = std::env::var_os("HERALD_CONFIG");
    if let Some(path) = config.filter(|p| from_env.as_deref() != Some(p.as_os_str())) {
        all.extend(["--config".to_owned(), path.to_string_lossy().into_owned()]);
    }
    all.extend(words.iter().cloned());
    let all: Vec<String> = all.iter().map(|w| quoted(w)).collect();
    all.join(" ")
}

pub async fn run(config: &Config, named: Option<&Path>, args: ListArgs) -> Result<(), Failure> {
    let request = args.request()?;
    let store = super::store(config).await?;
    let page = store
        .page(&request.filter, request.after.as_ref(), request.limit)
        .await
        .context("listing deliveries failed")?;
    let next = page.next.map(|c| c.encode());
    if args.json {
        let text = serde_json::to_string_pretty(&serde_json::json!({
            "deliveries": page.deliveries,
            "next_cursor": next,
        }))
        .context("formatting failed")?;
        println!("{text}");
        return Ok(());
    }
    let hint = next.map(|cursor| next_page(named, &args, &cursor));
    println!("{}", view::list(&page.deliveries, hint.as_deref()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[test]
    fn words_a_shell_would_change_are_quoted() {
        assert_eq!(quoted("failed"), "failed");
        assert_eq!(
            quoted("2026-12-02T14:00:00+07:00"),
            "2026-12-02T14:00:00+07:00"
        );
        assert_eq!(quoted("my group"), "'my group'");
        assert_eq!(quoted("it's"), r"'it'\''s'");
        assert_eq!(quoted(""), "''");
        assert_eq!(quoted("$HOME"), "'$HOME'");
    }

    #[test]
    fn the_next_page_repeats_the_filters_given() {
        let cli = crate::cli::Cli::parse_from([
            "herald", "list", "--status", "failed", "--group", "a b", "--limit", "3",
        ]);
        let crate::cli::Command::List(args) = cli.command else {
            panic!("not list");
        };
        let hint = next_page(Some(Path::new("/etc/herald.toml")), &args, "abc");
        assert!(
            hint.ends_with(
                " --config /etc/herald.toml list --status failed --group 'a b' --limit 3 --cursor abc"
            ),
            "{hint}"
        );
        assert!(args.request().is_ok());
    }
}
