//! A local Azure Blob Storage emulator for tests: Azurite's blob service (installed from npm into
//! `$HOME/.cache/wit/azurite` by `scripts/install-azurite.sh`, which `make test` runs) on 127.0.0.1
//! at a free port, in-memory, killed when dropped. [`Azurite::env`] is what a `wit` process needs
//! (object_store's emulator mode); the Python client azure-storage-blob creates containers, lists
//! and downloads, so the test reads the store with a client other than wit's own.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::run_python;

/// Azurite's well-known development account (documented by Microsoft; not a secret).
const ACCOUNT: &str = "devstoreaccount1";
const KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// A running Azurite blob service.
pub struct Azurite {
    child: Child,
    pub port: u16,
    /// Azurite's working folder (it keeps nothing on disk in memory mode, but may write logs).
    _dir: tempfile::TempDir,
}

fn azurite_blob() -> PathBuf {
    let dir = std::env::var_os("WIT_AZURITE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/wit/azurite"));
    dir.join("node_modules/.bin/azurite-blob")
}

impl Azurite {
    /// Starts the emulator and waits until it answers.
    pub fn start() -> Azurite {
        let binary = azurite_blob();
        assert!(binary.exists(), "{} not found: run `make azurite` (make test does)", binary.display());
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let dir = tempfile::tempdir().expect("a temp folder");
        let child = Command::new(&binary)
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string(), "--inMemoryPersistence"])
            .args(["--skipApiVersionCheck", "--silent"])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("azurite-blob starts");
        let mut server = Azurite { child, port, _dir: dir };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("azurite-blob exited ({status}) before listening on {addr}: run it by hand to see why");
            }
            assert!(Instant::now() < deadline, "azurite-blob did not listen on {addr} within 60 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    /// The environment a `wit` process (object_store's `from_env`, emulator mode) needs.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AZURE_STORAGE_USE_EMULATOR".into(), "true".into()),
            ("AZURITE_BLOB_STORAGE_URL".into(), format!("http://127.0.0.1:{}", self.port)),
        ]
    }

    fn client(&self, body: &str, args: &[&str]) -> String {
        let script = format!(
            "import os, sys\n\
             from azure.storage.blob import BlobServiceClient\n\
             service = BlobServiceClient.from_connection_string('DefaultEndpointsProtocol=http;AccountName={ACCOUNT};\
             AccountKey={KEY};BlobEndpoint=http://127.0.0.1:{}/{ACCOUNT};')\n{body}",
            self.port
        );
        run_python(&script, args)
    }

    pub fn create_container(&self, container: &str) {
        self.client("service.create_container(sys.argv[1])", &[container]);
    }

    /// Uploads a local file to `container/name`.
    pub fn put_file(&self, container: &str, name: &str, file: &Path) {
        self.client(
            "with open(sys.argv[3], 'rb') as f:\n\
             \x20   service.get_blob_client(sys.argv[1], sys.argv[2]).upload_blob(f, overwrite=True)",
            &[container, name, file.to_str().expect("utf-8")],
        );
    }

    /// Every blob under `prefix`: (name, size), sorted.
    pub fn list(&self, container: &str, prefix: &str) -> Vec<(String, u64)> {
        let out = self.client(
            "for b in service.get_container_client(sys.argv[1]).list_blobs(name_starts_with=sys.argv[2]):\n\
             \x20   print(b.name, b.size)",
            &[container, prefix],
        );
        crate::parse_listing(&out)
    }

    /// Downloads every blob under `prefix` into `dir` (names relative to the prefix).
    pub fn download(&self, container: &str, prefix: &str, dir: &Path) {
        self.client(
            "c = service.get_container_client(sys.argv[1])\n\
             for b in c.list_blobs(name_starts_with=sys.argv[2]):\n\
             \x20   local = os.path.join(sys.argv[3], b.name[len(sys.argv[2]):].lstrip('/'))\n\
             \x20   os.makedirs(os.path.dirname(local), exist_ok=True)\n\
             \x20   with open(local, 'wb') as f:\n\
             \x20       f.write(c.download_blob(b.name).readall())",
            &[container, prefix, dir.to_str().expect("utf-8")],
        );
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
