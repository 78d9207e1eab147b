//! The local executor: every step in plan order on this machine, the ranks of an array step one
//! after another, through a caller-given runner (the `wit` binary runs each step in-process).

use crate::error::{BuildError, Result};
use crate::plan::{Plan, Step};

/// Runs every step of `plan` in order; `run_step(step, rank, argv)` runs one rank and says whether
/// it succeeded. Stops at the first failure (complete steps skip themselves when rerun).
pub fn run_local<F>(plan: &Plan, mut run_step: F) -> Result<()>
where
    F: FnMut(&Step, usize, &[String]) -> std::result::Result<bool, String>,
{
    for step in &plan.steps {
        for rank in 0..step.ranks {
            let argv = step.argv(rank);
            match run_step(step, rank, &argv) {
                Ok(true) => {}
                Ok(false) => {
                    return Err(BuildError::Step {
                        step: step.name.clone(),
                        problem: format!("rank {rank} failed; fix it and rerun: complete stages are skipped"),
                    })
                }
                Err(problem) => return Err(BuildError::Step { step: step.name.clone(), problem }),
            }
        }
    }
    Ok(())
}
