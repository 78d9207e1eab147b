//! The fault web as a process, for `scripts/bench-faults.sh`:
//!
//! `faultweb serve N DIR`: starts the fault web, writes DIR/urls.txt (N mixed URLs), then
//! DIR/ready, and serves until killed.
//! `faultweb check DIR/urls.txt OUT`: reads the fetch output back and checks every URL has
//! exactly one outcome, the one its kind expects; prints URLs per kind.

use std::path::Path;

use wit_tests::faultweb::{check_outcomes, fault_named, outcomes, FaultWeb};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["serve", total, dir] => {
            let total: usize = total.parse().expect("N: a number of URLs");
            let web = FaultWeb::start();
            let dir = Path::new(dir);
            std::fs::write(dir.join("urls.txt"), web.mixed_urls(total).join("\n")).expect("write urls.txt");
            std::fs::write(dir.join("ready"), b"").expect("write ready");
            loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            }
        }
        ["check", list, out] => {
            let text = std::fs::read_to_string(list).expect("read the URL list");
            let urls: Vec<String> = text.lines().map(str::to_string).collect();
            let per_kind = check_outcomes(&urls, &outcomes(Path::new(out)));
            println!("kind\turls\tstatus\terror_kind");
            for (name, count) in per_kind {
                let fault = fault_named(name);
                println!("{name}\t{count}\t{}\t{}", fault.status, fault.error_kind);
            }
            println!("all {} URLs accounted for once, each with its expected outcome", urls.len());
        }
        _ => {
            eprintln!("usage: faultweb serve N DIR | faultweb check URLS OUT");
            std::process::exit(2);
        }
    }
}
