//! Finds the torch libraries of the project's virtual environment (or of `WIT_TORCH_PYTHON`, or of
//! the `python3` on PATH) and makes every binary and test find them at run time without
//! LD_LIBRARY_PATH (an rpath). It also keeps libtorch_cuda.so as a NEEDED library: rustc links with
//! --as-needed, which would otherwise drop it, and then CUDA is never detected on a GPU machine.
//! On a GPU machine, LD_LIBRARY_PATH pointing at that machine's torch still takes precedence.

use std::path::{Path, PathBuf};
use std::process::Command;

const PRINT_TORCH_LIB: &str = "import os, torch; print(os.path.join(os.path.dirname(torch.__file__), 'lib'))";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=WIT_TORCH_PYTHON");
    let python = python_interpreter();
    println!("cargo:rerun-if-changed={}", python.display());
    let lib_dir = match torch_lib_dir(&python) {
        Ok(dir) => dir,
        Err(message) => {
            eprintln!("wit-trainer: cannot find the torch libraries: {message}\nRun `make setup` first.");
            std::process::exit(1);
        }
    };
    let lib = lib_dir.display();
    println!("cargo:rustc-link-search=native={lib}");
    if lib_dir.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
}

/// The interpreter whose torch we link: WIT_TORCH_PYTHON, else the workspace's `.venv`, else `python3`.
fn python_interpreter() -> PathBuf {
    if let Some(python) = std::env::var_os("WIT_TORCH_PYTHON") {
        return PathBuf::from(python);
    }
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let venv_python = manifest_dir.join("..").join(".venv").join("bin").join("python");
    if venv_python.exists() {
        return venv_python;
    }
    PathBuf::from("python3")
}

fn torch_lib_dir(python: &Path) -> Result<PathBuf, String> {
    let output = Command::new(python)
        .args(["-c", PRINT_TORCH_LIB])
        .output()
        .map_err(|e| format!("running {}: {e}", python.display()))?;
    if !output.status.success() {
        return Err(format!(
            "{} could not import torch: {}",
            python.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    dir.canonicalize().map_err(|e| format!("{}: {e}", dir.display()))
}
