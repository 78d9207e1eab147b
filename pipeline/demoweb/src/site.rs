//! The demo site's content: which pages exist, which images they show with which captions, and the
//! answer to every path. Pure functions of the [`SiteConfig`]; the server and the WAT writer both
//! read from here.
//!
//! ```text
//! /robots.txt              disallows /private/ and /img/private/
//! /                        links to every page and to /real.html
//! /page/P.html             figures of generated images; links to neighbours and /private/P.html
//! /private/P.html          disallowed: a polite crawler never reads it or its images
//! /real.html               the scikit-image sample pictures with hand-written captions
//! /img/gen/ID.png          a generated scene (see scene.rs)
//! /img/optout/ID.png       a generated scene served with `X-Robots-Tag: noai`
//! /img/missing/ID.png      404 (a broken link)
//! /img/private/ID.png      a generated scene behind the robots.txt disallow
//! /img/real/NAME           a sample picture from the real-images folder
//! ```

use std::fmt::Write as _;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::ImageFormat;

use crate::scene::Scene;
use wit_html::escape;

/// The real sample pictures (scikit-image's `data/` folder) and what they show.
pub const REAL_IMAGES: [(&str, &str); 10] = [
    ("astronaut.png", "portrait of an astronaut in a white space suit in front of an American flag"),
    ("chelsea.png", "a tabby cat named Chelsea looking to the side"),
    ("coffee.png", "a cup of coffee with milk foam on a saucer"),
    ("rocket.jpg", "a rocket standing on the launch pad before launch"),
    ("camera.png", "a man with a camera on a tripod, black and white photograph"),
    ("horse.png", "silhouette of a horse, black on white"),
    ("coins.png", "old coins arranged in rows, grey photograph"),
    ("moon.png", "the surface of the moon with craters"),
    ("hubble_deep_field.jpg", "galaxies of the Hubble deep field in space"),
    ("motorcycle_left.png", "a red motorcycle parked in a garage"),
];

/// What the site holds.
#[derive(Debug, Clone)]
pub struct SiteConfig {
    pub seed: u64,
    /// Number of public pages (and as many private ones).
    pub pages: u64,
    pub images_per_page: u64,
    /// Side of the generated pictures, in pixels.
    pub image_size: u32,
    /// scikit-image's `data/` folder; the real-image page is empty without it.
    pub real_images: Option<PathBuf>,
}

impl Default for SiteConfig {
    fn default() -> Self {
        SiteConfig { seed: 2021, pages: 100, images_per_page: 6, image_size: 64, real_images: None }
    }
}

/// How an image on a page behaves when fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    /// A good picture with an English caption.
    Good,
    /// A good picture whose caption is not English.
    Foreign,
    /// Served with `X-Robots-Tag: noai`.
    OptOut,
    /// 404.
    Missing,
    /// Behind the robots.txt disallow (only on private pages).
    Private,
    /// A real sample picture.
    Real,
}

/// One `<img>` on a page, with where its caption sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Path on the site (`/img/...`).
    pub src: String,
    pub alt: Option<String>,
    pub title: Option<String>,
    pub figcaption: Option<String>,
    pub kind: ImageKind,
    /// The scene id for generated images.
    pub scene: Option<u64>,
}

impl ImageRef {
    /// The text a harvester pairs with the image: the figcaption, else the alt text, else the title.
    pub fn caption(&self) -> Option<&str> {
        self.figcaption.as_deref().or(self.alt.as_deref()).or(self.title.as_deref())
    }
}

/// One HTML page's content.
#[derive(Debug, Clone)]
pub struct Page {
    pub path: String,
    pub title: String,
    pub images: Vec<ImageRef>,
    pub links: Vec<String>,
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    fn ok(content_type: &'static str, body: Vec<u8>) -> Reply {
        Reply { status: 200, content_type, headers: Vec::new(), body }
    }

    fn not_found() -> Reply {
        Reply { status: 404, content_type: "text/plain", headers: Vec::new(), body: b"not found\n".to_vec() }
    }
}

pub const ROBOTS_TXT: &str = "# wit demo web\nUser-agent: *\nDisallow: /private/\nDisallow: /img/private/\n";

/// The demo site.
#[derive(Debug, Clone)]
pub struct Site {
    config: SiteConfig,
}

impl Site {
    pub fn new(config: SiteConfig) -> Site {
        Site { config }
    }

    pub fn config(&self) -> &SiteConfig {
        &self.config
    }

    /// Every public page (the ones a polite crawler may read), index first.
    pub fn public_pages(&self) -> Vec<Page> {
        let mut pages = vec![self.index(), self.real_page()];
        pages.extend((0..self.config.pages).map(|p| self.page(p)));
        pages
    }

    fn index(&self) -> Page {
        let mut links: Vec<String> = (0..self.config.pages).map(|p| format!("/page/{p}.html")).collect();
        links.push("/real.html".into());
        Page { path: "/".into(), title: "wit demo web".into(), images: Vec::new(), links }
    }

    fn real_page(&self) -> Page {
        let images = self
            .real_images_present()
            .into_iter()
            .map(|(file, caption)| ImageRef {
                src: format!("/img/real/{file}"),
                alt: Some(caption.to_string()),
                title: None,
                figcaption: None,
                kind: ImageKind::Real,
                scene: None,
            })
            .collect();
        Page { path: "/real.html".into(), title: "Sample pictures".into(), images, links: vec!["/".into()] }
    }

    fn real_images_present(&self) -> Vec<(&'static str, &'static str)> {
        match &self.config.real_images {
            Some(dir) => REAL_IMAGES.iter().copied().filter(|(file, _)| dir.join(file).is_file()).collect(),
            None => Vec::new(),
        }
    }

    /// Public page `p`.
    pub fn page(&self, p: u64) -> Page {
        let n = self.config.images_per_page;
        let images = (p * n..(p + 1) * n).map(|id| self.image_ref(id, false)).collect();
        let mut links = vec!["/".to_string(), format!("/private/{p}.html")];
        if p + 1 < self.config.pages {
            links.push(format!("/page/{}.html", p + 1));
        }
        if p > 0 {
            links.push(format!("/page/{}.html", p - 1));
        }
        Page { path: format!("/page/{p}.html"), title: format!("Shapes and colours, part {p}"), images, links }
    }

    /// Private (robots-disallowed) page `p`.
    pub fn private_page(&self, p: u64) -> Page {
        let first = (self.config.pages + p) * self.config.images_per_page;
        let images = (first..first + 2).map(|id| self.image_ref(id, true)).collect();
        Page { path: format!("/private/{p}.html"), title: "Members only".into(), images, links: vec!["/".into()] }
    }

    fn image_ref(&self, id: u64, private: bool) -> ImageRef {
        let scene = Scene::generate(self.config.seed, id);
        let kind = if private {
            ImageKind::Private
        } else if id % 23 == 5 {
            ImageKind::Missing
        } else if id % 29 == 7 {
            ImageKind::OptOut
        } else if id % 11 == 3 {
            ImageKind::Foreign
        } else {
            ImageKind::Good
        };
        let caption = match kind {
            ImageKind::Foreign => scene.foreign_caption((id / 11) as usize),
            _ => scene.caption(),
        };
        let folder = match kind {
            ImageKind::Missing => "missing",
            ImageKind::OptOut => "optout",
            ImageKind::Private => "private",
            _ => "gen",
        };
        // Captions sit in different places, as on real pages.
        let (alt, title, figcaption) = match id % 3 {
            0 => (Some(caption), None, None),
            1 => (Some(String::new()), None, Some(caption)),
            _ => (None, Some(caption), None),
        };
        ImageRef { src: format!("/img/{folder}/{id}.png"), alt, title, figcaption, kind, scene: Some(id) }
    }

    /// The answer to `GET path`.
    pub fn respond(&self, path: &str) -> Reply {
        let path = path.split(['?', '#']).next().unwrap_or("");
        if path == "/robots.txt" {
            return Reply::ok("text/plain", ROBOTS_TXT.as_bytes().to_vec());
        }
        if path == "/" || path == "/index.html" {
            return Reply::ok("text/html; charset=utf-8", render_html(&self.index()).into_bytes());
        }
        if path == "/real.html" {
            return Reply::ok("text/html; charset=utf-8", render_html(&self.real_page()).into_bytes());
        }
        if let Some(p) = numbered(path, "/page/", ".html").filter(|p| *p < self.config.pages) {
            return Reply::ok("text/html; charset=utf-8", render_html(&self.page(p)).into_bytes());
        }
        if let Some(p) = numbered(path, "/private/", ".html").filter(|p| *p < self.config.pages) {
            return Reply::ok("text/html; charset=utf-8", render_html(&self.private_page(p)).into_bytes());
        }
        if let Some(name) = path.strip_prefix("/img/real/") {
            return self.real_image(name);
        }
        for folder in ["gen", "optout", "private"] {
            if let Some(id) = numbered(path, &format!("/img/{folder}/"), ".png") {
                let mut reply = Reply::ok("image/png", self.scene_png(id));
                if folder == "optout" {
                    reply.headers.push(("X-Robots-Tag", "noai, noimageai".into()));
                }
                return reply;
            }
        }
        Reply::not_found()
    }

    /// PNG bytes of scene `id`.
    pub fn scene_png(&self, id: u64) -> Vec<u8> {
        let img = Scene::generate(self.config.seed, id).render(self.config.image_size);
        let mut out = Cursor::new(Vec::new());
        // Encoding an in-memory RGB image to PNG cannot fail.
        img.write_to(&mut out, ImageFormat::Png).expect("PNG encoding of an in-memory image");
        out.into_inner()
    }

    fn real_image(&self, name: &str) -> Reply {
        let Some(dir) = &self.config.real_images else { return Reply::not_found() };
        let Some((file, _)) = REAL_IMAGES.iter().find(|(file, _)| *file == name) else { return Reply::not_found() };
        match std::fs::read(Path::new(dir).join(file)) {
            Ok(bytes) => Reply::ok(if file.ends_with(".jpg") { "image/jpeg" } else { "image/png" }, bytes),
            Err(_) => Reply::not_found(),
        }
    }
}

fn numbered(path: &str, prefix: &str, suffix: &str) -> Option<u64> {
    path.strip_prefix(prefix)?.strip_suffix(suffix)?.parse().ok()
}

/// The page as HTML: every image inside a `<figure>`, with its alt, title and figcaption.
pub fn render_html(page: &Page) -> String {
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title></head><body>\n<h1>{}</h1>\n",
        escape(&page.title),
        escape(&page.title)
    );
    for image in &page.images {
        html.push_str("<figure><img src=\"");
        html.push_str(&escape(&image.src));
        html.push('"');
        if let Some(alt) = &image.alt {
            let _ = write!(html, " alt=\"{}\"", escape(alt));
        }
        if let Some(title) = &image.title {
            let _ = write!(html, " title=\"{}\"", escape(title));
        }
        html.push('>');
        if let Some(caption) = &image.figcaption {
            let _ = write!(html, "<figcaption>{}</figcaption>", escape(caption));
        }
        html.push_str("</figure>\n");
    }
    html.push_str("<nav>");
    for link in &page.links {
        let _ = write!(html, "<a href=\"{}\">{}</a> ", escape(link), escape(link));
    }
    html.push_str("</nav></body></html>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> Site {
        Site::new(SiteConfig { pages: 40, ..SiteConfig::default() })
    }

    #[test]
    fn every_kind_of_image_appears_on_public_pages() {
        let site = site();
        let kinds: Vec<ImageKind> = site.public_pages().iter().flat_map(|p| p.images.iter().map(|i| i.kind)).collect();
        for kind in [ImageKind::Good, ImageKind::Foreign, ImageKind::OptOut, ImageKind::Missing] {
            assert!(kinds.contains(&kind), "{kind:?} missing");
        }
        assert!(!kinds.contains(&ImageKind::Private));
    }

    #[test]
    fn routes_answer_as_documented() {
        let site = site();
        assert_eq!(site.respond("/robots.txt").body, ROBOTS_TXT.as_bytes());
        let page = String::from_utf8(site.respond("/page/3.html").body).unwrap();
        assert!(page.contains("<figure><img src=\"/img/"), "{page}");
        assert!(page.contains("/private/3.html"));
        assert_eq!(site.respond("/page/40.html").status, 404);
        let png = site.respond("/img/gen/12.png");
        assert_eq!((png.status, png.content_type), (200, "image/png"));
        assert_eq!(&png.body[1..4], b"PNG");
        assert_eq!(site.respond("/img/missing/5.png").status, 404);
        let optout = site.respond("/img/optout/7.png");
        assert!(optout.headers.iter().any(|(k, v)| *k == "X-Robots-Tag" && v.contains("noai")));
    }

    #[test]
    fn captions_are_escaped() {
        let page = Page {
            path: "/x".into(),
            title: "a <b> & \"c\"".into(),
            images: vec![ImageRef {
                src: "/img/gen/1.png".into(),
                alt: Some("x\" onload=\"y".into()),
                title: None,
                figcaption: None,
                kind: ImageKind::Good,
                scene: Some(1),
            }],
            links: vec![],
        };
        let html = render_html(&page);
        assert!(html.contains("a &lt;b&gt; &amp; &quot;c&quot;"));
        assert!(html.contains("alt=\"x&quot; onload=&quot;y\""));
    }
}
