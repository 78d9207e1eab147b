//! [`Fetcher`]: one polite, safe GET with retries; see the crate docs for the order of checks.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::header::{HeaderMap, LOCATION, RETRY_AFTER};
use tokio::time::Instant;
use url::Url;

use crate::dns::CachingDns;
use crate::error::{FetchError, PrivateAddressError};
use crate::hosts::Hosts;
use crate::opt_out::opt_out_directive;
use crate::options::NetOptions;
use crate::robots::{RobotsCache, RobotsFile, RobotsRules};
use crate::safety::{check_parsed, check_url, AddressPolicy, SafeResolver};

/// Per-request choices on top of the [`NetOptions`].
#[derive(Debug, Clone)]
pub struct RequestOptions {
    /// Ask robots.txt first (when [`NetOptions::respect_robots`] is on).
    pub check_robots: bool,
    /// Refuse responses whose `X-Robots-Tag` opts out.
    pub check_opt_out: bool,
    /// Overrides [`NetOptions::max_body_bytes`].
    pub max_body_bytes: Option<u64>,
    /// Keep the first `max_body_bytes` of a longer body instead of failing with `too_large`.
    pub truncate_body: bool,
}

impl Default for RequestOptions {
    fn default() -> Self {
        RequestOptions { check_robots: true, check_opt_out: true, max_body_bytes: None, truncate_body: false }
    }
}

/// A successful (2xx) response with its whole body.
#[derive(Debug, Clone)]
pub struct Response {
    /// The URL finally answered (after redirects).
    pub url: Url,
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Attempts made (1 = no retry).
    pub attempts: u32,
    /// Redirect hops followed by the successful attempt.
    pub redirects: usize,
}

/// What a request checked on the way and what it said, for the audit trail of the rows it becomes:
/// the robots.txt decision for the last URL asked (the one that answered, after redirects) and the
/// `X-Robots-Tag` values of the 2xx response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Audit {
    /// None: robots.txt was not consulted (turned off, or the URL was refused before).
    pub robots: Option<RobotsCheck>,
    /// The response's `X-Robots-Tag` values joined by `, ` (as HTTP combines repeated fields).
    pub x_robots_tag: Option<String>,
}

/// One robots.txt decision with the file it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RobotsCheck {
    pub allowed: bool,
    /// The rule that decided (see [`crate::robots::RobotsDecision`]).
    pub rule: Option<String>,
    /// When that robots.txt was fetched (microseconds since the Unix epoch, UTC).
    pub fetched_at_us: i64,
    /// xxh3-64 of its body, when it had one.
    pub body_xxh3: Option<u64>,
}

/// The client error the builder reports (TLS setup and the like).
#[derive(Debug, thiserror::Error)]
#[error("building the HTTP client: {0}")]
pub struct ClientBuildError(String);

/// The shared web client: safe resolver, robots cache, per-host politeness, retries.
pub struct Fetcher {
    client: reqwest::Client,
    policy: AddressPolicy,
    options: NetOptions,
    robots: RobotsCache,
    hosts: Hosts,
    jitter_counter: AtomicU64,
    jitter_state: std::collections::hash_map::RandomState,
}

enum Hop {
    Final(Response),
    Redirect(Url),
}

impl Fetcher {
    pub fn new(options: NetOptions) -> Result<Self, ClientBuildError> {
        let dns = CachingDns::new(&options.dns_servers).map_err(ClientBuildError)?;
        let resolver = SafeResolver::new(options.address_policy(), options.dns_overrides.clone(), dns);
        let client = reqwest::Client::builder()
            .user_agent(options.user_agent.as_str())
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(options.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(options.per_host_concurrency.max(1))
            .dns_resolver(resolver)
            .build()
            .map_err(|e| ClientBuildError(error_chain(&e)))?;
        let hosts = Hosts::new(
            options.per_host_concurrency,
            options.per_host_min_delay,
            options.breaker_threshold,
            options.breaker_cooldown,
        );
        Ok(Fetcher {
            client,
            policy: options.address_policy(),
            robots: RobotsCache::new(options.robots_ttl),
            hosts,
            options,
            jitter_counter: AtomicU64::new(0),
            jitter_state: Default::default(),
        })
    }

    pub fn options(&self) -> &NetOptions {
        &self.options
    }

    pub fn robots(&self) -> &RobotsCache {
        &self.robots
    }

    pub fn hosts(&self) -> &Hosts {
        &self.hosts
    }

    /// GET `url` with the default [`RequestOptions`].
    pub async fn get(&self, url: &str) -> Result<Response, FetchError> {
        self.get_with(url, &RequestOptions::default()).await
    }

    /// GET `url`: every check of the crate docs, retries included.
    pub async fn get_with(&self, url: &str, request: &RequestOptions) -> Result<Response, FetchError> {
        self.get_audited(url, request, &mut Audit::default()).await
    }

    /// [`Fetcher::get_with`], recording in `audit` what was checked and what it said.
    pub async fn get_audited(
        &self,
        url: &str,
        request: &RequestOptions,
        audit: &mut Audit,
    ) -> Result<Response, FetchError> {
        let parsed = check_url(url, &self.policy)?;
        let mut attempt = 0u32;
        loop {
            match self.attempt(&parsed, request, audit).await {
                Ok(mut response) => {
                    response.attempts = attempt + 1;
                    return Ok(response);
                }
                Err(error) if error.is_retryable() && attempt < self.options.retries => {
                    let wait = match &error {
                        FetchError::HttpStatus { retry_after: Some(after), .. } => {
                            if *after > self.options.max_retry_after {
                                return Err(error);
                            }
                            *after
                        }
                        _ => self.backoff(attempt),
                    };
                    if self.hosts.is_open(&host_key(&parsed)) {
                        return Err(error);
                    }
                    tracing::debug!(url, attempt, ?wait, %error, "retrying");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Backoff before retry `attempt` (0-based): base · 2ⁿ capped, then full jitter in its upper half.
    fn backoff(&self, attempt: u32) -> Duration {
        let full = self.options.backoff_base.saturating_mul(1u32 << attempt.min(16)).min(self.options.backoff_max);
        let mut hasher = self.jitter_state.build_hasher();
        hasher.write_u64(self.jitter_counter.fetch_add(1, Ordering::Relaxed));
        let fraction = (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64;
        full.mul_f64(0.5 + 0.5 * fraction)
    }

    /// One attempt: robots, host slot, request, redirects by hand, body; under the total deadline.
    async fn attempt(&self, start: &Url, request: &RequestOptions, audit: &mut Audit) -> Result<Response, FetchError> {
        let mut current = start.clone();
        let mut deadline: Option<Instant> = None;
        for redirects in 0..=self.options.max_redirects {
            if request.check_robots && self.options.respect_robots {
                let file = self.robots_for(&current).await;
                let decision = file.rules.decide(&self.options.robots_token, &path_and_query(&current));
                audit.robots = Some(RobotsCheck {
                    allowed: decision.allowed,
                    rule: decision.rule,
                    fetched_at_us: file.fetched_at_us,
                    body_xxh3: file.body_xxh3,
                });
                if !decision.allowed {
                    return Err(FetchError::RobotsDisallowed { url: current.to_string() });
                }
            }
            let host = host_key(&current);
            if self.hosts.is_open(&host) {
                return Err(FetchError::CircuitOpen { url: current.to_string(), host });
            }
            let _permit = self.hosts.acquire(&host).await;
            let deadline = *deadline.get_or_insert_with(|| Instant::now() + self.options.request_timeout);
            let hop =
                tokio::time::timeout_at(deadline, self.hop(&current, request, audit)).await.unwrap_or_else(|_| {
                    Err(FetchError::Timeout { url: current.to_string(), after: self.options.request_timeout })
                });
            if let Err(FetchError::HttpStatus { retry_after: Some(after), .. }) = &hop {
                self.hosts.delay(&host, Instant::now() + (*after).min(self.options.max_retry_after));
            }
            self.hosts.record(&host, hop.as_ref().err().is_some_and(FetchError::is_host_failure));
            match hop? {
                Hop::Final(mut response) => {
                    response.redirects = redirects;
                    return Ok(response);
                }
                Hop::Redirect(next) => {
                    check_parsed(&next, &self.policy)?;
                    current = next;
                }
            }
        }
        Err(FetchError::TooManyRedirects { url: start.to_string(), limit: self.options.max_redirects })
    }

    /// One request/response on one URL (no redirect following).
    async fn hop(&self, url: &Url, request: &RequestOptions, audit: &mut Audit) -> Result<Hop, FetchError> {
        let mut response = self.client.get(url.clone()).send().await.map_err(|e| map_reqwest(url, &e))?;
        let status = response.status().as_u16();
        if matches!(status, 301 | 302 | 303 | 307 | 308) {
            let location = response.headers().get(LOCATION).and_then(|v| v.to_str().ok());
            return match location.map(|l| url.join(l)) {
                Some(Ok(next)) => Ok(Hop::Redirect(next)),
                Some(Err(e)) => Err(FetchError::InvalidUrl {
                    url: url.to_string(),
                    reason: format!("redirect to an invalid Location: {e}"),
                }),
                None => Err(FetchError::HttpStatus { url: url.to_string(), status, retry_after: None }),
            };
        }
        if !(200..300).contains(&status) {
            let retry_after =
                response.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
            return Err(FetchError::HttpStatus { url: url.to_string(), status, retry_after });
        }
        let tags: Vec<&str> =
            response.headers().get_all("x-robots-tag").iter().filter_map(|v| v.to_str().ok()).collect();
        audit.x_robots_tag = (!tags.is_empty()).then(|| tags.join(", "));
        if request.check_opt_out {
            if let Some(directive) =
                opt_out_directive(response.headers(), &self.options.robots_token, &self.options.opt_out_directives)
            {
                return Err(FetchError::OptedOut { url: url.to_string(), directive, status });
            }
        }
        let limit = request.max_body_bytes.unwrap_or(self.options.max_body_bytes);
        if !request.truncate_body && response.content_length().is_some_and(|length| length > limit) {
            return Err(FetchError::TooLarge { url: url.to_string(), limit });
        }
        let mut body = BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| map_reqwest(url, &e))? {
            if body.len() as u64 + chunk.len() as u64 > limit {
                if request.truncate_body {
                    body.extend_from_slice(&chunk[..(limit as usize).saturating_sub(body.len())]);
                    break;
                }
                return Err(FetchError::TooLarge { url: url.to_string(), limit });
            }
            body.extend_from_slice(&chunk);
        }
        let headers = std::mem::take(response.headers_mut());
        Ok(Hop::Final(Response { url: url.clone(), status, headers, body: body.freeze(), attempts: 1, redirects: 0 }))
    }

    /// The robots.txt rules of `url`'s origin, fetched through this client when not cached.
    pub async fn robots_for(&self, url: &Url) -> std::sync::Arc<RobotsFile> {
        let origin = url.origin().ascii_serialization();
        self.robots
            .get_or_fetch(&origin, || async {
                let robots_url = format!("{origin}/robots.txt");
                let request = RequestOptions {
                    check_robots: false,
                    check_opt_out: false,
                    max_body_bytes: Some(self.options.robots_max_bytes as u64),
                    truncate_body: true,
                };
                // Boxed: robots fetching goes through get_with, which calls robots_for.
                let fetched = Box::pin(self.get_with(&robots_url, &request)).await;
                let rules = robots_rules_for(&fetched, self.options.robots_max_bytes);
                tracing::debug!(origin, outcome = ?fetched.as_ref().map(|r| r.status).map_err(|e| e.kind()), "robots.txt");
                let body_xxh3 = fetched.as_ref().ok().map(|response| xxhash_rust::xxh3::xxh3_64(&response.body));
                RobotsFile::now(rules, body_xxh3)
            })
            .await
    }
}

/// RFC 9309 §2.3.1: what a robots.txt fetch outcome means.
fn robots_rules_for(fetched: &Result<Response, FetchError>, max_bytes: usize) -> RobotsRules {
    match fetched {
        Ok(response) => RobotsRules::parse(&response.body, max_bytes),
        Err(FetchError::HttpStatus { status, .. }) if (400..500).contains(status) && *status != 429 => {
            RobotsRules::AllowAll
        }
        Err(FetchError::TooManyRedirects { .. }) => RobotsRules::AllowAll,
        // The origin itself is refused: the request that follows fails with the same refusal, which
        // is the outcome to report (not "disallowed by robots.txt").
        Err(
            FetchError::RefusedPrivate { .. } | FetchError::UnsupportedScheme { .. } | FetchError::InvalidUrl { .. },
        ) => RobotsRules::AllowAll,
        Err(_) => RobotsRules::DisallowAll,
    }
}

/// `host:port`, the key of per-host politeness.
pub fn host_key(url: &Url) -> String {
    format!("{}:{}", url.host_str().unwrap_or(""), url.port_or_known_default().unwrap_or(0))
}

fn path_and_query(url: &Url) -> String {
    match url.query() {
        Some(query) => format!("{}?{}", url.path(), query),
        None => url.path().to_string(),
    }
}

/// `Retry-After`: delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(std::time::SystemTime::now()).unwrap_or(Duration::ZERO))
}

fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let text = inner.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = inner.source();
    }
    message
}

fn map_reqwest(url: &Url, error: &reqwest::Error) -> FetchError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(inner) = source {
        if let Some(private) = inner.downcast_ref::<PrivateAddressError>() {
            return FetchError::RefusedPrivate {
                url: url.to_string(),
                target: format!("{} ({:?})", private.name, private.addresses),
            };
        }
        source = inner.source();
    }
    if error.is_timeout() {
        return FetchError::Timeout { url: url.to_string(), after: Duration::ZERO };
    }
    FetchError::Connection { url: url.to_string(), message: error_chain(error) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn robots_outcomes() {
        let status = |status| Err(FetchError::HttpStatus { url: String::new(), status, retry_after: None });
        assert_eq!(robots_rules_for(&status(404), 10), RobotsRules::AllowAll);
        assert_eq!(robots_rules_for(&status(403), 10), RobotsRules::AllowAll);
        assert_eq!(robots_rules_for(&status(503), 10), RobotsRules::DisallowAll);
        assert_eq!(robots_rules_for(&status(429), 10), RobotsRules::DisallowAll);
        let timeout = Err(FetchError::Timeout { url: String::new(), after: Duration::ZERO });
        assert_eq!(robots_rules_for(&timeout, 10), RobotsRules::DisallowAll);
    }

    #[test]
    fn backoff_grows_with_jitter_and_cap() {
        let options = NetOptions {
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_millis(350),
            ..NetOptions::default()
        };
        let fetcher = Fetcher::new(options).unwrap();
        for _ in 0..20 {
            let first = fetcher.backoff(0);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100), "{first:?}");
            let capped = fetcher.backoff(5);
            assert!(capped >= Duration::from_millis(175) && capped <= Duration::from_millis(350), "{capped:?}");
        }
    }
}
