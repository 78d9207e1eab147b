//! libtorch is linked and trains, in the library and in the `wit-train` binary, on CPU.

use std::process::Command;

use tch::Device;
use wit_trainer::config::ClipConfig;
use wit_trainer::smoke::smoke;

#[test]
fn one_forward_backward_step_reaches_every_parameter_and_training_lowers_the_loss() {
    let report = smoke(&ClipConfig::TINY, Device::Cpu, 8, 25, 0);
    assert!(report.every_parameter_learns, "some parameter got no finite gradient");
    let first = report.losses[0];
    let last = *report.losses.last().unwrap();
    // Eight random pairs: chance loss is ln 8 ≈ 2.08; memorising them drives it well below.
    assert!((first - 8f64.ln()).abs() < 0.5, "initial loss {first}");
    assert!(last < first / 4.0, "loss {first} -> {last}: {:?}", report.losses);
    assert!(report.logit_scale <= wit_trainer::model::MAX_LOGIT_SCALE + 1e-6);
}

#[test]
fn the_binary_runs_without_ld_library_path() {
    let output = Command::new(env!("CARGO_BIN_EXE_wit-train"))
        .args(["smoke", "--device", "cpu", "--steps", "3"])
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .expect("wit-train runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("smoke: ok"), "{stdout}");
    assert!(stdout.contains("model tiny on Cpu"), "{stdout}");
}
