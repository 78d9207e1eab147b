//! Network safety: which URLs may be fetched and which addresses may be connected to.
//!
//! The address check runs twice where it matters: on IP-literal hosts before a request, and in
//! [`SafeResolver`], the resolver the HTTP client calls at connect time, so a name that resolves
//! to a public address on one lookup and to 127.0.0.1 on the next (DNS rebinding) is still refused.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

use crate::dns::CachingDns;
use crate::error::{FetchError, PrivateAddressError};

/// True for addresses a public-web fetcher must never connect to: unspecified, loopback, private
/// (RFC 1918), CGNAT (100.64/10), link-local, multicast, broadcast and reserved IPv4 ranges; IPv6
/// unspecified, loopback, unique-local (fc00::/7), link-local, site-local and multicast, and
/// IPv4-mapped/compatible addresses that map into a forbidden IPv4 range.
pub fn is_forbidden_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_forbidden_v4(v4),
        IpAddr::V6(v6) => is_forbidden_v6(v6),
    }
}

fn is_forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    a == 0 // "this network", unspecified
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b)) // CGNAT
        || (a == 169 && b == 254) // link-local
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 168)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 224 // multicast, reserved, broadcast
}

fn is_forbidden_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_forbidden_v4(v4);
    }
    let segments = ip.segments();
    // IPv4-compatible (::a.b.c.d, deprecated) and NAT64 (64:ff9b::/96) carry an IPv4 address.
    if segments[..6] == [0, 0, 0, 0, 0, 0] || segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let v4 =
            Ipv4Addr::new((segments[6] >> 8) as u8, segments[6] as u8, (segments[7] >> 8) as u8, segments[7] as u8);
        return ip.is_unspecified() || ip.is_loopback() || is_forbidden_v4(v4);
    }
    ip.is_unspecified()
        || ip.is_loopback()
        || (segments[0] & 0xfe00) == 0xfc00 // unique local
        || (segments[0] & 0xffc0) == 0xfe80 // link-local
        || (segments[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (segments[0] & 0xff00) == 0xff00 // multicast
        || segments[0] == 0x2001 && segments[1] == 0x0db8 // documentation
}

/// Which addresses may be connected to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    /// Everything allowed (tests on 127.0.0.1, a private deployment).
    pub allow_private_networks: bool,
    /// Forbidden-range addresses allowed one by one (a local mirror; tests).
    pub allowed_addresses: Vec<IpAddr>,
}

impl AddressPolicy {
    pub fn permits(&self, ip: IpAddr) -> bool {
        self.allow_private_networks || !is_forbidden_ip(ip) || self.allowed_addresses.contains(&ip)
    }
}

/// Parses `url` and checks what can be checked without DNS: scheme and IP-literal hosts.
pub fn check_url(url: &str, policy: &AddressPolicy) -> Result<Url, FetchError> {
    let parsed = Url::parse(url).map_err(|e| FetchError::InvalidUrl { url: url.to_string(), reason: e.to_string() })?;
    check_parsed(&parsed, policy)?;
    Ok(parsed)
}

/// [`check_url`] for an already parsed URL (a redirect target).
pub fn check_parsed(url: &Url, policy: &AddressPolicy) -> Result<(), FetchError> {
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(FetchError::UnsupportedScheme { url: url.to_string(), scheme: url.scheme().to_string() });
    }
    let ip = match url.host() {
        None => return Err(FetchError::InvalidUrl { url: url.to_string(), reason: "no host".into() }),
        Some(Host::Domain(_)) => None,
        Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
    };
    if let Some(ip) = ip {
        if !policy.permits(ip) {
            return Err(FetchError::RefusedPrivate { url: url.to_string(), target: ip.to_string() });
        }
    }
    Ok(())
}

/// The resolver the HTTP client connects through: [`crate::dns::CachingDns`] (or
/// [`crate::NetOptions::dns_overrides`]), then every forbidden address dropped unless private
/// networks are allowed. A name left with no address fails with [`PrivateAddressError`]. Cached
/// answers are checked on every use like fresh ones.
#[derive(Debug, Clone)]
pub struct SafeResolver {
    policy: AddressPolicy,
    overrides: Arc<HashMap<String, Vec<IpAddr>>>,
    dns: CachingDns,
}

impl SafeResolver {
    pub fn new(policy: AddressPolicy, overrides: HashMap<String, Vec<IpAddr>>, dns: CachingDns) -> Self {
        let overrides = overrides.into_iter().map(|(name, ips)| (name.to_ascii_lowercase(), ips)).collect();
        SafeResolver { policy, overrides: Arc::new(overrides), dns }
    }

    /// Resolves `name` and filters the addresses as the client will at connect time.
    pub async fn lookup(&self, name: &str) -> Result<Vec<SocketAddr>, Box<dyn std::error::Error + Send + Sync>> {
        let key = name.to_ascii_lowercase();
        let ips: Vec<IpAddr> = match self.overrides.get(&key) {
            Some(ips) => ips.clone(),
            None => self.dns.lookup(&key).await?,
        };
        let addrs: Vec<SocketAddr> = ips.into_iter().map(|ip| SocketAddr::new(ip, 0)).collect();
        let (allowed, refused): (Vec<SocketAddr>, Vec<SocketAddr>) =
            addrs.into_iter().partition(|a| self.policy.permits(a.ip()));
        if allowed.is_empty() && !refused.is_empty() {
            tracing::debug!(name, ?refused, "refused a name resolving to forbidden addresses");
            return Err(Box::new(PrivateAddressError {
                name: name.to_string(),
                addresses: refused.iter().map(SocketAddr::ip).collect(),
            }));
        }
        Ok(allowed)
    }
}

impl Resolve for SafeResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let resolver = self.clone();
        Box::pin(async move {
            let addrs = resolver.lookup(name.as_str()).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forbidden(s: &str) -> bool {
        is_forbidden_ip(s.parse().unwrap())
    }

    #[test]
    fn forbidden_ranges() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "127.8.9.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(forbidden(ip), "{ip} should be forbidden");
        }
        for ip in
            ["8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "93.184.216.34", "2606:4700::1111", "::ffff:8.8.8.8"]
        {
            assert!(!forbidden(ip), "{ip} should be allowed");
        }
    }

    fn policy(allow: bool) -> AddressPolicy {
        AddressPolicy { allow_private_networks: allow, allowed_addresses: Vec::new() }
    }

    #[test]
    fn url_checks() {
        assert!(matches!(check_url("file:///etc/passwd", &policy(false)), Err(FetchError::UnsupportedScheme { .. })));
        assert!(matches!(check_url("ftp://example.com/a", &policy(false)), Err(FetchError::UnsupportedScheme { .. })));
        assert!(matches!(check_url("http://127.0.0.1/a", &policy(false)), Err(FetchError::RefusedPrivate { .. })));
        assert!(matches!(check_url("http://[::1]:8080/a", &policy(false)), Err(FetchError::RefusedPrivate { .. })));
        assert!(matches!(check_url("http://0x7f.1/a", &policy(false)), Err(FetchError::RefusedPrivate { .. })));
        assert!(matches!(check_url("not a url", &policy(false)), Err(FetchError::InvalidUrl { .. })));
        assert!(check_url("http://127.0.0.1/a", &policy(true)).is_ok());
        assert!(check_url("https://example.com/a.jpg", &policy(false)).is_ok());
        let one =
            AddressPolicy { allow_private_networks: false, allowed_addresses: vec!["127.0.0.1".parse().unwrap()] };
        assert!(check_url("http://127.0.0.1/a", &one).is_ok());
        assert!(matches!(check_url("http://127.0.0.2/a", &one), Err(FetchError::RefusedPrivate { .. })));
    }

    #[tokio::test]
    async fn resolver_refuses_names_of_forbidden_addresses() {
        let overrides = HashMap::from([("evil.test".to_string(), vec!["127.0.0.1".parse().unwrap()])]);
        let strict = SafeResolver::new(policy(false), overrides.clone(), CachingDns::new(&[]).unwrap());
        let err = strict.lookup("evil.test").await.unwrap_err();
        assert!(err.downcast_ref::<PrivateAddressError>().is_some(), "{err}");
        assert!(strict.lookup("localhost").await.is_err(), "localhost resolves to loopback");
        let open = SafeResolver::new(policy(true), overrides, CachingDns::new(&[]).unwrap());
        assert_eq!(open.lookup("evil.test").await.unwrap()[0].ip().to_string(), "127.0.0.1");
    }
}
