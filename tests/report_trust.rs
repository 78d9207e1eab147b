//! The report's Trust section on a real demo build (`wit build` over the demo web: robots.txt
//! disallows, `X-Robots-Tag: noai` images, the scikit-image samples), before anything else ran
//! ("not run"), then after `wit dedup`, `wit decontaminate` against an eval folder and
//! `wit remove`: every number of the section (report.json, the terminal text, the HTML) checked
//! against the manifests, the blocklist and the side tables read back independently with Python.
//! Also: `kept` of curated/_query_counts equals the curated shards after the removal.

use std::path::Path;

use image::{DynamicImage, ImageFormat, RgbImage};
use serde_json::Value;
use wit_tests::wit_stdout as run;
use wit_tests::{run_python, workspace_root};

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// What the section must say, read from the build with Python (json, pyarrow), not through wit.
const EXPECTED: &str = r#"
import sys, json, os, glob, collections, pyarrow.parquet as pq
build = sys.argv[1]
def manifest(folder):
    path = os.path.join(build, folder, '_manifest.json')
    return json.load(open(path)) if os.path.exists(path) else None
out = {}
c = manifest('candidates')
directives = c['config']['page_opt_out_directives']
skipped = c['stats'].get('skipped', {})
out['page_opt_outs'] = {d: skipped.get('page_opt_out:' + d, 0) for d in directives}
out['harvest_blocklisted'] = skipped.get('blocklisted', 0)
corpus = manifest('corpus')
out['fetch_by_status'] = {s: corpus['stats']['by_status'].get(s, 0) for s in ['robots_disallowed', 'opted_out', 'blocklisted']}
out['fetch_net'] = {k: corpus['config']['net'][k] for k in ['respect_robots', 'opt_out_directives']}
out['fetch_blocklisted_input'] = corpus['stats']['last_run']['blocklisted']
out['curate_blocklisted'] = manifest('curated')['stats']['blocklisted']
lines = [json.loads(l) for l in open(os.path.join(build, '_blocklist.jsonl'))] if os.path.exists(os.path.join(build, '_blocklist.jsonl')) else None
if lines is None:
    out['takedowns'] = None
else:
    distinct = {(l['kind'], l['value']) for l in lines}
    out['takedowns'] = {
        'entries': dict(collections.Counter(k for k, _ in distinct)),
        'rows_removed': {name: (manifest(folder) or {}).get('stats', {}).get('takedowns', 0)
                         for name, folder in [('candidates', 'candidates'), ('curated', 'curated'), ('corpus', 'corpus'), ('failures', 'corpus/_failures')]},
        'first_added': min(l['added_at'] for l in lines),
    }
def side(folder, name):
    files = sorted(glob.glob(os.path.join(build, folder, name, 'data', '*.parquet')))
    return [r for f in files for r in pq.read_table(f).to_pylist()]
if manifest('corpus-dedup'):
    rows = side('corpus-dedup', '_near_duplicates')
    groups = collections.Counter(r['kept_key'] for r in rows)
    largest = sorted(groups.items(), key=lambda kv: (-kv[1], kv[0]))
    m = manifest('corpus-dedup')
    out['dedup'] = {'dropped': len(rows), 'groups': len(groups), 'kept': sum(s['rows'] for s in m['shards']),
                    'largest': [[k, n, sorted(r['key'] for r in rows if r['kept_key'] == k)] for k, n in largest],
                    'threshold': m['config']['threshold']}
if manifest('corpus-clean'):
    rows = side('corpus-clean', '_decontaminated')
    m = manifest('corpus-clean')
    out['decontaminate'] = {'removed': dict(collections.Counter(r['reason'] for r in rows)),
                            'kept': sum(s['rows'] for s in m['shards']), 'keys': sorted(r['key'] for r in rows)}
# kept per query: the table against the curated shards.
cur = manifest('curated')
ids = collections.Counter(i for s in cur['shards'] for r in pq.read_table(os.path.join(build, 'curated', s['file']), columns=['query_ids']).to_pylist() for i in r['query_ids'])
table = pq.read_table(os.path.join(build, 'curated', cur['config']['query_counts'])).to_pylist()
out['kept_mismatches'] = sum(1 for r in table if r['kept'] != ids.get(r['id'], 0))
out['kept_total'] = sum(r['kept'] for r in table)
out['query_counts_mark'] = (manifest('curated/_query_counts')['stats'] or {}).get('takedowns')
print(json.dumps(out))
"#;

fn expected(build: &Path) -> Value {
    serde_json::from_str(&run_python(EXPECTED, &[build.to_str().unwrap()])).unwrap()
}

/// The checks every report of the build must pass: harvest, fetch and curate decisions.
fn check_stage_decisions(trust: &Value, want: &Value, text: &str) {
    assert_eq!(trust["harvest"]["checks"]["dropped"], want["page_opt_outs"], "{trust}");
    assert_eq!(trust["harvest"]["checks"]["blocklisted"], want["harvest_blocklisted"]);
    assert_eq!(trust["fetch"]["by_status"], want["fetch_by_status"], "{trust}");
    assert_eq!(trust["fetch"]["blocklisted_input"], want["fetch_blocklisted_input"]);
    assert_eq!(trust["fetch"]["respect_robots"], want["fetch_net"]["respect_robots"]);
    assert_eq!(trust["fetch"]["opt_out_directives"], want["fetch_net"]["opt_out_directives"]);
    assert!(want["fetch_net"]["opt_out_directives"].as_array().is_some_and(|d| !d.is_empty()), "{want}");
    assert_eq!(trust["curate_blocklisted"], want["curate_blocklisted"]);
    let statuses: Vec<String> = ["blocklisted", "opted_out", "robots_disallowed"]
        .iter()
        .map(|s| format!("{s} {}", want["fetch_by_status"][s].as_u64().unwrap()))
        .collect();
    assert!(text.contains(&format!("image decisions (fetch): {}", statuses.join(", "))), "{text}");
}

/// An eval folder: the astronaut at half size (an image near duplicate of a demo-web picture),
/// and noise captioned with the demo web's caption of the cat (a caption n-gram overlap).
fn write_eval(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let astronaut = image::open(workspace_root().join("fixtures/images/astronaut.png")).unwrap();
    let half =
        astronaut.resize_exact(astronaut.width() / 2, astronaut.height() / 2, image::imageops::FilterType::Triangle);
    half.save_with_format(dir.join("astronaut-half.png"), ImageFormat::Png).unwrap();
    let mut state = 7u32;
    let noise = RgbImage::from_fn(64, 64, |_, _| {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
        image::Rgb([(state >> 16) as u8, (state >> 8) as u8, (state >> 24) as u8])
    });
    DynamicImage::ImageRgb8(noise).save_with_format(dir.join("noise.png"), ImageFormat::Png).unwrap();
    std::fs::write(dir.join("noise.txt"), "a tabby cat named Chelsea looking to the side").unwrap();
}

#[test]
fn the_trust_section_says_what_the_manifests_and_side_tables_say_and_not_run_where_nothing_ran() {
    let (_web, dir, build, _toml) = wit_tests::demo_build::run_demo_build_serving(10, 1, 20);
    let build_str = build.to_str().unwrap();

    // Nothing of wit remove, dedup or decontaminate ran: absent, not zero.
    let text = run(&["report", build_str, "-o", dir.path().join("r0").to_str().unwrap()]);
    let trust = read_json(&dir.path().join("r0/report.json"))["trust"].clone();
    let want = expected(&build);
    check_stage_decisions(&trust, &want, &text);
    assert!(want["page_opt_outs"].as_object().unwrap().len() >= 2, "{want}");
    assert!(
        want["fetch_by_status"]["robots_disallowed"].as_u64().unwrap()
            + want["fetch_by_status"]["opted_out"].as_u64().unwrap()
            > 0,
        "the demo web has opted-out and disallowed images: {want}"
    );
    assert_eq!(
        (&trust["takedowns"], &trust["near_duplicates"], &trust["decontaminations"]),
        (&Value::Null, &serde_json::json!([]), &serde_json::json!([])),
        "{trust}"
    );
    for line in [
        "takedowns (wit remove): not run",
        "near duplicates (wit dedup): not run",
        "decontamination (wit decontaminate): not run",
    ] {
        assert!(text.contains(line), "{line}:\n{text}");
    }
    let html = std::fs::read_to_string(dir.path().join("r0/report.html")).unwrap();
    let section = html.split("<h2 id=\"trust\">").nth(1).unwrap().split("<h2>").next().unwrap();
    assert_eq!(section.matches("not run").count(), 3, "{section}");
    assert!(!text.contains("took rows out after the stages ran"), "{text}");

    // Near duplicates, decontamination, a takedown.
    let corpus = build.join("corpus");
    let dedup = build.join("corpus-dedup");
    let clean = build.join("corpus-clean");
    let eval = dir.path().join("eval");
    write_eval(&eval);
    run(&["dedup", corpus.to_str().unwrap(), "-o", dedup.to_str().unwrap()]);
    run(&[
        "decontaminate",
        dedup.to_str().unwrap(),
        "--against",
        eval.to_str().unwrap(),
        "--caption-ngram",
        "6",
        "-o",
        clean.to_str().unwrap(),
    ]);
    let key = run_python(
        "import sys, json, pyarrow.parquet as pq\nm = json.load(open(sys.argv[1] + '/_manifest.json'))\nprint(pq.read_table(sys.argv[1] + '/' + m['shards'][0]['file'], columns=['key'])['key'][0].as_py())",
        &[corpus.to_str().unwrap()],
    );
    let keys = dir.path().join("keys.txt");
    std::fs::write(&keys, key).unwrap();
    let removed = run(&["remove", build_str, "--keys", keys.to_str().unwrap()]);
    assert!(removed.contains("kept recounted"), "{removed}");

    let text = run(&["report", build_str, "-o", dir.path().join("r1").to_str().unwrap()]);
    let report = read_json(&dir.path().join("r1/report.json"));
    let trust = &report["trust"];
    let want = expected(&build);
    check_stage_decisions(trust, &want, &text);

    // Takedowns: the blocklist by kind and the rows each folder lost.
    let t = &trust["takedowns"];
    assert_eq!(t["entries"], want["takedowns"]["entries"], "{t}");
    assert_eq!(t["rows_removed"], want["takedowns"]["rows_removed"], "{t}");
    assert_eq!(t["first_added"], want["takedowns"]["first_added"]);
    assert!(want["takedowns"]["rows_removed"]["curated"].as_u64().unwrap() >= 1, "{want}");
    // The per-query table follows the curated shards, and says matched is from before.
    assert_eq!(want["kept_mismatches"], 0, "{want}");
    assert_eq!(want["query_counts_mark"]["matched_before_takedowns"], true, "{want}");
    assert_eq!(t["query_counts"], want["query_counts_mark"]);
    let kept_in_report: u64 = report["queries"].as_array().unwrap().iter().map(|q| q["kept"].as_u64().unwrap()).sum();
    assert_eq!(kept_in_report, want["kept_total"].as_u64().unwrap());
    assert!(text.contains("kept recounted after takedowns"), "{text}");
    assert!(text.contains("note: takedowns (wit remove) took rows out after the stages ran"), "{text}");

    // Near duplicates: counts, groups and the largest ones.
    let n = &trust["near_duplicates"][0];
    let d = &want["dedup"];
    assert!(d["dropped"].as_u64().unwrap() > 0, "the demo web shows the same pictures more than once: {d}");
    assert_eq!(
        (&n["dropped"], &n["groups"], &n["kept"], &n["threshold"]),
        (&d["dropped"], &d["groups"], &d["kept"], &d["threshold"]),
        "{n}"
    );
    let largest = n["largest"].as_array().unwrap();
    assert_eq!(largest.len(), d["largest"].as_array().unwrap().len().min(10));
    for (got, want) in largest.iter().zip(d["largest"].as_array().unwrap()) {
        assert_eq!(got["kept"]["key"], want[0]);
        assert_eq!(got["dropped_count"], want[1]);
        let mut keys: Vec<&str> =
            got["dropped"].as_array().unwrap().iter().map(|m| m["key"].as_str().unwrap()).collect();
        keys.sort();
        let want_keys: Vec<&str> = want[2].as_array().unwrap().iter().map(|k| k.as_str().unwrap()).take(8).collect();
        assert_eq!(keys.len(), want_keys.len());
        assert!(keys.iter().all(|k| want[2].as_array().unwrap().iter().any(|w| w == k)), "{got}");
    }
    assert!(
        text.contains(&format!(
            "{} rows dropped in {} groups",
            d["dropped"].as_u64().unwrap(),
            d["groups"].as_u64().unwrap()
        )),
        "{text}"
    );
    assert!(text.contains(&format!("kept {} ← dropped", d["largest"][0][0].as_str().unwrap())), "{text}");

    // Decontamination: removed pairs by reason, examples among them.
    let c = &trust["decontaminations"][0];
    let w = &want["decontaminate"];
    assert_eq!((&c["removed"], &c["kept"]), (&w["removed"], &w["kept"]), "{c}");
    assert!(w["removed"]["image"].as_u64().unwrap() > 0 && w["removed"]["caption"].as_u64().unwrap() > 0, "{w}");
    for example in c["examples"].as_array().unwrap() {
        assert!(w["keys"].as_array().unwrap().contains(&example["row"]["key"]), "{example}");
    }
    assert!(
        text.contains(&format!("removed caption {}, image {}", w["removed"]["caption"], w["removed"]["image"])),
        "{text}"
    );

    // A derived corpus as the input: the chain back to the fetched corpus (its failures, the
    // curated folder) is followed, and both derived folders are in the section.
    run(&["report", clean.to_str().unwrap(), "-o", dir.path().join("r2").to_str().unwrap()]);
    let chained = read_json(&dir.path().join("r2/report.json"));
    assert_eq!(chained["stages"]["corpus"]["rows"], w["kept"]);
    assert!(
        chained["stages"]["curated"].is_object() && chained["stages"]["failures"].is_object(),
        "{}",
        chained["stages"]
    );
    assert_eq!(chained["trust"]["near_duplicates"][0]["dropped"], d["dropped"]);
    assert_eq!(chained["trust"]["decontaminations"][0]["removed"], w["removed"]);
    assert_eq!(chained["trust"]["takedowns"]["entries"], want["takedowns"]["entries"]);

    // The HTML: the same section, with thumbnails of the largest group.
    let html = std::fs::read_to_string(dir.path().join("r1/report.html")).unwrap();
    let section = html.split("<h2 id=\"trust\">").nth(1).unwrap().split("<h2>").next().unwrap();
    assert!(!section.contains("not run"), "{section}");
    let group = section.split(&format!("data-kept=\"{}\"", d["largest"][0][0].as_str().unwrap())).nth(1).unwrap();
    let group = group.split("</div></div><div class=\"samples\"").next().unwrap();
    assert!(group.matches("<img src=\"data:image/jpeg;base64,").count() >= 2, "{group}");
    assert!(section.contains(&format!("{} rows dropped in {} groups", d["dropped"], d["groups"])), "{section}");
}
