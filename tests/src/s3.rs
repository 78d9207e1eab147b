//! A local S3-compatible server for tests: moto's server mode (`moto_server`, installed into the
//! project venv by `scripts/install-s3-server.sh`, which `make test` runs) on 127.0.0.1 at a free
//! port, killed when dropped. [`S3Server::env`] is what a `wit` process needs to reach it
//! (`AWS_ENDPOINT`, `AWS_ALLOW_HTTP`, dummy credentials); boto3 (a moto dependency) lists and
//! downloads objects so tests read the store with a client other than wit's own.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{run_python, venv_python};

/// A running moto S3 server.
pub struct S3Server {
    child: Child,
    pub port: u16,
}

impl S3Server {
    /// Starts the server and waits until it answers.
    pub fn start() -> S3Server {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        // `python -m moto.server` rather than the `moto_server` script: a script's shebang holds the
        // path the venv had when it was installed, which breaks if the venv is reached another way.
        let python = venv_python();
        assert!(python.exists(), "{} not found: run `make setup` (make test does)", python.display());
        let child = Command::new(&python)
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let server = S3Server { child, port };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not listen on {addr} within 60 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The environment a `wit` process (object_store's `from_env`) needs for this server.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT", self.endpoint()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    fn boto(&self, body: &str, args: &[&str]) -> String {
        let script = format!(
            "import sys, boto3\n\
             s3 = boto3.client('s3', endpoint_url='{}', aws_access_key_id='testing',\n\
                 aws_secret_access_key='testing', region_name='us-east-1')\n{body}",
            self.endpoint()
        );
        run_python(&script, args)
    }

    pub fn create_bucket(&self, bucket: &str) {
        self.boto("s3.create_bucket(Bucket=sys.argv[1])", &[bucket]);
    }

    /// Uploads a local file to `bucket/key`.
    pub fn put_file(&self, bucket: &str, key: &str, file: &Path) {
        self.boto(
            "s3.upload_file(sys.argv[3], sys.argv[1], sys.argv[2])",
            &[bucket, key, file.to_str().expect("utf-8")],
        );
    }

    /// Every object under `prefix`: (key, size), sorted.
    pub fn list(&self, bucket: &str, prefix: &str) -> Vec<(String, u64)> {
        let out = self.boto(
            "for page in s3.get_paginator('list_objects_v2').paginate(Bucket=sys.argv[1], Prefix=sys.argv[2]):\n\
             \x20   for o in page.get('Contents', []):\n\
             \x20       print(o['Key'], o['Size'])",
            &[bucket, prefix],
        );
        crate::parse_listing(&out)
    }

    /// The keys under `prefix` (first 1000), read with one plain HTTP request: quick enough to poll.
    pub fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        use std::io::{Read, Write};
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else { return Vec::new() };
        let request =
            format!("GET /{bucket}?list-type=2&prefix={prefix} HTTP/1.0\r\nHost: 127.0.0.1:{}\r\n\r\n", self.port);
        let mut body = String::new();
        if stream.write_all(request.as_bytes()).is_err() || stream.read_to_string(&mut body).is_err() {
            return Vec::new();
        }
        body.split("<Key>")
            .skip(1)
            .filter_map(|part| part.split_once("</Key>"))
            .map(|(key, _)| key.to_string())
            .collect()
    }

    /// Checks that every manifest under `prefix` lists only whole objects (see
    /// [`crate::pipeline::manifests_point_at_whole_objects`]); `scratch` holds the downloaded copy.
    pub fn manifests_point_at_whole_objects(&self, bucket: &str, prefix: &str, scratch: &Path) -> usize {
        let objects = self.list(bucket, prefix);
        let back = scratch.join(format!("manifests-{}-{}", prefix.replace('/', "_"), objects.len()));
        self.download(bucket, prefix, &back);
        crate::pipeline::manifests_point_at_whole_objects(&objects, prefix, &back)
    }

    /// Downloads every object under `prefix` into `dir` (keys relative to the prefix).
    pub fn download(&self, bucket: &str, prefix: &str, dir: &Path) {
        self.boto(
            "import os\n\
             for page in s3.get_paginator('list_objects_v2').paginate(Bucket=sys.argv[1], Prefix=sys.argv[2]):\n\
             \x20   for o in page.get('Contents', []):\n\
             \x20       local = os.path.join(sys.argv[3], o['Key'][len(sys.argv[2]):].lstrip('/'))\n\
             \x20       os.makedirs(os.path.dirname(local), exist_ok=True)\n\
             \x20       s3.download_file(sys.argv[1], o['Key'], local)",
            &[bucket, prefix, dir.to_str().expect("utf-8")],
        );
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
