//! Drawing: the state and the latest snapshot into a frame, nothing else
//! (no I/O, no clock: `now` is a parameter). Every view shares the chrome:
//! a title line, the status line (data age, or why the store cannot be
//! read) and a footer of keys; `?` lays the full key list over it.

mod detail;
mod matrix;
mod plan;
mod regions;

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::state::{State, View};
use super::table::Table;
use super::theme::Theme;

/// Below this the views do not fit: a screen saying so instead.
pub const MIN_WIDTH: u16 = 50;
pub const MIN_HEIGHT: u16 = 12;

/// Every key, for the footer (as many as fit) and the help overlay.
pub const KEYS: [(&str, &str); 15] = [
    ("?", "help"),
    ("q", "quit"),
    ("1-4 Tab", "matrix, geo, regions, plan"),
    ("↑↓ j k", "select a geo (PgUp PgDn g G)"),
    ("Enter", "the selected geo's detail"),
    ("Esc", "back to the matrix; clear filter and search"),
    ("s", "sort on the next column"),
    ("r", "reverse the sort"),
    ("c", "filter: next continent"),
    ("/", "search geos (Enter keeps, Esc clears)"),
    ("p", "percentile: p50, p90, p99"),
    ("f", "phase: dns tcp tls ttfb total warm"),
    ("x", "colour scale: fitted to the data, or fixed"),
    ("R", "read the store now"),
    ("Ctrl-C", "quit"),
];

/// Draws the whole frame.
pub fn frame(f: &mut Frame, state: &State, table: &Table, theme: &Theme, now: DateTime<Utc>) {
    let area = f.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(f, area);
        return;
    }
    let [title, status, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);
    f.render_widget(Paragraph::new(title_line(state, theme)), title);
    f.render_widget(
        Paragraph::new(status_line(state, table, theme, now)),
        status,
    );
    match state.view {
        View::Matrix => matrix::draw(f, body, state, table, theme),
        View::Detail => detail::draw(f, body, state, table, theme),
        View::Regions => regions::draw(f, body, state, theme),
        View::Plan => plan::draw(f, body, state, theme),
    }
    f.render_widget(
        Paragraph::new(footer_line(state, theme, footer.width)),
        footer,
    );
    if state.help {
        help(f, area, theme);
    }
}

fn too_small(f: &mut Frame, area: Rect) {
    let text = vec![
        Line::from("terminal too small"),
        Line::from(format!("need {MIN_WIDTH} x {MIN_HEIGHT}")),
        Line::from(format!("have {} x {}", area.width, area.height)),
        Line::from("q quits"),
    ];
    f.render_widget(Paragraph::new(text), area);
}

fn title_line(state: &State, theme: &Theme) -> Line<'static> {
    let mut spans = vec![Span::styled("geolat dash ", theme.title())];
    for (i, v) in View::ALL.iter().enumerate() {
        let label = format!(" {} {} ", i + 1, v.title());
        let style = if *v == state.view {
            theme.selected()
        } else {
            theme.dim()
        };
        spans.push(Span::styled(label, style));
    }
    spans.push(Span::raw(format!(
        "  {} {}",
        state.percentile.as_str(),
        state.phase
    )));
    Line::from(spans)
}

/// How old the data is, or why there is none; never blank.
fn status_line(state: &State, table: &Table, theme: &Theme, now: DateTime<Utc>) -> Line<'static> {
    let dot = theme.glyphs().dot;
    let mut spans = Vec::new();
    match &state.data.snapshot {
        None if state.data.failure.is_none() => spans.push(Span::raw(format!(
            "reading the store{}",
            theme.glyphs().ellipsis
        ))),
        None => {}
        Some(s) => {
            let age = (now - s.loaded_at).num_seconds().max(0);
            let a = &s.analysis;
            spans.push(Span::raw(format!(
                "data {} old {dot} {} windows {}-{} {dot} {}/{} geos",
                age_text(age),
                a.windows.merged,
                a.since.format("%H:%M"),
                a.until.format("%H:%M"),
                table.rows.len(),
                table.total,
            )));
            if let Some(c) = &state.continent {
                spans.push(Span::raw(format!(" {dot} continent {c}")));
            }
            if !state.search.text.is_empty() || state.search.editing {
                let cursor = match (state.search.editing, theme.ascii) {
                    (false, _) => "",
                    (true, false) => "▏",
                    (true, true) => "_",
                };
                spans.push(Span::raw(format!(" {dot} /{}{cursor}", state.search.text)));
            }
        }
    }
    // A failing store comes first: on a narrow terminal it is what must
    // not be cut off.
    if let Some((why, retry)) = &state.data.failure {
        let secs = (*retry - now).num_seconds().max(0);
        let tail = if spans.is_empty() {
            String::new()
        } else {
            format!(" {dot} ")
        };
        spans.insert(
            0,
            Span::styled(
                format!("store unreachable: {why} (retrying in {secs} s){tail}"),
                theme.warning(),
            ),
        );
    }
    Line::from(spans)
}

fn age_text(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s => format!("{} h", s / 3600),
    }
}

/// The keys that fit, most useful first.
fn footer_line(state: &State, theme: &Theme, width: u16) -> Line<'static> {
    if state.search.editing {
        return Line::from(Span::styled(
            "type to search, Enter keeps, Esc clears",
            theme.dim(),
        ));
    }
    let mut used = 0usize;
    let mut spans = Vec::new();
    for (key, what) in KEYS.iter().filter(|(k, _)| !k.is_empty()) {
        let short = what.split([',', ':', '(']).next().unwrap_or(what).trim();
        let key = key_text(key, theme);
        let text = format!("{key} {short}  ");
        let w = text.chars().count();
        if used + w > usize::from(width) {
            break;
        }
        used += w;
        spans.push(Span::styled(format!("{key} "), theme.title()));
        spans.push(Span::styled(format!("{short}  "), theme.dim()));
    }
    Line::from(spans)
}

fn help(f: &mut Frame, area: Rect, theme: &Theme) {
    let width = area.width.min(64);
    let height = area.height.min(KEYS.len() as u16 + 3);
    let r = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    let g = theme.glyphs();
    let mut lines: Vec<Line> = KEYS
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(format!("{:>8}  ", key_text(k, theme)), theme.title()),
                Span::raw(*what),
            ])
        })
        .collect();
    lines.push(Line::raw(format!(
        "  glyphs: {} served today  {} best  {} thin data  {} no data",
        g.served, g.best, g.thin, g.no_data
    )));
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" keys (any key closes) "),
        ),
        r,
    );
}

/// A key's name as this terminal can show it.
fn key_text(key: &str, theme: &Theme) -> String {
    if theme.ascii {
        key.replace("↑↓", "Up Dn")
    } else {
        key.to_owned()
    }
}

/// `text` cut to `width` columns, ending in `ellipsis` when cut.
pub fn fit(text: &str, width: usize, ellipsis: char) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    if width == 0 {
        return String::new();
    }
    let mut out: String = text.chars().take(width - 1).collect();
    out.push(ellipsis);
    out
}

/// Milliseconds in at most five columns.
pub fn ms_text(ms: f64) -> String {
    if ms < 10.0 {
        format!("{ms:.2}")
    } else if ms < 1000.0 {
        format!("{ms:.1}")
    } else if ms < 100_000.0 {
        format!("{:.1}s", ms / 1000.0)
    } else {
        ">99s".into()
    }
}
