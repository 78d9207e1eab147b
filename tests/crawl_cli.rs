//! `wit harvest crawl` against the demo web on 127.0.0.1: robots.txt obeyed, the per-host delay kept
//! (checked on the server's recorded arrival times), depth and page limits honoured, pairs harvested.

use std::time::Duration;

use wit_contract::Manifest;
use wit_demoweb::{DemoWeb, SiteConfig};
use wit_tests::wit;

fn crawl(web: &DemoWeb, seed: &str, extra: &[&str]) -> (tempfile::TempDir, std::process::Output) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("crawl");
    let seed = format!("{}{seed}", web.base_url());
    let mut args = vec!["harvest", "crawl", "--seeds", &seed, "-o", out.to_str().unwrap(), "--allow-private-networks"];
    args.extend_from_slice(extra);
    let run = wit(&args);
    (dir, run)
}

fn pages(web: &DemoWeb) -> Vec<String> {
    web.requests().paths().into_iter().filter(|p| p != "/robots.txt").collect()
}

#[test]
fn depth_and_robots_limit_what_is_fetched() {
    let web = DemoWeb::start(SiteConfig { pages: 6, ..SiteConfig::default() }, "127.0.0.1:0".parse().unwrap()).unwrap();
    let (dir, run) = crawl(&web, "/page/0.html", &["--max-depth", "1", "--per-host-delay-ms", "0"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let mut fetched = pages(&web);
    fetched.sort();
    // Depth 0: the seed; depth 1: its links, except the robots-disallowed /private/0.html.
    assert_eq!(fetched, ["/", "/page/0.html", "/page/1.html"]);
    let stats: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("crawl/_crawl/crawl.json")).unwrap()).unwrap();
    assert_eq!(stats["failed"]["robots_disallowed"], 1, "{stats}");
    assert!(stats["links_over_limits"].as_u64().unwrap() > 0, "{stats}");
    let manifest = Manifest::load(dir.path().join("crawl")).unwrap();
    assert!(manifest.complete && manifest.total_rows() > 0);
}

#[test]
fn the_page_budget_and_the_per_host_delay_hold() {
    let web = DemoWeb::start(SiteConfig { pages: 6, ..SiteConfig::default() }, "127.0.0.1:0".parse().unwrap()).unwrap();
    let (_dir, run) = crawl(&web, "/", &["--max-pages", "4", "--per-host-delay-ms", "150", "--concurrency", "4"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(pages(&web).len(), 4);
    let times: Vec<_> = web.requests().entries().into_iter().map(|(at, _)| at).collect();
    for pair in times.windows(2) {
        let gap = pair[1].duration_since(pair[0]);
        // The server records arrival; allow a little for the recording itself.
        assert!(gap >= Duration::from_millis(140), "two requests {gap:?} apart");
    }
}

/// The image URLs of a crawl's candidate pairs, one per pair.
fn candidate_urls(out: &std::path::Path) -> Vec<String> {
    let manifest = Manifest::load(out).unwrap();
    let mut urls = Vec::new();
    for path in manifest.shard_paths(out) {
        urls.extend(wit_contract::read_records::<wit_contract::Candidate>(&path).unwrap().into_iter().map(|c| c.url));
    }
    urls
}

#[test]
fn a_blocklist_keeps_its_pages_from_being_requested_and_its_pairs_from_the_harvest() {
    let site = || SiteConfig { pages: 6, ..SiteConfig::default() };
    let args = ["--max-depth", "1", "--per-host-delay-ms", "0"];
    let web = DemoWeb::start(site(), "127.0.0.1:0".parse().unwrap()).unwrap();
    let (first, run) = crawl(&web, "/page/0.html", &args);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let urls = candidate_urls(&first.path().join("crawl"));
    let image = urls.iter().find(|u| u.contains("/img/")).unwrap().clone();
    let pairs_of_image = urls.iter().filter(|u| **u == image).count() as u64;

    // The same site again, with a takedown of page 1 and of one image URL.
    let web = DemoWeb::start(site(), "127.0.0.1:0".parse().unwrap()).unwrap();
    let image = image.replacen(&first_base(&image), &web.base_url(), 1);
    let lists = tempfile::tempdir().unwrap();
    let blocklist = lists.path().join(wit_contract::layout::BLOCKLIST_FILE);
    let page = format!("{}/page/1.html", web.base_url());
    let entries = [
        wit_contract::BlockEntry::new(wit_contract::BlockKind::Url, &page, None),
        wit_contract::BlockEntry::new(wit_contract::BlockKind::Url, &image, None),
    ];
    wit_contract::Blocklist::append(&blocklist, &entries).unwrap();
    let mut with_list = args.to_vec();
    with_list.extend(["--blocklist", blocklist.to_str().unwrap()]);
    let (dir, run) = crawl(&web, "/page/0.html", &with_list);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let mut fetched = pages(&web);
    fetched.sort();
    assert_eq!(fetched, ["/", "/page/0.html"], "page 1 is on the blocklist");
    let stats: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("crawl/_crawl/crawl.json")).unwrap()).unwrap();
    assert_eq!(stats["pages_blocklisted"], 1, "{stats}");
    assert!(String::from_utf8_lossy(&run.stdout).contains("1 pages blocklisted"));
    let out = dir.path().join("crawl");
    assert!(!candidate_urls(&out).contains(&image), "{image} was harvested");
    let manifest = Manifest::load(&out).unwrap();
    assert_eq!(manifest.stats["skipped"]["blocklisted"], pairs_of_image, "{}", manifest.stats);
}

/// `http://127.0.0.1:PORT` of a URL.
fn first_base(url: &str) -> String {
    let rest = url.split_once("://").unwrap().1;
    format!("http://{}", rest.split('/').next().unwrap())
}
