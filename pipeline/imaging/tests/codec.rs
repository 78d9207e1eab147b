//! The libjpeg-turbo path against the pure-Rust decoder it replaced (the `image` crate's), on the
//! real scikit-image samples (fixtures/images, `make fixtures`), and the cases a web crawl brings:
//! progressive and CMYK JPEGs, EXIF orientation, 16-bit PNG, animated GIF.

use std::path::PathBuf;

use image::codecs::gif::GifEncoder;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, Frame, ImageEncoder, RgbaImage};
use turbojpeg::{Compressor, Image, PixelFormat};
use wit_imaging::{decode_rgb, process, ImageOptions, ResizeMode, Rgb};

const MAX_PIXELS: u64 = 50_000_000;
const MAX_BYTES: u64 = 512 << 20;

/// The tolerance of the decoder swap, in 8-bit levels: libjpeg-turbo's integer IDCT and fancy
/// chroma upsampling vs zune-jpeg's round differently. Measured on the samples: mean ≤ 0.08,
/// p99.9 ≤ 2 (`cargo test -p wit-imaging --test codec -- --nocapture` prints each).
const MEAN_ABS_TOLERANCE: f64 = 0.25;
const P999_TOLERANCE: u8 = 4;

fn samples() -> Vec<(String, Vec<u8>)> {
    // The run's manifest dir, not the compile-time one: CI's clone and a developer's checkout share
    // the cargo target folder, and an unchanged test binary keeps the path it was built under.
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
    let dir = PathBuf::from(manifest_dir).join("../../fixtures/images");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e} (run `make fixtures`)", dir.display())) {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".png") || name.ends_with(".jpg") {
            out.push((name, std::fs::read(&path).unwrap()));
        }
    }
    out.sort();
    assert!(out.len() >= 20, "expected the scikit-image samples in {}", dir.display());
    out
}

fn rgb_of(bytes: &[u8]) -> Rgb {
    let image = image::load_from_memory(bytes).unwrap().to_rgb8();
    Rgb { width: image.width(), height: image.height(), pixels: image.into_raw() }
}

fn jpeg_q90(raster: &Rgb) -> Vec<u8> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 90)
        .encode(&raster.pixels, raster.width, raster.height, ExtendedColorType::Rgb8)
        .unwrap();
    out
}

/// (mean absolute difference, 99.9th percentile difference)
fn difference(a: &Rgb, b: &Rgb) -> (f64, u8) {
    assert_eq!((a.width, a.height), (b.width, b.height));
    let mut diffs: Vec<u8> = a.pixels.iter().zip(&b.pixels).map(|(x, y)| x.abs_diff(*y)).collect();
    let mean = diffs.iter().map(|&d| d as f64).sum::<f64>() / diffs.len() as f64;
    diffs.sort_unstable();
    (mean, diffs[diffs.len() * 999 / 1000])
}

#[test]
fn libjpeg_turbo_decodes_the_real_samples_like_the_old_decoder() {
    let mut compared = 0;
    for (name, bytes) in samples() {
        // PNG samples are encoded once (q90) so that both decoders read the same JPEG.
        let jpeg = if name.ends_with(".jpg") { bytes } else { jpeg_q90(&rgb_of(&bytes)) };
        let new = decode_rgb(&jpeg, MAX_PIXELS, MAX_BYTES).unwrap_or_else(|e| panic!("{name}: {e}"));
        let old = rgb_of(&jpeg);
        let (mean, p999) = difference(&new, &old);
        println!("{name:32} {}×{}: mean |Δ| {mean:.3}, p99.9 {p999}", new.width, new.height);
        assert!(mean <= MEAN_ABS_TOLERANCE && p999 <= P999_TOLERANCE, "{name}: mean {mean:.3}, p99.9 {p999}");
        compared += 1;
    }
    assert!(compared >= 20);
}

#[test]
fn dct_scaled_decode_matches_a_full_decode_then_resize() {
    // chelsea (451×300) ×4 = 1804×1200: decoded at 1/4 for a 256 target, vs decoded whole and
    // shrunk by the resizer. Both end as 256×170; they differ by filtering only.
    let cat = rgb_of(&samples().into_iter().find(|(n, _)| n == "chelsea.png").unwrap().1);
    let big = image::imageops::resize(
        &image::RgbImage::from_raw(cat.width, cat.height, cat.pixels.clone()).unwrap(),
        cat.width * 4,
        cat.height * 4,
        image::imageops::FilterType::Triangle,
    );
    let big = Rgb { width: big.width(), height: big.height(), pixels: big.into_raw() };
    let jpeg = jpeg_q90(&big);
    let options = ImageOptions { image_size: 256, resize_mode: ResizeMode::KeepRatioLargest, ..Default::default() };
    let scaled = process(&jpeg, &options).unwrap();
    assert_eq!((scaled.width, scaled.height, scaled.original_width, scaled.original_height), (256, 170, 1804, 1200));
    let png_options = ImageOptions { output_format: wit_imaging::OutputFormat::Png, ..options };
    let via_scale = rgb_of(&process(&jpeg, &png_options).unwrap().bytes);
    let full = decode_rgb(&jpeg, MAX_PIXELS, MAX_BYTES).unwrap();
    let mut png = Vec::new();
    PngEncoder::new(&mut png).write_image(&full.pixels, full.width, full.height, ExtendedColorType::Rgb8).unwrap();
    let via_full = rgb_of(&process(&png, &png_options).unwrap().bytes);
    let (mean, _) = difference(&via_scale, &via_full);
    assert!(mean <= 3.0, "DCT-scaled vs full decode + resize: mean |Δ| {mean:.2}");
}

fn turbo_encode(pixels: &[u8], width: usize, height: usize, format: PixelFormat, progressive: bool) -> Vec<u8> {
    let mut c = Compressor::new().unwrap();
    c.set_quality(90).unwrap();
    c.set_progressive(progressive).unwrap();
    let image = Image { pixels, width, pitch: width * format.size(), height, format };
    c.compress_to_vec(image).unwrap()
}

#[test]
fn progressive_and_cmyk_jpegs_decode() {
    let (name, bytes) = samples().into_iter().find(|(n, _)| n == "astronaut.png").unwrap();
    let raster = rgb_of(&bytes);
    let (w, h) = (raster.width as usize, raster.height as usize);
    let progressive = turbo_encode(&raster.pixels, w, h, PixelFormat::RGB, true);
    assert!(turbojpeg::read_header(&progressive).unwrap().is_progressive);
    let (mean, p999) = difference(&decode_rgb(&progressive, MAX_PIXELS, MAX_BYTES).unwrap(), &rgb_of(&progressive));
    assert!(mean <= MEAN_ABS_TOLERANCE && p999 <= P999_TOLERANCE, "{name} progressive: {mean:.3} {p999}");
    let scaled = process(&progressive, &ImageOptions { image_size: 128, ..Default::default() }).unwrap();
    assert_eq!((scaled.width, scaled.height), (128, 128));

    // Adobe-style (inverted) CMYK, written as a YCCK JPEG: both decoders must read the same colours.
    let cmyk: Vec<u8> = raster.pixels.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect();
    let ycck = turbo_encode(&cmyk, w, h, PixelFormat::CMYK, false);
    let (mean, p999) = difference(&decode_rgb(&ycck, MAX_PIXELS, MAX_BYTES).unwrap(), &rgb_of(&ycck));
    assert!(mean <= MEAN_ABS_TOLERANCE && p999 <= P999_TOLERANCE, "{name} CMYK: {mean:.3} {p999}");
    let (mean, _) = difference(&decode_rgb(&ycck, MAX_PIXELS, MAX_BYTES).unwrap(), &raster);
    assert!(mean <= 4.0, "CMYK decodes to the source colours (mean |Δ| {mean:.2})");
}

/// `jpeg` with an EXIF APP1 segment (orientation tag only) after its SOI marker.
fn with_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut tiff = b"MM\0*\0\0\0\x08".to_vec();
    tiff.extend_from_slice(&1u16.to_be_bytes());
    tiff.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1]);
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    let mut segment = vec![0xff, 0xe1];
    segment.extend_from_slice(&((tiff.len() + 8) as u16).to_be_bytes());
    segment.extend_from_slice(b"Exif\0\0");
    segment.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&segment);
    out.extend_from_slice(&jpeg[2..]);
    out
}

#[test]
fn exif_orientation_is_applied_before_resizing() {
    // 64×32: left half red, right half blue. Orientation 6 = rotate 90° clockwise to view.
    let (w, h) = (64u32, 32u32);
    let pixels: Vec<u8> = (0..w * h).flat_map(|i| if i % w < w / 2 { [255, 0, 0] } else { [0, 0, 255] }).collect();
    let raster = Rgb { width: w, height: h, pixels };
    let rotated = with_orientation(&jpeg_q90(&raster), 6);
    let upright = decode_rgb(&rotated, MAX_PIXELS, MAX_BYTES).unwrap();
    assert_eq!((upright.width, upright.height), (32, 64));
    let at = |x: u32, y: u32| &upright.pixels[((y * upright.width + x) * 3) as usize..][..3];
    assert!(at(16, 4)[0] > 200 && at(16, 4)[2] < 60, "red on top after the rotation: {:?}", at(16, 4));
    assert!(at(16, 60)[2] > 200 && at(16, 60)[0] < 60, "blue below: {:?}", at(16, 60));
    let options = ImageOptions { image_size: 16, resize_mode: ResizeMode::KeepRatioLargest, ..Default::default() };
    let p = process(&rotated, &options).unwrap();
    assert_eq!((p.width, p.height, p.original_width, p.original_height), (8, 16, 32, 64));
}

#[test]
fn sixteen_bit_png_and_animated_gif_first_frame() {
    let pixels16: Vec<u8> = (0..40 * 30 * 3).flat_map(|i: u32| ((i * 997) as u16).to_be_bytes()).collect();
    let mut png16 = Vec::new();
    PngEncoder::new(&mut png16).write_image(&pixels16, 40, 30, ExtendedColorType::Rgb16).unwrap();
    let p = process(&png16, &ImageOptions { image_size: 20, ..Default::default() }).unwrap();
    assert_eq!((p.width, p.height, p.original_width, p.original_height), (20, 20, 40, 30));

    let mut gif = Vec::new();
    {
        let mut encoder = GifEncoder::new(&mut gif);
        let green = RgbaImage::from_pixel(24, 24, image::Rgba([0, 200, 0, 255]));
        let magenta = RgbaImage::from_pixel(24, 24, image::Rgba([200, 0, 200, 255]));
        encoder.encode_frames([Frame::new(green), Frame::new(magenta)]).unwrap();
    }
    let first = decode_rgb(&gif, MAX_PIXELS, MAX_BYTES).unwrap();
    assert_eq!((first.width, first.height), (24, 24));
    assert!(first.pixels.chunks_exact(3).all(|p| p[1] > 150 && p[0] < 50), "the first (green) frame");
}

#[test]
fn jpeg_limits_hold_before_decoding() {
    let raster = Rgb { width: 300, height: 200, pixels: vec![90; 300 * 200 * 3] };
    let jpeg = jpeg_q90(&raster);
    let few_pixels = ImageOptions { max_pixels: 300 * 200 - 1, ..Default::default() };
    assert_eq!(process(&jpeg, &few_pixels).unwrap_err().kind(), "too_many_pixels");
    let few_bytes = ImageOptions { max_decode_bytes: 1000, resize_mode: ResizeMode::No, ..Default::default() };
    let err = process(&jpeg, &few_bytes).unwrap_err();
    assert_eq!(err.kind(), "decode");
    assert!(err.to_string().contains("1000-byte limit"), "{err}");
    let mut corrupt = jpeg.clone();
    let middle = corrupt.len() / 2;
    corrupt[middle..middle + 64].fill(0x55);
    // Garbage inside the entropy-coded data: refused (libjpeg-turbo warns, the warning fails it).
    assert!(process(&corrupt, &ImageOptions::default()).is_err());
}
