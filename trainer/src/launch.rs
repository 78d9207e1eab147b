//! A local launcher: N copies of a command on this machine as one data-parallel job, each with
//! the environment torchrun gives its workers (`RANK`, `WORLD_SIZE`, `LOCAL_RANK`,
//! `LOCAL_WORLD_SIZE`, `MASTER_ADDR=127.0.0.1`, `MASTER_PORT`). When one rank fails, the others
//! get `grace` to fail on their own (their next collective notices) and are then killed, so the
//! launcher never hangs on a dead job.

use std::path::Path;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("starting rank {rank} ({program}): {source}")]
    Spawn { rank: usize, program: String, source: std::io::Error },
    #[error("waiting for rank {rank}: {source}")]
    Wait { rank: usize, source: std::io::Error },
    #[error("rank {rank} of {world} failed ({status}); {others}")]
    Failed { rank: usize, world: usize, status: ExitStatus, others: String },
    #[error("no free port on 127.0.0.1 for the rendezvous: {0}")]
    Port(std::io::Error),
}

/// A free TCP port on the loopback interface (for the rendezvous store).
pub fn free_port() -> Result<u16, LaunchError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(LaunchError::Port)?;
    Ok(listener.local_addr().map_err(LaunchError::Port)?.port())
}

/// Runs `program args…` as `nproc` ranks; Ok when every rank exits successfully.
pub fn launch_local(
    program: &Path,
    args: &[String],
    nproc: usize,
    port: Option<u16>,
    grace: Duration,
) -> Result<(), LaunchError> {
    let port = match port {
        Some(port) => port,
        None => free_port()?,
    };
    let mut children: Vec<Option<Child>> = Vec::with_capacity(nproc);
    for rank in 0..nproc {
        let child = Command::new(program)
            .args(args)
            .env("RANK", rank.to_string())
            .env("WORLD_SIZE", nproc.to_string())
            .env("LOCAL_RANK", rank.to_string())
            .env("LOCAL_WORLD_SIZE", nproc.to_string())
            .env("MASTER_ADDR", "127.0.0.1")
            .env("MASTER_PORT", port.to_string())
            .spawn();
        match child {
            Ok(child) => children.push(Some(child)),
            Err(source) => {
                kill_all(&mut children);
                return Err(LaunchError::Spawn { rank, program: program.display().to_string(), source });
            }
        }
    }
    let mut failure: Option<(usize, ExitStatus, Instant)> = None;
    loop {
        let mut running = 0;
        for (rank, slot) in children.iter_mut().enumerate() {
            let Some(child) = slot else { continue };
            match child.try_wait() {
                Ok(Some(status)) => {
                    *slot = None;
                    if !status.success() && failure.is_none() {
                        failure = Some((rank, status, Instant::now()));
                    }
                }
                Ok(None) => running += 1,
                Err(source) => {
                    kill_all(&mut children);
                    return Err(LaunchError::Wait { rank, source });
                }
            }
        }
        if running == 0 {
            break;
        }
        if let Some((_, _, at)) = failure {
            if at.elapsed() > grace {
                kill_all(&mut children);
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    match failure {
        None => Ok(()),
        Some((rank, status, _)) => {
            let others = format!("the other ranks were stopped or failed within {} s", grace.as_secs());
            Err(LaunchError::Failed { rank, world: nproc, status, others })
        }
    }
}

fn kill_all(children: &mut [Option<Child>]) {
    for child in children.iter_mut().flatten() {
        let _ = child.kill();
        let _ = child.wait();
    }
}
