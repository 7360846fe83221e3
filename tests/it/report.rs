//! `geolat report` (issue 11) from the built-in world's file: the folder it
//! writes, held to its schema and made the same way twice; when it writes
//! nothing; and every bad output or input as one line with nothing left
//! half-written.

use std::path::Path;

use crate::util::{self, assert_user_error, geolat};

fn world() -> String {
    format!("{}/src/world/aws-edges.json", env!("CARGO_MANIFEST_DIR"))
}

async fn report(out: &Path, extra: &[&str]) -> std::process::Output {
    let world = world();
    let out = out.display().to_string();
    let mut args = vec!["report", "--world", &world, "--out", &out];
    args.extend_from_slice(extra);
    geolat(&args).await
}

fn read(dir: &Path, file: &str) -> Vec<u8> {
    std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// Whatever is in `dir` besides `keep`: a staging folder left behind shows.
fn leftovers(dir: &Path, keep: &[&str]) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !keep.contains(&n.as_str()))
        .collect()
}

#[tokio::test]
async fn a_report_folder_holds_json_markdown_and_csv_and_is_the_same_twice() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("first"), dir.path().join("second"));
    for out in [&first, &second] {
        let o = report(out, &[]).await;
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let said = String::from_utf8_lossy(&o.stdout);
        assert!(
            said.contains("report.json, report.md, geos.csv, report.html"),
            "{said}"
        );
    }
    for file in [
        "report.json",
        "report.md",
        "geos.csv",
        "report.html",
        "heatmap.png",
        "map.png",
        "load.png",
        "floor.png",
    ] {
        assert_eq!(read(&first, file), read(&second, file), "{file} differs");
    }
    assert_eq!(
        leftovers(dir.path(), &["first", "second"]),
        Vec::<String>::new()
    );

    let json: serde_json::Value = serde_json::from_slice(&read(&first, "report.json")).unwrap();
    util::assert_schema("report.schema.json", &json);
    let h = &json["headline"];
    let geos = json["geos"].as_array().unwrap();
    assert_eq!(h["geos_total"].as_u64().unwrap() as usize, geos.len());
    let changed = geos.iter().filter(|g| g["changed"] == true).count();
    assert_eq!(h["geos_changed"].as_u64().unwrap() as usize, changed);
    // Every changed geo is graded; no unchanged one is.
    for g in geos {
        assert_eq!(g["risk"].is_object(), g["changed"] == true, "{g}");
        assert!(g["floor_ms"].as_f64().unwrap() >= 0.0);
    }
    // Largest traffic first.
    let demand: Vec<f64> = geos
        .iter()
        .map(|g| g["demand_rps"].as_f64().unwrap())
        .collect();
    assert!(demand.windows(2).all(|w| w[0] >= w[1]), "{demand:?}");
    // A world file says it is modelled, not measured.
    let quality = json["data_quality"].to_string();
    assert!(quality.contains("not measured"), "{quality}");

    // The Markdown's headline is at most 10 lines before the first fold,
    // and every geo is a row of the table.
    let md = String::from_utf8(read(&first, "report.md")).unwrap();
    let headline = md.split("<details>").next().unwrap().trim_end();
    assert!(headline.lines().count() <= 10, "{headline}");
    assert!(headline.contains("Demand-weighted p50"), "{headline}");
    for g in geos {
        assert!(
            md.contains(&format!("| {} |", g["id"].as_str().unwrap()))
                || md.contains(&format!("| **{}** |", g["id"].as_str().unwrap()))
        );
    }
    // The HTML page stands alone: no script, nothing fetched; its four
    // charts are inline SVG, and every geo is a row.
    let html = String::from_utf8(read(&first, "report.html")).unwrap();
    for outside in ["<script", "<link", " src=", "url(", "@import"] {
        assert!(!html.contains(outside), "the page fetches with {outside}");
    }
    assert_eq!(html.matches("<svg").count(), 4);
    assert!(html.contains("● serves today, ○ proposed"));
    assert_eq!(
        html.matches("<tr").count() - html.matches("<tr><th").count(),
        geos.len() + json["mechanisms"].as_array().unwrap().len()
    );
    // The CSV: a header and a row per geo, in the same order.
    let csv = String::from_utf8(read(&first, "geos.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("geo,name,continent,demand_rps"));
    assert_eq!(lines.len(), geos.len() + 1);
    assert!(lines[1].starts_with(geos[0]["id"].as_str().unwrap()));
}

#[tokio::test]
async fn summary_only_and_a_report_replaced_whole() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    assert!(report(&out, &[]).await.status.success());
    let full = read(&out, "report.md");
    let o = report(&out, &["--summary-only"]).await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary = String::from_utf8(read(&out, "report.md")).unwrap();
    assert!(summary.len() < full.len());
    assert!(!summary.contains("<details>"), "{summary}");
    assert!(summary.trim_end().lines().count() <= 10, "{summary}");
    assert_eq!(leftovers(dir.path(), &["r"]), Vec::<String>::new());
}

#[tokio::test]
async fn min_gain_writes_nothing_when_nothing_material_changes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    let o = report(&out, &["--min-gain", "100000"]).await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(said.contains("nothing material would change"), "{said}");
    assert!(!out.exists());
    let o = geolat(&[
        "report",
        "--world",
        &world(),
        "--out",
        "x",
        "--min-gain",
        "-3",
    ])
    .await;
    assert_user_error(&o, "--min-gain `-3`");
}

#[tokio::test]
async fn bad_outputs_are_one_line_and_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    // A file where the folder should be.
    let file = dir.path().join("file");
    std::fs::write(&file, "keep me").unwrap();
    assert_user_error(&report(&file, &[]).await, "is a file, not a folder");
    assert_eq!(std::fs::read(&file).unwrap(), b"keep me");
    // A folder holding something else.
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "mine").unwrap();
    assert_user_error(&report(&other, &[]).await, "holds other files");
    assert_eq!(leftovers(&other, &["notes.txt"]), Vec::<String>::new());
    // A parent that does not exist.
    let o = report(&dir.path().join("missing/r"), &[]).await;
    assert_user_error(&o, "cannot write the report");
    assert_eq!(
        leftovers(dir.path(), &["file", "other"]),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn bad_inputs_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    let out = out.to_str().unwrap();
    // An empty store.
    let store = format!("file://{}", dir.path().join("empty").display());
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    let topology = format!(
        "{}/src/world/aws-edges.topology.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let o = geolat(&[
        "report",
        "--store",
        &store,
        "--topology",
        &topology,
        "--out",
        out,
    ])
    .await;
    assert_user_error(&o, "holds no windows since");
    // A store that is not there.
    let missing = format!("file://{}", dir.path().join("nowhere").display());
    let o = geolat(&[
        "report",
        "--store",
        &missing,
        "--topology",
        &topology,
        "--out",
        out,
    ])
    .await;
    assert_user_error(&o, "nowhere");
    // A world file that is not one.
    let o = geolat(&["report", "--world", &topology, "--out", out]).await;
    assert_user_error(&o, "aws-edges.topology.json");
    assert!(!Path::new(out).exists());
}

/// The PNG charts beside the Markdown decode, carry text drawn from the
/// bundled font (dark pixels in the heatmap's label column) and are linked
/// from the Markdown; the HTML opens in headless Chromium (Debian's), which
/// lays out every inline chart and paints them.
#[tokio::test]
async fn the_charts_are_pngs_with_text_and_the_html_renders_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    let o = report(&out, &[]).await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let md = String::from_utf8(read(&out, "report.md")).unwrap();
    for png in ["heatmap.png", "map.png", "load.png", "floor.png"] {
        assert!(md.contains(&format!("]({png})")), "{png} not linked: {md}");
        let img = image::load_from_memory(&read(&out, png))
            .unwrap_or_else(|e| panic!("{png}: {e}"))
            .to_rgb8();
        assert!(img.width() >= 300 && img.height() >= 200, "{png}");
        let dark = img.pixels().filter(|p| p.0.iter().all(|c| *c < 80)).count();
        assert!(dark > 500, "{png}: {dark} dark (text) pixels");
    }
    // Geo names are drawn left of the heatmap's cells: text, not boxes.
    let heat = image::load_from_memory(&read(&out, "heatmap.png"))
        .unwrap()
        .to_rgb8();
    let label_ink = (40..140)
        .flat_map(|x| (40..200).map(move |y| (x, y)))
        .filter(|&(x, y)| heat.get_pixel(x, y).0.iter().all(|c| *c < 80))
        .count();
    assert!(
        label_ink > 200,
        "{label_ink} dark pixels among the geo labels"
    );

    let html = out.join("report.html");
    let chromium = |args: &[&str]| {
        let o = std::process::Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
            ])
            .args(args)
            .arg(format!("file://{}", html.display()))
            .output()
            .expect("chromium runs (Debian package chromium; .ci/run installs it)");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        o.stdout
    };
    let dom = String::from_utf8(chromium(&["--dump-dom"])).unwrap();
    assert_eq!(dom.matches("<svg").count(), 4, "every chart laid out");
    assert!(dom.contains("Routing report"));
    let shot = dir.path().join("shot.png");
    chromium(&[
        "--window-size=1200,1600",
        &format!("--screenshot={}", shot.display()),
    ]);
    let img = image::open(&shot).unwrap().to_rgb8();
    assert_eq!((img.width(), img.height()), (1200, 1600));
    // The heatmap's viridis cells are painted: strongly coloured pixels,
    // which the page's black-on-white text alone would not have.
    let coloured = img
        .pixels()
        .filter(|p| {
            let (max, min) = (*p.0.iter().max().unwrap(), *p.0.iter().min().unwrap());
            max - min > 80
        })
        .count();
    assert!(
        coloured > 20_000,
        "{coloured} coloured pixels: the charts were not painted"
    );
}
