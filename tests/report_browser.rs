//! The HTML report in a real browser: headless Debian Chromium (`scripts/install-chromium.sh`)
//! loads the page from disk with networking off, the dumped DOM must hold the SVG charts and the
//! query table (after the inline script ran), and a screenshot is saved under the test's output
//! folder (`$CARGO_TARGET_TMPDIR/report-browser/`).

mod report_fixture;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wit_tests::wit;

/// Chromium: `WIT_CHROMIUM`, else `chromium` on PATH; missing is a failure naming the installer.
fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("WIT_CHROMIUM") {
        return PathBuf::from(path);
    }
    let found = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("chromium"))
        .find(|path| path.is_file());
    found.expect("chromium not found: run scripts/install-chromium.sh (make test does)")
}

/// Runs headless chromium with `extra` flags on `page`; returns stdout. A hung browser is killed
/// after two minutes (a guard, not a timing assertion).
fn headless(page: &Path, extra: &[String]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut command = Command::new(chromium());
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("chromium starts");
    let started = Instant::now();
    loop {
        if child.try_wait().expect("waiting for chromium").is_some() {
            break;
        }
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("chromium did not finish within two minutes");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = child.wait_with_output().expect("chromium output");
    assert!(output.status.success(), "chromium failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_html_report_renders_in_headless_chromium() {
    let specs = report_fixture::specs();
    let (_dir, root, _written) = report_fixture::build(&specs);
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-browser");
    let _ = std::fs::remove_dir_all(&out);
    let output = wit(&["report", root.to_str().unwrap(), "-o", out.to_str().unwrap(), "--query", "hot dog"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let page = out.join("report.html").canonicalize().unwrap();

    let dom = headless(&page, &["--dump-dom".to_owned()]);
    for needle in [
        "<svg id=\"rank-frequency\"",
        "<svg id=\"histogram\"",
        "<svg id=\"cumulative-share\"",
        "id=\"cap-line\"",
        "<polyline",
        "<table id=\"queries\"",
    ] {
        assert!(dom.contains(needle), "{needle} not in the rendered DOM:\n{}", &dom[..dom.len().min(2000)]);
    }
    // Every query is a row of the rendered table, the hostile one as text, not markup.
    let table = &dom[dom.find("<table id=\"queries\"").unwrap()..];
    let table = &table[..table.find("</table>").unwrap()];
    assert_eq!(table.matches("<tr>").count(), specs.len() + 1, "{table}");
    assert!(table.contains("&lt;script&gt;alert"), "{table}");
    assert!(!dom.contains("<script>alert"));

    let query_page = out.join(report_fixture_page(&out)).canonicalize().unwrap();
    let dom = headless(&query_page, &["--dump-dom".to_owned()]);
    assert!(dom.contains("<img src=\"data:image/jpeg;base64,"), "no thumbnail in the query page");

    let screenshot = out.join("report.png");
    headless(&page, &[format!("--screenshot={}", screenshot.display()), "--window-size=1200,1800".to_owned()]);
    let png = std::fs::read(&screenshot).expect("chromium wrote the screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000, "{} bytes", png.len());
}

/// The file name of the hot dog page in `out`.
fn report_fixture_page(out: &Path) -> String {
    std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|name| name.starts_with("query-hot-dog-"))
        .expect("the query page was written")
}
