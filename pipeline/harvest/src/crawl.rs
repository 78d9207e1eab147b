//! The seed crawler: a polite breadth-first crawl of HTML pages from seed URLs, kept to a domain
//! allow-list, a page budget and a depth limit. Every request goes through [`wit_net::Fetcher`] —
//! the same client, robots.txt cache, per-host delay and address checks as the fetch stage.
//!
//! Like a real archiving crawler, it writes what it read as WARC `response` records
//! (`OUT/_crawl/pages.warc.gz`, written under a temporary name and renamed when the crawl ends) and
//! then harvests that file into `OUT` with the WARC reader, so a crawled page goes through exactly
//! the extraction, cleaning, language filter and dedup of an archived one, and the crawl can be
//! harvested again later. `OUT/_crawl/crawl.json` holds the crawl's own statistics.
//!
//! Takedowns: a page whose URL or domain the build's blocklist (`harvest.blocklist`, `wit remove`)
//! lists is never requested (counted as `pages_blocklisted`), and the harvest of the crawl leaves
//! out the blocked pairs as any harvest does.
//!
//! Resume: a finished crawl (its WARC present) is not crawled again; the harvest step skips itself
//! when complete.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;
use serde::Serialize;
use url::Url;
use wit_net::{Fetcher, NetOptions, RequestOptions};
use xxhash_rust::xxh3::xxh3_64;

use crate::error::{HarvestError, Result};
use crate::html::{extract_html, HtmlOptions};
use crate::{harvest, HarvestConfig, HarvestStats};
use wit_contract::{AtPath, PathError};

/// Everything a crawl needs.
#[derive(Debug, Clone)]
pub struct CrawlConfig {
    /// Where the crawl starts (http/https).
    pub seeds: Vec<String>,
    /// Hosts the crawl may enter (a host or any of its subdomains); empty: the seeds' hosts.
    pub allow_domains: Vec<String>,
    /// Most pages fetched (successful or not).
    pub max_pages: u64,
    /// Most link steps away from a seed (seeds are depth 0).
    pub max_depth: u32,
    /// Pages fetched at once (the per-host limits of `net` still apply).
    pub concurrency: usize,
    /// The shared client's options: user agent, robots, delays, address policy, limits.
    pub net: NetOptions,
    /// How the crawled pages are harvested into `harvest.out`; `inputs` is set by the crawl.
    pub harvest: HarvestConfig,
}

/// What a crawl did (also written to `OUT/_crawl/crawl.json`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct CrawlStats {
    /// True when an earlier run had finished the crawl and its WARC was reused.
    pub reused_earlier_crawl: bool,
    pub pages_fetched: u64,
    pub pages_html: u64,
    /// Failed or refused requests by error kind (robots_disallowed, http_status, timeout…).
    pub failed: BTreeMap<String, u64>,
    pub not_html: u64,
    pub links_found: u64,
    pub links_out_of_scope: u64,
    /// Links not followed because of the depth limit or the page budget.
    pub links_over_limits: u64,
    /// Seeds and links not requested because the build's blocklist (`harvest.blocklist`) lists
    /// their URL or domain.
    #[serde(default)]
    pub pages_blocklisted: u64,
    pub warc_bytes: u64,
    pub seconds: f64,
    #[serde(skip)]
    pub harvest: Option<HarvestStats>,
}

/// The crawl's WARC file inside the output folder.
pub fn crawl_warc_path(out: &Path) -> PathBuf {
    out.join("_crawl").join("pages.warc.gz")
}

/// Crawls from the seeds, writes the WARC, then harvests it into `config.harvest.out`.
pub fn crawl(config: &CrawlConfig) -> Result<CrawlStats> {
    let out = config.harvest.out.clone();
    let warc = crawl_warc_path(&out);
    let dir = warc.parent().map(Path::to_path_buf).unwrap_or_else(|| out.clone());
    std::fs::create_dir_all(&dir).at_path(&dir)?;
    let mut stats = if warc.is_file() {
        tracing::info!("{}: crawl already finished; harvesting it", warc.display());
        CrawlStats { reused_earlier_crawl: true, ..CrawlStats::default() }
    } else {
        let started = std::time::Instant::now();
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().at_path(&dir)?;
        let mut stats = runtime.block_on(crawl_to_warc(config, &warc))?;
        stats.seconds = started.elapsed().as_secs_f64();
        let json = serde_json::to_vec_pretty(&stats).map_err(|e| HarvestError::Config(e.to_string()))?;
        wit_contract::write_file_atomically(&dir.join("crawl.json"), &json)?;
        stats
    };
    let harvest_config = HarvestConfig { inputs: vec![warc], ..config.harvest.clone() };
    stats.harvest = Some(harvest(&harvest_config)?);
    Ok(stats)
}

fn scope(config: &CrawlConfig, seeds: &[Url]) -> Vec<String> {
    if config.allow_domains.is_empty() {
        seeds.iter().filter_map(|u| u.host_str().map(str::to_ascii_lowercase)).collect()
    } else {
        config.allow_domains.iter().map(|d| d.trim_start_matches('.').to_ascii_lowercase()).collect()
    }
}

fn in_scope(url: &Url, scope: &[String]) -> bool {
    let Some(host) = url.host_str().map(str::to_ascii_lowercase) else { return false };
    matches!(url.scheme(), "http" | "https") && scope.iter().any(|d| host == *d || host.ends_with(&format!(".{d}")))
}

async fn crawl_to_warc(config: &CrawlConfig, warc: &Path) -> Result<CrawlStats> {
    let mut seeds = Vec::new();
    for seed in &config.seeds {
        let url = Url::parse(seed).map_err(|e| HarvestError::Config(format!("seed {seed:?}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(HarvestError::Config(format!("seed {seed:?}: only http and https are crawled")));
        }
        seeds.push(url);
    }
    if seeds.is_empty() {
        return Err(HarvestError::Config("the crawl needs at least one seed URL".into()));
    }
    let scope = scope(config, &seeds);
    let fetcher = std::sync::Arc::new(
        Fetcher::new(config.net.clone()).map_err(|e| HarvestError::Config(format!("HTTP client: {e}")))?,
    );
    let temp = warc.with_file_name(format!(".pages.warc.gz.{}.tmp", std::process::id()));
    let mut writer = WarcWriter::create(&temp)?;
    let mut stats = CrawlStats::default();
    let mut seen: HashSet<String> = HashSet::new();
    let mut frontier: VecDeque<(Url, u32)> = VecDeque::new();
    let blocklist = &config.harvest.blocklist;
    for url in seeds {
        if blocklist.blocks_url(url.as_str()).is_some() {
            stats.pages_blocklisted += 1;
            continue;
        }
        if seen.insert(url.as_str().to_string()) {
            frontier.push_back((url, 0));
        }
    }
    let request = RequestOptions { check_robots: true, check_opt_out: false, ..RequestOptions::default() };
    let mut tasks = tokio::task::JoinSet::new();
    let mut started_pages = 0u64;
    loop {
        while tasks.len() < config.concurrency.max(1) && started_pages < config.max_pages {
            let Some((url, depth)) = frontier.pop_front() else { break };
            started_pages += 1;
            let (fetcher, request) = (fetcher.clone(), request.clone());
            tasks.spawn(async move {
                let result = fetcher.get_with(url.as_str(), &request).await;
                (url, depth, result)
            });
        }
        let Some(joined) = tasks.join_next().await else { break };
        let (url, depth, result) = joined.map_err(|e| HarvestError::Config(format!("crawl task: {e}")))?;
        stats.pages_fetched += 1;
        let response = match result {
            Ok(response) => response,
            Err(e) => {
                tracing::debug!("crawl {url}: {e}");
                *stats.failed.entry(e.kind().as_str().to_string()).or_default() += 1;
                continue;
            }
        };
        let content_type = response.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let mime = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if mime != "text/html" && mime != "application/xhtml+xml" {
            stats.not_html += 1;
            continue;
        }
        stats.pages_html += 1;
        writer.response(&response.url, response.status, &content_type, &response.body)?;
        let Ok(page) = extract_html(&response.body, &response.url, &HtmlOptions::default()) else { continue };
        for link in page.links {
            stats.links_found += 1;
            if !in_scope(&link, &scope) {
                stats.links_out_of_scope += 1;
                continue;
            }
            if depth + 1 > config.max_depth {
                stats.links_over_limits += 1;
                continue;
            }
            if !seen.insert(link.as_str().to_string()) {
                continue;
            }
            if blocklist.blocks_url(link.as_str()).is_some() {
                stats.pages_blocklisted += 1;
                continue;
            }
            frontier.push_back((link, depth + 1));
        }
    }
    stats.links_over_limits += frontier.len() as u64;
    stats.warc_bytes = writer.finish(warc)?;
    Ok(stats)
}

/// Writes WARC/1.0 `response` records, one gzip member each, to a temporary file.
struct WarcWriter {
    path: PathBuf,
    out: BufWriter<File>,
    records: u64,
}

impl WarcWriter {
    fn create(path: &Path) -> Result<Self> {
        let file = File::create(path).at_path(path)?;
        Ok(WarcWriter { path: path.to_path_buf(), out: BufWriter::new(file), records: 0 })
    }

    fn response(&mut self, url: &Url, status: u16, content_type: &str, body: &[u8]) -> Result<()> {
        let mut http = format!("HTTP/1.1 {status} OK\r\nContent-Length: {}\r\n", body.len());
        if !content_type.is_empty() {
            http.push_str(&format!("Content-Type: {content_type}\r\n"));
        }
        http.push_str("\r\n");
        let block_len = http.len() + body.len();
        self.records += 1;
        let id = xxh3_64(format!("{}\0{}", self.records, url).as_bytes());
        let head = format!(
            "WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: {url}\r\nWARC-Date: {}\r\n\
             WARC-Record-ID: <urn:wit:crawl:{id:016x}>\r\nContent-Type: application/http; msgtype=response\r\n\
             Content-Length: {block_len}\r\n\r\n",
            wit_contract::now_rfc3339()
        );
        let mut member = GzEncoder::new(Vec::with_capacity(block_len / 3 + 256), Compression::fast());
        let write = |member: &mut GzEncoder<Vec<u8>>| -> std::io::Result<()> {
            member.write_all(head.as_bytes())?;
            member.write_all(http.as_bytes())?;
            member.write_all(body)?;
            member.write_all(b"\r\n\r\n")
        };
        write(&mut member).at_path(&self.path)?;
        let bytes = member.finish().at_path(&self.path)?;
        Ok(self.out.write_all(&bytes).at_path(&self.path)?)
    }

    /// Flushes, syncs and renames the file to `dest`; returns its size.
    fn finish(self, dest: &Path) -> Result<u64> {
        let path = self.path.clone();
        let file = self.out.into_inner().map_err(|e| PathError::io(&path, e.into_error()))?;
        file.sync_all().at_path(&path)?;
        let bytes = file.metadata().at_path(&path)?.len();
        std::fs::rename(&path, dest).at_path(dest)?;
        if let Some(dir) = dest.parent() {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_is_the_seed_hosts_and_their_subdomains() {
        let config = CrawlConfig {
            seeds: vec![],
            allow_domains: vec![],
            max_pages: 1,
            max_depth: 1,
            concurrency: 1,
            net: NetOptions::default(),
            harvest: HarvestConfig::default(),
        };
        let scope = scope(&config, &[Url::parse("http://example.org/a").unwrap()]);
        assert!(in_scope(&Url::parse("https://img.example.org/x").unwrap(), &scope));
        assert!(in_scope(&Url::parse("http://example.org/y").unwrap(), &scope));
        assert!(!in_scope(&Url::parse("http://notexample.org/").unwrap(), &scope));
        assert!(!in_scope(&Url::parse("ftp://example.org/").unwrap(), &scope));
    }
}
