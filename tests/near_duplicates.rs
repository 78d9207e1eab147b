//! `wit dedup` and `wit decontaminate` end to end on real images: scikit-image samples and
//! transformed copies of them (rescaled, re-encoded at low JPEG quality, cropped, colour-shifted,
//! mirrored) served from a loopback server, fetched by the real `wit fetch`, deduplicated (one
//! process, and two ranks through the four phases) and decontaminated against an eval set given
//! as a folder of images, a Parquet file and a WebDataset tar; every output read back with pyarrow.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::Path;

use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, ImageFormat, RgbImage};
use wit_tests::loopback::{LoopbackServer, Reply};
use wit_tests::{run_python, wit, workspace_root};

fn sample(name: &str) -> DynamicImage {
    image::open(workspace_root().join("fixtures/images").join(name)).unwrap()
}

fn png(image: &DynamicImage) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(image.to_rgb8()).write_to(&mut out, ImageFormat::Png).unwrap();
    out.into_inner()
}

fn jpeg(image: &DynamicImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    image.to_rgb8().write_with_encoder(JpegEncoder::new_with_quality(&mut out, quality)).unwrap();
    out
}

fn half(image: &DynamicImage) -> DynamicImage {
    image.resize_exact(image.width() / 2, image.height() / 2, FilterType::Triangle)
}

fn crop(image: &DynamicImage) -> DynamicImage {
    let (dx, dy) = (image.width() / 50, image.height() / 50);
    image.crop_imm(dx, dy, image.width() - 2 * dx, image.height() - 2 * dy)
}

fn colour_shift(image: &DynamicImage) -> DynamicImage {
    let rgb = image.to_rgb8();
    DynamicImage::ImageRgb8(RgbImage::from_fn(rgb.width(), rgb.height(), |x, y| {
        let p = rgb.get_pixel(x, y).0;
        image::Rgb([p[0].saturating_add(40), p[1], p[2].saturating_sub(25)])
    }))
}

/// The corpus pairs: (path on the server, bytes, caption). Originals and copies of five samples,
/// plus unrelated samples.
fn corpus_images() -> Vec<(String, Vec<u8>, String)> {
    let astronaut = sample("astronaut.png");
    let camera = sample("camera.png");
    let coffee = sample("coffee.png");
    let chelsea = sample("chelsea.png");
    let rocket = sample("rocket.jpg");
    let mut images = vec![
        ("astronaut.png", png(&astronaut)),
        ("astronaut-half-q30.jpg", jpeg(&half(&astronaut), 30)),
        ("camera.png", png(&camera)),
        ("camera-cropped.png", png(&crop(&camera))),
        ("coffee.png", png(&coffee)),
        ("coffee-mirrored.png", png(&coffee.fliph())),
        ("chelsea-half.png", png(&half(&chelsea))),
        ("chelsea.png", png(&colour_shift(&chelsea))),
        ("rocket.jpg", jpeg(&rocket, 90)),
        ("rocket-q15.jpg", jpeg(&rocket, 15)),
    ];
    for name in ["horse.png", "moon.png", "retina.jpg", "coins.png", "hubble_deep_field.jpg", "page.png", "text.png"] {
        images.push((name, png(&sample(name))));
    }
    images
        .into_iter()
        .map(|(name, bytes)| {
            let caption = match name {
                "hubble_deep_field.jpg" => "thousands of galaxies seen by the hubble telescope".to_string(),
                _ => format!("sample picture called {}", name.replace(['.', '-'], " ")),
            };
            (format!("/img/{name}"), bytes, caption)
        })
        .collect()
}

/// Serves the images and fetches them with the real binary into `DIR/corpus`.
fn fetch_corpus(dir: &Path) -> (LoopbackServer, std::path::PathBuf) {
    let images = corpus_images();
    let server = LoopbackServer::start(images.iter().map(|(path, bytes, _)| {
        let kind = if path.ends_with(".jpg") { "image/jpeg" } else { "image/png" };
        (path.clone(), Reply::ok(kind, bytes.clone()))
    }));
    let list = dir.join("list.csv");
    let rows: Vec<String> = images.iter().map(|(path, _, caption)| format!("{},{caption}", server.url(path))).collect();
    std::fs::write(&list, format!("url,caption\n{}\n", rows.join("\n"))).unwrap();
    let corpus = dir.join("corpus");
    let run = wit(&[
        "fetch",
        list.to_str().unwrap(),
        "-o",
        corpus.to_str().unwrap(),
        "--caption-col",
        "caption",
        "--allow-private-networks",
        "--image-size",
        "128",
        "--shard-rows",
        "5",
    ]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    (server, corpus)
}

/// Reads a corpus folder and its side table with pyarrow: {"kept": [image names], "side": [rows]}.
const READ_BACK: &str = r#"
import json, sys, os, pyarrow.parquet as pq, pyarrow.dataset as ds
out, side = sys.argv[1], sys.argv[2]
corpus = pq.read_table(out, columns=["url", "key", "image_phash"]).to_pylist()
name = lambda url: url.rsplit("/", 1)[1]
keys = {r["key"]: name(r["url"]) for r in pq.read_table(sys.argv[3], columns=["url", "key"]).to_pylist()}
rows = ds.dataset(os.path.join(out, side, "data"), format="parquet").to_table().to_pylist()
for r in rows:
    r["url"] = name(r["url"])
    if "kept_key" in r:
        r["kept"] = keys[r.pop("kept_key")]
assert all(r["image_phash"] is not None for r in corpus)
print(json.dumps({"kept": sorted(name(r["url"]) for r in corpus), "side": sorted(rows, key=lambda r: r["url"])}))
"#;

fn read_back(out: &Path, side: &str, corpus: &Path) -> serde_json::Value {
    let printed = run_python(READ_BACK, &[out.to_str().unwrap(), side, corpus.to_str().unwrap()]);
    serde_json::from_str(&printed).unwrap()
}

fn verify_clean(dir: &Path) {
    let run = wit(&["verify", dir.to_str().unwrap()]);
    assert!(run.status.success(), "{}{}", String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
}

/// The copies dedup drops, each with the row kept for it: the one with more original pixels,
/// then the smaller key (equal sizes: the mirrored coffee, the re-encoded rocket).
fn expected_drops(keys: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let by_key = |a: &str, b: &str| {
        if keys[a] < keys[b] {
            (b.to_string(), a.to_string())
        } else {
            (a.to_string(), b.to_string())
        }
    };
    BTreeMap::from([
        ("astronaut-half-q30.jpg".to_string(), "astronaut.png".to_string()),
        ("camera-cropped.png".to_string(), "camera.png".to_string()),
        by_key("coffee.png", "coffee-mirrored.png"),
        ("chelsea-half.png".to_string(), "chelsea.png".to_string()),
        by_key("rocket.jpg", "rocket-q15.jpg"),
    ])
}

fn keys_of(corpus: &Path) -> BTreeMap<String, String> {
    let printed = run_python(
        "import sys, json, pyarrow.parquet as pq\nprint(json.dumps({r['url'].rsplit('/', 1)[1]: r['key'] for r in pq.read_table(sys.argv[1], columns=['url', 'key']).to_pylist()}))",
        &[corpus.to_str().unwrap()],
    );
    serde_json::from_str(&printed).unwrap()
}

fn drops_of(found: &serde_json::Value) -> BTreeMap<String, String> {
    found["side"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["url"].as_str().unwrap().to_string(), r["kept"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn dedup_keeps_one_pair_per_cluster_of_real_copies_in_one_process_and_in_two_ranks() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, corpus) = fetch_corpus(dir.path());
    let keys = keys_of(&corpus);
    assert_eq!(keys.len(), 17, "every image fetched: {keys:?}");
    let expected = expected_drops(&keys);

    let out = dir.path().join("dedup");
    let run = wit(&["dedup", corpus.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let printed = String::from_utf8_lossy(&run.stdout);
    let found = read_back(&out, "_near_duplicates", &corpus);
    let hashes = run_python(
        "import sys, pyarrow.parquet as pq\nprint(sorted((r['url'].rsplit('/', 1)[1], format(r['image_phash'], '064b')) for r in pq.read_table(sys.argv[1]).to_pylist()))",
        &[corpus.to_str().unwrap()],
    );
    assert_eq!(drops_of(&found), expected, "{found}\n{hashes}");
    assert!(
        printed.contains("12 kept, 5 near duplicates dropped (5 pairs within 8 bits, 1 through a mirror"),
        "{printed}"
    );
    assert!(printed.contains("exact bands (9 bands)"), "17 rows: the cheaper scheme is exact bands: {printed}");
    let mirrored: Vec<&serde_json::Value> =
        found["side"].as_array().unwrap().iter().filter(|r| r["mirrored"] == true).collect();
    assert_eq!(mirrored.len(), 1, "the mirrored coffee is found through the mirror: {found}");
    let kept: Vec<String> = found["kept"].as_array().unwrap().iter().map(|k| k.as_str().unwrap().to_string()).collect();
    assert_eq!(kept.len(), 12);
    assert!(expected.keys().all(|dropped| !kept.contains(dropped)) && expected.values().all(|k| kept.contains(k)));
    verify_clean(&out);

    // Without the mirror, the mirrored coffee stays.
    let plain = dir.path().join("dedup-plain");
    let run = wit(&["dedup", corpus.to_str().unwrap(), "-o", plain.to_str().unwrap(), "--no-mirror"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(drops_of(&read_back(&plain, "_near_duplicates", &corpus)).len(), 4);

    // The other scheme (the one large corpora get) finds the same pairs.
    let balls = dir.path().join("dedup-balls");
    let run = wit(&["dedup", corpus.to_str().unwrap(), "-o", balls.to_str().unwrap(), "--search", "balls"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let printed_balls = String::from_utf8_lossy(&run.stdout);
    assert!(printed_balls.contains("5 pairs within 8 bits, 1 through a mirror"), "{printed_balls}");
    assert!(printed_balls.contains("balls of radius 1 (3 bands)"), "{printed_balls}");
    assert_eq!(read_back(&balls, "_near_duplicates", &corpus), found);

    // Two ranks through the phases with the balls, a budget small enough to spill: the same drops.
    let ranked = dir.path().join("dedup-ranked");
    for phase in ["send", "pairs", "apply"] {
        for rank in ["0", "1"] {
            let args = [
                "dedup",
                corpus.to_str().unwrap(),
                "-o",
                ranked.to_str().unwrap(),
                "--rank",
                rank,
                "--world-size",
                "2",
                "--phase",
                phase,
                "--memory-budget",
                "1K",
                "--search",
                "balls",
            ];
            let run = wit(&args);
            assert!(run.status.success(), "{phase} {rank}: {}", String::from_utf8_lossy(&run.stderr));
        }
    }
    let run = wit(&[
        "dedup",
        corpus.to_str().unwrap(),
        "-o",
        ranked.to_str().unwrap(),
        "--world-size",
        "2",
        "--phase",
        "merge",
        "--search",
        "balls",
    ]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let found_ranked = read_back(&ranked, "_near_duplicates", &corpus);
    assert_eq!(drops_of(&found_ranked), expected, "{found_ranked}");
    assert_eq!(found_ranked["kept"], found["kept"]);
    verify_clean(&ranked);

    // A one-process run into the two ranks' folder, without the mirror: what the ranks wrote
    // (rank-named shards and side-table parts) goes, so the folder reads as this run alone.
    let run = wit(&["dedup", corpus.to_str().unwrap(), "-o", ranked.to_str().unwrap(), "--no-mirror"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(read_back(&ranked, "_near_duplicates", &corpus), read_back(&plain, "_near_duplicates", &corpus));
    verify_clean(&ranked);
}

/// The README's example (the fenced block after `<!-- near-duplicates example -->`), with `out/`
/// a folder holding the fetched corpus and `eval/` the eval folder.
#[test]
fn the_readme_example_runs() {
    let dir = tempfile::tempdir().unwrap();
    let build = dir.path().join("out");
    std::fs::create_dir_all(&build).unwrap();
    let (_server, _corpus) = fetch_corpus(&build);
    write_eval(dir.path());
    std::fs::rename(dir.path().join("eval-folder"), dir.path().join("eval")).unwrap();
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let after = readme.split("<!-- near-duplicates example -->").nth(1).expect("README holds the example");
    let block = after.split("```sh\n").nth(1).and_then(|b| b.split("```").next()).expect("a sh block");
    let lines: Vec<&str> = block.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 2, "{block}");
    for line in lines {
        let line = line
            .replace("out/", &format!("{}/", build.display()))
            .replace("eval/", &format!("{}/eval/", dir.path().display()));
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words[0], "wit");
        let run = wit(&words[1..]);
        assert!(run.status.success(), "{line}: {}", String::from_utf8_lossy(&run.stderr));
    }
    // dedup dropped the five copies, decontaminate the horse and the moon of the eval folder.
    let kept = read_back(&build.join("corpus-clean"), "_decontaminated", &build.join("corpus"));
    assert_eq!(kept["kept"].as_array().unwrap().len(), 10, "{kept}");
    verify_clean(&build.join("corpus-clean"));
}

/// Writes the eval set: a folder (two images, one caption file), a Parquet file with an image
/// column (pyarrow), a WebDataset tar (Python's tarfile) with an image and a caption.
fn write_eval(dir: &Path) -> Vec<String> {
    let folder = dir.join("eval-folder");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("horse-small.png"), png(&half(&sample("horse.png")))).unwrap();
    std::fs::write(folder.join("moon-mirror.jpg"), jpeg(&sample("moon.png").fliph(), 40)).unwrap();
    std::fs::write(folder.join("moon-mirror.txt"), "the moon").unwrap();
    let retina = dir.join("retina-q20.jpg");
    std::fs::write(&retina, jpeg(&sample("retina.jpg"), 20)).unwrap();
    let coins = dir.join("coins-cropped.png");
    std::fs::write(&coins, png(&crop(&sample("coins.png")))).unwrap();
    let parquet = dir.join("eval.parquet");
    let tar = dir.join("eval.tar");
    run_python(
        r#"
import sys, io, tarfile, pyarrow as pa, pyarrow.parquet as pq
retina, coins, parquet, tar = sys.argv[1:5]
pq.write_table(pa.table({"image": [open(retina, "rb").read(), None], "caption": ["an eye", "no picture here"]}), parquet)
with tarfile.open(tar, "w") as t:
    for name, data in [("000.png", open(coins, "rb").read()), ("000.txt", b"a handful of coins"),
                       ("001.txt", b"galaxies seen by the hubble telescope in 1995")]:
        info = tarfile.TarInfo(name); info.size = len(data); t.addfile(info, io.BytesIO(data))
"#,
        &[retina.to_str().unwrap(), coins.to_str().unwrap(), parquet.to_str().unwrap(), tar.to_str().unwrap()],
    );
    [folder, parquet, tar].iter().map(|p| p.display().to_string()).collect()
}

#[test]
fn decontaminate_removes_eval_near_duplicates_and_shared_caption_ngrams_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, corpus) = fetch_corpus(dir.path());
    let eval = write_eval(dir.path());
    let out = dir.path().join("clean");
    let mut args = vec!["decontaminate", corpus.to_str().unwrap(), "-o", out.to_str().unwrap(), "--against"];
    args.extend(eval.iter().map(String::as_str));
    args.extend(["--caption-ngram", "5"]);
    let run = wit(&args);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let printed = String::from_utf8_lossy(&run.stdout);
    assert!(printed.contains("12 kept, 4 removed for their image, 1 for their caption"), "{printed}");
    assert!(printed.contains("eval: 6 items, 4 images, 0 unreadable"), "{printed}");
    let found = read_back(&out, "_decontaminated", &corpus);
    let removed: BTreeMap<String, (String, String, serde_json::Value, serde_json::Value)> = found["side"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let item = r["eval_item"].as_str().unwrap();
            let item = item.rsplit('/').next().unwrap().to_string();
            let why = if r["reason"] == "caption" { r["ngram"].clone() } else { r["mirrored"].clone() };
            (
                r["url"].as_str().unwrap().to_string(),
                (r["reason"].as_str().unwrap().to_string(), item, r["distance"].clone(), why),
            )
        })
        .collect();
    let names: Vec<&str> = removed.keys().map(String::as_str).collect();
    assert_eq!(names, ["coins.png", "horse.png", "hubble_deep_field.jpg", "moon.png", "retina.jpg"], "{found}");
    assert_eq!(removed["horse.png"].0, "image");
    assert_eq!(removed["horse.png"].1, "horse-small.png");
    assert_eq!(removed["moon.png"].1, "moon-mirror.jpg");
    assert_eq!(removed["moon.png"].3, true, "the mirrored eval image matches through the mirror");
    assert_eq!(removed["retina.jpg"].1, "eval.parquet#0");
    assert_eq!(removed["coins.png"].1, "eval.tar:000");
    assert!(removed["coins.png"].2.as_u64().unwrap() <= 12);
    assert_eq!(removed["hubble_deep_field.jpg"].0, "caption");
    assert_eq!(removed["hubble_deep_field.jpg"].1, "eval.tar:001");
    assert_eq!(removed["hubble_deep_field.jpg"].3, "galaxies seen by the hubble");
    assert_eq!(found["kept"].as_array().unwrap().len(), 12);
    verify_clean(&out);

    // Without --caption-ngram the caption match stays; an eval path that does not exist is named.
    let images_only = dir.path().join("images-only");
    let mut args = vec!["decontaminate", corpus.to_str().unwrap(), "-o", images_only.to_str().unwrap(), "--against"];
    args.extend(eval.iter().map(String::as_str));
    let run = wit(&args);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let printed = String::from_utf8_lossy(&run.stdout);
    assert!(printed.contains("13 kept, 4 removed for their image, 0 for their caption"), "{printed}");
    let missing =
        wit(&["decontaminate", corpus.to_str().unwrap(), "-o", "/nonexistent/x", "--against", "/no/such/eval"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/no/such/eval: no such file or folder"));
}
