//! Codec benchmark: CPU per image of fetch's image work (decode → resize → pad → encode, border
//! 256, JPEG q95) with three codec pairs, on one thread, driven by `scripts/bench.py`:
//!
//! - `libjpeg-turbo`: wit-imaging's [`process`] (libjpeg-turbo 3 with SIMD, DCT-scaled decode);
//! - `zune-jpeg + jpeg-encoder`: the pure-Rust SIMD pair the issue asked to measure against it
//!   (zune-jpeg has no DCT scaling: it decodes at full size);
//! - `jpeg-decoder + image`: what fetch used before (jpeg-decoder's DCT scaling, the `image`
//!   crate's encoder);
//! - `libjpeg-turbo decode only`: the floor — libjpeg-turbo decoding at the same DCT scale as
//!   `process` and nothing else (no checks, resize, padding or encode).
//!
//! Inputs: `bench` — the 640×480 JPEG of bench_fetch (generated, q90); `mixed` — the real
//! scikit-image photos (fixtures/images) rescaled to long sides from 100 to 4000 px, half baseline
//! and half progressive, q90 (as photos on the web are). Each line printed:
//! `CODEC<TAB>INPUT<TAB>IMAGES<TAB>CPU_SECONDS<TAB>OUTPUT_BYTES`; CPU time is the thread's own
//! (`/proc/thread-self/schedstat`), so a loaded machine inflates it less than wall time.
//!
//!   cargo run --release -p wit-imaging --example bench_codec -- [SECONDS_PER_ROW [CODEC [INPUT]]]
//!
//! CODEC and INPUT (substrings) pick rows, e.g. to profile one with perf.
//!
//!   bench_codec write-mixed DIR   # the mixed input as DIR/NNN.jpg, for bench_fetch's server

use std::io::Cursor;
use std::path::Path;

use fast_image_resize::images::Image as ResizeImage;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType as ImageFilter;
use image::ExtendedColorType;
use turbojpeg::{Compressor, Decompressor, Image, PixelFormat, ScalingFactor};
use wit_imaging::{process, ImageOptions, Rgb};

const SIZE: u32 = 256;

/// One codec pair's whole image work: source bytes → encoded 256×256 JPEG.
type Codec = fn(&[u8]) -> Vec<u8>;
const QUALITY: u8 = 95;

/// Nanoseconds this thread has run on a CPU.
fn thread_cpu_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").expect("/proc/thread-self/schedstat");
    stat.split_whitespace().next().and_then(|n| n.parse().ok()).expect("schedstat's first field")
}

/// bench_fetch's server image: a 640×480 gradient, q90.
fn bench_jpeg() -> Vec<u8> {
    let (w, h) = (640u32, 480u32);
    let pixels: Vec<u8> = (0..w * h * 3)
        .map(|i| {
            let (x, y) = ((i / 3) % w, (i / 3) / w);
            ((x * 7 + y * 3 + (i % 3) * 50) % 256) as u8
        })
        .collect();
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 90).encode(&pixels, w, h, ExtendedColorType::Rgb8).unwrap();
    out
}

/// The real photos rescaled to long sides from 100 to 4000 px, alternately baseline/progressive.
fn mixed_jpegs() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/images");
    let mut photos: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (run `make fixtures`)", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            ["astronaut.png", "chelsea.png", "coffee.png", "motorcycle_left.png", "rocket.jpg"]
                .contains(&p.file_name().unwrap().to_str().unwrap())
        })
        .collect();
    photos.sort();
    let sides = [100u32, 240, 400, 640, 800, 1024, 1600, 2048, 3000, 4000];
    let mut out = Vec::new();
    for (i, path) in photos.iter().enumerate() {
        let photo = image::open(path).unwrap().to_rgb8();
        for (j, &side) in sides.iter().enumerate() {
            let (w, h) = photo.dimensions();
            let scale = side as f64 / w.max(h) as f64;
            let (nw, nh) = (((w as f64 * scale).round() as u32).max(1), ((h as f64 * scale).round() as u32).max(1));
            let resized = image::imageops::resize(&photo, nw, nh, ImageFilter::Triangle);
            let mut c = Compressor::new().unwrap();
            c.set_quality(90).unwrap();
            c.set_progressive((i + j) % 2 == 1).unwrap();
            let image = Image {
                pixels: resized.as_raw().as_slice(),
                width: nw as usize,
                pitch: nw as usize * 3,
                height: nh as usize,
                format: PixelFormat::RGB,
            };
            out.push(c.compress_to_vec(image).unwrap());
        }
    }
    out
}

/// Border 256 as wit-imaging does it, for the two peer codec pairs.
fn fit_border(src: Rgb) -> Rgb {
    let scale = SIZE as f64 / src.width.max(src.height) as f64;
    let (w, h) =
        (((src.width as f64 * scale).round() as u32).max(1), ((src.height as f64 * scale).round() as u32).max(1));
    let source = ResizeImage::from_vec_u8(src.width, src.height, src.pixels, PixelType::U8x3).unwrap();
    let mut resized = ResizeImage::new(w, h, PixelType::U8x3);
    let filter = if w < src.width { FilterType::Box } else { FilterType::Lanczos3 };
    Resizer::new()
        .resize(&source, &mut resized, &ResizeOptions::new().resize_alg(ResizeAlg::Convolution(filter)))
        .unwrap();
    let mut pixels = vec![255u8; (SIZE * SIZE * 3) as usize];
    let (left, top) = ((SIZE - w) / 2, (SIZE - h) / 2);
    let row = w as usize * 3;
    for (y, line) in resized.buffer().chunks_exact(row).enumerate() {
        let at = ((y + top as usize) * SIZE as usize + left as usize) * 3;
        pixels[at..at + row].copy_from_slice(line);
    }
    Rgb { width: SIZE, height: SIZE, pixels }
}

fn zune_and_jpeg_encoder(bytes: &[u8]) -> Vec<u8> {
    use zune_jpeg::zune_core::{bytestream::ZCursor, colorspace::ColorSpace, options::DecoderOptions};
    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    let pixels = decoder.decode().unwrap();
    let (w, h) = decoder.dimensions().unwrap();
    let fitted = fit_border(Rgb { width: w as u32, height: h as u32, pixels });
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, QUALITY);
    encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
    encoder.encode(&fitted.pixels, SIZE as u16, SIZE as u16, jpeg_encoder::ColorType::Rgb).unwrap();
    out
}

fn jpeg_decoder_and_image(bytes: &[u8]) -> Vec<u8> {
    let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    decoder.read_info().unwrap();
    let info = decoder.info().unwrap();
    let scale = SIZE as f64 / info.width.max(info.height) as f64;
    let target = ((info.width as f64 * scale) as u16, (info.height as f64 * scale) as u16);
    let (w, h) = decoder.scale(target.0.max(1), target.1.max(1)).unwrap();
    let pixels = decoder.decode().unwrap();
    let fitted = fit_border(Rgb { width: w as u32, height: h as u32, pixels });
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, QUALITY)
        .encode(&fitted.pixels, SIZE, SIZE, ExtendedColorType::Rgb8)
        .unwrap();
    out
}

fn libjpeg_turbo(bytes: &[u8]) -> Vec<u8> {
    let options = ImageOptions { image_size: SIZE, quality: QUALITY, ..Default::default() };
    process(bytes, &options).unwrap().bytes
}

fn libjpeg_turbo_decode_only(bytes: &[u8]) -> Vec<u8> {
    thread_local! {
        static DECOMPRESSOR: std::cell::RefCell<Decompressor> = std::cell::RefCell::new(Decompressor::new().unwrap());
    }
    DECOMPRESSOR.with_borrow_mut(|decompressor| {
        let header = decompressor.read_header(bytes).unwrap();
        let fit = SIZE as f64 / header.width.max(header.height) as f64;
        let needed = |side: usize| (side as f64 * fit).round() as usize;
        let factor = [ScalingFactor::ONE_EIGHTH, ScalingFactor::ONE_QUARTER, ScalingFactor::ONE_HALF]
            .into_iter()
            .find(|f| f.scale(header.width) >= needed(header.width) && f.scale(header.height) >= needed(header.height))
            .unwrap_or(ScalingFactor::ONE);
        decompressor.set_scaling_factor(factor).unwrap();
        let scaled = header.scaled(factor);
        let mut pixels = vec![0u8; scaled.width * scaled.height * 3];
        let output = Image {
            pixels: pixels.as_mut_slice(),
            width: scaled.width,
            pitch: scaled.width * 3,
            height: scaled.height,
            format: PixelFormat::RGB,
        };
        decompressor.decompress(bytes, output).unwrap();
        pixels
    })
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("write-mixed") {
        let dir = std::path::PathBuf::from(std::env::args().nth(2).expect("bench_codec write-mixed DIR"));
        std::fs::create_dir_all(&dir).unwrap();
        for (i, jpeg) in mixed_jpegs().iter().enumerate() {
            std::fs::write(dir.join(format!("{i:03}.jpg")), jpeg).unwrap();
        }
        return;
    }
    let seconds: f64 = std::env::args().nth(1).map(|a| a.parse().expect("SECONDS_PER_ROW")).unwrap_or(3.0);
    let codec_filter = std::env::args().nth(2).unwrap_or_default();
    let input_filter = std::env::args().nth(3).unwrap_or_default();
    let mut inputs = vec![("bench", vec![bench_jpeg()])];
    if "mixed".contains(input_filter.as_str()) {
        inputs.push(("mixed", mixed_jpegs()));
    }
    inputs.retain(|(name, _)| name.contains(input_filter.as_str()));
    let codecs: [(&str, Codec); 4] = [
        ("libjpeg-turbo", libjpeg_turbo),
        ("libjpeg-turbo decode only", libjpeg_turbo_decode_only),
        ("zune-jpeg + jpeg-encoder", zune_and_jpeg_encoder),
        ("jpeg-decoder + image", jpeg_decoder_and_image),
    ];
    for (input, images) in &inputs {
        for (codec, run) in codecs.into_iter().filter(|(c, _)| c.contains(codec_filter.as_str())) {
            // Whole passes over the input until the time is up, so every image counts the same.
            let (start, mut count, mut bytes) = (thread_cpu_ns(), 0u64, 0u64);
            while count == 0 || ((thread_cpu_ns() - start) as f64) < seconds * 1e9 {
                for image in images {
                    bytes += run(image).len() as u64;
                    count += 1;
                }
            }
            let cpu = (thread_cpu_ns() - start) as f64 / 1e9;
            println!("{codec}\t{input}\t{count}\t{cpu:.4}\t{bytes}");
        }
    }
}
