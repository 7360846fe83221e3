//! The live loop: three sources of events, one state, a frame drawn only
//! when something changed.
//!
//! - keys and resizes come from a thread blocked in the terminal's read
//!   (no polling: an idle dashboard wakes for nothing);
//! - data comes from the refresh task, which reads the store every
//!   `refresh` on its own (a slow or dead store never delays a key), never
//!   more often than leaves it idle four fifths of the time, and retries a
//!   failed read sooner, backing off;
//! - a one-second tick redraws the status line's data age.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use ratatui::Terminal;
use ratatui::backend::Backend;
use ratatui::crossterm::event::{self as ct, KeyCode, KeyEventKind, KeyModifiers};
use tokio::sync::{Notify, mpsc};

use super::draw;
use super::snapshot::{self, Snapshot, Source};
use super::state::{self, Data, Event, Flow, Key, State};
use super::table::table;
use super::theme::Theme;

/// The longest one read of the store may take before it counts as failed.
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// The first retry after a failed read; doubled up to the refresh interval.
const FIRST_RETRY: Duration = Duration::from_secs(2);
/// A refresh waits at least this many times as long as the last read took:
/// a day-sized store takes 13 s to read on 2 cores, and re-reading it
/// every 15 s kept the dashboard at 78% CPU (benches/views.sh); this way
/// reading takes at most a fifth of the time.
const READ_SHARE: u32 = 4;

/// Reads the store now and then every `every`, sending each outcome; a
/// failed read keeps the last good snapshot and says when it retries.
pub async fn refresher(
    source: Arc<Source>,
    every: Duration,
    tx: mpsc::Sender<Event>,
    now_please: Arc<Notify>,
) {
    let mut last: Option<Arc<Snapshot>> = None;
    let mut retry = FIRST_RETRY;
    loop {
        let began = std::time::Instant::now();
        let read = tokio::time::timeout(READ_TIMEOUT, snapshot::load(&source, Utc::now())).await;
        let (failure, wait) = match read {
            Ok(Ok(s)) => {
                last = Some(s);
                retry = FIRST_RETRY;
                (None, every.max(began.elapsed() * READ_SHARE))
            }
            Ok(Err(e)) => {
                let wait = retry.min(every);
                retry = (retry * 2).min(every);
                (Some(crate::telemetry::one_line(&e.into())), wait)
            }
            Err(_) => {
                let wait = retry.min(every);
                retry = (retry * 2).min(every);
                (
                    Some(format!("no answer within {} s", READ_TIMEOUT.as_secs())),
                    wait,
                )
            }
        };
        let next = Utc::now() + chrono::TimeDelta::from_std(wait).unwrap_or_default();
        let data = Data {
            snapshot: last.clone(),
            failure: failure.map(|f| (f, next)),
        };
        if tx.send(Event::Data(data)).await.is_err() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = now_please.notified() => {}
        }
    }
}

/// The terminal's key and resize events, read on a thread of their own.
pub fn terminal_events(tx: mpsc::Sender<Event>) {
    std::thread::spawn(move || {
        loop {
            let event = match ct::read() {
                Ok(e) => e,
                Err(_) => return,
            };
            let event = match event {
                ct::Event::Key(k) if k.kind != KeyEventKind::Release => match key(k) {
                    Some(k) => Event::Key(k),
                    None => continue,
                },
                ct::Event::Resize(w, h) => Event::Resize(w, h),
                _ => continue,
            };
            if tx.blocking_send(event).is_err() {
                return;
            }
        }
    });
}

/// A terminal key as the dashboard knows it.
pub fn key(k: ct::KeyEvent) -> Option<Key> {
    if k.modifiers.contains(KeyModifiers::CONTROL) {
        return matches!(k.code, KeyCode::Char('c') | KeyCode::Char('d')).then_some(Key::Interrupt);
    }
    Some(match k.code {
        KeyCode::Char(c) => Key::Char(c),
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        KeyCode::PageUp => Key::PageUp,
        KeyCode::PageDown => Key::PageDown,
        KeyCode::Home => Key::Home,
        KeyCode::End => Key::End,
        KeyCode::Enter => Key::Enter,
        KeyCode::Esc => Key::Esc,
        KeyCode::Tab => Key::Tab,
        KeyCode::BackTab => Key::BackTab,
        KeyCode::Backspace => Key::Backspace,
        _ => return None,
    })
}

/// Folds events into the state and draws, until a quit key, the events
/// ending or `stop`. Generic over the backend: the tests drive it on a
/// `TestBackend`.
pub async fn event_loop<B: Backend>(
    terminal: &mut Terminal<B>,
    mut state: State,
    theme: &Theme,
    mut events: mpsc::Receiver<Event>,
    refresh_now: &Notify,
    stop: impl std::future::Future<Output = ()>,
) -> Result<State, B::Error> {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut stop = std::pin::pin!(stop);
    loop {
        // Drawn after each event (and only then): nothing else changes
        // what is on screen.
        let shown = table_for(&state);
        state::settle(&mut state, &shown);
        terminal.draw(|f| draw::frame(f, &state, &shown, theme, Utc::now()))?;
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { break };
                match state::update(&mut state, event, &shown) {
                    Flow::Quit => break,
                    Flow::Refresh => refresh_now.notify_one(),
                    Flow::Continue => {}
                }
            }
            // The data age on the status line moves once a second.
            _ = tick.tick(), if state.data.snapshot.is_some() || state.data.failure.is_some() => {}
            () = &mut stop => break,
        }
    }
    Ok(state)
}

fn table_for(state: &State) -> super::table::Table {
    match &state.data.snapshot {
        Some(s) => table(s, state),
        None => super::table::Table {
            regions: Vec::new(),
            rows: Vec::new(),
            edges: super::table::FIXED_EDGES,
            continents: Vec::new(),
            total: 0,
        },
    }
}

/// Puts the terminal back (raw mode off, main screen, cursor shown) when
/// dropped: on every way out of the dashboard, errors included.
pub struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        restore();
    }
}

fn restore() {
    ratatui::restore();
    let _ = ratatui::crossterm::execute!(std::io::stdout(), ratatui::crossterm::cursor::Show);
}

/// On a panic, the terminal is restored before the message is printed
/// (`ratatui::try_init` restores raw mode and the screen; this adds the
/// cursor), so the message is readable and the shell usable.
pub fn restore_on_panic() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
}
