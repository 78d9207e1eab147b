//! Killing `wit` with SIGKILL at seeded random moments, for the crash-and-resume tests.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::workspace_binary;

/// splitmix64: small, seeded, good enough to pick kill moments.
pub struct Rng(u64);

impl Rng {
    pub fn seeded(stage: &str) -> Rng {
        let seed = std::env::var("WIT_RESUME_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
        });
        eprintln!("{stage}: kill delays from seed {seed} (rerun with WIT_RESUME_SEED={seed})");
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A delay in [5% of `span`, 95% of `span`).
    pub fn delay_within(&mut self, span: Duration) -> Duration {
        let span_us = span.as_micros().max(1) as u64;
        let low = span_us / 20;
        Duration::from_micros(low + self.next_u64() % (span_us - low - span_us / 20).max(1))
    }
}

/// Runs `wit args` to completion; returns how long it took.
pub fn run_to_end(args: &[String]) -> Duration {
    let started = Instant::now();
    let output = Command::new(workspace_binary("wit")).args(args).output().expect("wit runs");
    assert!(output.status.success(), "wit {args:?} failed:\n{}", String::from_utf8_lossy(&output.stderr));
    started.elapsed()
}

/// Starts `wit args` and kills it (SIGKILL) after `delay`; says whether it was still running.
pub fn run_and_kill(args: &[String], delay: Duration) -> bool {
    let mut child = Command::new(workspace_binary("wit"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("wit starts");
    std::thread::sleep(delay);
    let running = child.try_wait().expect("wait on wit").is_none();
    child.kill().expect("SIGKILL"); // std's kill is SIGKILL on Unix
    child.wait().expect("reap wit");
    running
}

/// Copies a folder tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    let Ok(entries) = std::fs::read_dir(from) else { return };
    for entry in entries {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
