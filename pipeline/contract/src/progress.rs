//! Progress of a long stage: an indicatif bar when stderr is a terminal (total, %, rate, MB/s
//! where bytes move, ETA, ok/failed split), plain periodic log lines with the same numbers and no
//! ANSI codes when it is not (a log file, Slurm's output, a pipe).
//!
//! A stage opens a [`Progress`] with what it counts and its total (when known) and adds to it from
//! any thread; the binaries call [`configure`] once and log through [`LogWriter`], which lifts the
//! bars while a log line is written so the two never interleave.

use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A bar on stderr (a terminal).
    Bar,
    /// A log line every [`PLAIN_INTERVAL`] and one at the end.
    Plain,
    /// Nothing (`-q`).
    Off,
}

/// How often plain mode writes a line.
pub const PLAIN_INTERVAL: Duration = Duration::from_secs(5);

static MODE: AtomicU8 = AtomicU8::new(0); // 0: not configured (auto)

/// Chooses the mode: `quiet` turns progress off; otherwise a bar when stderr is a terminal, plain
/// lines when not. `WIT_PROGRESS=bar|plain|off` overrides.
pub fn configure(quiet: bool) {
    let mode = match std::env::var("WIT_PROGRESS").as_deref() {
        Ok("bar") => Mode::Bar,
        Ok("plain") => Mode::Plain,
        Ok("off") => Mode::Off,
        _ if quiet => Mode::Off,
        _ if io::stderr().is_terminal() => Mode::Bar,
        _ => Mode::Plain,
    };
    MODE.store(mode as u8 + 1, Ordering::Relaxed);
}

/// The mode in force ([`configure`]d, or chosen from stderr when nothing configured it).
pub fn mode() -> Mode {
    match MODE.load(Ordering::Relaxed) {
        1 => Mode::Bar,
        2 => Mode::Plain,
        3 => Mode::Off,
        _ if io::stderr().is_terminal() => Mode::Bar,
        _ => Mode::Plain,
    }
}

/// Whether log lines may carry ANSI colours: only when stderr is a terminal.
pub fn colour_logs() -> bool {
    io::stderr().is_terminal()
}

fn bars() -> &'static MultiProgress {
    static BARS: OnceLock<MultiProgress> = OnceLock::new();
    BARS.get_or_init(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(8)))
}

/// What a stage counts.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The stage's name, first on every line (`fetch`, `harvest`, `train`).
    pub what: String,
    /// What one unit is (`pairs`, `inputs`, `steps`).
    pub unit: &'static str,
    /// The number of units when known (a bar then shows % and ETA).
    pub total: Option<u64>,
    /// Show the ok / failed split.
    pub split: bool,
    /// Show MB and MB/s of [`Progress::add_bytes`].
    pub bytes: bool,
    /// The units are bytes (a dump read): shown as MB, MB/s.
    pub in_bytes: bool,
}

impl Spec {
    pub fn new(what: impl Into<String>, unit: &'static str, total: Option<u64>) -> Spec {
        Spec { what: what.into(), unit, total, split: false, bytes: false, in_bytes: false }
    }

    /// Progress through `total` bytes (units are bytes, shown as MB).
    pub fn bytes_of(what: impl Into<String>, total: Option<u64>) -> Spec {
        Spec { in_bytes: true, ..Spec::new(what, "MB", total) }
    }

    pub fn with_split(mut self) -> Spec {
        self.split = true;
        self
    }

    pub fn with_bytes(mut self) -> Spec {
        self.bytes = true;
        self
    }
}

struct Inner {
    spec: Spec,
    started: Instant,
    /// Units done before this run (resumed): not in the rate.
    before: AtomicU64,
    done: AtomicU64,
    ok: AtomicU64,
    failed: AtomicU64,
    bytes: AtomicU64,
    bar: Option<ProgressBar>,
    mode: Mode,
    last: Mutex<(Instant, Instant)>, // (last plain line, last bar message)
    note: Mutex<String>,
}

/// A stage's progress; cheap to clone and to update from many threads.
#[derive(Clone)]
pub struct Progress {
    inner: Arc<Inner>,
}

impl Progress {
    /// Starts showing progress in the configured [`mode`].
    pub fn start(spec: Spec) -> Progress {
        Progress::start_in(spec, mode())
    }

    /// A progress that shows nothing.
    pub fn hidden(spec: Spec) -> Progress {
        Progress::start_in(spec, Mode::Off)
    }

    fn start_in(spec: Spec, mode: Mode) -> Progress {
        let bar = (mode == Mode::Bar).then(|| {
            let unit = spec.unit;
            let (bar, template) = match spec.total {
                Some(total) if spec.in_bytes => (
                    ProgressBar::new(total),
                    "{prefix} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({percent}%) {bytes_per_sec} ETA {eta} \
                     {msg}"
                        .to_string(),
                ),
                Some(total) => (
                    ProgressBar::new(total),
                    format!(
                        "{{prefix}} [{{elapsed_precise}}] {{wide_bar}} {{human_pos}}/{{human_len}} {unit} ({{percent}}%) \
                         ETA {{eta}} {{msg}}"
                    ),
                ),
                None => (
                    ProgressBar::new_spinner(),
                    format!("{{prefix}} [{{elapsed_precise}}] {{spinner}} {{human_pos}} {unit} {{msg}}"),
                ),
            };
            let style = ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar());
            let bar = bars().add(bar.with_style(style).with_prefix(spec.what.clone()));
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        });
        let now = Instant::now();
        Progress {
            inner: Arc::new(Inner {
                spec,
                started: now,
                before: AtomicU64::new(0),
                done: AtomicU64::new(0),
                ok: AtomicU64::new(0),
                failed: AtomicU64::new(0),
                bytes: AtomicU64::new(0),
                bar,
                mode,
                last: Mutex::new((now, now)),
                note: Mutex::new(String::new()),
            }),
        }
    }

    /// Units already done before this run (a resume): counted as done, not in the rate.
    pub fn resumed(&self, units: u64) {
        self.inner.before.fetch_add(units, Ordering::Relaxed);
        self.inner.done.fetch_add(units, Ordering::Relaxed);
        self.refresh();
    }

    /// `ok` units succeeded and `failed` failed.
    pub fn add(&self, ok: u64, failed: u64) {
        self.inner.ok.fetch_add(ok, Ordering::Relaxed);
        self.inner.failed.fetch_add(failed, Ordering::Relaxed);
        self.inner.done.fetch_add(ok + failed, Ordering::Relaxed);
        self.refresh();
    }

    /// Sets the units done (a trainer's step).
    pub fn set_done(&self, done: u64) {
        self.inner.done.store(done, Ordering::Relaxed);
        self.refresh();
    }

    /// Bytes moved (downloaded, read).
    pub fn add_bytes(&self, bytes: u64) {
        self.inner.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// A short note shown after the numbers (a trainer's loss).
    pub fn note(&self, note: impl Into<String>) {
        if let Ok(mut current) = self.inner.note.lock() {
            *current = note.into();
        }
    }

    /// The numbers as one plain line: `fetch: 693/1000 pairs (69.3%), ok 26, failed 667, 137.7 pairs/s, 1.2 MB/s, ETA 2s`.
    pub fn line(&self) -> String {
        let inner = &self.inner;
        let done = inner.done.load(Ordering::Relaxed);
        let seconds = inner.started.elapsed().as_secs_f64().max(1e-9);
        let rate = (done - inner.before.load(Ordering::Relaxed).min(done)) as f64 / seconds;
        let shown = |n: u64| if inner.spec.in_bytes { format!("{:.1}", n as f64 / 1e6) } else { n.to_string() };
        let mut line = format!("{}: {}", inner.spec.what, shown(done));
        if let Some(total) = inner.spec.total {
            let percent = if total == 0 { 100.0 } else { 100.0 * done as f64 / total as f64 };
            line.push_str(&format!("/{} {} ({percent:.1}%)", shown(total), inner.spec.unit));
        } else {
            line.push_str(&format!(" {}", inner.spec.unit));
        }
        line.push_str(&self.details(rate, seconds));
        if let Some(total) = inner.spec.total {
            line.push_str(&format!(", ETA {}", eta(total.saturating_sub(done), rate)));
        }
        line
    }

    /// `, ok N, failed M, R unit/s, X MB/s, note` (the parts the spec asks for).
    fn details(&self, rate: f64, seconds: f64) -> String {
        let inner = &self.inner;
        let mut out = String::new();
        if inner.spec.split {
            out.push_str(&format!(
                ", ok {}, failed {}",
                inner.ok.load(Ordering::Relaxed),
                inner.failed.load(Ordering::Relaxed)
            ));
        }
        if inner.spec.in_bytes {
            out.push_str(&format!(", {:.2} MB/s", rate / 1e6));
        } else {
            out.push_str(&format!(", {rate:.1} {}/s", inner.spec.unit));
        }
        if inner.spec.bytes {
            let bytes = inner.bytes.load(Ordering::Relaxed) as f64;
            out.push_str(&format!(", {:.1} MB, {:.2} MB/s", bytes / 1e6, bytes / 1e6 / seconds));
        }
        if let Ok(note) = inner.note.lock() {
            if !note.is_empty() {
                out.push_str(&format!(", {note}"));
            }
        }
        out
    }

    fn refresh(&self) {
        let inner = &self.inner;
        match inner.mode {
            Mode::Off => {}
            Mode::Bar => {
                let Some(bar) = &inner.bar else { return };
                bar.set_position(inner.done.load(Ordering::Relaxed));
                // The message (split, MB/s) is rebuilt at most 10 times a second.
                let Ok(mut last) = inner.last.try_lock() else { return };
                if last.1.elapsed() >= Duration::from_millis(100) {
                    last.1 = Instant::now();
                    drop(last);
                    let seconds = inner.started.elapsed().as_secs_f64().max(1e-9);
                    let done = inner.done.load(Ordering::Relaxed);
                    let rate = (done - inner.before.load(Ordering::Relaxed).min(done)) as f64 / seconds;
                    let message = self.details(rate, seconds);
                    let parts: Vec<&str> = message.split(", ").filter(|part| !part.is_empty()).collect();
                    bar.set_message(parts.join(" · "));
                }
            }
            Mode::Plain => {
                let Ok(mut last) = inner.last.try_lock() else { return };
                if last.0.elapsed() >= PLAIN_INTERVAL {
                    last.0 = Instant::now();
                    drop(last);
                    tracing::info!(target: "progress", "{}", self.line());
                }
            }
        }
    }

    /// Ends the bar (or writes the last plain line).
    pub fn finish(&self) {
        match (&self.inner.bar, self.inner.mode) {
            (Some(bar), _) => {
                bar.set_position(self.inner.done.load(Ordering::Relaxed));
                bar.finish_and_clear();
                let _ = bars().println(self.line());
            }
            (None, Mode::Plain) => tracing::info!(target: "progress", "{}", self.line()),
            _ => {}
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            if !bar.is_finished() {
                bar.abandon();
            }
        }
    }
}

/// `3m 20s`, `1h 5m`, or `?` when the rate is zero.
fn eta(left: u64, rate: f64) -> String {
    if left == 0 {
        return "0s".into();
    }
    if rate <= 0.0 {
        return "?".into();
    }
    let seconds = (left as f64 / rate).round() as u64;
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {}s", s / 60, s % 60),
        s => format!("{}h {}m", s / 3600, s % 3600 / 60),
    }
}

/// stderr for log lines, lifting the progress bars while a line is written. One per log event
/// (what `tracing_subscriber::fmt().with_writer(LogWriter::default)` makes).
#[derive(Default)]
pub struct LogWriter {
    buffer: Vec<u8>,
}

impl Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let buffer = std::mem::take(&mut self.buffer);
        if mode() == Mode::Bar {
            bars().suspend(|| io::stderr().write_all(&buffer))
        } else {
            io::stderr().write_all(&buffer)
        }
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_line_has_total_percent_rate_split_and_eta() {
        let progress = Progress::hidden(Spec::new("fetch", "pairs", Some(200)).with_split().with_bytes());
        progress.resumed(50);
        progress.add(30, 20);
        progress.add_bytes(3_000_000);
        let line = progress.line();
        assert!(line.starts_with("fetch: 100/200 pairs (50.0%), ok 30, failed 20, "), "{line}");
        assert!(line.contains(" pairs/s, 3.0 MB, "), "{line}");
        assert!(line.contains(" MB/s, ETA "), "{line}");
        assert!(!line.contains('\u{1b}'));

        let read = Progress::hidden(Spec::bytes_of("queries build: read the dump", Some(8_000_000)));
        read.set_done(2_000_000);
        let line = read.line();
        assert!(line.starts_with("queries build: read the dump: 2.0/8.0 MB (25.0%), "), "{line}");
        assert!(line.contains(" MB/s, ETA "), "{line}");
    }

    #[test]
    fn eta_reads_like_a_duration() {
        assert_eq!(eta(0, 0.0), "0s");
        assert_eq!(eta(10, 0.0), "?");
        assert_eq!(eta(90, 1.0), "1m 30s");
        assert_eq!(eta(7200, 1.0), "2h 0m");
    }
}
