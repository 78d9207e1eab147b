//! wit-html: HTML character references and escaping, done one way for all of wit.
//!
//! One table — the WHATWG / HTML5 list of 2,231 named references (`htmlize`'s copy of the standard's
//! `entities.json`, the same list as Python's `html.entities.html5`) — and one scanner, read in the
//! places that need text out of markup:
//!
//! - [`unescape`]: references in text, as Python's `html.unescape` decodes them (the HTML standard's
//!   rules for text content: legacy names such as `&amp` or `&eacute` decode without `;`, the longest
//!   known name wins, so `&notit;` is `¬it;`). The trainer's caption cleaning (open_clip's).
//! - [`unescape_attribute`]: references in an attribute value (image alt text, `href`): as above, but
//!   a legacy name without `;` followed by `=` or a letter or digit stays as written, as browsers do
//!   (`?a=1&copy=2` keeps its `&copy`). Harvest.
//! - [`terminated_reference`]: one reference that must end in `;` (`&name;`, `&#N;`, `&#xH;`), as
//!   MediaWiki decodes them in wikitext. The query dictionary.
//! - [`ftfy_unescape`]: ftfy's `unescape_html` (only `;`-terminated references, plus upper-case
//!   spellings of lower-case names), the second cleaning pass of open_clip's tokenizer.
//! - [`escape`]: text made safe inside HTML element content and quoted attributes (the report, the
//!   demo web's pages).
//!
//! Numeric references follow Python (and, but for one case, the standard): Windows-1252 for
//! 0x80–0x9F, U+FFFD for 0, surrogates and anything above U+10FFFF, `\r` for 0x0D, nothing for other
//! control characters and non-characters (the standard keeps those; Python drops them).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

/// `text` safe inside HTML element content and quoted attribute values. NUL becomes U+FFFD.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// References decoded in text content: Python's `html.unescape`.
pub fn unescape(text: &str) -> Cow<'_, str> {
    decode_all(text, Place::Text)
}

/// References decoded in an attribute value: a legacy name without `;` followed by `=` or an ASCII
/// letter or digit stays as written.
pub fn unescape_attribute(text: &str) -> Cow<'_, str> {
    decode_all(text, Place::Attribute)
}

/// The `;`-terminated reference at the start of `after_amp` (the text just after a `&`): its value
/// and the bytes it used (`;` included). None where there is no such reference: the `&` stays.
pub fn terminated_reference(after_amp: &str) -> Option<(Cow<'static, str>, usize)> {
    let (value, used, terminated) = reference(after_amp)?;
    terminated.then_some((value, used))
}

#[derive(Clone, Copy, PartialEq)]
enum Place {
    Text,
    Attribute,
}

fn decode_all(text: &str, place: Place) -> Cow<'_, str> {
    if !text.contains('&') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        match reference(after) {
            Some((value, used, terminated))
                if terminated
                    || place == Place::Text
                    || !after[used..].starts_with(|c: char| c == '=' || c.is_ascii_alphanumeric()) =>
            {
                out.push_str(&value);
                rest = &after[used..];
            }
            _ => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// The reference at the start of `after_amp`: its value, the bytes it used, and whether it ended in
/// `;`. Python's `&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)` and its replacement rules.
fn reference(after_amp: &str) -> Option<(Cow<'static, str>, usize, bool)> {
    if let Some(number) = after_amp.strip_prefix('#') {
        let (digits, radix, prefix) = match number.strip_prefix(['x', 'X']) {
            Some(hex) => (hex.bytes().take_while(u8::is_ascii_hexdigit).count(), 16, 2),
            None => (number.bytes().take_while(u8::is_ascii_digit).count(), 10, 1),
        };
        if digits == 0 {
            return None;
        }
        let body = &after_amp[prefix..prefix + digits];
        let terminated = after_amp[prefix + digits..].starts_with(';');
        // Python's int() has no limit: anything too large for u32 is above U+10FFFF.
        let code = u32::from_str_radix(body, radix).unwrap_or(u32::MAX);
        return Some((numeric(code), prefix + digits + usize::from(terminated), terminated));
    }
    // `[^\t\n\f <&#;]{1,32};?`: up to 32 characters, then an optional `;`.
    let mut end = 0;
    for (count, (i, c)) in after_amp.char_indices().enumerate() {
        if count == 32 || matches!(c, '\t' | '\n' | '\x0c' | ' ' | '<' | '&' | '#' | ';') {
            break;
        }
        end = i + c.len_utf8();
    }
    if end == 0 {
        return None;
    }
    let terminated = after_amp[end..].starts_with(';');
    let used = end + usize::from(terminated);
    if let Some(value) = named(&after_amp[..used]) {
        return Some((Cow::Borrowed(value), used, terminated));
    }
    // The longest legacy name (no `;`, at least 2 characters) the text starts with; the rest stays.
    let ascii = after_amp[..end].bytes().take_while(u8::is_ascii_alphanumeric).count();
    let longest = ascii.min(htmlize::BARE_ENTITY_MAX_LENGTH).min(used - 1);
    (2..=longest).rev().find_map(|cut| named(&after_amp[..cut]).map(|value| (Cow::Borrowed(value), cut, false)))
}

/// The value of the named reference `name` (without its `&`; `"amp;"` or the legacy `"amp"`).
fn named(name: &str) -> Option<&'static str> {
    if name.len() + 1 > htmlize::ENTITY_MAX_LENGTH {
        return None;
    }
    let mut key = [0u8; 64];
    key[0] = b'&';
    key[1..=name.len()].copy_from_slice(name.as_bytes());
    let value = htmlize::ENTITIES.get(&key[..=name.len()])?;
    std::str::from_utf8(value).ok()
}

/// Python's replacement for numeric reference `code`.
fn numeric(code: u32) -> Cow<'static, str> {
    const WINDOWS_1252: [u32; 32] = [
        0x20ac, 0x81, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8d,
        0x017d, 0x8f, 0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a,
        0x0153, 0x9d, 0x017e, 0x0178,
    ];
    let replacement = '\u{fffd}';
    let c = match code {
        0 => replacement,
        0x0d => '\r',
        0x80..=0x9f => char::from_u32(WINDOWS_1252[(code - 0x80) as usize]).unwrap_or(replacement),
        0xd800..=0xdfff => replacement,
        c if c > 0x10ffff => replacement,
        0x01..=0x08 | 0x0b | 0x0e..=0x1f | 0x7f | 0xfdd0..=0xfdef => return Cow::Borrowed(""),
        c if c & 0xfffe == 0xfffe => return Cow::Borrowed(""),
        c => char::from_u32(c).unwrap_or(replacement),
    };
    Cow::Owned(c.to_string())
}

/// ftfy's table: `&name;` for every name ending in `;`, plus `&NAME;` → upper-cased value for
/// lower-case names whose upper-case spelling Python leaves alone.
fn ftfy_entities() -> &'static HashMap<String, String> {
    static TABLE: OnceLock<HashMap<String, String>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = HashMap::new();
        for (name, value) in htmlize::ENTITIES.entries() {
            let (Ok(name), Ok(value)) = (std::str::from_utf8(name), std::str::from_utf8(value)) else { continue };
            if !name.ends_with(';') {
                continue;
            }
            table.insert(name.to_owned(), value.to_owned());
            if name == name.to_lowercase() {
                let upper = name.to_uppercase();
                if unescape(&upper) == upper {
                    table.insert(upper, value.to_uppercase());
                }
            }
        }
        table
    })
}

/// ftfy's `unescape_html`: `&#?[0-9A-Za-z]{1,24};` references that its table knows, and numeric
/// ones that Python decodes whole.
pub fn ftfy_unescape(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let table = ftfy_entities();
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let candidate = &rest[at..];
        let hash = usize::from(candidate[1..].starts_with('#'));
        let alnum = candidate[1 + hash..].bytes().take_while(u8::is_ascii_alphanumeric).count();
        let end = 1 + hash + alnum;
        if (1..=24).contains(&alnum) && candidate[end..].starts_with(';') {
            let reference = &candidate[..=end];
            let decoded = if let Some(value) = table.get(reference) {
                value.clone()
            } else if hash == 1 {
                let unescaped = unescape(reference);
                if unescaped.contains(';') {
                    reference.to_owned()
                } else {
                    unescaped.into_owned()
                }
            } else {
                reference.to_owned()
            };
            out.push_str(&decoded);
            rest = &candidate[end + 1..];
        } else {
            out.push('&');
            rest = &candidate[1..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests;
