//! A loopback HTTP/1.1 server for tests, written on raw tokio TCP so it can misbehave: drip a
//! body a byte at a time, stall after the headers, reset mid-body, lie in Content-Length,
//! redirect, answer 429 with Retry-After, 5xx, send opt-out headers, serve robots.txt variants.
//!
//! Routes map a path (with its query, if any) to a [`Reply`]; paths without a route go to the
//! server's [`Handler`] if it has one (replies computed from the path, for large generated sites),
//! else answer 404. Every request is logged (path, time, User-Agent) for assertions.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the server does for one route.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A normal response with Content-Length.
    Full { status: u16, headers: Vec<(String, String)>, body: Vec<u8> },
    /// Headers with the full Content-Length, then one body byte per `interval`.
    Drip { body: Vec<u8>, interval: Duration },
    /// Headers announcing `length` bytes, then nothing, connection held open.
    Stall { length: usize },
    /// Headers announcing `claimed` bytes, `body` sent, then the connection closed.
    LyingLength { claimed: usize, body: Vec<u8> },
    /// Headers and `sent` bytes of `body`, then the socket closed with RST.
    Reset { body: Vec<u8>, sent: usize },
    /// HTTP/1.0 response without Content-Length; the body ends when the connection closes.
    Http10 { body: Vec<u8> },
    /// The nth request to the route gets the nth reply (the last one repeats).
    Sequence(Vec<Reply>),
    /// `Transfer-Encoding: chunked` with `sent` bytes of `body` in one chunk, then the connection
    /// closed without the final chunk: a truncated body no length can reveal.
    Chunked { body: Vec<u8>, sent: usize },
    /// Zero bytes streamed until the client hangs up, announced with `length` as Content-Length
    /// or (None) without any length, the body ending at close.
    Endless { length: Option<u64> },
}

/// Computes the reply of a path that has no route (None: 404).
pub type Handler = Arc<dyn Fn(&str) -> Option<Reply> + Send + Sync>;

impl Reply {
    /// 200 with a content type.
    pub fn ok(content_type: &str, body: Vec<u8>) -> Reply {
        Reply::Full { status: 200, headers: vec![("Content-Type".into(), content_type.into())], body }
    }

    /// A bodiless status with extra headers.
    pub fn status(status: u16, headers: &[(&str, &str)]) -> Reply {
        Reply::Full {
            status,
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            body: Vec::new(),
        }
    }

    /// A redirect to `location` (302).
    pub fn redirect(location: &str) -> Reply {
        Reply::status(302, &[("Location", location)])
    }

    /// 200 with extra headers.
    pub fn with_headers(content_type: &str, body: Vec<u8>, headers: &[(&str, &str)]) -> Reply {
        let mut all = vec![("Content-Type".to_string(), content_type.to_string())];
        all.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Reply::Full { status: 200, headers: all, body }
    }
}

/// One logged request.
#[derive(Debug, Clone)]
pub struct Logged {
    pub path: String,
    pub at: Instant,
    pub user_agent: Option<String>,
}

struct State {
    routes: Mutex<HashMap<String, Reply>>,
    handler: Option<Handler>,
    hits: Mutex<HashMap<String, usize>>,
    log: Mutex<Vec<Logged>>,
}

/// A running server; stops when dropped.
pub struct LoopbackServer {
    pub addr: SocketAddr,
    state: Arc<State>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl LoopbackServer {
    /// Starts a server on 127.0.0.1 (a free port) serving `routes`.
    pub fn start(routes: impl IntoIterator<Item = (String, Reply)>) -> LoopbackServer {
        LoopbackServer::start_on(IpAddr::V4(Ipv4Addr::LOCALHOST), routes, None)
    }

    /// Starts a server on `ip` (a loopback address; a free port) serving `routes`, and `handler`
    /// for the paths without a route.
    pub fn start_on(
        ip: IpAddr,
        routes: impl IntoIterator<Item = (String, Reply)>,
        handler: Option<Handler>,
    ) -> LoopbackServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime for the loopback server");
        let state = Arc::new(State {
            routes: Mutex::new(routes.into_iter().collect()),
            handler,
            hits: Mutex::new(HashMap::new()),
            log: Mutex::new(Vec::new()),
        });
        // Bound with std so a test already inside a tokio runtime can start a server.
        let listener = std::net::TcpListener::bind((ip, 0)).unwrap_or_else(|e| panic!("bind {ip}: {e}"));
        listener.set_nonblocking(true).expect("a non-blocking listener");
        let addr = listener.local_addr().expect("local address");
        let accept_state = state.clone();
        runtime.spawn(async move {
            let listener = TcpListener::from_std(listener).expect("a tokio listener");
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, accept_state.clone()));
            }
        });
        LoopbackServer { addr, state, runtime: Some(runtime) }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The same URL with another host name (resolved through DNS or overrides by the client).
    pub fn url_with_host(&self, host: &str, path: &str) -> String {
        format!("http://{}:{}{}", host, self.addr.port(), path)
    }

    /// Adds or replaces a route.
    pub fn route(&self, path: &str, reply: Reply) {
        self.state.routes.lock().unwrap().insert(path.to_string(), reply);
    }

    /// Requests received for `path`.
    pub fn hits(&self, path: &str) -> usize {
        self.state.log.lock().unwrap().iter().filter(|l| l.path == path).count()
    }

    /// Every request received, in order.
    pub fn log(&self) -> Vec<Logged> {
        self.state.log.lock().unwrap().clone()
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn read_head(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<String> {
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
            buffer.drain(..end + 4);
            return Some(head);
        }
        if buffer.len() > 64 << 10 {
            return None;
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
}

fn head_bytes(status: u16, headers: &[(String, String)], length: Option<usize>, version: &str) -> Vec<u8> {
    let mut head = format!("{version} {status} {}\r\n", reason(status));
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(length) = length {
        head.push_str(&format!("Content-Length: {length}\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        403 => "Forbidden",
        404 => "Not Found",
        410 => "Gone",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

async fn serve(mut stream: TcpStream, state: Arc<State>) {
    let mut buffer = Vec::new();
    while let Some(head) = read_head(&mut stream, &mut buffer).await {
        let mut lines = head.lines();
        let path = lines.next().and_then(|l| l.split_whitespace().nth(1)).unwrap_or("/").to_string();
        let user_agent = lines
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("user-agent"))
            .map(|(_, v)| v.trim().to_string());
        state.log.lock().unwrap().push(Logged { path: path.clone(), at: Instant::now(), user_agent });
        let hit = {
            let mut hits = state.hits.lock().unwrap();
            let n = hits.entry(path.clone()).or_default();
            *n += 1;
            *n - 1
        };
        let route = state.routes.lock().unwrap().get(&path).cloned();
        let mut reply = route
            .or_else(|| state.handler.as_ref().and_then(|handler| handler(&path)))
            .unwrap_or_else(|| Reply::status(404, &[]));
        if let Reply::Sequence(replies) = reply {
            reply = replies.get(hit).or(replies.last()).cloned().unwrap_or_else(|| Reply::status(404, &[]));
        }
        if !respond(&mut stream, reply).await {
            return;
        }
    }
}

/// Writes one reply; false when the connection must not be reused.
async fn respond(stream: &mut TcpStream, reply: Reply) -> bool {
    match reply {
        Reply::Full { status, headers, body } => {
            let mut out = head_bytes(status, &headers, Some(body.len()), "HTTP/1.1");
            out.extend_from_slice(&body);
            stream.write_all(&out).await.is_ok()
        }
        Reply::Drip { body, interval } => {
            let head = head_bytes(200, &[("Content-Type".into(), "image/jpeg".into())], Some(body.len()), "HTTP/1.1");
            if stream.write_all(&head).await.is_err() {
                return false;
            }
            for byte in body {
                tokio::time::sleep(interval).await;
                if stream.write_all(&[byte]).await.is_err() {
                    return false;
                }
            }
            true
        }
        Reply::Stall { length } => {
            let head = head_bytes(200, &[("Content-Type".into(), "image/jpeg".into())], Some(length), "HTTP/1.1");
            let _ = stream.write_all(&head).await;
            tokio::time::sleep(Duration::from_secs(3600)).await;
            false
        }
        Reply::LyingLength { claimed, body } => {
            // Connection: close, so that bytes beyond a short length never reach another request.
            let headers = [("Content-Type".into(), "image/jpeg".into()), ("Connection".into(), "close".into())];
            let mut out = head_bytes(200, &headers, Some(claimed), "HTTP/1.1");
            out.extend_from_slice(&body);
            let _ = stream.write_all(&out).await;
            let _ = stream.shutdown().await;
            false
        }
        Reply::Reset { body, sent } => {
            let mut out =
                head_bytes(200, &[("Content-Type".into(), "image/jpeg".into())], Some(body.len()), "HTTP/1.1");
            out.extend_from_slice(&body[..sent.min(body.len())]);
            let _ = stream.write_all(&out).await;
            let _ = stream.set_zero_linger();
            false
        }
        Reply::Http10 { body } => {
            let mut out = head_bytes(200, &[("Content-Type".into(), "image/png".into())], None, "HTTP/1.0");
            out.extend_from_slice(&body);
            let _ = stream.write_all(&out).await;
            let _ = stream.shutdown().await;
            false
        }
        Reply::Chunked { body, sent } => {
            let headers = [("Content-Type".into(), "image/png".into()), ("Transfer-Encoding".into(), "chunked".into())];
            let mut out = head_bytes(200, &headers, None, "HTTP/1.1");
            out.extend_from_slice(format!("{:x}\r\n", body.len()).as_bytes());
            out.extend_from_slice(&body[..sent.min(body.len())]);
            let _ = stream.write_all(&out).await;
            let _ = stream.shutdown().await;
            false
        }
        Reply::Endless { length } => {
            let headers = [("Content-Type".into(), "image/jpeg".into()), ("Connection".into(), "close".into())];
            let length = length.map(|n| n as usize);
            if stream.write_all(&head_bytes(200, &headers, length, "HTTP/1.1")).await.is_err() {
                return false;
            }
            let zeros = vec![0u8; 16 << 10];
            while stream.write_all(&zeros).await.is_ok() {}
            false
        }
        Reply::Sequence(_) => false,
    }
}

/// A JPEG of `width`×`height` with a pattern seeded by `seed` (distinct seeds, distinct bytes).
pub fn jpeg(width: u32, height: u32, seed: u8) -> Vec<u8> {
    let pixels: Vec<u8> = (0..width * height * 3).map(|i| ((i / 3 + seed as u32 * 31) % 251) as u8).collect();
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
        .encode(&pixels, width, height, image::ExtendedColorType::Rgb8)
        .expect("encode a test JPEG");
    out
}

/// A PNG of `width`×`height`.
pub fn png(width: u32, height: u32, seed: u8) -> Vec<u8> {
    use image::ImageEncoder;
    let pixels: Vec<u8> = (0..width * height * 3).map(|i| ((i + seed as u32 * 7) % 256) as u8).collect();
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(&pixels, width, height, image::ExtendedColorType::Rgb8)
        .expect("encode a test PNG");
    out
}

/// A (lossless) WebP of `width`×`height`.
pub fn webp(width: u32, height: u32, seed: u8) -> Vec<u8> {
    let pixels: Vec<u8> = (0..width * height * 3).map(|i| ((i * 3 + seed as u32) % 256) as u8).collect();
    let mut out = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut out)
        .encode(&pixels, width, height, image::ExtendedColorType::Rgb8)
        .expect("encode a test WebP");
    out
}

/// A PNG header claiming `width`×`height` followed by a tiny (invalid for that size) image
/// stream: the decompression-bomb shape, refused from the header alone.
pub fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut out = png(1, 1, 0);
    // IHDR data starts at byte 16: width, height (big-endian), then the CRC at 29..33.
    out[16..20].copy_from_slice(&width.to_be_bytes());
    out[20..24].copy_from_slice(&height.to_be_bytes());
    let crc = crc32(&out[12..29]);
    out[29..33].copy_from_slice(&crc.to_be_bytes());
    out
}

/// CRC-32 (ISO-HDLC), as PNG chunks carry.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}
