//! Procedurally generated scenes: coloured shapes at positions, with textures and counts, rendered
//! to small RGB images, and captions that truly describe them (in English and, for the language
//! filter, a few other languages).
//!
//! Everything follows from `(seed, id)`, so the server, the WAT writer and the held-out set agree
//! without sharing state.

use image::{Rgb, RgbImage};
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Colours a scene's objects can have, with their English, French, German and Spanish names.
pub const COLOURS: [(&str, [u8; 3], [&str; 3]); 6] = [
    ("red", [220, 30, 30], ["rouge", "rot", "rojo"]),
    ("green", [30, 170, 50], ["vert", "grün", "verde"]),
    ("blue", [30, 60, 220], ["bleu", "blau", "azul"]),
    ("yellow", [235, 210, 20], ["jaune", "gelb", "amarillo"]),
    ("purple", [140, 40, 170], ["violet", "lila", "morado"]),
    ("black", [20, 20, 20], ["noir", "schwarz", "negro"]),
];

/// Shapes, with singular and plural English names and French, German and Spanish names.
pub const SHAPES: [(&str, &str, [&str; 3]); 4] = [
    ("circle", "circles", ["cercle", "Kreis", "círculo"]),
    ("square", "squares", ["carré", "Quadrat", "cuadrado"]),
    ("triangle", "triangles", ["triangle", "Dreieck", "triángulo"]),
    ("cross", "crosses", ["croix", "Kreuz", "cruz"]),
];

/// Where a single object sits.
pub const POSITIONS: [&str; 5] = ["in the middle", "on the left", "on the right", "at the top", "at the bottom"];

/// Surface patterns.
pub const TEXTURES: [&str; 3] = ["plain", "striped", "dotted"];

const COUNT_WORDS: [&str; 3] = ["one", "two", "three"];

/// One generated picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scene {
    /// Index into [`COLOURS`].
    pub colour: usize,
    /// Index into [`SHAPES`].
    pub shape: usize,
    /// 1, 2 or 3 objects.
    pub count: usize,
    /// Index into [`POSITIONS`] (only meaningful when `count == 1`).
    pub position: usize,
    /// Index into [`TEXTURES`].
    pub texture: usize,
    /// Seeds the background noise and caption wording.
    pub variant: u64,
}

impl Scene {
    /// The scene with number `id` in the world of `seed`.
    pub fn generate(seed: u64, id: u64) -> Scene {
        let h = xxh3_64_with_seed(&id.to_le_bytes(), seed);
        let pick = |shift: u32, n: usize| ((h >> shift) % n as u64) as usize;
        let count = match pick(20, 10) {
            0..=5 => 1,
            6..=8 => 2,
            _ => 3,
        };
        Scene {
            colour: pick(0, COLOURS.len()),
            shape: pick(8, SHAPES.len()),
            count,
            position: pick(14, POSITIONS.len()),
            texture: match pick(28, 6) {
                0 => 1,
                1 => 2,
                _ => 0,
            },
            variant: h >> 32,
        }
    }

    pub fn colour_name(&self) -> &'static str {
        COLOURS[self.colour].0
    }

    pub fn shape_name(&self) -> &'static str {
        SHAPES[self.shape].0
    }

    /// An English caption that describes the picture; the wording varies with the scene's variant.
    pub fn caption(&self) -> String {
        let colour = self.colour_name();
        let texture = match self.texture {
            0 => String::new(),
            t => format!("{} ", TEXTURES[t]),
        };
        let noun = if self.count == 1 { SHAPES[self.shape].0 } else { SHAPES[self.shape].1 };
        let body = if self.count == 1 {
            format!("a {texture}{colour} {noun} {}", POSITIONS[self.position])
        } else {
            format!("{} {texture}{colour} {noun}", COUNT_WORDS[self.count - 1])
        };
        match self.variant % 4 {
            0 => format!("{body} on a light background"),
            1 => format!("a photo of {body}"),
            2 => format!("an illustration showing {body}"),
            _ => format!("a simple drawing of {body}"),
        }
    }

    /// A caption in French (0), German (1) or Spanish (2), for the language filter to remove.
    pub fn foreign_caption(&self, language: usize) -> String {
        let colour = COLOURS[self.colour].2[language % 3];
        let shape = SHAPES[self.shape].2[language % 3];
        match language % 3 {
            0 => format!("une image simple avec un {shape} {colour} sur un fond clair, dessinée à la main"),
            1 => format!("ein einfaches Bild mit einem {colour}en {shape} auf hellem Hintergrund, von Hand gezeichnet"),
            _ => format!("una imagen sencilla con un {shape} {colour} sobre un fondo claro, dibujada a mano"),
        }
    }

    /// Renders the scene as a `size`×`size` picture.
    pub fn render(&self, size: u32) -> RgbImage {
        let size = size.max(16);
        let mut noise = self.variant | 1;
        let mut next = move || {
            noise ^= noise << 13;
            noise ^= noise >> 7;
            noise ^= noise << 17;
            noise
        };
        let base = 200 + (next() % 40) as u8;
        let mut img = RgbImage::from_fn(size, size, |_, _| {
            let jitter = (next() % 12) as u8;
            Rgb([base - jitter, base - jitter / 2, base - jitter])
        });
        let colour = COLOURS[self.colour].1;
        let s = size as f32;
        let (radius, centres): (f32, Vec<(f32, f32)>) = match self.count {
            1 => {
                let (x, y) = match self.position {
                    1 => (0.27, 0.5),
                    2 => (0.73, 0.5),
                    3 => (0.5, 0.27),
                    4 => (0.5, 0.73),
                    _ => (0.5, 0.5),
                };
                (0.22 * s, vec![(x * s, y * s)])
            }
            2 => (0.17 * s, vec![(0.28 * s, 0.5 * s), (0.72 * s, 0.5 * s)]),
            _ => (0.14 * s, vec![(0.2 * s, 0.3 * s), (0.8 * s, 0.3 * s), (0.5 * s, 0.74 * s)]),
        };
        for (cx, cy) in centres {
            self.draw_shape(&mut img, cx, cy, radius, colour);
        }
        img
    }

    fn draw_shape(&self, img: &mut RgbImage, cx: f32, cy: f32, r: f32, colour: [u8; 3]) {
        let (w, h) = img.dimensions();
        let x0 = (cx - r).floor().max(0.0) as u32;
        let y0 = (cy - r).floor().max(0.0) as u32;
        let x1 = ((cx + r).ceil() as u32).min(w - 1);
        let y1 = ((cy + r).ceil() as u32).min(h - 1);
        for y in y0..=y1 {
            for x in x0..=x1 {
                let dx = x as f32 + 0.5 - cx;
                let dy = y as f32 + 0.5 - cy;
                let inside = match self.shape {
                    0 => dx * dx + dy * dy <= r * r,
                    1 => dx.abs() <= r * 0.85 && dy.abs() <= r * 0.85,
                    2 => dy <= r * 0.8 && dy >= -r * 0.9 + 2.0 * dx.abs() * 0.95,
                    _ => (dx.abs() <= r * 0.3 && dy.abs() <= r) || (dy.abs() <= r * 0.3 && dx.abs() <= r),
                };
                if !inside {
                    continue;
                }
                let shade = match self.texture {
                    1 if (y / 3) % 2 == 0 => 0.55,
                    2 if x % 4 < 2 && y % 4 < 2 => 0.55,
                    _ => 1.0,
                };
                let c = colour.map(|v| (v as f32 * shade + 255.0 * (1.0 - shade) * 0.3) as u8);
                img.put_pixel(x, y, Rgb(c));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenes_are_deterministic_and_varied() {
        assert_eq!(Scene::generate(7, 3), Scene::generate(7, 3));
        let scenes: Vec<Scene> = (0..600).map(|i| Scene::generate(7, i)).collect();
        for c in 0..COLOURS.len() {
            assert!(scenes.iter().filter(|s| s.colour == c).count() > 50, "colour {c} too rare");
        }
        for s in 0..SHAPES.len() {
            assert!(scenes.iter().filter(|x| x.shape == s).count() > 80, "shape {s} too rare");
        }
        assert!(scenes.iter().any(|s| s.count == 3) && scenes.iter().any(|s| s.texture == 2));
    }

    #[test]
    fn the_caption_names_colour_and_shape() {
        for id in 0..50 {
            let scene = Scene::generate(1, id);
            let caption = scene.caption();
            assert!(caption.contains(scene.colour_name()), "{caption}");
            assert!(caption.contains(scene.shape_name()), "{caption}");
        }
    }

    #[test]
    fn the_object_is_drawn_in_its_colour_where_the_caption_says() {
        let mut scene = Scene::generate(1, 0);
        scene.count = 1;
        scene.shape = 1; // square
        scene.texture = 0;
        scene.colour = 2; // blue
        scene.position = 1; // left
        let img = scene.render(64);
        let left = img.get_pixel(17, 32);
        let right = img.get_pixel(50, 32);
        assert_eq!(left.0, COLOURS[2].1, "the left holds the blue square");
        assert!(right.0[0] > 150 && right.0[1] > 150, "the right is background: {right:?}");
    }
}
