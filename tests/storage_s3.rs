//! Object storage end to end, against a local S3 server (moto, started here on 127.0.0.1): a build
//! whose dump is read over http://, whose WAT is read from s3:// and whose every stage writes to
//! s3:// (two ranks and the merges, each process with its own scratch folder as on separate
//! machines) gives what the local build gives, read back with boto3, and wit-train trains from
//! it, and both exports go from the store into the store by two ranks, equal to local exports;
//! and a fetch killed with SIGKILL while it uploads leaves no manifest entry without its whole object,
//! and its rerun completes the corpus.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wit_tests::loopback::{LoopbackServer, Reply};
use wit_tests::pipeline::{
    assert_read_back_equals_local, corpus_outcome, local_demo_build, outcome, path_str, wit_ok, Pipeline,
};
use wit_tests::s3::S3Server;
use wit_tests::workspace_binary;

const BUCKET: &str = "wit-test";

#[test]
fn a_build_reads_http_and_s3_and_writes_s3_and_survives_a_killed_upload() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = S3Server::start();
    s3.create_bucket(BUCKET);
    let (_web, wat, local) = local_demo_build(dir.path(), 11);
    s3.put_file(BUCKET, "inputs/web.wat.gz", &wat);
    let files = LoopbackServer::start([(
        "/dumps/enwiki.xml.bz2".to_string(),
        Reply::ok("application/octet-stream", std::fs::read(&local.dump).unwrap()),
    )]);
    let mut env = s3.env();
    env.push(("WIT_SCRATCH".into(), path_str(&dir.path().join("scratch"))));
    env.push(("WIT_SYNC_INTERVAL_SECS".into(), "0.2".into()));

    let remote = Pipeline {
        dump: files.url("/dumps/enwiki.xml.bz2"),
        wordnet: local.wordnet.clone(),
        inputs: vec![format!("s3://{BUCKET}/inputs/web.wat.gz")],
        root: format!("s3://{BUCKET}/build"),
        env: env.clone(),
    };
    // Every rank and merge with its own scratch folder, as on separate machines: manifests
    // record the URLs, not the local copies, so the merges and resumes still match up.
    remote.run_apart(2, &dir.path().join("scratches"));

    // Read the store back with boto3: no temporary object is left, the folders verify, and the
    // build equals the local one.
    let objects = s3.list(BUCKET, "build/");
    let back = dir.path().join("back");
    s3.download(BUCKET, "build", &back);
    assert_read_back_equals_local(&objects, "build", &back, &dir.path().join("local"));
    let expected = outcome(&dir.path().join("local"));

    // Build then train from the store: wit-train reads the corpus and queries folders from s3://.
    let train_dir = dir.path().join("train");
    let train = Command::new(workspace_binary("wit-train"))
        .args(["train", "--data", &remote.folder("corpus"), "--queries", &remote.folder("queries")])
        .args(["--config", "tiny", "--device", "cpu", "--batch", "8", "--steps", "3", "--workers", "1"])
        .args(["-o", &path_str(&train_dir)])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .unwrap();
    let train_text = String::from_utf8_lossy(&train.stdout).to_string() + &String::from_utf8_lossy(&train.stderr);
    assert!(train.status.success() && train_text.contains("steps 0..3"), "{train_text}");

    // Exports straight from the store into the store, by two ranks: the files equal, byte for
    // byte, what the same exports write locally from the downloaded corpus.
    for (format, extra) in [("webdataset", &["--samples-per-tar", "4"][..]), ("hf", &[][..])] {
        let local_out = dir.path().join(format!("{format}-local"));
        let mut args = vec!["export".to_string(), format.into(), path_str(&back.join("corpus")), "-o".into()];
        args.push(path_str(&local_out));
        args.extend(extra.iter().map(|s| s.to_string()));
        wit_ok(&args, &[]);
        for rank in ["0", "1"] {
            let mut args = vec!["export".to_string(), format.into(), remote.folder("corpus"), "-o".into()];
            args.push(format!("s3://{BUCKET}/exports/{format}"));
            args.extend(extra.iter().map(|s| s.to_string()));
            args.extend(["--rank".into(), rank.into(), "--world-size".into(), "2".into()]);
            wit_ok(&args, &env);
        }
        let stored = dir.path().join(format!("{format}-back"));
        s3.download(BUCKET, &format!("exports/{format}"), &stored);
        let files = |root: &std::path::Path| -> Vec<(String, Vec<u8>)> {
            let mut files: Vec<(String, Vec<u8>)> = walk(root)
                .into_iter()
                .filter(|(name, _)| !name.ends_with("_export.json"))
                .map(|(name, path)| (name, std::fs::read(path).unwrap()))
                .collect();
            files.sort();
            files
        };
        let (expected, got) = (files(&local_out), files(&stored));
        let names = |files: &[(String, Vec<u8>)]| files.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        let data = names(&expected).into_iter().filter(|n| n.ends_with(".tar") || n.ends_with(".parquet")).count();
        assert!(data >= 2, "{format}: the local export wrote {:?}", names(&expected));
        assert_eq!(names(&got), names(&expected), "{format}: the stored export's files");
        for ((name, want), (_, have)) in expected.iter().zip(&got) {
            assert!(want == have, "{format}: {name} differs from the local export's");
        }
    }

    // A fetch into a fresh s3:// folder, killed (SIGKILL) once it has published something.
    let curated = path_str(&dir.path().join("local/curated"));
    let args: Vec<String> = [
        "fetch",
        &curated,
        "-o",
        &format!("s3://{BUCKET}/crash/corpus"),
        "--image-size",
        "32",
        "--resize-mode",
        "center_crop",
        "--per-host-delay-ms",
        "100",
        "--per-host-concurrency",
        "1",
        "--allow-private-networks",
        "--shard-rows",
        "3",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut crash_env = env.clone();
    crash_env.push(("WIT_SYNC_INTERVAL_SECS".into(), "0.05".into()));
    let mut child = Command::new(workspace_binary("wit"))
        .args(&args)
        .envs(crash_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        // Two shards up: the publish of the first (manifest included) has finished.
        let published = s3.keys(BUCKET, "crash/corpus/data/shard-00001.parquet").len() == 1;
        if published || child.try_wait().unwrap().is_some() || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let killed = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    assert!(killed, "the fetch (48 images, 100 ms apart) ended before it published a shard");
    s3.manifests_point_at_whole_objects(BUCKET, "crash", dir.path());
    // The rerun resumes from what was published and completes the corpus.
    wit_ok(&args, &crash_env);
    s3.manifests_point_at_whole_objects(BUCKET, "crash", dir.path());
    let crash_back = dir.path().join("crash-back");
    s3.download(BUCKET, "crash/corpus", &crash_back);
    wit_ok(&["verify".into(), path_str(&crash_back)], &[]);
    assert_eq!(corpus_outcome(&crash_back), expected.corpus);
}

/// Every file under `root`, as (`/`-separated relative name, path).
fn walk(root: &std::path::Path) -> Vec<(String, std::path::PathBuf)> {
    let mut out = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let name = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
                out.push((name, path));
            }
        }
    }
    out
}
