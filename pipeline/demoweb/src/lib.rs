//! wit-demoweb: the demo web that `make demo` and the end-to-end tests crawl — a loopback site of
//! procedurally generated pictures whose captions truly describe them ([`scene`]), the real
//! scikit-image samples, a robots.txt with a disallowed section, broken links, opt-out headers and
//! non-English captions ([`site`]), a Common-Crawl-shaped WAT file of the same pages ([`wat`]), and a
//! held-out labelled test set of scenes the site never serves ([`heldout`]).
//!
//! One door: [`DemoWeb::start`] serves a [`SiteConfig`] on 127.0.0.1 from a background thread until
//! the handle is dropped.

pub mod heldout;
pub mod scene;
pub mod server;
pub mod site;
pub mod wat;

use std::net::SocketAddr;
use std::sync::Arc;

pub use scene::Scene;
pub use server::RequestLog;
pub use site::{ImageKind, Site, SiteConfig};

#[derive(Debug, thiserror::Error)]
pub enum DemoWebError {
    #[error(transparent)]
    Path(#[from] wit_contract::PathError),
    #[error(transparent)]
    Contract(#[from] wit_contract::ContractError),
    #[error("the demo web serves loopback only, not {0}")]
    NotLoopback(SocketAddr),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot start the demo web's runtime: {0}")]
    Runtime(std::io::Error),
}

/// A running demo web. Dropping it stops the server.
pub struct DemoWeb {
    addr: SocketAddr,
    site: Arc<Site>,
    log: Arc<RequestLog>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DemoWeb {
    /// Serves `config` on `addr` (a loopback address; port 0 picks a free port).
    pub fn start(config: SiteConfig, addr: SocketAddr) -> Result<DemoWeb, DemoWebError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(DemoWebError::Runtime)?;
        let listener = runtime.block_on(server::bind(addr))?;
        let addr = listener.local_addr().map_err(|source| DemoWebError::Bind { addr, source })?;
        let site = Arc::new(Site::new(config));
        let log = Arc::new(RequestLog::default());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (serve_site, serve_log) = (site.clone(), log.clone());
        let thread = std::thread::Builder::new()
            .name("wit-demo-web".into())
            .spawn(move || {
                runtime.block_on(async move {
                    tokio::select! {
                        _ = server::serve(listener, serve_site, serve_log) => {}
                        _ = stopped => {}
                    }
                });
            })
            .map_err(DemoWebError::Runtime)?;
        tracing::info!("demo web on http://{addr}/");
        Ok(DemoWeb { addr, site, log, stop: Some(stop), thread: Some(thread) })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn site(&self) -> &Site {
        &self.site
    }

    /// Every request path served so far.
    pub fn requests(&self) -> &RequestLog {
        &self.log
    }

    /// Writes the WAT of the public pages as served here; returns the number of records.
    pub fn write_wat(&self, path: &std::path::Path) -> Result<usize, DemoWebError> {
        wat::write_wat(&self.site, &self.base_url(), path)
    }

    /// Blocks until the server stops (it does not, unless its thread fails): for the CLI.
    pub fn wait(mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for DemoWeb {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
