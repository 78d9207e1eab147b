//! The stage command sequence of a build with `--world-size N`, as a Slurm array (or a Kubernetes
//! Indexed Job) runs it: every rank of a wave as its own `wit` process, then the wave's merge.
//! Folders may be local paths or URLs (`s3://…`); `N = 1` is the single-process build.
//!
//! ```text
//! queries   rank:  wit queries build DUMP -o Q FLAGS --rank R --world-size N --phase count
//!           merge: wit queries build -o Q FLAGS --world-size N --phase merge
//! harvest   rank:  wit harvest INPUT… -o C FLAGS --rank R --world-size N --phase harvest
//!           merge: wit harvest INPUT… -o C FLAGS --world-size N --phase merge
//! curate    rank:  wit curate --queries Q --candidates C -o K FLAGS --rank R --world-size N --phase count
//!           rank:  wit curate --queries Q --candidates C -o K FLAGS --rank R --world-size N --phase select
//!           merge: wit curate --queries Q --candidates C -o K FLAGS --world-size N --phase merge
//! fetch     rank:  wit fetch K -o F FLAGS --rank R --world-size N --phase fetch
//!           merge: wit fetch K -o F FLAGS --world-size N --phase merge
//! ```

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

fn strings(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

impl Pipeline {
    pub fn folder(&self, stage: &str) -> String {
        format!("{}/{stage}", self.root.trim_end_matches('/'))
    }

    /// Each stage's flags, the same on every rank and in the merge.
    fn queries_flags(&self) -> Vec<String> {
        strings(&["-o", &self.folder("queries"), "--min-count", "5", "--size", "20000", "--wordnet", &self.wordnet])
    }

    fn harvest_flags(&self) -> Vec<String> {
        let mut flags = self.inputs.clone();
        flags.extend(strings(&["-o", &self.folder("candidates")]));
        flags
    }

    fn curate_flags(&self) -> Vec<String> {
        let (q, c, k) = (self.folder("queries"), self.folder("candidates"), self.folder("curated"));
        strings(&["--queries", &q, "--candidates", &c, "-o", &k, "--cap", "20", "--seed", "7"])
    }

    fn fetch_flags(&self) -> Vec<String> {
        strings(&[
            &self.folder("curated"),
            "-o",
            &self.folder("corpus"),
            "--image-size",
            "32",
            "--resize-mode",
            "center_crop",
            "--per-host-delay-ms",
            "0",
            "--allow-private-networks",
            "--shard-rows",
            "40",
        ])
    }

    /// The whole sequence for world size `n`: (wave of rank commands, merge command) per step.
    pub fn steps(&self, n: usize) -> Vec<Step> {
        let ranked = |stage: &[&str], flags: Vec<String>, phase: &str| -> Vec<Vec<String>> {
            (0..n)
                .map(|rank| {
                    let mut args = strings(stage);
                    args.extend(flags.iter().cloned());
                    if n > 1 {
                        args.extend(strings(&["--rank", &rank.to_string(), "--world-size", &n.to_string()]));
                        args.extend(strings(&["--phase", phase]));
                    }
                    args
                })
                .collect()
        };
        let merge = |stage: &[&str], flags: Vec<String>| -> Option<Vec<String>> {
            (n > 1).then(|| {
                let mut args = strings(stage);
                args.extend(flags);
                args.extend(strings(&["--world-size", &n.to_string(), "--phase", "merge"]));
                args
            })
        };
        let mut queries_rank = self.queries_flags();
        queries_rank.insert(0, self.dump.clone());
        vec![
            (ranked(&["queries", "build"], queries_rank, "count"), merge(&["queries", "build"], self.queries_flags())),
            (ranked(&["harvest"], self.harvest_flags(), "harvest"), merge(&["harvest"], self.harvest_flags())),
            (ranked(&["curate"], self.curate_flags(), "count"), None),
            (
                if n > 1 { ranked(&["curate"], self.curate_flags(), "select") } else { Vec::new() },
                merge(&["curate"], self.curate_flags()),
            ),
            (ranked(&["fetch"], self.fetch_flags(), "fetch"), merge(&["fetch"], self.fetch_flags())),
        ]
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
        let process = std::sync::atomic::AtomicUsize::new(0);
        let env = || {
            let mut env = self.env.clone();
            if let Some(scratch) = scratch {
                let k = process.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                env.push(("WIT_SCRATCH".into(), path_str(&scratch.join(format!("process-{k}")))));
            }
            env
        };
        for (wave, merge) in self.steps(n) {
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

/// The small build the storage tests compare against: a demo web (8 pages of 6 pictures, site
/// seed `seed`) whose WAT file is written to `dir/web.wat.gz`, built in one process into
/// `dir/local` from the real Wikipedia excerpt. Returns the web (keep it alive: fetch reads it),
/// the WAT file and the local pipeline (already run).
pub fn local_demo_build(dir: &Path, seed: u64) -> (DemoWeb, PathBuf, Pipeline) {
    let root = workspace_root();
    let site = SiteConfig { seed, pages: 8, images_per_page: 6, ..SiteConfig::default() };
    let web = DemoWeb::start(site, "127.0.0.1:0".parse().expect("an address")).expect("the demo web starts");
    let wat = dir.join("web.wat.gz");
    web.write_wat(&wat).expect("the demo WAT file");
    let dump = root.join("fixtures/enwiki/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2");
    let local = Pipeline {
        dump: path_str(&dump),
        wordnet: path_str(&root.join("fixtures/wordnet")),
        inputs: vec![path_str(&wat)],
        root: path_str(&dir.join("local")),
        env: Vec::new(),
    };
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
        query_counts: rows(&root.join("curated/query_counts")),
        corpus: corpus_outcome(&root.join("corpus")),
    }
}

/// The outcome of a corpus folder.
pub fn corpus_outcome(dir: &Path) -> CorpusOutcome {
    let keys = |c: &Candidate| c.key.clone();
    let corpus: Vec<CorpusImage> = rows(dir);
    let failures: Vec<Failure> = rows(&dir.join("failures"));
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

/// Checks that every `manifest.json` among `objects` ((key, size) under `prefix` in a store; the
/// same keys downloaded into `downloaded`, relative to the prefix) lists only objects that exist
/// with the listed size: readers trust manifests, so an entry must never point at a missing or
/// partial object. Returns how many entries it checked.
pub fn manifests_point_at_whole_objects(objects: &[(String, u64)], prefix: &str, downloaded: &Path) -> usize {
    let sizes: BTreeMap<&str, u64> = objects.iter().map(|(key, size)| (key.as_str(), *size)).collect();
    let mut checked = 0;
    for key in sizes.keys().filter(|k| k.ends_with("/manifest.json")) {
        let relative = key[prefix.len()..].trim_start_matches('/');
        let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(downloaded.join(relative)).unwrap())
            .unwrap_or_else(|e| panic!("{key}: {e}"));
        let folder = key.trim_end_matches("manifest.json");
        for shard in manifest["shards"].as_array().unwrap() {
            let object = format!("{folder}{}", shard["file"].as_str().unwrap());
            assert_eq!(sizes.get(object.as_str()).copied(), shard["bytes"].as_u64(), "{key} lists {object}");
            checked += 1;
        }
    }
    checked
}

/// A build read back from a store (`objects` listed under `prefix`, downloaded into `back`) against
/// the local build under `local`: a corpus was published, no temporary object is left, every
/// manifest entry is a whole object, every stage folder verifies, and the outcome is the same.
pub fn assert_read_back_equals_local(objects: &[(String, u64)], prefix: &str, back: &Path, local: &Path) {
    let corpus_manifest = format!("{prefix}/corpus/manifest.json");
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
