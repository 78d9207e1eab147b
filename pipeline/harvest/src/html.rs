//! The HTML extractor: image-text pairs and outgoing links of one page, in one streaming pass
//! (lol_html, non-strict, so odd markup never aborts the pass).
//!
//! From every `<img>`: the image URL (the best `srcset` candidate — widest `w`, else highest `x` —
//! else `src`, else the lazy-loading `data-src`), paired with its `alt` and, when different, its
//! `title`; inside a `<figure>`, every image of the figure is also paired with the `<figcaption>`
//! text. URLs are resolved against the first `<base href>` (itself resolved against the page URL);
//! only http and https image URLs are kept (so `data:` and `javascript:` are skipped, counted in
//! [`PageExtract::skipped_urls`]). Texts are returned raw — entities and all — for
//! [`crate::text::clean_text`]. Links are the page's `<a href>` targets, absolute, http/https only,
//! without fragment, deduplicated in page order: what a crawler follows.

use std::cell::RefCell;
use std::rc::Rc;

use lol_html::html_content::{Element, EndTag};
use lol_html::{element, text, AsciiCompatibleEncoding, HtmlRewriter, MemorySettings, Settings};
use url::Url;

/// Where a pair's text came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TextOrigin {
    Alt,
    Title,
    Figcaption,
}

impl TextOrigin {
    pub fn name(self) -> &'static str {
        match self {
            TextOrigin::Alt => "alt",
            TextOrigin::Title => "title",
            TextOrigin::Figcaption => "figcaption",
        }
    }
}

/// One image URL with one raw text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageText {
    /// Absolute http(s) URL of the image.
    pub url: String,
    /// The text as the page has it (entities not decoded, whitespace as is).
    pub text: String,
    pub origin: TextOrigin,
}

/// What one page yields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageExtract {
    /// Image-text pairs in page order (a figure's caption pairs come at the figure's end).
    pub pairs: Vec<ImageText>,
    /// `<img>` elements seen.
    pub images: u64,
    /// `<img>` elements without a usable http(s) URL (none, `data:`, unparsable, other scheme).
    pub skipped_urls: u64,
    /// Absolute http(s) `<a href>` targets, fragment removed, first occurrence order.
    pub links: Vec<Url>,
    /// The page's declared language: `<html lang>` (or `xml:lang`), as written.
    pub html_lang: Option<String>,
    /// `<meta http-equiv="content-language" content>`, as written.
    pub meta_language: Option<String>,
    /// The page's opt-out metas (`robots`, `ai`, `tdm-reservation`; see [`crate::opt_out`]).
    pub opt_out: crate::opt_out::PageSignals,
    /// The start of the page's visible text (not script, style, template or noscript), up to
    /// [`HtmlOptions::page_text`] bytes, text nodes joined by spaces; empty when not asked for.
    pub text: String,
}

/// Extraction failed (lol_html gave up, e.g. on its memory limit); nothing is returned.
#[derive(Debug, Clone, thiserror::Error)]
#[error("HTML: {0}")]
pub struct HtmlError(pub String);

/// How to read a page.
#[derive(Debug, Clone, Copy)]
pub struct HtmlOptions {
    /// The charset from the HTTP `Content-Type`, when it named one; otherwise UTF-8 with
    /// `<meta charset>` honoured.
    pub charset: Option<&'static encoding_rs::Encoding>,
    /// Collect `<a href>` links (a crawler wants them; harvesting archives does not).
    pub links: bool,
    /// lol_html's memory limit for buffered markup, bytes.
    pub max_memory: usize,
    /// Collect up to this many bytes of the page's visible text ([`PageExtract::text`]), for
    /// page-level language detection; 0: none.
    pub page_text: usize,
}

impl Default for HtmlOptions {
    fn default() -> Self {
        HtmlOptions { charset: None, links: true, max_memory: 16 << 20, page_text: 0 }
    }
}

/// The pairs and links of `html`, a page fetched from `page_url`; see the module docs.
///
/// lol_html 3.0.3 panics on some malformed markup (`<script r=><a </a>`, found by fuzzing: an
/// internal "Tag should be a start tag" assertion); such a page is an error — a counted skip for
/// the caller — rather than the end of the run.
pub fn extract_html(html: &[u8], page_url: &Url, options: &HtmlOptions) -> Result<PageExtract, HtmlError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| extract(html, page_url, options))) {
        Ok(result) => result,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(HtmlError(format!("the HTML parser panicked: {message}")))
        }
    }
}

fn extract(html: &[u8], page_url: &Url, options: &HtmlOptions) -> Result<PageExtract, HtmlError> {
    let state = Rc::new(RefCell::new(State::new(page_url.clone())));
    let encoding = options.charset.and_then(AsciiCompatibleEncoding::new);
    let mut settings = Settings::new()
        .with_strict(false)
        .with_memory_settings(MemorySettings::new().with_max_allowed_memory_usage(options.max_memory))
        .with_adjust_charset_on_meta_tag(encoding.is_none())
        .with_encoding(encoding.unwrap_or_else(AsciiCompatibleEncoding::utf_8));
    {
        let s = Rc::clone(&state);
        settings = settings.append_element_content_handler(element!("base[href]", move |el| {
            s.borrow_mut().on_base(el);
            Ok(())
        }));
    }
    {
        let s = Rc::clone(&state);
        settings = settings.append_element_content_handler(element!("img", move |el| {
            s.borrow_mut().on_img(el);
            Ok(())
        }));
    }
    {
        let s = Rc::clone(&state);
        settings = settings.append_element_content_handler(element!("figure", move |el| {
            s.borrow_mut().figures.push(Figure::default());
            let s = Rc::clone(&s);
            if let Some(handlers) = el.end_tag_handlers() {
                handlers.push(on_end(move || s.borrow_mut().on_figure_end()));
            }
            Ok(())
        }));
    }
    {
        let s = Rc::clone(&state);
        settings = settings.append_element_content_handler(element!("figcaption", move |el| {
            s.borrow_mut().caption_depth += 1;
            let s = Rc::clone(&s);
            if let Some(handlers) = el.end_tag_handlers() {
                handlers.push(on_end(move || {
                    let mut state = s.borrow_mut();
                    state.caption_depth = state.caption_depth.saturating_sub(1);
                    // A space between the caption's text nodes, as a browser shows them.
                    if let Some(figure) = state.figures.last_mut() {
                        figure.caption.push(' ');
                    }
                }));
            }
            Ok(())
        }));
    }
    {
        let s = Rc::clone(&state);
        settings = settings.append_element_content_handler(text!("figcaption", move |t| {
            let mut state = s.borrow_mut();
            if state.caption_depth > 0 {
                if let Some(figure) = state.figures.last_mut() {
                    figure.caption.push_str(t.as_str());
                    if t.last_in_text_node() {
                        figure.caption.push(' ');
                    }
                }
            }
            Ok(())
        }));
    }
    {
        let s = Rc::clone(&state);
        settings = settings.append_element_content_handler(element!("html", move |el| {
            let lang = el.get_attribute("lang").or_else(|| el.get_attribute("xml:lang"));
            let mut state = s.borrow_mut();
            if state.out.html_lang.is_none() {
                state.out.html_lang = lang.map(|l| l.trim().to_owned()).filter(|l| !l.is_empty());
            }
            Ok(())
        }));
    }
    {
        let s = Rc::clone(&state);
        settings = settings.append_element_content_handler(element!("meta[http-equiv][content]", move |el| {
            let is_language =
                el.get_attribute("http-equiv").is_some_and(|v| v.trim().eq_ignore_ascii_case("content-language"));
            let mut state = s.borrow_mut();
            if is_language && state.out.meta_language.is_none() {
                state.out.meta_language =
                    el.get_attribute("content").map(|c| c.trim().to_owned()).filter(|c| !c.is_empty());
            }
            Ok(())
        }));
    }
    {
        let s = Rc::clone(&state);
        settings = settings.append_element_content_handler(element!("meta[name][content]", move |el| {
            let name = el.get_attribute("name").unwrap_or_default();
            if crate::opt_out::is_opt_out_meta(&name) {
                let content = el.get_attribute("content").unwrap_or_default();
                s.borrow_mut().out.opt_out.add_meta(&name, &content);
            }
            Ok(())
        }));
    }
    if options.page_text > 0 {
        state.borrow_mut().text_budget = options.page_text;
        {
            let s = Rc::clone(&state);
            settings =
                settings.append_element_content_handler(element!("script, style, template, noscript", move |el| {
                    s.borrow_mut().hidden_depth += 1;
                    let s = Rc::clone(&s);
                    match el.end_tag_handlers() {
                        Some(handlers) => handlers.push(on_end(move || {
                            let mut state = s.borrow_mut();
                            state.hidden_depth = state.hidden_depth.saturating_sub(1);
                        })),
                        None => {
                            let mut state = s.borrow_mut();
                            state.hidden_depth = state.hidden_depth.saturating_sub(1);
                        }
                    }
                    Ok(())
                }));
        }
        let s = Rc::clone(&state);
        settings = settings.append_document_content_handler(lol_html::doc_text!(move |t| {
            s.borrow_mut().on_text(t.as_str(), t.last_in_text_node());
            Ok(())
        }));
    }
    if options.links {
        let s = Rc::clone(&state);
        settings = settings.append_element_content_handler(element!("a[href]", move |el| {
            s.borrow_mut().on_link(el);
            Ok(())
        }));
    }
    let mut rewriter = HtmlRewriter::new(settings, |_: &[u8]| {});
    rewriter.write(html).map_err(|e| HtmlError(e.to_string()))?;
    rewriter.end().map_err(|e| HtmlError(e.to_string()))?;
    let mut state = Rc::try_unwrap(state).map_err(|_| HtmlError("handlers outlived the rewriter".into()))?.into_inner();
    // Figures the page never closed still get their captions.
    while !state.figures.is_empty() {
        state.on_figure_end();
    }
    Ok(state.out)
}

/// An end-tag handler running `f`.
fn on_end(f: impl FnOnce() + 'static) -> lol_html::EndTagHandler<'static> {
    Box::new(move |_: &mut EndTag<'_>| {
        f();
        Ok(())
    })
}

#[derive(Default)]
struct Figure {
    images: Vec<String>,
    caption: String,
}

struct State {
    page: Url,
    base: Option<Url>,
    figures: Vec<Figure>,
    caption_depth: usize,
    seen_links: std::collections::HashSet<String>,
    /// Open script/style/template/noscript elements: their text is not visible.
    hidden_depth: usize,
    /// Bytes of visible text still to collect.
    text_budget: usize,
    out: PageExtract,
}

impl State {
    fn new(page: Url) -> Self {
        State {
            page,
            base: None,
            figures: Vec::new(),
            caption_depth: 0,
            seen_links: Default::default(),
            hidden_depth: 0,
            text_budget: 0,
            out: PageExtract::default(),
        }
    }

    fn base(&self) -> &Url {
        self.base.as_ref().unwrap_or(&self.page)
    }

    fn on_base(&mut self, el: &Element) {
        if self.base.is_some() {
            return;
        }
        if let Some(href) = el.get_attribute("href") {
            let href = wit_html::unescape_attribute(href.trim()).into_owned();
            if let Ok(url) = self.page.join(&href) {
                self.base = Some(url);
            }
        }
    }

    fn resolve(&self, reference: &str) -> Option<Url> {
        resolve_http(self.base(), reference)
    }

    fn on_img(&mut self, el: &Element) {
        self.out.images += 1;
        let srcset = el.get_attribute("srcset").and_then(|s| best_srcset_candidate(&s).map(str::to_owned));
        let candidates = [srcset, el.get_attribute("src"), el.get_attribute("data-src")];
        let url = candidates.iter().flatten().find_map(|c| self.resolve(c));
        let Some(url) = url else {
            self.out.skipped_urls += 1;
            return;
        };
        let url = url.to_string();
        let alt = el.get_attribute("alt").unwrap_or_default();
        let title = el.get_attribute("title").unwrap_or_default();
        if !alt.trim().is_empty() {
            self.out.pairs.push(ImageText { url: url.clone(), text: alt.clone(), origin: TextOrigin::Alt });
        }
        if !title.trim().is_empty() && title.trim() != alt.trim() {
            self.out.pairs.push(ImageText { url: url.clone(), text: title, origin: TextOrigin::Title });
        }
        if let Some(figure) = self.figures.last_mut() {
            figure.images.push(url);
        }
    }

    fn on_figure_end(&mut self) {
        let Some(figure) = self.figures.pop() else { return };
        if figure.caption.trim().is_empty() {
            return;
        }
        for url in figure.images {
            self.out.pairs.push(ImageText { url, text: figure.caption.clone(), origin: TextOrigin::Figcaption });
        }
    }

    /// A chunk of a text node: kept, up to the budget, unless inside a hidden element. Entities
    /// stay as written (whatlang sees `&amp;` as punctuation and letters; rare in running text).
    fn on_text(&mut self, chunk: &str, last_in_node: bool) {
        if self.hidden_depth > 0 {
            return;
        }
        let starts_apart = chunk.starts_with(char::is_whitespace);
        for (i, word) in chunk.split_whitespace().enumerate() {
            let text = &mut self.out.text;
            if !text.is_empty() && !text.ends_with(' ') && (i > 0 || starts_apart) {
                if self.text_budget == 0 {
                    return;
                }
                text.push(' ');
                self.text_budget -= 1;
            }
            let mut take = word.len().min(self.text_budget);
            while !word.is_char_boundary(take) {
                take -= 1;
            }
            text.push_str(&word[..take]);
            self.text_budget -= take;
            if take < word.len() {
                self.text_budget = 0; // a cut word ends the sample
            }
            if self.text_budget == 0 {
                return;
            }
        }
        let text = &mut self.out.text;
        let ends_apart = last_in_node || chunk.ends_with(char::is_whitespace);
        if ends_apart && !text.is_empty() && !text.ends_with(' ') && self.text_budget > 0 {
            text.push(' ');
            self.text_budget -= 1;
        }
    }

    fn on_link(&mut self, el: &Element) {
        let Some(href) = el.get_attribute("href") else { return };
        let Some(mut url) = self.resolve(&href) else { return };
        url.set_fragment(None);
        if self.seen_links.insert(url.as_str().to_owned()) {
            self.out.links.push(url);
        }
    }
}

/// `reference` (an attribute value, entities allowed) resolved against `base`, if it is an
/// http(s) URL.
pub fn resolve_http(base: &Url, reference: &str) -> Option<Url> {
    let reference = wit_html::unescape_attribute(reference.trim());
    if reference.is_empty() || reference.len() > 8192 {
        return None;
    }
    let lower = reference.get(..5).unwrap_or("").to_ascii_lowercase();
    if lower.starts_with("data:") || lower.starts_with("blob:") {
        return None;
    }
    let url = base.join(&reference).ok()?;
    matches!(url.scheme(), "http" | "https").then_some(url)
}

/// The best candidate of a `srcset` value: the largest width descriptor (`640w`), else the largest
/// density (`2x`, no descriptor counting as 1x); the first of equals wins. None when it has no URL.
pub fn best_srcset_candidate(srcset: &str) -> Option<&str> {
    let mut best: Option<(&str, u8, f64)> = None; // (url, kind: 1 = density, 2 = width, value)
    let mut rest = srcset;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == ',');
        if rest.is_empty() {
            break;
        }
        let url_end = rest.find(|c: char| c.is_ascii_whitespace()).unwrap_or(rest.len());
        let mut url = &rest[..url_end];
        rest = &rest[url_end..];
        let mut descriptor = "";
        if url.ends_with(',') {
            url = url.trim_end_matches(',');
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            descriptor = rest[..end].trim();
            rest = &rest[end..];
        }
        if url.is_empty() {
            continue;
        }
        let (kind, value) = parse_descriptor(descriptor);
        let better = match best {
            None => true,
            Some((_, best_kind, best_value)) => kind > best_kind || (kind == best_kind && value > best_value),
        };
        if better {
            best = Some((url, kind, value));
        }
    }
    best.map(|(url, _, _)| url)
}

fn parse_descriptor(descriptor: &str) -> (u8, f64) {
    let token = descriptor.split_ascii_whitespace().next().unwrap_or("");
    if let Some(w) = token.strip_suffix(['w', 'W']) {
        if let Ok(w) = w.parse::<f64>() {
            return (2, w);
        }
    }
    if let Some(x) = token.strip_suffix(['x', 'X']) {
        if let Ok(x) = x.parse::<f64>() {
            return (1, x);
        }
    }
    (1, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inputs `cargo fuzz run html` crashed on (fuzz/, `make fuzz`): each must now give pairs or an
    /// error, never a panic that ends the run.
    #[test]
    fn fuzz_regressions_are_errors_not_panics() {
        let url = Url::parse("http://example.com/dir/page.html").unwrap();
        let inputs: [&[u8]; 2] = [
            include_bytes!("fuzz_regressions/html-lol_html-start-tag-panic.html"),
            include_bytes!("fuzz_regressions/html-lol_html-start-tag-panic-original.html"),
        ];
        for input in inputs {
            for links in [true, false] {
                let options = HtmlOptions { links, ..Default::default() };
                match extract_html(input, &url, &options) {
                    Ok(page) => assert!(page.pairs.iter().all(|p| p.url.starts_with("http"))),
                    Err(e) => assert!(e.0.contains("panicked"), "{e}"),
                }
            }
        }
        let err = extract_html(b"<script r=><a </a>", &url, &HtmlOptions::default()).unwrap_err();
        assert!(err.0.contains("Tag should be a start tag"), "{err}");
    }

    fn page(html: &str) -> PageExtract {
        extract_html(
            html.as_bytes(),
            &Url::parse("https://example.org/dir/page.html").unwrap(),
            &HtmlOptions::default(),
        )
        .unwrap()
    }

    fn pairs(extract: &PageExtract) -> Vec<(String, String, &'static str)> {
        extract.pairs.iter().map(|p| (p.url.clone(), p.text.clone(), p.origin.name())).collect()
    }

    #[test]
    fn img_alt_title_srcset_base_and_data_urls() {
        let extract = page(
            r#"<html><head><base href="/static/"></head><body>
            <img src="a.jpg" alt="A red fox" title="Fox">
            <img src="data:image/png;base64,AAAA" alt="inline">
            <img src="b.jpg" srcset="b-320.jpg 320w, b-1280.jpg 1280w, b-640.jpg 640w" alt="Big &amp; small">
            <img srcset="c1.jpg, c2.jpg 2x" alt="density">
            <img data-src="//cdn.example.net/lazy.jpg" alt="lazy">
            <img src="javascript:void(0)" alt="js">
            <IMG SRC="d.jpg" ALT="same" TITLE=" same ">
            <img src="e.jpg">
            </body></html>"#,
        );
        assert_eq!(
            pairs(&extract),
            [
                ("https://example.org/static/a.jpg".into(), "A red fox".into(), "alt"),
                ("https://example.org/static/a.jpg".into(), "Fox".into(), "title"),
                ("https://example.org/static/b-1280.jpg".into(), "Big &amp; small".into(), "alt"),
                ("https://example.org/static/c2.jpg".into(), "density".into(), "alt"),
                ("https://cdn.example.net/lazy.jpg".into(), "lazy".into(), "alt"),
                ("https://example.org/static/d.jpg".into(), "same".into(), "alt"),
            ]
        );
        assert_eq!(extract.images, 8);
        assert_eq!(extract.skipped_urls, 2);
    }

    #[test]
    fn figure_captions_pair_with_every_image_of_the_figure() {
        let extract = page(
            "<figure><img src='/x.png' alt='x'><img src='/y.png'>\
             <figcaption>Two <b>cats</b>\n on a mat</figcaption></figure>\
             <img src='/z.png' alt='outside'><figcaption>orphan caption</figcaption>\
             <figure><figure><img src='/in.png'><figcaption>inner</figcaption></figure>\
             <figcaption>outer</figcaption></figure>",
        );
        let got: Vec<_> =
            pairs(&extract).into_iter().map(|(u, t, o)| (u, crate::text::collapse_whitespace(&t), o)).collect();
        assert_eq!(
            got,
            [
                ("https://example.org/x.png".into(), "x".into(), "alt"),
                ("https://example.org/x.png".into(), "Two cats on a mat".into(), "figcaption"),
                ("https://example.org/y.png".into(), "Two cats on a mat".into(), "figcaption"),
                ("https://example.org/z.png".into(), "outside".into(), "alt"),
                ("https://example.org/in.png".into(), "inner".into(), "figcaption"),
            ]
        );
    }

    #[test]
    fn links_are_absolute_http_deduplicated_and_without_fragments() {
        let extract = page(
            r##"<a href="next.html#top">n</a><a href="next.html">again</a><a href="mailto:a@b.c">m</a>
            <a href="https://other.net/p?q=1&amp;r=2">o</a><a href="#self">s</a><a href="ftp://x/y">f</a>"##,
        );
        let links: Vec<&str> = extract.links.iter().map(Url::as_str).collect();
        assert_eq!(
            links,
            ["https://example.org/dir/next.html", "https://other.net/p?q=1&r=2", "https://example.org/dir/page.html"]
        );
    }

    #[test]
    fn broken_markup_and_other_charsets_do_not_stop_extraction() {
        // A tag cut off by the end of the document is dropped, as browsers do; nothing fails.
        let extract = page("<p><img src=a.jpg alt=b><img src=c.jpg alt=\"unterminated <div><img src='d.jpg' alt='d'");
        assert_eq!((extract.images, extract.pairs.len()), (1, 1));
        let extract = page("</figure></figcaption><figure><figcaption>never closed<img src=e.jpg></b></i>");
        assert_eq!(extract.pairs.len(), 1);
        assert_eq!(crate::text::collapse_whitespace(&extract.pairs[0].text), "never closed");
        let latin1 = b"<meta charset=\"iso-8859-1\"><img src=\"c.jpg\" alt=\"caf\xe9\">";
        let extract = extract_html(
            latin1,
            &Url::parse("http://h/").unwrap(),
            &HtmlOptions { links: false, ..Default::default() },
        )
        .unwrap();
        assert_eq!(extract.pairs[0].text, "café");
    }

    #[test]
    fn srcset_candidates() {
        assert_eq!(best_srcset_candidate("a.jpg 1x, b.jpg 3x, c.jpg 2x"), Some("b.jpg"));
        assert_eq!(best_srcset_candidate("a.jpg 100w,b.jpg 50w"), Some("a.jpg"));
        assert_eq!(best_srcset_candidate("img,1.jpg 10w, img2.jpg 20w"), Some("img2.jpg"));
        assert_eq!(best_srcset_candidate(" , "), None);
        assert_eq!(best_srcset_candidate("only.jpg"), Some("only.jpg"));
    }

    #[test]
    fn page_language_evidence_and_visible_text() {
        let html = br#"<!doctype html><html lang="de-AT"><head><meta http-equiv="Content-Language" content="de">
            <title>Titel</title><style>p { color: red }</style><script>var english = "not text";</script></head>
            <body><p>Ein  Hund
            im <b>Garten</b></p><noscript>Bitte JavaScript</noscript><template>versteckt</template>
            <p>Zweiter Absatz</p></body></html>"#;
        let url = Url::parse("http://h.example/").unwrap();
        let page = extract_html(html, &url, &HtmlOptions { page_text: 1000, ..Default::default() }).unwrap();
        assert_eq!(page.html_lang.as_deref(), Some("de-AT"));
        assert_eq!(page.meta_language.as_deref(), Some("de"));
        let opted_out = self::page(
            r#"<head><meta name="robots" content="noindex"><META NAME="AI" CONTENT="noimageai"><meta name="viewport" content="noai"></head><img src="a.jpg" alt="x">"#,
        );
        assert_eq!(opted_out.opt_out.directives, ["noindex", "noimageai"]);
        assert_eq!(page.text.trim_end(), "Titel Ein Hund im Garten Zweiter Absatz");
        // The budget cuts on a character boundary; no text unless asked for.
        let short =
            extract_html("<p>Grüße aus Köln</p>".as_bytes(), &url, &HtmlOptions { page_text: 3, ..Default::default() });
        assert_eq!(short.unwrap().text, "Gr");
        let none = extract_html(html, &url, &HtmlOptions::default()).unwrap();
        assert!(none.text.is_empty() && none.html_lang.is_some());
    }
}
