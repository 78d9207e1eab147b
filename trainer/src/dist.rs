//! Collective communication through PyTorch's own c10d (the engine behind `torch.distributed`):
//! a process group created from the torchrun / Slurm environment with a TCPStore rendezvous, over
//! Gloo for CPU tensors or NCCL for CUDA ones, and the four collectives data-parallel training
//! needs (all-reduce, all-gather, broadcast, barrier). The C++ side is `csrc/c10d_shim.cpp`,
//! compiled by the build script against the headers of the torch that tch links.
//!
//! Every collective waits at most the group's timeout: a rank that died or hangs makes the others
//! fail with [`DistError::Collective`] naming the operation, instead of waiting forever.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::time::Duration;

use tch::Tensor;

#[repr(C)]
struct WitGroup {
    _private: [u8; 0],
}

extern "C" {
    fn wit_c10d_new(
        backend: *const c_char,
        addr: *const c_char,
        port: c_int,
        rank: c_int,
        world: c_int,
        timeout_ms: i64,
        err: *mut c_char,
        err_len: usize,
    ) -> *mut WitGroup;
    fn wit_c10d_free(group: *mut WitGroup);
    fn wit_c10d_all_reduce_sum(group: *mut WitGroup, tensor: *mut c_void, err: *mut c_char, err_len: usize) -> c_int;
    fn wit_c10d_all_gather(
        group: *mut WitGroup,
        output: *mut c_void,
        input: *mut c_void,
        err: *mut c_char,
        err_len: usize,
    ) -> c_int;
    fn wit_c10d_broadcast(
        group: *mut WitGroup,
        tensor: *mut c_void,
        root: c_int,
        err: *mut c_char,
        err_len: usize,
    ) -> c_int;
    fn wit_c10d_barrier(group: *mut WitGroup, err: *mut c_char, err_len: usize) -> c_int;
    fn wit_c10d_has_nccl() -> c_int;
}

#[derive(Debug, thiserror::Error)]
pub enum DistError {
    #[error("distributed environment: {0}")]
    Env(String),
    #[error("rank {rank} of {world}: joining the {backend} process group at {addr}:{port} failed: {message}")]
    Init { backend: &'static str, addr: String, port: u16, rank: usize, world: usize, message: String },
    #[error(
        "rank {rank} of {world}: {op} failed (another rank died, or did not answer within {timeout_s} s): {message}"
    )]
    Collective { op: &'static str, rank: usize, world: usize, timeout_s: u64, message: String },
}

/// Which c10d backend carries the collectives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// CPU tensors (and a loopback test on one machine).
    Gloo,
    /// CUDA tensors.
    Nccl,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Gloo => "gloo",
            Backend::Nccl => "nccl",
        }
    }

    /// NCCL for a CUDA device, Gloo for the CPU (torch's own default choice).
    pub fn for_device(device: tch::Device) -> Self {
        if device.is_cuda() {
            Backend::Nccl
        } else {
            Backend::Gloo
        }
    }
}

/// Whether this build's shim includes NCCL (a CUDA torch with its headers at build time).
pub fn nccl_built() -> bool {
    // SAFETY: a plain function of the shim without arguments.
    unsafe { wit_c10d_has_nccl() != 0 }
}

/// Where this process sits in the job and where to meet the others, as torchrun or `srun` set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistEnv {
    pub rank: usize,
    pub world_size: usize,
    /// The rank among the processes on this machine (picks the GPU: `cuda:LOCAL_RANK`).
    pub local_rank: usize,
    pub master_addr: String,
    pub master_port: u16,
}

pub const DEFAULT_PORT: u16 = 29500;

impl DistEnv {
    /// Reads torchrun's variables (`RANK`, `WORLD_SIZE`, `LOCAL_RANK`, `MASTER_ADDR`,
    /// `MASTER_PORT`), else Slurm's (`SLURM_PROCID`, `SLURM_NTASKS`, `SLURM_LOCALID`, with
    /// `MASTER_ADDR` defaulting to `SLURM_LAUNCH_NODE_IPADDR`). None when neither names a rank.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Option<DistEnv>, DistError> {
        let number = |name: &str| -> Result<Option<usize>, DistError> {
            match var(name) {
                None => Ok(None),
                Some(text) => text
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| DistError::Env(format!("{name}={text:?} is not a non-negative integer"))),
            }
        };
        let (rank, world_size, local_rank) = match (number("RANK")?, number("WORLD_SIZE")?) {
            (Some(rank), Some(world)) => (rank, world, number("LOCAL_RANK")?.unwrap_or(0)),
            (Some(_), None) | (None, Some(_)) => {
                return Err(DistError::Env("RANK and WORLD_SIZE must be set together".into()))
            }
            (None, None) => match (number("SLURM_PROCID")?, number("SLURM_NTASKS")?) {
                (Some(rank), Some(world)) => (rank, world, number("SLURM_LOCALID")?.unwrap_or(0)),
                _ => return Ok(None),
            },
        };
        let master_addr =
            var("MASTER_ADDR").or_else(|| var("SLURM_LAUNCH_NODE_IPADDR")).unwrap_or_else(|| "127.0.0.1".to_owned());
        let master_port = match var("MASTER_PORT") {
            None => DEFAULT_PORT,
            Some(text) => {
                text.trim().parse().map_err(|_| DistError::Env(format!("MASTER_PORT={text:?} is not a port number")))?
            }
        };
        let env = DistEnv { rank, world_size, local_rank, master_addr, master_port };
        env.check()?;
        Ok(Some(env))
    }

    /// The environment's rank and world size overridden by `--rank` / `--world-size` flags; a
    /// world size above 1 from the flags alone meets at `MASTER_ADDR:MASTER_PORT` (default
    /// 127.0.0.1:29500).
    pub fn with_flags(
        env: Option<DistEnv>,
        rank: Option<usize>,
        world_size: Option<usize>,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<DistEnv>, DistError> {
        let mut env = match (env, world_size) {
            (Some(env), _) => env,
            (None, None | Some(0 | 1)) if rank.unwrap_or(0) == 0 => return Ok(None),
            (None, _) => DistEnv {
                rank: 0,
                world_size: 1,
                local_rank: 0,
                master_addr: var("MASTER_ADDR").unwrap_or_else(|| "127.0.0.1".to_owned()),
                master_port: match var("MASTER_PORT") {
                    None => DEFAULT_PORT,
                    Some(text) => text
                        .trim()
                        .parse()
                        .map_err(|_| DistError::Env(format!("MASTER_PORT={text:?} is not a port number")))?,
                },
            },
        };
        if let Some(rank) = rank {
            env.rank = rank;
            env.local_rank = rank;
        }
        if let Some(world) = world_size {
            env.world_size = world;
        }
        env.check()?;
        Ok(Some(env))
    }

    pub fn check(&self) -> Result<(), DistError> {
        if self.world_size == 0 || self.rank >= self.world_size {
            return Err(DistError::Env(format!("rank {} is not below world size {}", self.rank, self.world_size)));
        }
        Ok(())
    }
}

/// A c10d process group (one per process). Collectives block until every rank took part.
pub struct ProcessGroup {
    raw: *mut WitGroup,
    pub rank: usize,
    pub world_size: usize,
    pub backend: Backend,
    pub timeout: Duration,
}

// SAFETY: c10d process groups are used from any thread (torch.distributed does so); this wrapper
// is used by one thread at a time (`&self` calls are serialised by the training loop).
unsafe impl Send for ProcessGroup {}
unsafe impl Sync for ProcessGroup {}

impl std::fmt::Debug for ProcessGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessGroup")
            .field("rank", &self.rank)
            .field("world_size", &self.world_size)
            .field("backend", &self.backend)
            .finish()
    }
}

const ERR_LEN: usize = 4096;

fn message(buffer: &[u8]) -> String {
    let text = CStr::from_bytes_until_nul(buffer).map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    // c10d messages can span lines (exception context); one line reads better in a log.
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl ProcessGroup {
    /// Joins the group: rank 0 serves the TCPStore at `master_addr:master_port`, every rank
    /// connects (waiting up to `timeout` for the others), then the backend connects all pairs.
    pub fn new(env: &DistEnv, backend: Backend, timeout: Duration) -> Result<Self, DistError> {
        env.check()?;
        let init_error = |message: String| DistError::Init {
            backend: backend.name(),
            addr: env.master_addr.clone(),
            port: env.master_port,
            rank: env.rank,
            world: env.world_size,
            message,
        };
        let name = CString::new(backend.name()).expect("backend names have no NUL");
        let addr = CString::new(env.master_addr.as_str()).map_err(|_| init_error("MASTER_ADDR holds a NUL".into()))?;
        let mut err = vec![0u8; ERR_LEN];
        let timeout_ms = i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX);
        // SAFETY: valid C strings and an error buffer of ERR_LEN bytes.
        let raw = unsafe {
            wit_c10d_new(
                name.as_ptr(),
                addr.as_ptr(),
                c_int::from(env.master_port),
                env.rank as c_int,
                env.world_size as c_int,
                timeout_ms,
                err.as_mut_ptr().cast(),
                ERR_LEN,
            )
        };
        if raw.is_null() {
            return Err(init_error(message(&err)));
        }
        Ok(ProcessGroup { raw, rank: env.rank, world_size: env.world_size, backend, timeout })
    }

    fn call(&self, op: &'static str, f: impl FnOnce(*mut c_char) -> c_int) -> Result<(), DistError> {
        let mut err = vec![0u8; ERR_LEN];
        if f(err.as_mut_ptr().cast()) == 0 {
            return Ok(());
        }
        Err(DistError::Collective {
            op,
            rank: self.rank,
            world: self.world_size,
            timeout_s: self.timeout.as_secs(),
            message: message(&err),
        })
    }

    /// Sums `tensor` over all ranks, in place (it must be contiguous).
    pub fn all_reduce_sum(&self, tensor: &mut Tensor, op: &'static str) -> Result<(), DistError> {
        let ptr = tensor.as_mut_ptr().cast::<c_void>();
        // SAFETY: a live tensor and an error buffer of ERR_LEN bytes.
        self.call(op, |err| unsafe { wit_c10d_all_reduce_sum(self.raw, ptr, err, ERR_LEN) })
    }

    /// Every rank's `input` (same shape on all ranks) stacked along dimension 0, in rank order.
    pub fn all_gather(&self, input: &Tensor, op: &'static str) -> Result<Tensor, DistError> {
        let mut input = input.contiguous();
        let mut shape = input.size();
        if shape.is_empty() {
            input = input.view([1]);
            shape = vec![1];
        }
        shape[0] *= self.world_size as i64;
        let mut output = Tensor::empty(&shape, (input.kind(), input.device()));
        let (out_ptr, in_ptr) = (output.as_mut_ptr().cast::<c_void>(), input.as_mut_ptr().cast::<c_void>());
        // SAFETY: live tensors and an error buffer of ERR_LEN bytes.
        self.call(op, |err| unsafe { wit_c10d_all_gather(self.raw, out_ptr, in_ptr, err, ERR_LEN) })?;
        Ok(output)
    }

    /// Overwrites `tensor` with rank `root`'s, in place (it must be contiguous).
    pub fn broadcast(&self, tensor: &mut Tensor, root: usize, op: &'static str) -> Result<(), DistError> {
        let ptr = tensor.as_mut_ptr().cast::<c_void>();
        // SAFETY: a live tensor and an error buffer of ERR_LEN bytes.
        self.call(op, |err| unsafe { wit_c10d_broadcast(self.raw, ptr, root as c_int, err, ERR_LEN) })
    }

    /// Returns when every rank reached it.
    pub fn barrier(&self, op: &'static str) -> Result<(), DistError> {
        // SAFETY: an error buffer of ERR_LEN bytes.
        self.call(op, |err| unsafe { wit_c10d_barrier(self.raw, err, ERR_LEN) })
    }
}

/// Runs each collective once on `device` tensors (f32 and bf16) and checks the results: a quick
/// test of a c10d install (NCCL on a GPU machine). Returns one line per check.
pub fn self_check(group: &ProcessGroup, device: tch::Device) -> Result<Vec<String>, DistError> {
    let (rank, world) = (group.rank as f64, group.world_size as f64);
    let mut lines = Vec::new();
    let mut report = |name: &str, ok: bool, detail: String| -> Result<(), DistError> {
        lines.push(format!("{name}: {} ({detail})", if ok { "ok" } else { "WRONG" }));
        if ok {
            Ok(())
        } else {
            Err(DistError::Collective {
                op: "self-check",
                rank: group.rank,
                world: group.world_size,
                timeout_s: group.timeout.as_secs(),
                message: format!("{name} gave a wrong result: {detail}"),
            })
        }
    };
    let want = world * (world + 1.0) / 2.0;
    for kind in [tch::Kind::Float, tch::Kind::BFloat16] {
        let mut x = Tensor::ones([1024], (kind, device)) * (rank + 1.0);
        group.all_reduce_sum(&mut x, "all-reduce")?;
        let (lo, hi) = (x.min().double_value(&[]), x.max().double_value(&[]));
        report(&format!("all-reduce {kind:?}"), lo == want && hi == want, format!("sum {lo}..{hi}, want {want}"))?;
    }
    let gathered = group.all_gather(&Tensor::from_slice(&[rank as i64]).to_device(device), "all-gather")?;
    let ids = Vec::<i64>::try_from(gathered.to_device(tch::Device::Cpu)).unwrap_or_default();
    let expected: Vec<i64> = (0..group.world_size as i64).collect();
    report("all-gather", ids == expected, format!("{ids:?}"))?;
    let mut b = Tensor::from_slice(&[rank + 7.0]).to_device(device);
    group.broadcast(&mut b, 0, "broadcast")?;
    let got = b.double_value(&[0]);
    report("broadcast", got == 7.0, format!("{got}"))?;
    group.barrier("barrier")?;
    report("barrier", true, format!("{} ranks", group.world_size))?;
    Ok(lines)
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        // SAFETY: `raw` came from wit_c10d_new and is freed once.
        unsafe { wit_c10d_free(self.raw) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn reads_torchrun_and_slurm_variables() {
        assert_eq!(DistEnv::from_env(env(&[])).unwrap(), None);
        let torchrun = env(&[
            ("RANK", "3"),
            ("WORLD_SIZE", "8"),
            ("LOCAL_RANK", "1"),
            ("MASTER_ADDR", "10.0.0.5"),
            ("MASTER_PORT", "29600"),
        ]);
        let got = DistEnv::from_env(torchrun).unwrap().unwrap();
        assert_eq!(
            got,
            DistEnv { rank: 3, world_size: 8, local_rank: 1, master_addr: "10.0.0.5".into(), master_port: 29600 }
        );
        let slurm = env(&[
            ("SLURM_PROCID", "5"),
            ("SLURM_NTASKS", "16"),
            ("SLURM_LOCALID", "1"),
            ("SLURM_LAUNCH_NODE_IPADDR", "10.1.2.3"),
        ]);
        let got = DistEnv::from_env(slurm).unwrap().unwrap();
        assert_eq!((got.rank, got.world_size, got.local_rank), (5, 16, 1));
        assert_eq!((got.master_addr.as_str(), got.master_port), ("10.1.2.3", DEFAULT_PORT));
        let bad = DistEnv::from_env(env(&[("RANK", "2"), ("WORLD_SIZE", "2")])).unwrap_err().to_string();
        assert!(bad.contains("rank 2 is not below world size 2"), "{bad}");
        let bad = DistEnv::from_env(env(&[("RANK", "x"), ("WORLD_SIZE", "2")])).unwrap_err().to_string();
        assert!(bad.contains("RANK=\"x\""), "{bad}");
        let bad = DistEnv::from_env(env(&[("RANK", "0")])).unwrap_err().to_string();
        assert!(bad.contains("together"), "{bad}");
    }

    /// Two ranks as two threads of this process, over Gloo on loopback (the integration tests run
    /// real processes; this checks each collective's arithmetic).
    #[test]
    fn gloo_collectives_between_two_threads() {
        let port = free_port();
        let ranks: Vec<_> = (0..2usize)
            .map(|rank| {
                std::thread::spawn(move || {
                    let env = DistEnv {
                        rank,
                        world_size: 2,
                        local_rank: rank,
                        master_addr: "127.0.0.1".into(),
                        master_port: port,
                    };
                    let group = ProcessGroup::new(&env, Backend::Gloo, Duration::from_secs(30)).unwrap();
                    let mut x = Tensor::from_slice(&[1.0f32 + rank as f32, 10.0]);
                    group.all_reduce_sum(&mut x, "all-reduce").unwrap();
                    let gathered = group.all_gather(&Tensor::from_slice(&[rank as i64, 7]).view([1, 2]), "g").unwrap();
                    let mut b = Tensor::from_slice(&[rank as f64 + 5.0]);
                    group.broadcast(&mut b, 1, "broadcast").unwrap();
                    group.barrier("barrier").unwrap();
                    (Vec::<f32>::try_from(&x).unwrap(), Vec::<i64>::try_from(gathered.flatten(0, 1)).unwrap(), {
                        Vec::<f64>::try_from(&b).unwrap()
                    })
                })
            })
            .collect();
        for handle in ranks {
            let (sum, gathered, broadcast) = handle.join().unwrap();
            assert_eq!(sum, [3.0, 20.0]);
            assert_eq!(gathered, [0, 7, 1, 7]);
            assert_eq!(broadcast, [6.0]);
        }
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    }
}
