//! Dump throughput: XML MB/s through reader → strip → count (the whole `wit queries build`) next to a
//! bare bzip2 decode of the same file, with peak RSS. One measurement per process (so peak RSS is
//! that measurement's own); `scripts/bench-queries.sh` runs the modes and prints the table.
//!
//! ```text
//! bench_dump bare  DUMP            # bzip2 decode only, one thread
//! bench_dump pages DUMP THREADS    # decode + XML pages (no text work)
//! bench_dump build DUMP THREADS    # decode + pages + strip + count + select (wit queries build)
//! bench_dump build DUMP THREADS OUT  # the same, keeping the output folder OUT (to compare builds)
//! ```
//! Prints one tab-separated line: mode, threads, compressed MB, XML MB, seconds, peak RSS MiB.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::PathBuf;
use std::time::Instant;

use wit_queries::bz2::Bz2Reader;
use wit_queries::dump::{self, DumpInput, Parallel, Tally};
use wit_queries::{build, QueriesConfig};

fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()))
        })
        .map_or(0, |kb| kb / 1024)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: bench_dump bare|pages|build DUMP [THREADS [OUT]]";
    let mode = args.get(1).ok_or(usage)?.clone();
    let path = PathBuf::from(args.get(2).ok_or(usage)?);
    let threads: usize = args.get(3).map(|t| t.parse()).transpose()?.unwrap_or(1);
    let compressed = std::fs::metadata(&path)?.len();
    let started = Instant::now();
    let xml_bytes = match mode.as_str() {
        "bare" => {
            let mut decoder = Bz2Reader::new(BufReader::with_capacity(1 << 20, File::open(&path)?), 0);
            let mut buf = vec![0u8; 1 << 20];
            let mut total = 0u64;
            loop {
                let n = decoder.read(&mut buf)?;
                if n == 0 {
                    break total;
                }
                total += n as u64;
            }
        }
        "pages" => {
            let inputs = [DumpInput { path: path.clone(), index: None }];
            let (units, _) = dump::plan(&inputs, 4 << 20, true)?;
            let tally = Tally::default();
            let parallel = Parallel { threads, rank: 0, world_size: 1, batch_bytes: 4 << 20 };
            dump::for_each_article(
                &inputs,
                &units,
                &tally,
                &parallel,
                || 0u64,
                |n, page| {
                    *n += page.text.len() as u64;
                    Ok(())
                },
            )?;
            tally.xml_bytes.load(std::sync::atomic::Ordering::Relaxed)
        }
        "build" => {
            let temp = tempfile::tempdir()?;
            let out = args.get(4).map_or_else(|| temp.path().to_path_buf(), PathBuf::from);
            let config = QueriesConfig {
                inputs: vec![DumpInput { path: path.clone(), index: None }],
                out,
                threads,
                ..QueriesConfig::default()
            };
            build(&config)?.xml_bytes
        }
        other => return Err(format!("unknown mode {other:?}; {usage}").into()),
    };
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{mode}\t{threads}\t{:.1}\t{:.1}\t{seconds:.3}\t{}",
        compressed as f64 / 1e6,
        xml_bytes as f64 / 1e6,
        peak_rss_mib()
    );
    Ok(())
}
