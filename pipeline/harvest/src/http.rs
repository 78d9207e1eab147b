//! The HTTP response inside a WARC `response` record: status, headers, and the body with its
//! transfer encoding (chunked) and content encoding (gzip, deflate, zstd) undone.

use std::io::Read;

/// A parsed HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    /// Header names lower-cased, values as sent (lossy UTF-8), in order.
    pub headers: Vec<(String, String)>,
    /// The body, decoded.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first value of header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Why a payload could not be read; [`HttpProblem::name`] is its stats key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpProblem {
    /// No `HTTP/x.y NNN` status line, or headers never end.
    Malformed,
    BadChunkedEncoding,
    /// gzip / deflate / zstd data that does not decode.
    BadContentEncoding,
    /// A content encoding this reader does not undo (br, compress …).
    UnsupportedContentEncoding,
    /// The decoded body would exceed the size limit.
    TooLarge,
}

impl HttpProblem {
    pub fn name(self) -> &'static str {
        match self {
            HttpProblem::Malformed => "http_malformed",
            HttpProblem::BadChunkedEncoding => "http_bad_chunked_encoding",
            HttpProblem::BadContentEncoding => "http_bad_content_encoding",
            HttpProblem::UnsupportedContentEncoding => "http_unsupported_content_encoding",
            HttpProblem::TooLarge => "http_body_too_large",
        }
    }
}

/// Parses `payload` (status line, headers, body). Bodies decoding past `max_body` bytes fail.
pub fn parse_response(payload: &[u8], max_body: usize) -> Result<HttpResponse, HttpProblem> {
    let (head, body) = split_head(payload).ok_or(HttpProblem::Malformed)?;
    let mut lines = head.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let status_line = lines.next().ok_or(HttpProblem::Malformed)?;
    let status = parse_status(status_line).ok_or(HttpProblem::Malformed)?;
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.is_empty() {
            continue;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if let Some((_, value)) = headers.last_mut() {
                value.push(' ');
                value.push_str(String::from_utf8_lossy(line).trim());
            }
            continue;
        }
        let Some(colon) = memchr::memchr(b':', line) else { continue };
        let name = String::from_utf8_lossy(&line[..colon]).trim().to_ascii_lowercase();
        let value = String::from_utf8_lossy(&line[colon + 1..]).trim().to_owned();
        headers.push((name, value));
    }
    let mut response = HttpResponse { status, headers, body: Vec::new() };
    let chunked = response
        .header("transfer-encoding")
        .is_some_and(|te| te.split(',').any(|t| t.trim().eq_ignore_ascii_case("chunked")));
    let body = if chunked { dechunk(body, max_body)? } else { body.to_vec() };
    let encoding = response.header("content-encoding").unwrap_or("").trim().to_ascii_lowercase();
    response.body = decode_content(body, &encoding, max_body)?;
    Ok(response)
}

/// Head (without the blank line) and body.
fn split_head(payload: &[u8]) -> Option<(&[u8], &[u8])> {
    let crlf = memchr::memmem::find(payload, b"\r\n\r\n").map(|at| (at, at + 4));
    let lf = memchr::memmem::find(payload, b"\n\n").map(|at| (at, at + 2));
    let (end, body_start) = match (crlf, lf) {
        (Some(a), Some(b)) => {
            if a.0 < b.0 {
                a
            } else {
                b
            }
        }
        (Some(a), None) => a,
        (None, Some(b)) => b,
        // Headers only, no body.
        (None, None) => (payload.len(), payload.len()),
    };
    Some((&payload[..end], &payload[body_start..]))
}

fn parse_status(line: &[u8]) -> Option<u16> {
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split_ascii_whitespace();
    let version = parts.next()?;
    if !version.starts_with("HTTP/") {
        return None;
    }
    let code = parts.next()?;
    (code.len() == 3).then(|| code.parse().ok()).flatten()
}

/// Undoes `Transfer-Encoding: chunked`. A body that ends without the last chunk keeps what came.
pub fn dechunk(mut data: &[u8], max_body: usize) -> Result<Vec<u8>, HttpProblem> {
    let mut out = Vec::with_capacity(data.len());
    loop {
        let line_end = match memchr::memchr(b'\n', data) {
            Some(at) => at,
            None if data.iter().all(u8::is_ascii_whitespace) => return Ok(out),
            None => return Err(HttpProblem::BadChunkedEncoding),
        };
        let line = std::str::from_utf8(&data[..line_end]).map_err(|_| HttpProblem::BadChunkedEncoding)?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| HttpProblem::BadChunkedEncoding)?;
        data = &data[line_end + 1..];
        if size == 0 {
            return Ok(out);
        }
        if size > data.len() {
            return Err(HttpProblem::BadChunkedEncoding);
        }
        if out.len() + size > max_body {
            return Err(HttpProblem::TooLarge);
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size..];
        data = data.strip_prefix(b"\r\n").ok_or(HttpProblem::BadChunkedEncoding)?;
    }
}

fn decode_content(body: Vec<u8>, encoding: &str, max_body: usize) -> Result<Vec<u8>, HttpProblem> {
    let limit = max_body as u64 + 1;
    let mut out = Vec::new();
    let read = match encoding {
        "" | "identity" | "none" => return Ok(body),
        "gzip" | "x-gzip" => flate2::read::MultiGzDecoder::new(&body[..]).take(limit).read_to_end(&mut out),
        "deflate" => {
            // Servers send zlib-wrapped or raw deflate under this name.
            let zlib = flate2::read::ZlibDecoder::new(&body[..]).take(limit).read_to_end(&mut out);
            if zlib.is_err() {
                out.clear();
                flate2::read::DeflateDecoder::new(&body[..]).take(limit).read_to_end(&mut out)
            } else {
                zlib
            }
        }
        "zstd" => match zstd::stream::read::Decoder::new(&body[..]) {
            Ok(decoder) => decoder.take(limit).read_to_end(&mut out),
            Err(e) => Err(e),
        },
        _ => return Err(HttpProblem::UnsupportedContentEncoding),
    };
    read.map_err(|_| HttpProblem::BadContentEncoding)?;
    if out.len() > max_body {
        return Err(HttpProblem::TooLarge);
    }
    Ok(out)
}

/// The media type (lower-case, without parameters) and charset of a `Content-Type` value.
pub fn media_type(content_type: &str) -> (String, Option<&'static encoding_rs::Encoding>) {
    let mut parts = content_type.split(';');
    let mime = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let charset = parts
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("charset"))
        .and_then(|(_, v)| encoding_rs::Encoding::for_label(v.trim().trim_matches(['"', '\'']).as_bytes()));
    (mime, charset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn status_headers_and_plain_body() {
        let r =
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-A: 1\r\n  2\r\n\r\n<p>hi", 100).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("text/html"));
        assert_eq!(r.header("x-a"), Some("1 2"));
        assert_eq!(r.body, b"<p>hi");
        assert_eq!(parse_response(b"GET / HTTP/1.1\r\n\r\n", 100), Err(HttpProblem::Malformed));
    }

    #[test]
    fn chunked_and_compressed_bodies_decode() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"<html>zipped</html>").unwrap();
        let gz = gz.finish().unwrap();
        let mut chunked = format!("{:x}\r\n", 5).into_bytes();
        chunked.extend_from_slice(&gz[..5]);
        chunked.extend_from_slice(format!("\r\n{:x};ext=1\r\n", gz.len() - 5).as_bytes());
        chunked.extend_from_slice(&gz[5..]);
        chunked.extend_from_slice(b"\r\n0\r\n\r\n");
        let mut payload = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n".to_vec();
        payload.extend_from_slice(&chunked);
        assert_eq!(parse_response(&payload, 1000).unwrap().body, b"<html>zipped</html>");
        assert_eq!(parse_response(&payload, 10), Err(HttpProblem::TooLarge));

        let zstd_body = zstd::stream::encode_all(&b"<p>z</p>"[..], 1).unwrap();
        let mut payload = b"HTTP/1.1 200 OK\r\nContent-Encoding: zstd\r\n\r\n".to_vec();
        payload.extend_from_slice(&zstd_body);
        assert_eq!(parse_response(&payload, 1000).unwrap().body, b"<p>z</p>");

        let bad = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\nnot gzip at all";
        assert_eq!(parse_response(bad, 1000), Err(HttpProblem::BadContentEncoding));
        let br = b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\n\r\nxx";
        assert_eq!(parse_response(br, 1000), Err(HttpProblem::UnsupportedContentEncoding));
        let bad_chunks = b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\naa\r\n0\r\n\r\n";
        assert_eq!(parse_response(bad_chunks, 1000), Err(HttpProblem::BadChunkedEncoding));
    }

    #[test]
    fn content_types() {
        let (mime, charset) = media_type("Text/HTML; charset=\"ISO-8859-1\"");
        assert_eq!(mime, "text/html");
        assert_eq!(charset, Some(encoding_rs::WINDOWS_1252));
        assert_eq!(media_type("text/html").1, None);
    }
}
