//! `geolat dash`: the live terminal dashboard. Events -> state -> draw:
//!
//! ```text
//!  terminal thread ──keys, resizes──┐
//!                                   ├──► Event ──► state::update ──► State
//!  refresh task ──Data (snapshot ───┘     (pure)        │
//!   every --refresh,    or failure)                     ▼
//!   snapshot::load: analyze_sliced     table::table(snapshot, state) (pure)
//!   + advise + report::build                            │
//!   + audit + AWS routing                               ▼
//!                                      draw::frame(state, table, now) ──► Frame
//!                                      (pure; only when something changed,
//!                                       or once a second for the data age)
//! ```
//!
//! Decisions a reader must know:
//!
//! * The only I/O is the refresh task and the terminal; a key is handled
//!   while a slow store is still being read, and a failed read keeps the
//!   last snapshot on screen with "store unreachable: WHY (retrying in N s)".
//! * The selected geo is kept by id, so it stays selected when a refresh
//!   or a sort moves its row.
//! * The plan is `geolat report`'s model (`report::build`), so the
//!   dashboard and the report never disagree on a decision.
//! * Colour is never the only signal: cells carry numbers and glyphs.
//! * When stdout is not a terminal, the views are printed once (`text`).

pub mod draw;
#[cfg(test)]
mod fixture;
#[cfg(test)]
mod frames;
pub mod run;
pub mod snapshot;
pub mod state;
pub mod table;
pub mod text;
pub mod theme;

use std::io::IsTerminal as _;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, mpsc};

use snapshot::Source;
use state::State;
use theme::Theme;

/// How the dashboard looks and refreshes.
pub struct Options {
    pub refresh: Duration,
    pub theme: Theme,
    pub fixed_scale: bool,
}

/// Prints the views once in `format`.
pub async fn once(
    source: &Source,
    options: &Options,
    format: text::Format,
    out: &mut (dyn std::io::Write + Send),
) -> anyhow::Result<()> {
    let snapshot = snapshot::load(source, chrono::Utc::now()).await?;
    let mut state = State::new(source.phase, options.fixed_scale, (200, 60));
    state.data.snapshot = Some(snapshot.clone());
    let t = table::table(&snapshot, &state);
    text::print(&snapshot, &state, &t, &options.theme, format, out)?;
    Ok(())
}

/// Whether the dashboard can draw: stdout and stdin are a terminal.
pub fn interactive() -> bool {
    std::io::stdout().is_terminal() && std::io::stdin().is_terminal()
}

/// Draws until the user quits or `stop` fires; the terminal is restored on
/// every way out.
pub async fn live(
    source: Source,
    options: &Options,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let (tx, rx) = mpsc::channel(64);
    let refresh_now = Arc::new(Notify::new());
    let phase = source.phase;
    let refresher = tokio::spawn(run::refresher(
        Arc::new(source),
        options.refresh,
        tx.clone(),
        refresh_now.clone(),
    ));
    let mut terminal = ratatui::try_init()?;
    let _restore = run::Restore;
    run::restore_on_panic();
    let size = terminal.size()?;
    run::terminal_events(tx);
    let state = State::new(phase, options.fixed_scale, (size.width, size.height));
    let outcome =
        run::event_loop(&mut terminal, state, &options.theme, rx, &refresh_now, stop).await;
    refresher.abort();
    outcome?;
    Ok(())
}
