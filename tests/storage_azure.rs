//! Object storage on a second provider: the same ranked build as tests/storage_s3.rs with its WAT
//! input and every stage's output on `az://` — Azure Blob Storage, here the Azurite emulator started
//! by the test on 127.0.0.1 — two ranks and the merges, each process with its own scratch folder.
//! Read back with Microsoft's Python client, it equals the local build; every manifest entry is a
//! whole blob, no temporary blob is left, and `wit status az://…` reads the progress from the store.

use wit_tests::azure::Azurite;
use wit_tests::pipeline::{assert_read_back_equals_local, local_demo_build, wit_ok, Pipeline};

const CONTAINER: &str = "wit";

#[test]
fn a_ranked_build_on_azure_blob_storage_equals_the_local_build() {
    let dir = tempfile::tempdir().unwrap();
    let azure = Azurite::start();
    azure.create_container(CONTAINER);
    let (_web, wat, local) = local_demo_build(dir.path(), 12);
    azure.put_file(CONTAINER, "inputs/web.wat.gz", &wat);
    let mut env = azure.env();
    env.push(("WIT_SYNC_INTERVAL_SECS".into(), "0.2".into()));

    let remote = Pipeline {
        dump: local.dump.clone(),
        wordnet: local.wordnet.clone(),
        inputs: vec![format!("az://{CONTAINER}/inputs/web.wat.gz")],
        root: format!("az://{CONTAINER}/build"),
        env: env.clone(),
    };
    remote.run_apart(2, &dir.path().join("scratches"));

    let blobs = azure.list(CONTAINER, "build/");
    let back = dir.path().join("back");
    azure.download(CONTAINER, "build", &back);
    assert_read_back_equals_local(&blobs, "build", &back, &dir.path().join("local"));

    let status = wit_ok(&["status".into(), remote.root.clone(), "--json".into()], &env);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["world_size"], 2, "{status}");
    let steps = status["steps"].as_array().unwrap();
    assert!(steps.iter().any(|s| s["step"] == "fetch-merge"), "{status}");
    assert!(steps.iter().all(|s| s["ranks"].as_array().unwrap().iter().all(|r| r["state"] == "complete")), "{status}");
}
