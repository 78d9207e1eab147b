//! The whole job at tiny scale, as `make demo` runs it: the demo web on 127.0.0.1 (started here, so
//! the test sees every request), `wit build` from a TOML file — the real Wikipedia excerpt for the
//! dictionary, a polite crawl plus the WAT copy, strict per-query balancing, fetch, report — then
//! `wit-train` on the corpus and a zero-shot and retrieval check on held-out pictures.

use std::collections::BTreeMap;
use std::path::Path;

use wit_contract::{read_records, CorpusImage, Manifest};
use wit_demoweb::{DemoWeb, SiteConfig};
use wit_tests::demo_build::DemoBuild;
use wit_tests::{run_python, wit, workspace_binary, workspace_root};

/// Strict per-query cap of the test build. Nearly every caption holds "a", so the corpus is about
/// this size.
const CAP: u64 = 150;

fn stats(dir: &Path) -> serde_json::Value {
    Manifest::load(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).stats
}

fn n(value: &serde_json::Value) -> u64 {
    value.as_u64().unwrap_or_else(|| panic!("not a count: {value}"))
}

#[test]
fn build_then_train_on_the_demo_web() {
    let root = workspace_root();
    let site = SiteConfig {
        pages: 30,
        images_per_page: 8,
        real_images: Some(root.join("fixtures/images")),
        ..SiteConfig::default()
    };
    let seed = site.seed;
    let web = DemoWeb::start(site, "127.0.0.1:0".parse().unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("build");
    std::fs::create_dir_all(&out).unwrap();
    let wat = out.join("demo.wat.gz");
    web.write_wat(&wat).unwrap();
    let wats = [wat.display().to_string()];
    let config = DemoBuild {
        output: out.to_str().unwrap(),
        world_size: 1,
        base: &web.base_url(),
        wats: &wats,
        curate: &format!("cap = {CAP}\nstrict = true"),
        fetch_delay_ms: 0,
        shard_rows: 100,
        report: "query = [\"red\"]",
    }
    .toml();
    let toml = dir.path().join("wit.toml");
    std::fs::write(&toml, config).unwrap();
    let build = wit(&["build", "--config", toml.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&build.stdout);
    assert!(build.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&build.stderr));

    // Robots: nothing under the disallowed paths was ever requested.
    let paths = web.requests().paths();
    assert!(paths.iter().any(|p| p == "/robots.txt"), "{paths:?}");
    assert!(paths.iter().any(|p| p.starts_with("/img/gen/")), "images were fetched");
    assert!(!paths.iter().any(|p| p.starts_with("/private/") || p.starts_with("/img/private/")), "{paths:?}");

    // Every pair accounted for, stage to stage.
    let harvest = stats(&out.join("candidates"));
    let skipped: u64 = harvest["skipped"].as_object().unwrap().values().map(n).sum();
    assert_eq!(n(&harvest["pairs_found"]), n(&harvest["pairs_out"]) + skipped, "{harvest}");
    assert!(n(&harvest["skipped"]["lang_not_allowed"]) > 0, "the foreign captions were filtered: {harvest}");
    let curate = stats(&out.join("curated"));
    assert_eq!(n(&curate["candidates"]), n(&harvest["pairs_out"]), "{curate}");
    let curated_rows = Manifest::load(out.join("curated")).unwrap().total_rows();
    assert_eq!(n(&curate["kept"]), curated_rows);
    let fetch = stats(&out.join("corpus"));
    let corpus_rows = Manifest::load(out.join("corpus")).unwrap().total_rows();
    let failure_rows = Manifest::load(out.join("corpus/_failures")).unwrap().total_rows();
    assert_eq!(corpus_rows + failure_rows, curated_rows, "{fetch}");
    assert!(n(&fetch["by_status"]["opted_out"]) > 0 && n(&fetch["by_status"]["failed_to_download"]) > 0, "{fetch}");
    assert!(corpus_rows > 100, "{corpus_rows} images");

    // No query above its cap in the corpus (strict balancing), counted from the shards themselves.
    let mut per_query: BTreeMap<u32, u64> = BTreeMap::new();
    let corpus_manifest = Manifest::load(out.join("corpus")).unwrap();
    for shard in corpus_manifest.shard_paths(out.join("corpus")) {
        for row in read_records::<CorpusImage>(&shard).unwrap() {
            for id in row.query_ids {
                *per_query.entry(id).or_default() += 1;
            }
        }
    }
    let (top_query, top) = per_query.iter().max_by_key(|(_, c)| **c).unwrap();
    assert!(*top <= CAP, "query {top_query} holds {top} > {CAP}");

    // Independent readers: pyarrow (the stage folder) and DuckDB (its data/) see the same rows.
    let counted = run_python(
        "import sys, duckdb, pyarrow.parquet as pq\n\
         a = pq.read_table(sys.argv[1], columns=['key']).num_rows\n\
         d = duckdb.sql(f\"select count(distinct key) from '{sys.argv[1]}/data/*.parquet'\").fetchall()[0][0]\n\
         print(a, d)",
        &[out.join("corpus").to_str().unwrap()],
    );
    assert_eq!(counted.trim(), format!("{corpus_rows} {corpus_rows}"));

    // The report lists every dictionary query, with the corpus counts found above.
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report/report.json")).unwrap()).unwrap();
    let dictionary = Manifest::load(out.join("queries")).unwrap().total_rows();
    let rows = report["queries"].as_array().unwrap();
    assert_eq!(rows.len() as u64, dictionary);
    for row in rows {
        let id = n(&row["id"]) as u32;
        assert_eq!(n(&row["corpus"]), per_query.get(&id).copied().unwrap_or(0), "{row}");
    }

    // A rerun resumes: every stage is complete and skipped.
    let again = wit(&["build", "--config", toml.to_str().unwrap()]);
    assert!(again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stdout).matches("already complete").count() >= 3,
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );

    // Train a tiny CLIP on the corpus, then check it on held-out pictures the web never served.
    let train_dir = dir.path().join("train");
    let trainer = workspace_binary("wit-train");
    let train = std::process::Command::new(&trainer)
        .args(["train", "--data", out.join("corpus").to_str().unwrap(), "--config", "tiny", "--device", "cpu"])
        .args(["--batch", "32", "--steps", "150", "--lr", "1e-3", "--warmup", "20", "--workers", "2"])
        .args(["-o", train_dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(train.status.success(), "{}", String::from_utf8_lossy(&train.stderr));
    let heldout = dir.path().join("heldout");
    let seed_arg = seed.to_string();
    let made = wit(&[
        "demo-web",
        "--heldout",
        heldout.to_str().unwrap(),
        "--heldout-count",
        "96",
        "--image-size",
        "32",
        "--seed",
        &seed_arg,
    ]);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let eval = std::process::Command::new(&trainer)
        .args(["eval", "--data", heldout.join("corpus").to_str().unwrap(), "--holdout", "1"])
        .args(["--queries", heldout.join("classes").to_str().unwrap(), "--device", "cpu"])
        .args(["-o", train_dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(eval.status.success(), "{}", String::from_utf8_lossy(&eval.stderr));
    let results = std::fs::read_to_string(train_dir.join("results.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(results.lines().last().unwrap()).unwrap();
    let images = last["images"].as_f64().unwrap();
    let r5 = last["image_to_text"]["r5"].as_f64().unwrap();
    assert!(r5 > 2.0 * 5.0 / images, "image→text R@5 {r5} against chance {}: {last}", 5.0 / images);
    let zero_shot = last["zero_shot"]["top1"].as_f64().unwrap();
    assert!(zero_shot > 2.0 / 24.0, "zero-shot top-1 {zero_shot} against chance 1/24: {last}");
}
