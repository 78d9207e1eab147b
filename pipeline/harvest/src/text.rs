//! Text cleaning: what turns a raw alt / title / caption into a candidate text, or says why not.
//!
//! [`clean_text`] decodes HTML entities, collapses whitespace (control characters included), then
//! drops texts that are empty, outside the length bounds (in characters), or look like a file name
//! (`IMG_2034.jpg`, `DSC0001`, `photo-1.png`, a bare hash). Every drop has a [`DropReason`] whose
//! [`DropReason::name`] is the key stages count it under.

use std::borrow::Cow;

/// Length bounds of a kept text, in Unicode scalar values, after cleaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct TextRules {
    pub min_chars: usize,
    pub max_chars: usize,
}

impl Default for TextRules {
    fn default() -> Self {
        TextRules { min_chars: 3, max_chars: 1000 }
    }
}

/// Why a text was not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    Empty,
    TooShort,
    TooLong,
    FileName,
}

impl DropReason {
    /// The stats key: `text_empty`, `text_too_short`, `text_too_long`, `text_file_name`.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::Empty => "text_empty",
            DropReason::TooShort => "text_too_short",
            DropReason::TooLong => "text_too_long",
            DropReason::FileName => "text_file_name",
        }
    }
}

/// The cleaned text, or why it is dropped. See the module docs for the rules.
pub fn clean_text(raw: &str, rules: &TextRules) -> Result<String, DropReason> {
    let decoded = decode_entities(raw);
    let text = collapse_whitespace(&decoded);
    if text.is_empty() {
        return Err(DropReason::Empty);
    }
    let chars = text.chars().count();
    if chars < rules.min_chars {
        return Err(DropReason::TooShort);
    }
    if chars > rules.max_chars {
        return Err(DropReason::TooLong);
    }
    if looks_like_file_name(&text) {
        return Err(DropReason::FileName);
    }
    Ok(text)
}

/// Collapses every run of whitespace and control characters into one space and trims the ends.
pub fn collapse_whitespace(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.chars() {
        if c.is_whitespace() || c.is_control() || c == '\u{200b}' || c == '\u{feff}' {
            pending_space = !out.is_empty();
        } else {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(c);
        }
    }
    out
}

const FILE_EXTENSIONS: &[&str] = &[
    "jpg", "jpeg", "jpe", "png", "gif", "webp", "bmp", "tif", "tiff", "svg", "avif", "heic", "heif", "ico", "jfif",
    "raw", "cr2", "nef", "dng", "pdf", "mp4", "mov", "php", "html", "htm", "aspx",
];

/// Whether `text` (already cleaned) is a file name rather than a description: it ends in a file
/// extension and has at most three words, or it is one token of a letter prefix and digits
/// (`IMG_2034`, `DSC0001`, `PXL_20210101_123456`), or a long hex / UUID-like token.
pub fn looks_like_file_name(text: &str) -> bool {
    let words = text.split(' ').count();
    if words <= 3 {
        if let Some((stem, ext)) = text.rsplit_once('.') {
            if !stem.is_empty() && FILE_EXTENSIONS.iter().any(|e| ext.eq_ignore_ascii_case(e)) {
                return true;
            }
        }
    }
    if words != 1 {
        return false;
    }
    let digits = text.bytes().filter(u8::is_ascii_digit).count();
    // A camera / generated name: letters, then digits with separators.
    let prefix = text.bytes().take_while(u8::is_ascii_alphabetic).count();
    let rest = &text[prefix..];
    if prefix <= 8
        && digits >= 3
        && !rest.is_empty()
        && rest.bytes().all(|b| b.is_ascii_digit() || b == b'_' || b == b'-')
        && rest.bytes().any(|b| b.is_ascii_digit())
    {
        return true;
    }
    // A hash or UUID.
    text.len() >= 16 && digits >= 4 && text.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

/// Decodes HTML character references: numeric (`&#233;`, `&#xE9;`) and the common named ones
/// (`&amp;`, `&nbsp;`, `&eacute;` …). Unknown names are kept as written.
pub fn decode_entities(text: &str) -> Cow<'_, str> {
    if !text.contains('&') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        match decode_one(rest) {
            Some((value, len)) => {
                match value {
                    Decoded::Char(c) => out.push(c),
                    Decoded::Str(s) => out.push_str(s),
                }
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

enum Decoded {
    Char(char),
    Str(&'static str),
}

/// One reference at the start of `s` (which starts with `&`): its value and its length.
fn decode_one(s: &str) -> Option<(Decoded, usize)> {
    let body = &s[1..];
    if let Some(num) = body.strip_prefix('#') {
        let (digits, radix, skip) = match num.strip_prefix(['x', 'X']) {
            Some(hex) => (hex, 16, 3),
            None => (num, 10, 2),
        };
        let len = digits.bytes().take_while(|b| (*b as char).is_digit(radix)).count();
        if len == 0 || len > 8 {
            return None;
        }
        let value = u32::from_str_radix(&digits[..len], radix).ok()?;
        let c = match value {
            0 => '\u{fffd}',
            // Windows-1252 code points that pages write as numeric references.
            0x80..=0x9f => cp1252(value).unwrap_or('\u{fffd}'),
            _ => char::from_u32(value).unwrap_or('\u{fffd}'),
        };
        let semicolon = digits[len..].starts_with(';') as usize;
        return Some((Decoded::Char(c), skip + len + semicolon));
    }
    let len = body.bytes().take_while(u8::is_ascii_alphanumeric).count();
    if len == 0 || len > 10 {
        return None;
    }
    let name = &body[..len];
    let value = named_entity(name)?;
    let semicolon = body[len..].starts_with(';');
    // Without a semicolon only the legacy few are references (as browsers do).
    if !semicolon && !matches!(name, "amp" | "lt" | "gt" | "quot" | "nbsp" | "copy" | "reg") {
        return None;
    }
    Some((Decoded::Str(value), 1 + len + semicolon as usize))
}

fn cp1252(value: u32) -> Option<char> {
    const TABLE: [u16; 32] = [
        0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017D,
        0, 0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,
        0x017E, 0x0178,
    ];
    let mapped = *TABLE.get((value - 0x80) as usize)?;
    (mapped != 0).then(|| char::from_u32(mapped as u32)).flatten()
}

fn named_entity(name: &str) -> Option<&'static str> {
    Some(match name {
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        "nbsp" => "\u{a0}",
        "copy" => "©",
        "reg" => "®",
        "trade" => "™",
        "hellip" => "…",
        "mdash" => "—",
        "ndash" => "–",
        "lsquo" => "‘",
        "rsquo" => "’",
        "sbquo" => "‚",
        "ldquo" => "“",
        "rdquo" => "”",
        "bdquo" => "„",
        "laquo" => "«",
        "raquo" => "»",
        "bull" => "•",
        "middot" => "·",
        "deg" => "°",
        "times" => "×",
        "divide" => "÷",
        "plusmn" => "±",
        "frac12" => "½",
        "frac14" => "¼",
        "frac34" => "¾",
        "euro" => "€",
        "pound" => "£",
        "yen" => "¥",
        "cent" => "¢",
        "sect" => "§",
        "para" => "¶",
        "iexcl" => "¡",
        "iquest" => "¿",
        "shy" => "\u{ad}",
        "ensp" => "\u{2002}",
        "emsp" => "\u{2003}",
        "thinsp" => "\u{2009}",
        "zwj" => "\u{200d}",
        "zwnj" => "\u{200c}",
        "Agrave" => "À",
        "Aacute" => "Á",
        "Acirc" => "Â",
        "Atilde" => "Ã",
        "Auml" => "Ä",
        "Aring" => "Å",
        "AElig" => "Æ",
        "Ccedil" => "Ç",
        "Egrave" => "È",
        "Eacute" => "É",
        "Ecirc" => "Ê",
        "Euml" => "Ë",
        "Igrave" => "Ì",
        "Iacute" => "Í",
        "Icirc" => "Î",
        "Iuml" => "Ï",
        "Ntilde" => "Ñ",
        "Ograve" => "Ò",
        "Oacute" => "Ó",
        "Ocirc" => "Ô",
        "Otilde" => "Õ",
        "Ouml" => "Ö",
        "Oslash" => "Ø",
        "Ugrave" => "Ù",
        "Uacute" => "Ú",
        "Ucirc" => "Û",
        "Uuml" => "Ü",
        "Yacute" => "Ý",
        "szlig" => "ß",
        "agrave" => "à",
        "aacute" => "á",
        "acirc" => "â",
        "atilde" => "ã",
        "auml" => "ä",
        "aring" => "å",
        "aelig" => "æ",
        "ccedil" => "ç",
        "egrave" => "è",
        "eacute" => "é",
        "ecirc" => "ê",
        "euml" => "ë",
        "igrave" => "ì",
        "iacute" => "í",
        "icirc" => "î",
        "iuml" => "ï",
        "ntilde" => "ñ",
        "ograve" => "ò",
        "oacute" => "ó",
        "ocirc" => "ô",
        "otilde" => "õ",
        "ouml" => "ö",
        "oslash" => "ø",
        "ugrave" => "ù",
        "uacute" => "ú",
        "ucirc" => "û",
        "uuml" => "ü",
        "yacute" => "ý",
        "yuml" => "ÿ",
        "OElig" => "Œ",
        "oelig" => "œ",
        "Scaron" => "Š",
        "scaron" => "š",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_decode_numeric_named_and_leave_unknown_ones() {
        assert_eq!(decode_entities("Tom &amp; Jerry"), "Tom & Jerry");
        assert_eq!(decode_entities("caf&eacute; &#233;&#xE9;&#XE9"), "café ééé");
        assert_eq!(decode_entities("&#150; &#0; &foo; & x &amp"), "– \u{fffd} &foo; & x &");
        assert_eq!(decode_entities("a&amp b"), "a& b");
        assert_eq!(decode_entities("&eacutex"), "&eacutex");
        assert_eq!(decode_entities("&#99999999999;"), "&#99999999999;");
    }

    #[test]
    fn whitespace_and_controls_collapse_to_single_spaces() {
        assert_eq!(collapse_whitespace("  a\t\n b\u{a0}\u{0}c  "), "a b c");
        assert_eq!(collapse_whitespace("\n\t "), "");
    }

    #[test]
    fn cleaning_keeps_descriptions_and_names_each_drop() {
        let rules = TextRules { min_chars: 3, max_chars: 20 };
        assert_eq!(clean_text(" A&nbsp;red\n\tfox ", &rules), Ok("A red fox".into()));
        assert_eq!(clean_text(" &nbsp; ", &rules), Err(DropReason::Empty));
        assert_eq!(clean_text("ok", &rules), Err(DropReason::TooShort));
        assert_eq!(clean_text("a very long text indeed, too long", &rules), Err(DropReason::TooLong));
        for name in ["IMG_2034.jpg", "IMG_2034", "DSC0001", "photo-1.PNG", "my cat.jpeg", "PXL_20210101_123456"] {
            assert_eq!(clean_text(name, &rules), Err(DropReason::FileName), "{name}");
        }
        for kept in ["Route 66", "A4 paper", "Windows 95", "B-52", "see page 2.html now and later"] {
            assert!(clean_text(kept, &TextRules::default()).is_ok(), "{kept}");
        }
        assert_eq!(clean_text("d41d8cd98f00b204e9800998ecf8427e", &TextRules::default()), Err(DropReason::FileName));
    }
}
