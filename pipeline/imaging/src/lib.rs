//! Image checks and codecs, shared by fetch and the trainer's loader: sniff the format from magic
//! bytes, read the dimensions from the header and refuse oversized images **before** decoding,
//! decode with allocation limits (JPEG through libjpeg-turbo, straight to the smallest DCT scale
//! that covers the target: module `jpeg`), apply EXIF orientation, resize with SIMD (fast_image_resize)
//! in img2dataset's modes, encode JPEG (libjpeg-turbo), PNG or WebP.
//!
//! [`process`] is fetch's door (bytes → checked, resized, re-encoded image); [`decode_rgb`] the
//! loader's (bytes → an upright RGB8 raster); [`exif_json`] reads the original's EXIF tags
//! (fetch's `--keep-exif`).

mod exif;
mod jpeg;

pub use exif::exif_json;

use std::io::Cursor;

use fast_image_resize::images::Image;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::metadata::Orientation;
use image::{ExtendedColorType, ImageDecoder, ImageEncoder, ImageFormat, ImageReader, Limits};
use serde::{Deserialize, Serialize};

/// How images are fitted to `image_size`, as img2dataset's `--resize_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResizeMode {
    /// Keep the original size.
    No,
    /// Largest side to `image_size`, then pad to a white `image_size` square.
    Border,
    /// Smallest side to `image_size`, aspect kept.
    KeepRatio,
    /// Largest side to `image_size`, aspect kept.
    KeepRatioLargest,
    /// Smallest side to `image_size`, then the centre `image_size` square.
    CenterCrop,
}

/// The encoding of corpus images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputFormat {
    Jpeg,
    Png,
    /// Lossless WebP (the `image` crate's encoder has no lossy mode; `quality` is ignored).
    Webp,
}

impl OutputFormat {
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Jpeg => "jpeg",
            OutputFormat::Png => "png",
            OutputFormat::Webp => "webp",
        }
    }
}

/// The image rules of a fetch run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageOptions {
    pub image_size: u32,
    pub resize_mode: ResizeMode,
    /// Only ever shrink: smaller images are kept at their size (border mode still pads).
    pub resize_only_if_bigger: bool,
    /// Refuse images whose smaller side is below this (0: no minimum).
    pub min_image_size: u32,
    /// Refuse images whose longer/shorter side ratio exceeds this.
    pub max_aspect_ratio: f64,
    /// Refuse images of more pixels than this, judged from the header before decoding.
    pub max_pixels: u64,
    /// Most bytes a decoder may allocate.
    pub max_decode_bytes: u64,
    pub output_format: OutputFormat,
    /// JPEG quality 1–100.
    pub quality: u8,
}

impl Default for ImageOptions {
    fn default() -> Self {
        ImageOptions {
            image_size: 256,
            resize_mode: ResizeMode::Border,
            resize_only_if_bigger: false,
            min_image_size: 0,
            max_aspect_ratio: f64::INFINITY,
            max_pixels: 50_000_000,
            max_decode_bytes: 512 << 20,
            output_format: OutputFormat::Jpeg,
            quality: 95,
        }
    }
}

/// Why an image was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImageError {
    #[error("not a JPEG, PNG, WebP or GIF image (magic bytes {0})")]
    NotAnImage(String),
    #[error("{width}×{height} is more than {limit} pixels")]
    TooManyPixels { width: u32, height: u32, limit: u64 },
    #[error("{width}×{height} is smaller than the minimum side {min}")]
    TooSmall { width: u32, height: u32, min: u32 },
    #[error("{width}×{height}: aspect ratio over {max}")]
    AspectRatio { width: u32, height: u32, max: f64 },
    #[error("decoding: {0}")]
    Decode(String),
    #[error("resizing: {0}")]
    Resize(String),
    #[error("encoding: {0}")]
    Encode(String),
}

impl ImageError {
    /// The stable error-kind name.
    pub fn kind(&self) -> &'static str {
        match self {
            ImageError::NotAnImage(_) => "not_an_image",
            ImageError::TooManyPixels { .. } => "too_many_pixels",
            ImageError::TooSmall { .. } => "too_small",
            ImageError::AspectRatio { .. } => "aspect_ratio",
            ImageError::Decode(_) => "decode",
            ImageError::Resize(_) => "resize",
            ImageError::Encode(_) => "encode",
        }
    }

    /// The failure status: `failed_to_decode`, `filtered` or `failed_to_resize`.
    pub fn status(&self) -> &'static str {
        match self {
            ImageError::NotAnImage(_) | ImageError::TooManyPixels { .. } | ImageError::Decode(_) => "failed_to_decode",
            ImageError::TooSmall { .. } | ImageError::AspectRatio { .. } => "filtered",
            ImageError::Resize(_) | ImageError::Encode(_) => "failed_to_resize",
        }
    }
}

/// A re-encoded image.
#[derive(Debug, Clone)]
pub struct Processed {
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub original_width: u32,
    pub original_height: u32,
}

/// An RGB8 raster, rows top to bottom, 3 bytes per pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rgb {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
}

/// The format named by the first bytes, if it is one we decode.
pub fn sniff_format(bytes: &[u8]) -> Result<ImageFormat, ImageError> {
    if bytes.is_empty() {
        return Err(ImageError::NotAnImage("none: the body is empty".into()));
    }
    match image::guess_format(bytes) {
        Ok(format @ (ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP | ImageFormat::Gif)) => Ok(format),
        _ => Err(ImageError::NotAnImage(bytes.iter().take(8).map(|b| format!("{b:02x}")).collect())),
    }
}

/// A JPEG is whole when an end-of-image marker follows its last scan header. (Scan data stuffs
/// every 0xFF with 0x00, so `FF D9` inside it is the real marker; an EXIF thumbnail's own markers
/// come before the main image's scans.) Decoders fill a cut-off JPEG with grey; PIL, which
/// img2dataset uses, refuses it.
///
/// Read from the end (the marker is normally the last two bytes) and the first scan from the
/// start, so a whole file is never scanned.
pub fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let last_marker = bytes.windows(2).rev().find_map(|w| match w {
        [0xff, 0xd9] => Some(true),
        [0xff, 0xda] => Some(false),
        _ => None,
    });
    last_marker == Some(true) && bytes.windows(2).any(|w| w == [0xff, 0xda])
}

/// What every decode starts from, read once: the format and the size as stored in the file
/// (before EXIF orientation), from the header only (for JPEG, libjpeg-turbo's header read).
struct Header {
    format: ImageFormat,
    width: u32,
    height: u32,
    jpeg: Option<jpeg::JpegHeader>,
}

fn stored_header(bytes: &[u8], format: ImageFormat) -> Result<Header, ImageError> {
    if format == ImageFormat::Jpeg {
        let jpeg = jpeg::header(bytes)?;
        return Ok(Header { format, width: jpeg.width, height: jpeg.height, jpeg: Some(jpeg) });
    }
    let (width, height) = ImageReader::with_format(Cursor::new(bytes), format)
        .into_dimensions()
        .map_err(|e| ImageError::Decode(e.to_string()))?;
    Ok(Header { format, width, height, jpeg: None })
}

/// The sniffed format and header, refused when over `max_pixels` (nothing decoded yet).
fn header_within(bytes: &[u8], max_pixels: u64) -> Result<Header, ImageError> {
    let header = stored_header(bytes, sniff_format(bytes)?)?;
    let (width, height) = (header.width, header.height);
    if width == 0 || height == 0 || width as u64 * height as u64 > max_pixels {
        return Err(ImageError::TooManyPixels { width, height, limit: max_pixels });
    }
    Ok(header)
}

/// Refuses a JPEG cut off before its end-of-image marker (see [`jpeg_is_complete`]).
fn ensure_whole(bytes: &[u8], header: &Header) -> Result<(), ImageError> {
    if header.jpeg.is_some() && !jpeg_is_complete(bytes) {
        return Err(ImageError::Decode("truncated JPEG: no end-of-image marker after the last scan".into()));
    }
    Ok(())
}

/// The orientation the file asks viewers to apply (EXIF; PNG eXIf and WebP EXIF chunks included).
fn orientation(bytes: &[u8], format: ImageFormat) -> Orientation {
    let found = if format == ImageFormat::Jpeg {
        jpeg::exif_orientation(bytes)
    } else {
        ImageReader::with_format(Cursor::new(bytes), format)
            .into_decoder()
            .ok()
            .and_then(|mut decoder| decoder.orientation().ok())
    };
    found.unwrap_or(Orientation::NoTransforms)
}

/// Whether the orientation swaps width and height.
fn transposes(orientation: Orientation) -> bool {
    matches!(
        orientation,
        Orientation::Rotate90 | Orientation::Rotate270 | Orientation::Rotate90FlipH | Orientation::Rotate270FlipH
    )
}

/// The size the whole image is scaled to before any crop or pad; `None` = keep the size.
fn scaled_size(width: u32, height: u32, options: &ImageOptions) -> Option<(u32, u32)> {
    let size = options.image_size as f64;
    let (short, long) = (width.min(height) as f64, width.max(height) as f64);
    let side = match options.resize_mode {
        ResizeMode::No => return None,
        ResizeMode::KeepRatio | ResizeMode::CenterCrop => short,
        ResizeMode::Border | ResizeMode::KeepRatioLargest => long,
    };
    if options.resize_only_if_bigger && side <= size {
        return None;
    }
    let scale = size / side;
    let w = ((width as f64 * scale).round() as u32).max(1);
    let h = ((height as f64 * scale).round() as u32).max(1);
    if options.resize_mode == ResizeMode::CenterCrop {
        // The short side lands exactly on image_size so the crop is exact.
        return Some(if width <= height {
            (options.image_size, h.max(options.image_size))
        } else {
            (w.max(options.image_size), options.image_size)
        });
    }
    Some((w, h))
}

/// Checks, decodes, resizes and encodes one downloaded image. Sizes are of the upright image
/// (EXIF orientation applied, as OpenCV's `imdecode` in img2dataset does).
pub fn process(bytes: &[u8], options: &ImageOptions) -> Result<Processed, ImageError> {
    let header = header_within(bytes, options.max_pixels)?;
    let (width, height) = (header.width, header.height);
    if width.min(height) < options.min_image_size {
        return Err(ImageError::TooSmall { width, height, min: options.min_image_size });
    }
    if width.max(height) as f64 / width.min(height) as f64 > options.max_aspect_ratio {
        return Err(ImageError::AspectRatio { width, height, max: options.max_aspect_ratio });
    }
    ensure_whole(bytes, &header)?;
    let orientation = orientation(bytes, header.format);
    let (width, height) = if transposes(orientation) { (height, width) } else { (width, height) };
    let target = scaled_size(width, height, options);
    let stored_target = match target {
        Some((w, h)) if transposes(orientation) => Some((h, w)),
        other => other,
    };
    let decoded = orient(decode(bytes, &header, stored_target, options.max_decode_bytes)?, orientation);
    let resized = match target {
        Some((w, h)) if (w, h) != (decoded.width, decoded.height) => resize(decoded, w, h)?,
        _ => decoded,
    };
    let fitted = match options.resize_mode {
        ResizeMode::CenterCrop if target.is_some() => crop_center(&resized, options.image_size),
        ResizeMode::Border => pad_center(resized, options.image_size),
        _ => resized,
    };
    let encoded = encode(&fitted, options)?;
    Ok(Processed {
        bytes: encoded,
        width: fitted.width,
        height: fitted.height,
        original_width: width,
        original_height: height,
    })
}

/// Decodes any supported image to an upright RGB8 raster (alpha flattened on white, EXIF
/// orientation applied), refusing more than `max_pixels` before decoding: the trainer's loader.
pub fn decode_rgb(bytes: &[u8], max_pixels: u64, max_decode_bytes: u64) -> Result<Rgb, ImageError> {
    let header = header_within(bytes, max_pixels)?;
    ensure_whole(bytes, &header)?;
    Ok(orient(decode(bytes, &header, None, max_decode_bytes)?, orientation(bytes, header.format)))
}

/// Decodes in the file's own orientation; JPEG at the smallest DCT scale covering `target`.
fn decode(bytes: &[u8], header: &Header, target: Option<(u32, u32)>, max_decode_bytes: u64) -> Result<Rgb, ImageError> {
    if let Some(jpeg) = &header.jpeg {
        return jpeg::decode(bytes, jpeg, target, max_decode_bytes);
    }
    // GIF and animated WebP: the first frame.
    let mut reader = ImageReader::with_format(Cursor::new(bytes), header.format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(header.width);
    limits.max_image_height = Some(header.height);
    limits.max_alloc = Some(max_decode_bytes);
    reader.limits(limits);
    let image = reader.decode().map_err(|e| ImageError::Decode(e.to_string()))?;
    let (w, h) = (image.width(), image.height());
    let pixels = if image.color().has_alpha() {
        flatten_on_white(image.to_rgba8().as_raw())
    } else {
        image.to_rgb8().into_raw()
    };
    Ok(Rgb { width: w, height: h, pixels })
}

/// Applies an EXIF orientation (a no-op for the common upright case).
fn orient(raster: Rgb, orientation: Orientation) -> Rgb {
    if orientation == Orientation::NoTransforms {
        return raster;
    }
    let Some(buffer) = image::RgbImage::from_raw(raster.width, raster.height, raster.pixels) else {
        unreachable!("a decoded raster holds width × height × 3 bytes")
    };
    let mut upright = image::DynamicImage::ImageRgb8(buffer);
    upright.apply_orientation(orientation);
    let upright = upright.into_rgb8();
    Rgb { width: upright.width(), height: upright.height(), pixels: upright.into_raw() }
}

fn flatten_on_white(rgba: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rgba.len() / 4 * 3);
    for px in rgba.chunks_exact(4) {
        let a = px[3] as u32;
        for &c in &px[..3] {
            out.push(((c as u32 * a + 255 * (255 - a) + 127) / 255) as u8);
        }
    }
    out
}

fn resize(src: Rgb, width: u32, height: u32) -> Result<Rgb, ImageError> {
    let source = Image::from_vec_u8(src.width, src.height, src.pixels, PixelType::U8x3)
        .map_err(|e| ImageError::Resize(e.to_string()))?;
    let mut destination = Image::new(width, height, PixelType::U8x3);
    let filter = if width < src.width { FilterType::Box } else { FilterType::Lanczos3 };
    let resize_options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(filter));
    Resizer::new().resize(&source, &mut destination, &resize_options).map_err(|e| ImageError::Resize(e.to_string()))?;
    Ok(Rgb { width, height, pixels: destination.into_vec() })
}

fn crop_center(src: &Rgb, size: u32) -> Rgb {
    let (w, h) = (size.min(src.width), size.min(src.height));
    let (left, top) = ((src.width - w) / 2, (src.height - h) / 2);
    let mut pixels = Vec::with_capacity(w as usize * h as usize * 3);
    for y in top..top + h {
        let start = (y as usize * src.width as usize + left as usize) * 3;
        pixels.extend_from_slice(&src.pixels[start..start + w as usize * 3]);
    }
    Rgb { width: w, height: h, pixels }
}

fn pad_center(src: Rgb, size: u32) -> Rgb {
    let (w, h) = (size.max(src.width), size.max(src.height));
    if (w, h) == (src.width, src.height) {
        return src;
    }
    let (left, top) = ((w - src.width) / 2, (h - src.height) / 2);
    let mut pixels = vec![255u8; w as usize * h as usize * 3];
    let row = src.width as usize * 3;
    for y in 0..src.height as usize {
        let at = ((y + top as usize) * w as usize + left as usize) * 3;
        pixels[at..at + row].copy_from_slice(&src.pixels[y * row..(y + 1) * row]);
    }
    Rgb { width: w, height: h, pixels }
}

fn encode(image: &Rgb, options: &ImageOptions) -> Result<Vec<u8>, ImageError> {
    let mut out = Vec::with_capacity(image.pixels.len() / 8);
    let (w, h, color) = (image.width, image.height, ExtendedColorType::Rgb8);
    let result = match options.output_format {
        OutputFormat::Jpeg => return jpeg::encode(image, options.quality),
        OutputFormat::Png => PngEncoder::new(&mut out).write_image(&image.pixels, w, h, color),
        OutputFormat::Webp => WebPEncoder::new_lossless(&mut out).encode(&image.pixels, w, h, color),
    };
    result.map_err(|e| ImageError::Encode(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::codecs::jpeg::JpegEncoder;

    fn jpeg(width: u32, height: u32) -> Vec<u8> {
        let pixels: Vec<u8> = (0..width * height * 3).map(|i| (i % 251) as u8).collect();
        let mut out = Vec::new();
        JpegEncoder::new_with_quality(&mut out, 90).encode(&pixels, width, height, ExtendedColorType::Rgb8).unwrap();
        out
    }

    fn png(width: u32, height: u32) -> Vec<u8> {
        let pixels = vec![7u8; (width * height * 4) as usize];
        let mut out = Vec::new();
        PngEncoder::new(&mut out).write_image(&pixels, width, height, ExtendedColorType::Rgba8).unwrap();
        out
    }

    fn dims(bytes: &[u8], mode: ResizeMode, size: u32, only_if_bigger: bool) -> (u32, u32) {
        let options = ImageOptions {
            image_size: size,
            resize_mode: mode,
            resize_only_if_bigger: only_if_bigger,
            ..Default::default()
        };
        let p = process(bytes, &options).unwrap();
        let decoded = image::load_from_memory(&p.bytes).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (p.width, p.height), "row dims match the encoded image");
        (p.width, p.height)
    }

    #[test]
    fn resize_modes() {
        let wide = jpeg(400, 200);
        assert_eq!(dims(&wide, ResizeMode::No, 64, false), (400, 200));
        assert_eq!(dims(&wide, ResizeMode::KeepRatio, 64, false), (128, 64));
        assert_eq!(dims(&wide, ResizeMode::KeepRatioLargest, 64, false), (64, 32));
        assert_eq!(dims(&wide, ResizeMode::CenterCrop, 64, false), (64, 64));
        assert_eq!(dims(&wide, ResizeMode::Border, 64, false), (64, 64));
        let tall = png(30, 90);
        assert_eq!(dims(&tall, ResizeMode::KeepRatio, 60, false), (60, 180), "upscales unless only-if-bigger");
        assert_eq!(dims(&tall, ResizeMode::KeepRatio, 60, true), (30, 90));
        assert_eq!(dims(&tall, ResizeMode::KeepRatioLargest, 60, true), (20, 60));
        assert_eq!(dims(&tall, ResizeMode::Border, 120, true), (120, 120), "border pads even when not shrinking");
        assert_eq!(dims(&tall, ResizeMode::CenterCrop, 20, true), (20, 20));
        assert_eq!(dims(&tall, ResizeMode::CenterCrop, 60, true), (30, 90));
    }

    #[test]
    fn dct_scaled_jpeg_keeps_originals() {
        let big = jpeg(1024, 768);
        let options = ImageOptions { image_size: 64, resize_mode: ResizeMode::KeepRatioLargest, ..Default::default() };
        let p = process(&big, &options).unwrap();
        assert_eq!((p.width, p.height, p.original_width, p.original_height), (64, 48, 1024, 768));
    }

    #[test]
    fn refusals_before_decoding() {
        assert_eq!(process(b"<html>hello</html>", &ImageOptions::default()).unwrap_err().kind(), "not_an_image");
        let small = ImageOptions { min_image_size: 100, ..Default::default() };
        assert_eq!(process(&png(50, 200), &small).unwrap_err().kind(), "too_small");
        let ratio = ImageOptions { max_aspect_ratio: 2.0, ..Default::default() };
        assert_eq!(process(&png(30, 90), &ratio).unwrap_err().status(), "filtered");
        let pixels = ImageOptions { max_pixels: 100, ..Default::default() };
        assert_eq!(process(&png(20, 20), &pixels).unwrap_err().kind(), "too_many_pixels");
        let mut truncated = jpeg(64, 64);
        truncated.truncate(20);
        assert!(process(&truncated, &ImageOptions::default()).is_err());
        // Cut inside the scan: the header reads, the decoder would fill the rest with grey.
        let whole = jpeg(64, 64);
        assert!(jpeg_is_complete(&whole));
        let cut = &whole[..whole.len() - 40];
        assert!(!jpeg_is_complete(cut));
        assert_eq!(process(cut, &ImageOptions::default()).unwrap_err().kind(), "decode");
    }

    #[test]
    fn output_formats() {
        for format in [OutputFormat::Jpeg, OutputFormat::Png, OutputFormat::Webp] {
            let options = ImageOptions { output_format: format, image_size: 32, ..Default::default() };
            let p = process(&png(40, 40), &options).unwrap();
            assert_eq!(
                image::guess_format(&p.bytes).unwrap().extensions_str()[0],
                match format {
                    OutputFormat::Jpeg => "jpg",
                    OutputFormat::Png => "png",
                    OutputFormat::Webp => "webp",
                }
            );
        }
    }
}
