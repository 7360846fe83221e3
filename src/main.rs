//! The `geolat` binary: parse arguments, set up logging, run, and turn the
//! outcome into one line and an exit code.

use std::process::ExitCode;

use clap::Parser as _;

/// A one-shot probe that takes its samples one at a time runs on a single
/// thread: socket readiness then wakes the very thread that waits, one
/// wake-up per phase instead of a hand-off between threads, which reads
/// closer to the network's own time. So does a lab serving ground truth
/// (`lab serve --busy-wait`): its delays end on the thread that answers,
/// where a pool would hand the answer to a worker idle since the delay
/// began and add that worker's wake-up to every delayed answer. Everything
/// else gets the worker pool.
fn runtime_for(cli: &geolat::cli::Cli) -> tokio::runtime::Builder {
    let mut builder = if cli.single_threaded() {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    builder.enable_all();
    builder
}

fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().collect();
    let cli = match geolat::cli::Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        // A mistake in the command line: one line like every other error
        // (JSON under `--log-format json`); help, version and a person's
        // usage mistakes are clap's own.
        Err(e) => match geolat::cli::refused(&e, &args) {
            Some(r) => {
                geolat::telemetry::print_error(r.format, &r.line);
                return ExitCode::from(r.status);
            }
            None => e.exit(),
        },
    };
    geolat::telemetry::init(cli.log_format, cli.log_level());
    let cli_format = cli.log_format;
    let runtime = match runtime_for(&cli).build() {
        Ok(rt) => rt,
        Err(e) => {
            let message = format!("cannot start the async runtime: {e}");
            geolat::telemetry::print_error(cli_format, &message);
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
        // The reader of our output went away (`| head`): end quietly.
        Err(e) if geolat::telemetry::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            // The whole context chain on one line, each cause once.
            let message = geolat::telemetry::one_line(&e);
            geolat::telemetry::print_error(cli_format, &message);
            ExitCode::from(geolat::cli::exit_code(&e))
        }
    }
}
