//! Logging: human-readable by default, JSON lines for Kubernetes
//! (`--log-format json`), always on stderr so stdout stays for results.

use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

/// Colour (ANSI escapes) only for a person at a terminal: never into a
/// pipe or a file, and never when `NO_COLOR` is set (<https://no-color.org>).
pub fn colour() -> bool {
    use std::io::IsTerminal as _;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// An error and its causes on one line, each cause once. Many errors
/// quote their cause in their own message (`cannot read f: No such file`)
/// and name it as their source too; `{:#}` would print it twice.
pub fn one_line(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if text.is_empty() || out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// Prints the final error of a run on stderr: `error: ...` for a person,
/// or with `--log-format json` one JSON line like the log lines before it.
pub fn print_error(format: LogFormat, message: &str) {
    match format {
        LogFormat::Human => eprintln!("error: {message}"),
        LogFormat::Json => eprintln!("{}", error_json(message)),
    }
}

/// The final error of a run as one JSON line, shaped like the log lines
/// `--log-format json` writes (a log pipeline parses every line).
pub fn error_json(message: &str) -> String {
    serde_json::json!({
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "level": "ERROR",
        "message": message,
        "target": "geolat",
    })
    .to_string()
}

/// Whether `e` is stdout closed under us (`geolat ... | head`): not a
/// failure, the reader has all it wanted. Only a write error returned as
/// is counts: errors from sockets and files reach here wrapped in context.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    let broken = Some(std::io::ErrorKind::BrokenPipe);
    e.downcast_ref::<std::io::Error>().map(|io| io.kind()) == broken
        || e.downcast_ref::<serde_json::Error>()
            .and_then(serde_json::Error::io_error_kind)
            == broken
}

/// Installs the global subscriber. `GEOLAT_LOG` / `RUST_LOG` override `default_level`.
pub fn init(format: LogFormat, default_level: &str) {
    let filter = EnvFilter::try_from_env("GEOLAT_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour())
        .with_writer(std::io::stderr);
    // A second init (tests calling run twice) keeps the first subscriber.
    let _ = match format {
        LogFormat::Human => builder.with_target(false).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    mod regression {
        use super::*;

        /// Read errors printed the OS error twice: once in the message,
        /// once more as its source under `{:#}`.
        #[test]
        fn a_cause_quoted_in_its_error_is_printed_once() {
            #[derive(Debug, thiserror::Error)]
            #[error("cannot read world file w.json: {source}")]
            struct Read {
                source: std::io::Error,
            }
            let io = std::io::Error::from(std::io::ErrorKind::NotFound);
            let e = anyhow::Error::new(Read { source: io }).context("advising");
            assert_eq!(
                one_line(&e),
                "advising: cannot read world file w.json: entity not found"
            );
        }

        #[test]
        fn a_json_error_line_is_json() {
            let line = error_json("store file://x: \"quoted\"\nnext");
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            assert_eq!(v["level"], "ERROR");
            assert_eq!(v["message"], "store file://x: \"quoted\"\nnext");
            assert!(!line.contains('\n'));
        }
    }
}
