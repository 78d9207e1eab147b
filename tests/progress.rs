//! Progress as users see it: on a terminal (a pseudo-terminal made by util-linux `script`) `wit
//! fetch` draws a bar with the total, percent and ETA; redirected to a file it writes plain lines
//! with the same numbers and not one ANSI escape byte.

use std::path::Path;
use std::process::Command;

use wit_tests::loopback::{png, LoopbackServer, Reply};
use wit_tests::workspace_binary;

const IMAGES: usize = 24;

/// A URL list of `IMAGES` pictures (the last four missing: failures) and the fetch arguments.
fn fetch_args(server: &LoopbackServer, dir: &Path) -> Vec<String> {
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
        // Slow enough that the bar is drawn several times.
        "--per-host-delay-ms",
        "60",
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
