//! wit-net against a real loopback server: each safety, politeness and robots rule, and the
//! misbehaving-server cases (drip, stall, reset, lying lengths, redirects, 429, 5xx).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use wit_net::{ErrorKind, FetchError, Fetcher, NetOptions};
use wit_tests::loopback::{jpeg, LoopbackServer, Reply};

const LOCALHOST: &str = "127.0.0.1";

fn options() -> NetOptions {
    NetOptions {
        allowed_addresses: vec![LOCALHOST.parse().unwrap()],
        per_host_concurrency: 8,
        per_host_min_delay: Duration::ZERO,
        request_timeout: Duration::from_secs(5),
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(50),
        retries: 0,
        ..NetOptions::default()
    }
}

fn server(routes: Vec<(&str, Reply)>) -> LoopbackServer {
    LoopbackServer::start(routes.into_iter().map(|(p, r)| (p.to_string(), r)))
}

async fn get(fetcher: &Fetcher, url: &str) -> Result<wit_net::Response, FetchError> {
    fetcher.get(url).await
}

fn kind<T: std::fmt::Debug>(result: &Result<T, FetchError>) -> ErrorKind {
    result.as_ref().expect_err("the fetch should fail").kind()
}

#[tokio::test(flavor = "multi_thread")]
async fn private_targets_are_refused_without_the_flag() {
    let s = server(vec![("/a.jpg", Reply::ok("image/jpeg", jpeg(8, 8, 1)))]);
    let strict = Fetcher::new(NetOptions { retries: 0, ..NetOptions::default() }).unwrap();
    assert_eq!(kind(&get(&strict, &s.url("/a.jpg")).await), ErrorKind::RefusedPrivate);
    // A host name resolving to 127.0.0.1, through the system resolver and through an override.
    assert_eq!(kind(&get(&strict, &s.url_with_host("localhost", "/a.jpg")).await), ErrorKind::RefusedPrivate);
    let overrides = HashMap::from([("images.test".to_string(), vec![LOCALHOST.parse::<IpAddr>().unwrap()])]);
    let rebinding = Fetcher::new(NetOptions { dns_overrides: overrides.clone(), retries: 0, ..NetOptions::default() });
    let refused = get(&rebinding.unwrap(), &s.url_with_host("images.test", "/a.jpg")).await;
    assert_eq!(kind(&refused), ErrorKind::RefusedPrivate, "{refused:?}");
    assert_eq!(s.hits("/a.jpg"), 0, "nothing reached the server");

    let allowed = NetOptions { allow_private_networks: true, dns_overrides: overrides, ..options() };
    let open = Fetcher::new(allowed).unwrap();
    let response = get(&open, &s.url_with_host("images.test", "/a.jpg")).await.unwrap();
    assert_eq!(response.body.len(), jpeg(8, 8, 1).len());
    assert_eq!(s.log()[0].user_agent.as_deref(), Some(wit_net::options::DEFAULT_USER_AGENT));
}

#[tokio::test(flavor = "multi_thread")]
async fn redirects_are_rechecked_at_every_hop() {
    let s = server(vec![]);
    let port = s.addr.port();
    s.route("/to-private", Reply::redirect(&format!("http://127.0.0.2:{port}/a.jpg")));
    s.route("/to-ten", Reply::redirect("http://10.1.2.3/a.jpg"));
    s.route("/to-file", Reply::redirect("file:///etc/passwd"));
    s.route("/to-good", Reply::redirect("/a.jpg"));
    s.route("/loop", Reply::redirect("/loop"));
    for i in 0..8 {
        s.route(&format!("/chain{i}"), Reply::redirect(&format!("/chain{}", i + 1)));
    }
    s.route("/chain8", Reply::ok("image/jpeg", jpeg(8, 8, 2)));
    s.route("/to-disallowed", Reply::redirect("/private/a.jpg"));
    s.route("/robots.txt", Reply::ok("text/plain", b"User-agent: *\nDisallow: /private\n".to_vec()));
    s.route("/a.jpg", Reply::ok("image/jpeg", jpeg(8, 8, 3)));
    let fetcher = Fetcher::new(options()).unwrap();
    assert_eq!(kind(&get(&fetcher, &s.url("/to-private")).await), ErrorKind::RefusedPrivate);
    assert_eq!(kind(&get(&fetcher, &s.url("/to-ten")).await), ErrorKind::RefusedPrivate);
    assert_eq!(kind(&get(&fetcher, &s.url("/to-file")).await), ErrorKind::UnsupportedScheme);
    assert_eq!(kind(&get(&fetcher, &s.url("/loop")).await), ErrorKind::TooManyRedirects);
    assert_eq!(kind(&get(&fetcher, &s.url("/chain0")).await), ErrorKind::TooManyRedirects);
    assert_eq!(kind(&get(&fetcher, &s.url("/chain2")).await).as_str(), "too_many_redirects");
    assert_eq!(get(&fetcher, &s.url("/chain3")).await.unwrap().redirects, 5, "five hops are within the limit");
    assert_eq!(kind(&get(&fetcher, &s.url("/to-disallowed")).await), ErrorKind::RobotsDisallowed);
    let ok = get(&fetcher, &s.url("/to-good")).await.unwrap();
    assert_eq!((ok.redirects, ok.url.path()), (1, "/a.jpg"));
    assert_eq!(s.hits("/private/a.jpg"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn total_deadline_body_cap_and_broken_bodies() {
    let body = jpeg(16, 16, 4);
    let s = server(vec![
        ("/drip", Reply::Drip { body: body.clone(), interval: Duration::from_millis(100) }),
        ("/stall", Reply::Stall { length: 1000 }),
        ("/big", Reply::ok("image/jpeg", vec![0xff; 50_000])),
        ("/big-no-length", Reply::Http10 { body: vec![0xff; 50_000] }),
        ("/small-no-length", Reply::Http10 { body: body.clone() }),
        ("/short", Reply::LyingLength { claimed: 5000, body: body[..100].to_vec() }),
        ("/reset", Reply::Reset { body: body.clone(), sent: 50 }),
    ]);
    let fetcher =
        Fetcher::new(NetOptions { request_timeout: Duration::from_millis(1500), max_body_bytes: 10_000, ..options() })
            .unwrap();
    // A byte every 100 ms would take minutes: the total deadline ends it, though bytes keep coming.
    assert_eq!(kind(&get(&fetcher, &s.url("/drip")).await), ErrorKind::Timeout);
    assert_eq!(kind(&get(&fetcher, &s.url("/stall")).await), ErrorKind::Timeout);
    assert_eq!(kind(&get(&fetcher, &s.url("/big")).await), ErrorKind::TooLarge);
    assert_eq!(kind(&get(&fetcher, &s.url("/big-no-length")).await), ErrorKind::TooLarge);
    assert_eq!(get(&fetcher, &s.url("/small-no-length")).await.unwrap().body.len(), body.len());
    assert_eq!(kind(&get(&fetcher, &s.url("/short")).await), ErrorKind::Connection);
    assert_eq!(kind(&get(&fetcher, &s.url("/reset")).await), ErrorKind::Connection);
}

#[tokio::test(flavor = "multi_thread")]
async fn retries_honour_retry_after_and_skip_4xx() {
    let image = jpeg(8, 8, 5);
    let s = server(vec![
        (
            "/busy",
            Reply::Sequence(vec![Reply::status(429, &[("Retry-After", "1")]), Reply::ok("image/jpeg", image.clone())]),
        ),
        (
            "/flaky",
            Reply::Sequence(vec![Reply::status(503, &[]), Reply::status(500, &[]), Reply::ok("image/jpeg", image)]),
        ),
        ("/gone", Reply::status(404, &[])),
        ("/forbidden", Reply::status(403, &[])),
        ("/patient", Reply::status(429, &[("Retry-After", "3600")])),
    ]);
    let fetcher = Fetcher::new(NetOptions { retries: 2, ..options() }).unwrap();
    let busy = get(&fetcher, &s.url("/busy")).await.unwrap();
    assert_eq!(busy.attempts, 2);
    let times: Vec<_> = s.log().into_iter().filter(|l| l.path == "/busy").map(|l| l.at).collect();
    assert!(times[1] - times[0] >= Duration::from_secs(1), "Retry-After: 1 was not honoured");
    assert_eq!(get(&fetcher, &s.url("/flaky")).await.unwrap().attempts, 3);
    let gone = get(&fetcher, &s.url("/gone")).await;
    assert_eq!((kind(&gone), gone.unwrap_err().http_status()), (ErrorKind::HttpStatus, Some(404)));
    assert_eq!(kind(&get(&fetcher, &s.url("/forbidden")).await), ErrorKind::HttpStatus);
    assert_eq!((s.hits("/gone"), s.hits("/forbidden")), (1, 1), "no retry for 4xx");
    let patient = get(&fetcher, &s.url("/patient")).await;
    assert_eq!(patient.unwrap_err().http_status(), Some(429));
    assert_eq!(s.hits("/patient"), 1, "a Retry-After beyond the maximum is not waited for");
}

#[tokio::test(flavor = "multi_thread")]
async fn opt_out_headers_are_honoured() {
    let image = jpeg(8, 8, 6);
    let s = server(vec![
        ("/noai", Reply::with_headers("image/jpeg", image.clone(), &[("X-Robots-Tag", "noai")])),
        ("/none", Reply::with_headers("image/jpeg", image.clone(), &[("X-Robots-Tag", "none")])),
        ("/scoped-us", Reply::with_headers("image/jpeg", image.clone(), &[("X-Robots-Tag", "wit: noimageai")])),
        ("/scoped-other", Reply::with_headers("image/jpeg", image.clone(), &[("X-Robots-Tag", "otherbot: noai")])),
        ("/nofollow", Reply::with_headers("image/jpeg", image, &[("X-Robots-Tag", "nofollow")])),
    ]);
    let fetcher = Fetcher::new(options()).unwrap();
    for path in ["/noai", "/none", "/scoped-us"] {
        let result = get(&fetcher, &s.url(path)).await;
        assert_eq!(kind(&result), ErrorKind::OptedOut, "{path}");
        assert_eq!(result.unwrap_err().http_status(), Some(200));
    }
    assert!(get(&fetcher, &s.url("/scoped-other")).await.is_ok());
    assert!(get(&fetcher, &s.url("/nofollow")).await.is_ok());
    let ignoring = Fetcher::new(NetOptions { opt_out_directives: Vec::new(), ..options() }).unwrap();
    assert!(get(&ignoring, &s.url("/noai")).await.is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn robots_txt_rules_and_outcomes() {
    let image = jpeg(8, 8, 7);
    let robots = "User-agent: *\nDisallow: /\n\nUser-agent: wit\nAllow: /img/\nDisallow: /img/private\n";
    let s = server(vec![
        ("/robots.txt", Reply::ok("text/plain", robots.as_bytes().to_vec())),
        ("/img/a.jpg", Reply::ok("image/jpeg", image.clone())),
        ("/img/private/a.jpg", Reply::ok("image/jpeg", image.clone())),
        ("/other/a.jpg", Reply::ok("image/jpeg", image.clone())),
    ]);
    let fetcher = Fetcher::new(options()).unwrap();
    assert!(get(&fetcher, &s.url("/img/a.jpg")).await.is_ok());
    assert_eq!(kind(&get(&fetcher, &s.url("/img/private/a.jpg")).await), ErrorKind::RobotsDisallowed);
    assert!(get(&fetcher, &s.url("/other/a.jpg")).await.is_ok(), "the wit group replaces the * group");
    assert_eq!(s.hits("/img/private/a.jpg"), 0, "disallowed paths are never fetched");
    assert_eq!(s.hits("/robots.txt"), 1, "robots.txt is cached per origin");
    let other_agent = Fetcher::new(NetOptions { robots_token: "otherbot".into(), ..options() }).unwrap();
    assert_eq!(kind(&get(&other_agent, &s.url("/img/a.jpg")).await), ErrorKind::RobotsDisallowed);
    assert_eq!(s.hits("/img/a.jpg"), 1);

    // 5xx: disallow all; 4xx: allow all; a huge file: only the first 500 KiB count.
    let failing =
        server(vec![("/robots.txt", Reply::status(500, &[])), ("/a.jpg", Reply::ok("image/jpeg", image.clone()))]);
    assert_eq!(kind(&get(&fetcher, &failing.url("/a.jpg")).await), ErrorKind::RobotsDisallowed);
    assert_eq!(failing.hits("/a.jpg"), 0);
    let missing = server(vec![("/a.jpg", Reply::ok("image/jpeg", image.clone()))]);
    assert!(get(&fetcher, &missing.url("/a.jpg")).await.is_ok());
    let mut huge = String::from("User-agent: *\nDisallow: /early\n");
    while huge.len() < 700 << 10 {
        huge.push_str("# filler filler filler filler filler filler filler filler\n");
    }
    huge.push_str("Disallow: /late\n");
    let big = server(vec![
        ("/robots.txt", Reply::ok("text/plain", huge.into_bytes())),
        ("/early/a.jpg", Reply::ok("image/jpeg", image.clone())),
        ("/late/a.jpg", Reply::ok("image/jpeg", image.clone())),
    ]);
    assert_eq!(kind(&get(&fetcher, &big.url("/early/a.jpg")).await), ErrorKind::RobotsDisallowed);
    assert!(get(&fetcher, &big.url("/late/a.jpg")).await.is_ok());
    let ignoring = Fetcher::new(NetOptions { respect_robots: false, ..options() }).unwrap();
    assert!(get(&ignoring, &failing.url("/a.jpg")).await.is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn per_host_delay_and_circuit_breaker() {
    let image = jpeg(8, 8, 8);
    let s = server(vec![("/a.jpg", Reply::ok("image/jpeg", image)), ("/down", Reply::status(500, &[]))]);
    let delay = Duration::from_millis(150);
    let polite = Fetcher::new(NetOptions { per_host_min_delay: delay, per_host_concurrency: 1, ..options() }).unwrap();
    let polite = std::sync::Arc::new(polite);
    let url = s.url("/a.jpg");
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let (polite, url) = (polite.clone(), url.clone());
            tokio::spawn(async move { polite.get(&url).await.is_ok() })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap());
    }
    let times: Vec<_> = s.log().into_iter().filter(|l| l.path == "/a.jpg").map(|l| l.at).collect();
    assert_eq!(times.len(), 4);
    let mut sorted = times.clone();
    sorted.sort();
    // Arrival times at the server: allow for the first request's connection set-up (without the delay
    // the four requests arrive within a few milliseconds).
    let gaps: Vec<Duration> = sorted.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.iter().all(|gap| *gap >= delay * 2 / 3), "requests to one host closer than the delay: {gaps:?}");

    let breaking = Fetcher::new(NetOptions { breaker_threshold: 2, ..options() }).unwrap();
    for _ in 0..2 {
        assert_eq!(kind(&get(&breaking, &s.url("/down")).await), ErrorKind::HttpStatus);
    }
    assert_eq!(kind(&get(&breaking, &s.url("/a.jpg")).await), ErrorKind::CircuitOpen);
    assert_eq!(s.hits("/down"), 2);
}
