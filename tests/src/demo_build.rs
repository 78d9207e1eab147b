//! The `wit build` TOML of a demo-web build, as the end-to-end and Slurm tests write it: the real
//! Wikipedia excerpt for the dictionary (min count 5, the WordNet fixture), a polite crawl of the
//! demo web, WAT inputs, curation, fetch at 32 px, report. Tests set what they vary.

use std::path::PathBuf;

use wit_demoweb::{DemoWeb, SiteConfig};

use crate::{wit, workspace_root};

pub struct DemoBuild<'a> {
    /// `output` (a folder path or an `s3://` URL).
    pub output: &'a str,
    pub world_size: usize,
    /// The demo web's base URL (the crawl's seed).
    pub base: &'a str,
    /// Harvest inputs (paths or URLs).
    pub wats: &'a [String],
    /// The `[curate]` table's lines, e.g. `cap = 40`.
    pub curate: &'a str,
    pub fetch_delay_ms: u64,
    pub shard_rows: usize,
    /// The `[report]` table's lines.
    pub report: &'a str,
}

impl DemoBuild<'_> {
    pub fn toml(&self) -> String {
        let root = workspace_root();
        let dump = root.join("fixtures/enwiki/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2");
        let wats: Vec<String> = self.wats.iter().map(|w| format!("{w:?}")).collect();
        format!(
            r#"
output = "{output}"
world_size = {world_size}
[queries]
inputs = ["{dump}"]
min_count = 5
size = 20000
wordnet = "{wordnet}"
[crawl]
seeds = ["{base}/"]
per_host_delay_ms = 0
per_host_concurrency = 4
allow_private_networks = true
[harvest]
inputs = [{wats}]
[curate]
{curate}
[fetch]
image_size = 32
resize_mode = "center_crop"
min_image_size = 16
per_host_delay_ms = {delay}
allow_private_networks = true
shard_rows = {shard_rows}
[report]
{report}
"#,
            output = self.output,
            world_size = self.world_size,
            dump = dump.display(),
            wordnet = root.join("fixtures/wordnet").display(),
            base = self.base,
            wats = wats.join(", "),
            curate = self.curate,
            delay = self.fetch_delay_ms,
            shard_rows = self.shard_rows,
            report = self.report,
        )
    }
}

/// Runs `wit build` over a fresh demo web of `pages` pages with 6 real photos each (one WAT of it,
/// cap 100, no fetch delay, `shard_rows` rows per shard, no report options) at `world_size`;
/// returns the temporary folder and the build's OUTPUT in it. Panics with wit's stderr on failure.
pub fn run_demo_build(pages: u64, world_size: usize, shard_rows: usize) -> (tempfile::TempDir, PathBuf) {
    let (_web, dir, out, _toml) = run_demo_build_serving(pages, world_size, shard_rows);
    (dir, out)
}

/// [`run_demo_build`], with the demo web still serving and the build's TOML file, for tests that
/// build again.
pub fn run_demo_build_serving(
    pages: u64,
    world_size: usize,
    shard_rows: usize,
) -> (DemoWeb, tempfile::TempDir, PathBuf, PathBuf) {
    let site = SiteConfig {
        pages,
        images_per_page: 6,
        real_images: Some(workspace_root().join("fixtures/images")),
        ..SiteConfig::default()
    };
    let web = DemoWeb::start(site, "127.0.0.1:0".parse().unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("build");
    std::fs::create_dir_all(&out).unwrap();
    let wat = out.join("demo.wat.gz");
    web.write_wat(&wat).unwrap();
    let wats = [wat.display().to_string()];
    let config = DemoBuild {
        output: out.to_str().unwrap(),
        world_size,
        base: &web.base_url(),
        wats: &wats,
        curate: "cap = 100",
        fetch_delay_ms: 0,
        shard_rows,
        report: "",
    }
    .toml();
    let toml = dir.path().join("wit.toml");
    std::fs::write(&toml, config).unwrap();
    let run = wit(&["build", "--config", toml.to_str().unwrap()]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    (web, dir, out, toml)
}
