//! Colours and glyphs. Colour is never the only signal: every cell also
//! carries its number and glyphs, so `NO_COLOR`, a monochrome terminal or
//! a colour-blind reader lose nothing but the shading.

use ratatui::style::{Color, Modifier, Style};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ThemeName {
    /// RGB colours for a dark background.
    Dark,
    /// RGB colours for a light background.
    Light,
    /// The terminal's own 16 colours (follows its palette).
    Terminal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    pub name: ThemeName,
    /// No colour at all (`NO_COLOR`, `--no-color`): bold and reverse only.
    pub colour: bool,
    /// ASCII glyphs for terminals without Unicode symbols.
    pub ascii: bool,
}

/// The cell glyphs, Unicode and ASCII.
pub struct Glyphs {
    pub served: char,
    pub best: char,
    pub thin: char,
    pub no_data: char,
    pub bar: char,
    pub ellipsis: char,
    /// Between items of one line.
    pub dot: char,
}

const UNICODE: Glyphs = Glyphs {
    served: '●',
    best: '★',
    thin: '~',
    no_data: '·',
    bar: '█',
    ellipsis: '…',
    dot: '·',
};

const ASCII: Glyphs = Glyphs {
    served: '@',
    best: '*',
    thin: '~',
    no_data: '.',
    bar: '#',
    ellipsis: '>',
    dot: '|',
};

/// Okabe-Ito colours, fast to slow: distinguishable with the common
/// colour-vision deficiencies, and ordered by lightness so a grey-scale
/// rendering keeps the order.
const BUCKETS_RGB: [Color; 5] = [
    Color::Rgb(0x00, 0x72, 0xB2),
    Color::Rgb(0x56, 0xB4, 0xE9),
    Color::Rgb(0xF0, 0xE4, 0x42),
    Color::Rgb(0xE6, 0x9F, 0x00),
    Color::Rgb(0xD5, 0x5E, 0x00),
];
const BUCKETS_ANSI: [Color; 5] = [
    Color::Blue,
    Color::Cyan,
    Color::Yellow,
    Color::LightRed,
    Color::Red,
];

impl Theme {
    pub fn glyphs(&self) -> &'static Glyphs {
        if self.ascii { &ASCII } else { &UNICODE }
    }

    /// A matrix cell in colour bucket `i` (0 fastest .. 4 slowest).
    pub fn bucket(&self, i: usize) -> Style {
        if !self.colour {
            return Style::default();
        }
        let i = i.min(4);
        let bg = match self.name {
            ThemeName::Terminal => BUCKETS_ANSI[i],
            _ => BUCKETS_RGB[i],
        };
        let fg = if i == 0 { Color::White } else { Color::Black };
        Style::default().bg(bg).fg(fg)
    }

    pub fn title(&self) -> Style {
        let s = Style::default().add_modifier(Modifier::BOLD);
        if !self.colour {
            return s;
        }
        match self.name {
            ThemeName::Dark => s.fg(Color::Rgb(0x56, 0xB4, 0xE9)),
            ThemeName::Light => s.fg(Color::Rgb(0x00, 0x50, 0x90)),
            ThemeName::Terminal => s.fg(Color::Cyan),
        }
    }

    pub fn dim(&self) -> Style {
        if !self.colour {
            return Style::default();
        }
        match self.name {
            ThemeName::Dark => Style::default().fg(Color::Rgb(0x9a, 0x9a, 0x9a)),
            ThemeName::Light => Style::default().fg(Color::Rgb(0x5a, 0x5a, 0x5a)),
            ThemeName::Terminal => Style::default().add_modifier(Modifier::DIM),
        }
    }

    /// The selected row: reverse video works in every theme and without colour.
    pub fn selected(&self) -> Style {
        Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD)
    }

    pub fn warning(&self) -> Style {
        let s = Style::default().add_modifier(Modifier::BOLD);
        if !self.colour {
            return s;
        }
        match self.name {
            ThemeName::Terminal => s.fg(Color::Red),
            _ => s.fg(Color::Rgb(0xD5, 0x5E, 0x00)),
        }
    }

    pub fn good(&self) -> Style {
        if !self.colour {
            return Style::default();
        }
        match self.name {
            ThemeName::Terminal => Style::default().fg(Color::Green),
            _ => Style::default().fg(Color::Rgb(0x00, 0x9E, 0x73)),
        }
    }

    /// Series colours for charts (p50, p90, p99, and more).
    pub fn series(&self, i: usize) -> Style {
        if !self.colour {
            return Style::default();
        }
        let c = match (self.name, i % 3) {
            (ThemeName::Terminal, 0) => Color::Cyan,
            (ThemeName::Terminal, 1) => Color::Yellow,
            (ThemeName::Terminal, _) => Color::Red,
            (_, 0) => Color::Rgb(0x56, 0xB4, 0xE9),
            (_, 1) => Color::Rgb(0xE6, 0x9F, 0x00),
            (_, _) => Color::Rgb(0xD5, 0x5E, 0x00),
        };
        Style::default().fg(c)
    }
}
