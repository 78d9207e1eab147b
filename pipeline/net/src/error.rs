//! Typed outcomes of a failed fetch; each names the URL and maps to a stable [`ErrorKind`] string.

use std::net::IpAddr;
use std::time::Duration;

/// What went wrong, as a stable lower-case name (`ErrorKind::as_str`) for status columns and stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    InvalidUrl,
    UnsupportedScheme,
    RefusedPrivate,
    RobotsDisallowed,
    OptedOut,
    HttpStatus,
    TooLarge,
    Timeout,
    TooManyRedirects,
    Connection,
    CircuitOpen,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 11] = [
        ErrorKind::InvalidUrl,
        ErrorKind::UnsupportedScheme,
        ErrorKind::RefusedPrivate,
        ErrorKind::RobotsDisallowed,
        ErrorKind::OptedOut,
        ErrorKind::HttpStatus,
        ErrorKind::TooLarge,
        ErrorKind::Timeout,
        ErrorKind::TooManyRedirects,
        ErrorKind::Connection,
        ErrorKind::CircuitOpen,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidUrl => "invalid_url",
            ErrorKind::UnsupportedScheme => "unsupported_scheme",
            ErrorKind::RefusedPrivate => "refused_private",
            ErrorKind::RobotsDisallowed => "robots_disallowed",
            ErrorKind::OptedOut => "opted_out",
            ErrorKind::HttpStatus => "http_status",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::Timeout => "timeout",
            ErrorKind::TooManyRedirects => "too_many_redirects",
            ErrorKind::Connection => "connection",
            ErrorKind::CircuitOpen => "circuit_open",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a URL could not be fetched.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    #[error("{url}: invalid URL: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("{url}: scheme `{scheme}` is not http or https")]
    UnsupportedScheme { url: String, scheme: String },
    #[error("{url}: refused to connect to {target} (private, loopback, link-local or reserved address)")]
    RefusedPrivate { url: String, target: String },
    #[error("{url}: disallowed by robots.txt")]
    RobotsDisallowed { url: String },
    #[error("{url}: opted out by X-Robots-Tag `{directive}`")]
    OptedOut { url: String, directive: String, status: u16 },
    #[error("{url}: HTTP status {status}")]
    HttpStatus { url: String, status: u16, retry_after: Option<Duration> },
    #[error("{url}: body larger than {limit} bytes")]
    TooLarge { url: String, limit: u64 },
    #[error("{url}: no complete response within {after:?}")]
    Timeout { url: String, after: Duration },
    #[error("{url}: more than {limit} redirects")]
    TooManyRedirects { url: String, limit: usize },
    #[error("{url}: connection failed: {message}")]
    Connection { url: String, message: String },
    #[error("{url}: host {host} failed repeatedly; its circuit breaker is open")]
    CircuitOpen { url: String, host: String },
}

impl FetchError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            FetchError::InvalidUrl { .. } => ErrorKind::InvalidUrl,
            FetchError::UnsupportedScheme { .. } => ErrorKind::UnsupportedScheme,
            FetchError::RefusedPrivate { .. } => ErrorKind::RefusedPrivate,
            FetchError::RobotsDisallowed { .. } => ErrorKind::RobotsDisallowed,
            FetchError::OptedOut { .. } => ErrorKind::OptedOut,
            FetchError::HttpStatus { .. } => ErrorKind::HttpStatus,
            FetchError::TooLarge { .. } => ErrorKind::TooLarge,
            FetchError::Timeout { .. } => ErrorKind::Timeout,
            FetchError::TooManyRedirects { .. } => ErrorKind::TooManyRedirects,
            FetchError::Connection { .. } => ErrorKind::Connection,
            FetchError::CircuitOpen { .. } => ErrorKind::CircuitOpen,
        }
    }

    /// The HTTP status that decided the outcome, where there was one.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            FetchError::HttpStatus { status, .. } | FetchError::OptedOut { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Worth another attempt: 429, 5xx, timeouts and connection failures.
    pub fn is_retryable(&self) -> bool {
        match self {
            FetchError::HttpStatus { status, .. } => *status == 429 || (500..600).contains(status),
            FetchError::Timeout { .. } | FetchError::Connection { .. } => true,
            _ => false,
        }
    }

    /// Counts against the host's circuit breaker (the host itself misbehaves or is down).
    pub(crate) fn is_host_failure(&self) -> bool {
        match self {
            FetchError::HttpStatus { status, .. } => (500..600).contains(status),
            FetchError::Timeout { .. } | FetchError::Connection { .. } => true,
            _ => false,
        }
    }
}

/// The error the resolver returns for a name whose every address is forbidden; found again in
/// the connection error's source chain to report `refused_private`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{name} resolves only to forbidden addresses ({addresses:?})")]
pub struct PrivateAddressError {
    pub name: String,
    pub addresses: Vec<IpAddr>,
}
