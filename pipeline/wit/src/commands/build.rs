//! `wit build --config wit.toml`: the whole build from one TOML file.
//!
//! Each stage's table holds that stage's command-line flags (`min_count = 5` is `--min-count 5`;
//! `true` adds a switch, `false` leaves it out, a list repeats the flag), so the TOML file and
//! the command line share one set of names, defaults and checks. `inputs` lists a stage's
//! positional inputs. The build wires the folders itself:
//!
//! ```text
//! OUTPUT/queries      wit queries build INPUTS… -o OUTPUT/queries
//! OUTPUT/crawl        wit harvest crawl -o OUTPUT/crawl               ([crawl]: seeds = [...])
//! OUTPUT/candidates   wit harvest INPUTS… [OUTPUT/crawl/crawl/pages.warc.gz] -o OUTPUT/candidates
//! OUTPUT/curated      wit curate --queries … --candidates … -o OUTPUT/curated
//! OUTPUT/corpus       wit fetch OUTPUT/curated -o OUTPUT/corpus
//! OUTPUT/report       wit report OUTPUT -o OUTPUT/report
//! ```
//! With both [crawl] and [harvest], the crawl's WARC joins harvest's inputs, so pairs found by
//! both (a page crawled and also in a WAT file) are deduplicated; curate reads OUTPUT/candidates,
//! or OUTPUT/crawl when there is no [harvest]. Stages run in that order; each one skips itself when its output is complete with the same
//! configuration (its manifest), so rerunning a build resumes it. A `[demo_web]` table starts the
//! demo web on 127.0.0.1 for the duration of the build (its keys are `wit demo-web` flags) and
//! writes its WAT copy to OUTPUT/demo.wat.gz; `{demo_web}` and `{demo_wat}` in any string value
//! are replaced by its base URL and that file. `{output}` is replaced by OUTPUT. Relative paths
//! are relative to the folder `wit` runs in.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Args;
use toml::{Table, Value};
use wit_demoweb::{DemoWeb, SiteConfig};

#[derive(Args, Debug)]
pub struct BuildArgs {
    /// The build's TOML file (see examples/demo.toml and examples/full-enwiki.toml).
    #[arg(long)]
    config: PathBuf,
    /// Print each stage's command line without running anything.
    #[arg(long)]
    dry_run: bool,
}

/// The stages a build runs, in order, and the folder each writes under OUTPUT.
const STAGES: [(&str, &str); 6] = [
    ("queries", "queries"),
    ("crawl", "crawl"),
    ("harvest", "candidates"),
    ("curate", "curated"),
    ("fetch", "corpus"),
    ("report", "report"),
];

pub fn run(args: &BuildArgs) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&args.config).with_context(|| format!("reading {}", args.config.display()))?;
    let config: Table = text.parse().with_context(|| format!("parsing {} as TOML", args.config.display()))?;
    let output = match config.get("output") {
        Some(Value::String(s)) => PathBuf::from(s),
        Some(other) => bail!("{}: `output` must be a folder path, not {other}", args.config.display()),
        None => bail!("{}: `output = \"FOLDER\"` is missing", args.config.display()),
    };
    let mut substitutions = vec![("{output}".to_string(), output.display().to_string())];
    let demo_web = match config.get("demo_web") {
        Some(Value::Table(table)) if !args.dry_run => {
            std::fs::create_dir_all(&output).with_context(|| format!("creating {}", output.display()))?;
            let web = start_demo_web(table).with_context(|| format!("{}: [demo_web]", args.config.display()))?;
            let wat = output.join("demo.wat.gz");
            let records = web.write_wat(&wat)?;
            println!("build: demo web on {}/ ({records} WAT records in {})", web.base_url(), wat.display());
            substitutions.push(("{demo_web}".into(), web.base_url()));
            substitutions.push(("{demo_wat}".into(), wat.display().to_string()));
            Some(web)
        }
        _ => None,
    };
    for key in config.keys() {
        if key != "output" && key != "demo_web" && !STAGES.iter().any(|(stage, _)| stage == key) {
            bail!(
                "{}: unknown table or key `{key}` (stages: queries, harvest, crawl, curate, fetch, report)",
                args.config.display()
            );
        }
    }
    let plan = plan(&config, &output, &substitutions).with_context(|| format!("in {}", args.config.display()))?;
    for (stage, argv) in &plan {
        println!("build: {stage}: wit {}", argv.join(" "));
        let cli = crate::Cli::from_args(argv.iter().cloned())
            .map_err(|e| anyhow::anyhow!("{}: [{stage}]: {e}", args.config.display()))?;
        if args.dry_run {
            continue;
        }
        let code = crate::dispatch(cli.command).with_context(|| format!("build stage {stage}"))?;
        if code != ExitCode::SUCCESS {
            bail!("build stage {stage} failed; fix it and rerun: complete stages are skipped");
        }
    }
    drop(demo_web);
    if !args.dry_run {
        println!("build: complete in {}", output.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn start_demo_web(table: &Table) -> Result<DemoWeb> {
    let mut site = SiteConfig::default();
    let mut port = 0u16;
    for (key, value) in table {
        let number = || value.as_integer().filter(|n| *n >= 0).with_context(|| format!("`{key}` must be a number ≥ 0"));
        match key.as_str() {
            "pages" => site.pages = number()? as u64,
            "images_per_page" => site.images_per_page = number()? as u64,
            "image_size" => site.image_size = number()? as u32,
            "seed" => site.seed = number()? as u64,
            "port" => port = u16::try_from(number()?).context("`port` is over 65535")?,
            "real_images" => {
                let dir = PathBuf::from(value.as_str().context("`real_images` must be a folder path")?);
                site.real_images = dir.is_dir().then_some(dir);
            }
            other => bail!("unknown key `{other}` (pages, images_per_page, image_size, seed, port, real_images)"),
        }
    }
    Ok(DemoWeb::start(site, SocketAddr::from((Ipv4Addr::LOCALHOST, port)))?)
}

/// Each configured stage's `wit` arguments, in run order.
fn plan(config: &Table, output: &Path, substitutions: &[(String, String)]) -> Result<Vec<(String, Vec<String>)>> {
    let dir = |stage: &str| {
        let folder = STAGES.iter().find(|(s, _)| *s == stage).map(|(_, f)| *f).unwrap_or(stage);
        output.join(folder).display().to_string()
    };
    let mut plan = Vec::new();
    for (stage, _) in STAGES {
        let Some(value) = config.get(stage) else { continue };
        let Value::Table(table) = value else { bail!("[{stage}] must be a table") };
        let inputs = string_list(table.get("inputs"), substitutions).with_context(|| format!("[{stage}] inputs"))?;
        let mut argv: Vec<String> = match stage {
            "queries" => ["queries", "build"].map(String::from).into_iter().chain(inputs).collect(),
            "harvest" => {
                let mut argv: Vec<String> = std::iter::once("harvest".to_string()).chain(inputs).collect();
                if config.contains_key("crawl") {
                    argv.push(wit_harvest::crawl::crawl_warc_path(Path::new(&dir("crawl"))).display().to_string());
                }
                argv
            }
            "crawl" => vec!["harvest".into(), "crawl".into()],
            "curate" => {
                let candidates = if config.contains_key("harvest") { "harvest" } else { "crawl" };
                vec!["curate".into(), "--queries".into(), dir("queries"), "--candidates".into(), dir(candidates)]
            }
            "fetch" => vec!["fetch".into(), dir("curate")],
            "report" => vec!["report".into(), output.display().to_string()],
            _ => unreachable!("STAGES lists every stage"),
        };
        argv.extend(["-o".into(), dir(stage)]);
        for (key, value) in table {
            if key == "inputs" {
                continue;
            }
            let flag = format!("--{}", key.replace('_', "-"));
            match value {
                Value::Boolean(true) => argv.push(flag),
                Value::Boolean(false) => {}
                Value::Array(items) => {
                    for item in items {
                        argv.extend([
                            flag.clone(),
                            scalar(item, substitutions).with_context(|| format!("[{stage}] {key}"))?,
                        ]);
                    }
                }
                other => argv.extend([flag, scalar(other, substitutions).with_context(|| format!("[{stage}] {key}"))?]),
            }
        }
        plan.push((stage.to_string(), argv));
    }
    Ok(plan)
}

fn scalar(value: &Value, substitutions: &[(String, String)]) -> Result<String> {
    Ok(match value {
        Value::String(s) => substitute(s, substitutions),
        Value::Integer(n) => n.to_string(),
        Value::Float(x) => x.to_string(),
        Value::Boolean(b) => b.to_string(),
        other => bail!("expected a string, number or boolean, found {other}"),
    })
}

fn string_list(value: Option<&Value>, substitutions: &[(String, String)]) -> Result<Vec<String>> {
    match value {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items.iter().map(|item| scalar(item, substitutions)).collect(),
        Some(other) => Ok(vec![scalar(other, substitutions)?]),
    }
}

fn substitute(text: &str, substitutions: &[(String, String)]) -> String {
    substitutions.iter().fold(text.to_string(), |acc, (from, to)| acc.replace(from, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_become_the_stages_flags_with_wired_folders() {
        let config: Table = r#"
            output = "out/b"
            [queries]
            inputs = ["dump.xml.bz2"]
            min_count = 5
            wordnet = "fixtures/wordnet"
            [crawl]
            seeds = ["{demo_web}/", "{demo_web}/real.html"]
            allow_private_networks = true
            [harvest]
            inputs = ["a.wat.gz"]
            [curate]
            cap = 50
            strict = false
            [fetch]
            image_size = 32
        "#
        .parse()
        .unwrap();
        let subs = vec![("{demo_web}".to_string(), "http://127.0.0.1:9".to_string())];
        let plan = plan(&config, Path::new("out/b"), &subs).unwrap();
        let stages: Vec<&str> = plan.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(stages, ["queries", "crawl", "harvest", "curate", "fetch"]);
        assert_eq!(
            plan[0].1,
            [
                "queries",
                "build",
                "dump.xml.bz2",
                "-o",
                "out/b/queries",
                "--min-count",
                "5",
                "--wordnet",
                "fixtures/wordnet"
            ]
        );
        assert_eq!(
            plan[1].1,
            [
                "harvest",
                "crawl",
                "-o",
                "out/b/crawl",
                "--allow-private-networks",
                "--seeds",
                "http://127.0.0.1:9/",
                "--seeds",
                "http://127.0.0.1:9/real.html"
            ]
        );
        assert_eq!(plan[2].1, ["harvest", "a.wat.gz", "out/b/crawl/crawl/pages.warc.gz", "-o", "out/b/candidates"]);
        let curate = "curate --queries out/b/queries --candidates out/b/candidates -o out/b/curated --cap 50";
        assert_eq!(plan[3].1.join(" "), curate);
        assert_eq!(plan[4].1, ["fetch", "out/b/curated", "-o", "out/b/corpus", "--image-size", "32"]);
    }

    #[test]
    fn the_shipped_examples_are_valid_builds() {
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
        for name in ["demo.toml", "full-enwiki.toml"] {
            let config: Table = std::fs::read_to_string(examples.join(name)).unwrap().parse().unwrap();
            let subs = vec![
                ("{demo_web}".to_string(), "http://127.0.0.1:1".to_string()),
                ("{demo_wat}".to_string(), "demo.wat.gz".to_string()),
            ];
            let plan = plan(&config, Path::new("out"), &subs).unwrap();
            assert!(plan.len() >= 5, "{name}");
            for (stage, argv) in plan {
                if let Err(e) = crate::Cli::from_args(argv) {
                    panic!("{name} [{stage}]: {e}");
                }
            }
        }
    }

    #[test]
    fn a_table_in_a_flag_is_an_error_naming_it() {
        let config: Table = "output = \"o\"\n[curate]\ncap = { a = 1 }\n".parse().unwrap();
        let err = plan(&config, Path::new("o"), &[]).unwrap_err();
        assert!(format!("{err:#}").contains("[curate] cap"), "{err:#}");
    }
}
