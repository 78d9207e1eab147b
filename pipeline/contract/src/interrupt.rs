//! Clean interrupts: SIGINT (Ctrl-C) and SIGTERM (Slurm's notice before a time limit, `kill`)
//! ask a running stage to commit what it finished and stop.
//!
//! A stage receives a [`Cancel`] token in its configuration and checks it in its loops; when it
//! is set the stage closes and publishes its open shards, saves its manifest (or the trainer its
//! checkpoint) and returns [`Interrupted`], whose message says what was saved. The binaries then
//! print how to resume ([`resume_command`]) and exit with [`Signal::exit_code`] (130 for SIGINT,
//! 143 for SIGTERM). A second signal ends the process at once, with the same code, and so does a
//! signal while no run [watches](Cancel::watch) its token (a stage without commit points).
//!
//! The handler only stores the signal number in an atomic (async-signal-safe); no thread is
//! started and no syscall is interrupted (`SA_RESTART`).

use std::fmt;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::{Arc, Once};

/// The signals a run stops cleanly on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT: Ctrl-C.
    Interrupt,
    /// SIGTERM: `kill`, Slurm at the time limit, Kubernetes at pod deletion.
    Terminate,
}

impl Signal {
    fn number(self) -> i32 {
        match self {
            Signal::Interrupt => libc::SIGINT,
            Signal::Terminate => libc::SIGTERM,
        }
    }

    fn from_number(number: i32) -> Option<Signal> {
        match number {
            libc::SIGINT => Some(Signal::Interrupt),
            libc::SIGTERM => Some(Signal::Terminate),
            _ => None,
        }
    }

    /// `SIGINT` or `SIGTERM`.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        }
    }

    /// The shell's code for a process ended by this signal: 128 + its number (130, 143).
    pub fn exit_code(self) -> u8 {
        (128 + self.number()) as u8
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The signal the process received first (0: none yet).
static RECEIVED: AtomicI32 = AtomicI32::new(0);
static INSTALL: Once = Once::new();

const SECOND_SIGNAL: &[u8] = b"\nwit: second signal: exiting at once (work since the last commit is lost)\n";

/// How many runs are watching their [`Cancel`] now; with none, a signal ends the process at once
/// as if no handler were installed (a stage without commit points, the time between stages).
static WATCHING: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_signal(number: libc::c_int) {
    if WATCHING.load(Ordering::SeqCst) == 0 {
        // SAFETY: _exit(2) is async-signal-safe.
        unsafe { libc::_exit(128 + number) }
    }
    if RECEIVED.compare_exchange(0, number, Ordering::SeqCst, Ordering::SeqCst).is_err() {
        // SAFETY: write(2) and _exit(2) are async-signal-safe; the buffer is a static.
        unsafe {
            libc::write(2, SECOND_SIGNAL.as_ptr().cast(), SECOND_SIGNAL.len());
            libc::_exit(128 + number);
        }
    }
}

fn install_handlers() {
    INSTALL.call_once(|| {
        for signal in [Signal::Interrupt, Signal::Terminate] {
            // SAFETY: a zeroed sigaction is valid; the handler only touches an atomic (and exits).
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
                action.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                if libc::sigaction(signal.number(), &action, std::ptr::null_mut()) != 0 {
                    eprintln!("wit: cannot install the {signal} handler; {signal} will stop the run without a commit");
                }
            }
        }
    });
}

/// The signal this process received, if any (with or without a [`Cancel`] watching it).
pub fn received() -> Option<Signal> {
    Signal::from_number(RECEIVED.load(Ordering::SeqCst))
}

#[derive(Debug, Clone, Default)]
enum Source {
    /// Never set (library use, tests of other things).
    #[default]
    Never,
    /// The process's SIGINT/SIGTERM.
    Signals,
    /// Set by [`Cancel::cancel`] (tests, embedding programs).
    Manual(Arc<AtomicI32>),
}

/// The token a stage checks in its loops: has the run been asked to stop?
#[derive(Debug, Clone, Default)]
pub struct Cancel {
    source: Source,
}

impl Cancel {
    /// A token that is never set.
    pub fn never() -> Cancel {
        Cancel::default()
    }

    /// A token set by this process's SIGINT or SIGTERM; installs the handlers (once).
    pub fn on_signals() -> Cancel {
        install_handlers();
        Cancel { source: Source::Signals }
    }

    /// A token set only by [`Cancel::cancel`].
    pub fn manual() -> Cancel {
        Cancel { source: Source::Manual(Arc::new(AtomicI32::new(0))) }
    }

    /// Sets a manual token as if `signal` had arrived (no effect on the other kinds).
    pub fn cancel(&self, signal: Signal) {
        if let Source::Manual(flag) = &self.source {
            flag.store(signal.number(), Ordering::SeqCst);
        }
    }

    /// The signal that asked the run to stop, if one did.
    pub fn signal(&self) -> Option<Signal> {
        match &self.source {
            Source::Never => None,
            Source::Signals => received(),
            Source::Manual(flag) => Signal::from_number(flag.load(Ordering::SeqCst)),
        }
    }

    /// Marks a run that checks this token until the guard drops: meanwhile a first signal sets
    /// the token instead of ending the process. Outside such runs signals act as by default.
    pub fn watch(&self) -> Watching {
        let counted = matches!(self.source, Source::Signals);
        if counted {
            WATCHING.fetch_add(1, Ordering::SeqCst);
        }
        Watching { counted }
    }

    pub fn is_set(&self) -> bool {
        self.signal().is_some()
    }

    /// `Err(Interrupted)` with `saved` (what was committed, as the user will read it) when set.
    pub fn check(&self, saved: impl FnOnce() -> String) -> Result<(), Interrupted> {
        match self.signal() {
            Some(signal) => Err(Interrupted { signal, saved: saved() }),
            None => Ok(()),
        }
    }
}

/// A run watching its token; see [`Cancel::watch`].
#[must_use = "the run watches its token only while the guard lives"]
pub struct Watching {
    counted: bool,
}

impl Drop for Watching {
    fn drop(&mut self) {
        if self.counted {
            WATCHING.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// A run stopped by a signal after committing its finished work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("interrupted by {signal}; {saved}")]
pub struct Interrupted {
    pub signal: Signal,
    /// What was saved, e.g. `817 corpus rows and 12 failures committed in out/ (_manifest.json)`.
    pub saved: String,
}

/// The command line of this process, quoted for a POSIX shell: rerunning it resumes.
pub fn resume_command() -> String {
    std::env::args().map(|arg| shell_quote(&arg)).collect::<Vec<_>>().join(" ")
}

/// `arg` as one POSIX shell word.
pub fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty() && arg.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@+%".contains(&b));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// What a binary prints when a run stopped on a signal: `message` (the error line, which holds
/// the [`Interrupted`] text: what was saved) and how to resume.
pub fn resume_note(message: &str) -> String {
    resume_note_for(message, &resume_command())
}

/// [`resume_note`] with the command that resumes, where it is not the same command line.
pub fn resume_note_for(message: &str, command: &str) -> String {
    format!("{message}\nresume with (finished work is skipped):\n  {command}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_token_reports_its_signal() {
        let cancel = Cancel::manual();
        assert!(cancel.check(|| unreachable!()).is_ok());
        cancel.clone().cancel(Signal::Terminate);
        let err = cancel.check(|| "3 shards saved".into()).unwrap_err();
        assert_eq!(err.signal, Signal::Terminate);
        assert_eq!(err.to_string(), "interrupted by SIGTERM; 3 shards saved");
        assert_eq!(Signal::Interrupt.exit_code(), 130);
        assert_eq!(Signal::Terminate.exit_code(), 143);
        assert!(!Cancel::never().is_set());
    }

    #[test]
    fn quoting_keeps_words_whole() {
        assert_eq!(shell_quote("--out=corpus/a"), "--out=corpus/a");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
