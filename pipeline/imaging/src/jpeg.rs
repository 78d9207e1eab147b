//! JPEG through libjpeg-turbo (the `turbojpeg` crate, libjpeg-turbo 3 built from its vendored
//! source with SIMD): decode straight to the smallest DCT scale (1/8, 1/4, 1/2) that still covers
//! the target, CMYK/YCCK converted to RGB, EXIF orientation read from the APP1 segment; encode
//! with 4:2:0 chroma subsampling (OpenCV's and so img2dataset's default).
//!
//! One decompressor and one compressor per thread: a TurboJPEG handle is cheap to reuse and costs
//! an allocation to make.

use std::cell::RefCell;

use image::metadata::Orientation;
use turbojpeg::{Colorspace, Compressor, Decompressor, Image, PixelFormat, ScalingFactor, Subsamp};

use crate::{ImageError, Rgb};

/// Progressive scans a JPEG may have; libjpeg-turbo's own suggestion against scan-flood files
/// that make a small file cost minutes of CPU.
const MAX_PROGRESSIVE_SCANS: u32 = 500;

thread_local! {
    static DECOMPRESSOR: RefCell<Option<Decompressor>> = const { RefCell::new(None) };
    static COMPRESSOR: RefCell<Option<Compressor>> = const { RefCell::new(None) };
}

fn decode_error(e: turbojpeg::Error) -> ImageError {
    ImageError::Decode(e.to_string())
}

fn encode_error(e: turbojpeg::Error) -> ImageError {
    ImageError::Encode(e.to_string())
}

/// What the header says, read without decoding pixels.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JpegHeader {
    pub width: u32,
    pub height: u32,
    cmyk: bool,
    progressive: bool,
}

pub(crate) fn header(bytes: &[u8]) -> Result<JpegHeader, ImageError> {
    with_decompressor(|d| {
        let h = d.read_header(bytes).map_err(decode_error)?;
        Ok(JpegHeader {
            width: h.width as u32,
            height: h.height as u32,
            cmyk: matches!(h.colorspace, Colorspace::CMYK | Colorspace::YCCK),
            progressive: h.is_progressive,
        })
    })
}

fn with_decompressor<T>(f: impl FnOnce(&mut Decompressor) -> Result<T, ImageError>) -> Result<T, ImageError> {
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            let mut d = Decompressor::new().map_err(decode_error)?;
            d.set_scan_limit(MAX_PROGRESSIVE_SCANS).map_err(decode_error)?;
            *slot = Some(d);
        }
        f(slot.as_mut().expect("set above"))
    })
}

/// The smallest DCT scale whose output still covers `target` (in the file's own orientation).
fn dct_scale(width: u32, height: u32, target: Option<(u32, u32)>) -> ScalingFactor {
    let Some((tw, th)) = target else { return ScalingFactor::ONE };
    [ScalingFactor::ONE_EIGHTH, ScalingFactor::ONE_QUARTER, ScalingFactor::ONE_HALF]
        .into_iter()
        .find(|s| s.scale(width as usize) >= tw as usize && s.scale(height as usize) >= th as usize)
        .unwrap_or(ScalingFactor::ONE)
}

/// Bytes libjpeg-turbo allocates to decode at `scale`: the output raster, plus the whole
/// coefficient buffer of a progressive file (2 bytes per coefficient, every component).
fn decode_bytes(header: &JpegHeader, scale: ScalingFactor) -> u64 {
    let output = scale.scale(header.width as usize) as u64 * scale.scale(header.height as usize) as u64 * 4;
    let coefficients = if header.progressive { header.width as u64 * header.height as u64 * 2 * 4 } else { 0 };
    output + coefficients
}

/// Decodes to RGB8 at the smallest DCT scale covering `target` (`None`: full size); the raster is
/// in the file's own orientation (the caller applies EXIF orientation).
pub(crate) fn decode(
    bytes: &[u8],
    header: &JpegHeader,
    target: Option<(u32, u32)>,
    max_decode_bytes: u64,
) -> Result<Rgb, ImageError> {
    let scale = dct_scale(header.width, header.height, target);
    let needed = decode_bytes(header, scale);
    if needed > max_decode_bytes {
        return Err(ImageError::Decode(format!(
            "decoding {}×{} needs about {needed} bytes, over the {max_decode_bytes}-byte limit",
            header.width, header.height
        )));
    }
    with_decompressor(|d| {
        d.set_scaling_factor(scale).map_err(decode_error)?;
        let (width, height) = (scale.scale(header.width as usize), scale.scale(header.height as usize));
        let format = if header.cmyk { PixelFormat::CMYK } else { PixelFormat::RGB };
        let mut pixels = vec![0u8; width * height * format.size()];
        let image = Image { pixels: pixels.as_mut_slice(), width, pitch: width * format.size(), height, format };
        d.decompress(bytes, image).map_err(decode_error)?;
        let pixels = if header.cmyk { cmyk_to_rgb(&pixels) } else { pixels };
        Ok(Rgb { width: width as u32, height: height as u32, pixels })
    })
}

/// CMYK as Adobe applications store it in JPEGs (inverted: 255 = no ink), the convention every
/// common decoder (libjpeg's djpeg users, PIL, the `image` crate) assumes.
fn cmyk_to_rgb(cmyk: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(cmyk.len() / 4 * 3);
    for px in cmyk.chunks_exact(4) {
        let k = px[3] as u32;
        for &c in &px[..3] {
            out.push(((c as u32 * k + 127) / 255) as u8);
        }
    }
    out
}

/// Encodes RGB8 at `quality` (1–100) with 4:2:0 chroma subsampling.
pub(crate) fn encode(image: &Rgb, quality: u8) -> Result<Vec<u8>, ImageError> {
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            let mut c = Compressor::new().map_err(encode_error)?;
            c.set_subsamp(Subsamp::Sub2x2).map_err(encode_error)?;
            *slot = Some(c);
        }
        let compressor = slot.as_mut().expect("set above");
        compressor.set_quality(quality.clamp(1, 100) as i32).map_err(encode_error)?;
        let (width, height) = (image.width as usize, image.height as usize);
        let source =
            Image { pixels: image.pixels.as_slice(), width, pitch: width * 3, height, format: PixelFormat::RGB };
        compressor.compress_to_vec(source).map_err(encode_error)
    })
}

/// The EXIF orientation of a JPEG (APP1 `Exif\0\0` segment before the first scan); `None` when
/// there is none or it is unreadable (an unreadable tag is ignored, as every viewer does).
pub(crate) fn exif_orientation(bytes: &[u8]) -> Option<Orientation> {
    Orientation::from_exif_chunk(exif_segment(bytes)?)
}

/// The TIFF block of a JPEG's EXIF (the APP1 `Exif\0\0` segment before the first scan, less
/// that prefix); `None` when there is none or the segment is cut off.
pub(crate) fn exif_segment(bytes: &[u8]) -> Option<&[u8]> {
    let mut at = 2; // after SOI
    while at + 4 <= bytes.len() && bytes[at] == 0xff {
        let marker = bytes[at + 1];
        if marker == 0xff {
            at += 1; // fill byte
            continue;
        }
        if marker == 0xda || marker == 0xd9 {
            return None; // start of scan / end of image: no EXIF before the pixels
        }
        let length = u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]) as usize;
        let payload = bytes.get(at + 4..at + 2 + length)?;
        if marker == 0xe1 && payload.starts_with(b"Exif\0\0") {
            return Some(&payload[6..]);
        }
        at += 2 + length;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dct_scale_covers_the_target() {
        assert_eq!(dct_scale(640, 480, Some((256, 192))), ScalingFactor::ONE_HALF);
        assert_eq!(dct_scale(4000, 3000, Some((256, 192))), ScalingFactor::ONE_EIGHTH);
        assert_eq!(dct_scale(2000, 1500, Some((256, 192))), ScalingFactor::ONE_QUARTER);
        assert_eq!(dct_scale(400, 300, Some((256, 192))), ScalingFactor::ONE);
        assert_eq!(dct_scale(4000, 3000, None), ScalingFactor::ONE);
        // ⌈2049/8⌉ = 257 covers 256: libjpeg-turbo rounds scaled sizes up.
        assert_eq!(dct_scale(2049, 2049, Some((256, 256))), ScalingFactor::ONE_EIGHTH);
    }

    #[test]
    fn exif_orientation_from_app1() {
        // SOI, APP1 with a little-endian TIFF header and one IFD entry: orientation (0x0112) = 6.
        let mut tiff = b"II*\0\x08\0\0\0".to_vec();
        tiff.extend_from_slice(&1u16.to_le_bytes());
        tiff.extend_from_slice(&[0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0]);
        tiff.extend_from_slice(&0u32.to_le_bytes());
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend_from_slice(&tiff);
        let mut jpeg = vec![0xff, 0xd8, 0xff, 0xe1];
        jpeg.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
        jpeg.extend_from_slice(&app1);
        jpeg.extend_from_slice(&[0xff, 0xda, 0, 2]);
        assert_eq!(exif_orientation(&jpeg), Some(Orientation::Rotate90));
        assert_eq!(exif_orientation(&[0xff, 0xd8, 0xff, 0xda, 0, 2]), None);
        assert_eq!(exif_orientation(&jpeg[..12]), None, "a cut segment is no orientation, not a panic");
    }
}
