//! The `geolat` binary: parse arguments, set up logging, run, and turn the
//! outcome into one line and an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = geolat::cli::Cli::parse();
    geolat::telemetry::init(cli.log_format, cli.log_level());
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Run on a worker thread, not the main thread: a task woken by socket
    // readiness then resumes on the worker that polled the I/O driver,
    // without a cross-thread wake-up that would add tens to hundreds of
    // microseconds to every measured phase.
    let outcome = runtime.block_on(async { tokio::spawn(geolat::cli::run(cli)).await });
    match outcome.unwrap_or_else(|e| Err(anyhow::anyhow!("internal error: {e}"))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` puts the whole context chain on one line.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
