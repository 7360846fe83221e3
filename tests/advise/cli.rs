//! `geolat advise` flags: parsed in process, errors naming the flag.

use clap::Parser;
use geolat::cli::{Cli, run};

fn parse_error(args: &[&str]) -> String {
    let mut all = vec!["geolat", "advise"];
    all.extend_from_slice(args);
    Cli::try_parse_from(all).unwrap_err().to_string()
}

#[test]
fn bad_flag_values_name_the_flag() {
    for (args, needle) in [
        (&["--headroom", "1.5"][..], "--headroom"),
        (&["--headroom", "ten"], "`ten` is not a number"),
        (&["--max-change", "0"], "--max-change"),
        (&["--min-improvement-ms", "-1"], "--min-improvement-ms"),
        (&["--min-move-ms=-0.5"], "--min-move-ms"),
        (&["--failover-share", "2"], "--failover-share"),
        (&["--percentile", "p95"], "--percentile"),
        (&["--drain-mode", "later"], "--drain-mode"),
    ] {
        let e = parse_error(args);
        let first = e.lines().next().unwrap_or_default();
        assert!(first.contains(needle), "{args:?}: {e}");
    }
}

#[tokio::test]
async fn advise_without_a_world_says_what_to_give() {
    let cli = Cli::try_parse_from(["geolat", "advise"]).unwrap();
    let e = run(cli).await.unwrap_err().to_string();
    assert_eq!(e, "give --world FILE, or --store URL with --topology FILE");
}

#[tokio::test]
async fn advise_runs_on_the_shared_world() {
    let world = crate::support::shared_world_path();
    let w = world.to_str().unwrap();
    for extra in [
        &[][..],
        &["--json"],
        &["--explain", "IN-Hyderabad"],
        &["--explain", "IN-Hyderabad", "--json"],
    ] {
        let mut args = vec!["geolat", "advise", "--world", w];
        args.extend_from_slice(extra);
        run(Cli::try_parse_from(args).unwrap()).await.unwrap();
    }
    let mut args = vec!["geolat", "advise", "--world", w, "--explain", "Atlantis"];
    args.truncate(6);
    let e = run(Cli::try_parse_from(args).unwrap()).await.unwrap_err();
    assert!(
        format!("{e:#}").contains("--explain Atlantis: no such geo"),
        "{e:#}"
    );
}
