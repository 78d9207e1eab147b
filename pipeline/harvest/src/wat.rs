//! Common Crawl WAT records: the JSON of a WARC `metadata` record, as Common Crawl writes it for
//! each archived response.
//!
//! Pairs come from `Envelope → Payload-Metadata → HTTP-Response-Metadata → HTML-Metadata →
//! Links[]` entries whose `path` is `IMG@/src`, with their `alt` and `title`. Relative image URLs
//! are resolved against `HTML-Metadata → Head → Base` (itself resolved against the page), else
//! against the page URL: `Envelope → WARC-Header-Metadata → WARC-Target-URI`, else the metadata
//! record's own target URI. Any of these values may be a string or, as Common Crawl writes
//! repeated headers since December 2024, a list of strings (the first one counts).
//!
//! Page-level language evidence comes along: `Envelope → WARC-Header-Metadata →
//! WARC-Identified-Content-Language` (Common Crawl's CLD2 verdict on the whole page text, e.g.
//! `eng` or `eng,deu`), the HTTP `Content-Language` header and `<meta http-equiv=content-language>`
//! from `Head → Metas`.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use url::Url;

use crate::html::{resolve_http, ImageText, TextOrigin};
use crate::opt_out::is_opt_out_header;

/// What one WAT record yields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatPage {
    /// The page the metadata describes (None for request / metadata envelopes without one).
    pub page_url: Option<String>,
    /// Whether the record held HTML metadata at all (responses with HTML do).
    pub has_html: bool,
    pub pairs: Vec<ImageText>,
    /// `IMG@/src` links seen.
    pub images: u64,
    /// Image links without a usable http(s) URL.
    pub skipped_urls: u64,
    /// `WARC-Identified-Content-Language` of the archived response, as written.
    pub identified_language: Option<String>,
    /// The response's `Content-Language` header.
    pub content_language: Option<String>,
    /// `<meta http-equiv="content-language" content>`.
    pub meta_language: Option<String>,
    /// Opt-out signals: `Head → Metas` (robots, ai, tdm-reservation) and the `tdm-reservation`
    /// header (see [`crate::opt_out`]).
    pub opt_out: crate::opt_out::PageSignals,
}

/// A JSON value that is a string or a list of strings (Common Crawl writes repeated headers as
/// lists): its first string, borrowed from the record where it holds no escapes. Written by hand,
/// not as an untagged enum, because serde buffers every untagged value (a copy and an allocation
/// per field of every link).
#[derive(Debug, Default)]
struct OneOrMany<'a>(Option<Cow<'a, str>>);

/// One JSON string, borrowed where it can be.
struct JsonStr<'a>(Option<Cow<'a, str>>);

/// Reads a JSON string, borrowed from the record where it holds no escapes, or with `lists` also a
/// list of strings (its first one; the others must be strings too).
struct FirstString<'a> {
    lists: bool,
    borrowed: PhantomData<&'a ()>,
}

impl<'de: 'a, 'a> Visitor<'de> for FirstString<'a> {
    type Value = Option<Cow<'a, str>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(if self.lists { "a string or a list of strings" } else { "a string" })
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v)))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        if !self.lists {
            return Err(de::Error::invalid_type(de::Unexpected::Seq, &self));
        }
        let first = seq.next_element::<JsonStr<'a>>()?.and_then(|s| s.0);
        while seq.next_element::<JsonStr<'a>>()?.is_some() {}
        Ok(first)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for JsonStr<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(FirstString { lists: false, borrowed: PhantomData }).map(JsonStr)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for OneOrMany<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FirstString { lists: true, borrowed: PhantomData }).map(OneOrMany)
    }
}

fn first<'s>(value: &'s Option<OneOrMany<'_>>) -> Option<&'s str> {
    value.as_ref().and_then(|v| v.0.as_deref())
}

#[derive(Debug, Deserialize)]
struct Wat<'a> {
    #[serde(rename = "Envelope", borrow)]
    envelope: Envelope<'a>,
}

#[derive(Debug, Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "WARC-Header-Metadata", default, borrow)]
    warc: Option<WarcHeaderMetadata<'a>>,
    #[serde(rename = "Payload-Metadata", default, borrow)]
    payload: Option<PayloadMetadata<'a>>,
}

#[derive(Debug, Deserialize)]
struct WarcHeaderMetadata<'a> {
    #[serde(rename = "WARC-Target-URI", default, borrow)]
    target_uri: Option<OneOrMany<'a>>,
    #[serde(rename = "WARC-Identified-Content-Language", default, borrow)]
    identified_language: Option<OneOrMany<'a>>,
}

#[derive(Debug, Deserialize)]
struct PayloadMetadata<'a> {
    #[serde(rename = "HTTP-Response-Metadata", default, borrow)]
    http: Option<HttpResponseMetadata<'a>>,
}

#[derive(Debug, Deserialize)]
struct HttpResponseMetadata<'a> {
    /// Kept loose: one odd header value must not cost the record.
    #[serde(rename = "Headers", default, borrow, deserialize_with = "header_fields")]
    headers: Option<Fields<'a>>,
    #[serde(rename = "HTML-Metadata", default, borrow)]
    html: Option<HtmlMetadata<'a>>,
}

#[derive(Debug, Deserialize)]
struct HtmlMetadata<'a> {
    #[serde(rename = "Head", default, borrow)]
    head: Option<Head<'a>>,
    #[serde(rename = "Links", default, borrow)]
    links: ImageLinks<'a>,
}

/// `HTML-Metadata → Links`, of which only the `IMG@/src` entries are kept (every entry is read and
/// must be a link object, as before; most are `A@/href`).
#[derive(Debug, Default)]
struct ImageLinks<'a>(Vec<Link<'a>>);

struct ImageLinksVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for ImageLinksVisitor<'a> {
    type Value = ImageLinks<'a>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of links")
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut images = Vec::new();
        while let Some(link) = seq.next_element::<Link<'a>>()? {
            if first(&link.path) == Some("IMG@/src") {
                images.push(link);
            }
        }
        Ok(ImageLinks(images))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for ImageLinks<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(ImageLinksVisitor(PhantomData))
    }
}

#[derive(Debug, Deserialize)]
struct Head<'a> {
    #[serde(rename = "Base", default, borrow)]
    base: Option<OneOrMany<'a>>,
    /// Kept loose: anything but a list of objects holds no meta.
    #[serde(rename = "Metas", default, borrow)]
    metas: Metas<'a>,
}

/// The `visit_*` methods of the JSON scalars (null, bools, numbers; with `str`, strings too), each
/// giving `$value`: for the loose readers below, which accept any JSON where they expect one shape.
macro_rules! scalars_give {
    ($value:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($value)
        }
    };
    ($value:expr, str) => {
        scalars_give!($value);
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($value)
        }
    };
}

/// A header or meta value, kept loose (any JSON is accepted): a string, a list (its string items;
/// None for the others), or anything else. Borrowed from the record where it holds no escapes.
#[derive(Debug)]
enum Loose<'a> {
    Str(Cow<'a, str>),
    List(Vec<Option<Cow<'a, str>>>),
    Other,
}

/// Reads any JSON value as a [`Loose`]; `item` reads a list item (strings kept, the rest skipped).
struct LooseVisitor<'a> {
    item: bool,
    borrowed: PhantomData<&'a ()>,
}

impl<'de: 'a, 'a> Visitor<'de> for LooseVisitor<'a> {
    type Value = Loose<'a>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Loose::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Loose::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Loose::Str(Cow::Owned(v)))
    }
    scalars_give!(Loose::Other);
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        if self.item {
            while seq.next_element::<de::IgnoredAny>()?.is_some() {}
            return Ok(Loose::Other);
        }
        let mut items = Vec::new();
        while let Some(LooseItem(item)) = seq.next_element()? {
            items.push(match item {
                Loose::Str(s) => Some(s),
                _ => None,
            });
        }
        Ok(Loose::List(items))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<de::IgnoredAny, de::IgnoredAny>()?.is_some() {}
        Ok(Loose::Other)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Loose<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LooseVisitor { item: false, borrowed: PhantomData })
    }
}

/// A list item of a [`Loose`] value.
struct LooseItem<'a>(Loose<'a>);

impl<'de: 'a, 'a> Deserialize<'de> for LooseItem<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LooseVisitor { item: true, borrowed: PhantomData }).map(LooseItem)
    }
}

/// The fields of a JSON object that a reader needs (the others skipped unread), in the order and
/// with repeated names resolved as `serde_json::Map` has them: sorted by name, the last of a
/// repeated name kept. Anything but an object reads as none.
#[derive(Debug, Default)]
struct Fields<'a>(Vec<(Cow<'a, str>, Loose<'a>)>);

impl<'a> Fields<'a> {
    /// The first field whose name `matches`, in name order.
    fn find(&self, matches: impl Fn(&str) -> bool) -> Option<&Loose<'a>> {
        self.0.iter().find(|(name, _)| matches(name)).map(|(_, value)| value)
    }

    fn iter(&self) -> impl Iterator<Item = (&str, &Loose<'a>)> {
        self.0.iter().map(|(name, value)| (name.as_ref(), value))
    }
}

/// Reads a JSON value as [`Fields`] keeping the names `keep` accepts (None for a non-object).
struct FieldsVisitor<'a> {
    keep: fn(&str) -> bool,
    borrowed: PhantomData<&'a ()>,
}

impl<'de: 'a, 'a> Visitor<'de> for FieldsVisitor<'a> {
    type Value = Option<Fields<'a>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields: Vec<(Cow<'a, str>, Loose<'a>)> = Vec::new();
        while let Some(JsonStr(name)) = map.next_key()? {
            let name = name.unwrap_or_default();
            if (self.keep)(&name) {
                fields.push((name, map.next_value()?));
            } else {
                map.next_value::<de::IgnoredAny>()?;
            }
        }
        // Stable: a repeated name's values stay in order, and the last is kept.
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        let mut kept: Vec<(Cow<'a, str>, Loose<'a>)> = Vec::with_capacity(fields.len());
        for field in fields {
            if kept.last().is_some_and(|last| last.0 == field.0) {
                kept.pop();
            }
            kept.push(field);
        }
        Ok(Some(Fields(kept)))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    scalars_give!(None, str);
}

/// The HTTP headers a WAT page is read for: `Content-Language` (any case) and those the opt-outs
/// read ([`is_opt_out_header`]).
fn header_fields<'de: 'a, 'a, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Fields<'a>>, D::Error> {
    let keep: fn(&str) -> bool = |name| name.eq_ignore_ascii_case("content-language") || is_opt_out_header(name);
    deserializer.deserialize_any(FieldsVisitor { keep, borrowed: PhantomData })
}

/// `Head → Metas`: the objects of a list (their `name`, `content` and `http-equiv` fields, any
/// case); anything else holds none.
#[derive(Debug, Default)]
struct Metas<'a>(Vec<Fields<'a>>);

/// One `Metas` item.
struct Meta<'a>(Option<Fields<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for Meta<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let keep: fn(&str) -> bool =
            |name| ["name", "content", "http-equiv"].iter().any(|wanted| name.eq_ignore_ascii_case(wanted));
        deserializer.deserialize_any(FieldsVisitor { keep, borrowed: PhantomData }).map(Meta)
    }
}

struct MetasVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for MetasVisitor<'a> {
    type Value = Metas<'a>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut metas = Vec::new();
        while let Some(Meta(meta)) = seq.next_element()? {
            metas.extend(meta);
        }
        Ok(Metas(metas))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<de::IgnoredAny, de::IgnoredAny>()?.is_some() {}
        Ok(Metas::default())
    }
    scalars_give!(Metas::default(), str);
}

impl<'de: 'a, 'a> Deserialize<'de> for Metas<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(MetasVisitor(PhantomData))
    }
}

/// A string, or the first item of a list if it is a string.
fn first_string<'s>(value: &'s Loose<'_>) -> Option<&'s str> {
    match value {
        Loose::Str(s) => Some(s),
        Loose::List(items) => items.first().and_then(|v| v.as_deref()),
        Loose::Other => None,
    }
}

/// Every string of a header value (a string, or a list of them for repeated headers).
fn all_strings<'s>(value: &'s Loose<'_>) -> Vec<&'s str> {
    match value {
        Loose::Str(s) => vec![s],
        Loose::List(items) => items.iter().filter_map(|v| v.as_deref()).collect(),
        Loose::Other => Vec::new(),
    }
}

/// `<meta http-equiv=content-language content>` among the WAT's `Metas` objects.
fn meta_language(metas: &Metas) -> Option<String> {
    metas.0.iter().find_map(|meta| {
        let equiv = meta.find(|k| k.eq_ignore_ascii_case("http-equiv")).and_then(first_string)?;
        if !equiv.trim().eq_ignore_ascii_case("content-language") {
            return None;
        }
        meta.find(|k| k == "content").and_then(first_string).map(|c| c.trim().to_owned()).filter(|c| !c.is_empty())
    })
}

#[derive(Debug, Deserialize)]
struct Link<'a> {
    #[serde(default, borrow)]
    path: Option<OneOrMany<'a>>,
    #[serde(default, borrow)]
    url: Option<OneOrMany<'a>>,
    #[serde(default, borrow)]
    alt: Option<OneOrMany<'a>>,
    #[serde(default, borrow)]
    title: Option<OneOrMany<'a>>,
}

/// The pairs of one WAT record's JSON; `record_uri` is the metadata record's `WARC-Target-URI`.
/// Texts are raw (see [`crate::text::clean_text`]).
pub fn extract_wat(json: &[u8], record_uri: Option<&str>) -> Result<WatPage, serde_json::Error> {
    // Checked once as a whole, the text's strings need no UTF-8 check each.
    let wat: Wat = match simdutf8::basic::from_utf8(json) {
        Ok(text) => serde_json::from_str(text)?,
        Err(_) => serde_json::from_slice(json)?,
    };
    let envelope = wat.envelope;
    let page_url = envelope.warc.as_ref().and_then(|w| first(&w.target_uri)).or(record_uri).map(str::to_owned);
    let identified_language = envelope.warc.as_ref().and_then(|w| first(&w.identified_language)).map(str::to_owned);
    let mut out = WatPage { page_url, identified_language, ..Default::default() };
    let Some(http) = envelope.payload.and_then(|p| p.http) else {
        return Ok(out);
    };
    out.content_language = http.headers.as_ref().and_then(|headers| {
        let value = headers.find(|k| k.eq_ignore_ascii_case("content-language"))?;
        first_string(value).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    });
    for (name, value) in http.headers.iter().flat_map(Fields::iter) {
        for value in all_strings(value) {
            out.opt_out.add_header(name, value);
        }
    }
    let Some(html) = http.html else {
        return Ok(out);
    };
    if let Some(metas) = html.head.as_ref().map(|h| &h.metas) {
        out.meta_language = meta_language(metas);
        for meta in &metas.0 {
            let field = |wanted: &str| meta.find(|k| k.eq_ignore_ascii_case(wanted)).and_then(first_string);
            if let (Some(name), Some(content)) = (field("name"), field("content")) {
                out.opt_out.add_meta(name, content);
            }
        }
    }
    out.has_html = true;
    let page = out.page_url.as_deref().and_then(|u| Url::parse(u).ok());
    let base = match (html.head.as_ref().and_then(|h| first(&h.base)), &page) {
        (Some(base), Some(page)) => page.join(base.trim()).ok().or_else(|| Some(page.clone())),
        (Some(base), None) => Url::parse(base.trim()).ok(),
        (None, page) => page.clone(),
    };
    for link in &html.links.0 {
        out.images += 1;
        let url = first(&link.url).and_then(|u| match &base {
            Some(base) => resolve_http(base, u),
            None => Url::parse(u.trim()).ok().filter(|u| matches!(u.scheme(), "http" | "https")),
        });
        let Some(url) = url else {
            out.skipped_urls += 1;
            continue;
        };
        let url = url.to_string();
        let alt = first(&link.alt).unwrap_or("");
        let title = first(&link.title).unwrap_or("");
        if !alt.trim().is_empty() {
            out.pairs.push(ImageText { url: url.clone(), text: alt.to_owned(), origin: TextOrigin::Alt });
        }
        if !title.trim().is_empty() && title.trim() != alt.trim() {
            out.pairs.push(ImageText { url, text: title.to_owned(), origin: TextOrigin::Title });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wat_json(target: serde_json::Value, base: Option<&str>) -> Vec<u8> {
        let mut head = serde_json::json!({"Title": "A page", "Metas": [
            {"name": "viewport", "content": "width=device-width"},
            {"http-equiv": "Content-Language", "content": "en-GB"}
        ]});
        if let Some(base) = base {
            head["Base"] = base.into();
        }
        serde_json::to_vec(&serde_json::json!({
            "Container": {"Filename": "x.warc.gz"},
            "Envelope": {
                "Format": "WARC",
                "WARC-Header-Metadata": {"WARC-Type": "response", "WARC-Target-URI": target,
                    "WARC-Identified-Content-Language": "eng,fra"},
                "Payload-Metadata": {"HTTP-Response-Metadata": {
                    "Headers": {"Content-Type": ["text/html", "text/html; charset=utf-8"], "Server": "x",
                        "content-language": ["en", "fr"], "X-Odd": {"nested": 1}},
                    "HTML-Metadata": {"Head": head, "Links": [
                        {"path": "IMG@/src", "url": "img/a.jpg", "alt": "A boat", "title": "Boat"},
                        {"path": "A@/href", "url": "/next", "text": "next"},
                        {"path": "IMG@/src", "url": "data:image/gif;base64,R0lGOD", "alt": "pixel"},
                        {"path": "IMG@/src", "url": "https://cdn.example.net/b.png", "alt": "", "title": "Only title"},
                        {"path": "IMG@/src", "url": "/c.png"}
                    ]}
                }}
            }
        }))
        .unwrap()
    }

    #[test]
    fn image_links_resolve_against_base_or_page_in_both_header_forms() {
        for target in [
            serde_json::json!("https://example.org/dir/page"),
            serde_json::json!(["https://example.org/dir/page", "x"]),
        ] {
            let page = extract_wat(&wat_json(target, None), None).unwrap();
            assert_eq!(page.page_url.as_deref(), Some("https://example.org/dir/page"));
            let got: Vec<(&str, &str)> = page.pairs.iter().map(|p| (p.url.as_str(), p.text.as_str())).collect();
            assert_eq!(
                got,
                [
                    ("https://example.org/dir/img/a.jpg", "A boat"),
                    ("https://example.org/dir/img/a.jpg", "Boat"),
                    ("https://cdn.example.net/b.png", "Only title"),
                ]
            );
            assert_eq!((page.images, page.skipped_urls), (4, 1));
            assert_eq!(page.identified_language.as_deref(), Some("eng,fra"));
            assert_eq!(page.content_language.as_deref(), Some("en"));
            assert_eq!(page.meta_language.as_deref(), Some("en-GB"));
        }
        let page =
            extract_wat(&wat_json(serde_json::json!("https://example.org/dir/page"), Some("/static/")), None).unwrap();
        assert_eq!(page.pairs[0].url, "https://example.org/static/img/a.jpg");
        assert!(page.opt_out.directives.is_empty(), "a viewport meta is no opt-out");
    }

    #[test]
    fn link_values_are_a_string_or_the_first_of_a_list_escaped_or_not() {
        let record = |alt: &str| {
            format!(
                r#"{{"Envelope": {{"WARC-Header-Metadata": {{"WARC-Target-URI": "https://example.org/p"}},
                "Payload-Metadata": {{"HTTP-Response-Metadata": {{"HTML-Metadata": {{"Links": [
                {{"path": ["IMG@/src"], "url": "a.jpg", "alt": {alt}}}]}}}}}}}}}}"#
            )
        };
        let texts = |alt: &str| {
            extract_wat(record(alt).as_bytes(), None).map(|p| p.pairs.into_iter().map(|p| p.text).collect::<Vec<_>>())
        };
        assert_eq!(texts(r#""A boat""#).unwrap(), ["A boat"]);
        assert_eq!(texts(r#""A \"quoted\" boat \u00e9""#).unwrap(), ["A \"quoted\" boat é"]);
        assert_eq!(texts(r#"["First", "Second"]"#).unwrap(), ["First"]);
        assert!(texts("[]").unwrap().is_empty() && texts("null").unwrap().is_empty());
        for bad in ["5", r#"["x", 5]"#, r#"{"a": "b"}"#] {
            assert!(texts(bad).is_err(), "{bad} is neither a string nor a list of strings");
        }
    }

    #[test]
    fn opt_out_metas_and_the_tdm_header() {
        let mut json: serde_json::Value =
            serde_json::from_slice(&wat_json(serde_json::json!("https://example.org/p"), None)).unwrap();
        let http = &mut json["Envelope"]["Payload-Metadata"]["HTTP-Response-Metadata"];
        http["HTML-Metadata"]["Head"]["Metas"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"name": "Robots", "content": ["noai, noimageai"]}));
        http["Headers"]["TDM-Reservation"] = serde_json::json!(["0", "1"]);
        let page = extract_wat(&serde_json::to_vec(&json).unwrap(), None).unwrap();
        assert_eq!(page.opt_out.directives, ["tdm-reservation", "noai", "noimageai"]);
    }

    /// What extract_wat read from headers and metas when it parsed them as `serde_json::Value`s.
    fn read_as_values(json: &serde_json::Value) -> (Option<String>, Option<String>, Vec<String>) {
        use serde_json::Value;
        let first_string = |value: &Value| match value {
            Value::String(s) => Some(s.clone()),
            Value::Array(items) => items.first().and_then(|v| v.as_str()).map(str::to_owned),
            _ => None,
        };
        let http = &json["Envelope"]["Payload-Metadata"]["HTTP-Response-Metadata"];
        let headers = http["Headers"].as_object();
        let content_language = headers.and_then(|headers| {
            let (_, value) = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("content-language"))?;
            first_string(value).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
        });
        let mut opt_out = crate::opt_out::PageSignals::default();
        for (name, value) in headers.into_iter().flatten() {
            let all: Vec<&str> = match value {
                Value::String(s) => vec![s],
                Value::Array(items) => items.iter().filter_map(|v| v.as_str()).collect(),
                _ => Vec::new(),
            };
            all.into_iter().for_each(|v| opt_out.add_header(name, v));
        }
        let metas =
            http["HTML-Metadata"]["Head"]["Metas"].as_array().into_iter().flatten().filter_map(|m| m.as_object());
        let mut meta_language = None;
        for meta in metas {
            let field = |wanted: &str| {
                meta.iter().find(|(k, _)| k.eq_ignore_ascii_case(wanted)).and_then(|(_, v)| first_string(v))
            };
            if meta_language.is_none()
                && field("http-equiv").is_some_and(|e| e.trim().eq_ignore_ascii_case("content-language"))
            {
                meta_language =
                    meta.get("content").and_then(first_string).map(|c| c.trim().to_owned()).filter(|c| !c.is_empty());
            }
            if let (Some(name), Some(content)) = (field("name"), field("content")) {
                opt_out.add_meta(&name, &content);
            }
        }
        (content_language, meta_language, opt_out.directives)
    }

    #[test]
    fn headers_and_metas_read_as_serde_json_values_read_them() {
        // Repeated names (the last counts), names differing in case (name order decides), escaped
        // names, lists whose first item is no string, nested values, metas that are no objects.
        let cases = [
            (
                r#"{"Content-Language": "de", "content-language": "fr"}"#,
                r#"[{"http-equiv": "content-language", "content": "it"}]"#,
            ),
            (
                r#"{"content-language": "de", "content-language": " fr "}"#,
                r#"[{"http-equiv": "Content-Language", "Content": "x", "content": "pt"}]"#,
            ),
            (
                r#"{"content-language": [5, "de"], "X": {"a": [1, {"b": null}]}}"#,
                r#"[{"http-equiv": ["content-language", 1], "content": ["es", "x"]}]"#,
            ),
            (
                r#"{"CONTENT-LANGUAGE": ["", "de"], "TDM-Reservation": [1, "1"]}"#,
                r#"[{"HTTP-EQUIV": "content-language", "content": "  "}, {"http-equiv": "content-language", "content": "nl"}]"#,
            ),
            (r#"{"tdm-reservation": "1", "tdm-reservation": "0"}"#, r#"{"name": "robots", "content": "noai"}"#),
            (
                r#"{"tdm-reservation": "0", "tdm-reservation": "1"}"#,
                r#"[5, "robots", null, [], {"name": "robots", "name": "ai", "content": "noai none"}]"#,
            ),
            (
                r#"null"#,
                r#"[{"Name": "ROBOTS", "CONTENT": ["NoImageAI,noindex", "noai"]}, {"name": "tdm-reservation", "content": 1}, {"name": "tdm-reservation", "content": " 1 "}]"#,
            ),
            (
                r#"{"content-language": "fr", "Content-Language": "de"}"#,
                r#"[{"name": "robots", "Name": "ai", "content": "noai"}, {"name": "x", "Name": "robots", "content": "noimageai"}]"#,
            ),
            (r#"{}"#, r#"null"#),
        ];
        for (headers, metas) in cases {
            let json: serde_json::Value = serde_json::from_str(&format!(
                r#"{{"Envelope": {{"WARC-Header-Metadata": {{"WARC-Target-URI": "https://example.org/p"}},
                "Payload-Metadata": {{"HTTP-Response-Metadata": {{"Headers": {headers},
                "HTML-Metadata": {{"Head": {{"Metas": {metas}}}, "Links": []}}}}}}}}}}"#
            ))
            .unwrap();
            // Keep the repeated names: write the text, not the parsed value.
            let text = format!(
                r#"{{"Envelope": {{"WARC-Header-Metadata": {{"WARC-Target-URI": "https://example.org/p"}},
                "Payload-Metadata": {{"HTTP-Response-Metadata": {{"Headers": {headers},
                "HTML-Metadata": {{"Head": {{"Metas": {metas}}}, "Links": []}}}}}}}}}}"#
            );
            let page = extract_wat(text.as_bytes(), None).unwrap();
            let (content_language, meta_language, directives) = read_as_values(&json);
            assert_eq!(page.content_language, content_language, "{headers}");
            assert_eq!(page.meta_language, meta_language, "{metas}");
            assert_eq!(page.opt_out.directives, directives, "{headers} {metas}");
        }
    }

    #[test]
    fn envelopes_without_html_and_broken_json() {
        let request = br#"{"Envelope": {"WARC-Header-Metadata": {"WARC-Type": "request"}}}"#;
        let page = extract_wat(request, Some("http://h/")).unwrap();
        assert!(!page.has_html && page.pairs.is_empty());
        assert_eq!(page.page_url.as_deref(), Some("http://h/"));
        assert_eq!((page.identified_language, page.content_language, page.meta_language), (None, None, None));
        assert!(extract_wat(b"{\"Envelope\": ", None).is_err());
    }
}
