//! The geo x region heatmap. Columns by priority: the geo and as many
//! regions as fit always; then who serves it today, its traffic share and
//! its continent, each only when the width leaves room. Names that still
//! do not fit are cut with an ellipsis.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{fit, ms_text};
use crate::dash::state::{SortColumn, State};
use crate::dash::table::{CellView, Row, Table, bucket};
use crate::dash::theme::Theme;

/// A region cell: five characters of number, two of glyphs, a space.
const CELL: usize = 8;
const GEO_MIN: usize = 8;
const GEO_MAX: usize = 18;

/// Optional columns, dropped right to left as the width shrinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Extra {
    Served,
    Share,
    Continent,
}

impl Extra {
    const BY_PRIORITY: [Extra; 3] = [Extra::Served, Extra::Share, Extra::Continent];

    fn width(self) -> usize {
        match self {
            Extra::Served => 15,
            Extra::Share => 8,
            Extra::Continent => 4,
        }
    }

    fn header(self) -> &'static str {
        match self {
            Extra::Served => "served today",
            Extra::Share => "traffic",
            Extra::Continent => "cont",
        }
    }

    fn column(self) -> SortColumn {
        match self {
            Extra::Served => SortColumn::Served,
            Extra::Share => SortColumn::Share,
            Extra::Continent => SortColumn::Continent,
        }
    }
}

/// Which columns a width holds: the geo column's width, the regions shown
/// (a prefix of the table's), each region cell's width and the optional
/// columns kept.
#[derive(Debug, PartialEq, Eq)]
pub struct Columns {
    pub geo: usize,
    pub regions: usize,
    pub cell: usize,
    extras: Vec<Extra>,
}

/// `name_width` is the longest region name: cells widen to show it whole
/// when every other column fits too.
pub fn columns(width: usize, regions: usize, name_width: usize) -> Columns {
    let shown = regions.min(width.saturating_sub(GEO_MIN) / CELL);
    let extras_all: usize = Extra::BY_PRIORITY.iter().map(|e| e.width()).sum();
    let room = width.saturating_sub(GEO_MAX + extras_all);
    let cell = if shown == regions && regions > 0 {
        (room / regions).clamp(CELL, (name_width + 1).max(CELL))
    } else {
        CELL
    };
    let mut left = width.saturating_sub(GEO_MIN + shown * cell);
    let mut extras = Vec::new();
    for e in Extra::BY_PRIORITY {
        if left >= e.width() {
            left -= e.width();
            extras.push(e);
        }
    }
    Columns {
        geo: (GEO_MIN + left).min(GEO_MAX),
        regions: shown,
        cell,
        extras,
    }
}

pub fn draw(f: &mut Frame, area: Rect, state: &State, table: &Table, theme: &Theme) {
    let [head, rows_area, legend] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);
    if state.data.snapshot.is_none() {
        return;
    }
    let name_width = table
        .regions
        .iter()
        .map(|r| r.chars().count())
        .max()
        .unwrap_or(0);
    let cols = columns(usize::from(area.width), table.regions.len(), name_width);
    let g = theme.glyphs();
    f.render_widget(Paragraph::new(header(state, table, &cols, theme)), head);
    let selected = state.selected.as_deref();
    let lines: Vec<Line> = table
        .rows
        .iter()
        .skip(state.offset)
        .take(usize::from(rows_area.height))
        .map(|r| row_line(r, table, &cols, theme, Some(r.geo.as_str()) == selected))
        .collect();
    if lines.is_empty() {
        let why = if table.total == 0 {
            "no geo has windows in this range"
        } else {
            "no geo matches the filter or search (Esc clears them)"
        };
        f.render_widget(Paragraph::new(why), rows_area);
    } else {
        f.render_widget(Paragraph::new(lines), rows_area);
    }
    let mut spans = Vec::new();
    let e = table.edges;
    let labels = [
        format!("<{}", e[0]),
        format!("{}-{}", e[0], e[1]),
        format!("{}-{}", e[1], e[2]),
        format!("{}-{}", e[2], e[3]),
        format!("{}{}", if theme.ascii { ">=" } else { "≥" }, e[3]),
    ];
    for (i, l) in labels.iter().enumerate() {
        spans.push(Span::styled(format!(" {l} "), theme.bucket(i)));
    }
    spans.push(Span::raw(format!(
        " ms {}  {} served {} best {} thin {} no data",
        if state.fixed_scale { "fixed" } else { "fitted" },
        g.served,
        g.best,
        g.thin,
        g.no_data
    )));
    if cols.regions < table.regions.len() {
        spans.push(Span::styled(
            format!("  +{} regions wider", table.regions.len() - cols.regions),
            theme.dim(),
        ));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), legend);
}

fn arrow(state: &State, col: &SortColumn, ascii: bool) -> &'static str {
    match (&state.sort == col, state.descending, ascii) {
        (false, _, _) => "",
        (true, true, false) => "▼",
        (true, false, false) => "▲",
        (true, true, true) => "v",
        (true, false, true) => "^",
    }
}

fn header(state: &State, table: &Table, cols: &Columns, theme: &Theme) -> Line<'static> {
    let e = theme.glyphs().ellipsis;
    let mut spans = Vec::new();
    let geo = format!("geo{}", arrow(state, &SortColumn::Geo, theme.ascii));
    spans.push(Span::styled(
        format!("{:<w$}", fit(&geo, cols.geo, e), w = cols.geo),
        theme.title(),
    ));
    for r in table.regions.iter().take(cols.regions) {
        let label = format!(
            "{r}{}",
            arrow(state, &SortColumn::Region(r.clone()), theme.ascii)
        );
        spans.push(Span::styled(
            format!("{:>w$} ", fit(&label, cols.cell - 1, e), w = cols.cell - 1),
            theme.title(),
        ));
    }
    for x in &cols.extras {
        let label = format!("{}{}", x.header(), arrow(state, &x.column(), theme.ascii));
        spans.push(Span::styled(
            format!(" {:<w$}", fit(&label, x.width() - 1, e), w = x.width() - 1),
            theme.title(),
        ));
    }
    Line::from(spans)
}

fn row_line(
    r: &Row,
    table: &Table,
    cols: &Columns,
    theme: &Theme,
    selected: bool,
) -> Line<'static> {
    let g = theme.glyphs();
    let base = if selected {
        theme.selected()
    } else {
        Style::default()
    };
    let mut spans = vec![Span::styled(
        format!(
            "{:<w$}",
            fit(&r.geo, cols.geo - 1, g.ellipsis),
            w = cols.geo
        ),
        base,
    )];
    for (cell, region) in r.cells.iter().zip(&table.regions).take(cols.regions) {
        let served = if r.served.as_ref() == Some(region) {
            g.served
        } else {
            ' '
        };
        let pad = " ".repeat(cols.cell - CELL);
        let text = match cell {
            CellView::NoData => format!("{pad}{:>5}{served} ", g.no_data),
            CellView::Value { ms, thin } => {
                let mark = if *thin {
                    g.thin
                } else if r.best.as_ref() == Some(region) {
                    g.best
                } else {
                    ' '
                };
                format!("{pad}{:>5}{served}{mark}", ms_text(*ms))
            }
        };
        let style = match cell {
            CellView::Value { ms, .. } => theme.bucket(bucket(&table.edges, *ms)),
            CellView::NoData => theme.dim(),
        };
        let style = if selected {
            style.add_modifier(ratatui::style::Modifier::BOLD)
        } else {
            style
        };
        spans.push(Span::styled(text, style));
        spans.push(Span::styled(" ", base));
    }
    for x in &cols.extras {
        let text = match x {
            Extra::Served => r.served.clone().unwrap_or_else(|| "-".into()),
            Extra::Share => r
                .share
                .map_or_else(|| "-".into(), |s| format!("{:.1}%", s * 100.0)),
            Extra::Continent => r.continent.clone(),
        };
        spans.push(Span::styled(
            format!(
                " {:<w$}",
                fit(&text, x.width() - 1, g.ellipsis),
                w = x.width() - 1
            ),
            base,
        ));
    }
    Line::from(spans)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_widths_drop_the_optional_columns_first_then_regions() {
        let wide = columns(200, 6, 14);
        assert_eq!(
            (wide.geo, wide.regions, wide.cell, wide.extras.len()),
            (18, 6, 15, 3)
        );
        let c = columns(120, 6, 14);
        assert_eq!((c.regions, c.cell, c.extras.len()), (6, 12, 3));
        let c = columns(80, 6, 14);
        assert_eq!(
            (c.regions, c.extras.clone()),
            (6, vec![Extra::Served, Extra::Share])
        );
        let c = columns(60, 6, 14);
        assert_eq!((c.regions, c.extras, c.geo), (6, vec![Extra::Continent], 8));
        let c = columns(50, 6, 14);
        assert_eq!((c.regions, c.geo), (5, 10));
    }
}
