//! Bad input at the command line, stage by stage: a truncated bz2, malformed XML, invalid UTF-8, a
//! file of the wrong type, a missing file, a folder that cannot be used, a bad config value, an
//! empty input. Each run must exit non-zero (no panic, no backtrace) with a message naming the
//! file and what is wrong with it.
//!
//! "A folder that cannot be used": the tests run as root, for whom `chmod 000` stops nothing, so
//! the honest stand-ins are an output folder whose parent is a regular file (creating it fails
//! with "Not a directory" whoever you are) and a folder given where a file is expected.

use std::path::{Path, PathBuf};

use wit_contract::{
    shard_file_name, Candidate, Manifest, QueryEntry, QuerySource, RecordKind, ShardWriter, WriterOptions,
};
use wit_tests::{wit, workspace_root};

/// Runs `wit ARGS` and checks it failed cleanly, its stderr holding every needle (case-insensitive).
fn fails(args: &[&str], needles: &[&str]) -> String {
    let output = wit(args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "wit {args:?} succeeded:\n{stdout}\n{stderr}");
    assert!(output.status.code().is_some(), "wit {args:?} died of a signal:\n{stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"), "wit {args:?} panicked:\n{stderr}");
    let lower = stderr.to_lowercase();
    for needle in needles {
        assert!(lower.contains(&needle.to_lowercase()), "wit {args:?}: stderr lacks {needle:?}:\n{stderr}");
    }
    stderr
}

fn s(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        Scratch { dir: tempfile::tempdir().unwrap() }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// A path whose parent is a regular file: no folder can be made there, not even by root.
    fn under_a_file(&self) -> PathBuf {
        self.file("plain-file", b"not a folder").join("out")
    }

    fn folder(&self, name: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::create_dir_all(&path).unwrap();
        path
    }

    /// A complete candidates folder with one row.
    fn candidates(&self) -> PathBuf {
        let dir = self.folder("candidates");
        let mut manifest = Manifest::new(RecordKind::Candidates, serde_json::json!({"stage": "test"}), None);
        let row = Candidate {
            key: "k".into(),
            url: "http://example.com/a.jpg".into(),
            caption: "a red apple".into(),
            page_url: None,
            source: "test".into(),
            lang: Some("en".into()),
            lang_conf: Some(0.9),
            provenance: Default::default(),
        };
        let mut writer =
            ShardWriter::for_records::<Candidate>(dir.join(shard_file_name(0)), &WriterOptions::default()).unwrap();
        writer.write_records(&[row]).unwrap();
        manifest.add_shard(writer.finish().unwrap());
        manifest.complete = true;
        manifest.save(&dir).unwrap();
        dir
    }
}

const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
const DUMP_HEAD: &str = "<mediawiki><siteinfo><sitename>W</sitename></siteinfo>";

fn fixture_dump() -> Vec<u8> {
    std::fs::read(workspace_root().join("fixtures/enwiki/enwiki-table-markup.xml.bz2")).expect("run `make fixtures`")
}

// ---- queries -------------------------------------------------------------------------------

#[test]
fn queries_truncated_bz2() {
    let t = Scratch::new();
    let dump = fixture_dump();
    let cut = t.file("cut.xml.bz2", &dump[..dump.len() / 2]);
    fails(&["queries", "build", s(&cut), "-o", s(&t.path("q")), "--min-count", "1"], &[s(&cut), "bz2"]);
}

#[test]
fn queries_malformed_xml() {
    let t = Scratch::new();
    let xml = format!("{DUMP_HEAD}<page><title>A</title><ns>0</ns><revision><text>hello</page></mediawiki>");
    let dump = t.file("bad.xml", xml.as_bytes());
    fails(&["queries", "build", s(&dump), "-o", s(&t.path("q")), "--min-count", "1"], &[s(&dump), "malformed XML"]);
}

#[test]
fn queries_invalid_utf8() {
    let t = Scratch::new();
    let mut xml = format!("{DUMP_HEAD}<page><title>A</title><ns>0</ns><revision><text>caf").into_bytes();
    xml.extend_from_slice(b"\xff\xfe au lait</text></revision></page></mediawiki>");
    let dump = t.file("latin1.xml", &xml);
    fails(&["queries", "build", s(&dump), "-o", s(&t.path("q")), "--min-count", "1"], &[s(&dump), "UTF-8"]);
}

#[test]
fn queries_wrong_file_type() {
    let t = Scratch::new();
    let png = t.file("picture.xml.bz2", PNG_MAGIC);
    fails(&["queries", "build", s(&png), "-o", s(&t.path("q"))], &[s(&png), "not a MediaWiki"]);
    let png = t.file("picture.xml", PNG_MAGIC);
    fails(&["queries", "build", s(&png), "-o", s(&t.path("q2"))], &[s(&png), "not a MediaWiki"]);
}

#[test]
fn queries_missing_file_and_folder_for_a_file() {
    let t = Scratch::new();
    let missing = t.path("nowhere.xml.bz2");
    fails(&["queries", "build", s(&missing), "-o", s(&t.path("q"))], &[s(&missing), "no such file"]);
    let folder = t.folder("a-folder");
    fails(&["queries", "build", s(&folder), "-o", s(&t.path("q2"))], &[s(&folder), "folder"]);
    let titles = t.folder("titles");
    let dump = t.file("ok.xml.bz2", &fixture_dump());
    fails(&["queries", "build", s(&dump), "-o", s(&t.path("q3")), "--titles", s(&titles)], &[s(&titles)]);
}

#[test]
fn queries_unusable_output_folder() {
    let t = Scratch::new();
    let dump = t.file("ok.xml.bz2", &fixture_dump());
    let out = t.under_a_file();
    fails(&["queries", "build", s(&dump), "-o", s(&out)], &[s(&out), "not a directory"]);
}

#[test]
fn queries_empty_input_and_bad_flag() {
    let t = Scratch::new();
    let empty = t.file("empty.xml", b"");
    fails(&["queries", "build", s(&empty), "-o", s(&t.path("q"))], &[s(&empty), "empty"]);
    let dump = t.file("ok.xml.bz2", &fixture_dump());
    fails(
        &["queries", "build", s(&dump), "-o", s(&t.path("q2")), "--memory-budget", "lots"],
        &["--memory-budget", "lots"],
    );
}

// ---- harvest -------------------------------------------------------------------------------

#[test]
fn harvest_missing_file_and_unusable_output() {
    let t = Scratch::new();
    let missing = t.path("nowhere.warc.gz");
    fails(&["harvest", s(&missing), "-o", s(&t.path("c"))], &[s(&missing), "no such file"]);
    let list = t.file("urls.txt", b"http://example.com/a.jpg\n");
    let out = t.under_a_file();
    fails(&["harvest", s(&list), "-o", s(&out)], &[s(&out), "not a directory"]);
}

#[test]
fn harvest_truncated_gzip_warc() {
    let t = Scratch::new();
    let warc = std::fs::read(workspace_root().join("fixtures/warc/warcat/at.warc.gz")).unwrap();
    let cut = t.file("cut.warc.gz", &warc[..warc.len() / 2]);
    fails(&["harvest", s(&cut), "-o", s(&t.path("c"))], &[s(&cut)]);
    // --skip-bad-inputs: the same input becomes a counted, named failure and the others are kept.
    let good = workspace_root().join("fixtures/warc/warcat/at.warc");
    let run = wit(&["harvest", s(&cut), s(&good), "-o", s(&t.path("c2")), "--skip-bad-inputs"]);
    let (stdout, stderr) = (String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    assert!(run.status.success(), "{stderr}");
    assert!(stdout.contains("2 inputs") && stdout.contains("1 inputs could not be read"), "{stdout}");
    assert!(stdout.contains(s(&cut)) && !stderr.contains("panicked"), "{stdout}\n{stderr}");
}

#[test]
fn harvest_wrong_file_type_and_invalid_utf8() {
    let t = Scratch::new();
    let png = t.file("picture.png", PNG_MAGIC);
    fails(&["harvest", s(&png), "-o", s(&t.path("c"))], &[s(&png)]);
    // A bad row of a list is a counted skip (the other rows are worth having), logged with its row.
    let csv = t.file("urls.csv", b"url,caption\nhttp://example.com/a.jpg,caf\xe9\nhttp://example.com/b.jpg,tea\n");
    let run = wit(&["harvest", s(&csv), "-o", s(&t.path("c2")), "--caption-col", "caption"]);
    let (stdout, stderr) = (String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    assert!(run.status.success(), "{stderr}");
    assert!(stdout.contains("list_bad_row 1"), "{stdout}");
    assert!(stderr.contains(&format!("{}, row 1", s(&csv))) && stderr.contains("invalid utf-8"), "{stderr}");
}

#[test]
fn harvest_empty_input() {
    let t = Scratch::new();
    let empty = t.file("empty.warc", b"");
    fails(&["harvest", s(&empty), "-o", s(&t.path("c"))], &[s(&empty), "empty"]);
    let none = t.file("empty.txt", b"");
    fails(&["harvest", s(&none), "-o", s(&t.path("c2"))], &[s(&none), "empty"]);
}

// ---- curate --------------------------------------------------------------------------------

#[test]
fn curate_missing_and_wrong_folders() {
    let t = Scratch::new();
    let candidates = t.candidates();
    let missing = t.path("no-queries");
    fails(&["curate", "--queries", s(&missing), "--candidates", s(&candidates), "-o", s(&t.path("o"))], &[s(&missing)]);
    // A candidates folder where the queries should be; a PNG as the query file.
    fails(
        &["curate", "--queries", s(&candidates), "--candidates", s(&candidates), "-o", s(&t.path("o2"))],
        &[s(&candidates), "candidates"],
    );
    let png = t.file("queries.parquet", PNG_MAGIC);
    fails(&["curate", "--queries", s(&png), "--candidates", s(&candidates), "-o", s(&t.path("o3"))], &[s(&png)]);
    let empty = t.folder("empty-folder");
    fails(&["curate", "--queries", s(&empty), "--candidates", s(&candidates), "-o", s(&t.path("o4"))], &[s(&empty)]);
}

#[test]
fn curate_bad_flag_value() {
    let t = Scratch::new();
    let candidates = t.candidates();
    fails(
        &[
            "curate",
            "--queries",
            s(&candidates),
            "--candidates",
            s(&candidates),
            "-o",
            s(&t.path("o")),
            "--cap",
            "many",
        ],
        &["--cap", "many"],
    );
}

// ---- fetch ---------------------------------------------------------------------------------

#[test]
fn fetch_missing_wrong_type_and_unusable_output() {
    let t = Scratch::new();
    let missing = t.path("nowhere.csv");
    fails(&["fetch", s(&missing), "-o", s(&t.path("o"))], &[s(&missing), "no such file"]);
    let png = t.file("list.png", PNG_MAGIC);
    fails(&["fetch", s(&png), "-o", s(&t.path("o2"))], &[s(&png), "format"]);
    let fake = t.file("list.parquet", b"url\nhttp://example.com/a.jpg\n");
    fails(&["fetch", s(&fake), "-o", s(&t.path("o3"))], &[s(&fake), "parquet"]);
    let folder = t.folder("not-a-stage-folder");
    fails(&["fetch", s(&folder), "-o", s(&t.path("o4"))], &[s(&folder), "manifest.json"]);
    let list = t.file("urls.txt", b"http://example.com/a.jpg\n");
    let out = t.under_a_file();
    fails(&["fetch", s(&list), "-o", s(&out)], &[s(&out), "not a directory"]);
}

#[test]
fn fetch_invalid_utf8_and_empty_list() {
    let t = Scratch::new();
    // A bad row is a counted skip (stats: bad_input_rows), logged with its file and row.
    let csv = t.file("urls.csv", b"url,caption\nhttp://127.0.0.1:9/a.jpg,caf\xe9\n");
    let out = t.path("o");
    let run = wit(&["fetch", s(&csv), "-o", s(&out), "--caption-col", "caption", "--retries", "0"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("{}, row 1", s(&csv))) && stderr.contains("invalid utf-8"), "{stderr}");
    assert_eq!(Manifest::load(&out).unwrap().stats["last_run"]["bad_input_rows"], 1);
    let empty = t.file("empty.csv", b"");
    fails(&["fetch", s(&empty), "-o", s(&t.path("o2"))], &[s(&empty), "empty"]);
}

#[test]
fn fetch_bad_flag_values() {
    let t = Scratch::new();
    let list = t.file("urls.txt", b"http://example.com/a.jpg\n");
    let out = t.path("o");
    fails(&["fetch", s(&list), "-o", s(&out), "--timeout=-1"], &["--timeout", "-1"]);
    fails(&["fetch", s(&list), "-o", s(&out), "--concurrency", "0"], &["concurrency"]);
    fails(&["fetch", s(&list), "-o", s(&out), "--resize-mode", "stretch"], &["--resize-mode", "stretch"]);
    fails(&["fetch", s(&list), "-o", s(&out), "--allow-address", "localhost"], &["--allow-address", "localhost"]);
}

// ---- report --------------------------------------------------------------------------------

#[test]
fn report_missing_wrong_and_damaged_inputs() {
    let t = Scratch::new();
    let missing = t.path("no-build");
    fails(&["report", s(&missing), "-o", s(&t.path("r"))], &[s(&missing)]);
    let file = t.file("a-file.txt", b"hello");
    fails(&["report", s(&file), "-o", s(&t.path("r2"))], &[s(&file)]);
    let empty = t.folder("empty-build");
    fails(&["report", s(&empty), "-o", s(&t.path("r3"))], &[s(&empty)]);
    // A queries folder whose shard is cut in half.
    let queries = t.folder("queries");
    let mut manifest = Manifest::new(RecordKind::Queries, serde_json::json!({}), None);
    let rows = [QueryEntry { id: 0, query: "apple".into(), source: QuerySource::Title, count: 3, pmi: None }];
    let shard = queries.join(shard_file_name(0));
    let mut writer = ShardWriter::for_records::<QueryEntry>(shard.clone(), &WriterOptions::default()).unwrap();
    writer.write_records(&rows).unwrap();
    manifest.add_shard(writer.finish().unwrap());
    manifest.complete = true;
    manifest.save(&queries).unwrap();
    let mut bytes = std::fs::read(&shard).unwrap();
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&shard, bytes).unwrap();
    fails(&["report", s(&queries), "-o", s(&t.path("r4"))], &["shard-00000.parquet"]);
}

// ---- build ---------------------------------------------------------------------------------

#[test]
fn build_bad_toml_files() {
    let t = Scratch::new();
    let missing = t.path("nowhere.toml");
    fails(&["build", "--config", s(&missing)], &[s(&missing)]);
    let folder = t.folder("config-folder");
    fails(&["build", "--config", s(&folder)], &[s(&folder)]);
    let syntax = t.file("syntax.toml", b"output = \"o\"\n[fetch\nimage_size = 32\n");
    fails(&["build", "--config", s(&syntax)], &[s(&syntax), "TOML", "line 2"]);
    let empty = t.file("empty.toml", b"");
    fails(&["build", "--config", s(&empty)], &[s(&empty), "output"]);
    let utf8 = t.file("latin1.toml", b"output = \"caf\xe9\"\n");
    fails(&["build", "--config", s(&utf8)], &[s(&utf8), "UTF-8"]);
}

#[test]
fn build_bad_config_values() {
    let t = Scratch::new();
    let out = t.path("b");
    let typed = format!("output = {:?}\n[fetch]\nimage_size = \"big\"\n", s(&out));
    let typed = t.file("typed.toml", typed.as_bytes());
    fails(&["build", "--config", s(&typed), "--dry-run"], &[s(&typed), "[fetch]", "image-size", "big"]);
    let unknown = format!("output = {:?}\n[fetch]\nimage_sise = 32\n", s(&out));
    let unknown = t.file("unknown.toml", unknown.as_bytes());
    fails(&["build", "--config", s(&unknown), "--dry-run"], &[s(&unknown), "[fetch]", "image-sise"]);
    let stage = format!("output = {:?}\n[fetchh]\n", s(&out));
    let stage = t.file("stage.toml", stage.as_bytes());
    fails(&["build", "--config", s(&stage)], &[s(&stage), "fetchh"]);
}
