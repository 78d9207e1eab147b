"""The labelled short texts of the language tests, from the Debian Administrator's Handbook as Debian
ships it (package debian-handbook: the same book as HTML in 26 languages).

    python scripts/lang-fixture.py HTML_DIR OUT_DIR

Copies every language's chapter pages to OUT_DIR/pages/LOCALE/ and writes OUT_DIR/labelled.tsv
(label, page, kind, text, translated): every distinct image alt text and section heading (its number,
e.g. "12.1.2.", removed) of the English pages labelled `eng`, and of every translation the texts that
differ from the English text at the same place (same page, same position) labelled with the
translation's language: an untranslated string is English, whatever page it is on, so it is left out.

`translated` is the share of the page's visible text (by characters, in blocks: paragraphs, list items,
cells, headings; code left out) in blocks whose words are mostly not words of the English page (1 for
English pages): many translations are partial, and a page whose
paragraphs are still English is an English page with some translated headings.
"""
import html
import os
import re
import shutil
import sys

# The handbook's locales, as whatlang names their languages (ISO 639-3).
LOCALES = {
    "en-US": "eng", "ar-MA": "ara", "ca-ES": "cat", "cs-CZ": "ces", "da-DK": "dan", "de-DE": "deu",
    "el-GR": "ell", "es-ES": "spa", "fa-IR": "pes", "fr-FR": "fra", "hr-HR": "hrv", "id-ID": "ind",
    "it-IT": "ita", "ja-JP": "jpn", "ko-KR": "kor", "nb-NO": "nob", "nl-NL": "nld", "pl-PL": "pol",
    "pt-BR": "por", "ro-RO": "ron", "ru-RU": "rus", "sv-SE": "swe", "tr-TR": "tur", "vi-VN": "vie",
    "zh-CN": "cmn", "zh-TW": "cmn",
}
ALT = re.compile(r'<img\b[^>]*?\balt="([^"]*)"', re.S)
HEADING = re.compile(r"<h([1-6])\b[^>]*>(.*?)</h\1>", re.S)
NUMBER = re.compile(r"^(?:(?:Chapter|Appendix)\s+)?[0-9A-Z]+(?:\.[0-9]+)*\.\s+")


def clean(text):
    text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    return re.sub(r"\s+", " ", text).strip()


def texts(path):
    """(kind, position, text) of a page: alt texts, then headings without their numbers."""
    with open(path, encoding="utf-8") as f:
        page = f.read()
    out = [("alt", i, clean(a)) for i, a in enumerate(ALT.findall(page))]
    out += [("heading", i, NUMBER.sub("", clean(h))) for i, (_, h) in enumerate(HEADING.findall(page))]
    return out


CODE = re.compile(r"<(pre|code|script|style)\b.*?</\1>", re.S)
BLOCK = re.compile(r"</?(?:p|div|li|td|th|dt|dd|h[1-6]|title|table|ul|ol|dl|br)\b[^>]*>", re.I)


def paragraphs(path):
    """The page's visible text in blocks (paragraphs, list items, cells, headings), code left out."""
    with open(path, encoding="utf-8") as f:
        body = CODE.sub(" ", f.read())
    return [t for t in (clean(b) for b in BLOCK.split(body)) if len(t) >= 20]


WORD = re.compile(r"\w+")


def english_like(paragraph, english_words):
    """Whether most of a paragraph's words are words of the English page (an untranslated paragraph,
    perhaps with a translated cross-reference in it)."""
    words = WORD.findall(paragraph.lower())
    return bool(words) and sum(w in english_words for w in words) >= 0.6 * len(words)


def useful(text):
    return sum(c.isalpha() for c in text) >= 3


def main(src, dest):
    english = {}
    english_paragraphs = {}
    rows = []
    for locale in sorted(LOCALES, key=lambda l: l != "en-US"):
        folder = os.path.join(src, locale)
        if not os.path.isdir(folder):
            sys.exit(f"lang fixture: {folder} missing")
        os.makedirs(os.path.join(dest, "pages", locale), exist_ok=True)
        seen = set()
        for name in sorted(os.listdir(folder)):
            if not name.endswith(".html"):
                continue
            page = os.path.join("pages", locale, name)
            shutil.copyfile(os.path.join(folder, name), os.path.join(dest, page))
            mine = paragraphs(os.path.join(folder, name))
            if locale == "en-US":
                english_paragraphs[name] = mine
                translated = 1.0
            else:
                theirs = {w for p in english_paragraphs.get(name, []) for w in WORD.findall(p.lower())}
                total = sum(len(p) for p in mine)
                translated = sum(len(p) for p in mine if not english_like(p, theirs)) / total if total else 0.0
            for kind, at, text in texts(os.path.join(folder, name)):
                if locale == "en-US":
                    english[(name, kind, at)] = text
                elif text == english.get((name, kind, at)) or text in english.values():
                    continue
                if useful(text) and text not in seen and "\t" not in text:
                    seen.add(text)
                    rows.append((LOCALES[locale], page, kind, text, f"{translated:.2f}"))
    with open(os.path.join(dest, "labelled.tsv.tmp"), "w", encoding="utf-8") as f:
        f.write("label\tpage\tkind\ttext\ttranslated\n")
        for row in rows:
            f.write("\t".join(row) + "\n")
    os.replace(os.path.join(dest, "labelled.tsv.tmp"), os.path.join(dest, "labelled.tsv"))
    counts = {}
    for label, *_ in rows:
        counts[label] = counts.get(label, 0) + 1
    print(f"fixtures: {len(rows)} labelled texts ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}) -> {dest}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
