//! The dashboard's state and the one function that changes it: every key,
//! resize and data refresh is an [`Event`], and [`update`] folds it into
//! the [`State`]. No I/O and no clock: the tests drive it with events.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::snapshot::Snapshot;
use super::table::Table;
use crate::probe::record::Phase;
use crate::world::Percentile;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Matrix,
    Detail,
    Regions,
    Plan,
}

impl View {
    pub const ALL: [View; 4] = [View::Matrix, View::Detail, View::Regions, View::Plan];

    pub fn title(self) -> &'static str {
        match self {
            View::Matrix => "matrix",
            View::Detail => "geo",
            View::Regions => "regions",
            View::Plan => "plan",
        }
    }
}

/// A matrix column to sort on; a region by name, so the sort survives a
/// refresh that adds or drops a region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortColumn {
    Geo,
    Continent,
    Share,
    Served,
    Region(String),
}

impl SortColumn {
    pub fn label(&self) -> &str {
        match self {
            SortColumn::Geo => "geo",
            SortColumn::Continent => "continent",
            SortColumn::Share => "traffic",
            SortColumn::Served => "served today",
            SortColumn::Region(r) => r,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Search {
    /// Typing goes into the search, not to the key bindings.
    pub editing: bool,
    pub text: String,
}

/// The latest read of the store and how the last attempt went.
#[derive(Debug, Clone, Default)]
pub struct Data {
    pub snapshot: Option<Arc<Snapshot>>,
    /// Why the last read failed, and when the next one starts.
    pub failure: Option<(String, DateTime<Utc>)>,
}

#[derive(Debug, Clone)]
pub struct State {
    pub view: View,
    pub help: bool,
    pub percentile: Percentile,
    pub phase: Phase,
    pub sort: SortColumn,
    pub descending: bool,
    pub continent: Option<String>,
    pub search: Search,
    /// The selected geo, by id: it stays selected across refreshes and
    /// re-sorts.
    pub selected: Option<String>,
    /// First matrix row shown.
    pub offset: usize,
    pub fixed_scale: bool,
    /// Terminal columns and rows.
    pub size: (u16, u16),
    pub data: Data,
    /// The plan view's first line shown.
    pub plan_scroll: u16,
}

impl State {
    pub fn new(phase: Phase, fixed_scale: bool, size: (u16, u16)) -> State {
        State {
            view: View::Matrix,
            help: false,
            percentile: Percentile::P50,
            phase,
            sort: SortColumn::Share,
            descending: true,
            continent: None,
            search: Search::default(),
            selected: None,
            offset: 0,
            fixed_scale,
            size,
            data: Data::default(),
            plan_scroll: 0,
        }
    }

    /// Matrix rows that fit on screen (see `draw::matrix`'s chrome).
    pub fn page(&self) -> usize {
        usize::from(self.size.1.saturating_sub(MATRIX_CHROME)).max(1)
    }
}

/// Lines the matrix view spends on other things than rows: title, status,
/// table header, legend, footer.
pub const MATRIX_CHROME: u16 = 6;

/// A key, as the dashboard reads it (the terminal's events mapped once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Up,
    Down,
    PageUp,
    PageDown,
    Home,
    End,
    Enter,
    Esc,
    Tab,
    BackTab,
    Backspace,
    Interrupt,
}

#[derive(Debug, Clone)]
pub enum Event {
    Key(Key),
    Resize(u16, u16),
    Data(Data),
}

/// What the loop does after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Read the store now instead of at the next refresh.
    Refresh,
    Quit,
}

/// Folds `event` into `state`; `table` is the matrix as it was shown when
/// the event came (what "down" or "next continent" mean). Once the table
/// is derived again from the new state, [`settle`] keeps the selection.
pub fn update(state: &mut State, event: Event, table: &Table) -> Flow {
    match event {
        Event::Resize(w, h) => state.size = (w, h),
        Event::Data(d) => state.data = d,
        Event::Key(key) => return key_pressed(state, key, table),
    }
    Flow::Continue
}

fn key_pressed(state: &mut State, key: Key, table: &Table) -> Flow {
    if key == Key::Interrupt {
        return Flow::Quit;
    }
    if state.search.editing {
        match key {
            Key::Char(c) => state.search.text.push(c),
            Key::Backspace => {
                state.search.text.pop();
            }
            Key::Enter => state.search.editing = false,
            Key::Esc => state.search = Search::default(),
            _ => {}
        }
        state.offset = 0;
        return Flow::Continue;
    }
    if state.help {
        // Any key closes the help; `q` still quits.
        state.help = false;
        return if key == Key::Char('q') {
            Flow::Quit
        } else {
            Flow::Continue
        };
    }
    match key {
        Key::Char('q') => return Flow::Quit,
        Key::Char('?') => state.help = true,
        Key::Char('R') => return Flow::Refresh,
        Key::Char(c @ '1'..='4') => state.view = View::ALL[c as usize - '1' as usize],
        Key::Tab => state.view = next(&View::ALL, state.view, 1),
        Key::BackTab => state.view = next(&View::ALL, state.view, -1),
        Key::Enter if state.view == View::Matrix => state.view = View::Detail,
        Key::Esc if state.view != View::Matrix => state.view = View::Matrix,
        Key::Esc => {
            state.search = Search::default();
            state.continent = None;
        }
        Key::Char('p') => {
            state.percentile = next(
                &[Percentile::P50, Percentile::P90, Percentile::P99],
                state.percentile,
                1,
            )
        }
        Key::Char('f') => state.phase = next(&Phase::ALL, state.phase, 1),
        Key::Char('s') => {
            let mut columns = vec![
                SortColumn::Geo,
                SortColumn::Continent,
                SortColumn::Share,
                SortColumn::Served,
            ];
            columns.extend(table.regions.iter().cloned().map(SortColumn::Region));
            state.sort = next(&columns, state.sort.clone(), 1);
        }
        Key::Char('r') => state.descending = !state.descending,
        Key::Char('c') => {
            let mut options: Vec<Option<String>> = vec![None];
            options.extend(table.continents.iter().cloned().map(Some));
            state.continent = next(&options, state.continent.clone(), 1);
            state.offset = 0;
        }
        Key::Char('/') => {
            state.search.editing = true;
            state.view = View::Matrix;
        }
        Key::Char('x') => state.fixed_scale = !state.fixed_scale,
        Key::Down | Key::Char('j') => move_by(state, table, 1),
        Key::Up | Key::Char('k') => move_by(state, table, -1),
        Key::PageDown => move_by(state, table, state.page() as isize),
        Key::PageUp => move_by(state, table, -(state.page() as isize)),
        Key::Home | Key::Char('g') => move_by(state, table, isize::MIN / 2),
        Key::End | Key::Char('G') => move_by(state, table, isize::MAX / 2),
        _ => {}
    }
    Flow::Continue
}

/// The item after (or before) `current` in `all`, wrapping; the first one
/// when `current` is not there.
fn next<T: Clone + PartialEq>(all: &[T], current: T, step: isize) -> T {
    let n = all.len() as isize;
    match all.iter().position(|x| *x == current) {
        Some(i) => all[(i as isize + step).rem_euclid(n) as usize].clone(),
        None => all.first().cloned().unwrap_or(current),
    }
}

fn move_by(state: &mut State, table: &Table, delta: isize) {
    if state.view == View::Plan {
        let lines = state.plan_scroll as isize + delta.clamp(-1000, 1000);
        state.plan_scroll = lines.clamp(0, u16::MAX as isize) as u16;
        return;
    }
    if table.rows.is_empty() {
        return;
    }
    let at = selected_index(state, table).unwrap_or(0) as isize;
    let to = at
        .saturating_add(delta)
        .clamp(0, table.rows.len() as isize - 1) as usize;
    state.selected = Some(table.rows[to].geo.clone());
    scroll_to(state, to, table.rows.len());
}

/// Where the selected geo is among the rows shown.
pub fn selected_index(state: &State, table: &Table) -> Option<usize> {
    let id = state.selected.as_ref()?;
    table.rows.iter().position(|r| &r.geo == id)
}

/// After the rows change: the selected geo stays selected where it is
/// still shown; else (filtered out, gone from the data, none yet) the
/// first row shown is, so Enter never opens a geo the user cannot see.
pub fn settle(state: &mut State, table: &Table) {
    match selected_index(state, table) {
        Some(i) => scroll_to(state, i, table.rows.len()),
        None => {
            state.selected = table.rows.first().map(|r| r.geo.clone());
            state.offset = 0;
        }
    }
}

fn scroll_to(state: &mut State, row: usize, rows: usize) {
    let page = state.page();
    if row < state.offset {
        state.offset = row;
    } else if row >= state.offset + page {
        state.offset = row + 1 - page;
    }
    state.offset = state.offset.min(rows.saturating_sub(page));
}

#[cfg(test)]
mod tests {
    use super::super::table::{CellView, Row};
    use super::*;

    fn table(ids: &[&str]) -> Table {
        Table {
            regions: vec!["eu".into(), "us".into()],
            rows: ids
                .iter()
                .map(|id| Row {
                    geo: (*id).into(),
                    name: String::new(),
                    continent: if id.starts_with('e') { "EU" } else { "NA" }.into(),
                    share: None,
                    served: None,
                    proposed: None,
                    best: None,
                    cells: vec![CellView::NoData, CellView::NoData],
                })
                .collect(),
            edges: [1.0, 2.0, 3.0, 4.0],
            continents: vec!["EU".into(), "NA".into()],
            total: ids.len(),
        }
    }

    fn state() -> State {
        State::new(Phase::Warm, false, (80, 10))
    }

    #[test]
    fn moving_past_a_page_scrolls_and_the_end_stops_there() {
        let ids: Vec<String> = (0..2000).map(|i| format!("g{i:04}")).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let t = table(&refs);
        let mut s = state();
        update(&mut s, Event::Resize(80, 10), &t);
        settle(&mut s, &t);
        assert_eq!(s.selected.as_deref(), Some("g0000"));
        assert_eq!(s.page(), 4);
        for _ in 0..5 {
            update(&mut s, Event::Key(Key::Down), &t);
        }
        assert_eq!(s.selected.as_deref(), Some("g0005"));
        assert_eq!(s.offset, 2, "the selection is the last row shown");
        update(&mut s, Event::Key(Key::End), &t);
        assert_eq!(s.selected.as_deref(), Some("g1999"));
        assert_eq!(s.offset, 1996);
        update(&mut s, Event::Key(Key::PageUp), &t);
        assert_eq!(s.selected.as_deref(), Some("g1995"));
        update(&mut s, Event::Key(Key::Home), &t);
        assert_eq!((s.selected.as_deref(), s.offset), (Some("g0000"), 0));
    }

    #[test]
    fn the_selected_geo_stays_selected_when_rows_move_under_it() {
        let mut s = state();
        let t = table(&["a", "b", "c"]);
        update(&mut s, Event::Resize(80, 10), &t);
        settle(&mut s, &t);
        update(&mut s, Event::Key(Key::Down), &t);
        assert_eq!(s.selected.as_deref(), Some("b"));
        // A refresh re-sorts: b is now last, and still the one selected.
        let resorted = table(&["c", "a", "b"]);
        update(&mut s, Event::Data(Data::default()), &t);
        settle(&mut s, &resorted);
        assert_eq!(s.selected.as_deref(), Some("b"));
        assert_eq!(selected_index(&s, &resorted), Some(2));
        update(&mut s, Event::Key(Key::Up), &resorted);
        assert_eq!(s.selected.as_deref(), Some("a"));
    }

    #[test]
    fn search_takes_every_key_until_enter_or_esc() {
        let t = table(&["a"]);
        let mut s = state();
        s.view = View::Plan;
        update(&mut s, Event::Key(Key::Char('/')), &t);
        assert_eq!(s.view, View::Matrix);
        for c in "q?1".chars() {
            assert_eq!(update(&mut s, Event::Key(Key::Char(c)), &t), Flow::Continue);
        }
        assert_eq!(s.search.text, "q?1");
        update(&mut s, Event::Key(Key::Backspace), &t);
        update(&mut s, Event::Key(Key::Enter), &t);
        assert_eq!((s.search.editing, s.search.text.as_str()), (false, "q?"));
        assert_eq!(update(&mut s, Event::Key(Key::Char('q')), &t), Flow::Quit);
    }

    #[test]
    fn keys_cycle_views_percentiles_phases_sorts_and_continents() {
        let t = table(&["eu1", "na1"]);
        let mut s = state();
        update(&mut s, Event::Key(Key::Char('3')), &t);
        assert_eq!(s.view, View::Regions);
        update(&mut s, Event::Key(Key::Tab), &t);
        assert_eq!(s.view, View::Plan);
        update(&mut s, Event::Key(Key::Tab), &t);
        assert_eq!(s.view, View::Matrix);
        update(&mut s, Event::Key(Key::Enter), &t);
        assert_eq!(s.view, View::Detail);
        update(&mut s, Event::Key(Key::Esc), &t);
        assert_eq!(s.view, View::Matrix);
        for want in [Percentile::P90, Percentile::P99, Percentile::P50] {
            update(&mut s, Event::Key(Key::Char('p')), &t);
            assert_eq!(s.percentile, want);
        }
        update(&mut s, Event::Key(Key::Char('f')), &t);
        assert_eq!(s.phase, Phase::Dns, "warm wraps to dns");
        update(&mut s, Event::Key(Key::Char('s')), &t);
        assert_eq!(s.sort, SortColumn::Served);
        update(&mut s, Event::Key(Key::Char('s')), &t);
        assert_eq!(s.sort, SortColumn::Region("eu".into()));
        update(&mut s, Event::Key(Key::Char('c')), &t);
        assert_eq!(s.continent.as_deref(), Some("EU"));
        update(&mut s, Event::Key(Key::Char('c')), &t);
        update(&mut s, Event::Key(Key::Char('c')), &t);
        assert_eq!(s.continent, None);
        update(&mut s, Event::Key(Key::Char('?')), &t);
        assert!(s.help);
        assert_eq!(
            update(&mut s, Event::Key(Key::Char('j')), &t),
            Flow::Continue
        );
        assert!(!s.help, "any key closes the help");
        assert_eq!(
            update(&mut s, Event::Key(Key::Char('R')), &t),
            Flow::Refresh
        );
        assert_eq!(update(&mut s, Event::Key(Key::Interrupt), &t), Flow::Quit);
    }
}
