//! Page-level opt-outs: what a page says about being used for AI training, read from the page itself
//! (WARC HTML, or a WAT record's `Head → Metas` and HTTP headers).
//!
//! Signals, as lower-case directives:
//! - `<meta name="robots" content="…">` and `<meta name="ai" content="…">`: each comma- or
//!   space-separated value (`noai`, `noimageai`, `noindex`…; `none` = `noindex`, `nofollow`);
//! - TDMRep (W3C CG): the `tdm-reservation: 1` HTTP header or `<meta name="tdm-reservation"
//!   content="1">` give `tdm-reservation`.
//!
//! A page carrying a directive of the configured list loses all its pairs (counted per directive as
//! `page_opt_out:DIRECTIVE` in the skip reasons); a kept page's pairs record the directives it carried
//! (none of them in the list) in the `page_opt_out` column, empty when it carried none.

/// The directives that drop a page's pairs by default: explicit AI opt-outs and TDMRep's reservation
/// (not `noindex`, which is about search engines, unlike the image's `X-Robots-Tag` that fetch
/// honours).
pub const DEFAULT_PAGE_OPT_OUT_DIRECTIVES: [&str; 3] = ["noai", "noimageai", "tdm-reservation"];

/// The `tdm-reservation` directive (TDMRep's header or meta with value 1).
pub const TDM_RESERVATION: &str = "tdm-reservation";

/// Meta names whose content is read as opt-out directives.
const DIRECTIVE_METAS: [&str; 2] = ["robots", "ai"];

/// Is `<meta name=NAME>` one this module reads?
pub fn is_opt_out_meta(name: &str) -> bool {
    let name = name.trim();
    DIRECTIVE_METAS.iter().any(|m| m.eq_ignore_ascii_case(name)) || name.eq_ignore_ascii_case(TDM_RESERVATION)
}

/// Is the HTTP header NAME one this module reads (TDMRep's `tdm-reservation`)?
pub fn is_opt_out_header(name: &str) -> bool {
    name.trim().eq_ignore_ascii_case(TDM_RESERVATION)
}

/// The opt-out directives one page carries, in the order first seen, without repeats.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageSignals {
    pub directives: Vec<String>,
}

impl PageSignals {
    fn add(&mut self, directive: &str) {
        if !directive.is_empty() && !self.directives.iter().any(|d| d == directive) {
            self.directives.push(directive.to_owned());
        }
    }

    /// A `<meta name content>` of the page (other names are ignored).
    pub fn add_meta(&mut self, name: &str, content: &str) {
        let name = name.trim();
        if name.eq_ignore_ascii_case(TDM_RESERVATION) {
            if content.trim() == "1" {
                self.add(TDM_RESERVATION);
            }
            return;
        }
        if !DIRECTIVE_METAS.iter().any(|m| m.eq_ignore_ascii_case(name)) {
            return;
        }
        for directive in content.split([',', ' ', '\t']).map(|d| d.trim().to_ascii_lowercase()) {
            if directive == "none" {
                self.add("noindex");
                self.add("nofollow");
            } else {
                self.add(&directive);
            }
        }
    }

    /// An HTTP response header of the page (only `tdm-reservation` is read).
    pub fn add_header(&mut self, name: &str, value: &str) {
        if is_opt_out_header(name) && value.trim() == "1" {
            self.add(TDM_RESERVATION);
        }
    }

    /// Adds `other`'s directives (the page's metas to its headers').
    pub fn merge(&mut self, other: &PageSignals) {
        other.directives.iter().for_each(|d| self.add(d));
    }

    /// The first directive the page carries that `drop` lists: its pairs are left out for it.
    pub fn dropped_by<'a>(&'a self, drop: &[String]) -> Option<&'a str> {
        self.directives.iter().find(|d| drop.iter().any(|o| o == *d)).map(String::as_str)
    }

    /// The `page_opt_out` value of a kept page: its directives, comma-separated (empty: none).
    pub fn column(&self) -> String {
        self.directives.join(",")
    }
}

/// The configured directive list from a comma-separated flag value (lower case, blanks dropped).
pub fn parse_directives(list: &str) -> Vec<String> {
    list.split(',').map(|d| d.trim().to_ascii_lowercase()).filter(|d| !d.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Vec<String> {
        DEFAULT_PAGE_OPT_OUT_DIRECTIVES.iter().map(|d| d.to_string()).collect()
    }

    #[test]
    fn metas_and_headers_become_directives() {
        let mut page = PageSignals::default();
        page.add_meta("Robots", "NoIndex, noimageai");
        page.add_meta("description", "noai");
        page.add_meta("ai", "none noai");
        assert_eq!(page.directives, ["noindex", "noimageai", "nofollow", "noai"]);
        assert_eq!(page.dropped_by(&defaults()), Some("noimageai"));
        assert_eq!(page.dropped_by(&["noai".into()]), Some("noai"));
        assert_eq!(page.dropped_by(&[]), None, "an empty list drops nothing");

        let mut tdm = PageSignals::default();
        tdm.add_header("TDM-Reservation", " 1 ");
        assert_eq!(tdm.dropped_by(&defaults()), Some("tdm-reservation"));
        let mut open = PageSignals::default();
        open.add_header("tdm-reservation", "0");
        open.add_meta("tdm-reservation", "0");
        open.add_meta("robots", "noarchive");
        assert_eq!(open.dropped_by(&defaults()), None);
        assert_eq!(open.column(), "noarchive");
        assert_eq!(PageSignals::default().column(), "");
        let mut meta_tdm = PageSignals::default();
        meta_tdm.add_meta("tdm-reservation", "1");
        assert_eq!(meta_tdm.directives, ["tdm-reservation"]);
        assert_eq!(parse_directives(" NoAI, ,tdm-reservation"), ["noai", "tdm-reservation"]);
        assert!(is_opt_out_meta(" AI") && !is_opt_out_meta("viewport"));
    }
}
