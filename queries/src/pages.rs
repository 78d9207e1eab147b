//! The pages of a MediaWiki XML export, read with quick-xml as a stream: one `<page>` at a time,
//! entities resolved, text kept only for what will be counted (namespace 0, not a redirect).
//!
//! A reader works on a whole document or, for one part of a multistream dump, on a fragment: a run
//! of whole `<page>` elements, possibly after the `<siteinfo>` header or before `</mediawiki>`.

use std::io::{self, BufRead};
use std::path::Path;

use quick_xml::events::Event;
use quick_xml::Reader;

use crate::bz2::Bz2Fault;
use crate::error::{QueriesError, Result};

/// One page of the dump. `text` is empty unless the page is an article ([`Page::is_article`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    pub title: String,
    pub ns: i64,
    pub id: u64,
    pub redirect: bool,
    pub text: String,
}

impl Page {
    /// Namespace 0 and not a redirect: what gets counted.
    pub fn is_article(&self) -> bool {
        self.ns == 0 && !self.redirect
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Field {
    None,
    Title,
    Ns,
    Id,
    Text,
}

/// Where the XML comes from, for error messages.
#[derive(Debug, Clone)]
pub struct Origin<'a> {
    pub path: &'a Path,
    /// Compressed (or plain) byte of the file where this reader's input starts.
    pub base: u64,
}

/// Streams the pages of an export.
pub struct PageReader<'a, R: BufRead> {
    reader: Reader<R>,
    origin: Origin<'a>,
    fragment: bool,
    buf: Vec<u8>,
    last: Option<(u64, String)>,
}

impl<'a, R: BufRead> PageReader<'a, R> {
    /// `fragment`: the input is one part of a multistream dump, not a whole document.
    pub fn new(input: R, origin: Origin<'a>, fragment: bool) -> Self {
        let mut reader = Reader::from_reader(input);
        let config = reader.config_mut();
        config.allow_unmatched_ends = fragment;
        config.check_end_names = true;
        PageReader { reader, origin, fragment, buf: Vec::with_capacity(64 << 10), last: None }
    }

    /// Bytes of XML read so far.
    pub fn xml_position(&self) -> u64 {
        self.reader.buffer_position()
    }

    fn error(&self, offset: u64, problem: String) -> QueriesError {
        make_error(&self.origin, &self.last, offset, problem)
    }

    fn xml_error(&self, e: quick_xml::Error) -> QueriesError {
        if let quick_xml::Error::Io(io) = &e {
            if let Some(err) = io_fault(io) {
                return err(self.origin.path);
            }
        }
        self.error(self.reader.error_position(), e.to_string())
    }

    /// The next page, or `None` at the end of the input.
    pub fn next_page(&mut self) -> Result<Option<Page>> {
        let mut page: Option<Page> = None;
        let mut depth = 0usize;
        let mut field = Field::None;
        let mut scratch = String::new();
        loop {
            self.buf.clear();
            let event = match self.reader.read_event_into(&mut self.buf) {
                Ok(event) => event,
                Err(quick_xml::Error::IllFormed(quick_xml::errors::IllFormedError::MissingEndTag(_)))
                    if self.fragment && page.is_none() =>
                {
                    return Ok(None)
                }
                Err(e) => {
                    let e = self.xml_error(e);
                    return Err(e);
                }
            };
            match event {
                Event::Start(start) => {
                    let name = start.local_name();
                    let name = name.as_ref();
                    match page.as_mut() {
                        None if name == b"page" => {
                            page = Some(Page::default());
                            depth = 0;
                        }
                        None => {}
                        Some(p) => {
                            depth += 1;
                            field = match (depth, name) {
                                (1, b"title") => Field::Title,
                                (1, b"ns") => Field::Ns,
                                (1, b"id") => Field::Id,
                                (1, b"redirect") => {
                                    p.redirect = true;
                                    Field::None
                                }
                                (2, b"text") if p.is_article() => Field::Text,
                                _ => Field::None,
                            };
                            scratch.clear();
                        }
                    }
                }
                Event::Empty(empty) => {
                    if let Some(p) = page.as_mut() {
                        if depth == 0 && empty.local_name().as_ref() == b"redirect" {
                            p.redirect = true;
                        }
                    }
                }
                Event::Text(text) if field != Field::None => {
                    let content = text.xml10_content().map_err(|e| {
                        make_error(&self.origin, &self.last, self.reader.buffer_position(), e.to_string())
                    })?;
                    push_field(page.as_mut(), field, &mut scratch, &content);
                }
                Event::CData(data) if field != Field::None => {
                    let content = data.xml10_content().map_err(|e| {
                        make_error(&self.origin, &self.last, self.reader.buffer_position(), e.to_string())
                    })?;
                    push_field(page.as_mut(), field, &mut scratch, &content);
                }
                Event::GeneralRef(reference) if field != Field::None => {
                    let resolved = match reference.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        Ok(None) => {
                            let name = reference.decode().map(|n| n.into_owned()).unwrap_or_default();
                            match quick_xml::escape::resolve_xml_entity(&name) {
                                Some(s) => s.to_owned(),
                                None => {
                                    return Err(make_error(
                                        &self.origin,
                                        &self.last,
                                        self.reader.buffer_position(),
                                        format!("unknown entity &{name};"),
                                    ))
                                }
                            }
                        }
                        Err(e) => {
                            return Err(make_error(
                                &self.origin,
                                &self.last,
                                self.reader.buffer_position(),
                                e.to_string(),
                            ))
                        }
                    };
                    push_field(page.as_mut(), field, &mut scratch, &resolved);
                }
                Event::End(end) => {
                    if let Some(p) = page.as_mut() {
                        if depth == 0 {
                            if end.local_name().as_ref() != b"page" {
                                return Err(make_error(
                                    &self.origin,
                                    &self.last,
                                    self.reader.buffer_position(),
                                    "unexpected end tag in a page".into(),
                                ));
                            }
                            let done = page.take().unwrap_or_default();
                            self.last = Some((done.id, done.title.clone()));
                            return Ok(Some(done));
                        }
                        match field {
                            Field::Ns => {
                                p.ns = scratch.trim().parse().map_err(|_| {
                                    make_error(
                                        &self.origin,
                                        &self.last,
                                        self.reader.buffer_position(),
                                        format!("bad <ns> {scratch:?}"),
                                    )
                                })?
                            }
                            Field::Id => {
                                p.id = scratch.trim().parse().map_err(|_| {
                                    make_error(
                                        &self.origin,
                                        &self.last,
                                        self.reader.buffer_position(),
                                        format!("bad <id> {scratch:?}"),
                                    )
                                })?
                            }
                            _ => {}
                        }
                        if field == Field::Text && starts_with_redirect(&p.text) {
                            p.redirect = true;
                            p.text.clear();
                        }
                        field = Field::None;
                        depth -= 1;
                    }
                }
                Event::Eof => {
                    if page.is_some() {
                        return Err(make_error(
                            &self.origin,
                            &self.last,
                            self.reader.buffer_position(),
                            "the input ends inside a <page> (truncated?)".into(),
                        ));
                    }
                    return Ok(None);
                }
                _ => {}
            }
        }
    }
}

fn make_error(origin: &Origin<'_>, last: &Option<(u64, String)>, offset: u64, problem: String) -> QueriesError {
    let after = match last {
        Some((id, title)) => format!("after page {id} {title:?}"),
        None => "before the first page".to_owned(),
    };
    QueriesError::Xml { path: origin.path.to_path_buf(), base: origin.base, offset, after, problem }
}

fn push_field(page: Option<&mut Page>, field: Field, scratch: &mut String, content: &str) {
    match (page, field) {
        (Some(p), Field::Title) => p.title.push_str(content),
        (Some(p), Field::Text) => p.text.push_str(content),
        _ => scratch.push_str(content),
    }
}

fn starts_with_redirect(text: &str) -> bool {
    let head = text.trim_start().as_bytes();
    head.len() >= 9 && head[..9].eq_ignore_ascii_case(b"#redirect")
}

/// A bz2 fault inside an I/O error, turned into the error that names the file.
#[allow(clippy::type_complexity)]
pub(crate) fn io_fault(io: &io::Error) -> Option<Box<dyn Fn(&Path) -> QueriesError + '_>> {
    let fault = io.get_ref()?.downcast_ref::<Bz2Fault>()?;
    Some(Box::new(move |path: &Path| QueriesError::Bz2 {
        path: path.to_path_buf(),
        offset: fault.offset,
        stream_start: fault.stream_start,
        problem: fault.problem.clone(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pages(xml: &str, fragment: bool) -> Result<Vec<Page>> {
        let path = Path::new("test.xml");
        let mut reader = PageReader::new(xml.as_bytes(), Origin { path, base: 0 }, fragment);
        let mut out = Vec::new();
        while let Some(page) = reader.next_page()? {
            out.push(page);
        }
        Ok(out)
    }

    const DOC: &str = r#"<mediawiki><siteinfo><sitename>W</sitename></siteinfo>
<page><title>A &amp; B</title><ns>0</ns><id>1</id><revision><id>99</id><text xml:space="preserve">x &lt;ref&gt; &#233;</text></revision></page>
<page><title>R</title><ns>0</ns><id>2</id><redirect title="A" /><revision><id>98</id><text>#REDIRECT [[A]]</text></revision></page>
<page><title>Talk:A</title><ns>1</ns><id>3</id><revision><text>talk</text></revision></page>
</mediawiki>"#;

    #[test]
    fn pages_entities_namespaces_and_redirects() {
        let pages = pages(DOC, false).unwrap();
        assert_eq!(pages.len(), 3);
        assert_eq!(pages[0].title, "A & B");
        assert_eq!(pages[0].id, 1, "the page id, not the revision id");
        assert_eq!(pages[0].text, "x <ref> é");
        assert!(pages[0].is_article());
        assert!(pages[1].redirect && pages[1].text.is_empty());
        assert_eq!(pages[2].ns, 1);
        assert!(!pages[2].is_article() && pages[2].text.is_empty());
    }

    #[test]
    fn fragments_of_a_multistream_dump_parse_alone() {
        let cut = DOC.find("<page><title>R").unwrap();
        let (head, tail) = DOC.split_at(cut);
        assert_eq!(pages(head, true).unwrap().len(), 1);
        assert_eq!(pages(tail, true).unwrap().len(), 2);
    }

    #[test]
    fn malformed_and_truncated_xml_name_the_offset_and_last_page() {
        let bad = DOC.replace("</title><ns>1", "</titel><ns>1");
        let err = pages(&bad, false).unwrap_err().to_string();
        assert!(
            err.contains("test.xml") && err.contains("malformed XML at byte") && err.contains("after page 2"),
            "{err}"
        );
        let truncated = &DOC[..DOC.find("<id>3").unwrap()];
        let err = pages(truncated, false).unwrap_err().to_string();
        assert!(err.contains("ends inside a <page>"), "{err}");
        let err = pages(&DOC.replace("&amp;", "&bogus;"), false).unwrap_err().to_string();
        assert!(err.contains("bogus"), "{err}");
    }
}
