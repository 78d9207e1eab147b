//! Finds the torch libraries of the project's virtual environment (or of `WIT_TORCH_PYTHON`, or of
//! the `python3` on PATH) and makes every binary and test find them at run time without
//! LD_LIBRARY_PATH (an rpath). It also keeps libtorch_cuda.so as a NEEDED library: rustc links with
//! --as-needed, which would otherwise drop it, and then CUDA is never detected on a GPU machine.
//! On a GPU machine, LD_LIBRARY_PATH pointing at that machine's torch still takes precedence.
//!
//! It also compiles the c10d shim (`csrc/`: process groups, all-reduce, all-gather, broadcast,
//! barrier over torch's own ProcessGroupGloo / ProcessGroupNCCL) against the same torch's headers.
//! Gloo's headers, which ProcessGroupGloo.hpp includes, come from Debian's libgloo-dev unpacked into
//! the venv by `scripts/install-c10d-headers.sh` (or `WIT_GLOO_INCLUDE`); the shim only calls
//! ProcessGroupGloo's exported constructor and the c10d::Backend virtual interface, so no Gloo class
//! layout crosses from those headers into torch's library. NCCL is compiled in when the torch is a
//! CUDA build and the CUDA/NCCL headers of its wheels are there; otherwise asking for NCCL is an error.

use std::path::{Path, PathBuf};
use std::process::Command;

const PRINT_TORCH_LIB: &str = "import os, sys, torch; d = os.path.dirname(torch.__file__); \
    print(os.path.join(d, 'lib')); print(os.path.join(d, 'include')); print(os.path.dirname(d)); print(sys.prefix)";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=WIT_TORCH_PYTHON");
    let python = python_interpreter();
    println!("cargo:rerun-if-changed={}", python.display());
    let torch = match torch_dirs(&python) {
        Ok(dirs) => dirs,
        Err(message) => {
            eprintln!("wit-trainer: cannot find the torch libraries: {message}\nRun `make setup` first.");
            std::process::exit(1);
        }
    };
    let lib_dir = torch.lib.clone();
    let lib = lib_dir.display();
    println!("cargo:rustc-link-search=native={lib}");
    if lib_dir.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    build_c10d_shim(&torch);
}

struct TorchDirs {
    lib: PathBuf,
    include: PathBuf,
    site_packages: PathBuf,
    prefix: PathBuf,
}

fn build_c10d_shim(torch: &TorchDirs) {
    for file in ["csrc/c10d_shim.cpp", "csrc/c10d_nccl.cpp", "csrc/c10d_shim.h"] {
        println!("cargo:rerun-if-changed={file}");
    }
    println!("cargo:rerun-if-env-changed=WIT_GLOO_INCLUDE");
    let gloo = std::env::var_os("WIT_GLOO_INCLUDE")
        .map(PathBuf::from)
        .unwrap_or_else(|| torch.prefix.join("wit-c10d").join("gloo").join("usr").join("include"));
    if !gloo.join("gloo").join("context.h").is_file() {
        eprintln!(
            "wit-trainer: no Gloo headers in {} (the c10d shim needs them): run `make setup` \
             (scripts/install-c10d-headers.sh) or set WIT_GLOO_INCLUDE",
            gloo.display()
        );
        std::process::exit(1);
    }
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .std("c++17")
        .flag("-D_GLIBCXX_USE_CXX11_ABI=1")
        .flag("-Wno-unused-parameter")
        .flag_if_supported("-Wno-interference-size")
        .include(&torch.include)
        .include(torch.include.join("torch").join("csrc").join("api").join("include"))
        .define("USE_C10D_GLOO", None)
        .include(&gloo)
        .file("csrc/c10d_shim.cpp")
        .file("csrc/c10d_nccl.cpp");
    // NCCL: a CUDA torch, NCCL's header from the nvidia-nccl wheel, the CUDA headers of its release.
    let nvidia = torch.site_packages.join("nvidia");
    let nccl = nvidia.join("nccl").join("include");
    let cuda = std::fs::read_dir(&nvidia)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("include"))
        .find(|dir| dir.join("cuda_runtime_api.h").is_file());
    let has_cuda_torch = torch.lib.join("libtorch_cuda.so").exists();
    match cuda {
        Some(cuda)
            if has_cuda_torch
                && nccl.join("nccl.h").is_file()
                && cuda.join("crt").join("host_config.h").is_file()
                && cuda.join("nv").join("target").is_file() =>
        {
            build.define("USE_C10D_NCCL", None).include(&cuda).include(&nccl);
        }
        _ if has_cuda_torch => println!(
            "cargo:warning=wit-trainer: building the c10d shim without NCCL (CUDA/NCCL headers missing under {}; \
             run scripts/install-c10d-headers.sh)",
            nvidia.display()
        ),
        _ => {}
    }
    build.compile("wit_c10d");
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

fn torch_dirs(python: &Path) -> Result<TorchDirs, String> {
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
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let mut lines = text.lines().map(|line| PathBuf::from(line.trim()));
    let mut next = || {
        let dir = lines.next().ok_or_else(|| format!("{} printed too little: {text:?}", python.display()))?;
        dir.canonicalize().map_err(|e| format!("{}: {e}", dir.display()))
    };
    Ok(TorchDirs { lib: next()?, include: next()?, site_packages: next()?, prefix: next()? })
}
