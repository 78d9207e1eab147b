//! HTML character references decoded as open_clip's text cleaning decodes them: Python's
//! `html.unescape` and ftfy's `unescape_html`, both over the full WHATWG / HTML5 table of 2,231
//! named references (the `htmlize` crate's table, which is the standard's `entities.json`).
//!
//! - [`python_unescape`] is `html.unescape`: named references with or without `;` (the longest
//!   known prefix of a name without `;` decodes, so `&notit;` → `¬it;`), decimal and hex numeric
//!   references with or without `;`, with Python's replacements (Windows-1252 for 0x80–0x9F,
//!   U+FFFD for 0, surrogates and > U+10FFFF; nothing for other control and non-characters).
//! - [`ftfy_unescape`] is ftfy's `unescape_html`: only references ending in `;`, plus upper-case
//!   spellings of lower-case names that Python would not decode (`&EACUTE;` → `É`).

use std::collections::HashMap;
use std::sync::OnceLock;

/// Python's `html.unescape`.
pub fn python_unescape(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        match python_reference(after) {
            Some((decoded, used)) => {
                out.push_str(&decoded);
                rest = &after[used..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The reference at the start of `text` (just after `&`): its replacement and the bytes it
/// used, as Python's `_charref` pattern and `_replace_charref` decide; None where the pattern
/// does not match (the `&` stays).
fn python_reference(text: &str) -> Option<(String, usize)> {
    if let Some(number) = text.strip_prefix('#') {
        let (digits, radix, prefix) = match number.strip_prefix(['x', 'X']) {
            Some(hex) => (hex.bytes().take_while(u8::is_ascii_hexdigit).count(), 16, 2),
            None => (number.bytes().take_while(u8::is_ascii_digit).count(), 10, 1),
        };
        if digits == 0 {
            return None;
        }
        let body = &text[prefix..prefix + digits];
        let semicolon = usize::from(text[prefix + digits..].starts_with(';'));
        // Python's int() has no limit: anything too large for u32 is above U+10FFFF.
        let code = u32::from_str_radix(body, radix).unwrap_or(u32::MAX);
        return Some((numeric(code), prefix + digits + semicolon));
    }
    // `[^\t\n\f <&#;]{1,32};?`: up to 32 characters, then an optional `;`.
    let mut end = 0;
    for (count, (i, c)) in text.char_indices().enumerate() {
        if count == 32 || matches!(c, '\t' | '\n' | '\x0c' | ' ' | '<' | '&' | '#' | ';') {
            break;
        }
        end = i + c.len_utf8();
    }
    if end == 0 {
        return None;
    }
    let used = end + usize::from(text[end..].starts_with(';'));
    let name = &text[..used];
    let table = entities();
    if let Some(value) = table.get(name) {
        return Some((value.clone(), used));
    }
    // The longest prefix (of at least 2 characters) that is a name, then the rest as it was.
    let bounds: Vec<usize> = name.char_indices().map(|(i, _)| i).skip(2).collect();
    for &cut in bounds.iter().rev() {
        if let Some(value) = table.get(&name[..cut]) {
            return Some((format!("{value}{}", &name[cut..]), used));
        }
    }
    Some((format!("&{name}"), used))
}

/// Python's replacement for numeric reference `code`.
fn numeric(code: u32) -> String {
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
        0x01..=0x08 | 0x0b | 0x0e..=0x1f | 0x7f | 0xfdd0..=0xfdef => return String::new(),
        c if c & 0xfffe == 0xfffe => return String::new(),
        c => char::from_u32(c).unwrap_or(replacement),
    };
    c.to_string()
}

/// Every named reference, without its `&` (`"amp;"`, and the legacy `"amp"`), as Python's
/// `html.entities.html5`.
fn entities() -> &'static HashMap<String, String> {
    static TABLE: OnceLock<HashMap<String, String>> = OnceLock::new();
    TABLE.get_or_init(|| {
        htmlize::ENTITIES
            .entries()
            .filter_map(|(name, value)| {
                let name = std::str::from_utf8(name).ok()?.strip_prefix('&')?;
                Some((name.to_owned(), std::str::from_utf8(value).ok()?.to_owned()))
            })
            .collect()
    })
}

/// ftfy's table: `&name;` for every name ending in `;`, plus `&NAME;` → upper-cased value for
/// lower-case names whose upper-case spelling Python leaves alone.
fn ftfy_entities() -> &'static HashMap<String, String> {
    static TABLE: OnceLock<HashMap<String, String>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = HashMap::new();
        for (name, value) in entities() {
            if !name.ends_with(';') {
                continue;
            }
            table.insert(format!("&{name}"), value.clone());
            if *name == name.to_lowercase() {
                let upper = format!("&{}", name.to_uppercase());
                if python_unescape(&upper) == upper {
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
                let unescaped = python_unescape(reference);
                if unescaped.contains(';') {
                    reference.to_owned()
                } else {
                    unescaped
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
mod tests {
    use super::*;

    #[test]
    fn python_unescape_cases() {
        let cases = [
            ("&amp;&lt;&gt;&quot;&#39;", "&<>\"'"),
            ("caf&eacute; &hellip; it&rsquo;s &Auml;", "café … it’s Ä"),
            ("&amp &copy 2020 &notit; &notin;", "& © 2020 ¬it; ∉"),
            ("&#233;&#xE9;&#XE9;&#233 x", "ééé\u{e9} x"),
            ("&#0;&#128;&#x9f;&#55296;&#1114112;&#99999999999999999999;", "\u{fffd}€Ÿ\u{fffd}\u{fffd}\u{fffd}"),
            ("a&#1;b&#x7f;c&#xfffe;d&#13;e", "abcd\re"),
            ("&bogus; & &; &# &#x; &#xg;", "&bogus; & &; &# &#x; &#xg;"),
            ("&NotNestedGreaterGreater;&nGt;", "⪢\u{338}≫\u{20d2}"),
            ("&AMP; &Amp;", "& &Amp;"),
        ];
        for (input, want) in cases {
            assert_eq!(python_unescape(input), want, "{input}");
        }
    }

    #[test]
    fn ftfy_unescape_cases() {
        assert_eq!(ftfy_unescape("P&EACUTE;REZ &ntilde; &Ntilde; &NTILDE; &nTILDE;"), "PÉREZ ñ Ñ Ñ &nTILDE;");
        assert_eq!(ftfy_unescape("BUNDESSTRA&SZLIG;E"), "BUNDESSTRASSE");
        assert_eq!(ftfy_unescape("this&not that &amp &amp; &#233; &#233"), "this&not that &amp & é &#233");
        assert_eq!(ftfy_unescape("&Jscr;ohn &HilbertSpace;ancock &checkmark;"), "𝒥ohn ℋancock ✓");
    }
}
