//! robots.txt (RFC 9309): parsing, matching and the per-origin cache.
//!
//! - Groups: one or more `User-agent` lines followed by `Allow`/`Disallow` rules; every group
//!   naming our product token (case-insensitive) applies, merged; otherwise the `*` groups; with
//!   neither, everything is allowed.
//! - Matching: the rule whose pattern matches with the most octets wins; `Allow` wins a tie;
//!   `*` matches any run of characters and a final `$` anchors the end. `/robots.txt` is always
//!   allowed.
//! - Only the first [`crate::NetOptions::robots_max_bytes`] bytes are parsed.
//! - Fetch outcomes (decided in [`crate::client`]): 2xx → parsed; 4xx → allow all; 5xx, timeout or
//!   unreachable → disallow all. Cached per origin for at most the TTL.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    allow: bool,
    /// Percent-encoded pattern, possibly with `*` and a final `$`.
    pattern: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct Group {
    /// Lower-case product tokens (`*` included).
    agents: Vec<String>,
    rules: Vec<Rule>,
    crawl_delay: Option<f64>,
}

/// What robots.txt says for one origin.
#[derive(Debug, Clone, PartialEq)]
pub enum RobotsRules {
    /// No robots.txt (4xx) or one without groups: everything allowed.
    AllowAll,
    /// robots.txt unreachable or answering 5xx: nothing allowed (RFC 9309 §2.3.1.4).
    DisallowAll,
    /// A parsed file.
    Parsed(ParsedRobots),
}

/// What robots.txt said about one URL: allowed or not, and the rule that decided (`Allow: /a`,
/// `Disallow: /b`, as parsed; [`UNAVAILABLE_RULE`] when robots.txt could not be read; None when no
/// rule matched).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RobotsDecision {
    pub allowed: bool,
    pub rule: Option<String>,
}

/// The rule recorded when robots.txt answered 5xx or could not be reached (RFC 9309: disallow all).
pub const UNAVAILABLE_RULE: &str = "robots.txt unavailable (5xx or unreachable): disallow all";

/// One origin's robots.txt as fetched: its rules, when, and the xxh3 of its body (None when there
/// was no body to parse: 4xx, 5xx, unreachable).
#[derive(Debug, Clone, PartialEq)]
pub struct RobotsFile {
    pub rules: RobotsRules,
    /// Microseconds since the Unix epoch, UTC.
    pub fetched_at_us: i64,
    pub body_xxh3: Option<u64>,
}

impl RobotsFile {
    /// `rules` fetched now (tests and callers without a body).
    pub fn now(rules: RobotsRules, body_xxh3: Option<u64>) -> Self {
        let fetched_at_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0);
        RobotsFile { rules, fetched_at_us, body_xxh3 }
    }
}

/// The groups of a parsed robots.txt.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParsedRobots {
    groups: Vec<Group>,
}

impl RobotsRules {
    /// Parses the first `max_bytes` of a robots.txt body (lossy UTF-8; a partial last line is dropped).
    pub fn parse(body: &[u8], max_bytes: usize) -> RobotsRules {
        let body = if body.len() > max_bytes {
            let cut = &body[..max_bytes];
            match cut.iter().rposition(|&b| b == b'\n') {
                Some(end) => &cut[..end],
                None => &cut[..0],
            }
        } else {
            body
        };
        let text = String::from_utf8_lossy(body);
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let mut groups: Vec<Group> = Vec::new();
        let mut in_agent_lines = false;
        for line in text.split(['\n', '\r']) {
            let line = line.split('#').next().unwrap_or("").trim();
            let Some((key, value)) = line.split_once(':') else { continue };
            let key = key.trim().to_ascii_lowercase();
            let value = value.trim();
            match key.as_str() {
                "user-agent" | "useragent" | "user agent" => {
                    if !in_agent_lines {
                        groups.push(Group::default());
                        in_agent_lines = true;
                    }
                    let token: String = value
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_' || *c == '*')
                        .collect();
                    if let Some(group) = groups.last_mut() {
                        group.agents.push(token.to_ascii_lowercase());
                    }
                }
                "allow" | "disallow" => {
                    in_agent_lines = false;
                    let Some(group) = groups.last_mut() else { continue };
                    if value.is_empty() {
                        continue; // `Disallow:` with no path allows everything: no rule.
                    }
                    group.rules.push(Rule { allow: key == "allow", pattern: encode_pattern(value) });
                }
                "crawl-delay" => {
                    in_agent_lines = false;
                    if let (Some(group), Ok(delay)) = (groups.last_mut(), value.parse::<f64>()) {
                        if delay.is_finite() && delay >= 0.0 {
                            group.crawl_delay = Some(delay);
                        }
                    }
                }
                _ => {
                    // Sitemap and unknown keys neither end nor start a group's agent list.
                }
            }
        }
        if groups.is_empty() {
            RobotsRules::AllowAll
        } else {
            RobotsRules::Parsed(ParsedRobots { groups })
        }
    }

    /// May `token` fetch `path_and_query` (the URL's path plus `?query`, as sent on the wire)?
    pub fn is_allowed(&self, token: &str, path_and_query: &str) -> bool {
        self.decide(token, path_and_query).allowed
    }

    /// [`RobotsRules::is_allowed`] with the rule that decided, for the audit trail.
    pub fn decide(&self, token: &str, path_and_query: &str) -> RobotsDecision {
        let robots = match self {
            RobotsRules::AllowAll => return RobotsDecision { allowed: true, rule: None },
            RobotsRules::DisallowAll => {
                let allowed = path_and_query == "/robots.txt";
                let rule = (!allowed).then(|| UNAVAILABLE_RULE.to_string());
                return RobotsDecision { allowed, rule };
            }
            RobotsRules::Parsed(robots) => robots,
        };
        if path_and_query == "/robots.txt" {
            return RobotsDecision { allowed: true, rule: None };
        }
        let rules = robots.rules_for(token);
        let mut best: Option<&Rule> = None;
        for rule in rules {
            if pattern_matches(rule.pattern.as_bytes(), path_and_query.as_bytes()) {
                let length = rule.pattern.len();
                best = match best {
                    Some(kept) if kept.pattern.len() > length || (kept.pattern.len() == length && kept.allow) => {
                        Some(kept)
                    }
                    _ => Some(rule),
                };
            }
        }
        RobotsDecision {
            allowed: best.is_none_or(|rule| rule.allow),
            rule: best.map(|rule| format!("{}: {}", if rule.allow { "Allow" } else { "Disallow" }, rule.pattern)),
        }
    }

    /// The `Crawl-delay` of the group that applies to `token`, if it has one (seconds).
    pub fn crawl_delay(&self, token: &str) -> Option<f64> {
        match self {
            RobotsRules::Parsed(robots) => {
                robots.matching_groups(token).iter().filter_map(|g| g.crawl_delay).reduce(f64::max)
            }
            _ => None,
        }
    }
}

impl ParsedRobots {
    fn matching_groups(&self, token: &str) -> Vec<&Group> {
        let token = token.to_ascii_lowercase();
        let named: Vec<&Group> = self.groups.iter().filter(|g| g.agents.contains(&token)).collect();
        if !named.is_empty() {
            return named;
        }
        self.groups.iter().filter(|g| g.agents.iter().any(|a| a == "*")).collect()
    }

    fn rules_for(&self, token: &str) -> Vec<&Rule> {
        self.matching_groups(token).into_iter().flat_map(|g| g.rules.iter()).collect()
    }
}

/// Percent-encodes what a URL would (non-ASCII, space, control bytes) so patterns compare with
/// wire paths.
fn encode_pattern(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    for byte in pattern.bytes() {
        if byte.is_ascii_graphic() {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Does `pattern` (with `*` wildcards and an optional final `$`) match a prefix of `path`
/// (the whole of it when anchored)?
fn pattern_matches(pattern: &[u8], path: &[u8]) -> bool {
    let (pattern, anchored) = match pattern.strip_suffix(b"$") {
        Some(stripped) => (stripped, true),
        None => (pattern, false),
    };
    let parts: Vec<&[u8]> = pattern.split(|&b| b == b'*').collect();
    let first = parts[0];
    if !path.starts_with(first) {
        return false;
    }
    let mut position = first.len();
    if parts.len() == 1 {
        return !anchored || position == path.len();
    }
    let last_index = parts.len() - 1;
    for (index, part) in parts.iter().enumerate().skip(1) {
        if index == last_index && anchored {
            return path.len() >= position + part.len() && path.ends_with(part);
        }
        if part.is_empty() {
            continue;
        }
        match find(&path[position..], part) {
            Some(at) => position += at + part.len(),
            None => return false,
        }
    }
    true
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

struct Entry {
    file: Arc<RobotsFile>,
    fetched: Instant,
}

/// robots.txt rules per origin (`scheme://host:port`), fetched once (concurrent callers wait for
/// the same fetch) and trusted for the TTL.
pub struct RobotsCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, Arc<OnceCell<Entry>>>>,
}

impl RobotsCache {
    pub fn new(ttl: Duration) -> Self {
        RobotsCache { ttl, entries: Mutex::new(HashMap::new()) }
    }

    /// The rules of `origin`, calling `fetch` when they are missing or older than the TTL.
    pub async fn get_or_fetch<F, Fut>(&self, origin: &str, fetch: F) -> Arc<RobotsFile>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = RobotsFile>,
    {
        let cell = {
            let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let expired =
                entries.get(origin).and_then(|cell| cell.get()).is_some_and(|entry| entry.fetched.elapsed() > self.ttl);
            if expired {
                entries.remove(origin);
            }
            entries.entry(origin.to_string()).or_default().clone()
        };
        let entry =
            cell.get_or_init(|| async { Entry { file: Arc::new(fetch().await), fetched: Instant::now() } }).await;
        entry.file.clone()
    }

    /// Origins cached.
    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> RobotsRules {
        RobotsRules::parse(text.as_bytes(), 500 << 10)
    }

    #[test]
    fn groups_and_agents() {
        let r = rules("User-agent: *\nDisallow: /private\n\nUser-agent: WIT\nUser-agent: other\nDisallow: /wit-only\n");
        assert!(r.is_allowed("wit", "/private/a.jpg"), "a named group replaces *");
        assert!(!r.is_allowed("wit", "/wit-only/x"));
        assert!(!r.is_allowed("other", "/wit-only/x"));
        assert!(!r.is_allowed("somebot", "/private/a.jpg"));
        assert!(r.is_allowed("somebot", "/wit-only/x"));
        // Two groups naming the same agent merge.
        let r = rules("user-agent: wit\ndisallow: /a\nuser-agent: x\ndisallow: /c\nuser-agent: wit\ndisallow: /b\n");
        assert!(!r.is_allowed("wit", "/a") && !r.is_allowed("wit", "/b") && r.is_allowed("wit", "/c"));
    }

    #[test]
    fn longest_match_and_ties() {
        let r = rules("User-agent: *\nDisallow: /img\nAllow: /img/public\n");
        assert!(!r.is_allowed("wit", "/img/secret.jpg"));
        assert!(r.is_allowed("wit", "/img/public/a.jpg"));
        let r = rules("User-agent: *\nDisallow: /page\nAllow: /page\n");
        assert!(r.is_allowed("wit", "/page"), "allow wins a tie");
        let r = rules("User-agent: *\nAllow: /a\nDisallow: /a/b\n");
        assert!(!r.is_allowed("wit", "/a/b/c"));
        assert!(r.is_allowed("wit", "/robots.txt"));
    }

    #[test]
    fn decisions_name_their_rule() {
        let r = rules("User-agent: *\nDisallow: /img\nAllow: /img/public\n");
        let decision = r.decide("wit", "/img/secret.jpg");
        assert_eq!((decision.allowed, decision.rule.as_deref()), (false, Some("Disallow: /img")));
        let decision = r.decide("wit", "/img/public/a.jpg");
        assert_eq!((decision.allowed, decision.rule.as_deref()), (true, Some("Allow: /img/public")));
        assert_eq!(r.decide("wit", "/other"), RobotsDecision { allowed: true, rule: None });
        let unavailable = RobotsRules::DisallowAll.decide("wit", "/a");
        assert_eq!((unavailable.allowed, unavailable.rule.as_deref()), (false, Some(UNAVAILABLE_RULE)));
        assert_eq!(RobotsRules::AllowAll.decide("wit", "/a"), RobotsDecision { allowed: true, rule: None });
    }

    #[test]
    fn wildcards() {
        let r = rules("User-agent: *\nDisallow: /*.gif$\nDisallow: /private*/x\nAllow: /$\nDisallow: /\n");
        assert!(r.is_allowed("wit", "/"));
        assert!(!r.is_allowed("wit", "/a.gif"));
        assert!(!r.is_allowed("wit", "/index.html"), "Disallow: / covers the rest");
        let r = rules("User-agent: *\nDisallow: /*.gif$\nDisallow: /private*/x\n");
        assert!(!r.is_allowed("wit", "/dir/a.gif"));
        assert!(r.is_allowed("wit", "/dir/a.gif?size=2"), "$ anchors the end");
        assert!(!r.is_allowed("wit", "/private-2024/x/y"));
        assert!(r.is_allowed("wit", "/private-2024/y"));
        assert!(pattern_matches(b"/a*b*c$", b"/a-b-c"));
        assert!(!pattern_matches(b"/a*b*c$", b"/a-b-c-d"));
        assert!(pattern_matches(b"*", b"/anything"));
    }

    #[test]
    fn edge_cases() {
        assert_eq!(rules(""), RobotsRules::AllowAll);
        assert!(rules("Disallow: /\n").is_allowed("wit", "/x"), "rules before any user-agent are ignored");
        assert!(rules("User-agent: *\nDisallow:\n").is_allowed("wit", "/x"));
        assert!(!RobotsRules::DisallowAll.is_allowed("wit", "/x"));
        let r = rules("\u{feff}User-agent: *  # comment\r\nDisallow: /x # why\r\nCrawl-delay: 2\r\n");
        assert!(!r.is_allowed("wit", "/x/1"));
        assert_eq!(r.crawl_delay("wit"), Some(2.0));
        // Only the first max_bytes count.
        let mut big = String::from("User-agent: *\nDisallow: /early\n");
        while big.len() < 600 << 10 {
            big.push_str("# padding padding padding padding padding\n");
        }
        big.push_str("Disallow: /late\n");
        let r = RobotsRules::parse(big.as_bytes(), 500 << 10);
        assert!(!r.is_allowed("wit", "/early") && r.is_allowed("wit", "/late"));
        let r = rules("User-agent: *\nDisallow: /caf\u{e9}\n");
        assert!(!r.is_allowed("wit", "/caf%C3%A9/menu"));
    }

    #[tokio::test]
    async fn cache_fetches_once_within_ttl() {
        let cache = RobotsCache::new(Duration::from_secs(60));
        let calls = std::sync::atomic::AtomicU32::new(0);
        for _ in 0..3 {
            let r = cache
                .get_or_fetch("http://a.test:80", || async {
                    calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    RobotsFile::now(RobotsRules::DisallowAll, None)
                })
                .await;
            assert_eq!(r.rules, RobotsRules::DisallowAll);
        }
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
        let expired = RobotsCache::new(Duration::ZERO);
        for _ in 0..2 {
            expired
                .get_or_fetch("http://a.test:80", || async {
                    calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    RobotsFile::now(RobotsRules::AllowAll, None)
                })
                .await;
            std::thread::sleep(Duration::from_millis(2));
        }
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 3);
    }
}
