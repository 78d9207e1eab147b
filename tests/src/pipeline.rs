//! The stage command sequence of a build with `--world-size N`, as a Slurm array (or a Kubernetes
//! Indexed Job) runs it: every rank of a wave as its own `wit` process, one-process steps after
//! their wave. The sequence is the build planner's (wit-plan reading each stage's declared steps),
//! not spelled here, so the tests run exactly what `wit build` plans. Folders may be local paths or
//! URLs (`s3://…`); `N = 1` is the single-process build.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use wit_contract::{read_records, Candidate, CorpusImage, CuratedPair, Failure, Manifest, QueryCount, QueryEntry};

use wit_demoweb::{DemoWeb, SiteConfig};

use crate::{workspace_binary, workspace_root};

/// One build's inputs, options and folders.
/// One step of a multi-rank run: the argv of each rank, then the merge's argv (if any).
pub type Step = (Vec<Vec<String>>, Option<Vec<String>>);

pub struct Pipeline {
    pub dump: String,
    pub wordnet: String,
    /// Harvest inputs (WAT/WARC files or URL lists; paths or URLs).
    pub inputs: Vec<String>,
    /// Output root: `ROOT/queries`, `candidates`, `curated`, `corpus` (a path or a URL).
    pub root: String,
    /// Extra environment of every `wit` process (object store endpoint and credentials).
    pub env: Vec<(String, String)>,
}

/// Runs `wit ARGS` with `env`; fails the test with its output when it fails.
pub fn wit_ok(args: &[String], env: &[(String, String)]) -> Output {
    let output = Command::new(workspace_binary("wit"))
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("wit runs");
    assert!(
        output.status.success(),
        "wit {}\n{}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

impl Pipeline {
    /// A pipeline over the real Wikipedia excerpt and WordNet fixtures, harvesting `inputs`, with
    /// its folders under `root` (a local folder).
    pub fn demo(root: &Path, inputs: Vec<String>) -> Pipeline {
        let fixtures = workspace_root().join("fixtures");
        Pipeline {
            dump: path_str(
                &fixtures.join("enwiki/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"),
            ),
            wordnet: path_str(&fixtures.join("wordnet")),
            inputs,
            root: path_str(root),
            env: Vec::new(),
        }
    }

    pub fn folder(&self, stage: &str) -> String {
        format!("{}/{stage}", self.root.trim_end_matches('/'))
    }

    /// The build configuration (what `wit build --config` reads) of this pipeline at world size `n`.
    pub fn config(&self, n: usize) -> toml::Table {
        let table = |pairs: Vec<(&str, toml::Value)>| -> toml::Value {
            toml::Value::Table(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
        };
        let list = |items: &[String]| toml::Value::Array(items.iter().map(|s| toml::Value::from(s.as_str())).collect());
        let mut config = toml::Table::new();
        config.insert("output".into(), self.root.trim_end_matches('/').into());
        config.insert("world_size".into(), (n as i64).into());
        config.insert(
            "queries".into(),
            table(vec![
                ("inputs", list(std::slice::from_ref(&self.dump))),
                ("min_count", 5.into()),
                ("size", 20_000.into()),
                ("wordnet", self.wordnet.as_str().into()),
            ]),
        );
        config.insert("harvest".into(), table(vec![("inputs", list(&self.inputs))]));
        config.insert("curate".into(), table(vec![("cap", 20.into()), ("seed", 7.into())]));
        config.insert(
            "fetch".into(),
            table(vec![
                ("image_size", 32.into()),
                ("resize_mode", "center_crop".into()),
                ("per_host_delay_ms", 0.into()),
                ("allow_private_networks", true.into()),
                ("shard_rows", 40.into()),
            ]),
        );
        config
    }

    /// The whole sequence for world size `n`: (wave of rank commands, one-process command) per step.
    pub fn steps(&self, n: usize) -> Vec<Step> {
        steps_of(self.config(n))
    }

    /// Runs the sequence for world size `n`, the ranks of a wave in parallel (as an array job
    /// would), each wave's merge after all its ranks.
    pub fn run(&self, n: usize) {
        self.run_with(n, None);
    }

    /// As [`Pipeline::run`], every process with a `$WIT_SCRATCH` of its own under `scratch`, as
    /// on separate machines (or Slurm jobs that each get their own `TMPDIR`).
    pub fn run_apart(&self, n: usize, scratch: &Path) {
        self.run_with(n, Some(scratch));
    }

    fn run_with(&self, n: usize, scratch: Option<&Path>) {
        self.run_steps(self.steps(n), scratch);
    }

    /// Runs the plan of `config` (a [`Pipeline::config`], perhaps with more flags).
    pub fn run_config(&self, config: toml::Table) {
        self.run_steps(steps_of(config), None);
    }

    fn run_steps(&self, steps: Vec<Step>, scratch: Option<&Path>) {
        let process = std::sync::atomic::AtomicUsize::new(0);
        let env = || {
            let mut env = self.env.clone();
            if let Some(scratch) = scratch {
                let k = process.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                env.push(("WIT_SCRATCH".into(), path_str(&scratch.join(format!("process-{k}")))));
            }
            env
        };
        for (wave, merge) in steps {
            std::thread::scope(|scope| {
                let handles: Vec<_> = wave
                    .iter()
                    .map(|args| {
                        let env = env();
                        scope.spawn(move || wit_ok(args, &env))
                    })
                    .collect();
                for handle in handles {
                    handle.join().expect("a rank thread");
                }
            });
            if let Some(args) = merge {
                wit_ok(&args, &env());
            }
        }
    }
}

/// Four demo webs with different seeds (`pages` pages of `images` pictures each) and their WAT
/// copies in `dir`: one input per harvest rank at world size 4. Keep the webs alive: fetch reads them.
pub fn demo_webs(dir: &Path, pages: u64, images: u64) -> (Vec<DemoWeb>, Vec<String>) {
    let mut webs = Vec::new();
    let mut wats = Vec::new();
    for i in 0..4u64 {
        let site = SiteConfig { seed: 100 + i, pages, images_per_page: images, ..SiteConfig::default() };
        let web = DemoWeb::start(site, "127.0.0.1:0".parse().expect("an address")).expect("the demo web starts");
        let wat = dir.join(format!("web-{i}.wat.gz"));
        web.write_wat(&wat).expect("the demo WAT file");
        wats.push(path_str(&wat));
        webs.push(web);
    }
    (webs, wats)
}

/// The steps the planner makes of `config`: an array step as its ranks' argument lists, a
/// one-process step as the second half.
pub fn steps_of(config: toml::Table) -> Vec<Step> {
    let config = wit_plan::BuildConfig::from_table(config).expect("a valid build configuration");
    let plan = wit_plan::plan(&config, &[]).expect("a plan");
    plan.steps
        .iter()
        .map(|step| match step.is_array() {
            true => ((0..step.ranks).map(|rank| step.argv(rank)).collect(), None),
            false => (Vec::new(), Some(step.argv(0))),
        })
        .collect()
}

/// The small build the storage tests compare against: a demo web (8 pages of 6 pictures, site
/// seed `seed`) whose WAT file is written to `dir/web.wat.gz`, built in one process into
/// `dir/local` from the real Wikipedia excerpt. Returns the web (keep it alive: fetch reads it),
/// the WAT file and the local pipeline (already run).
pub fn local_demo_build(dir: &Path, seed: u64) -> (DemoWeb, PathBuf, Pipeline) {
    let site = SiteConfig { seed, pages: 8, images_per_page: 6, ..SiteConfig::default() };
    let web = DemoWeb::start(site, "127.0.0.1:0".parse().expect("an address")).expect("the demo web starts");
    let wat = dir.join("web.wat.gz");
    web.write_wat(&wat).expect("the demo WAT file");
    let local = Pipeline::demo(&dir.join("local"), vec![path_str(&wat)]);
    local.run(1);
    (web, wat, local)
}

/// The path of a local folder as a string (tests build their folders under temp dirs).
pub fn path_str(path: &Path) -> String {
    path.to_str().expect("a UTF-8 temp path").to_string()
}

/// Every row of a complete stage folder, in manifest order.
pub fn rows<T: wit_contract::Record>(dir: &Path) -> Vec<T> {
    let manifest = Manifest::load(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    assert!(manifest.complete, "{} is not complete", dir.display());
    manifest.shard_paths(dir).iter().flat_map(|shard| read_records::<T>(shard).unwrap()).collect()
}

/// What a build produced, in forms that do not depend on shard layout or download order.
#[derive(Debug, PartialEq)]
pub struct Outcome {
    pub queries: Vec<QueryEntry>,
    pub candidates: BTreeSet<String>,
    pub curated: BTreeSet<String>,
    pub query_counts: Vec<QueryCount>,
    pub corpus: CorpusOutcome,
}

/// What a fetch produced, independent of shard layout and download order.
#[derive(Debug, PartialEq)]
pub struct CorpusOutcome {
    /// Keys of every pair whose image downloaded (kept, or dropped as a duplicate image).
    pub downloaded: BTreeSet<String>,
    /// The distinct images of the corpus.
    pub images: BTreeSet<u64>,
    pub corpus_rows: usize,
    /// Keys of the failures other than duplicates.
    pub failed: BTreeSet<String>,
    /// Corpus rows per query (left empty when duplicate images make it depend on download order).
    pub per_query: BTreeMap<u32, usize>,
}

/// The outcome of a build folder (`queries/`, `candidates/`, `curated/`, `corpus/`).
pub fn outcome(root: &Path) -> Outcome {
    let keys = |c: &Candidate| c.key.clone();
    Outcome {
        queries: rows(&root.join("queries")),
        candidates: rows::<Candidate>(&root.join("candidates")).iter().map(keys).collect(),
        curated: rows::<CuratedPair>(&root.join("curated")).iter().map(|p| keys(&p.candidate)).collect(),
        query_counts: rows(&root.join("curated/_query_counts")),
        corpus: corpus_outcome(&root.join("corpus")),
    }
}

/// The outcome of a corpus folder.
pub fn corpus_outcome(dir: &Path) -> CorpusOutcome {
    let keys = |c: &Candidate| c.key.clone();
    let corpus: Vec<CorpusImage> = rows(dir);
    let failures: Vec<Failure> = rows(&dir.join("_failures"));
    let duplicates: Vec<&Failure> = failures.iter().filter(|f| f.status == "duplicate").collect();
    let mut per_query = BTreeMap::new();
    for row in &corpus {
        for id in &row.query_ids {
            *per_query.entry(*id).or_default() += 1;
        }
    }
    CorpusOutcome {
        downloaded: corpus
            .iter()
            .map(|r| keys(&r.candidate))
            .chain(duplicates.iter().map(|f| keys(&f.candidate)))
            .collect(),
        images: corpus.iter().map(|r| r.image_xxh3).collect(),
        corpus_rows: corpus.len(),
        failed: failures.iter().filter(|f| f.status != "duplicate").map(|f| keys(&f.candidate)).collect(),
        per_query: if duplicates.is_empty() { per_query } else { BTreeMap::new() },
    }
}

/// Checks that every `_manifest.json` among `objects` ((key, size) under `prefix` in a store; the
/// same keys downloaded into `downloaded`, relative to the prefix) lists only objects that exist
/// with the listed size: readers trust manifests, so an entry must never point at a missing or
/// partial object. Returns how many entries it checked.
pub fn manifests_point_at_whole_objects(objects: &[(String, u64)], prefix: &str, downloaded: &Path) -> usize {
    let sizes: BTreeMap<&str, u64> = objects.iter().map(|(key, size)| (key.as_str(), *size)).collect();
    let mut checked = 0;
    for key in sizes.keys().filter(|k| k.ends_with("/_manifest.json")) {
        let relative = key[prefix.len()..].trim_start_matches('/');
        let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(downloaded.join(relative)).unwrap())
            .unwrap_or_else(|e| panic!("{key}: {e}"));
        let folder = key.trim_end_matches("_manifest.json");
        for shard in manifest["shards"].as_array().unwrap() {
            let object = normalized(&format!("{folder}{}", shard["file"].as_str().unwrap()));
            assert_eq!(sizes.get(object.as_str()).copied(), shard["bytes"].as_u64(), "{key} lists {object}");
            checked += 1;
        }
    }
    checked
}

/// `a/b/../c` → `a/c`: a rank manifest lists its shards as `../../data/…` (see wit_contract::layout).
fn normalized(key: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in key.split('/') {
        match part {
            ".." => {
                parts.pop();
            }
            "." => {}
            part => parts.push(part),
        }
    }
    parts.join("/")
}

/// A build read back from a store (`objects` listed under `prefix`, downloaded into `back`) against
/// the local build under `local`: a corpus was published, no temporary object is left, every
/// manifest entry is a whole object, every stage folder verifies, and the outcome is the same.
pub fn assert_read_back_equals_local(objects: &[(String, u64)], prefix: &str, back: &Path, local: &Path) {
    let corpus_manifest = format!("{prefix}/corpus/_manifest.json");
    assert!(objects.iter().any(|(k, _)| *k == corpus_manifest), "{objects:?}");
    assert!(!objects.iter().any(|(k, _)| k.contains("/.")), "temporary objects left: {objects:?}");
    assert!(manifests_point_at_whole_objects(objects, prefix, back) > 0);
    for stage in ["queries", "candidates", "curated", "corpus"] {
        wit_ok(&["verify".into(), path_str(&back.join(stage))], &[]);
    }
    let expected = outcome(local);
    assert!(expected.corpus.corpus_rows > 10, "a real test: {expected:?}");
    assert_eq!(outcome(back), expected);
}
