//! img2dataset parity of `wit fetch` from URL lists: `--save-additional-columns` (a list's own
//! columns on the corpus and failure rows, typed, after a 1-rank and a 2-rank fetch from a CSV and
//! a Parquet list), `--keep-exif` (a real JPEG's EXIF as JSON, compared with PIL's reading) and the
//! per-shard stats files. The real binary against a loopback image server; read back with pyarrow.

use std::path::Path;

use wit_contract::pair_key;
use wit_fetch::output::key_hash;
use wit_tests::loopback::{jpeg, png, LoopbackServer, Reply};
use wit_tests::shard_stats::assert_shard_stats_match;
use wit_tests::{run_python, wit, workspace_root};

fn ok(args: &[&str]) -> String {
    let run = wit(args);
    assert!(run.status.success(), "wit {args:?}:\n{}", String::from_utf8_lossy(&run.stderr));
    String::from_utf8_lossy(&run.stdout).into_owned()
}

const NET: [&str; 6] = ["--allow-private-networks", "--ignore-robots", "--image-size", "16", "--concurrency", "1"];

/// A server of three images — `/dup.jpg` the same bytes as `/a.jpg` — and a missing one.
fn image_server() -> LoopbackServer {
    LoopbackServer::start([
        ("/a.jpg".to_string(), Reply::ok("image/jpeg", jpeg(40, 32, 1))),
        ("/dup.jpg".to_string(), Reply::ok("image/jpeg", jpeg(40, 32, 1))),
        ("/b.png".to_string(), Reply::ok("image/png", png(32, 40, 2))),
    ])
}

/// A caption for `url` (`stem` and a number) whose pair falls to `rank` of 2.
fn caption_on_rank(url: &str, stem: &str, rank: u64) -> String {
    (0..64).map(|i| format!("{stem} {i}")).find(|c| key_hash(&pair_key(url, c)) % 2 == rank).unwrap()
}

/// Rows (url, caption, LICENSE, similarity). `/a.jpg`'s pair falls to rank 0 of 2 and its copy's to
/// rank 1: the 2-rank run finds the copy across ranks and keeps `/a.jpg`, as one process reading
/// the list in order (one download at a time) does.
fn list_rows(server: &LoopbackServer) -> Vec<(String, String, Option<&'static str>, f64)> {
    let (a_url, dup_url) = (server.url("/a.jpg"), server.url("/dup.jpg"));
    let (a_caption, dup_caption) =
        (caption_on_rank(&a_url, "a red thing", 0), caption_on_rank(&dup_url, "the same red thing", 1));
    vec![
        (a_url, a_caption, Some("cc-by"), 0.25),
        (server.url("/b.png"), "a blue thing".into(), None, 0.5),
        (dup_url, dup_caption, Some("cc0"), 0.125),
        (server.url("/missing.jpg"), "gone".into(), Some("cc-by-sa"), 0.75),
    ]
}

fn write_csv(path: &Path, rows: &[(String, String, Option<&str>, f64)]) {
    let mut csv = String::from("url,caption,LICENSE,similarity\n");
    for (url, caption, license, similarity) in rows {
        csv.push_str(&format!("{url},{caption},{},{similarity}\n", license.unwrap_or("")));
    }
    std::fs::write(path, csv).unwrap();
}

/// The same rows as a Parquet list with typed columns, written by pyarrow.
fn write_parquet(path: &Path, rows: &[(String, String, Option<&str>, f64)]) {
    let json = serde_json::to_string(rows).unwrap();
    run_python(
        "import json, sys, pyarrow as pa, pyarrow.parquet as pq
rows = json.loads(sys.argv[2])
pq.write_table(pa.table({
    'URL': pa.array([r[0] for r in rows], pa.large_string()),
    'TEXT': [r[1] for r in rows],
    'LICENSE': pa.array([r[2] for r in rows], pa.string()),
    'similarity': pa.array([r[3] for r in rows], pa.float64()),
    'WIDTH': pa.array([100 + i for i in range(len(rows))], pa.int32()),
}), sys.argv[1])",
        &[path.to_str().unwrap(), &json],
    );
}

/// The extra columns of the corpus and failures of `out` as pyarrow reads them: per table, the
/// type of each named column, and each row's url with those columns' values.
fn read_extras(out: &Path, columns: &[&str]) -> serde_json::Value {
    let printed = run_python(
        "import json, sys, pyarrow.parquet as pq
out, columns = sys.argv[1], sys.argv[2].split(',')
result = {}
for name, folder in [('corpus', out), ('failures', out + '/_failures')]:
    table = pq.read_table(folder)
    result[name] = {
        'types': {c: str(table.schema.field(c).type) for c in columns if c in table.column_names},
        'names': table.column_names[-len(columns):],
        'rows': sorted([[r['url'].rsplit('/', 1)[1]] + [r.get(c) for c in columns] for r in table.to_pylist()]),
    }
print(json.dumps(result))",
        &[out.to_str().unwrap(), &columns.join(",")],
    );
    serde_json::from_str(&printed).unwrap()
}

/// The four pairs' fates with the list's values: a.jpg and b.png are images, dup.jpg a duplicate
/// (a failure keeping its columns), missing.jpg a failed download.
fn assert_extras(
    got: &serde_json::Value,
    similarity_type: &str,
    license_of_b: serde_json::Value,
    similarity: [serde_json::Value; 4],
) {
    assert_eq!(got["corpus"]["types"]["LICENSE"], "string", "{got}");
    assert_eq!(got["corpus"]["types"]["similarity"], similarity_type, "{got}");
    assert_eq!(got["failures"]["types"]["similarity"], similarity_type, "{got}");
    assert_eq!(got["corpus"]["names"], serde_json::json!(["LICENSE", "similarity"]), "kept columns come last: {got}");
    let [a, b, dup, missing] = similarity;
    assert_eq!(got["corpus"]["rows"], serde_json::json!([["a.jpg", "cc-by", a], ["b.png", license_of_b, b]]));
    assert_eq!(
        got["failures"]["rows"],
        serde_json::json!([["dup.jpg", "cc0", dup], ["missing.jpg", "cc-by-sa", missing]])
    );
}

/// Fetches `list` with `args` into `out` at world size 1, and into `out2` at world size 2 (every
/// phase of every rank, then the merge).
fn fetch_one_and_two_ranks(list: &Path, out: &Path, out2: &Path, args: &[&str]) {
    let (l, o, o2) = (list.to_str().unwrap(), out.to_str().unwrap(), out2.to_str().unwrap());
    ok(&[&["fetch", l, "-o", o], args, &NET[..], &["--shard-rows", "1"]].concat());
    for phase in ["fetch", "dedup", "apply"] {
        for rank in ["0", "1"] {
            let rank_args = ["-o", o2, "--rank", rank, "--world-size", "2", "--phase", phase];
            ok(&[&["fetch", l], &rank_args[..], args, &NET[..], &["--shard-rows", "1"]].concat());
        }
    }
    let merge = ["-o", o2, "--world-size", "2", "--phase", "merge"];
    ok(&[&["fetch", l], &merge[..], args, &NET[..], &["--shard-rows", "1"]].concat());
    for folder in [o, o2] {
        let verify = wit(&["verify", folder]);
        assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
    }
}

#[test]
fn kept_csv_columns_are_text_columns_of_corpus_and_failures_at_one_and_two_ranks() {
    let server = image_server();
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("list.csv");
    write_csv(&list, &list_rows(&server));
    let (out, out2) = (dir.path().join("one"), dir.path().join("two"));
    let keep = ["--caption-col", "caption", "--save-additional-columns", "LICENSE,similarity"];
    fetch_one_and_two_ranks(&list, &out, &out2, &keep);
    let text = ["0.25", "0.5", "0.125", "0.75"].map(serde_json::Value::from);
    for folder in [&out, &out2] {
        let got = read_extras(folder, &["LICENSE", "similarity"]);
        // An empty csv field is null, as pandas reads it.
        assert_extras(&got, "string", serde_json::Value::Null, text.clone());
        assert_shard_stats_match(folder);
    }
    let manifest = wit_contract::Manifest::load(&out2).unwrap();
    let names: Vec<&str> = manifest.extra_columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["LICENSE", "similarity"]);
    assert_eq!(manifest.stats["by_status"]["duplicate"], 1, "the copy was found across ranks: {}", manifest.stats);
}

#[test]
fn kept_parquet_columns_keep_their_types_at_one_and_two_ranks() {
    let server = image_server();
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("list.parquet");
    write_parquet(&list, &list_rows(&server));
    let (out, out2) = (dir.path().join("one"), dir.path().join("two"));
    let keep = ["--url-col", "URL", "--caption-col", "TEXT", "--save-additional-columns", "WIDTH,LICENSE,similarity"];
    fetch_one_and_two_ranks(&list, &out, &out2, &keep);
    let numbers = [0.25, 0.5, 0.125, 0.75].map(serde_json::Value::from);
    for folder in [&out, &out2] {
        let got = read_extras(folder, &["LICENSE", "similarity"]);
        assert_extras(&got, "double", serde_json::Value::Null, numbers.clone());
        let widths = read_extras(folder, &["WIDTH"]);
        assert_eq!(widths["corpus"]["types"]["WIDTH"], "int32", "{widths}");
        assert_eq!(widths["corpus"]["rows"], serde_json::json!([["a.jpg", 100], ["b.png", 101]]));
        assert_eq!(widths["failures"]["rows"], serde_json::json!([["dup.jpg", 102], ["missing.jpg", 103]]));
        assert_shard_stats_match(folder);
    }
}

#[test]
fn a_kept_column_the_list_lacks_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("list.csv");
    std::fs::write(&list, "url,caption\nhttp://127.0.0.1:9/a.jpg,a\n").unwrap();
    let out = dir.path().join("corpus");
    let run =
        wit(&["fetch", list.to_str().unwrap(), "-o", out.to_str().unwrap(), "--save-additional-columns", "LICENSE"]);
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains(list.to_str().unwrap()) && stderr.contains("no column \"LICENSE\" to keep"), "{stderr}");
    assert!(stderr.contains("columns: url, caption"), "{stderr}");
    assert!(!out.join("_manifest.json").exists(), "nothing was written");

    let clash =
        wit(&["fetch", list.to_str().unwrap(), "-o", out.to_str().unwrap(), "--save-additional-columns", "caption"]);
    assert!(!clash.status.success());
    assert!(String::from_utf8_lossy(&clash.stderr).contains("caption is the name of one of wit's own columns"));
}

/// A JPEG with an EXIF APP1 segment whose IFD offset points far outside the block.
fn jpeg_with_broken_exif() -> Vec<u8> {
    let plain = jpeg(24, 24, 9);
    let mut app1 = b"Exif\0\0II*\0".to_vec();
    app1.extend_from_slice(&0x00ff_0000u32.to_le_bytes());
    let mut out = plain[..2].to_vec();
    out.extend_from_slice(&[0xff, 0xe1]);
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&plain[2..]);
    out
}

#[test]
fn keep_exif_stores_a_real_jpegs_exif_as_json_and_null_without() {
    let photo = workspace_root().join("fixtures/images/hubble_deep_field.jpg");
    let server = LoopbackServer::start([
        ("/photo.jpg".to_string(), Reply::ok("image/jpeg", std::fs::read(&photo).unwrap())),
        ("/plain.jpg".to_string(), Reply::ok("image/jpeg", jpeg(24, 24, 3))),
        ("/broken.jpg".to_string(), Reply::ok("image/jpeg", jpeg_with_broken_exif())),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("list.tsv");
    let urls = ["/photo.jpg", "/plain.jpg", "/broken.jpg"].map(|p| server.url(p));
    std::fs::write(&list, format!("url\n{}\n", urls.join("\n"))).unwrap();
    let out = dir.path().join("corpus");
    ok(&[&["fetch", list.to_str().unwrap(), "-o", out.to_str().unwrap(), "--keep-exif"], &NET[..]].concat());
    // pyarrow reads the column; PIL reads the original file's EXIF for comparison.
    let printed = run_python(
        "import json, sys, pyarrow.parquet as pq
from PIL import Image
table = pq.read_table(sys.argv[1])
print(json.dumps({
    'type': str(table.schema.field('exif').type),
    'rows': {r['url'].rsplit('/', 1)[1]: r['exif'] for r in table.to_pylist()},
    'pil': {str(k): str(v) for k, v in Image.open(sys.argv[2]).getexif().items()},
}))",
        &[out.to_str().unwrap(), photo.to_str().unwrap()],
    );
    let got: serde_json::Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(got["type"], "string");
    let exif: serde_json::Value = serde_json::from_str(got["rows"]["photo.jpg"].as_str().unwrap()).unwrap();
    // Software (305), DateTime (306) and Orientation (274) of IFD0, as PIL reads them.
    assert_eq!(exif["Image Software"], got["pil"]["305"], "{exif}");
    assert_eq!(exif["Image DateTime"], got["pil"]["306"], "{exif}");
    assert_eq!(exif["Image Orientation"], got["pil"]["274"], "{exif}");
    assert_eq!(got["rows"]["plain.jpg"], serde_json::Value::Null);
    assert_eq!(got["rows"]["broken.jpg"], serde_json::Value::Null, "an unreadable EXIF is null, the image kept");
    let manifest = wit_contract::Manifest::load(&out).unwrap();
    assert_eq!(manifest.stats["last_run"]["exif_unreadable"], 1, "{}", manifest.stats);
    assert_eq!(manifest.config["keep_exif"], true);
    // The failures have no `exif` (no image).
    let failures = wit_contract::Manifest::load(out.join("_failures")).unwrap();
    assert!(failures.extra_columns.is_empty());
}

/// The README's example (the block after `<!-- fetch columns example -->`) on a Parquet list the
/// test serves: its `wit fetch` line with the list, the output folder and loopback access swapped
/// in, then its Python line; the kept columns then travel into `wit export webdataset`'s JSON and
/// `wit export hf`'s Parquet.
#[test]
fn the_readme_example_runs_and_exports_keep_the_columns() {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let block = readme.split("<!-- fetch columns example -->").nth(1).expect("README holds the example");
    let block = block.split("```sh\n").nth(1).and_then(|b| b.split("```").next()).expect("a fenced sh block");
    let mut lines = block.lines();
    let (fetch_line, python_line) = (lines.next().unwrap(), lines.next().unwrap());

    let server = image_server();
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("laion-part.parquet");
    write_parquet(&list, &list_rows(&server));
    let out = dir.path().join("corpus");
    let mut args: Vec<String> = fetch_line.split_whitespace().skip(1).map(str::to_string).collect();
    assert_eq!(args[0], "fetch", "{fetch_line}");
    for arg in args.iter_mut() {
        if arg == "laion-part.parquet" {
            *arg = list.to_str().unwrap().to_string();
        } else if arg == "corpus" {
            *arg = out.to_str().unwrap().to_string();
        }
    }
    args.extend(NET.iter().map(|s| s.to_string()));
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let script = python_line.strip_prefix("python -c '").and_then(|s| s.strip_suffix('\'')).expect("python -c '…'");
    let printed = std::process::Command::new(wit_tests::venv_python())
        .args(["-c", script])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(printed.status.success(), "{}", String::from_utf8_lossy(&printed.stderr));
    let printed = String::from_utf8_lossy(&printed.stdout);
    assert!(printed.contains("LICENSE: string") && printed.contains("similarity: double"), "{printed}");
    assert!(printed.contains("exif: string"), "{printed}");

    let (o, tars, hf) = (out.to_str().unwrap(), dir.path().join("tars"), dir.path().join("hf"));
    ok(&["export", "webdataset", o, "-o", tars.to_str().unwrap()]);
    ok(&["export", "hf", o, "-o", hf.to_str().unwrap()]);
    let printed = run_python(
        "import json, sys, tarfile, pyarrow.parquet as pq
samples = []
with tarfile.open(sys.argv[1] + '/00000.tar') as tar:
    for member in tar.getmembers():
        if member.name.endswith('.json'):
            j = json.load(tar.extractfile(member))
            samples.append([j['url'].rsplit('/', 1)[1], j['LICENSE'], j['similarity'], j['exif']])
hf = pq.read_table(sys.argv[2] + '/data')
print(json.dumps({'samples': sorted(samples), 'hf': [str(hf.schema.field(c).type) for c in ['LICENSE', 'similarity', 'exif']]}))",
        &[tars.to_str().unwrap(), hf.to_str().unwrap()],
    );
    let got: serde_json::Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(
        got["samples"],
        serde_json::json!([["a.jpg", "cc-by", 0.25, null], ["b.png", null, 0.5, null]]),
        "{got}"
    );
    assert_eq!(got["hf"], serde_json::json!(["string", "double", "string"]), "{got}");
}
