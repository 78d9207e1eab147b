//! Wikitext → plain text: what a reader of the article sees, minus what is not prose.
//!
//! Removed with their content: templates (`{{…}}`, nested), tables (`{|…|}`), comments,
//! `<ref>`, `<math>` and other non-prose tags, categories, interwiki links, external-link URLs,
//! magic words. Kept as text: link labels (`[[a|b]]` → `b`, `[[a]]` → `a`), external-link labels
//! (`[url label]` → `label`), File/Image captions, headings (their text, on their own line), list
//! items (markers removed), the content of formatting tags, entities decoded. Bold/italic quotes are
//! dropped. Lines are paragraphs: a heading, list item or paragraph never shares a line with another.

/// Tags dropped together with everything up to their closing tag.
const DROPPED_TAGS: &[&str] = &[
    "ref",
    "math",
    "chem",
    "ce",
    "score",
    "gallery",
    "timeline",
    "syntaxhighlight",
    "source",
    "imagemap",
    "graph",
    "hiero",
    "templatedata",
    "templatestyles",
    "mapframe",
    "maplink",
    "references",
    "inputbox",
    "categorytree",
    "poem_hidden",
];

/// Link prefixes whose links are dropped entirely.
const DROPPED_NAMESPACES: &[&str] = &[
    "category",
    "wikipedia",
    "wp",
    "template",
    "help",
    "portal",
    "special",
    "user",
    "talk",
    "wikt",
    "wiktionary",
    "s",
    "q",
    "commons",
    "d",
    "n",
    "b",
    "v",
    "voy",
    "species",
    "meta",
    "mw",
    "draft",
    "module",
    "media",
];

/// Caption-less options of an image link.
fn is_image_option(part: &str) -> bool {
    let p = part.trim();
    let lower = p.to_ascii_lowercase();
    matches!(
        lower.as_str(),
        "thumb"
            | "thumbnail"
            | "frame"
            | "framed"
            | "frameless"
            | "left"
            | "right"
            | "center"
            | "centre"
            | "none"
            | "upright"
            | "border"
            | "baseline"
            | "middle"
            | "sub"
            | "super"
            | "top"
            | "text-top"
            | "bottom"
            | "text-bottom"
    ) || lower.ends_with("px") && lower[..lower.len() - 2].chars().all(|c| c.is_ascii_digit() || c == 'x')
        || ["alt=", "link=", "upright=", "page=", "class=", "lang=", "thumb=", "thumbnail="]
            .iter()
            .any(|k| lower.starts_with(k))
}

/// The plain text of an article's wikitext (see the module docs).
pub fn to_plain_text(wikitext: &str) -> String {
    let mut inline = String::with_capacity(wikitext.len());
    strip_inline(wikitext, &mut inline);
    let mut out = String::with_capacity(inline.len());
    for line in inline.lines() {
        let line = clean_line(line);
        if line.is_empty() {
            continue;
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn starts_with_ci(s: &[u8], i: usize, pat: &[u8]) -> bool {
    s.len() >= i + pat.len() && s[i..i + pat.len()].eq_ignore_ascii_case(pat)
}

fn find_from(s: &[u8], from: usize, pat: &[u8]) -> Option<usize> {
    memchr::memmem::find(&s[from..], pat).map(|p| p + from)
}

/// Case-insensitive find of an ASCII pattern.
fn find_ci(s: &[u8], from: usize, pat: &[u8]) -> Option<usize> {
    let first = pat[0].to_ascii_lowercase();
    let mut i = from;
    while i + pat.len() <= s.len() {
        let next = memchr::memchr2(first, first.to_ascii_uppercase(), &s[i..])? + i;
        if starts_with_ci(s, next, pat) {
            return Some(next);
        }
        i = next + 1;
    }
    None
}

/// End (exclusive) of a `{{…}}` template or `{|…|}` table starting at `i`, nesting both.
fn skip_braced(s: &[u8], i: usize) -> Option<usize> {
    #[derive(PartialEq)]
    enum Open {
        Template,
        Parameter,
        Table,
    }
    let mut stack: Vec<Open> = Vec::new();
    let mut j = i;
    while j + 1 < s.len() {
        let triple = |c: u8| s.get(j + 2) == Some(&c);
        match (s[j], s[j + 1]) {
            (b'{', b'{') if triple(b'{') => {
                stack.push(Open::Parameter);
                j += 3;
            }
            (b'}', b'}') if triple(b'}') && stack.last() == Some(&Open::Parameter) => {
                stack.pop();
                j += 3;
            }
            (b'{', b'{') => {
                stack.push(Open::Template);
                j += 2;
            }
            (b'{', b'|') => {
                stack.push(Open::Table);
                j += 2;
            }
            (b'}', b'}') if stack.last() == Some(&Open::Template) => {
                stack.pop();
                j += 2;
            }
            (b'|', b'}') if stack.last() == Some(&Open::Table) => {
                stack.pop();
                j += 2;
            }
            (b'<', b'!') if s[j..].starts_with(b"<!--") => {
                j = find_from(s, j + 4, b"-->").map_or(s.len(), |e| e + 3);
            }
            _ => j += 1,
        }
        if stack.is_empty() {
            return Some(j);
        }
    }
    None
}

/// Where a `<ref>`'s closing tag starts, skipping templates inside it (a citation template may
/// hold a stray `</ref …>`).
fn find_ref_close(s: &[u8], from: usize) -> Option<usize> {
    let mut j = from;
    while j < s.len() {
        let next = memchr::memchr2(b'{', b'<', &s[j..])? + j;
        if s[next..].starts_with(b"{{") {
            j = skip_braced(s, next).unwrap_or(next + 2);
        } else if starts_with_ci(s, next, b"</ref") {
            return Some(next);
        } else {
            j = next + 1;
        }
    }
    None
}

/// End (exclusive) of a `[[…]]` link starting at `i`, nesting.
fn skip_link(s: &[u8], i: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut j = i;
    while j + 1 < s.len() {
        if s[j] == b'[' && s[j + 1] == b'[' {
            depth += 1;
            j += 2;
        } else if s[j] == b']' && s[j + 1] == b']' {
            depth -= 1;
            j += 2;
            if depth == 0 {
                return Some(j);
            }
        } else if s[j] == b'\n' && s.get(j + 1) == Some(&b'\n') && depth == 1 {
            return None; // a link never spans paragraphs
        } else {
            j += 1;
        }
    }
    None
}

/// Splits on `|` at nesting depth 0 (outside inner links and templates).
fn split_top_level(s: &str) -> Vec<&str> {
    let b = s.as_bytes();
    let mut parts = Vec::new();
    let (mut depth, mut start, mut j) = (0i32, 0usize, 0usize);
    while j < b.len() {
        match b[j] {
            b'[' | b'{' if b.get(j + 1) == Some(&b[j]) => {
                depth += 1;
                j += 2;
                continue;
            }
            b']' | b'}' if b.get(j + 1) == Some(&b[j]) => {
                depth -= 1;
                j += 2;
                continue;
            }
            b'|' if depth <= 0 => {
                parts.push(&s[start..j]);
                start = j + 1;
            }
            _ => {}
        }
        j += 1;
    }
    parts.push(&s[start..]);
    parts
}

/// Is `prefix` (before a colon) an interwiki language code such as `de`, `zh-min-nan`, `simple`?
fn is_interwiki(prefix: &str) -> bool {
    let p = prefix.trim();
    (2..=12).contains(&p.len())
        && p.bytes().all(|c| c.is_ascii_lowercase() || c == b'-')
        && (p.len() <= 3 || p.contains('-') || p == "simple")
}

/// The visible text of the link whose inside (between `[[` and `]]`) is `inner`.
fn link_text(inner: &str, out: &mut String) {
    let parts = split_top_level(inner);
    let target = parts[0].trim();
    let (visible_colon, target) = match target.strip_prefix(':') {
        Some(rest) => (true, rest),
        None => (false, target),
    };
    if let Some((prefix, _)) = target.split_once(':') {
        let lower = prefix.trim().to_ascii_lowercase();
        if lower == "file" || lower == "image" {
            if visible_colon {
                return;
            }
            // The caption is the last part that is not an option.
            if let Some(caption) = parts[1..].iter().rev().find(|p| !is_image_option(p)) {
                out.push('\n');
                strip_inline(caption, out);
                out.push('\n');
            }
            return;
        }
        if !visible_colon && (DROPPED_NAMESPACES.contains(&lower.as_str()) || is_interwiki(prefix)) {
            return;
        }
    }
    match parts.len() {
        1 => strip_inline(target, out),
        _ => {
            let label = parts[parts.len() - 1];
            if label.trim().is_empty() {
                // The pipe trick: [[Paris, France|]] shows "Paris".
                let shown = target.split(['(', ',']).next().unwrap_or(target).trim();
                strip_inline(shown, out);
            } else {
                strip_inline(label, out);
            }
        }
    }
}

fn is_url_start(s: &[u8], i: usize) -> bool {
    ["http://", "https://", "ftp://", "//", "mailto:", "news:"].iter().any(|p| starts_with_ci(s, i, p.as_bytes()))
}

/// End of a bare URL starting at `i`.
fn url_end(s: &[u8], i: usize) -> usize {
    let mut j = i;
    while j < s.len() && !matches!(s[j], b' ' | b'\n' | b'\t' | b'<' | b'[' | b']' | b'|' | b'{' | b'}' | b'"') {
        j += 1;
    }
    j
}

/// Parses a tag at `i` (`s[i] == b'<'`): (lower-cased name, closing?, self-closing?, end of tag).
fn parse_tag(s: &[u8], i: usize) -> Option<(String, bool, bool, usize)> {
    let mut j = i + 1;
    let closing = s.get(j) == Some(&b'/');
    if closing {
        j += 1;
    }
    let name_start = j;
    while j < s.len() && (s[j].is_ascii_alphanumeric() || s[j] == b'_') {
        j += 1;
    }
    if j == name_start || !s[name_start].is_ascii_alphabetic() {
        return None;
    }
    if j < s.len() && !matches!(s[j], b' ' | b'\t' | b'\n' | b'/' | b'>') {
        return None;
    }
    let name = String::from_utf8_lossy(&s[name_start..j]).to_ascii_lowercase();
    // The end of the tag, never crossing a paragraph.
    let end = memchr::memchr(b'>', &s[j..]).map(|e| e + j)?;
    if s[j..end].contains(&b'<') || memchr::memmem::find(&s[j..end], b"\n\n").is_some() {
        return None;
    }
    let self_closing = end > 0 && s[end - 1] == b'/';
    Some((name, closing, self_closing, end + 1))
}

/// HTML tags whose boundaries separate text (become a line break or a space).
fn tag_separator(name: &str) -> Option<char> {
    match name {
        "br" | "p" | "div" | "li" | "ul" | "ol" | "dl" | "dd" | "dt" | "tr" | "td" | "th" | "table" | "blockquote"
        | "center" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "hr" | "poem" | "pre" => Some('\n'),
        _ => None,
    }
}

/// Decodes the `;`-terminated character reference at `i` (`s[i] == b'&'`), as MediaWiki does:
/// (text, end). Its spaces, zero-width characters and curly quotes take their plain forms, so the
/// words counted are the ones people type.
fn entity(s: &str, i: usize) -> Option<(String, usize)> {
    let (value, used) = wit_html::terminated_reference(&s[i + 1..])?;
    let plain = value
        .chars()
        .filter_map(|c| match c {
            '\u{a0}' | '\u{2002}' | '\u{2003}' | '\u{2007}' | '\u{2008}' | '\u{2009}' | '\u{200a}' => Some(' '),
            '\u{ad}' | '\u{200b}' | '\u{200c}' | '\u{200d}' | '\u{200e}' | '\u{200f}' => None,
            '\u{2018}' | '\u{2019}' | '\u{2032}' => Some('\''),
            '\u{201c}' | '\u{201d}' | '\u{201e}' | '\u{2033}' => Some('"'),
            c => Some(c),
        })
        .collect();
    Some((plain, i + 1 + used))
}

/// One pass over the text: everything that can span lines or nest.
fn strip_inline(text: &str, out: &mut String) {
    let s = text.as_bytes();
    let mut i = 0;
    let mut copied = 0; // s[copied..i] is plain text still to be copied
    macro_rules! flush {
        () => {
            out.push_str(&text[copied..i]);
        };
    }
    while i < s.len() {
        let c = s[i];
        if !matches!(c, b'{' | b'[' | b'<' | b'&' | b'\'' | b'_' | b'h' | b'H' | b'f' | b'F') {
            i += 1;
            continue;
        }
        match c {
            b'{' if matches!(s.get(i + 1), Some(b'{') | Some(b'|')) => {
                flush!();
                i = match skip_braced(s, i) {
                    Some(end) => end,
                    None => i + 2, // unclosed: drop the braces, keep the rest
                };
                copied = i;
            }
            b'[' if s.get(i + 1) == Some(&b'[') => {
                flush!();
                match skip_link(s, i) {
                    Some(end) => {
                        link_text(&text[i + 2..end - 2], out);
                        i = end;
                    }
                    None => i += 2,
                }
                copied = i;
            }
            b'[' if is_url_start(s, i + 1) => {
                flush!();
                let url_stop = url_end(s, i + 1);
                match memchr::memchr2(b']', b'\n', &s[url_stop..]).map(|e| e + url_stop) {
                    Some(close) if s[close] == b']' => {
                        strip_inline(text[url_stop..close].trim_start(), out);
                        i = close + 1;
                    }
                    _ => i = url_stop,
                }
                copied = i;
            }
            b'h' | b'H' | b'f' | b'F' if is_url_start(s, i) && (i == 0 || !s[i - 1].is_ascii_alphanumeric()) => {
                flush!();
                i = url_end(s, i);
                copied = i;
            }
            b'<' => {
                if s[i..].starts_with(b"<!--") {
                    flush!();
                    i = find_from(s, i + 4, b"-->").map_or(s.len(), |e| e + 3);
                    copied = i;
                    continue;
                }
                let Some((name, closing, self_closing, tag_end)) = parse_tag(s, i) else {
                    i += 1;
                    continue;
                };
                flush!();
                if !closing && !self_closing && DROPPED_TAGS.contains(&name.as_str()) {
                    let close = format!("</{name}");
                    let found =
                        if name == "ref" { find_ref_close(s, tag_end) } else { find_ci(s, tag_end, close.as_bytes()) };
                    i = match found {
                        Some(at) => memchr::memchr(b'>', &s[at..]).map_or(s.len(), |e| at + e + 1),
                        None => tag_end,
                    };
                } else {
                    if let Some(sep) = tag_separator(&name) {
                        out.push(sep);
                    }
                    i = tag_end;
                }
                copied = i;
            }
            b'&' => {
                if let Some((decoded, end)) = entity(text, i) {
                    flush!();
                    out.push_str(&decoded);
                    i = end;
                    copied = i;
                } else {
                    i += 1;
                }
            }
            b'\'' if s.get(i + 1) == Some(&b'\'') => {
                flush!();
                while i < s.len() && s[i] == b'\'' {
                    i += 1;
                }
                copied = i;
            }
            b'_' if s[i..].starts_with(b"__") => {
                // Magic words: __NOTOC__, __TOC__, …
                let name_end = s[i + 2..].iter().position(|b| !b.is_ascii_uppercase()).map_or(s.len(), |p| p + i + 2);
                if name_end > i + 2 && s[name_end..].starts_with(b"__") {
                    flush!();
                    i = name_end + 2;
                    copied = i;
                } else {
                    i += 2;
                }
            }
            _ => i += 1,
        }
    }
    i = s.len();
    flush!();
}

/// Line-level markup: headings, list and indent markers, rules, leftover table rows.
fn clean_line(line: &str) -> String {
    let mut t = line.trim();
    if t.starts_with("----") {
        return String::new();
    }
    if t.starts_with('|') || t.starts_with('!') || t.starts_with("{|") {
        return String::new();
    }
    if t.len() >= 2 && t.starts_with('=') && t.ends_with('=') {
        t = t.trim_matches('=').trim();
    }
    let t = t.trim_start_matches(['*', '#', ':', ';']).trim();
    let mut cleaned = String::with_capacity(t.len());
    let mut last_space = false;
    for ch in t.chars() {
        let space = ch.is_whitespace();
        if space && last_space {
            continue;
        }
        cleaned.push(if space { ' ' } else { ch });
        last_space = space;
    }
    cleaned
}

#[cfg(test)]
mod tests {
    use super::to_plain_text as plain;

    #[test]
    fn templates_nested_and_unclosed() {
        assert_eq!(plain("a {{b|{{c}}|d={{e|f}}}} g"), "a g\n");
        assert_eq!(plain("{{Infobox\n| name = x\n| size = {{convert|1|m}}\n}}\nText."), "Text.\n");
        assert_eq!(plain("x {{{1|default}}} y"), "x y\n");
        assert_eq!(plain("broken {{ template"), "broken template\n");
        assert_eq!(plain("{{a|b|}}c"), "c\n");
    }

    #[test]
    fn refs_comments_and_math() {
        assert_eq!(plain("Fact.<ref name=\"a\">{{cite|x}} Source</ref> More.<ref name=b /> End"), "Fact. More. End\n");
        assert_eq!(plain("a <!-- hidden\ncomment --> b"), "a b\n");
        assert_eq!(plain("Energy <math>E = mc^2</math> is <REF>x</REF>mass."), "Energy is mass.\n");
        assert_eq!(plain("<references/>\nDone"), "Done\n");
        // A stray closing tag inside a citation template (as in the enwiki excerpt).
        assert_eq!(plain("a<ref>{{Cite web|title = x</ref name=\"n\"> y|url = z}}</ref> b"), "a b\n");
    }

    #[test]
    fn tables_go_with_templates_inside() {
        let t = "Before\n{| class=\"wikitable\"\n|-\n! H1 !! H2\n|-\n| a || {{flag|b|}}\n|}\nAfter";
        assert_eq!(plain(t), "Before\nAfter\n");
    }

    #[test]
    fn links_labels_categories_and_interwiki() {
        assert_eq!(plain("[[Dog]]s and [[Felis catus|cats]]"), "Dogs and cats\n");
        assert_eq!(plain("x [[Category:Animals]] [[de:Hund]] [[zh-min-nan:Káu]] y"), "x y\n");
        assert_eq!(plain("[[Paris, France|]] [[:Category:Dogs]]"), "Paris Category:Dogs\n");
        assert_eq!(plain("[[wikt:dog|dog]] ok"), "ok\n");
    }

    #[test]
    fn file_links_keep_their_caption() {
        let t = "Intro [[File:Dog.jpg|thumb|220px|left|alt=A dog|A [[dog]] in ''snow'']] outro";
        assert_eq!(plain(t), "Intro\nA dog in snow\noutro\n");
        assert_eq!(plain("[[Image:X.png|thumb]]Text"), "Text\n");
    }

    #[test]
    fn external_links_and_bare_urls() {
        assert_eq!(plain("See [http://example.com/x The Site] now"), "See The Site now\n");
        assert_eq!(plain("See [https://example.com] and http://x.org/a?b=c here"), "See and here\n");
    }

    #[test]
    fn quotes_headings_lists_and_tags() {
        assert_eq!(plain("'''Bold''' and ''italic'' and '''''both''''' don't"), "Bold and italic and both don't\n");
        assert_eq!(
            plain("== History ==\nText\n=== Early ===\n* one\n# two\n: three\n;term"),
            "History\nText\nEarly\none\ntwo\nthree\nterm\n"
        );
        assert_eq!(plain("a<br/>b <small>c</small> <span style=\"x\">d</span> 1 < 2"), "a\nb c d 1 < 2\n");
        assert_eq!(plain("----\n__NOTOC__Text"), "Text\n");
    }

    #[test]
    fn entities() {
        assert_eq!(plain("a&nbsp;b &amp; c&ndash;d &#233; &#x41; &unknown; AT&T"), "a b & c–d é A &unknown; AT&T\n");
        // The whole WHATWG table; spaces, zero-width characters and curly quotes in plain form.
        assert_eq!(
            plain("&alpha;&Omega; don&rsquo;t &ldquo;x&rdquo; a&shy;b&ZeroWidthSpace;c &amp x"),
            "αΩ don't \"x\" abc &amp x\n"
        );
    }
}
