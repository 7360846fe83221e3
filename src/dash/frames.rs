//! Whole frames on a `TestBackend`, held as insta snapshots (src/dash/
//! snapshots/) at 60x20, 80x24, 120x40 and 200x60 and across a resize,
//! and the styles a snapshot of text cannot show asserted on the buffer.

use std::sync::Arc;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::{Color, Modifier};

use super::draw;
use super::fixture;
use super::snapshot::Snapshot;
use super::state::{self, Data, Event, Key, State, View};
use super::table::table;
use super::theme::{Theme, ThemeName};

const SIZES: [(u16, u16); 4] = [(60, 20), (80, 24), (120, 40), (200, 60)];

const THEME: Theme = Theme {
    name: ThemeName::Dark,
    colour: true,
    ascii: false,
};

fn state(snapshot: &Arc<Snapshot>, size: (u16, u16)) -> State {
    let mut s = State::new(snapshot.analysis.phase, true, size);
    let t = table(snapshot, &s);
    state::update(
        &mut s,
        Event::Data(Data {
            snapshot: Some(snapshot.clone()),
            failure: None,
        }),
        &t,
    );
    let t = table(snapshot, &s);
    state::settle(&mut s, &t);
    s
}

fn press(s: &mut State, keys: &[Key]) {
    for k in keys {
        let t = table(s.data.snapshot.as_ref().unwrap(), s);
        state::update(s, Event::Key(*k), &t);
        let t = table(s.data.snapshot.as_ref().unwrap(), s);
        state::settle(s, &t);
    }
}

fn render(s: &State, theme: &Theme) -> Terminal<TestBackend> {
    let mut term = Terminal::new(TestBackend::new(s.size.0, s.size.1)).unwrap();
    draw_on(&mut term, s, theme);
    term
}

fn draw_on(term: &mut Terminal<TestBackend>, s: &State, theme: &Theme) {
    let t = table(s.data.snapshot.as_ref().unwrap(), s);
    // Ten seconds after the read: the status line's age is fixed.
    let now = fixture::now() + chrono::TimeDelta::seconds(10);
    term.draw(|f| draw::frame(f, s, &t, theme, now)).unwrap();
}

#[tokio::test]
async fn every_view_at_every_size() {
    let (snap, _dir) = fixture::snapshot().await;
    for (w, h) in SIZES {
        let mut s = state(&snap, (w, h));
        insta::assert_snapshot!(format!("matrix_{w}x{h}"), render(&s, &THEME).backend());
        press(&mut s, &[Key::Down, Key::Down, Key::Enter]);
        assert_eq!(s.view, View::Detail);
        insta::assert_snapshot!(format!("detail_{w}x{h}"), render(&s, &THEME).backend());
        press(&mut s, &[Key::Char('3')]);
        insta::assert_snapshot!(format!("regions_{w}x{h}"), render(&s, &THEME).backend());
        press(&mut s, &[Key::Char('4')]);
        insta::assert_snapshot!(format!("plan_{w}x{h}"), render(&s, &THEME).backend());
    }
}

#[tokio::test]
async fn help_search_filter_ascii_and_a_dead_store() {
    let (snap, _dir) = fixture::snapshot().await;
    let mut s = state(&snap, (80, 24));
    press(&mut s, &[Key::Char('?')]);
    insta::assert_snapshot!("help_80x24", render(&s, &THEME).backend());
    press(&mut s, &[Key::Esc, Key::Char('/')]);
    for c in "us-".chars() {
        press(&mut s, &[Key::Char(c)]);
    }
    press(&mut s, &[Key::Enter, Key::Char('s'), Key::Char('p')]);
    insta::assert_snapshot!("search_sorted_p90_80x24", render(&s, &THEME).backend());
    let ascii = Theme {
        ascii: true,
        colour: false,
        ..THEME
    };
    let mut s = state(&snap, (80, 24));
    press(&mut s, &[Key::Char('c'), Key::Char('c')]);
    s.data.failure = Some((
        "cannot list s3://bucket/windows: connection refused".into(),
        fixture::now() + chrono::TimeDelta::seconds(14),
    ));
    insta::assert_snapshot!(
        "continent_ascii_failing_80x24",
        render(&s, &ascii).backend()
    );
}

#[tokio::test]
async fn a_resize_lays_the_same_state_out_again_and_too_small_says_so() {
    let (snap, _dir) = fixture::snapshot().await;
    let mut s = state(&snap, (120, 40));
    press(&mut s, &[Key::End]);
    let mut term = render(&s, &THEME);
    let selected = s.selected.clone();
    for (w, h) in [(60, 20), (40, 10), (200, 60)] {
        term.backend_mut().resize(w, h);
        let t = table(&snap, &s);
        state::update(&mut s, Event::Resize(w, h), &t);
        let t = table(&snap, &s);
        state::settle(&mut s, &t);
        draw_on(&mut term, &s, &THEME);
        assert_eq!(s.selected, selected, "the selection survives a resize");
        insta::assert_snapshot!(format!("resized_to_{w}x{h}"), term.backend());
    }
}

#[tokio::test]
async fn colour_marks_buckets_and_the_selection_without_being_the_only_signal() {
    let (snap, _dir) = fixture::snapshot().await;
    let s = state(&snap, (120, 40));
    let term = render(&s, &THEME);
    let buf = term.backend().buffer();
    // Row 4 is the first geo (title, status, header, then rows), selected.
    let geo_cell = &buf[(0, 3)];
    assert!(geo_cell.modifier.contains(Modifier::REVERSED));
    // A latency cell is shaded by its bucket, and its number is there too.
    let cell = &buf[(20, 4)];
    assert!(matches!(cell.bg, Color::Rgb(..)), "{cell:?}");
    let plain = Theme {
        colour: false,
        ..THEME
    };
    let term = render(&s, &plain);
    let buf = term.backend().buffer();
    for y in 0..40 {
        for x in 0..120 {
            let c = &buf[(x, y)];
            assert_eq!(
                (c.fg, c.bg),
                (Color::Reset, Color::Reset),
                "colour at {x},{y}"
            );
        }
    }
    // The same text either way: colour adds nothing a reader needs.
    let text = |t: &Terminal<TestBackend>| format!("{}", t.backend());
    assert_eq!(text(&render(&s, &THEME)), text(&term));
}

#[tokio::test]
async fn regions_show_todays_dials_and_weights_when_aws_is_read() {
    let (snap, _dir) = fixture::snapshot().await;
    let mut with_aws = (*snap).clone();
    let world = crate::world::World::builtin();
    let mut routing = crate::lab::world::geo_nearest_routing(&world);
    routing.accelerator.insert("us-east-1".into(), 40.0);
    with_aws.routing = Some(Ok(routing));
    let mut s = state(&Arc::new(with_aws), (120, 40));
    press(&mut s, &[Key::Char('3')]);
    let shown = format!("{}", render(&s, &THEME).backend());
    assert!(shown.contains("40%"), "the us-east-1 dial: {shown}");
    insta::assert_snapshot!("regions_with_aws_120x40", shown);
}
