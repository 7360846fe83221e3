//! `geolat dash` (issue 11) from the outside: printed once into a pipe (text,
//! Markdown, `geolat-dash/1` JSON held to its schema), every bad input as
//! one line, and the real binary in a real terminal (Debian's tmux) driven
//! through its keys, then quitting with the terminal given back.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::{self, assert_user_error, geolat};

/// A store holding a few windows of the sample probe, ending now.
async fn sample_store() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    let store = geolat::store::Store::open(&url).unwrap();
    let now = chrono::Utc::now();
    for m in [30, 20, 10] {
        let w = util::sample_window("de-fra-1", now - chrono::Duration::minutes(m));
        store.put_window(&w).await.unwrap();
    }
    (dir, url)
}

#[tokio::test]
async fn into_a_pipe_the_views_are_printed_once_as_text_markdown_or_json() {
    let (_dir, url) = sample_store().await;
    // Not a terminal: text, without asking.
    let o = geolat(&["dash", "--store", &url]).await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("eu-central-1"), "{text}");
    assert!(text.lines().any(|l| l.starts_with("de-fra-1")), "{text}");
    assert!(text.contains("no plan: give --topology"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "no escape codes into a pipe: {text}"
    );

    let o = geolat(&["dash", "--store", &url, "--once", "--format", "markdown"]).await;
    let md = String::from_utf8_lossy(&o.stdout);
    assert!(md.contains("| geo | eu-central-1 |"), "{md}");

    let o = geolat(&[
        "dash", "--store", &url, "--once", "--format", "json", "--phase", "tcp", "--since", "1h",
    ])
    .await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    util::assert_schema("dash.schema.json", &json);
    assert_eq!(json["phase"], "tcp");
    assert_eq!(json["windows"], 3);
    let geo = &json["geos"][0];
    assert_eq!(geo["geo"], "de-fra-1");
    // The sample's tcp times are 10.0-10.5 ms.
    let ms = geo["ms"]["eu-central-1"].as_f64().unwrap();
    assert!((9.9..10.6).contains(&ms), "{ms}");
}

#[tokio::test]
async fn bad_input_is_one_line_naming_what_to_fix() {
    let (_dir, url) = sample_store().await;
    let o = geolat(&["dash"]).await;
    assert_user_error(&o, "--store");
    let o = geolat(&["dash", "--world", "w.json"]).await;
    assert_user_error(&o, "reads measured windows");
    let missing = tempfile::tempdir().unwrap();
    let gone = format!("file://{}/nothing-here", missing.path().display());
    let o = geolat(&["dash", "--store", &gone]).await;
    assert_user_error(&o, "nothing-here");
    let o = geolat(&["dash", "--store", &url, "--refresh", "100ms"]).await;
    assert_user_error(&o, "--refresh");
    let o = geolat(&[
        "dash",
        "--store",
        &url,
        "--topology",
        "/no/such/topology.json",
    ])
    .await;
    assert_user_error(&o, "/no/such/topology.json");
}

/// A tmux server of its own (tests run at once), torn down when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket]);
        c
    }

    fn run(&self, args: &[&str]) -> String {
        let o = self
            .cmd()
            .args(args)
            .output()
            .expect("tmux runs (Debian package tmux; .ci/run installs it)");
        assert!(
            o.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "dash"])
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "dash"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// Waits until the screen holds `needle`; the screen when it does.
    fn wait_for(&self, needle: &str) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if s.contains(needle) {
                return s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "`{needle}` never showed; the screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").output();
    }
}

/// Drives `geolat dash` over a lab's store in a real terminal: the matrix
/// with its legend, help, the geo detail, regions, plan, a search, and `q`
/// leaving the alternate screen with the cursor shown. Called by the lab
/// loop test on the store it filled.
pub fn drive_in_a_terminal(store: &Path, topology: &Path, geo: &str) {
    let tmux = Tmux {
        socket: format!("geolat-dash-test-{}", std::process::id()),
    };
    let command = format!(
        "{} dash --store {} --topology {} --since 1h --accept-wide --refresh 2s; echo dash exited $?; sleep 60",
        env!("CARGO_BIN_EXE_geolat"),
        store.display(),
        topology.display()
    );
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "dash",
        "-x",
        "100",
        "-y",
        "30",
        &command,
    ]);
    let s = tmux.wait_for("windows");
    assert!(s.contains("1 matrix"), "{s}");
    assert!(s.contains("served") && s.contains("no data"), "legend: {s}");
    assert!(s.contains(geo), "{s}");
    tmux.keys(&["?"]);
    tmux.wait_for("keys (any key closes)");
    tmux.keys(&["j"]);
    tmux.keys(&["/"]);
    tmux.keys(&[geo, "Enter"]);
    let s = tmux.wait_for(&format!("/{geo}"));
    assert!(s.contains("1/"), "one geo matches: {s}");
    tmux.keys(&["Enter"]);
    let s = tmux.wait_for("samples");
    assert!(
        s.contains(&format!("{geo} ")) && s.contains("direct"),
        "{s}"
    );
    tmux.keys(&["3"]);
    tmux.wait_for("capacity");
    tmux.keys(&["4"]);
    tmux.wait_for("decision:");
    tmux.keys(&["q"]);
    let s = tmux.wait_for("dash exited 0");
    assert!(
        !s.contains("decision:"),
        "the dashboard's screen is gone: {s}"
    );
    let flags = tmux.run(&[
        "display-message",
        "-p",
        "-t",
        "dash",
        "#{alternate_on} #{cursor_flag}",
    ]);
    assert_eq!(flags.trim(), "0 1", "main screen, cursor shown");
}

/// `dash --lab` runs the lab's loop into a store of its own; printed once
/// (not a terminal), it waits for the loop and shows every geo of the
/// built-in world against its six regions, with the plan's decision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dash_lab_shows_the_labs_own_windows_once_the_loop_is_done() {
    let o = geolat(&["dash", "--lab", "--once", "--format", "json"]).await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    util::assert_schema("dash.schema.json", &json);
    assert!(
        json["windows"].as_u64().unwrap() >= 32,
        "{}",
        json["windows"]
    );
    assert_eq!(json["regions"].as_array().unwrap().len(), 6);
    assert_eq!(json["geos"].as_array().unwrap().len(), 32);
    assert!(json["plan"]["verdict"].is_string(), "{}", json["no_plan"]);
}
