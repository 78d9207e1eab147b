//! The in-process caching DNS resolver: hickory-resolver (the name servers of /etc/resolv.conf
//! and /etc/hosts, or [`crate::NetOptions::dns_servers`]) behind a cache that keeps each answer
//! for its own TTL and sends **one** query per name however many requests wait for it
//! (concurrent misses wait on the first). A crawl of millions of URLs on thousands of hosts thus
//! asks DNS about once per host per TTL, without the local bind9/knot img2dataset's docs ask for.
//!
//! The cache holds raw answers; [`crate::SafeResolver`] checks the addresses on every use, so a
//! cached answer never bypasses the private-network rule.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_resolver::config::{LookupIpStrategy, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::TokioResolver;

/// Names kept before expired entries are dropped (and all of them if most are still live).
const MAX_NAMES: usize = 100_000;
/// Longest an answer is reused, whatever its TTL says.
const MAX_TTL: Duration = Duration::from_secs(3600);
/// Shortest: a TTL of 0 would otherwise mean one query per request.
const MIN_TTL: Duration = Duration::from_secs(5);
/// How long "no such name / no address" is remembered when the server gives no negative TTL.
const DEFAULT_NEGATIVE_TTL: Duration = Duration::from_secs(60);

/// A lookup's result as cached: the addresses, or why there are none.
type Answer = Result<Vec<IpAddr>, String>;

/// One name's slot: the async lock is what makes concurrent misses wait for one query.
type Slot = Arc<tokio::sync::Mutex<Option<(Answer, Instant)>>>;

/// A TTL cache with single-flight lookups in front of hickory-resolver.
#[derive(Clone)]
pub struct CachingDns {
    resolver: Arc<TokioResolver>,
    slots: Arc<Mutex<HashMap<String, Slot>>>,
    queries: Arc<std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for CachingDns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachingDns").field("names", &self.slots.lock().map(|s| s.len()).unwrap_or(0)).finish()
    }
}

impl CachingDns {
    /// The system's name servers (/etc/resolv.conf) and /etc/hosts; with `servers`, those name
    /// servers only (UDP, TCP on truncation) and no search domains.
    pub fn new(servers: &[SocketAddr]) -> Result<Self, String> {
        let mut builder = if servers.is_empty() {
            TokioResolver::builder_tokio().map_err(|e| format!("reading the system DNS configuration: {e}"))?
        } else {
            let mut config = ResolverConfig::new();
            for &server in servers {
                config.add_name_server(NameServerConfig::new(server, Protocol::Udp));
                config.add_name_server(NameServerConfig::new(server, Protocol::Tcp));
            }
            TokioResolver::builder_with_config(config, TokioConnectionProvider::default())
        };
        let options: &mut ResolverOpts = builder.options_mut();
        // A and, only when a name has none, AAAA: one query per name in the common case.
        options.ip_strategy = LookupIpStrategy::Ipv4thenIpv6;
        options.use_hosts_file = ResolveHosts::Always;
        // Answers are cached here; hickory's own cache would only hold copies.
        options.cache_size = 0;
        Ok(CachingDns { resolver: Arc::new(builder.build()), slots: Arc::default(), queries: Arc::default() })
    }

    /// Lookups sent to the resolver so far (cache misses; /etc/hosts answers included).
    pub fn queries(&self) -> u64 {
        self.queries.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The addresses of `name` (lower-cased), from the cache while its TTL lasts.
    pub async fn lookup(&self, name: &str) -> Answer {
        let slot = self.slot(name);
        let mut entry = slot.lock().await;
        if let Some((answer, expires)) = entry.as_ref() {
            if Instant::now() < *expires {
                return answer.clone();
            }
        }
        self.queries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let now = Instant::now();
        let (answer, ttl) = match self.resolver.lookup_ip(format!("{name}.")).await {
            Ok(found) => {
                let ips: Vec<IpAddr> = found.iter().collect();
                (Ok(ips), found.valid_until().saturating_duration_since(now))
            }
            Err(e) if e.is_no_records_found() => {
                let ttl = negative_ttl(&e).unwrap_or(DEFAULT_NEGATIVE_TTL);
                (Err(format!("{name}: no address ({e})")), ttl)
            }
            // Time-outs and refused connections are not remembered: the next request asks again.
            Err(e) => return Err(format!("{name}: {e}")),
        };
        *entry = Some((answer.clone(), now + ttl.clamp(MIN_TTL, MAX_TTL)));
        answer
    }

    fn slot(&self, name: &str) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if slots.len() >= MAX_NAMES && !slots.contains_key(name) {
            let now = Instant::now();
            slots.retain(|_, slot| match slot.try_lock() {
                Ok(entry) => matches!(entry.as_ref(), Some((_, expires)) if *expires > now),
                Err(_) => true, // a lookup in flight
            });
            // Mostly live names: start over rather than sweep again at the next new name.
            if slots.len() >= MAX_NAMES * 3 / 4 {
                slots.clear();
            }
        }
        slots.entry(name.to_owned()).or_default().clone()
    }
}

fn negative_ttl(error: &hickory_resolver::ResolveError) -> Option<Duration> {
    use hickory_resolver::proto::ProtoErrorKind;
    match error.proto()?.kind() {
        ProtoErrorKind::NoRecordsFound { negative_ttl, .. } => negative_ttl.map(|s| Duration::from_secs(s as u64)),
        _ => None,
    }
}
