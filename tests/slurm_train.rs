//! Data-parallel `wit-train` under Slurm: the README's sbatch script (2 tasks, `srun wit-train train`,
//! the ranks reading SLURM_PROCID / SLURM_NTASKS and meeting at SLURM_LAUNCH_NODE_IPADDR) submitted to
//! a one-node cluster of the test's own (tests/src/slurm.rs), with its folders filled in; the job
//! trains one model over Gloo and rank 0 writes a checkpoint of world size 2.

use std::process::Command;

use wit_tests::slurm::SlurmCluster;
use wit_tests::workspace_binary;

/// The README's Slurm example (the fenced block that starts with `#!/bin/bash` and runs `srun wit-train`).
fn readme_script() -> String {
    let readme = std::fs::read_to_string(wit_tests::workspace_root().join("README.md")).unwrap();
    let start =
        readme.find("```\n#!/bin/bash\n#SBATCH --job-name=wit-train").expect("the README's wit-train sbatch example");
    let body = &readme[start + 4..];
    body[..body.find("```").unwrap()].to_owned()
}

#[test]
fn the_readme_sbatch_script_trains_one_model_on_two_tasks() {
    let Some(cluster) = SlurmCluster::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let wit_train = workspace_binary("wit-train");
    let shapes = dir.path().join("shapes");
    let made = Command::new(&wit_train)
        .args(["shapes", "-o", shapes.to_str().unwrap(), "--rows", "16", "--size", "24"])
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let out = dir.path().join("run");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let script = readme_script()
        .replace("srun wit-train", &format!("srun {}", wit_train.display()))
        .replace("CORPUS_DIR", shapes.join("corpus").to_str().unwrap())
        .replace("OUT_DIR", out.to_str().unwrap())
        .replace("MASTER_PORT=29500", &format!("MASTER_PORT={port}"));
    let path = dir.path().join("train.sbatch");
    std::fs::write(&path, &script).unwrap();
    let output = cluster
        .command("sbatch")
        .args(["--wait", "--output", dir.path().join("job.log").to_str().unwrap()])
        .arg(&path)
        .env_remove("LD_LIBRARY_PATH")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let log = std::fs::read_to_string(dir.path().join("job.log")).unwrap_or_default();
    assert!(
        output.status.success(),
        "sbatch --wait failed: {}\n{}\njob log:\n{log}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        cluster.logs()
    );
    // Both tasks trained (each prints its summary line) and rank 0 wrote the checkpoint.
    assert_eq!(log.matches("steps 0..3").count(), 2, "{log}");
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("checkpoints/step-00000003/state.json")).unwrap()).unwrap();
    assert_eq!(state["world_size"], 2, "{state}");
    assert_eq!(state["samples_seen"], 24, "{state}");
}
