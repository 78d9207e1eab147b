//! A small HTTP/1.1 server for the demo site: GET and HEAD, keep-alive, loopback only.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::site::{Reply, Site};
use crate::DemoWebError;

/// Largest request head the server reads before answering 431.
const MAX_HEAD: usize = 16 * 1024;

/// Paths requested so far, in order, with when each request arrived (tests read this to prove
/// robots.txt, delays and limits were obeyed).
#[derive(Debug, Default)]
pub struct RequestLog {
    entries: std::sync::Mutex<Vec<(std::time::Instant, String)>>,
    count: AtomicU64,
}

impl RequestLog {
    pub fn paths(&self) -> Vec<String> {
        self.entries().into_iter().map(|(_, path)| path).collect()
    }

    /// Every request's arrival time and path.
    pub fn entries(&self) -> Vec<(std::time::Instant, String)> {
        self.entries.lock().map(|p| p.clone()).unwrap_or_default()
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn record(&self, path: &str) {
        self.count.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut entries) = self.entries.lock() {
            entries.push((std::time::Instant::now(), path.to_string()));
        }
    }
}

/// Binds `addr`, refusing anything but a loopback address.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, DemoWebError> {
    if !addr.ip().is_loopback() {
        return Err(DemoWebError::NotLoopback(addr));
    }
    TcpListener::bind(addr).await.map_err(|source| DemoWebError::Bind { addr, source })
}

/// Serves `site` on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, site: Arc<Site>, log: Arc<RequestLog>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let site = site.clone();
        let log = log.clone();
        tokio::spawn(async move {
            if let Err(e) = handle(stream, &site, &log).await {
                tracing::debug!("demo web connection: {e}");
            }
        });
    }
}

async fn handle(mut stream: TcpStream, site: &Site, log: &RequestLog) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    loop {
        // Read one request head.
        let head_end = loop {
            if let Some(end) = find_head_end(&buf) {
                break end;
            }
            if buf.len() > MAX_HEAD {
                write_reply(&mut stream, &status_reply(431), false, true).await?;
                return Ok(());
            }
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        buf.drain(..head_end + 4);
        let mut lines = head.split("\r\n");
        let mut parts = lines.next().unwrap_or("").split_whitespace();
        let (method, target, version) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next());
        let close = version == Some("HTTP/1.0")
            || lines
                .any(|l| l.to_ascii_lowercase().starts_with("connection:") && l.to_ascii_lowercase().contains("close"));
        let reply = match method {
            "GET" | "HEAD" => {
                log.record(target);
                site.respond(target)
            }
            _ => status_reply(405),
        };
        write_reply(&mut stream, &reply, method == "HEAD", close).await?;
        if close {
            return Ok(());
        }
    }
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n")
}

fn status_reply(status: u16) -> Reply {
    Reply { status, content_type: "text/plain", headers: Vec::new(), body: Vec::new() }
}

async fn write_reply(stream: &mut TcpStream, reply: &Reply, head_only: bool, close: bool) -> std::io::Result<()> {
    let reason = match reply.status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "",
    };
    let mut head = format!(
        "HTTP/1.1 {} {reason}\r\nServer: wit-demo-web\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
        reply.status,
        reply.content_type,
        reply.body.len()
    );
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(if close { "Connection: close\r\n\r\n" } else { "\r\n" });
    stream.write_all(head.as_bytes()).await?;
    if !head_only {
        stream.write_all(&reply.body).await?;
    }
    stream.flush().await
}
