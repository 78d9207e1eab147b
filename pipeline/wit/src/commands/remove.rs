//! `wit remove BUILD --keys|--urls|--domains|--image-hashes FILE`: takedowns that stick.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use wit_trust::{remove, RemoveRequest};

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  wit remove out --keys takedown-keys.txt
  wit remove out --urls urls.txt --domains domains.txt --image-hashes sha256-or-md5.txt

The entries are appended to OUT/_blocklist.jsonl: later `wit build` runs of OUT pass it to harvest,
curate and fetch (--blocklist), which leave the pairs out (counted as `blocklisted`).")]
#[command(group(clap::ArgGroup::new("lists").required(true).multiple(true)))]
pub struct RemoveArgs {
    /// A `wit build` folder (OUTPUT of the build's TOML).
    build: PathBuf,
    /// Pair keys to remove, one a line (16 hex digits, the `key` column).
    #[arg(long, group = "lists")]
    keys: Option<PathBuf>,
    /// Image URLs to remove, one a line (the `url` column).
    #[arg(long, group = "lists")]
    urls: Option<PathBuf>,
    /// Domains whose images to remove (subdomains included), one a line.
    #[arg(long, group = "lists")]
    domains: Option<PathBuf>,
    /// sha256 (64 hex digits) or md5 (32) of original image bytes, one a line (fetch's `sha256`
    /// and `md5` columns).
    #[arg(long, group = "lists")]
    image_hashes: Option<PathBuf>,
    /// Leave BUILD/report as it is (by default it is regenerated when it exists).
    #[arg(long)]
    no_report: bool,
}

pub fn run(args: &RemoveArgs) -> Result<ExitCode> {
    let request = RemoveRequest {
        build: args.build.clone(),
        keys: args.keys.clone(),
        urls: args.urls.clone(),
        domains: args.domains.clone(),
        image_hashes: args.image_hashes.clone(),
        regenerate_report: !args.no_report,
    };
    let stats = remove(&request).with_context(|| format!("removing takedowns from {}", args.build.display()))?;
    println!(
        "{}: {} new blocklist entries ({} keys of blocked images)",
        args.build.display(),
        stats.new_entries,
        stats.keys_from_hashes
    );
    for folder in &stats.folders {
        println!(
            "  {}: {} rows removed, {} shards rewritten, {} untouched",
            folder.folder, folder.rows_removed, folder.shards_rewritten, folder.shards_untouched
        );
    }
    for table in &stats.query_counts {
        println!(
            "  {}: kept recounted ({} queries changed, {} taken off kept; matched is from before the takedowns)",
            table.table, table.queries_changed, table.kept_lowered_by
        );
    }
    if stats.report_regenerated {
        println!("  report regenerated");
    }
    Ok(ExitCode::SUCCESS)
}
