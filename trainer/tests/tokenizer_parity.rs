//! The tokenizer gives open_clip's ids (open_clip's own tokenizer, run from the project's venv).

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

#[test]
fn ids_equal_open_clips_tokenizer_including_non_ascii_and_truncation() {
    let tokenizer = Tokenizer::from_file(default_bpe_path()).expect("run `make fixtures` for the BPE merges");
    let mut texts: Vec<String> = TEXTS.iter().map(|t| t.to_string()).collect();
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
