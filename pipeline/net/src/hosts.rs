//! Per-host politeness: at most N requests in flight, a minimum delay between request starts, and
//! a circuit breaker that stops asking a host that keeps failing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

#[derive(Debug)]
struct HostState {
    slots: Arc<Semaphore>,
    inner: Mutex<HostTimes>,
}

#[derive(Debug)]
struct HostTimes {
    /// No request may start before this.
    next_start: Instant,
    consecutive_failures: u32,
    open_until: Option<Instant>,
}

/// The state of every host seen, keyed by `host:port`.
#[derive(Debug)]
pub struct Hosts {
    concurrency: usize,
    min_delay: Duration,
    breaker_threshold: u32,
    breaker_cooldown: Duration,
    states: Mutex<HashMap<String, Arc<HostState>>>,
}

/// Held while a request to a host is in flight; dropping it frees the slot.
#[derive(Debug)]
pub struct HostPermit {
    _permit: OwnedSemaphorePermit,
}

impl Hosts {
    pub fn new(concurrency: usize, min_delay: Duration, breaker_threshold: u32, breaker_cooldown: Duration) -> Self {
        Hosts {
            concurrency: concurrency.max(1),
            min_delay,
            breaker_threshold,
            breaker_cooldown,
            states: Mutex::new(HashMap::new()),
        }
    }

    fn state(&self, host: &str) -> Arc<HostState> {
        let mut states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        states
            .entry(host.to_string())
            .or_insert_with(|| {
                Arc::new(HostState {
                    slots: Arc::new(Semaphore::new(self.concurrency)),
                    inner: Mutex::new(HostTimes {
                        next_start: Instant::now(),
                        consecutive_failures: 0,
                        open_until: None,
                    }),
                })
            })
            .clone()
    }

    /// Is the host's breaker open (refusing requests) right now?
    pub fn is_open(&self, host: &str) -> bool {
        let state = self.state(host);
        let times = state.inner.lock().unwrap_or_else(|p| p.into_inner());
        times.open_until.is_some_and(|until| Instant::now() < until)
    }

    /// Waits for a free slot and for the host's minimum delay, then returns the permit.
    pub async fn acquire(&self, host: &str) -> HostPermit {
        let state = self.state(host);
        let permit = state.slots.clone().acquire_owned().await.expect("host semaphores are never closed");
        let start = {
            let mut times = state.inner.lock().unwrap_or_else(|p| p.into_inner());
            let start = times.next_start.max(Instant::now());
            times.next_start = start + self.min_delay;
            start
        };
        tokio::time::sleep_until(start).await;
        HostPermit { _permit: permit }
    }

    /// Records the outcome of a request: a success closes the breaker, `threshold` failures in a
    /// row open it for the cooldown.
    pub fn record(&self, host: &str, host_failure: bool) {
        let state = self.state(host);
        let mut times = state.inner.lock().unwrap_or_else(|p| p.into_inner());
        if !host_failure {
            times.consecutive_failures = 0;
            times.open_until = None;
            return;
        }
        times.consecutive_failures += 1;
        if self.breaker_threshold > 0 && times.consecutive_failures >= self.breaker_threshold {
            tracing::debug!(host, failures = times.consecutive_failures, "opened the circuit breaker");
            times.open_until = Some(Instant::now() + self.breaker_cooldown);
        }
    }

    /// Pushes the host's next allowed start back (a `Retry-After` or a robots.txt crawl delay).
    pub fn delay(&self, host: &str, until: Instant) {
        let state = self.state(host);
        let mut times = state.inner.lock().unwrap_or_else(|p| p.into_inner());
        times.next_start = times.next_start.max(until);
    }

    /// Hosts seen.
    pub fn len(&self) -> usize {
        self.states.lock().map(|s| s.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn min_delay_spaces_request_starts() {
        let delay = Duration::from_millis(40);
        let hosts = Hosts::new(4, delay, 0, Duration::ZERO);
        // Measured from outside, a start can only be seen late, never early: the k-th start is
        // at least k delays after the moment before the first request (comparing neighbouring
        // starts instead would fail whenever one is seen late on a loaded machine).
        let first = Instant::now();
        for k in 1..=3u32 {
            let _p = hosts.acquire("a:80").await;
            let seen = Instant::now() - first;
            assert!(seen >= delay * (k - 1), "start {k} after {seen:?}, closer than the minimum delay");
        }
        let before = Instant::now();
        let _other = hosts.acquire("b:80").await;
        hosts.delay("b:80", Instant::now() + delay);
        let _again = hosts.acquire("b:80").await;
        assert!(Instant::now() - before >= delay, "delay() pushes the next start back");
    }

    #[tokio::test]
    async fn breaker_opens_after_threshold_and_closes_on_success() {
        let hosts = Hosts::new(1, Duration::ZERO, 3, Duration::from_secs(60));
        hosts.record("a:80", true);
        hosts.record("a:80", true);
        assert!(!hosts.is_open("a:80"));
        hosts.record("a:80", true);
        assert!(hosts.is_open("a:80"));
        hosts.record("a:80", false);
        assert!(!hosts.is_open("a:80"));
    }
}
