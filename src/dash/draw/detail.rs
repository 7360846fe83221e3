//! One geo: who serves it, its percentiles over the range (wall clock),
//! and every path (direct, Route 53, accelerator) to every region side by
//! side with samples, intervals and errors by class.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Chart, Dataset, GraphType, Paragraph};

use super::{fit, ms_text};
use crate::analyze::matrix::{Matrix, Outcome};
use crate::config::PathKind;
use crate::dash::snapshot::Snapshot;
use crate::dash::state::State;
use crate::dash::table::{Table, estimate, served_today};
use crate::dash::theme::Theme;
use crate::world::Percentile;

const PATHS: [PathKind; 3] = [PathKind::Direct, PathKind::Route53, PathKind::Accelerator];

pub fn draw(f: &mut Frame, area: Rect, state: &State, table: &Table, theme: &Theme) {
    let Some(snapshot) = &state.data.snapshot else {
        return;
    };
    let Some(geo) = state.selected.as_deref() else {
        f.render_widget(
            Paragraph::new("no geo selected: pick one in the matrix (1)"),
            area,
        );
        return;
    };
    let row = table.rows.iter().find(|r| r.geo == geo);
    let chart_h = (area.height / 2).clamp(5, 14);
    let [head, chart, cells] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length(chart_h),
        Constraint::Min(1),
    ])
    .areas(area);
    let summary = snapshot.analysis.geos.iter().find(|g| g.geo == geo);
    let dot = theme.glyphs().dot;
    let mut first = vec![Span::styled(geo.to_owned(), theme.title())];
    if let Some(r) = row {
        if !r.name.is_empty() {
            first.push(Span::raw(format!(" {}", r.name)));
        }
        first.push(Span::raw(format!(" ({})", r.continent)));
        if let Some(s) = r.share {
            first.push(Span::raw(format!(" {dot} traffic {:.1}%", s * 100.0)));
        }
        if let Some(p) = &r.proposed {
            first.push(Span::raw(format!(" {dot} proposed {p}")));
        }
    }
    let mut mix = vec![Span::styled("served by ", theme.dim())];
    match summary {
        Some(s) if !s.served_by.is_empty() => {
            for (path, served) in &s.served_by {
                let shares: Vec<String> = served
                    .fractions
                    .iter()
                    .map(|(r, f)| format!("{r} {:.0}%", f * 100.0))
                    .collect();
                mix.push(Span::raw(format!(
                    "{}: {} ({} answers)  ",
                    path.as_str(),
                    shares.join(", "),
                    served.answered
                )));
            }
        }
        _ => mix.push(Span::raw("- (no routed path probed)")),
    }
    f.render_widget(
        Paragraph::new(vec![Line::from(first), Line::from(mix)]),
        head,
    );
    let region = summary
        .and_then(served_today)
        .or_else(|| row.and_then(|r| r.best.clone()));
    match region {
        Some(region) => over_time(f, chart, snapshot, state, geo, &region, theme),
        None => f.render_widget(Paragraph::new("no region measured from this geo"), chart),
    }
    f.render_widget(
        Paragraph::new(cell_lines(
            &snapshot.analysis.matrix,
            geo,
            state,
            theme,
            cells.width,
        )),
        cells,
    );
}

/// p50, p90 and p99 to `region` (direct path) in each slice of the range.
fn over_time(
    f: &mut Frame,
    area: Rect,
    snapshot: &Snapshot,
    state: &State,
    geo: &str,
    region: &str,
    theme: &Theme,
) {
    let since = snapshot.analysis.since;
    let until = snapshot.analysis.until;
    let span = (until - since).num_seconds().max(1) as f64;
    let pcts = [Percentile::P50, Percentile::P90, Percentile::P99];
    let series: Vec<Vec<(f64, f64)>> = pcts
        .iter()
        .map(|p| {
            snapshot
                .slices
                .iter()
                .filter_map(|s| {
                    let c = s.matrix.cell(geo, PathKind::Direct, region, state.phase)?;
                    let e = estimate(c.percentiles.as_ref()?, *p);
                    let mid = ((s.since - since).num_seconds() + (s.until - since).num_seconds())
                        as f64
                        / 2.0;
                    Some((mid, e.value_us as f64 / 1000.0))
                })
                .collect()
        })
        .collect();
    let top = series
        .iter()
        .flatten()
        .map(|p| p.1)
        .fold(0.0f64, f64::max)
        .max(1.0)
        * 1.1;
    let marker = if theme.ascii {
        Marker::Dot
    } else {
        Marker::Braille
    };
    let datasets: Vec<Dataset> = series
        .iter()
        .zip(pcts)
        .enumerate()
        .map(|(i, (points, p))| {
            Dataset::default()
                .name(p.as_str())
                .marker(marker)
                .graph_type(GraphType::Line)
                .style(theme.series(i))
                .data(points)
        })
        .collect();
    let mid = since + (until - since) / 2;
    let t = |d: chrono::DateTime<chrono::Utc>| d.format("%H:%M").to_string();
    let chart = Chart::new(datasets)
        .x_axis(
            Axis::default()
                .title(format!("UTC ({} slices)", snapshot.slices.len()))
                .bounds([0.0, span])
                .labels([t(since), t(mid), t(until)]),
        )
        .y_axis(
            Axis::default()
                .title(format!("ms to {region}, {}", state.phase))
                .bounds([0.0, top])
                .labels(["0".to_owned(), ms_text(top / 2.0), ms_text(top)]),
        );
    f.render_widget(chart, area);
}

/// One line per path x region: samples, the chosen percentile with its
/// interval, p90, p99, and the errors by class.
fn cell_lines(
    m: &Matrix,
    geo: &str,
    state: &State,
    theme: &Theme,
    width: u16,
) -> Vec<Line<'static>> {
    let e = theme.glyphs().ellipsis;
    let mut lines = vec![Line::styled(
        format!(
            "{:<11} {:<15} {:>7} {:>22} {:>6} {:>6}  errors",
            "path",
            "region",
            "samples",
            format!("{} [95% interval]", state.percentile.as_str()),
            "p90",
            "p99"
        ),
        theme.title(),
    )];
    for path in PATHS {
        let cells: Vec<_> = m.row(geo, path, state.phase).collect();
        let outcomes: Vec<&Outcome> = m
            .outcomes
            .iter()
            .filter(|o| o.geo == geo && o.path == path)
            .collect();
        if cells.is_empty() && outcomes.is_empty() {
            continue;
        }
        for c in &cells {
            let (chosen, p90, p99) = match &c.percentiles {
                Some(p) => {
                    let est = estimate(p, state.percentile);
                    let ci = |v: Option<u64>| v.map_or("?".into(), |v| ms_text(v as f64 / 1000.0));
                    (
                        format!(
                            "{} [{}-{}]",
                            ms_text(est.value_us as f64 / 1000.0),
                            ci(est.ci_low_us),
                            ci(est.ci_high_us)
                        ),
                        ms_text(p.p90.value_us as f64 / 1000.0),
                        ms_text(p.p99.value_us as f64 / 1000.0),
                    )
                }
                None => ("-".into(), "-".into(), "-".into()),
            };
            let thin = if c.insufficient.is_some() {
                theme.glyphs().thin
            } else {
                ' '
            };
            let outcome = outcomes
                .iter()
                .find(|o| o.region.as_deref().is_none_or(|r| r == c.region));
            let text = format!(
                "{:<11} {:<15} {:>6}{thin} {:>22} {:>6} {:>6}  {}",
                path.as_str(),
                fit(&c.region, 15, e),
                c.samples,
                chosen,
                p90,
                p99,
                outcome.map_or("-".into(), |o| errors_text(o)),
            );
            lines.push(Line::from(fit(&text, usize::from(width), e)));
        }
        // Targets whose every attempt failed have no latency cell: their
        // errors are shown all the same.
        for o in outcomes.iter().filter(|o| {
            o.region
                .as_deref()
                .is_some_and(|r| !cells.iter().any(|c| c.region == r))
                || (o.region.is_none() && cells.is_empty())
        }) {
            let text = format!(
                "{:<11} {:<15} {:>7} {:>22} {:>6} {:>6}  {}",
                path.as_str(),
                fit(o.region.as_deref().unwrap_or("(routed)"), 15, e),
                0,
                "no answer",
                "-",
                "-",
                errors_text(o)
            );
            lines.push(Line::styled(
                fit(&text, usize::from(width), e),
                theme.warning(),
            ));
        }
    }
    lines
}

/// `1.2% of 500 (connect_timeout 4, reset 2)`: every class, never dropped.
fn errors_text(o: &Outcome) -> String {
    let rate = o
        .error_rate
        .map_or("-".into(), |r| format!("{:.1}%", r * 100.0));
    if o.errors_by_class.is_empty() {
        return format!("{rate} of {}", o.attempts);
    }
    let classes: Vec<String> = o
        .errors_by_class
        .iter()
        .map(|(c, n)| format!("{} {n}", c.as_str()))
        .collect();
    format!("{rate} of {} ({})", o.attempts, classes.join(", "))
}
