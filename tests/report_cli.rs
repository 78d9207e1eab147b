//! `wit report` on a small built corpus: every number checked against counts the test makes itself
//! from the rows it wrote, the JSON and the Parquet table read back (serde_json, pyarrow), the
//! query page with real thumbnails, partial builds, stage folders and `--against`.

mod report_fixture;

use std::collections::BTreeMap;
use std::path::Path;

use report_fixture::{build, specs, QuerySpec, Written, CAP};
use serde_json::Value;
use wit_tests::wit_stdout as run;
use wit_tests::{run_python, wit};

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// What the test expects of one query, counted from the written rows.
#[derive(Debug, Clone, PartialEq)]
struct Expected {
    matched: u64,
    kept: u64,
    corpus: u64,
    failed: u64,
}

fn expected(specs: &[QuerySpec], written: &Written) -> BTreeMap<u32, Expected> {
    let count =
        |rows: &mut dyn Iterator<Item = &Vec<u32>>, id: u32| rows.filter(|ids| ids.contains(&id)).count() as u64;
    specs
        .iter()
        .map(|s| {
            (
                s.id,
                Expected {
                    matched: s.matched,
                    kept: count(&mut written.curated.iter(), s.id),
                    corpus: count(&mut written.corpus.iter(), s.id),
                    failed: count(&mut written.failures.iter().map(|f| &f.0), s.id),
                },
            )
        })
        .collect()
}

/// Reads one count of an expected row.
type Getter = fn(&Expected) -> u64;

/// Gini by the mean absolute difference (not the sorted formula the report uses).
fn gini(xs: &[u64]) -> f64 {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<u64>() as f64 / n;
    let mut sum = 0.0;
    for &a in xs {
        for &b in xs {
            sum += (a as f64 - b as f64).abs();
        }
    }
    sum / (2.0 * n * n * mean)
}

/// Entropy in nats and its exponential (the report works in bits and 2^H).
fn entropy_nats(xs: &[u64]) -> f64 {
    let total = xs.iter().sum::<u64>() as f64;
    xs.iter().filter(|&&x| x > 0).map(|&x| x as f64 / total).map(|p| -p * p.ln()).sum()
}

fn close(a: f64, b: f64, what: &str) {
    assert!((a - b).abs() < 1e-9, "{what}: report {a}, expected {b}");
}

#[test]
fn numbers_json_and_parquet_agree_with_an_independent_count() {
    let specs = specs();
    let (_dir, root, written) = build(&specs);
    let out = root.join("report");
    let stdout = run(&["report", root.to_str().unwrap(), "--top", "3", "--query", "hot dog"]);
    let want = expected(&specs, &written);

    // The terminal summary names the stages and the measures.
    for text in ["Where pairs dropped off", "Head/tail", "Queries with zero matches: 2", "By source", "gini"] {
        assert!(stdout.contains(text), "{text:?} missing:\n{stdout}");
    }

    let json = read_json(&out.join("report.json"));
    // The per-query table.
    let rows = json["queries"].as_array().unwrap();
    assert_eq!(rows.len(), specs.len());
    for row in rows {
        let id = row["id"].as_u64().unwrap() as u32;
        let e = &want[&id];
        let got = Expected {
            matched: row["matched"].as_u64().unwrap(),
            kept: row["kept"].as_u64().unwrap(),
            corpus: row["corpus"].as_u64().unwrap(),
            failed: row["failed"].as_u64().unwrap(),
        };
        assert_eq!(&got, e, "query {}", row["query"]);
        let spec = specs.iter().find(|s| s.id == id).unwrap();
        assert_eq!(row["query"], spec.query);
        assert_eq!(row["source"], spec.source.name());
    }

    // Measures over the queries with at least one match.
    let population: Vec<&Expected> = want.values().filter(|e| e.matched > 0).collect();
    let columns: [(&str, Getter); 3] = [("matched", |e| e.matched), ("kept", |e| e.kept), ("corpus", |e| e.corpus)];
    let distributions = json["distributions"].as_array().unwrap();
    assert_eq!(distributions.len(), 3);
    for ((name, get), d) in columns.iter().zip(distributions) {
        let xs: Vec<u64> = population.iter().map(|e| get(e)).collect();
        assert_eq!(d["column"], *name);
        assert_eq!(d["queries"].as_u64().unwrap(), population.len() as u64);
        assert_eq!(d["total"].as_u64().unwrap(), xs.iter().sum::<u64>(), "{name} total");
        close(d["gini"].as_f64().unwrap(), gini(&xs), &format!("{name} gini"));
        let h = entropy_nats(&xs);
        close(d["entropy_bits"].as_f64().unwrap(), h / std::f64::consts::LN_2, &format!("{name} entropy"));
        close(d["effective_queries"].as_f64().unwrap(), h.exp(), &format!("{name} effective number"));
        assert_eq!(d["at_cap"].as_u64().unwrap(), xs.iter().filter(|&&x| x >= CAP).count() as u64, "{name} at cap");
    }

    // Head/tail: queries that matched more than the cap, and their share of each column.
    let head_tail = &json["head_tail"];
    let head: Vec<&&Expected> = population.iter().filter(|e| e.matched > CAP).collect();
    assert_eq!(head_tail["cap"].as_u64().unwrap(), CAP);
    assert_eq!(head_tail["head_queries"].as_u64().unwrap(), head.len() as u64);
    assert_eq!(head_tail["tail_queries"].as_u64().unwrap(), (population.len() - head.len()) as u64);
    for ((name, get), share) in columns.iter().zip(head_tail["shares"].as_array().unwrap()) {
        let h: u64 = head.iter().map(|e| get(e)).sum();
        let all: u64 = population.iter().map(|e| get(e)).sum();
        assert_eq!(share["column"], *name);
        assert_eq!(share["head"].as_u64().unwrap(), h);
        close(share["head_share"].as_f64().unwrap(), h as f64 / all as f64, &format!("{name} head share"));
    }

    assert_eq!(json["zero_match"]["count"], 2);
    let zero: Vec<&str> =
        json["zero_match"]["first"].as_array().unwrap().iter().map(|q| q["query"].as_str().unwrap()).collect();
    assert_eq!(zero, ["zebra", "emu"]);
    assert_eq!(json["at_cap"]["count"].as_u64().unwrap(), want.values().filter(|e| e.kept >= CAP).count() as u64);

    // Top and bottom by the last stage (corpus).
    assert_eq!(json["ranked_by"], "corpus");
    let mut ranked: Vec<(u32, &Expected)> =
        want.iter().filter(|(_, e)| e.matched > 0).map(|(&id, e)| (id, e)).collect();
    ranked.sort_by(|a, b| (b.1.corpus, b.1.matched).cmp(&(a.1.corpus, a.1.matched)).then(a.0.cmp(&b.0)));
    let top: Vec<u64> = json["top"].as_array().unwrap().iter().map(|r| r["id"].as_u64().unwrap()).collect();
    assert_eq!(top, ranked.iter().take(3).map(|r| u64::from(r.0)).collect::<Vec<_>>());

    // Funnel and drop-off reasons.
    let drops: BTreeMap<String, u64> = json["drop_off"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["reason"].as_str().unwrap().to_owned(), d["pairs"].as_u64().unwrap()))
        .collect();
    let kept_pairs = written.curated.len() as u64;
    assert_eq!(drops["no dictionary query in the text"], written.candidates - written.matched_texts);
    assert_eq!(drops["not kept by per-query balancing"], written.matched_texts - kept_pairs);
    assert_eq!(drops["failed_to_download"], 2);
    assert_eq!((drops["failed_to_resize"], drops["opted_out"]), (1, 1));
    let unfetched = kept_pairs - written.corpus.len() as u64 - written.failures.len() as u64;
    assert_eq!(unfetched, 1);
    assert_eq!(drops.iter().find(|(r, _)| r.starts_with("neither")).map(|(_, &n)| n), Some(unfetched));
    assert_eq!(json["failures_by_http_status"]["none"], 1);
    assert_eq!(json["stages"]["corpus"]["rows"].as_u64().unwrap(), written.corpus.len() as u64);

    // Per source.
    for source in json["sources"].as_array().unwrap() {
        let name = source["source"].as_str().unwrap();
        let of: Vec<&QuerySpec> = specs.iter().filter(|s| s.source.name() == name).collect();
        assert_eq!(source["queries"].as_u64().unwrap(), of.len() as u64, "{name}");
        let corpus: u64 = of.iter().map(|s| want[&s.id].corpus).sum();
        assert_eq!(source["corpus"].as_u64().unwrap(), corpus, "{name}");
        assert_eq!(source["zero_match"].as_u64().unwrap(), of.iter().filter(|s| s.matched == 0).count() as u64);
    }

    // The Parquet table, read by pyarrow.
    let parquet = out.join("queries.parquet");
    let script = "import json, sys, pyarrow.parquet as pq\n\
                  t = pq.read_table(sys.argv[1])\n\
                  print(json.dumps({'names': t.column_names, 'rows': t.to_pylist()}))";
    let table: Value = serde_json::from_str(&run_python(script, &[parquet.to_str().unwrap()])).unwrap();
    let names: Vec<&str> = table["names"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    assert_eq!(names, ["id", "query", "source", "dictionary_count", "pmi", "matched", "kept", "corpus", "failed"]);
    let parquet_rows = table["rows"].as_array().unwrap();
    assert_eq!(parquet_rows.len(), specs.len());
    for row in parquet_rows {
        let e = &want[&(row["id"].as_u64().unwrap() as u32)];
        assert_eq!(row["matched"].as_u64(), Some(e.matched));
        assert_eq!(row["kept"].as_u64(), Some(e.kept));
        assert_eq!(row["corpus"].as_u64(), Some(e.corpus));
        assert_eq!(row["failed"].as_u64(), Some(e.failed));
    }

    // The query page: real thumbnails as data URIs, captions escaped.
    let page = &json["query_pages"][0];
    assert_eq!(page["query"], "hot dog");
    let hot_dog = specs.iter().find(|s| s.query == "hot dog").unwrap();
    assert_eq!(page["samples"].as_array().unwrap().len() as u64, want[&hot_dog.id].corpus);
    let html = std::fs::read_to_string(out.join(page["file"].as_str().unwrap())).unwrap();
    assert_eq!(
        html.matches("<img src=\"data:image/jpeg;base64,/9j/").count() as u64,
        want[&hot_dog.id].corpus,
        "{html}"
    );
    assert!(html.contains("a photo of hot dog number"));

    // The main page escapes the hostile query and holds the charts and the table.
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(!html.contains("<script>alert"), "an unescaped query");
    assert!(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;co&#39;"));
    for id in
        ["id=\"rank-frequency\"", "id=\"histogram\"", "id=\"cumulative-share\"", "id=\"cap-line\"", "id=\"queries\""]
    {
        assert!(html.contains(id), "{id} missing");
    }
    assert!(!html.contains("src=\"http") && !html.contains("<link"), "the page must not load anything");
}

#[test]
fn a_stage_folder_follows_its_manifest_and_a_partial_build_reports_what_exists() {
    let specs = specs();
    let (dir, root, written) = build(&specs);
    let want = expected(&specs, &written);

    // The corpus folder alone leads to curated (config.input) and the dictionary (config.queries).
    let out = dir.path().join("from-corpus");
    run(&["report", root.join("corpus").to_str().unwrap(), "-o", out.to_str().unwrap()]);
    let json = read_json(&out.join("report.json"));
    assert!(json["stages"]["queries"].is_object() && json["stages"]["curated"].is_object());
    for row in json["queries"].as_array().unwrap() {
        let e = &want[&(row["id"].as_u64().unwrap() as u32)];
        assert_eq!((row["kept"].as_u64(), row["corpus"].as_u64()), (Some(e.kept), Some(e.corpus)));
    }

    // --json prints the same report to stdout.
    let printed: Value = serde_json::from_str(&run(&["report", root.to_str().unwrap(), "--json"])).unwrap();
    assert_eq!(printed["queries"], json["queries"]);

    // Without the corpus: curate numbers only; then the dictionary alone.
    std::fs::remove_dir_all(root.join("corpus")).unwrap();
    run(&["report", root.to_str().unwrap()]);
    let json = read_json(&root.join("report/report.json"));
    assert!(json["stages"]["corpus"].is_null());
    assert_eq!(json["ranked_by"], "kept");
    assert!(json["queries"].as_array().unwrap().iter().all(|r| r["corpus"].is_null()));
    std::fs::remove_dir_all(root.join("curated")).unwrap();
    std::fs::remove_dir_all(root.join("candidates")).unwrap();
    let stdout = run(&["report", root.to_str().unwrap()]);
    let json = read_json(&root.join("report/report.json"));
    assert_eq!(json["queries"].as_array().unwrap().len(), specs.len());
    assert!(json["distributions"].as_array().unwrap().is_empty());
    assert!(stdout.contains("curated") && stdout.contains("(not found)"), "{stdout}");

    // An empty folder is a clear error.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let output = wit(&["report", empty.to_str().unwrap()]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("nothing to report on"));
}

#[test]
fn against_lists_per_query_differences() {
    let a_specs = specs();
    let mut b_specs = specs();
    b_specs[0].pairs = 1; // dog: fewer pairs in B
    b_specs.retain(|s| s.query != "owl");
    let mut lynx = b_specs.iter().find(|s| s.query == "tree").unwrap().clone();
    lynx.id = 30;
    lynx.query = "lynx";
    b_specs.push(lynx);
    let (_a_dir, a, a_written) = build(&a_specs);
    let (_b_dir, b, b_written) = build(&b_specs);
    let stdout = run(&["report", a.to_str().unwrap(), "--against", b.to_str().unwrap()]);
    assert!(stdout.contains("1 only here, 1 only there"), "{stdout}");

    let json = read_json(&a.join("report/report.json"));
    let against = &json["against"];
    assert_eq!(against["column"], "corpus");
    assert_eq!((against["only_here"].as_u64(), against["only_there"].as_u64()), (Some(1), Some(1)));
    let want_a = expected(&a_specs, &a_written);
    let want_b = expected(&b_specs, &b_written);
    let by_query: BTreeMap<&str, &Value> =
        against["differences"].as_array().unwrap().iter().map(|d| (d["query"].as_str().unwrap(), d)).collect();
    let dog = by_query["dog"];
    assert_eq!(dog["delta"].as_i64().unwrap(), want_a[&10].corpus as i64 - want_b[&10].corpus as i64);
    assert_eq!(dog["kept"]["here"].as_u64(), Some(want_a[&10].kept));
    assert_eq!(dog["kept"]["there"].as_u64(), Some(want_b[&10].kept));
    assert_eq!(by_query["owl"]["delta"].as_i64().unwrap(), want_a[&15].corpus as i64);
    assert!(by_query["lynx"]["corpus"]["here"].is_null());
    assert!(!by_query.contains_key("cat"), "unchanged queries are not differences");
    let html = std::fs::read_to_string(a.join("report/report.html")).unwrap();
    assert!(html.contains("id=\"differences\""));
}
