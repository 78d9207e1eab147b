//! wit-net: the one implementation of web access in wit, shared by the fetch stage and the harvest
//! seed crawler.
//!
//! [`Fetcher`] is the door: built from [`NetOptions`], [`Fetcher::get`] fetches one URL politely and
//! safely and returns a [`Response`] (final URL, status, headers, whole body) or a typed
//! [`FetchError`] whose [`ErrorKind`] maps to a stable string for status columns and stats.
//!
//! What every request goes through, in order:
//! 1. [`safety`]: http/https only; an IP-literal host is checked against the forbidden ranges
//!    (private, loopback, link-local, CGNAT, multicast, unspecified, IPv6 ULA…); a host name is
//!    resolved by [`safety::SafeResolver`], which the HTTP client uses at connect time, so the
//!    address actually connected to is the one checked (DNS rebinding cannot slip past). Names
//!    are resolved in-process by [`dns::CachingDns`]: one query per name per TTL.
//! 2. [`robots`]: robots.txt of the URL's origin (RFC 9309), fetched through the same client and
//!    cached per origin.
//! 3. [`hosts`]: per-host concurrency, minimum delay between requests and a circuit breaker.
//! 4. The request with a connect timeout and a **total** deadline covering headers, redirects and
//!    the body; redirects are followed by hand, each hop re-checked (scheme, address, robots); the
//!    body is streamed and abandoned once past the byte cap or the deadline.
//! 5. [`opt_out`]: `X-Robots-Tag` directives (noai, noimageai, noindex, noimageindex by default).
//! 6. Retries with exponential backoff and jitter for 429, 5xx, timeouts and connection errors,
//!    honouring `Retry-After`; never for 4xx, refusals or opt-outs.

pub mod client;
pub mod dns;
pub mod error;
pub mod hosts;
pub mod opt_out;
pub mod options;
pub mod robots;
pub mod safety;

pub use client::{Audit, Fetcher, RequestOptions, Response, RobotsCheck};
pub use dns::CachingDns;
pub use error::{ErrorKind, FetchError};
pub use opt_out::opt_out_directive;
pub use options::NetOptions;
pub use robots::{RobotsCache, RobotsDecision, RobotsFile, RobotsRules};
pub use safety::{is_forbidden_ip, AddressPolicy, SafeResolver};
