//! The perceptual hash of an image (`image_phash`): 64 bits from the signs of the lowest 8×8
//! two-dimensional DCT frequencies of a 32×32 luma thumbnail (bit `8·v + u` holds `C(u, v) > 0`;
//! bit 0, the DC term, is always 0), compared by Hamming distance.
//!
//! Why this hash and not another:
//! - **pHash-style DCT, not dHash or aHash**: low DCT frequencies describe the layout of the whole
//!   picture, so rescaling, JPEG re-encoding at low quality, small crops and brightness/colour
//!   shifts move few bits, while gradient hashes (dHash) flip many bits under blur and crops.
//! - **Signs, not the median split of classic pHash**: an AC coefficient's sign is the same test
//!   without a data-dependent threshold, and it makes a mirrored image's hash a known function of
//!   the hash: mirroring `x → W−1−x` multiplies `C(u, v)` by `(−1)^u`, so the mirror's hash is
//!   `hash ^ MIRROR_MASK` exactly ([`mirrored`]). Dedup and decontamination test both, so
//!   flip invariance costs nothing at hashing time and no second column.
//! - **64 bits, not PDQ's 256**: at the distances real copies land at (see the tests on the
//!   scikit-image samples), 64 bits split into a few bands give band buckets small enough for
//!   multi-index hashing at corpus scale; PDQ's typical threshold of 31/256 would need 32 bands of
//!   8 bits, each bucket holding 1/256 of the corpus.
//! - **Limitation**: a periodic texture finer than 8 cycles per image (a chessboard, a brick wall)
//!   has near-zero low frequencies, so its bits are rounding noise and its copies are missed.
//! - **Our own code, not a crate**: `image_hasher` (the maintained fork of `img_hash`) works on
//!   `image::DynamicImage` and would decode the file again; this runs on the raster fetch has
//!   already decoded (at libjpeg-turbo's DCT-scaled size), costing one pass over its pixels.

use crate::Rgb;

/// Side of the luma thumbnail the DCT runs on.
const SIDE: usize = 32;
/// Frequencies kept per axis (8 × 8 = 64 bits).
const FREQS: usize = 8;

/// The bits whose coefficient changes sign when the image is mirrored left–right (odd `u`).
pub const MIRROR_MASK: u64 = {
    let mut mask = 0u64;
    let mut bit = 0;
    while bit < 64 {
        if (bit % FREQS) % 2 == 1 {
            mask |= 1 << bit;
        }
        bit += 1;
    }
    mask
};

/// The hash of the left–right mirror of the image whose hash is `hash`.
pub fn mirrored(hash: u64) -> u64 {
    hash ^ MIRROR_MASK
}

/// Hamming distance of two hashes.
pub fn distance(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

/// The distance of `b` to `a` or to `a`'s mirror, whichever is smaller, and whether it was the mirror.
pub fn distance_or_mirrored(a: u64, b: u64) -> (u32, bool) {
    let (plain, mirror) = (distance(a, b), distance(mirrored(a), b));
    if mirror < plain {
        (mirror, true)
    } else {
        (plain, false)
    }
}

/// The perceptual hash of an RGB8 raster (an empty raster hashes to 0).
pub fn phash(image: &Rgb) -> u64 {
    if image.width == 0 || image.height == 0 {
        return 0;
    }
    let luma = thumbnail(image);
    let cos = cosines();
    // Rows first: R[y][u] = Σx f(x, y)·cos_u(x); then columns: C(u, v) = Σy R[y][u]·cos_v(y).
    let mut rows = [[0f32; FREQS]; SIDE];
    for (y, row) in rows.iter_mut().enumerate() {
        for (u, out) in row.iter_mut().enumerate() {
            *out = (0..SIDE).map(|x| luma[y * SIDE + x] * cos[u][x]).sum();
        }
    }
    let mut hash = 0u64;
    for (v, cos_v) in cos.iter().enumerate() {
        for u in 0..FREQS {
            if u == 0 && v == 0 {
                continue; // DC: the mean brightness, not the layout
            }
            let coefficient: f32 = rows.iter().zip(cos_v).map(|(row, c)| row[u] * c).sum();
            if coefficient > 0.0 {
                hash |= 1 << (v * FREQS + u);
            }
        }
    }
    hash
}

/// `cos((2x + 1)·u·π / 2N)` for the kept frequencies.
fn cosines() -> [[f32; SIDE]; FREQS] {
    let mut table = [[0f32; SIDE]; FREQS];
    for (u, row) in table.iter_mut().enumerate() {
        for (x, value) in row.iter_mut().enumerate() {
            *value = (((2 * x + 1) * u) as f64 * std::f64::consts::PI / (2 * SIDE) as f64).cos() as f32;
        }
    }
    table
}

/// The image's luma (BT.601) averaged over a 32×32 grid of equal areas, each source pixel in
/// exactly one cell (cells of a raster under 32 pixels wide repeat pixels). Symmetric under a
/// left–right mirror, so [`mirrored`] holds up to rounding.
fn thumbnail(image: &Rgb) -> Vec<f32> {
    let (w, h) = (image.width as usize, image.height as usize);
    let mut sums = vec![0f32; SIDE * SIDE];
    let mut counts = vec![0u32; SIDE * SIDE];
    // The cell whose span holds the pixel's centre: (i + ½)·32/n, mirror-symmetric.
    let cell = |i: usize, n: usize| (2 * i + 1) * SIDE / (2 * n);
    if w >= SIDE && h >= SIDE {
        let columns: Vec<usize> = (0..w).map(|x| cell(x, w)).collect();
        for y in 0..h {
            let cells = &mut sums[cell(y, h) * SIDE..][..SIDE];
            let row = &image.pixels[y * w * 3..(y + 1) * w * 3];
            for (px, &cx) in row.chunks_exact(3).zip(&columns) {
                cells[cx] += 299.0 * px[0] as f32 + 587.0 * px[1] as f32 + 114.0 * px[2] as f32;
            }
        }
        for (cy, row) in counts.chunks_exact_mut(SIDE).enumerate() {
            let rows = (0..h).filter(|&y| cell(y, h) == cy).count() as u32;
            for (cx, count) in row.iter_mut().enumerate() {
                *count = rows * columns.iter().filter(|&&c| c == cx).count() as u32 * 1000;
            }
        }
    } else {
        // A tiny raster: each cell takes the pixel under its centre.
        for cy in 0..SIDE {
            for cx in 0..SIDE {
                let (x, y) = ((2 * cx + 1) * w / (2 * SIDE), (2 * cy + 1) * h / (2 * SIDE));
                let px = &image.pixels[(y * w + x) * 3..(y * w + x) * 3 + 3];
                sums[cy * SIDE + cx] = 0.299 * px[0] as f32 + 0.587 * px[1] as f32 + 0.114 * px[2] as f32;
                counts[cy * SIDE + cx] = 1;
            }
        }
    }
    sums.iter().zip(&counts).map(|(s, &n)| s / n.max(1) as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raster(width: u32, height: u32, f: impl Fn(u32, u32) -> [u8; 3]) -> Rgb {
        let mut pixels = Vec::with_capacity((width * height * 3) as usize);
        for y in 0..height {
            for x in 0..width {
                pixels.extend_from_slice(&f(x, y));
            }
        }
        Rgb { width, height, pixels }
    }

    #[test]
    fn a_mirror_flips_exactly_the_odd_horizontal_frequencies() {
        let image = raster(96, 64, |x, y| [(x * 2 + y) as u8, (x * y % 251) as u8, (255 - x) as u8]);
        let mirror = raster(96, 64, |x, y| {
            let x = 95 - x;
            [(x * 2 + y) as u8, (x * y % 251) as u8, (255 - x) as u8]
        });
        assert_eq!(phash(&mirror), mirrored(phash(&image)));
        assert_eq!(MIRROR_MASK.count_ones(), 32);
        assert_eq!(phash(&image) & 1, 0, "the DC bit is always 0");
    }

    #[test]
    fn a_left_to_right_gradient_sets_the_first_horizontal_frequency_by_direction() {
        // Brighter on the left: C(1, 0) > 0; on the right: < 0.
        let left = phash(&raster(64, 64, |x, _| [255 - x as u8 * 4; 3]));
        let right = phash(&raster(64, 64, |x, _| [x as u8 * 4; 3]));
        assert_eq!(left & 0b10, 0b10);
        assert_eq!(right & 0b10, 0);
        assert_eq!(phash(&Rgb { width: 0, height: 0, pixels: vec![] }), 0);
        let tiny = raster(3, 2, |x, y| [(x * 80) as u8, (y * 100) as u8, 0]);
        assert_eq!(phash(&tiny), phash(&tiny), "tiny rasters hash without panicking");
    }
}
