//! The report's charts as PNG, beside the Markdown (a pull request or a
//! wiki shows images, not inline SVG). Text is drawn by plotters' ab_glyph
//! from DejaVu Sans compiled into the binary ([`charts::fonts`]), so a
//! fresh machine or a distroless image renders it with no fontconfig and
//! no system fonts.

use plotters::prelude::*;

use super::charts::{self, Chart};
use super::model::Report;
use crate::world::World;

#[derive(Debug, thiserror::Error)]
pub enum PngError {
    #[error("drawing {chart}: {why}")]
    Draw { chart: &'static str, why: String },
    #[error("encoding {chart}: {source}")]
    Encode {
        chart: &'static str,
        source: image::ImageError,
    },
}

/// The chart as PNG bytes.
pub fn png(chart: Chart, report: &Report, world: &World) -> Result<Vec<u8>, PngError> {
    let (w, h) = chart.size(report);
    let mut pixels = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (w, h)).into_drawing_area();
        chart
            .draw(&root, report, world)
            .map_err(|why| PngError::Draw {
                chart: chart.file(),
                why,
            })?;
    }
    let mut out = std::io::Cursor::new(Vec::new());
    image::RgbImage::from_raw(w, h, pixels)
        .ok_or_else(|| PngError::Draw {
            chart: chart.file(),
            why: "the pixel buffer does not match the chart's size".into(),
        })?
        .write_to(&mut out, image::ImageOutputFormat::Png)
        .map_err(|source| PngError::Encode {
            chart: chart.file(),
            source,
        })?;
    Ok(out.into_inner())
}

/// Every chart the report has, as `(file name, PNG)`.
pub fn all(report: &Report, world: &World) -> Result<Vec<(&'static str, Vec<u8>)>, PngError> {
    charts::Chart::ALL
        .into_iter()
        .filter(|c| c.applies(report))
        .map(|c| Ok((c.file(), png(c, report, world)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use plotters::style::FontStyle;

    use crate::report::charts::{DEJAVU_SANS, fonts};

    #[test]
    fn the_bundled_font_is_a_font_and_draws_text_into_pixels() {
        assert!(plotters::style::register_font("check", FontStyle::Normal, DEJAVU_SANS).is_ok());
        fonts();
        let (w, h) = (120u32, 40u32);
        let mut pixels = vec![0u8; (w * h * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut pixels, (w, h)).into_drawing_area();
            root.fill(&WHITE).unwrap();
            root.draw(&Text::new(
                "geolat 123 ●○",
                (5, 10),
                ("sans-serif", 16).into_font(),
            ))
            .unwrap();
            root.present().unwrap();
        }
        let inked = pixels.chunks(3).filter(|p| p[0] < 128).count();
        assert!(inked > 100, "text drew {inked} dark pixels");
    }
}
