//! `wit demo-web`: serve the demo site on 127.0.0.1 until killed (see wit-demoweb).

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use wit_demoweb::{DemoWeb, SiteConfig};

#[derive(Args)]
#[command(after_help = "Examples:
  wit demo-web --port 8000")]
pub struct DemoWebArgs {
    /// Port on 127.0.0.1; 0 picks a free one (printed, and written to --ready-file).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Number of public pages (each has as many robots-disallowed twins).
    #[arg(long, default_value_t = SiteConfig::default().pages)]
    pages: u64,
    /// Pictures on each page.
    #[arg(long, default_value_t = SiteConfig::default().images_per_page)]
    images_per_page: u64,
    /// Side of the generated pictures in pixels.
    #[arg(long, default_value_t = SiteConfig::default().image_size)]
    image_size: u32,
    /// Seed of the generated pictures and captions.
    #[arg(long, default_value_t = SiteConfig::default().seed)]
    seed: u64,
    /// scikit-image's data/ folder (fixtures/images), served on /real.html.
    #[arg(long)]
    real_images: Option<PathBuf>,
    /// Also write a Common-Crawl-shaped WAT file of the public pages here.
    #[arg(long)]
    wat: Option<PathBuf>,
    /// Write the base URL to this file once the server listens (for scripts).
    #[arg(long)]
    ready_file: Option<PathBuf>,
    /// Instead of serving: write a held-out labelled test set of scenes the site never serves
    /// (DIR/corpus, DIR/classes) for `wit-train eval`, and exit.
    #[arg(long)]
    heldout: Option<PathBuf>,
    /// Pictures in the held-out set.
    #[arg(long, default_value_t = 480)]
    heldout_count: u64,
}

pub fn run(args: &DemoWebArgs) -> Result<ExitCode> {
    if let Some(dir) = &args.heldout {
        let classes = wit_demoweb::heldout::write_heldout(args.seed, args.heldout_count, args.image_size, dir)?;
        println!("held-out set: {} pictures of {classes} classes in {}", args.heldout_count, dir.display());
        return Ok(ExitCode::SUCCESS);
    }
    let config = SiteConfig {
        seed: args.seed,
        pages: args.pages,
        images_per_page: args.images_per_page,
        image_size: args.image_size,
        real_images: args.real_images.clone(),
    };
    let web = DemoWeb::start(config, SocketAddr::from((Ipv4Addr::LOCALHOST, args.port)))?;
    if let Some(path) = &args.wat {
        let records = web.write_wat(path)?;
        println!("demo web: {records} WAT records in {}", path.display());
    }
    println!("demo web: {}/", web.base_url());
    std::io::stdout().flush()?;
    if let Some(path) = &args.ready_file {
        wit_contract::write_file_atomically(path, web.base_url().as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    web.wait();
    Ok(ExitCode::SUCCESS)
}
