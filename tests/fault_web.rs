//! `wit fetch` against the fault web (tests/src/faultweb.rs): every kind of misbehaving server
//! gives its expected status and error kind, and a mixed run of 10,000 URLs finishes (under a
//! watchdog), exits 0 and accounts for every URL exactly once, nothing refused in the corpus.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wit_contract::Manifest;
use wit_tests::faultweb::{check_outcomes, fault_of_url, outcomes, FaultWeb, FAULTS, FAULT_WEB_IP, FORBIDDEN};
use wit_tests::{wit, workspace_binary};

/// Runs `wit fetch LIST -o OUT` with the fault web's flags; kills it and fails the test when it
/// has not finished after `limit` (a hang, not a slow machine: the limit is generous).
fn fetch_under_watchdog(list: &Path, out: &Path, concurrency: usize, limit: Duration) {
    let log = out.with_extension("log");
    let concurrency = concurrency.to_string();
    let ip = FAULT_WEB_IP.to_string();
    let args = [
        "fetch",
        list.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--allow-address",
        &ip,
        "--breaker-threshold",
        "0",
        "--retries",
        "0",
        "--timeout",
        "3",
        "--max-body-bytes",
        "1000000",
        "--concurrency",
        &concurrency,
        "--per-host-concurrency",
        &concurrency,
        "--image-size",
        "16",
        "--shard-rows",
        "2500",
        "-q",
    ];
    let mut child = Command::new(workspace_binary("wit"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("wit runs");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            child.kill().unwrap();
            child.wait().unwrap();
            let stderr = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("wit fetch still running after {limit:?}: killed (a hang). stderr:\n{stderr}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stderr = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "wit fetch failed ({status}):\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn every_fault_kind_gives_its_status_and_error_kind() {
    let web = FaultWeb::start();
    let urls = web.one_of_each();
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("urls.txt");
    std::fs::write(&list, urls.join("\n")).unwrap();
    let out = dir.path().join("corpus");
    fetch_under_watchdog(&list, &out, 64, Duration::from_secs(120));
    let per_kind = check_outcomes(&urls, &outcomes(&out));
    assert_eq!(per_kind.len(), FAULTS.len());
    // Refused means never asked: no request reached the disallowed paths.
    for (server, path) in [
        (&web.main, "/robots-disallow/0"),
        (&web.robots_500, "/robots-500/0"),
        (&web.huge_robots, "/huge-robots-early/0"),
    ] {
        assert_eq!(server.hits(path), 0, "{path} was requested");
    }
    assert_eq!(web.huge_robots.hits("/huge-robots-late/0"), 1);
    let verify = wit(&["verify", out.to_str().unwrap()]);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
}

#[test]
fn a_mixed_run_of_ten_thousand_urls_accounts_for_each_once() {
    let web = FaultWeb::start();
    let urls = web.mixed_urls(10_000);
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("urls.txt");
    std::fs::write(&list, urls.join("\n")).unwrap();
    let out = dir.path().join("corpus");
    fetch_under_watchdog(&list, &out, 256, Duration::from_secs(600));
    let got = outcomes(&out);
    let per_kind = check_outcomes(&urls, &got);
    assert_eq!(per_kind.len(), FAULTS.len(), "every kind is in the list");
    for (url, outcome) in &got {
        if outcome.status == "success" {
            assert!(!FORBIDDEN.contains(&fault_of_url(url).name), "{url} is in the corpus");
        }
    }
    let manifest = Manifest::load(&out).unwrap();
    let by_status: u64 = manifest.stats["by_status"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(by_status, 10_000, "{}", manifest.stats);
}
