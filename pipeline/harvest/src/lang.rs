//! Language identification with whatlang: every kept text carries its language (ISO 639-3, as
//! whatlang names it) and whatlang's confidence, and a [`LanguageFilter`] keeps the texts whose
//! language is on an allow-list with at least a minimum confidence.
//!
//! whatlang's `is_reliable` flag is deliberately not used: on short alt texts it is rarely set, so
//! requiring it would drop most of the web. The confidence is a column; filter on it later if needed.

use whatlang::Lang;

/// whatlang's verdict on a text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detected {
    /// ISO 639-3 code (`eng`, `deu`, `cmn` …).
    pub code: &'static str,
    /// whatlang's confidence, 0–1.
    pub confidence: f32,
}

/// The languages detection chooses among: the widely written languages of the web. whatlang's
/// full set includes languages (Tagalog, Latin, Esperanto, Zulu, Shona, Akan…) whose trigram
/// profiles win on short English alt texts ("two red circles, simple drawing" comes out Latin),
/// which would drop good English captions; texts in those languages are rare on image pages.
#[rustfmt::skip]
const WEB_LANGUAGES: [Lang; 40] = [
    Lang::Eng, Lang::Rus, Lang::Cmn, Lang::Spa, Lang::Por, Lang::Ita, Lang::Fra, Lang::Deu,
    Lang::Ukr, Lang::Ara, Lang::Hin, Lang::Jpn, Lang::Heb, Lang::Pol, Lang::Kor, Lang::Nob,
    Lang::Dan, Lang::Swe, Lang::Fin, Lang::Tur, Lang::Nld, Lang::Hun, Lang::Ces, Lang::Ell,
    Lang::Bul, Lang::Ron, Lang::Vie, Lang::Tha, Lang::Ind, Lang::Pes, Lang::Ben, Lang::Cat,
    Lang::Hrv, Lang::Srp, Lang::Slk, Lang::Lit, Lang::Lav, Lang::Est, Lang::Slv, Lang::Urd,
];

static DETECTOR: std::sync::LazyLock<whatlang::Detector> =
    std::sync::LazyLock::new(|| whatlang::Detector::with_allowlist(WEB_LANGUAGES.to_vec()));

/// The language of `text` among [`WEB_LANGUAGES`], when whatlang detects one.
///
/// Detection dominated harvest's profile, and alt texts repeat a lot (logos, buttons, the same
/// figure on every page of a site): short texts are detected once per thread and remembered (the
/// verdict is a function of the text alone, so this changes no result).
pub fn detect_language(text: &str) -> Option<Detected> {
    if text.len() > MEMO_TEXT_BYTES {
        return detect_uncached(text);
    }
    MEMO.with(|memo| {
        let mut memo = memo.borrow_mut();
        if let Some(&known) = memo.get(text) {
            return known;
        }
        let detected = detect_uncached(text);
        if memo.len() >= MEMO_ENTRIES {
            memo.clear();
        }
        memo.insert(text.into(), detected);
        detected
    })
}

/// Texts up to this many bytes are remembered, at most this many per thread (then forgotten all).
const MEMO_TEXT_BYTES: usize = 256;
const MEMO_ENTRIES: usize = 1 << 16;

thread_local! {
    static MEMO: std::cell::RefCell<std::collections::HashMap<Box<str>, Option<Detected>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

fn detect_uncached(text: &str) -> Option<Detected> {
    DETECTOR.detect(text).map(|info| Detected { code: info.lang().code(), confidence: info.confidence() as f32 })
}

/// Why a text's language was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LangReject {
    /// whatlang found no language (too little text, or no letters).
    Undetected,
    /// Detected, but not on the allow-list.
    NotAllowed,
    /// On the allow-list, but below the minimum confidence.
    LowConfidence,
}

impl LangReject {
    /// The stats key: `lang_undetected`, `lang_not_allowed`, `lang_low_confidence`.
    pub fn name(self) -> &'static str {
        match self {
            LangReject::Undetected => "lang_undetected",
            LangReject::NotAllowed => "lang_not_allowed",
            LangReject::LowConfidence => "lang_low_confidence",
        }
    }
}

/// Which languages to keep. An empty allow-list keeps every text (detected or not) and only
/// records the language columns.
#[derive(Debug, Clone, PartialEq)]
pub struct LanguageFilter {
    allow: Vec<Lang>,
    min_confidence: f32,
}

impl Default for LanguageFilter {
    /// English only, any confidence.
    fn default() -> Self {
        LanguageFilter { allow: vec![Lang::Eng], min_confidence: 0.0 }
    }
}

impl LanguageFilter {
    /// A filter from language names: ISO 639-1 (`en`), ISO 639-3 (`eng`) or English names
    /// (`English`), case-insensitive; `any` or `all` (or no names) keeps every language.
    pub fn new<S: AsRef<str>>(languages: &[S], min_confidence: f32) -> Result<Self, String> {
        if !(0.0..=1.0).contains(&min_confidence) {
            return Err(format!("minimum language confidence {min_confidence} is not within 0–1"));
        }
        let mut allow = Vec::new();
        for name in languages {
            let name = name.as_ref().trim();
            if name.eq_ignore_ascii_case("any") || name.eq_ignore_ascii_case("all") {
                return Ok(LanguageFilter { allow: Vec::new(), min_confidence });
            }
            let lang = parse_language(name).ok_or_else(|| {
                format!("unknown language {name:?} (use an ISO 639-1 or 639-3 code whatlang knows, e.g. en, eng, de)")
            })?;
            if !allow.contains(&lang) {
                allow.push(lang);
            }
        }
        Ok(LanguageFilter { allow, min_confidence })
    }

    /// Keeps everything.
    pub fn any() -> Self {
        LanguageFilter { allow: Vec::new(), min_confidence: 0.0 }
    }

    /// Whether the filter lets every text through.
    pub fn keeps_all(&self) -> bool {
        self.allow.is_empty()
    }

    /// The allow-list as ISO 639-3 codes (empty: every language).
    pub fn allowed_codes(&self) -> Vec<&'static str> {
        self.allow.iter().map(|l| l.code()).collect()
    }

    pub fn min_confidence(&self) -> f32 {
        self.min_confidence
    }

    /// Whether a decided language passes: on the allow-list, and a confidence (when the decision
    /// has one) at least the minimum. Every language passes an empty allow-list.
    pub fn accept(&self, lang: Option<&str>, confidence: Option<f32>) -> Result<(), LangReject> {
        if self.allow.is_empty() {
            return Ok(());
        }
        let lang = lang.ok_or(LangReject::Undetected)?;
        if !self.allow.iter().any(|l| l.code() == lang) {
            return Err(LangReject::NotAllowed);
        }
        if confidence.is_some_and(|c| c < self.min_confidence) {
            return Err(LangReject::LowConfidence);
        }
        Ok(())
    }

    /// Detects `text`'s language and decides. `Ok` carries the detection (None only when the
    /// filter keeps all and whatlang found nothing).
    pub fn check(&self, text: &str) -> Result<Option<Detected>, LangReject> {
        let detected = detect_language(text);
        if self.allow.is_empty() {
            return Ok(detected);
        }
        let detected = detected.ok_or(LangReject::Undetected)?;
        if !self.allow.iter().any(|l| l.code() == detected.code) {
            return Err(LangReject::NotAllowed);
        }
        if detected.confidence < self.min_confidence {
            return Err(LangReject::LowConfidence);
        }
        Ok(Some(detected))
    }
}

/// ISO 639-1 codes of the languages whatlang knows.
const ISO_639_1: &[(&str, Lang)] = &[
    ("eo", Lang::Epo),
    ("en", Lang::Eng),
    ("ru", Lang::Rus),
    ("zh", Lang::Cmn),
    ("es", Lang::Spa),
    ("pt", Lang::Por),
    ("it", Lang::Ita),
    ("bn", Lang::Ben),
    ("fr", Lang::Fra),
    ("de", Lang::Deu),
    ("uk", Lang::Ukr),
    ("ka", Lang::Kat),
    ("ar", Lang::Ara),
    ("hi", Lang::Hin),
    ("ja", Lang::Jpn),
    ("he", Lang::Heb),
    ("yi", Lang::Yid),
    ("pl", Lang::Pol),
    ("am", Lang::Amh),
    ("jv", Lang::Jav),
    ("ko", Lang::Kor),
    ("nb", Lang::Nob),
    ("no", Lang::Nob),
    ("da", Lang::Dan),
    ("sv", Lang::Swe),
    ("fi", Lang::Fin),
    ("tr", Lang::Tur),
    ("nl", Lang::Nld),
    ("hu", Lang::Hun),
    ("cs", Lang::Ces),
    ("el", Lang::Ell),
    ("bg", Lang::Bul),
    ("be", Lang::Bel),
    ("mr", Lang::Mar),
    ("kn", Lang::Kan),
    ("ro", Lang::Ron),
    ("sl", Lang::Slv),
    ("hr", Lang::Hrv),
    ("sr", Lang::Srp),
    ("mk", Lang::Mkd),
    ("lt", Lang::Lit),
    ("lv", Lang::Lav),
    ("et", Lang::Est),
    ("ta", Lang::Tam),
    ("vi", Lang::Vie),
    ("ur", Lang::Urd),
    ("th", Lang::Tha),
    ("gu", Lang::Guj),
    ("uz", Lang::Uzb),
    ("pa", Lang::Pan),
    ("az", Lang::Aze),
    ("id", Lang::Ind),
    ("te", Lang::Tel),
    ("fa", Lang::Pes),
    ("ml", Lang::Mal),
    ("or", Lang::Ori),
    ("my", Lang::Mya),
    ("ne", Lang::Nep),
    ("si", Lang::Sin),
    ("km", Lang::Khm),
    ("tk", Lang::Tuk),
    ("ak", Lang::Aka),
    ("zu", Lang::Zul),
    ("sn", Lang::Sna),
    ("af", Lang::Afr),
    ("la", Lang::Lat),
    ("sk", Lang::Slk),
    ("ca", Lang::Cat),
    ("tl", Lang::Tgl),
    ("hy", Lang::Hye),
    ("cy", Lang::Cym),
];

/// A language from an ISO 639-1 or 639-3 code or an English name.
pub fn parse_language(name: &str) -> Option<Lang> {
    let lower = name.to_ascii_lowercase();
    if let Some((_, lang)) = ISO_639_1.iter().find(|(code, _)| *code == lower) {
        return Some(*lang);
    }
    if let Some(lang) = Lang::from_code(lower.as_str()) {
        return Some(lang);
    }
    Lang::all().iter().copied().find(|l| l.eng_name().eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_english_alt_texts_are_english() {
        // Without the restriction such texts come out Tagalog, Latin or Esperanto. Very short texts
        // stay hard: "A brown dog sleeping on a sofa" is still taken for Norwegian.
        for text in ["a red circle on the left", "a photo of a cat", "an illustration showing two red triangles"] {
            assert_eq!(detect_language(text).map(|d| d.code), Some("eng"), "{text}");
        }
        assert_eq!(
            detect_language("un cercle rouge sur un fond clair, dessiné à la main").map(|d| d.code),
            Some("fra")
        );
    }

    #[test]
    fn names_parse_in_every_form_and_unknown_ones_are_errors() {
        assert_eq!(parse_language("en"), Some(Lang::Eng));
        assert_eq!(parse_language("ENG"), Some(Lang::Eng));
        assert_eq!(parse_language("German"), Some(Lang::Deu));
        assert_eq!(parse_language("zz"), None);
        assert!(LanguageFilter::new(&["en", "xx"], 0.0).unwrap_err().contains("\"xx\""));
        assert!(LanguageFilter::new(&["en"], 1.5).is_err());
        assert!(LanguageFilter::new(&["any"], 0.0).unwrap().keeps_all());
        assert_eq!(LanguageFilter::new(&["en", "eng", "de"], 0.0).unwrap().allowed_codes(), ["eng", "deu"]);
    }

    #[test]
    fn the_filter_keeps_allowed_languages_and_names_each_rejection() {
        let english = LanguageFilter::default();
        let kept = english.check("A black dog running across a green field in the morning").unwrap().unwrap();
        assert_eq!(kept.code, "eng");
        assert!(kept.confidence > 0.0 && kept.confidence <= 1.0);
        assert_eq!(
            english.check("Ein schwarzer Hund läuft am Morgen über eine grüne Wiese"),
            Err(LangReject::NotAllowed)
        );
        assert_eq!(english.check("1234 5678"), Err(LangReject::Undetected));
        // Short alt text: English, with a low confidence (and whatlang's is_reliable unset).
        let short = "A tall green tree in a park";
        let detected = detect_language(short).unwrap();
        assert_eq!(detected.code, "eng");
        assert!(detected.confidence < 0.5, "{detected:?}");
        assert_eq!(english.check(short), Ok(Some(detected)));
        let strict = LanguageFilter::new(&["en"], 0.5).unwrap();
        assert_eq!(strict.check(short), Err(LangReject::LowConfidence));
        let any = LanguageFilter::any();
        assert_eq!(any.check("1234"), Ok(None));
        assert_eq!(any.check("Ein schwarzer Hund läuft am Morgen über eine grüne Wiese").unwrap().unwrap().code, "deu");
    }

    #[test]
    fn remembered_verdicts_are_the_detectors() {
        let texts =
            ["A brown dog is sleeping on the sofa", "Eine graue Katze schläft", "Product Site", "東京の夜景", "42"];
        for _ in 0..3 {
            for text in texts {
                assert_eq!(detect_language(text), detect_uncached(text), "{text}");
            }
        }
        let long = "The Debian project is an association of individuals. ".repeat(10);
        assert_eq!(detect_language(&long), detect_uncached(&long));
    }
}
