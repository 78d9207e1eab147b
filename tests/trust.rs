//! Trust (issue 23), end to end with the real binary: page-level opt-outs in WARC HTML, WAT metas
//! and TDMRep headers drop their pages' pairs (counted) and the kept pairs record what their page
//! said; fetch records per row what robots.txt and `X-Robots-Tag` said and the sha256/md5 of the
//! original bytes (checked against Python's hashlib); everything read back with pyarrow.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;
use wit_contract::{pair_key, shard_file_name, Candidate, CuratedPair, Manifest, Provenance, RecordKind, ShardWriter};
use wit_tests::loopback::{jpeg, png, LoopbackServer, Reply};
use wit_tests::wit_stdout as run;
use wit_tests::{run_python, warc_record, wit};

/// A WARC response record of an HTML page with `head` markup, extra HTTP headers and one image per
/// caption.
fn page(url: &str, head: &str, headers: &str, images: &[(&str, &str)]) -> Vec<u8> {
    let body: String = images.iter().map(|(src, alt)| format!("<img src=\"{src}\" alt=\"{alt}\">")).collect();
    let http = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n{headers}\r\n<html><head>{head}</head><body>{body}</body></html>"
    );
    warc_record("response", url, "application/http;msgtype=response", http.as_bytes())
}

/// A WAT metadata record of a page with these `Metas`, HTTP headers and images.
fn wat_record(url: &str, metas: Value, headers: Value, images: &[(&str, &str)]) -> Vec<u8> {
    let links: Vec<Value> =
        images.iter().map(|(src, alt)| serde_json::json!({"path": "IMG@/src", "url": src, "alt": alt})).collect();
    let json = serde_json::json!({"Envelope": {
        "WARC-Header-Metadata": {"WARC-Type": "response", "WARC-Target-URI": url},
        "Payload-Metadata": {"HTTP-Response-Metadata": {
            "Headers": headers,
            "HTML-Metadata": {"Head": {"Title": "t", "Metas": metas}, "Links": links}
        }}
    }});
    warc_record("metadata", url, "application/json", &serde_json::to_vec(&json).unwrap())
}

/// Writes the WARC, WAT and csv inputs.
fn write_inputs(dir: &Path) {
    let mut warc = Vec::new();
    warc.extend(page(
        "http://opt.example/noai.html",
        "<meta name=\"robots\" content=\"noai\">",
        "",
        &[("/a1.jpg", "A red tractor in a wide golden field"), ("/a2.jpg", "Two boats on a calm blue lake")],
    ));
    warc.extend(page(
        "http://opt.example/ai.html",
        "<meta name=\"AI\" content=\"noimageai, noarchive\">",
        "",
        &[("/b1.jpg", "An old lighthouse on a rocky coast")],
    ));
    warc.extend(page(
        "http://opt.example/tdm.html",
        "",
        "TDM-Reservation: 1\r\n",
        &[("/c1.jpg", "A small wooden cabin in the snowy woods")],
    ));
    warc.extend(page(
        "http://opt.example/noindex.html",
        "<meta name=\"robots\" content=\"noindex\">",
        "tdm-reservation: 0\r\n",
        &[("/d1.jpg", "A yellow taxi on a busy city street")],
    ));
    warc.extend(page(
        "http://opt.example/clean.html",
        "<meta name=\"viewport\" content=\"noai\">",
        "",
        &[("/e1.jpg", "A green parrot sitting on a branch")],
    ));
    std::fs::write(dir.join("pages.warc"), warc).unwrap();

    let mut wat = Vec::new();
    wat.extend(wat_record(
        "http://wat.example/noai",
        serde_json::json!([{"name": "robots", "content": "noindex, noai"}]),
        serde_json::json!({"Content-Type": "text/html"}),
        &[("/f1.jpg", "A white horse running on the beach")],
    ));
    wat.extend(wat_record(
        "http://wat.example/tdm",
        serde_json::json!([]),
        serde_json::json!({"Content-Type": "text/html", "tdm-reservation": ["1"]}),
        &[("/g1.jpg", "A bowl of fresh strawberries on a table")],
    ));
    wat.extend(wat_record(
        "http://wat.example/clean",
        serde_json::json!([{"name": "description", "content": "noai"}]),
        serde_json::json!({"Content-Type": "text/html"}),
        &[("/h1.jpg", "A steam train crossing a stone bridge")],
    ));
    std::fs::write(dir.join("pages.wat"), wat).unwrap();
    std::fs::write(dir.join("list.csv"), "url,caption\nhttp://list.example/i.jpg,A bicycle leaning on a red wall\n")
        .unwrap();
}

/// url → page_opt_out (None for null) of a candidates folder, read with pyarrow.
fn page_opt_outs(out: &str) -> BTreeMap<String, Option<String>> {
    let text = run_python(
        "import sys, json, pyarrow.parquet as pq\n\
         m = json.load(open(sys.argv[1] + '/_manifest.json'))\n\
         t = pq.read_table([sys.argv[1] + '/' + s['file'] for s in m['shards']])\n\
         print(json.dumps({r['url']: r['page_opt_out'] for r in t.select(['url', 'page_opt_out']).to_pylist()}))",
        &[out],
    );
    serde_json::from_str(&text).unwrap()
}

fn skipped(out: &str) -> BTreeMap<String, u64> {
    let manifest = Manifest::load(Path::new(out)).unwrap();
    serde_json::from_value::<BTreeMap<String, u64>>(manifest.stats["skipped"].clone())
        .unwrap()
        .into_iter()
        .filter(|(reason, _)| reason.starts_with("page_opt_out:"))
        .collect()
}

#[test]
fn page_opt_outs_drop_their_pairs_and_kept_pairs_record_what_their_page_said() {
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path());
    let inputs = ["pages.warc", "pages.wat", "list.csv"].map(|f| dir.path().join(f).display().to_string());
    let out = dir.path().join("candidates").display().to_string();
    let mut args = vec!["harvest", &inputs[0], &inputs[1], &inputs[2], "-o", &out, "--lang", "any"];
    let printed = run(&args);
    assert!(printed.contains("page_opt_out:noai 3"), "{printed}");

    // Default list: noai, noimageai, tdm-reservation drop; noindex does not.
    let expected_skips: BTreeMap<String, u64> =
        [("page_opt_out:noai", 3), ("page_opt_out:noimageai", 1), ("page_opt_out:tdm-reservation", 2)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
    assert_eq!(skipped(&out), expected_skips);
    let kept = page_opt_outs(&out);
    let expected: BTreeMap<String, Option<String>> = [
        ("http://opt.example/d1.jpg", Some("noindex")),
        ("http://opt.example/e1.jpg", Some("")),
        ("http://wat.example/h1.jpg", Some("")),
        ("http://list.example/i.jpg", None),
    ]
    .into_iter()
    .map(|(url, said)| (url.to_string(), said.map(str::to_string)))
    .collect();
    assert_eq!(kept, expected, "only the pages without a dropping opt-out are left, each with its decision");

    // The list is configurable: only noindex drops now, and the others record what they carried.
    let out2 = dir.path().join("candidates-noindex").display().to_string();
    args[5] = &out2;
    args.extend(["--page-opt-out-directives", "noindex"]);
    run(&args);
    assert_eq!(skipped(&out2), BTreeMap::from([("page_opt_out:noindex".to_string(), 2)]));
    let kept = page_opt_outs(&out2);
    assert_eq!(kept["http://opt.example/a1.jpg"].as_deref(), Some("noai"));
    assert_eq!(kept["http://opt.example/b1.jpg"].as_deref(), Some("noimageai,noarchive"));
    assert_eq!(kept["http://opt.example/c1.jpg"].as_deref(), Some("tdm-reservation"));
    assert_eq!(kept["http://wat.example/g1.jpg"].as_deref(), Some("tdm-reservation"));
    assert!(!kept.contains_key("http://opt.example/d1.jpg") && !kept.contains_key("http://wat.example/f1.jpg"));
    assert_eq!(kept.len(), 8);
}

/// Writes a complete curated folder of (url, caption) pairs.
fn write_curated(dir: &Path, urls: &[String]) {
    std::fs::create_dir_all(dir).unwrap();
    let rows: Vec<CuratedPair> = urls
        .iter()
        .map(|url| CuratedPair {
            candidate: Candidate {
                key: pair_key(url, "a photo"),
                url: url.clone(),
                caption: "a photo".into(),
                page_url: None,
                source: "test".into(),
                lang: None,
                lang_conf: None,
                provenance: Provenance { page_opt_out: Some("noindex".into()), ..Provenance::default() },
            },
            query_ids: vec![0],
            keep_prob: 1.0,
        })
        .collect();
    let mut manifest = Manifest::new(RecordKind::Curated, serde_json::json!({"stage": "test"}), None);
    let mut writer =
        ShardWriter::for_records::<CuratedPair>(dir.join(shard_file_name(0)), &Default::default()).unwrap();
    writer.write_records(&rows).unwrap();
    manifest.add_shard(writer.finish().unwrap());
    manifest.complete = true;
    manifest.save(dir).unwrap();
}

/// url → every trust column of the corpus and failure rows of `out`, read with pyarrow; image
/// bytes served are given as files `bytes/<n>` for hashlib to hash: `sha256_ok`/`md5_ok` say whether
/// the columns match.
const READ_AUDIT: &str = r#"
import sys, json, hashlib, os, pyarrow as pa, pyarrow.parquet as pq
out, served = sys.argv[1], json.loads(sys.argv[2])
rows = {}
for folder in [out, out + '/_failures']:
    m = json.load(open(folder + '/_manifest.json'))
    t = pq.read_table([folder + '/' + s['file'] for s in m['shards']])
    fetched = t.column('robots_txt_fetched_at').cast(pa.int64()).to_pylist()
    for r, at in zip(t.to_pylist(), fetched):
        got = {k: r.get(k) for k in ['robots_txt', 'robots_txt_rule', 'robots_txt_xxh3', 'x_robots_tag',
                                     'page_opt_out', 'sha256', 'md5']}
        got['status'] = r.get('status') or 'success'
        got['robots_fetched'] = at is not None and at > 1_700_000_000_000_000
        if r['url'] in served:
            body = open(served[r['url']], 'rb').read()
            got['sha256_ok'] = r.get('sha256') == hashlib.sha256(body).hexdigest()
            got['md5_ok'] = r.get('md5') == hashlib.md5(body).hexdigest()
        rows[r['url']] = got
print(json.dumps(rows))
"#;

#[test]
fn fetch_records_robots_and_x_robots_tag_decisions_and_the_hashes_of_original_bytes() {
    let robots = b"User-agent: *\nDisallow: /private/\nAllow: /img/\n".to_vec();
    let robots_xxh3 = u64::from_str_radix(&wit_contract::xxh3_hex(&robots), 16).unwrap();
    let site = LoopbackServer::start(Vec::new());
    site.route("/robots.txt", Reply::ok("text/plain", robots));
    let broken = LoopbackServer::start(Vec::new());
    broken.route("/robots.txt", Reply::status(503, &[]));
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("bytes")).unwrap();
    let mut served = serde_json::Map::new();
    let mut serve = |server: &LoopbackServer, path: &str, body: Vec<u8>, headers: &[(&str, &str)]| {
        let file = dir.path().join("bytes").join(served.len().to_string());
        std::fs::write(&file, &body).unwrap();
        served.insert(server.url(path), file.display().to_string().into());
        server.route(path, Reply::with_headers("image/jpeg", body, headers));
        server.url(path)
    };
    let plain = serve(&site, "/img/plain.jpg", jpeg(40, 30, 1), &[("X-Robots-Tag", "noarchive")]);
    let noai = serve(&site, "/img/noai.jpg", jpeg(40, 30, 2), &[("X-Robots-Tag", "wit: noai")]);
    let private = serve(&site, "/private/p.jpg", jpeg(40, 30, 3), &[]);
    let unruled = serve(&site, "/other.png", png(40, 30, 4), &[]);
    let unavailable = serve(&broken, "/x.jpg", jpeg(40, 30, 5), &[]);
    let urls = [&plain, &noai, &private, &unruled, &unavailable].map(|u| u.to_string());
    let input = dir.path().join("curated");
    write_curated(&input, &urls);
    let served = Value::Object(served).to_string();

    let fetch = |out: &str, extra: &[&str]| -> BTreeMap<String, Value> {
        let i = input.display().to_string();
        let mut args =
            vec!["fetch", &i, "-o", out, "--allow-private-networks", "--min-image-size", "8", "--retries", "0"];
        args.extend_from_slice(extra);
        run(&args);
        serde_json::from_str(&run_python(READ_AUDIT, &[out, &served])).unwrap()
    };
    let out = dir.path().join("corpus").display().to_string();
    let rows = fetch(&out, &["--compute-hash", "both"]);
    let brief = |url: &str| {
        let r = &rows[url];
        (r["status"].as_str().unwrap(), r["robots_txt"].as_str(), r["robots_txt_rule"].as_str())
    };
    assert_eq!(brief(&plain), ("success", Some("allowed"), Some("Allow: /img/")));
    assert_eq!(brief(&noai), ("opted_out", Some("allowed"), Some("Allow: /img/")));
    assert_eq!(brief(&private), ("robots_disallowed", Some("disallowed"), Some("Disallow: /private/")));
    assert_eq!(brief(&unruled), ("success", Some("allowed"), None));
    let unavailable_rule = wit_net::robots::UNAVAILABLE_RULE;
    assert_eq!(brief(&unavailable), ("robots_disallowed", Some("disallowed"), Some(unavailable_rule)));
    for url in [&plain, &noai, &private, &unruled] {
        assert_eq!(rows[url]["robots_txt_xxh3"], robots_xxh3, "{url}: the robots.txt consulted");
        assert_eq!(rows[url]["robots_fetched"], true, "{url}");
    }
    assert_eq!(rows[&unavailable]["robots_txt_xxh3"], Value::Null, "no robots.txt body to hash");
    assert_eq!(rows[&unavailable]["robots_fetched"], true, "the failed robots.txt fetch is dated too");
    assert_eq!(rows[&plain]["x_robots_tag"], "noarchive");
    assert_eq!(rows[&noai]["x_robots_tag"], "wit: noai");
    assert_eq!(rows[&unruled]["x_robots_tag"], Value::Null);
    for url in [&plain, &unruled] {
        assert_eq!((&rows[url]["sha256_ok"], &rows[url]["md5_ok"]), (&Value::Bool(true), &Value::Bool(true)), "{url}");
        assert_eq!(rows[url]["page_opt_out"], "noindex", "harvest's page decision travels to the corpus");
    }
    assert_eq!(rows[&private]["page_opt_out"], "noindex", "…and to the failures");

    // Without robots.txt, and the default hashes (sha256 only): the audit says so.
    let out2 = dir.path().join("corpus-2").display().to_string();
    let rows = fetch(&out2, &["--ignore-robots"]);
    assert_eq!(rows[&private]["status"], "success");
    for url in &urls {
        assert_eq!(rows[url]["robots_txt"], "not_checked", "{url}");
        assert_eq!((&rows[url]["robots_txt_rule"], &rows[url]["robots_txt_xxh3"]), (&Value::Null, &Value::Null));
    }
    assert_eq!(rows[&plain]["sha256_ok"], true);
    assert_eq!(rows[&plain]["md5"], Value::Null);
}

/// Rows of every pair folder of a build, in listing order, as JSON-able dicts (images as hex), and
/// the blocked-set checks: `before` and `after` builds, the removed key set and URL.
const COMPARE_BUILDS: &str = r#"
import sys, json, os, pyarrow.parquet as pq
before, after, keys, url = sys.argv[1], sys.argv[2], set(json.loads(sys.argv[3])), sys.argv[4]
def rows(folder):
    m = json.load(open(folder + '/_manifest.json'))
    if not m['shards']:
        return []
    t = pq.read_table([folder + '/' + s['file'] for s in m['shards']])
    return [{k: (v.hex() if isinstance(v, bytes) else str(v)) for k, v in r.items()} for r in t.to_pylist()]
out = {}
for folder in ['crawl', 'candidates', 'curated', 'corpus', 'corpus/_failures']:
    if not os.path.exists(before + '/' + folder + '/_manifest.json'):
        continue
    old, new = rows(before + '/' + folder), rows(after + '/' + folder)
    blocked = lambda r: r['key'] in keys or r['url'] == url
    kept = [r for r in old if not blocked(r)]
    out[folder] = {'before': len(old), 'after': len(new), 'removed': len(old) - len(kept),
                   'rest_identical': new == kept, 'blocked_left': sum(blocked(r) for r in new)}
print(json.dumps(out))
"#;

/// The README's `wit remove` example (the fenced block after `<!-- remove example -->`), run with
/// BUILD and the list files substituted.
fn run_readme_remove_example(build: &Path, lists: &Path) -> String {
    let readme = std::fs::read_to_string(wit_tests::workspace_root().join("README.md")).unwrap();
    let after = readme.split("<!-- remove example -->").nth(1).expect("README holds the remove example");
    let block = after.split("```bash\n").nth(1).and_then(|rest| rest.split("```").next()).unwrap();
    let mut printed = String::new();
    for line in block.lines().map(str::trim).filter(|l| l.starts_with("wit ")) {
        let line = line.replace(" out", &format!(" {}", build.display()));
        let words: Vec<String> = line
            .split_whitespace()
            .skip(1)
            .map(|w| if w.ends_with(".txt") { lists.join(w).display().to_string() } else { w.to_string() })
            .collect();
        let args: Vec<&str> = words.iter().map(String::as_str).collect();
        printed.push_str(&run(&args));
    }
    printed
}

#[test]
fn wit_remove_takes_pairs_out_of_every_folder_and_a_rebuild_does_not_bring_them_back() {
    let (_web, dir, build, toml) = wit_tests::demo_build::run_demo_build_serving(12, 1, 20);
    let before = dir.path().join("before");
    wit_tests::kill::copy_dir(&build, &before);
    // Takedowns: a key, a URL and an image by its sha256 (each a different corpus row).
    let picked = run_python(
        "import sys, json, pyarrow.parquet as pq\n\
         m = json.load(open(sys.argv[1] + '/corpus/_manifest.json'))\n\
         t = pq.read_table([sys.argv[1] + '/corpus/' + s['file'] for s in m['shards']])\n\
         r = t.select(['key', 'url', 'sha256']).to_pylist()\n\
         print(json.dumps([r[0]['key'], r[5]['url'], r[9]['sha256'], [x['key'] for x in r if x['sha256'] == r[9]['sha256']]]))",
        &[build.to_str().unwrap()],
    );
    let picked: Value = serde_json::from_str(&picked).unwrap();
    let (key, url, sha256) = (picked[0].as_str().unwrap(), picked[1].as_str().unwrap(), picked[2].as_str().unwrap());
    let lists = dir.path().join("lists");
    std::fs::create_dir_all(&lists).unwrap();
    std::fs::write(lists.join("keys.txt"), format!("# takedown request 1\n{key}\n")).unwrap();
    std::fs::write(lists.join("urls.txt"), format!("{url}\n")).unwrap();
    std::fs::write(lists.join("hashes.txt"), format!("{sha256}\n")).unwrap();
    let mut removed_keys: Vec<String> = vec![key.to_string()];
    removed_keys.extend(picked[3].as_array().unwrap().iter().map(|k| k.as_str().unwrap().to_string()));

    let printed = run_readme_remove_example(&build, &lists);
    assert!(printed.contains("report regenerated"), "{printed}");
    let compared: Value = serde_json::from_str(&run_python(
        COMPARE_BUILDS,
        &[before.to_str().unwrap(), build.to_str().unwrap(), &serde_json::to_string(&removed_keys).unwrap(), url],
    ))
    .unwrap();
    for folder in ["candidates", "curated", "corpus"] {
        let f = &compared[folder];
        assert!(f["removed"].as_u64().unwrap() >= 3, "{folder}: {f}");
        assert_eq!(f["after"].as_u64().unwrap() + f["removed"].as_u64().unwrap(), f["before"].as_u64().unwrap());
    }
    for folder in ["candidates", "curated", "corpus", "corpus/_failures"] {
        let f = &compared[folder];
        assert_eq!((&f["rest_identical"], &f["blocked_left"]), (&Value::Bool(true), &Value::from(0)), "{folder}: {f}");
    }
    // Shards without a takedown are the same files; the others were rewritten under new names.
    let mut untouched = 0;
    for folder in ["queries", "candidates", "curated", "corpus", "corpus/_failures"] {
        let (old, new) = (Manifest::load(before.join(folder)).unwrap(), Manifest::load(build.join(folder)).unwrap());
        for shard in &new.shards {
            if let Some(same) = old.shards.iter().find(|s| s.file == shard.file) {
                let bytes = |root: &Path| std::fs::read(root.join(folder).join(&shard.file)).unwrap();
                assert_eq!((same, bytes(&before)), (shard, bytes(&build)), "{folder}/{} changed", shard.file);
                untouched += 1;
            } else {
                assert!(shard.file.contains(".d1."), "{folder}: {} is new but not a rewrite", shard.file);
            }
        }
        let verify = wit(&["verify", build.join(folder).to_str().unwrap()]);
        assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
    }
    assert!(untouched > 0, "some shards hold no takedown and must stay as they were");
    let corpus = Manifest::load(build.join("corpus")).unwrap();
    assert_eq!(corpus.stats["corpus_rows"], corpus.total_rows(), "the counters follow the rows");
    assert_eq!(corpus.stats["takedowns"], compared["corpus"]["removed"]);
    let blocklist = std::fs::read_to_string(build.join("_blocklist.jsonl")).unwrap();
    assert!(blocklist.contains(sha256) && blocklist.contains(url) && blocklist.contains(key), "{blocklist}");

    // The per-query table's kept counts follow the curated shards; matched is marked as from before.
    let counts = run_python(
        "import sys, json, collections, pyarrow.parquet as pq\n\
         b = sys.argv[1] + '/curated/'\n\
         m = json.load(open(b + '_manifest.json'))\n\
         ids = collections.Counter(i for s in m['shards'] for r in pq.read_table(b + s['file'], columns=['query_ids']).to_pylist() for i in r['query_ids'])\n\
         t = pq.read_table(b + m['config']['query_counts']).to_pylist()\n\
         mark = json.load(open(b + '_query_counts/_manifest.json'))['stats']['takedowns']\n\
         print(json.dumps([sum(r['kept'] != ids.get(r['id'], 0) for r in t), mark['matched_before_takedowns'], mark['curated_rows_removed']]))",
        &[build.to_str().unwrap()],
    );
    let counts: Value = serde_json::from_str(&counts).unwrap();
    assert_eq!(counts, serde_json::json!([0, true, compared["curated"]["removed"]]), "kept mismatches, mark");
    let verify = wit(&["verify", build.join("curated/_query_counts").to_str().unwrap()]);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));

    // Removing the same again changes nothing.
    let again = run_readme_remove_example(&build, &lists);
    assert!(again.contains("0 new blocklist entries"), "{again}");

    // A rebuild from the same inputs (the stage folders gone, the blocklist kept) leaves them out.
    for folder in ["candidates", "curated", "corpus", "report"] {
        std::fs::remove_dir_all(build.join(folder)).unwrap();
    }
    let rebuilt = wit(&["build", "--config", toml.to_str().unwrap()]);
    assert!(rebuilt.status.success(), "{}", String::from_utf8_lossy(&rebuilt.stderr));
    let compared: Value = serde_json::from_str(&run_python(
        COMPARE_BUILDS,
        &[build.to_str().unwrap(), build.to_str().unwrap(), &serde_json::to_string(&removed_keys).unwrap(), url],
    ))
    .unwrap();
    for folder in ["candidates", "curated", "corpus", "corpus/_failures"] {
        assert_eq!(compared[folder]["removed"], 0, "{folder} brought a takedown back: {}", compared[folder]);
    }
    assert!(compared["corpus"]["after"].as_u64().unwrap() > 0);
    let harvested = Manifest::load(build.join("candidates")).unwrap();
    assert!(harvested.stats["skipped"]["blocklisted"].as_u64().unwrap() >= 3, "{}", harvested.stats);
}
