//! A one-node Slurm cluster of the test's own: munged with a key and socket in a temp folder, then
//! slurmctld and slurmd (foreground children, killed on drop) with a slurm.conf written here — one
//! node with this machine's CPUs, `proctrack/linuxproc`, `task/none`, state, spool, logs and pid
//! files under the temp folder, free ports on 127.0.0.1. Client commands get `SLURM_CONF`.
//! `make test` installs Debian's slurm-wlm and munge (scripts/install-slurm.sh).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The daemons of a running cluster; dropping it stops them.
pub struct SlurmCluster {
    dir: tempfile::TempDir,
    conf: PathBuf,
    children: Vec<(&'static str, Child)>,
}

fn installed(tool: &str) -> bool {
    Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().is_ok_and(|o| o.status.success())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port on 127.0.0.1").port()
}

fn short_hostname() -> String {
    let output = Command::new("hostname").arg("-s").output().expect("hostname runs");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

impl SlurmCluster {
    /// Starts the cluster and waits until its node is idle. `None` (after a loud SKIP line) only
    /// when Slurm or munge is not installed; any other problem fails the test.
    pub fn start() -> Option<SlurmCluster> {
        let missing: Vec<&str> = ["sbatch", "squeue", "sinfo", "scancel", "slurmctld", "slurmd", "munged"]
            .into_iter()
            .filter(|t| !installed(t))
            .collect();
        if !missing.is_empty() {
            eprintln!(
                "\n==========\nSKIP: Slurm test not run: {} not installed (run `make test`, which installs slurm-wlm \
                 and munge with scripts/install-slurm.sh)\n==========\n",
                missing.join(", ")
            );
            return None;
        }
        let dir = tempfile::Builder::new().prefix("wit-slurm-").tempdir().expect("temp folder");
        let path = dir.path().to_path_buf();
        for sub in ["state", "spool", "log"] {
            std::fs::create_dir_all(path.join(sub)).expect("cluster folders");
        }
        let key = path.join("munge.key");
        let mut bytes = vec![0u8; 1024];
        std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom").expect("/dev/urandom"), &mut bytes)
            .expect("random munge key");
        std::fs::write(&key, bytes).expect("munge key");
        set_mode(&key, 0o600);
        set_mode(&path, 0o700);
        let socket = path.join("munge.sock");
        let mut cluster = SlurmCluster { conf: path.join("slurm.conf"), dir, children: Vec::new() };
        let munged = Command::new("munged")
            .arg("-F")
            .arg("-f")
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--key-file={}", key.display()))
            .arg(format!("--pid-file={}", path.join("munged.pid").display()))
            .arg(format!("--log-file={}", path.join("log/munged.log").display()))
            .arg(format!("--seed-file={}", path.join("munged.seed").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("munged starts");
        cluster.children.push(("munged", munged));
        cluster.wait_for("munge socket", Duration::from_secs(20), || socket.exists());
        let host = short_hostname();
        let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let p = |name: &str| path.join(name).display().to_string();
        let conf = format!(
            "ClusterName=wittest\n\
             SlurmctldHost={host}(127.0.0.1)\n\
             SlurmUser=root\n\
             SlurmdUser=root\n\
             SlurmctldPort={ctld}\n\
             SlurmdPort={slurmd}\n\
             AuthType=auth/munge\n\
             AuthInfo=socket={socket}\n\
             CredType=cred/munge\n\
             StateSaveLocation={state}\n\
             SlurmdSpoolDir={spool}\n\
             SlurmctldPidFile={ctld_pid}\n\
             SlurmdPidFile={slurmd_pid}\n\
             SlurmctldLogFile={ctld_log}\n\
             SlurmdLogFile={slurmd_log}\n\
             ProctrackType=proctrack/linuxproc\n\
             TaskPlugin=task/none\n\
             SchedulerType=sched/builtin\n\
             SelectType=select/cons_tres\n\
             SelectTypeParameters=CR_CPU\n\
             ReturnToService=2\n\
             MpiDefault=none\n\
             JobAcctGatherType=jobacct_gather/none\n\
             AccountingStorageType=accounting_storage/none\n\
             MinJobAge=600\n\
             KillWait=5\n\
             NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=1000 State=UNKNOWN\n\
             PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n",
            ctld = free_port(),
            slurmd = free_port(),
            socket = socket.display(),
            state = p("state"),
            spool = p("spool"),
            ctld_pid = p("slurmctld.pid"),
            slurmd_pid = p("slurmd.pid"),
            ctld_log = p("log/slurmctld.log"),
            slurmd_log = p("log/slurmd.log"),
        );
        std::fs::write(&cluster.conf, conf).expect("slurm.conf");
        for (name, args) in [("slurmctld", vec!["-D", "-i"]), ("slurmd", vec!["-D", "-N", host.as_str()])] {
            let child = Command::new(name)
                .args(&args)
                .arg("-f")
                .arg(&cluster.conf)
                .env("SLURM_CONF", &cluster.conf)
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(path.join(format!("log/{name}.stderr"))).expect("log file"))
                .spawn()
                .unwrap_or_else(|e| panic!("{name} starts: {e}"));
            cluster.children.push((name, child));
        }
        let started = Instant::now();
        loop {
            let out = cluster.command("sinfo").args(["-h", "-o", "%t"]).output().expect("sinfo runs");
            let state = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if state == "idle" {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(90),
                "the test's Slurm node is not idle after 90 s (sinfo: {state:?}); logs:\n{}",
                cluster.logs()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        Some(cluster)
    }

    /// slurm.conf of this cluster (`SLURM_CONF` for client commands).
    pub fn conf(&self) -> &Path {
        &self.conf
    }

    /// A client command (`sbatch`, `squeue`, `wit build --slurm` …) pointed at this cluster.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        command.env("SLURM_CONF", &self.conf);
        command
    }

    /// The daemons' logs, for failure messages.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        for name in ["slurmctld.log", "slurmd.log", "slurmctld.stderr", "slurmd.stderr", "munged.log"] {
            let log = std::fs::read_to_string(self.dir.path().join("log").join(name)).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            text.push_str(&format!("--- {name}\n{}\n", tail.into_iter().rev().collect::<Vec<_>>().join("\n")));
        }
        text
    }

    fn wait_for(&mut self, what: &str, limit: Duration, ready: impl Fn() -> bool) {
        let started = Instant::now();
        while !ready() {
            assert!(started.elapsed() < limit, "{what} not ready after {limit:?}:\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for SlurmCluster {
    fn drop(&mut self) {
        // slurmd, then slurmctld, then munged: the reverse of the start.
        while let Some((_, mut child)) = self.children.pop() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}
