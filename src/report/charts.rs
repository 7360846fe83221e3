//! The report's charts, drawn once for any plotters backend: as SVG inlined
//! into the HTML page, and as PNG beside the Markdown (`png.rs`, text from
//! a bundled font). The geo x region heatmap, latency CDFs, percentiles
//! over the range, region load before and after against capacity, a map of
//! geos coloured by serving region before and after, and each geo's
//! latency against its physical floor.
//!
//! Colours: regions take the Okabe-Ito palette (safe for the common colour
//! blindnesses) and are also labelled directly; the heatmap uses viridis
//! buckets with the number printed in every cell, so colour is never the
//! only signal.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::model::{Report, Role};
use crate::world::{Percentile, World};

/// Okabe-Ito, in the order regions are listed.
const REGION_COLOURS: [RGBColor; 8] = [
    RGBColor(0xE6, 0x9F, 0x00),
    RGBColor(0x56, 0xB4, 0xE9),
    RGBColor(0x00, 0x9E, 0x73),
    RGBColor(0xF0, 0xE4, 0x42),
    RGBColor(0x00, 0x72, 0xB2),
    RGBColor(0xD5, 0x5E, 0x00),
    RGBColor(0xCC, 0x79, 0xA7),
    RGBColor(0x00, 0x00, 0x00),
];

/// Viridis in six steps, low latency (dark) to high (light).
const HEAT: [RGBColor; 6] = [
    RGBColor(0x44, 0x01, 0x54),
    RGBColor(0x41, 0x44, 0x87),
    RGBColor(0x2A, 0x78, 0x8E),
    RGBColor(0x22, 0xA8, 0x84),
    RGBColor(0x7A, 0xD1, 0x51),
    RGBColor(0xFD, 0xE7, 0x25),
];

/// Upper edges of the heatmap's buckets, ms; above the last is the last colour.
pub const HEAT_EDGES_MS: [f64; 5] = [10.0, 25.0, 50.0, 100.0, 200.0];

/// Geos drawn in the per-geo charts, largest traffic first.
const MAX_ROWS: usize = 40;

fn region_colour(report: &Report, region: &str) -> RGBColor {
    let i = report
        .regions
        .iter()
        .position(|r| r.id == region)
        .unwrap_or(REGION_COLOURS.len() - 1);
    REGION_COLOURS[i % REGION_COLOURS.len()]
}

fn heat_colour(ms: f64) -> RGBColor {
    let i = HEAT_EDGES_MS
        .iter()
        .position(|edge| ms < *edge)
        .unwrap_or(HEAT.len() - 1);
    HEAT[i]
}

/// DejaVu Sans (assets/fonts, with its licence): the only font the charts
/// use, so text measures and renders the same on every machine.
pub static DEJAVU_SANS: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Registers the bundled font as the family the charts name, once. Both
/// backends need it: the PNG to draw text, the SVG to measure it for layout.
pub fn fonts() {
    static REGISTER: std::sync::Once = std::sync::Once::new();
    REGISTER.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold] {
            // The bytes are a valid TrueType font (checked by a test), so
            // this cannot fail; if it did, charts would lack text, and say
            // so in a warning, never crash.
            if plotters::style::register_font("sans-serif", style, DEJAVU_SANS).is_err() {
                tracing::warn!("the bundled chart font did not load: charts lack text");
            }
        }
    });
}

/// The report's charts, in the order the page shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chart {
    Heatmap,
    Cdf,
    OverTime,
    Map,
    Load,
    Floor,
}

impl Chart {
    pub const ALL: [Chart; 6] = [
        Chart::Heatmap,
        Chart::Cdf,
        Chart::OverTime,
        Chart::Map,
        Chart::Load,
        Chart::Floor,
    ];

    /// The PNG's file name in the report folder.
    pub fn file(self) -> &'static str {
        match self {
            Chart::Heatmap => "heatmap.png",
            Chart::Cdf => "cdf.png",
            Chart::OverTime => "over-time.png",
            Chart::Map => "map.png",
            Chart::Load => "load.png",
            Chart::Floor => "floor.png",
        }
    }

    /// The chart's heading on the page and its alternative text.
    pub fn heading(self) -> &'static str {
        match self {
            Chart::Heatmap => "Latency from each geo to each region",
            Chart::Cdf => "Latency distributions of the largest changes",
            Chart::OverTime => "Percentiles over the range",
            Chart::Map => "Where each geo is served",
            Chart::Load => "Load against capacity",
            Chart::Floor => "Latency against the physical floor",
        }
    }

    /// Whether the report has what the chart draws (CDFs and percentiles
    /// over time come from a store).
    pub fn applies(self, report: &Report) -> bool {
        match self {
            Chart::Cdf => !report.cdfs.is_empty(),
            Chart::OverTime => !report.over_time.is_empty(),
            _ => true,
        }
    }

    /// Width and height in pixels.
    pub fn size(self, report: &Report) -> (u32, u32) {
        match self {
            Chart::Heatmap => {
                let rows = report.geos.len().min(MAX_ROWS) as u32;
                (
                    (HEAT_LABEL_W + HEAT_CELL_W * report.regions.len() as i32 + 20) as u32,
                    HEAT_TOP as u32 + HEAT_CELL_H as u32 * rows + 60,
                )
            }
            Chart::Cdf => {
                let mut geos: Vec<&str> = report.cdfs.iter().map(|c| c.geo.as_str()).collect();
                geos.dedup();
                (960, 220 * geos.len().div_ceil(3).max(1) as u32)
            }
            Chart::OverTime => (960, 320),
            Chart::Map => (1000, 300),
            Chart::Load => (120 + 110 * report.regions.len().max(1) as u32, 340),
            Chart::Floor => (760, 60 + 16 * report.geos.len().clamp(1, MAX_ROWS) as u32),
        }
    }

    /// Draws the chart on `root`, whatever the backend.
    pub fn draw<DB: DrawingBackend>(
        self,
        root: &DrawingArea<DB, Shift>,
        report: &Report,
        world: &World,
    ) -> Result<(), String> {
        fonts();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        match self {
            Chart::Heatmap => heatmap(root, report, world),
            Chart::Cdf => cdf(root, report),
            Chart::OverTime => over_time(root, report),
            Chart::Map => map(root, report, world),
            Chart::Load => load(root, report),
            Chart::Floor => floor(root, report),
        }?;
        root.present().map_err(|e| e.to_string())
    }
}

/// The chart as an SVG document. Drawing into a string never fails for
/// want of I/O; a plotters error here is a bug in the layout, reported as
/// an empty chart and a warning.
pub fn svg(chart: Chart, report: &Report, world: &World) -> String {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, chart.size(report)).into_drawing_area();
        if let Err(e) = chart.draw(&root, report, world) {
            tracing::warn!(error = %e, chart = chart.file(), "a report chart could not be drawn");
        }
    }
    out
}

const HEAT_LABEL_W: i32 = 150;
const HEAT_CELL_W: i32 = 96;
const HEAT_CELL_H: i32 = 18;
const HEAT_TOP: i32 = 40;

fn text(size: u32) -> TextStyle<'static> {
    ("sans-serif", size).into_font().color(&BLACK)
}

fn anchored(size: u32, h: HPos) -> TextStyle<'static> {
    text(size).pos(Pos::new(h, VPos::Center))
}

/// Geo rows x region columns, each cell the geo's latency to the region at
/// the planned percentile: a filled circle marks today's main region, a
/// ring the proposed one.
fn heatmap<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    report: &Report,
    world: &World,
) -> Result<(), String> {
    let percentile = report.source.percentile;
    let rows: Vec<_> = report.geos.iter().take(MAX_ROWS).collect();
    let regions: Vec<&str> = report.regions.iter().map(|r| r.id.as_str()).collect();
    let (label_w, cell_w, cell_h, top) = (HEAT_LABEL_W, HEAT_CELL_W, HEAT_CELL_H, HEAT_TOP);
    {
        let e = |r: Result<(), DrawingAreaErrorKind<DB::ErrorType>>| r.map_err(|e| e.to_string());
        for (c, region) in regions.iter().enumerate() {
            let x = label_w + cell_w * c as i32 + cell_w / 2;
            e(root.draw(&Text::new(
                region.to_string(),
                (x, top - 12),
                anchored(12, HPos::Center),
            )))?;
        }
        for (r, g) in rows.iter().enumerate() {
            let y = top + cell_h * r as i32;
            e(root.draw(&Text::new(
                g.id.clone(),
                (label_w - 6, y + cell_h / 2),
                anchored(12, HPos::Right),
            )))?;
            let geo = world.geos.iter().find(|w| w.id == g.id);
            for (c, region) in regions.iter().enumerate() {
                let x = label_w + cell_w * c as i32;
                let ms = geo
                    .and_then(|w| w.latency_ms.get(*region))
                    .map(|l| l.at(percentile));
                let (fill, label) = match ms {
                    Some(ms) => (heat_colour(ms), format!("{ms:.0}")),
                    None => (RGBColor(0xEE, 0xEE, 0xEE), "no data".to_owned()),
                };
                e(root.draw(&Rectangle::new(
                    [(x, y), (x + cell_w - 2, y + cell_h - 2)],
                    fill.filled(),
                )))?;
                let ink = if ms.is_some_and(|ms| ms < HEAT_EDGES_MS[2]) {
                    WHITE
                } else {
                    BLACK
                };
                let mark = match (g.serving_today == *region, g.serving_proposed == *region) {
                    (true, true) => " ●○",
                    (true, false) => " ●",
                    (false, true) => " ○",
                    (false, false) => "",
                };
                e(root.draw(&Text::new(
                    format!("{label}{mark}"),
                    (x + (cell_w - 2) / 2, y + cell_h / 2),
                    anchored(11, HPos::Center).color(&ink),
                )))?;
            }
        }
        // Legend: every bucket with its edges.
        let y = top + cell_h * rows.len() as i32 + 14;
        let mut x = 10;
        let mut lower = 0.0;
        for (i, colour) in HEAT.iter().enumerate() {
            let label = match HEAT_EDGES_MS.get(i) {
                Some(upper) => format!("{lower:.0}-{upper:.0} ms"),
                None => format!("{lower:.0}+ ms"),
            };
            e(root.draw(&Rectangle::new([(x, y), (x + 14, y + 14)], colour.filled())))?;
            e(root.draw(&Text::new(label, (x + 18, y + 7), anchored(11, HPos::Left))))?;
            lower = HEAT_EDGES_MS.get(i).copied().unwrap_or(lower);
            x += 100;
        }
        e(root.draw(&Text::new(
            format!("{} ms; ● serves today, ○ proposed", percentile.as_str()),
            (10, y + 32),
            anchored(11, HPos::Left),
        )))
    }
}

/// Each region's load today and with the plan, against its capacity and
/// usable capacity.
fn load<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, report: &Report) -> Result<(), String> {
    let n = report.regions.len().max(1);
    let top = report
        .regions
        .iter()
        .flat_map(|r| [r.capacity_rps, r.load_before_rps, r.load_after_rps])
        .fold(1.0_f64, f64::max)
        * 1.1;
    {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .caption(
                "Load per region: today (left) and with the plan (right)",
                text(14),
            )
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..n as f64, 0.0..top)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_desc("rps")
            .draw()
            .map_err(|e| e.to_string())?;
        for (i, r) in report.regions.iter().enumerate() {
            let x = i as f64;
            let colour = region_colour(report, &r.id);
            let bars = [
                (x + 0.15, x + 0.45, r.load_before_rps, colour.mix(0.45)),
                (x + 0.5, x + 0.8, r.load_after_rps, colour.mix(1.0)),
            ];
            for (x0, x1, load, style) in bars {
                chart
                    .draw_series([Rectangle::new([(x0, 0.0), (x1, load)], style.filled())])
                    .map_err(|e| e.to_string())?;
            }
            let lines = [
                (r.capacity_rps, BLACK.stroke_width(2)),
                (r.usable_rps, BLACK.mix(0.5).stroke_width(1)),
            ];
            for (level, style) in lines {
                chart
                    .draw_series(LineSeries::new(
                        [(x + 0.08, level), (x + 0.92, level)],
                        style,
                    ))
                    .map_err(|e| e.to_string())?;
            }
            chart
                .draw_series([Text::new(
                    r.id.clone(),
                    (x + 0.5, -top * 0.04),
                    anchored(11, HPos::Center),
                )])
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// Geos on an equirectangular map, coloured by their main region today
/// (left) and with the plan (right); regions are labelled squares.
fn map<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    report: &Report,
    world: &World,
) -> Result<(), String> {
    let panel = |root: &DrawingArea<DB, Shift>, title: &str, proposed: bool| {
        let mut chart = ChartBuilder::on(root)
            .margin(8)
            .caption(title, text(13))
            .build_cartesian_2d(-180.0..180.0, -60.0..75.0)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_labels(7)
            .y_labels(5)
            .light_line_style(WHITE)
            .draw()
            .map_err(|e| e.to_string())?;
        for g in &report.geos {
            let Some(w) = world.geos.iter().find(|w| w.id == g.id) else {
                continue;
            };
            let region = if proposed {
                &g.serving_proposed
            } else {
                &g.serving_today
            };
            let size = 3 + (g.traffic_share * 40.0).min(9.0) as i32;
            chart
                .draw_series([Circle::new(
                    (w.lon, w.lat),
                    size,
                    region_colour(report, region).filled(),
                )])
                .map_err(|e| e.to_string())?;
        }
        for r in &world.regions {
            let colour = region_colour(report, &r.id);
            chart
                .draw_series([EmptyElement::at((r.lon, r.lat))
                    + Rectangle::new([(-5, -5), (5, 5)], BLACK.stroke_width(2))
                    + Rectangle::new([(-4, -4), (4, 4)], colour.filled())
                    + Text::new(r.id.clone(), (7, -6), text(10))])
                .map_err(|e| e.to_string())?;
        }
        Ok::<(), String>(())
    };
    let (left, right) = root.split_horizontally(500);
    panel(&left, "Serving region today", false)?;
    panel(&right, "Serving region with the plan", true)
}

/// Each geo's proposed p50 beside the round trip of light in fibre to its
/// proposed region: the gap is what routing or the network could still win.
fn floor<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, report: &Report) -> Result<(), String> {
    let rows: Vec<_> = report.geos.iter().take(MAX_ROWS).collect();
    let top = rows
        .iter()
        .map(|g| g.p50.after_ms.max(g.floor_ms))
        .fold(1.0_f64, f64::max)
        * 1.1;
    {
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .caption("p50 with the plan (●) against light in fibre (|)", text(14))
            .x_label_area_size(28)
            .y_label_area_size(130)
            .build_cartesian_2d(0.0..top, 0.0..rows.len().max(1) as f64)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .x_desc("ms")
            .draw()
            .map_err(|e| e.to_string())?;
        for (i, g) in rows.iter().enumerate() {
            let y = rows.len() as f64 - i as f64 - 0.5;
            let colour = region_colour(report, &g.serving_proposed);
            chart
                .draw_series(LineSeries::new(
                    [(g.floor_ms, y), (g.p50.after_ms, y)],
                    colour.stroke_width(2),
                ))
                .map_err(|e| e.to_string())?;
            chart
                .draw_series([EmptyElement::at((g.floor_ms, y))
                    + Rectangle::new([(-1, -6), (1, 6)], BLACK.filled())])
                .map_err(|e| e.to_string())?;
            chart
                .draw_series([Circle::new((g.p50.after_ms, y), 4, colour.filled())])
                .map_err(|e| e.to_string())?;
            chart
                .draw_series([Text::new(g.id.clone(), (0.0, y), anchored(11, HPos::Right))])
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// Latency CDFs of the largest changed geos: today's main region (dashed)
/// against the proposed one (solid), one panel per geo.
fn cdf<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, report: &Report) -> Result<(), String> {
    let geos: Vec<&str> = {
        let mut v: Vec<&str> = report.cdfs.iter().map(|c| c.geo.as_str()).collect();
        v.dedup();
        v
    };
    let cols = 3usize;
    let rows = geos.len().div_ceil(cols).max(1);
    {
        let panels = root.split_evenly((rows, cols));
        for (geo, panel) in geos.iter().zip(panels.iter()) {
            let curves: Vec<_> = report.cdfs.iter().filter(|c| c.geo == *geo).collect();
            let right = curves
                .iter()
                .flat_map(|c| c.points.iter().map(|p| p.0))
                .fold(1.0_f64, f64::max)
                * 1.05;
            let mut chart = ChartBuilder::on(panel)
                .margin(8)
                .caption(*geo, text(12))
                .x_label_area_size(24)
                .y_label_area_size(36)
                .build_cartesian_2d(0.0..right, 0.0..1.0)
                .map_err(|e| e.to_string())?;
            chart
                .configure_mesh()
                .x_desc("ms")
                .x_labels(5)
                .y_labels(5)
                .draw()
                .map_err(|e| e.to_string())?;
            for c in curves {
                let colour = region_colour(report, &c.region);
                let label = format!("{} {} (n={})", c.role.as_str(), c.region, c.samples);
                let steps = c.points.iter().copied();
                if c.role == Role::Today {
                    chart
                        .draw_series(DashedLineSeries::new(steps, 5, 3, colour.stroke_width(2)))
                        .map_err(|e| e.to_string())?
                        .label(label)
                        .legend(move |(x, y)| {
                            // Dashed in the key too: two dashes.
                            EmptyElement::at((x, y))
                                + PathElement::new([(0, 0), (5, 0)], colour.stroke_width(2))
                                + PathElement::new([(8, 0), (13, 0)], colour.stroke_width(2))
                        });
                } else {
                    chart
                        .draw_series(LineSeries::new(steps, colour.stroke_width(2)))
                        .map_err(|e| e.to_string())?
                        .label(label)
                        .legend(move |(x, y)| {
                            PathElement::new([(x, y), (x + 14, y)], colour.stroke_width(2))
                        });
                }
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .label_font(text(10))
                .border_style(BLACK.mix(0.3))
                .background_style(WHITE.mix(0.8))
                .draw()
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// Demand-weighted p50, p90 and p99 in each slice of the range, to today's
/// main regions (dashed) and the proposed ones (solid), on a wall-clock
/// axis; each line labelled at its end.
fn over_time<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    report: &Report,
) -> Result<(), String> {
    let slices = &report.over_time;
    let (Some(first), Some(last)) = (slices.first(), slices.last()) else {
        return Ok(());
    };
    let (since, until) = (first.since, last.until);
    let span = (until - since).num_seconds().max(1) as f64;
    let mid = |s: &super::model::TimeSlice| {
        ((s.since - since).num_seconds() + (s.until - since).num_seconds()) as f64 / 2.0
    };
    let top = slices
        .iter()
        .flat_map(|s| [s.today, s.proposed])
        .flatten()
        .map(|l| l.p99_ms)
        .fold(1.0_f64, f64::max)
        * 1.15;
    let mut chart = ChartBuilder::on(root)
        .margin(12)
        .caption(
            format!(
                "Demand-weighted percentiles, {} to {} UTC: today's regions (dashed) and the proposed (solid)",
                since.format("%Y-%m-%d %H:%M"),
                until.format("%H:%M")
            ),
            text(13),
        )
        .x_label_area_size(30)
        .y_label_area_size(50)
        // Room right of the last slice for the lines' labels.
        .build_cartesian_2d(0.0..span * 1.18, 0.0..top)
        .map_err(|e| e.to_string())?;
    let at = |x: &f64| {
        if *x > span {
            return String::new();
        }
        (since + chrono::TimeDelta::seconds(*x as i64))
            .format("%H:%M")
            .to_string()
    };
    chart
        .configure_mesh()
        .x_labels(7)
        .x_label_formatter(&at)
        .x_desc("UTC")
        .y_desc("ms")
        .draw()
        .map_err(|e| e.to_string())?;
    let colours = [REGION_COLOURS[4], REGION_COLOURS[0], REGION_COLOURS[5]];
    let pick = [Percentile::P50, Percentile::P90, Percentile::P99];
    for (i, (p, colour)) in pick.into_iter().zip(colours).enumerate() {
        for proposed in [false, true] {
            let points: Vec<(f64, f64)> = slices
                .iter()
                .filter_map(|s| {
                    let l = if proposed { s.proposed } else { s.today }?;
                    Some((mid(s), l.at(p)))
                })
                .collect();
            let Some(&(x, y)) = points.last() else {
                continue;
            };
            if proposed {
                chart
                    .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))
                    .map_err(|e| e.to_string())?;
            } else {
                chart
                    .draw_series(DashedLineSeries::new(
                        points.clone(),
                        5,
                        3,
                        colour.stroke_width(2),
                    ))
                    .map_err(|e| e.to_string())?;
            }
            chart
                .draw_series(points.iter().map(|p| Circle::new(*p, 3, colour.filled())))
                .map_err(|e| e.to_string())?;
            let label = format!(
                "{} {}",
                p.as_str(),
                if proposed { "proposed" } else { "today" }
            );
            chart
                // Staggered, so labels of close lines do not print over each other.
                .draw_series([EmptyElement::at((x, y))
                    + Text::new(
                        label,
                        (8, (i as i32 - 1) * 11 + if proposed { 4 } else { -4 }),
                        anchored(11, HPos::Left),
                    )])
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}
