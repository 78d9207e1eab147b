//! The tokenizer gives open_clip's ids (open_clip's own tokenizer, run from the project's venv),
//! also on captions full of HTML character references.

mod common;

use wit_trainer::tokenizer::{default_bpe_path, Tokenizer, CONTEXT_LENGTH};

const TEXTS: &[&str] = &[
    "a photo of a cat",
    "A Photo Of A CAT!!!",
    "",
    "naïve café résumé, crème brûlée",
    "東京タワーの夜景",
    "Ölgemälde — “Die Kathedrale” (1890)",
    "emoji 🐱🎉 party 👩‍👩‍👧",
    "don't you'll we've I'm she'd it's THEY'RE",
    "3.14159 and 42nd street, 1,000,000 people; ½ ² ٣",
    "   lots\t of \n whitespace   ",
    "&amp; html &lt;b&gt; entities &quot;quoted&quot; &amp;amp;",
    "Ἀθῆναι καὶ Ῥώμη",
    "привет мир, Ёлка",
    "مرحبا بالعالم",
    "hello<end_of_text>world <START_OF_TEXT>",
    "ﬁne ﬂowers and ＦＵＬＬ　ＷＩＤＴＨ１２３",
    "Zürich's Großmünster @ 10:30am #travel",
    "हिन्दी भाषा",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
];

/// Captions full of HTML character references, as crawled alt texts carry them: named ones from
/// the whole HTML5 table, with and without `;`, numeric ones (decimal, hex, Windows-1252 range,
/// invalid code points), upper-case spellings, double escapes, and lines that hold a `<`.
const ENTITY_TEXTS: &[&str] = &[
    "it&rsquo;s a dog&hellip; in &Auml;rhus",
    "L&apos;&eacute;t&eacute; &agrave; Paris &mdash; vue du pont",
    "Caf&eacute; &amp; cr&egrave;me br&ucirc;l&eacute;e",
    "&ldquo;The Scream&rdquo; by Edvard Munch &ndash; 1893",
    "Stra&szlig;e in M&uuml;nchen &copy; 2019",
    "P&EACUTE;REZ &NTILDE;O&Ntilde;O &nTILDE; BUNDESSTRA&SZLIG;E",
    "5 &times; 3 &divide; 2 &ne; 7 &le; 8 &ge; 1 &plusmn; 0.5",
    "&alpha; &beta; &gamma; &Delta; &Omega; &pi; &sigma;&sigmaf;",
    "&frac12; cup sugar, &frac14; tsp salt, 350&deg;F",
    "&larr; back &rarr; next &uarr; &darr; &harr; &lArr; &rArr;",
    "&hearts; &spades; &clubs; &diams; &starf; &check; &cross;",
    "&euro;20 &pound;15 &yen;300 &cent;99 &curren;",
    "na&iuml;ve co&ouml;perate r&eacute;sum&eacute; fa&ccedil;ade",
    "&#8220;quoted&#8221; &#8216;single&#8217; &#x201C;hex&#x201D;",
    "&#233;t&#233; &#xE9;t&#XE9; &#233 without semicolon",
    "&#128;100 &#150; dash &#147;cp1252&#148; &#153; &#156;uvre",
    "nul&#0;byte &#55296;surrogate &#1114112;too big &#99999999999;",
    "control&#1;&#7;&#x1F;chars &#127;del &#xFFFE;nonchar &#13;cr",
    "&amp;amp; double &amp;lt;b&amp;gt; escaped &amp;quot;text&amp;quot;",
    "&amp;rsquo; twice escaped quote &amp;hellip; and &amp;#233;",
    "&amp &lt &gt &quot &copy &reg legacy without semicolons",
    "&notit; &notin; &not it &noti; prefix matching",
    "AT&T and P&G and R&D and Q&A, b&w photo",
    "fish &chips; &bogus; &; & alone &#; &#x; &#xzz;",
    "&NotNestedGreaterGreater; &nGt; &nLt; &vnsup; combining",
    "&Jscr;ohn &HilbertSpace;ancock &checkmark; &bigstar;",
    "&fjlig;ord &ffllig;e &fflig; &filig;e &fllig;y ligature entities",
    "&ThinSpace;thin&nbsp;non-breaking&ensp;en&emsp;em&hairsp;hair",
    "zero&ZeroWidthSpace;width &zwj;joiner&zwnj; &shy;soft hyphen",
    "&lsaquo;single&rsaquo; &laquo;guillemets&raquo; &bdquo;low&ldquo;",
    "&iexcl;Hola! &iquest;Qu&eacute; tal? Espa&ntilde;a",
    "&Aring;ngstr&ouml;m &AElig;sir &Oslash;resund &aelig;",
    "&Scaron;koda &Zcaron;ilina &ccaron;esk&yacute; &Rcaron;&iacute;jen",
    "&Ccedil;a&ccedil;a T&uuml;rkiye &Idot;stanbul &inodot;",
    "&micro;m scale &ohm; &Omega; &angst; &mho; units",
    "&infin; &sum; &prod; &int; &part; &nabla; &radic; &prop;",
    "&lt;b&gt;bold&lt;/b&gt; html tags written as entities",
    "a <b>real</b> tag keeps ftfy from it&rsquo;s decoding",
    "first line it&rsquo;s fine\nsecond <i>line</i> it&rsquo;s not\nthird it&rsquo;s",
    "&trade; brand&reg; &sect;5 &para;2 &dagger; &Dagger; &bull;",
    "&middot; &ordm; &ordf; &sup2; &sup3; &sup1; &acute; &cedil;",
    "&OElig;uvre &oelig;il &Yuml; &yuml; &fnof;",
    "&circ; &tilde; &lrm;left&rlm;right &zwj;",
    "&hellip;&hellip;&hellip; ellipses&hellip;",
    "&quot;&quot;&quot; triple quotes &apos;&apos;",
    "&#x1F600; emoji by reference &#128512; and &#x1f431;",
    "&#65;&#66;&#67; &#x61;&#x62;&#x63; ABC abc",
    "&ETH;&eth; &THORN;&thorn; Icelandic &Yacute;",
    "&Uuml;BER &uuml;ber &UUML; UPPER &Ouml;L",
    "&EACUTE;COLE &Eacute;cole &eacute;cole",
    "&LT;tag&GT; &AMP; upper legacy &COPY; &REG; &QUOT;",
    "&Amp; &aMp; mixed case unknown",
    "caf\u{e9}&#769; combining acute &#x301; after e&#x301;",
    "&mdash;&mdash; double dash &horbar; &minus; &hyphen;",
    "&lowast; &ast; &midast; &sstarf; stars",
    "&rsquo;&rsquo; &lsquo;&lsquo; &prime; &Prime; &apos;",
    "price: &#36;9.99 &#x24;10 &dollar;11",
];

#[test]
fn ids_equal_open_clips_tokenizer_including_html_entities_non_ascii_and_truncation() {
    let tokenizer = Tokenizer::from_file(default_bpe_path()).expect("run `make fixtures` for the BPE merges");
    let mut texts: Vec<String> = TEXTS.iter().chain(ENTITY_TEXTS).map(|t| t.to_string()).collect();
    assert!(ENTITY_TEXTS.len() >= 50);
    texts.push(["a long caption about a red circle"; 20].join(", "));
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("texts.json");
    std::fs::write(&input, serde_json::to_vec(&texts).unwrap()).unwrap();
    let script = r#"
import json, sys
import open_clip
texts = json.load(open(sys.argv[1], encoding="utf-8"))
print(json.dumps(open_clip.get_tokenizer("ViT-B-32")(texts).tolist()))
"#;
    let expected: Vec<Vec<i64>> = serde_json::from_str(&common::run_python(script, &[&input])).unwrap();
    assert_eq!(expected.len(), texts.len());
    let mut mismatches = Vec::new();
    for (text, want) in texts.iter().zip(&expected) {
        let got = tokenizer.tokenize(text, CONTEXT_LENGTH);
        if &got != want {
            mismatches.push(format!("{text:?}:\n  ours      {:?}\n  open_clip {:?}", trim(&got), trim(want)));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    // The long caption was cut at 77 and still ends in the end-of-text token.
    let long = expected.last().unwrap();
    assert_eq!(long.len(), CONTEXT_LENGTH);
    assert_eq!(long[CONTEXT_LENGTH - 1], wit_trainer::tokenizer::END_OF_TEXT);
}

fn trim(ids: &[i64]) -> &[i64] {
    let end = ids.iter().rposition(|&id| id != 0).map_or(0, |i| i + 1);
    &ids[..end]
}
