//! [`NetOptions`]: every knob of the shared client, with polite and safe defaults.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

/// The honest default User-Agent: names the tool and where to read about it.
pub const DEFAULT_USER_AGENT: &str = "wit/0.1 (+https://github.com/wit-dataset/wit)";

/// The `X-Robots-Tag` directives that opt a resource out by default (as img2dataset).
pub const DEFAULT_OPT_OUT_DIRECTIVES: [&str; 4] = ["noai", "noimageai", "noindex", "noimageindex"];

/// Configuration of a [`crate::Fetcher`].
#[derive(Debug, Clone)]
pub struct NetOptions {
    /// Sent on every request, robots.txt included.
    pub user_agent: String,
    /// The product token matched against robots.txt `User-agent` lines and agent-scoped
    /// `X-Robots-Tag` values (case-insensitive), e.g. `wit`.
    pub robots_token: String,
    /// Allow private, loopback, link-local… targets. Off by default; tests turn it on for 127.0.0.1.
    pub allow_private_networks: bool,
    /// Single addresses of the forbidden ranges that may still be connected to (a local mirror).
    pub allowed_addresses: Vec<IpAddr>,
    /// Limit on establishing a TCP (and TLS) connection.
    pub connect_timeout: Duration,
    /// Total deadline of one attempt: connect, headers, every redirect hop and the whole body.
    pub request_timeout: Duration,
    /// Bodies longer than this are abandoned (`too_large`).
    pub max_body_bytes: u64,
    /// Redirect hops followed before `too_many_redirects`.
    pub max_redirects: usize,
    /// Extra attempts after the first for 429, 5xx, timeouts and connection errors.
    pub retries: u32,
    /// Backoff before retry n (0-based) is `backoff_base · 2ⁿ`, with jitter, at most `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// A `Retry-After` longer than this is not waited for: the attempt fails with its status.
    pub max_retry_after: Duration,
    /// Requests in flight to one host at once.
    pub per_host_concurrency: usize,
    /// Minimum time between the starts of two requests to one host.
    pub per_host_min_delay: Duration,
    /// Consecutive failures (connection, timeout, 5xx) that open a host's circuit breaker; 0 = never.
    pub breaker_threshold: u32,
    /// How long an open breaker refuses requests to its host (`circuit_open`).
    pub breaker_cooldown: Duration,
    /// Obey robots.txt.
    pub respect_robots: bool,
    /// robots.txt bytes parsed (RFC 9309 asks for at least 500 KiB); the rest is ignored.
    pub robots_max_bytes: usize,
    /// How long a fetched robots.txt is trusted (RFC 9309: at most 24 h).
    pub robots_ttl: Duration,
    /// `X-Robots-Tag` directives that opt a resource out (lower case); empty = ignore the header.
    pub opt_out_directives: Vec<String>,
    /// Host names resolved to these addresses instead of asking DNS. The addresses are still
    /// checked like resolved ones, so this cannot open a way to private networks.
    pub dns_overrides: HashMap<String, Vec<IpAddr>>,
    /// Name servers to ask instead of /etc/resolv.conf's (e.g. a local resolver on another port).
    pub dns_servers: Vec<std::net::SocketAddr>,
}

impl NetOptions {
    /// The address rules these options set.
    pub fn address_policy(&self) -> crate::safety::AddressPolicy {
        crate::safety::AddressPolicy {
            allow_private_networks: self.allow_private_networks,
            allowed_addresses: self.allowed_addresses.clone(),
        }
    }
}

impl Default for NetOptions {
    fn default() -> Self {
        NetOptions {
            user_agent: DEFAULT_USER_AGENT.to_string(),
            robots_token: "wit".to_string(),
            allow_private_networks: false,
            allowed_addresses: Vec::new(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_body_bytes: 20 << 20,
            max_redirects: 5,
            retries: 2,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(60),
            per_host_concurrency: 1,
            per_host_min_delay: Duration::from_millis(1000),
            breaker_threshold: 10,
            breaker_cooldown: Duration::from_secs(120),
            respect_robots: true,
            robots_max_bytes: 500 << 10,
            robots_ttl: Duration::from_secs(24 * 3600),
            opt_out_directives: DEFAULT_OPT_OUT_DIRECTIVES.iter().map(|d| d.to_string()).collect(),
            dns_overrides: HashMap::new(),
            dns_servers: Vec::new(),
        }
    }
}
