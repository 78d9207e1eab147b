//! `X-Robots-Tag` opt-outs: `noai`, `noimageai`, `noindex`, `noimageindex` (configurable).
//!
//! A header value is a comma-separated list of directives, optionally scoped to one agent as
//! `agent: directive, directive`. Unscoped values and values scoped to our product token apply;
//! values scoped to other agents do not. `none` means `noindex, nofollow`.

use reqwest::header::HeaderMap;

/// Directives with a `name: value` form, so a leading `name:` is not an agent scope.
const VALUED_DIRECTIVES: [&str; 4] = ["unavailable_after", "max-snippet", "max-image-preview", "max-video-preview"];

/// The first directive of `opt_out` (lower case) that the `X-Robots-Tag` headers apply to `token`.
pub fn opt_out_directive(headers: &HeaderMap, token: &str, opt_out: &[String]) -> Option<String> {
    if opt_out.is_empty() {
        return None;
    }
    for value in headers.get_all("x-robots-tag") {
        let Ok(value) = value.to_str() else { continue };
        if let Some(found) = directive_in_value(value, token, opt_out) {
            return Some(found);
        }
    }
    None
}

fn directive_in_value(value: &str, token: &str, opt_out: &[String]) -> Option<String> {
    let mut directives = value;
    if let Some((scope, rest)) = value.split_once(':') {
        let scope = scope.trim();
        let is_agent = !scope.is_empty()
            && !scope.contains([',', ' '])
            && !VALUED_DIRECTIVES.iter().any(|d| d.eq_ignore_ascii_case(scope));
        if is_agent {
            if !scope.eq_ignore_ascii_case(token) && scope != "*" {
                return None;
            }
            directives = rest;
        }
    }
    for directive in directives.split(',') {
        let directive = directive.trim().to_ascii_lowercase();
        let names: &[&str] = if directive == "none" { &["noindex", "nofollow"] } else { &[directive.as_str()] };
        for name in names {
            if opt_out.iter().any(|o| o == name) {
                return Some(name.to_string());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::DEFAULT_OPT_OUT_DIRECTIVES;

    fn check(values: &[&str], token: &str, opt_out: &[&str]) -> Option<String> {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append("x-robots-tag", v.parse().unwrap());
        }
        let opt_out: Vec<String> = opt_out.iter().map(|s| s.to_string()).collect();
        opt_out_directive(&headers, token, &opt_out)
    }

    #[test]
    fn directives() {
        let all = &DEFAULT_OPT_OUT_DIRECTIVES;
        assert_eq!(check(&["noai"], "wit", all).as_deref(), Some("noai"));
        assert_eq!(check(&["nofollow, NoImageAI"], "wit", all).as_deref(), Some("noimageai"));
        assert_eq!(check(&["none"], "wit", all).as_deref(), Some("noindex"));
        assert_eq!(check(&["nofollow", "noimageindex"], "wit", all).as_deref(), Some("noimageindex"));
        assert_eq!(check(&["nofollow, noarchive"], "wit", all), None);
        assert_eq!(check(&[], "wit", all), None);
        assert_eq!(check(&["noindex"], "wit", &["noai"]), None, "the set is configurable");
        assert_eq!(check(&["noai"], "wit", &[]), None);
    }

    #[test]
    fn agent_scopes() {
        let all = &DEFAULT_OPT_OUT_DIRECTIVES;
        assert_eq!(check(&["googlebot: noindex"], "wit", all), None);
        assert_eq!(check(&["WIT: noai"], "wit", all).as_deref(), Some("noai"));
        assert_eq!(check(&["googlebot: noindex", "wit: noimageai"], "wit", all).as_deref(), Some("noimageai"));
        assert_eq!(check(&["unavailable_after: 25 Jun 2010 15:00:00 PST"], "wit", all), None);
        assert_eq!(check(&["max-image-preview: none, noai"], "wit", all).as_deref(), Some("noai"));
    }
}
