//! `wit fetch` end to end: a curated folder of pairs pointing at a loopback image server the test
//! starts, the real binary, outputs read back with the contract crate and pyarrow; the library
//! door for resize modes, duplicates, private targets and resume after interruptions.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use wit_contract::{
    pair_key, read_records, Candidate, CorpusImage, CuratedPair, Failure, Manifest, Provenance, RecordKind,
};
use wit_fetch::{fetch, FetchConfig, FetchInput, ImageOptions, NetOptions, ResizeMode};
use wit_tests::loopback::{jpeg, png, png_claiming, webp, LoopbackServer, Reply};
use wit_tests::{run_python, wit, workspace_binary};

/// Writes a complete curated folder of (url, caption) pairs, `per_shard` rows a shard.
fn write_curated(dir: &Path, pairs: &[(String, String)], per_shard: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let shards = pairs.chunks(per_shard.max(1)).map(|chunk| {
        chunk
            .iter()
            .enumerate()
            .map(|(i, (url, caption))| CuratedPair {
                candidate: Candidate {
                    key: pair_key(url, caption),
                    url: url.clone(),
                    caption: caption.clone(),
                    page_url: None,
                    source: "test".into(),
                    lang: Some("en".into()),
                    lang_conf: Some(0.9),
                    provenance: provenance_of(url),
                },
                query_ids: vec![i as u32 % 3],
                keep_prob: 1.0,
            })
            .collect::<Vec<CuratedPair>>()
    });
    wit_contract::write_stage_folder(dir, serde_json::json!({"stage": "test"}), shards).unwrap();
}

/// The provenance the test gives each pair (what harvest would have recorded).
fn provenance_of(url: &str) -> Provenance {
    Provenance {
        file: Some(format!("s3://crawl/{}.warc.gz", url.len())),
        offset: Some(url.len() as u64 * 1000 + (1 << 32)),
        record_id: Some(format!("<urn:uuid:{}>", pair_key(url, "id"))),
        row: None,
        page_opt_out: Some(String::new()),
    }
}

fn corpus(out: &Path) -> Vec<CorpusImage> {
    let manifest = Manifest::load(out).unwrap();
    manifest.shard_paths(out).iter().flat_map(|p| read_records::<CorpusImage>(p).unwrap()).collect()
}

fn failures(out: &Path) -> Vec<Failure> {
    let dir = out.join("_failures");
    let manifest = Manifest::load(&dir).unwrap();
    manifest.shard_paths(&dir).iter().flat_map(|p| read_records::<Failure>(p).unwrap()).collect()
}

/// key → status ("success" for corpus rows); fails on a key present twice.
fn outcome_by_key(out: &Path) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for row in corpus(out) {
        assert!(map.insert(row.candidate.key.clone(), "success".to_string()).is_none(), "key twice: {row:?}");
    }
    for row in failures(out) {
        let key = row.candidate.key.clone();
        assert!(map.insert(key, row.status.clone()).is_none(), "key twice: {row:?}");
    }
    map
}

/// A server with every kind of answer, and the pairs pointing at it with the status expected.
fn mixed_site() -> (LoopbackServer, Vec<(String, String)>, BTreeMap<String, &'static str>) {
    let s = LoopbackServer::start(Vec::new());
    s.route("/robots.txt", Reply::ok("text/plain", b"User-agent: *\nDisallow: /private/\n".to_vec()));
    let mut pairs = Vec::new();
    let mut expected = BTreeMap::new();
    let mut add = |path: &str, reply: Reply, status: &'static str| {
        s.route(path, reply);
        let url = s.url(path);
        let caption = format!("a photo at {path}");
        expected.insert(pair_key(&url, &caption), status);
        pairs.push((url, caption));
    };
    for i in 0..12u8 {
        let (w, h) = (40 + 13 * i as u32, 30 + 7 * i as u32);
        let (body, kind) = match i % 3 {
            0 => (jpeg(w, h, i), "image/jpeg"),
            1 => (png(w, h, i), "image/png"),
            _ => (webp(w, h, i), "image/webp"),
        };
        add(&format!("/img/{i}"), Reply::ok(kind, body), "success");
    }
    add("/img/copy-of-0", Reply::ok("image/jpeg", jpeg(40, 30, 0)), "duplicate");
    add("/missing", Reply::status(404, &[]), "failed_to_download");
    add("/server-error", Reply::status(500, &[]), "failed_to_download");
    add("/noai", Reply::with_headers("image/jpeg", jpeg(20, 20, 40), &[("X-Robots-Tag", "noai")]), "opted_out");
    add("/private/a.jpg", Reply::ok("image/jpeg", jpeg(20, 20, 41)), "robots_disallowed");
    add("/bomb.png", Reply::ok("image/png", png_claiming(20_000, 20_000)), "failed_to_decode");
    add("/page.html", Reply::ok("text/html", b"<html><body>not an image</body></html>".to_vec()), "failed_to_decode");
    add("/huge", Reply::ok("image/jpeg", vec![0xff; 3 << 20]), "failed_to_download");
    add("/tiny", Reply::ok("image/png", png(4, 4, 42)), "filtered");
    add("/to-file", Reply::redirect("file:///etc/passwd"), "failed_to_download");
    (s, pairs, expected)
}

#[test]
fn fetch_accounts_for_every_pair_exactly_once() {
    let (server, pairs, expected) = mixed_site();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("curated");
    write_curated(&input, &pairs, 7);
    let out = dir.path().join("corpus");
    let (i, o) = (input.display().to_string(), out.display().to_string());
    let args = [
        "fetch",
        &i,
        "-o",
        &o,
        "--allow-private-networks",
        "--image-size",
        "32",
        "--resize-mode",
        "center_crop",
        "--min-image-size",
        "8",
        "--max-body-bytes",
        "2000000",
        "--retries",
        "0",
        "--timeout",
        "10",
        "--shard-rows",
        "4",
    ];
    let output = wit(&args);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("12 images"), "{stdout}");

    let mut got = outcome_by_key(&out);
    let want: BTreeMap<String, String> = expected.iter().map(|(k, v)| (k.clone(), v.to_string())).collect();
    // Of two identical images, the one downloaded first is kept: either may be first.
    let first = pair_key(&server.url("/img/0"), "a photo at /img/0");
    let copy = pair_key(&server.url("/img/copy-of-0"), "a photo at /img/copy-of-0");
    let mut pair = [got[&first].clone(), got[&copy].clone()];
    pair.sort();
    assert_eq!(pair, ["duplicate", "success"], "one copy kept, the other a duplicate");
    got.insert(first.clone(), want[&first].clone());
    got.insert(copy.clone(), want[&copy].clone());
    assert_eq!(got, want);
    assert_eq!(server.hits("/private/a.jpg"), 0);
    for row in corpus(&out) {
        assert_eq!((row.width, row.height, row.image_format.as_str()), (32, 32, "jpeg"), "{}", row.candidate.url);
        assert!(row.original_width >= 40 && row.original_height >= 30);
        assert_eq!(image::load_from_memory(&row.image).unwrap().width(), 32);
        assert_eq!(row.candidate.lang.as_deref(), Some("en"));
        assert_eq!(row.candidate.provenance, provenance_of(&row.candidate.url), "the corpus keeps provenance");
    }
    for row in failures(&out) {
        assert_eq!(row.candidate.provenance, provenance_of(&row.candidate.url), "failures keep provenance");
    }
    let kinds: BTreeMap<String, String> = failures(&out)
        .into_iter()
        .map(|f| (f.candidate.url.rsplit('/').next().unwrap().to_string(), f.error_message))
        .collect();
    assert!(kinds["bomb.png"].starts_with("too_many_pixels:"), "{kinds:?}");
    assert!(kinds["page.html"].starts_with("not_an_image:"), "{kinds:?}");
    assert!(kinds["huge"].starts_with("too_large:"), "{kinds:?}");
    assert!(kinds["to-file"].starts_with("unsupported_scheme:"), "{kinds:?}");
    assert!(kinds["missing"].starts_with("http_status:"), "{kinds:?}");

    // Manifests: complete, verified, input path and options in config, counts per status in stats.
    let manifest = Manifest::load(&out).unwrap();
    assert!(manifest.complete && manifest.kind == RecordKind::Corpus);
    assert_eq!(manifest.config["input"], serde_json::json!(i));
    assert_eq!(manifest.config["image"]["resize_mode"], "center_crop");
    assert_eq!(manifest.stats["by_status"]["success"], 12);
    assert_eq!(manifest.stats["by_status"]["duplicate"], 1);
    assert_eq!(manifest.stats["failure_rows"], 10);
    for folder in [&o, &format!("{o}/_failures")] {
        let verify = wit(&["verify", folder]);
        assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
    }

    // pyarrow reads the corpus: image bytes, sizes and the failure statuses.
    let summary = run_python(
        "import sys, json, pyarrow.parquet as pq\n\
         d = sys.argv[1]\n\
         m = json.load(open(d + '/_manifest.json'))\n\
         t = pq.read_table([d + '/' + s['file'] for s in m['shards']])\n\
         f = json.load(open(d + '/_failures/_manifest.json'))\n\
         u = pq.read_table([d + '/_failures/' + s['file'] for s in f['shards']])\n\
         print(t.num_rows, set(t.column('width').to_pylist()), min(len(b) for b in t.column('image').to_pylist()) > 100, \
               u.num_rows, sorted(set(u.column('status').to_pylist())))",
        &[&o],
    );
    assert_eq!(
        summary.trim(),
        "12 {32} True 10 ['duplicate', 'failed_to_decode', 'failed_to_download', 'filtered', 'opted_out', \
         'robots_disallowed']"
    );

    // The same command again: nothing to do.
    let again = wit(&args);
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing to do"));
    // Another configuration into the same folder is refused.
    let other = wit(&["fetch", &i, "-o", &o, "--allow-private-networks", "--image-size", "64"]);
    assert!(!other.status.success());
    assert!(String::from_utf8_lossy(&other.stderr).contains("another configuration"));
}

#[test]
fn private_targets_are_refused_by_default() {
    let server = LoopbackServer::start([("/a.jpg".to_string(), Reply::ok("image/jpeg", jpeg(16, 16, 1)))]);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("curated");
    let pairs = vec![
        (server.url("/a.jpg"), "loopback".to_string()),
        (server.url_with_host("localhost", "/a.jpg"), "a name for loopback".to_string()),
        ("http://10.0.0.1/a.jpg".to_string(), "private".to_string()),
        ("http://169.254.169.254/latest/meta-data".to_string(), "cloud metadata".to_string()),
    ];
    write_curated(&input, &pairs, 10);
    let out = dir.path().join("corpus");
    let config = FetchConfig::new(FetchInput::from_folder(&input).unwrap(), out.clone());
    let stats = fetch(&config).unwrap();
    assert_eq!((stats.corpus_rows, stats.failure_rows), (0, 4));
    assert_eq!(stats.by_status.get("refused_private"), Some(&4), "{stats:?}");
    assert_eq!(server.hits("/a.jpg"), 0);
}

fn fetch_with(input: &Path, out: &Path, image: ImageOptions) -> wit_fetch::FetchStats {
    let mut config = FetchConfig::new(FetchInput::from_folder(input).unwrap(), out.to_path_buf());
    config.net = NetOptions { allow_private_networks: true, retries: 0, ..config.net };
    config.image = image;
    config.concurrency = 8;
    fetch(&config).unwrap()
}

#[test]
fn resize_modes_give_img2dataset_dimensions() {
    let server = LoopbackServer::start([
        ("/wide.jpg".to_string(), Reply::ok("image/jpeg", jpeg(300, 150, 1))),
        ("/tall.png".to_string(), Reply::ok("image/png", png(50, 100, 2))),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("curated");
    write_curated(&input, &[(server.url("/wide.jpg"), "wide".into()), (server.url("/tall.png"), "tall".into())], 10);
    let cases = [
        (ResizeMode::No, false, [(300, 150), (50, 100)]),
        (ResizeMode::Border, false, [(60, 60), (60, 60)]),
        (ResizeMode::KeepRatio, false, [(120, 60), (60, 120)]),
        (ResizeMode::KeepRatio, true, [(120, 60), (50, 100)]),
        (ResizeMode::KeepRatioLargest, false, [(60, 30), (30, 60)]),
        (ResizeMode::CenterCrop, false, [(60, 60), (60, 60)]),
    ];
    for (n, (mode, only_if_bigger, want)) in cases.into_iter().enumerate() {
        let out = dir.path().join(format!("out{n}"));
        let image = ImageOptions {
            image_size: 60,
            resize_mode: mode,
            resize_only_if_bigger: only_if_bigger,
            ..Default::default()
        };
        fetch_with(&input, &out, image);
        let mut rows = corpus(&out);
        rows.sort_by(|a, b| b.candidate.caption.cmp(&a.candidate.caption)); // wide, tall
        let got: Vec<(u32, u32)> = rows.iter().map(|r| (r.width, r.height)).collect();
        assert_eq!(got, want, "{mode:?} only_if_bigger={only_if_bigger}");
        assert_eq!((rows[0].original_width, rows[0].original_height), (300, 150));
    }
}

#[test]
fn killed_runs_resume_to_the_same_rows() {
    let (server, pairs, _expected) = mixed_site();
    // More good images, so the run lasts long enough to be killed part-way.
    let extra =
        LoopbackServer::start((0..60u8).map(|i| (format!("/x/{i}"), Reply::ok("image/jpeg", jpeg(24, 24, 100 + i)))));
    let mut pairs = pairs;
    pairs.extend((0..60).map(|i| (extra.url(&format!("/x/{i}")), format!("extra {i}"))));
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("curated");
    write_curated(&input, &pairs, 16);
    let (i, reference, resumed) = (
        input.display().to_string(),
        dir.path().join("reference").display().to_string(),
        dir.path().join("resumed").display().to_string(),
    );
    let args = |out: &str| -> Vec<String> {
        [
            "fetch",
            &i,
            "-o",
            out,
            "--allow-private-networks",
            "--image-size",
            "16",
            "--retries",
            "0",
            "--shard-rows",
            "3",
            "--concurrency",
            "2",
            "--per-host-concurrency",
            "1",
            "--per-host-delay-ms",
            "15",
            "--max-body-bytes",
            "2000000",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let output = Command::new(workspace_binary("wit")).args(args(&reference)).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    // kill -9 at several points, then let it finish.
    for delay_ms in [150u64, 450, 300, 700] {
        let mut child = Command::new(workspace_binary("wit"))
            .args(args(&resumed))
            .stderr(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    let output = Command::new(workspace_binary("wit")).args(args(&resumed)).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let (mut a, mut b) = (outcome_by_key(Path::new(&reference)), outcome_by_key(Path::new(&resumed)));
    assert_eq!(a.len(), pairs.len());
    // Of two identical images the first downloaded is kept, and either may be first: compare that
    // one of them is kept, then leave the pair out.
    for outcomes in [&mut a, &mut b] {
        let first = outcomes.remove(&pair_key(&server.url("/img/0"), "a photo at /img/0")).unwrap();
        let copy = outcomes.remove(&pair_key(&server.url("/img/copy-of-0"), "a photo at /img/copy-of-0")).unwrap();
        let mut pair = [first, copy];
        pair.sort();
        assert_eq!(pair, ["duplicate", "success"]);
    }
    let keys = |m: &BTreeMap<String, String>| m.keys().cloned().collect::<BTreeSet<_>>();
    assert_eq!(keys(&a), keys(&b));
    assert_eq!(a, b, "the same status for every pair");
    let verify = wit(&["verify", &resumed]);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
}

#[test]
fn a_url_list_is_fetched_like_img2dataset_with_bad_rows_counted() {
    let server = LoopbackServer::start([
        ("/a.jpg".to_string(), Reply::ok("image/jpeg", jpeg(48, 40, 1))),
        ("/b.png".to_string(), Reply::ok("image/png", png(40, 48, 2))),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("list.csv");
    let rows = [
        format!("{},a red thing,x1", server.url("/a.jpg")),
        format!("{},\"a blue, round thing\",x2", server.url("/b.png")),
        format!("{},gone,x3", server.url("/missing.jpg")),
        "not-a-url".to_string(),
        "http://127.0.0.1:9/too-many.jpg,a,b,c".to_string(),
    ];
    std::fs::write(&list, format!("image,text,extra\n{}\n", rows.join("\n"))).unwrap();
    let out = dir.path().join("corpus");
    let (l, o) = (list.display().to_string(), out.display().to_string());
    let run = wit(&["fetch", &l, "-o", &o, "--url-col", "image", "--caption-col", "text", "--allow-private-networks"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let mut captions: Vec<String> = corpus(&out).into_iter().map(|c| c.candidate.caption).collect();
    captions.sort();
    assert_eq!(captions, ["a blue, round thing", "a red thing"]);
    // A row without a usable URL is still a pair, and fails as one; a row the list reader cannot
    // split into its columns is counted in the stats.
    let failed: BTreeMap<String, String> = failures(&out)
        .into_iter()
        .map(|f| (f.candidate.url, f.error_message.split(':').next().unwrap().to_string()))
        .collect();
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert_eq!(failed[&server.url("/missing.jpg")], "http_status");
    assert_eq!(failed["not-a-url"], "invalid_url");
    let manifest = Manifest::load(&out).unwrap();
    assert_eq!(manifest.config["input_kind"], "url_list");
    assert_eq!(manifest.stats["last_run"]["bad_input_rows"], 1, "{}", manifest.stats);
}

/// Copies of one image fetched by different ranks: the exact pass moves the later ones to the
/// failures as `duplicate`, and each keeps the opt-out audit of the fetch that got it (robots.txt
/// decision and when it was read), as a copy found within one rank does.
#[test]
fn copies_found_across_ranks_keep_their_fetch_audit() {
    let same = jpeg(40, 30, 7);
    let server =
        LoopbackServer::start((0..8).map(|i| (format!("/same/{i}.jpg"), Reply::ok("image/jpeg", same.clone()))));
    let dir = tempfile::tempdir().unwrap();
    let curated = dir.path().join("curated");
    let pairs: Vec<(String, String)> =
        (0..8).map(|i| (server.url(&format!("/same/{i}.jpg")), format!("the same photo, copy {i}"))).collect();
    write_curated(&curated, &pairs, 1);
    let out = dir.path().join("corpus");
    let (input, output) = (curated.to_str().unwrap(), out.to_str().unwrap());
    let run = |extra: &[&str]| {
        let mut args = vec!["fetch", input, "-o", output, "--allow-private-networks", "--image-size", "16"];
        args.extend(extra);
        let run = wit(&args);
        assert!(run.status.success(), "{extra:?}: {}", String::from_utf8_lossy(&run.stderr));
    };
    for phase in ["fetch", "dedup", "apply"] {
        for rank in ["0", "1"] {
            run(&["--rank", rank, "--world-size", "2", "--phase", phase]);
        }
    }
    run(&["--world-size", "2", "--phase", "merge"]);
    assert_eq!(corpus(&out).len(), 1, "one copy kept");
    let dir = out.join("_failures");
    let manifest = Manifest::load(&dir).unwrap();
    let mut moved = 0;
    for (shard, path) in manifest.shards.iter().zip(manifest.shard_paths(&dir)) {
        for row in read_records::<wit_contract::AuditedFailure>(&path).unwrap() {
            assert_eq!(row.failure.status, "duplicate", "{row:?}");
            assert_eq!(row.audit.robots_txt.as_deref(), Some("allowed"), "{row:?}");
            assert!(row.audit.robots_txt_fetched_at_us.is_some(), "{row:?}");
            moved += shard.file.ends_with("shard-duplicates.parquet") as usize;
        }
    }
    assert!(moved >= 1, "a copy kept by each rank, one of them moved by the exact pass");
}
