#!/usr/bin/env bash
# Real test data from the package registries into fixtures/ (git-ignored; nothing here is committed).
# Safe to run twice: each item is fetched only when its folder is missing.
#
#   fixtures/enwiki/      gensim 4.4.0 wheel: enwiki pages-articles excerpt (206 pages) + table-markup dump
#   fixtures/images/      scikit-image 0.26.0 wheel: skimage/data sample images (astronaut, chelsea, …)
#   fixtures/warc/warcat/ Warcat 2.2.5 sdist: example/ WARC files, malformed cases included
#   fixtures/warc/warcbench/  warcbench 0.1.0 sdist: tests/assets
#   fixtures/wordnet/     Debian wordnet-base: WordNet 3.0 dict files
#   fixtures/clip/        open_clip_torch wheel: CLIP's BPE merges (bpe_simple_vocab_16e6.txt.gz)
#   fixtures/lang/        Debian debian-handbook: the book's HTML pages in 26 languages and labelled.tsv,
#                         its alt texts and headings labelled by language (scripts/lang-fixture.py)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
fixtures="$root/fixtures"
python="$root/.venv/bin/python"
export PIP_CACHE_DIR=${PIP_CACHE_DIR:-$HOME/.cache/wit/pip}
export PIP_DISABLE_PIP_VERSION_CHECK=1
downloads="$fixtures/.downloads"
# The wheel the trainer's tokenizer merges come from (the same pin as scripts/requirements-nodeps.txt).
OPEN_CLIP_PIN=open_clip_torch==3.3.0
mkdir -p "$downloads"

# pip_download SPEC KIND: the wheel or sdist of SPEC into $downloads; prints its path.
pip_download() {
  local spec=$1 kind=$2 flags=()
  [ "$kind" = sdist ] && flags=(--no-binary :all:) || flags=(--only-binary :all:)
  "$python" -m pip download --quiet --no-deps "${flags[@]}" -d "$downloads" "$spec" >&2
  local name=${spec%%==*} version=${spec##*==}
  ls "$downloads"/* | grep -i -E "/${name//-/[-_]}-${version}[-.]" | head -n 1
}

# extract ARCHIVE DIR DEST [NAME_PREFIX]: the files under folder DIR of ARCHIVE (optionally only
# those whose name starts with NAME_PREFIX; never Python sources) into DEST, keeping sub-folders.
extract() {
  "$python" - "$@" <<'PY'
import os, sys, tarfile, zipfile
archive, prefix, dest = sys.argv[1:4]
name_prefix = sys.argv[4] if len(sys.argv) > 4 else ""
os.makedirs(dest, exist_ok=True)
def inside(name):
    # sdists wrap everything in NAME-VERSION/; wheels do not.
    at = name.find(prefix)
    return name[at + len(prefix):] if at >= 0 and (at == 0 or name[at - 1] == "/") else None
def keep(name):
    rest = inside(name)
    return bool(rest) and os.path.basename(rest).startswith(name_prefix) and not rest.endswith((".py", ".pyi"))
def target(name):
    return os.path.join(dest, inside(name))
count = 0
if archive.endswith((".whl", ".zip")):
    with zipfile.ZipFile(archive) as z:
        for info in z.infolist():
            if keep(info.filename):
                os.makedirs(os.path.dirname(target(info.filename)), exist_ok=True)
                with z.open(info) as src, open(target(info.filename), "wb") as out:
                    out.write(src.read()); count += 1
else:
    with tarfile.open(archive) as t:
        for m in t.getmembers():
            if m.isfile() and keep(m.name):
                os.makedirs(os.path.dirname(target(m.name)), exist_ok=True)
                with t.extractfile(m) as src, open(target(m.name), "wb") as out:
                    out.write(src.read()); count += 1
if count == 0:
    sys.exit(f"fixtures: nothing under {prefix!r} in {archive}")
print(f"fixtures: {count} files from {os.path.basename(archive)} -> {dest}")
PY
}

if [ ! -d "$fixtures/enwiki" ]; then
  wheel=$(pip_download gensim==4.4.0 wheel)
  extract "$wheel" gensim/test/test_data/ "$fixtures/enwiki.tmp" enwiki
  mv "$fixtures/enwiki.tmp" "$fixtures/enwiki"
fi
if [ ! -d "$fixtures/images" ]; then
  wheel=$(pip_download scikit-image==0.26.0 wheel)
  extract "$wheel" skimage/data/ "$fixtures/images.tmp"
  mv "$fixtures/images.tmp" "$fixtures/images"
fi
if [ ! -d "$fixtures/warc/warcat" ]; then
  sdist=$(pip_download Warcat==2.2.5 sdist)
  extract "$sdist" example/ "$fixtures/warc/warcat.tmp"
  mv "$fixtures/warc/warcat.tmp" "$fixtures/warc/warcat"
fi
if [ ! -d "$fixtures/warc/warcbench" ]; then
  sdist=$(pip_download warcbench==0.1.0 sdist)
  extract "$sdist" tests/assets/ "$fixtures/warc/warcbench.tmp"
  mv "$fixtures/warc/warcbench.tmp" "$fixtures/warc/warcbench"
fi
if [ ! -d "$fixtures/wordnet" ]; then
  (cd "$downloads" && { apt-get download wordnet-base 2>/dev/null || { apt-get update -qq && apt-get download wordnet-base; }; })
  deb=$(ls "$downloads"/wordnet-base_*.deb | head -n 1)
  rm -rf "$downloads/wordnet-deb" && dpkg-deb -x "$deb" "$downloads/wordnet-deb"
  mkdir -p "$fixtures/wordnet.tmp" && cp -r "$downloads/wordnet-deb/usr/share/wordnet/." "$fixtures/wordnet.tmp/"
  mv "$fixtures/wordnet.tmp" "$fixtures/wordnet"
  echo "fixtures: WordNet dict files -> $fixtures/wordnet"
fi
if [ ! -d "$fixtures/clip" ]; then
  wheel=$(pip_download "$OPEN_CLIP_PIN" wheel)
  extract "$wheel" open_clip/ "$fixtures/clip.tmp" bpe_simple_vocab_16e6
  mv "$fixtures/clip.tmp" "$fixtures/clip"
fi
if [ ! -f "$fixtures/lang/labelled.tsv" ]; then
  (cd "$downloads" && { apt-get download debian-handbook 2>/dev/null || { apt-get update -qq && apt-get download debian-handbook; }; })
  deb=$(ls "$downloads"/debian-handbook_*.deb | head -n 1)
  rm -rf "$downloads/handbook-deb" "$fixtures/lang.tmp" && dpkg-deb -x "$deb" "$downloads/handbook-deb"
  "$python" "$root/scripts/lang-fixture.py" "$downloads/handbook-deb/usr/share/doc/debian-handbook/html" "$fixtures/lang.tmp"
  rm -rf "$downloads/handbook-deb" "$fixtures/lang" && mv "$fixtures/lang.tmp" "$fixtures/lang"
fi
echo "fixtures: ready in $fixtures"
