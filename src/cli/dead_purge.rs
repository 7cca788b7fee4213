//! `herald dead purge`: counts the dead letters, asks for their number on
//! a terminal, records the purge, then deletes exactly the ones counted.

use super::Failure;
use super::dead::{PurgeArgs, failed, failure_text, open, start};
use super::dead_audit::Audit;
use crate::config::Config;
use crate::domain::DeadLetterAction;
use crate::print::count;
use std::io::{BufRead, IsTerminal, Write};

pub async fn run(config: &Config, args: PurgeArgs) -> Result<(), Failure> {
    let amqp = &config.amqp;
    // Counted, then asked with no connection open: a person may take a while.
    let queue = open(amqp).await?;
    let name = queue.name().to_owned();
    let counted = queue.count().await;
    queue.close().await;
    let counted = counted.map_err(|err| failed(amqp, "counting the dead letters", err))?;
    if counted == 0 {
        println!("no dead letters in {name}: nothing to purge");
        return Ok(());
    }
    if !args.yes {
        confirm(counted, &name)?;
    }
    let start = start(
        DeadLetterAction::Purge,
        &args.why,
        &name,
        None,
        Some(counted),
    );
    let mut audit = Audit::start(config, start).await?;
    let purged = match open(amqp).await {
        Ok(queue) => {
            let purged = queue
                .purge(counted, |letter| audit.took(letter))
                .await
                .map_err(|err| failed(amqp, "purging", err));
            queue.close().await;
            purged
        }
        Err(failure) => Err(failure),
    };
    audit
        .finish(purged.as_ref().err().map(failure_text).as_deref())
        .await?;
    println!("purged {} from {name}", letters(purged?));
    Ok(())
}

fn letters(n: u32) -> String {
    count(n as usize, "dead letter", "dead letters")
}

/// Asks on the terminal for the number of dead letters to delete.
fn confirm(counted: u32, name: &str) -> Result<(), Failure> {
    let n = letters(counted);
    if !std::io::stdin().is_terminal() {
        return Err(Failure::Usage(format!(
            "herald dead purge asks before it deletes, and stdin is not a terminal: \
             pass --yes to delete the {n} in {name} without asking"
        )));
    }
    eprint!(
        "This deletes {n} from {name} for good (`herald dead list` shows them).\n\
         Type the number of dead letters to confirm: "
    );
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|err| Failure::Runtime(err.into()))?;
    if answer.trim() == counted.to_string() {
        return Ok(());
    }
    Err(Failure::Runtime(anyhow::anyhow!(
        "not confirmed ({:?} is not {counted}): nothing was deleted",
        answer.trim()
    )))
}
