//! Text cleaning: what turns a raw alt / title / caption into a candidate text, or says why not.
//!
//! [`clean_text`] decodes HTML character references as an attribute value holds them
//! ([`wit_html::unescape_attribute`]), collapses whitespace (control characters included), then
//! drops texts that are empty, outside the length bounds (in characters), or look like a file name
//! (`IMG_2034.jpg`, `DSC0001`, `photo-1.png`, a bare hash). Every drop has a [`DropReason`] whose
//! [`DropReason::name`] is the key stages count it under.

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
    let decoded = wit_html::unescape_attribute(raw);
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

#[cfg(test)]
mod tests {
    use super::*;

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
