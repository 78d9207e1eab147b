//! Thumbnails for query pages: an image decoded under allocation limits, downscaled to fit a
//! square, re-encoded as JPEG and written as a `data:` URI so the page needs no other file.

use std::io::Cursor;

use image::{ImageFormat, ImageReader, Limits};

/// Pixels an image may have to be decoded for a thumbnail (corpus images are already resized).
const MAX_PIXELS: u64 = 64 << 20;

/// A `data:image/jpeg;base64,…` URI of `bytes` scaled to fit `size`×`size`; the error says why not.
pub fn data_uri(bytes: &[u8], size: u32) -> Result<String, String> {
    let mut reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|e| e.to_string())?;
    if reader.format().is_none() {
        return Err("not an image format wit decodes".into());
    }
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_PIXELS * 4);
    reader.limits(limits);
    let (width, height) = reader.into_dimensions().map_err(|e| e.to_string())?;
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(format!("{width}×{height} is too large for a thumbnail"));
    }
    let mut reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|e| e.to_string())?;
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_PIXELS * 4);
    reader.limits(limits);
    let image = reader.decode().map_err(|e| e.to_string())?;
    let size = size.max(1);
    let small = if image.width() > size || image.height() > size { image.thumbnail(size, size) } else { image };
    let mut jpeg = Vec::new();
    small.to_rgb8().write_to(&mut Cursor::new(&mut jpeg), ImageFormat::Jpeg).map_err(|e| e.to_string())?;
    Ok(format!("data:image/jpeg;base64,{}", base64(&jpeg)))
}

/// Standard base64 with padding (RFC 4648).
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        let cases =
            [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("foobar", "Zm9vYmFy")];
        for (plain, encoded) in cases {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn a_png_becomes_a_small_jpeg_data_uri_and_junk_is_a_reason() {
        let image = image::RgbImage::from_fn(400, 200, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 90]));
        let mut png = Vec::new();
        image.write_to(&mut Cursor::new(&mut png), ImageFormat::Png).unwrap();
        let uri = data_uri(&png, 100).unwrap();
        assert!(uri.starts_with("data:image/jpeg;base64,/9j/"), "{}", &uri[..40]);
        assert!(data_uri(b"<html>not an image</html>", 100).is_err());
    }
}
