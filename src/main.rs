//! The `herald` binary: parse the arguments, load the configuration, run one
//! command. Exit codes: 0 success, 1 runtime failure, 2 bad usage or config.

use clap::Parser;
use herald::cli::{self, Cli};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("herald: cannot start the runtime: {err}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(cli::Failure::Usage(message)) => {
            eprintln!("herald: {message}");
            ExitCode::from(2)
        }
        Err(cli::Failure::Runtime(err)) => {
            eprintln!(
                "herald: {}",
                err.chain()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join(": ")
            );
            ExitCode::from(1)
        }
    }
}

/// mimalloc: the hot path allocates per message (JSON, HTTP, AMQP frames),
/// and glibc's allocator was a sixth of the profile under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
