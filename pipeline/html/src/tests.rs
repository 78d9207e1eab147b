use super::*;

use std::path::PathBuf;
use std::process::Command;

#[test]
fn unescape_decodes_as_python_does() {
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
        ("no references", "no references"),
    ];
    for (input, want) in cases {
        assert_eq!(unescape(input), want, "{input}");
    }
    assert!(matches!(unescape("plain"), Cow::Borrowed(_)));
}

#[test]
fn attribute_values_keep_legacy_names_before_letters_digits_and_equals() {
    assert_eq!(unescape_attribute("Tom &amp; Jerry"), "Tom & Jerry");
    assert_eq!(unescape_attribute("caf&eacute; &#233;&#xE9;&#XE9"), "café ééé");
    assert_eq!(unescape_attribute("&#150; &#0; &foo; & x &amp"), "– \u{fffd} &foo; & x &");
    assert_eq!(unescape_attribute("a&amp b"), "a& b");
    assert_eq!(unescape_attribute("&eacutex"), "&eacutex");
    assert_eq!(unescape_attribute("/p?a=1&copy=2&amp;lang=en"), "/p?a=1&copy=2&lang=en");
    assert_eq!(unescape_attribute("&notit; &not it"), "&notit; ¬ it");
    assert_eq!(unescape_attribute("&#99999999999;"), "\u{fffd}");
    // In text the same legacy names decode.
    assert_eq!(unescape("&eacutex &copy=2"), "éx ©=2");
}

#[test]
fn terminated_references_need_their_semicolon() {
    assert_eq!(terminated_reference("amp; x"), Some((Cow::Borrowed("&"), 4)));
    assert_eq!(terminated_reference("#x41;"), Some((Cow::Owned("A".into()), 5)));
    assert_eq!(terminated_reference("#233;"), Some((Cow::Owned("é".into()), 5)));
    assert_eq!(terminated_reference("amp x"), None);
    assert_eq!(terminated_reference("#233 x"), None);
    assert_eq!(terminated_reference("unknown;"), None);
    assert_eq!(terminated_reference("notit;"), None);
    assert_eq!(terminated_reference("alpha;"), Some((Cow::Borrowed("α"), 6)));
}

#[test]
fn ftfy_unescape_decodes_as_ftfy_does() {
    assert_eq!(ftfy_unescape("P&EACUTE;REZ &ntilde; &Ntilde; &NTILDE; &nTILDE;"), "PÉREZ ñ Ñ Ñ &nTILDE;");
    assert_eq!(ftfy_unescape("BUNDESSTRA&SZLIG;E"), "BUNDESSTRASSE");
    assert_eq!(ftfy_unescape("this&not that &amp &amp; &#233; &#233"), "this&not that &amp & é &#233");
    assert_eq!(ftfy_unescape("&Jscr;ohn &HilbertSpace;ancock &checkmark;"), "𝒥ohn ℋancock ✓");
}

#[test]
fn escape_neutralises_markup_and_quotes() {
    assert_eq!(
        escape("<script>alert(\"x\")</script> & 'y'\0"),
        "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;\u{fffd}"
    );
    assert_eq!(unescape(&escape("a <b> & \"c\" 'd'")), "a <b> & \"c\" 'd'");
}

/// The project's Python (`make setup` installs it), found at run time so a test binary built in
/// another checkout still finds this one's.
fn python() -> PathBuf {
    let crate_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    crate_dir.join("../../.venv/bin/python")
}

/// Every named reference of the table, with and without `;` and followed by a space, a letter, `=`
/// and `;`, and numeric references across the ranges Python treats specially: decoded exactly as
/// Python's `html.unescape` decodes them.
#[test]
fn every_named_and_numeric_reference_matches_python() {
    let mut inputs: Vec<String> = Vec::new();
    for (name, _) in htmlize::ENTITIES.entries() {
        let name = std::str::from_utf8(name).unwrap();
        let bare = name.trim_end_matches(';');
        for tail in ["", " x", "x", "=", ";", "&amp;"] {
            inputs.push(format!("{name}{tail}"));
            inputs.push(format!("{bare}{tail}"));
        }
        inputs.push(format!("a{}b", name.to_uppercase()));
    }
    let codes =
        (0u32..0x3000).chain([0xd7ff, 0xd800, 0xdfff, 0xe000, 0xfdd0, 0xfffe, 0xffff, 0x1fffe, 0x10ffff, 0x110000]);
    for code in codes {
        inputs.push(format!("&#{code};&#x{code:x} &#X{code:X}x"));
    }
    let json = serde_json::to_string(&inputs).unwrap();
    let script =
        "import sys, json, html\nfor s in json.loads(sys.stdin.read()):\n    print(json.dumps(html.unescape(s)))";
    let mut child = Command::new(python())
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e} (run `make setup` for the project's Python)", python().display()));
    use std::io::Write;
    child.stdin.take().unwrap().write_all(json.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "python failed");
    let lines: Vec<&str> = std::str::from_utf8(&output.stdout).unwrap().lines().collect();
    assert_eq!(lines.len(), inputs.len());
    let mut differ = Vec::new();
    for (input, line) in inputs.iter().zip(&lines) {
        let python: String = serde_json::from_str(line).unwrap();
        let ours = unescape(input);
        if ours != python {
            differ.push(format!("{input:?}: python {python:?}, wit {ours:?}"));
        }
    }
    assert!(
        differ.is_empty(),
        "{} of {} differ, e.g. {:?}",
        differ.len(),
        inputs.len(),
        &differ[..differ.len().min(5)]
    );
}
