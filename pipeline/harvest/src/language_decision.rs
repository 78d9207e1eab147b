//! A pair's language, decided from the caption and from its page.
//!
//! whatlang on a short alt text is a guess ("Boot screen" comes out Dutch, "Documentation Site"
//! French); the page around it is long, and its language is known well. So harvest collects
//! [`PageEvidence`] for every page and decides each pair by [`LanguageRule::decide`]:
//!
//! 1. **caption**: the caption's own detection, when it is trustworthy — at least
//!    [`LanguageRule::trust_chars`] characters and whatlang confidence at least
//!    [`LanguageRule::trust_confidence`];
//! 2. **script**: else the caption's detection, when the caption is written in a script the page's
//!    language is not written in (a Cyrillic alt text on an English page is not English; a Latin
//!    one on a Russian page is not Russian);
//! 3. **page**: else the page's language ([`PageEvidence::language`]);
//! 4. **caption_only**: else (no page evidence: URL lists, pages without any) the caption's
//!    detection, however short — the behaviour before page evidence existed, and what
//!    [`DecisionMode::Caption`] always does.
//!
//! The page's language comes from, in this order: Common Crawl's `WARC-Identified-Content-Language`
//! (its language id on the whole page text; the first code of a list), whatlang on the page's
//! visible text when that text is long ([`LanguageRule::page_text_min_chars`]) and whatlang is
//! confident ([`LanguageRule::page_text_min_confidence`]), `<html lang>`, `<meta
//! http-equiv=content-language>`, and the HTTP `Content-Language` header. Detected evidence goes
//! before declared tags because templates often declare a language their text is not in.
//!
//! The decision's language and confidence fill `lang` / `lang_conf` (what `--lang` and
//! `--min-lang-conf` filter on); a declared page language has no confidence (null), so the
//! minimum confidence does not apply to it.

use whatlang::Lang;

use wit_contract::PairLanguage;

use crate::lang::{detect_language, parse_language, Detected, LangReject, LanguageFilter};

/// Where a pair's language came from (the `lang_source` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LangSource {
    Caption,
    Script,
    Page,
    CaptionOnly,
}

impl LangSource {
    pub const ALL: [LangSource; 4] =
        [LangSource::Caption, LangSource::Script, LangSource::Page, LangSource::CaptionOnly];

    pub fn name(self) -> &'static str {
        match self {
            LangSource::Caption => "caption",
            LangSource::Script => "script",
            LangSource::Page => "page",
            LangSource::CaptionOnly => "caption_only",
        }
    }
}

/// Whether page evidence is used at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionMode {
    /// The rule in the module docs.
    #[default]
    Page,
    /// The caption's detection alone (no page evidence is collected; cheaper, and much worse on
    /// short texts).
    Caption,
}

impl DecisionMode {
    pub fn name(self) -> &'static str {
        match self {
            DecisionMode::Page => "page",
            DecisionMode::Caption => "caption",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "page" => Some(DecisionMode::Page),
            "caption" => Some(DecisionMode::Caption),
            _ => None,
        }
    }
}

/// The configurable parts of the rule (defaults measured on real short texts: see the README's
/// language section and `tests/language_accuracy.rs`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LanguageRule {
    pub mode: DecisionMode,
    /// A caption's own detection is trusted from this many characters…
    pub trust_chars: usize,
    /// …with at least this whatlang confidence.
    pub trust_confidence: f32,
    /// Visible page text shorter than this (characters) does not decide the page's language.
    pub page_text_min_chars: usize,
    pub page_text_min_confidence: f32,
    /// Bytes of visible text read from each page (WARC, crawler).
    pub page_text_bytes: usize,
}

impl Default for LanguageRule {
    fn default() -> Self {
        LanguageRule {
            mode: DecisionMode::Page,
            trust_chars: 40,
            trust_confidence: 0.5,
            page_text_min_chars: 200,
            page_text_min_confidence: 0.5,
            page_text_bytes: 32768,
        }
    }
}

/// Everything a page says about its language, as written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PageEvidence {
    /// `WARC-Identified-Content-Language` (WARC header or WAT envelope).
    pub identified: Option<String>,
    /// HTTP `Content-Language`.
    pub content_language: Option<String>,
    /// `<html lang>`.
    pub html_lang: Option<String>,
    /// `<meta http-equiv=content-language>`.
    pub meta_language: Option<String>,
    /// The start of the visible text (WARC, crawler).
    pub text: String,
}

/// A page's language and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct PageLanguage {
    /// ISO 639-3 as whatlang names it where whatlang knows the language, else the tag's primary
    /// subtag, lower case.
    pub code: String,
    /// `identified`, `text`, `html_lang`, `meta` or `content_language`.
    pub from: &'static str,
    /// whatlang's confidence when the language came from the page text.
    pub confidence: Option<f32>,
}

impl PageEvidence {
    /// The page's language by the order in the module docs, if any evidence names one.
    pub fn language(&self, rule: &LanguageRule) -> Option<PageLanguage> {
        let declared = |tag: &Option<String>, from| {
            tag.as_deref().and_then(normalize_tag).map(|code| PageLanguage { code, from, confidence: None })
        };
        if let Some(found) = declared(&self.identified, "identified") {
            return Some(found);
        }
        if self.text.chars().count() >= rule.page_text_min_chars {
            if let Some(d) = detect_language(&self.text) {
                if d.confidence >= rule.page_text_min_confidence {
                    return Some(PageLanguage {
                        code: d.code.to_owned(),
                        from: "text",
                        confidence: Some(d.confidence),
                    });
                }
            }
        }
        declared(&self.html_lang, "html_lang")
            .or_else(|| declared(&self.meta_language, "meta"))
            .or_else(|| declared(&self.content_language, "content_language"))
    }
}

/// ISO 639-2/B and other codes Common Crawl or pages use for a language whatlang names otherwise.
const ALIASES: &[(&str, Lang)] = &[
    ("zho", Lang::Cmn),
    ("chi", Lang::Cmn),
    ("fas", Lang::Pes),
    ("per", Lang::Pes),
    ("nor", Lang::Nob),
    ("nno", Lang::Nob),
    ("ger", Lang::Deu),
    ("fre", Lang::Fra),
    ("dut", Lang::Nld),
    ("cze", Lang::Ces),
    ("gre", Lang::Ell),
    ("rum", Lang::Ron),
    ("slo", Lang::Slk),
    ("arm", Lang::Hye),
    ("geo", Lang::Kat),
    ("wel", Lang::Cym),
];

/// A language tag (`en-US`, `pt_BR`, `eng,fra`, `zh-Hans`, `ENG`) as a language code; None for
/// empty, undetermined (`und`, `mul`, `zxx`) or malformed tags.
pub fn normalize_tag(tag: &str) -> Option<String> {
    let first = tag.split([',', ';', ' ']).map(str::trim).find(|t| !t.is_empty())?;
    let primary = first.split(['-', '_']).next()?.to_ascii_lowercase();
    if !(2..=3).contains(&primary.len()) || !primary.bytes().all(|b| b.is_ascii_lowercase()) {
        return None;
    }
    if matches!(primary.as_str(), "und" | "mul" | "zxx" | "mis") {
        return None;
    }
    if let Some((_, lang)) = ALIASES.iter().find(|(code, _)| *code == primary) {
        return Some(lang.code().to_owned());
    }
    Some(parse_language(&primary).map(|l| l.code().to_owned()).unwrap_or(primary))
}

/// One pair's language decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The pair's language (None: undetected).
    pub lang: Option<String>,
    pub confidence: Option<f32>,
    pub source: LangSource,
    /// The caption's own detection.
    pub caption: Option<Detected>,
}

/// Whether `text`'s dominant script is one `page` is not written in.
fn script_rules_out(text: &str, page: &str) -> bool {
    let Some(page_lang) = Lang::from_code(page) else { return false };
    match whatlang::detect_script(text) {
        Some(script) => !script.langs().contains(&page_lang),
        None => false,
    }
}

impl LanguageRule {
    /// Decides `caption`'s language on a page whose language is `page` (see the module docs).
    pub fn decide(&self, caption: &str, page: Option<&PageLanguage>) -> Decision {
        let detected = detect_language(caption);
        let by_caption = |source| Decision {
            lang: detected.map(|d| d.code.to_owned()),
            confidence: detected.map(|d| d.confidence),
            source,
            caption: detected,
        };
        let page = match (self.mode, page) {
            (DecisionMode::Page, Some(page)) => page,
            _ => return by_caption(LangSource::CaptionOnly),
        };
        if let Some(d) = detected {
            if d.confidence >= self.trust_confidence && caption.chars().count() >= self.trust_chars {
                return by_caption(LangSource::Caption);
            }
        }
        if script_rules_out(caption, &page.code) {
            return by_caption(LangSource::Script);
        }
        Decision {
            lang: Some(page.code.clone()),
            confidence: page.confidence,
            source: LangSource::Page,
            caption: detected,
        }
    }
}

/// How many bytes of visible page text to read under `rule` (none in caption mode).
pub fn page_text_bytes(rule: &LanguageRule) -> usize {
    match rule.mode {
        DecisionMode::Page => rule.page_text_bytes,
        DecisionMode::Caption => 0,
    }
}

/// Adds `from`'s counts into `into`.
pub fn add_counts(into: &mut std::collections::BTreeMap<String, u64>, from: &std::collections::BTreeMap<String, u64>) {
    for (key, n) in from {
        *into.entry(key.clone()).or_default() += n;
    }
}

/// A pair the language filter left out: why, and the language it was decided to be.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    pub reason: LangReject,
    /// The decided language; `und` when there was none.
    pub lang: String,
}

/// Decides `caption`'s language and applies `filter` to the decision.
pub fn judge(
    rule: &LanguageRule,
    filter: &LanguageFilter,
    caption: &str,
    page: Option<&PageLanguage>,
) -> Result<Decision, Rejected> {
    let decision = rule.decide(caption, page);
    match filter.accept(decision.lang.as_deref(), decision.confidence) {
        Ok(()) => Ok(decision),
        Err(reason) => Err(Rejected { reason, lang: decision.lang.unwrap_or_else(|| "und".into()) }),
    }
}

impl Decision {
    /// The decision columns of the pair's row.
    pub fn columns(&self, page: Option<&PageLanguage>) -> PairLanguage {
        PairLanguage {
            page_lang: page.map(|p| p.code.clone()),
            lang_source: Some(self.source.name().to_owned()),
            caption_lang: self.caption.map(|d| d.code.to_owned()),
            caption_lang_conf: self.caption.map(|d| d.confidence),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(code: &str) -> PageLanguage {
        PageLanguage { code: code.into(), from: "html_lang", confidence: None }
    }

    #[test]
    fn tags_normalize_to_whatlang_codes() {
        for (tag, code) in [
            ("en-US", Some("eng")),
            ("EN", Some("eng")),
            ("eng,fra", Some("eng")),
            ("pt_BR", Some("por")),
            ("zh-Hans", Some("cmn")),
            ("zho", Some("cmn")),
            ("fas", Some("pes")),
            ("de, en", Some("deu")),
            ("sw", Some("sw")),
            ("und", None),
            ("", None),
            ("x-klingon", None),
            ("12", None),
        ] {
            assert_eq!(normalize_tag(tag).as_deref(), code, "{tag:?}");
        }
    }

    #[test]
    fn page_language_prefers_identified_then_long_text_then_tags() {
        let rule = LanguageRule::default();
        let text = "The Debian project is an association of individuals who have made common cause to create \
                    a free operating system. This operating system is called Debian, and it comes with thousands \
                    of packages of software that are easy to install and keep up to date.";
        let mut evidence = PageEvidence {
            identified: Some("fra".into()),
            content_language: Some("de".into()),
            html_lang: Some("nl".into()),
            meta_language: Some("it".into()),
            text: text.into(),
        };
        let found = |e: &PageEvidence| e.language(&rule).map(|p| (p.code, p.from));
        assert_eq!(found(&evidence), Some(("fra".into(), "identified")));
        evidence.identified = None;
        assert_eq!(found(&evidence), Some(("eng".into(), "text")));
        evidence.text = "Kurz".into();
        assert_eq!(found(&evidence), Some(("nld".into(), "html_lang")));
        evidence.html_lang = None;
        assert_eq!(found(&evidence), Some(("ita".into(), "meta")));
        evidence.meta_language = None;
        assert_eq!(found(&evidence), Some(("deu".into(), "content_language")));
        assert_eq!(PageEvidence::default().language(&rule), None);
    }

    #[test]
    fn short_captions_take_the_page_language_unless_their_script_rules_it_out() {
        let rule = LanguageRule::default();
        let english = page("eng");
        // Short English texts whatlang alone reads as other languages (from the issue).
        for text in ["Product Site", "Documentation Site", "Webmin dashboard", "Boot screen"] {
            let d = rule.decide(text, Some(&english));
            assert_eq!((d.lang.as_deref(), d.source), (Some("eng"), LangSource::Page), "{text}");
            assert_ne!(d.caption.map(|c| c.code), Some("eng"), "{text}: whatlang alone would be right");
        }
        let russian = rule.decide("Выбор зеркала Debian", Some(&english));
        assert_eq!((russian.lang.as_deref(), russian.source), (Some("rus"), LangSource::Script));
        let latin_on_russian = rule.decide("Boot screen", Some(&page("rus")));
        assert_eq!(latin_on_russian.source, LangSource::Script);
        let long = "Ein schwarzer Hund läuft am frühen Morgen über eine große grüne Wiese am Fluss";
        let d = rule.decide(long, Some(&english));
        assert_eq!((d.lang.as_deref(), d.source), (Some("deu"), LangSource::Caption));
        let alone = rule.decide("Boot screen", None);
        assert_eq!(alone.source, LangSource::CaptionOnly);
        let caption_mode = LanguageRule { mode: DecisionMode::Caption, ..rule };
        assert_eq!(caption_mode.decide("Boot screen", Some(&english)).source, LangSource::CaptionOnly);
    }
}
