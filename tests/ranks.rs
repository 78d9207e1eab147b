//! World size 4 builds the same corpus as world size 1. Four demo webs (one WAT file each, so each
//! harvest rank has an input) feed queries → harvest → curate → fetch, once as single processes and
//! once as the rank/merge sequence of `wit_tests::pipeline` (every rank its own `wit` process, as a
//! Slurm array runs them). Dictionary, candidates, curated pairs, per-query counts and corpus keys
//! must agree; a rank rerun after the build finds its part complete.

use std::path::Path;

use wit_demoweb::{DemoWeb, SiteConfig};
use wit_tests::pipeline::{outcome, path_str, wit_ok, Pipeline};
use wit_tests::workspace_root;

/// Four small demo webs with different seeds, and their WAT copies.
pub fn demo_webs(dir: &Path) -> (Vec<DemoWeb>, Vec<String>) {
    let mut webs = Vec::new();
    let mut wats = Vec::new();
    for i in 0..4u64 {
        let site = SiteConfig { seed: 100 + i, pages: 6, images_per_page: 6, ..SiteConfig::default() };
        let web = DemoWeb::start(site, "127.0.0.1:0".parse().unwrap()).unwrap();
        let wat = dir.join(format!("web-{i}.wat.gz"));
        web.write_wat(&wat).unwrap();
        wats.push(path_str(&wat));
        webs.push(web);
    }
    (webs, wats)
}

#[test]
fn four_ranks_build_what_one_process_builds() {
    let root = workspace_root();
    let dir = tempfile::tempdir().unwrap();
    let (_webs, wats) = demo_webs(dir.path());
    let dump = root.join("fixtures/enwiki/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2");
    let pipeline = |name: &str| Pipeline {
        dump: path_str(&dump),
        wordnet: path_str(&root.join("fixtures/wordnet")),
        inputs: wats.clone(),
        root: path_str(&dir.path().join(name)),
        env: Vec::new(),
    };
    let one = pipeline("one");
    one.run(1);
    let four = pipeline("four");
    four.run(4);

    let (a, b) = (outcome(&dir.path().join("one")), outcome(&dir.path().join("four")));
    assert!(a.corpus.corpus_rows > 20, "a real test: {} rows", a.corpus.corpus_rows);
    assert_eq!(a.queries, b.queries, "dictionary");
    assert_eq!(a.candidates, b.candidates, "candidates");
    assert_eq!(a.curated, b.curated, "curated pairs");
    assert_eq!(a.query_counts, b.query_counts, "per-query matched and kept");
    assert_eq!(a, b);
    // Every rank's folder is there, and the merged corpus is one folder a reader can verify.
    for rank in 0..4 {
        assert!(dir.path().join(format!("four/corpus/ranks/rank-{rank:05}-of-00004/manifest.json")).exists());
    }
    wit_ok(&["verify".into(), path_str(&dir.path().join("four/corpus"))], &[]);

    // A rank rerun after the build redoes nothing; so does the merge.
    let steps = four.steps(4);
    let (fetch_ranks, fetch_merge) = steps.last().unwrap();
    for args in [&fetch_ranks[2], fetch_merge.as_ref().unwrap()] {
        let stdout = String::from_utf8(wit_ok(args, &[]).stdout).unwrap();
        assert!(stdout.contains("already complete"), "{stdout}");
    }
}
