//! Progress as users see it: on a terminal (a pseudo-terminal made by util-linux `script`) `wit
//! fetch` draws a bar with the total, percent and ETA; redirected to a file it writes plain lines
//! with the same numbers and not one ANSI escape byte; `queries build` (the dump read, in MB),
//! `wit export` and `wit report` write their totals the same way.

use std::path::Path;
use std::process::Command;

use wit_tests::loopback::{png, LoopbackServer, Reply};
use wit_tests::workspace_binary;

const IMAGES: usize = 24;

/// A URL list of `IMAGES` pictures (the last four missing: failures) and the fetch arguments,
/// slowed down so that a bar is drawn several times.
fn fetch_args(server: &LoopbackServer, dir: &Path) -> Vec<String> {
    let mut args = quick_fetch_args(server, dir);
    args.extend(["--per-host-delay-ms".to_string(), "60".to_string()]);
    args
}

/// [`fetch_args`] without the delay.
fn quick_fetch_args(server: &LoopbackServer, dir: &Path) -> Vec<String> {
    let list = dir.join("urls.csv");
    let mut csv = String::from("url,caption\n");
    for i in 0..IMAGES {
        csv.push_str(&format!("{},picture {i}\n", server.url(&format!("/img/{i}.png"))));
    }
    std::fs::write(&list, csv).unwrap();
    [
        "fetch",
        list.to_str().unwrap(),
        "-o",
        dir.join("corpus").to_str().unwrap(),
        "--allow-private-networks",
        "--ignore-robots",
        "--image-size",
        "16",
        "--retries",
        "0",
        "--concurrency",
        "1",
        "--per-host-concurrency",
        "1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn server() -> LoopbackServer {
    LoopbackServer::start(
        (0..IMAGES - 4).map(|i| (format!("/img/{i}.png"), Reply::ok("image/png", png(40, 40, i as u8)))),
    )
}

/// `arg` quoted for `sh -c`.
fn quoted(arg: &str) -> String {
    format!("'{}'", arg.replace('\'', r"'\''"))
}

#[test]
fn a_terminal_gets_a_bar_with_total_and_eta() {
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    // A terminal 160 columns wide (a pty that `script` opens has no size of its own here).
    let mut command =
        vec!["stty cols 160 rows 40; exec".to_string(), quoted(workspace_binary("wit").to_str().unwrap())];
    command.extend(fetch_args(&server, dir.path()).iter().map(|a| quoted(a)));
    // `script` runs the command on a new pseudo-terminal and copies what it drew to stdout.
    let output = Command::new("script")
        .args(["-qefc", &command.join(" "), "/dev/null"])
        .output()
        .expect("util-linux `script` runs");
    let drawn = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{drawn}\n{}", String::from_utf8_lossy(&output.stderr));
    // A bar frame: the prefix, the filled part, position/total with the unit, percent, ETA.
    let frame = drawn
        .split(['\r', '\n'])
        .find(|line| line.contains("fetch [") && line.contains('█') && line.contains(&format!("/{IMAGES} pairs (")))
        .unwrap_or_else(|| panic!("no bar frame with the total in:\n{drawn:?}"));
    assert!(frame.contains("%)") && frame.contains("ETA"), "{frame:?}");
    assert!(drawn.contains('\u{1b}'), "a terminal gets escape codes (the bar is redrawn in place)");
    // The ok / failed split and the bytes.
    assert!(drawn.contains("ok 20") && drawn.contains("failed 4"), "{drawn:?}");
    assert!(drawn.contains("MB/s"), "{drawn:?}");
}

#[test]
fn a_redirected_run_writes_plain_lines_without_escape_codes() {
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("fetch.log");
    let status = Command::new(workspace_binary("wit"))
        .args(fetch_args(&server, dir.path()))
        .stderr(std::fs::File::create(&log).unwrap())
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let bytes = std::fs::read(&log).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(!bytes.contains(&0x1b), "ANSI escape bytes in a redirected log:\n{text:?}");
    let line = text
        .lines()
        .find(|line| line.contains(&format!("fetch: {IMAGES}/{IMAGES} pairs (100.0%), ok 20, failed 4")))
        .unwrap_or_else(|| panic!("no final progress line in:\n{text}"));
    assert!(line.contains(" pairs/s, ") && line.contains(" MB/s") && line.contains("ETA 0s"), "{line}");
}

/// Runs `wit args` with stderr redirected to a file; returns what it wrote there.
fn redirected(args: &[&str], log: &Path) -> String {
    let status = Command::new(workspace_binary("wit"))
        .args(args)
        .stderr(std::fs::File::create(log).unwrap())
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    let bytes = std::fs::read(log).unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    assert!(status.success(), "wit {args:?}:\n{text}");
    assert!(!bytes.contains(&0x1b), "ANSI escape bytes in a redirected log:\n{text:?}");
    text
}

/// The line of `text` that starts (after the log prefix) with `start`.
fn line_with<'a>(text: &'a str, start: &str) -> &'a str {
    text.lines().find(|line| line.contains(start)).unwrap_or_else(|| panic!("no {start:?} line in:\n{text}"))
}

#[test]
fn queries_build_export_and_report_show_their_totals() {
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    let d = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let args = quick_fetch_args(&server, dir.path());
    redirected(&args.iter().map(String::as_str).collect::<Vec<_>>(), &dir.path().join("fetch.log"));

    // The dump read: bytes known from the file size, shown as MB with percent, rate and ETA.
    let dump = wit_tests::workspace_root().join("fixtures/enwiki/enwiki-table-markup.xml.bz2");
    let size = std::fs::metadata(&dump).unwrap().len() as f64 / 1e6;
    let text = redirected(
        &["queries", "build", dump.to_str().unwrap(), "-o", &d("queries"), "--min-count", "1"],
        &dir.path().join("queries.log"),
    );
    let line = line_with(&text, "queries build: read the dump: ");
    assert!(line.contains(&format!("{size:.1}/{size:.1} MB (100.0%)")), "{line}");
    assert!(line.contains(" MB/s") && line.contains(" pages") && line.contains("ETA 0s"), "{line}");

    // Export: the samples of the corpus, with the bytes written.
    let text = redirected(
        &["export", "webdataset", &d("corpus"), "-o", &d("tars"), "--samples-per-tar", "8"],
        &dir.path().join("export.log"),
    );
    let line = line_with(&text, "export webdataset: ");
    assert!(line.contains("20/20 samples (100.0%)") && line.contains(" MB/s") && line.contains("ETA 0s"), "{line}");
    let text = redirected(&["export", "hf", &d("corpus"), "-o", &d("hf")], &dir.path().join("hf.log"));
    assert!(line_with(&text, "export hf: ").contains("20/20 samples (100.0%)"), "{text}");

    // Report: the rows of each stage it reads.
    let text = redirected(&["report", &d("corpus"), "-o", &d("report")], &dir.path().join("report.log"));
    assert!(line_with(&text, "report: read corpus: ").contains("20/20 rows (100.0%)"), "{text}");
    assert!(line_with(&text, "report: read _failures: ").contains("4/4 rows (100.0%)"), "{text}");
}
