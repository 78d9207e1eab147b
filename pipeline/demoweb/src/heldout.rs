//! A held-out test set for the demo's zero-shot check: generated scenes the site never serves
//! (ids far past any page's), written as a corpus folder (`DIR/corpus`, what `wit-train eval`
//! reads) whose rows carry their class as `query_ids`, and a queries folder of the class names
//! (`DIR/classes`: "red circle", "blue square"…, one per colour × shape).

use std::io::Cursor;
use std::path::Path;

use image::ImageFormat;
use wit_contract::{
    pair_key, Candidate, CorpusImage, Manifest, QueryEntry, QuerySource, RecordKind, ShardWriter, WriterOptions,
};
use xxhash_rust::xxh3::xxh3_64;

use crate::scene::{Scene, COLOURS, SHAPES};
use crate::DemoWebError;
use wit_contract::{AtPath, PathError};

/// Scene ids of the held-out set start here; a site would need 2^40 images to reach them.
pub const HELDOUT_FIRST_ID: u64 = 1 << 40;

/// The class of a scene: colour × shape, numbered colour-major.
pub fn class_of(scene: &Scene) -> u32 {
    (scene.colour * SHAPES.len() + scene.shape) as u32
}

/// Every class name, by class id.
pub fn class_names() -> Vec<String> {
    COLOURS
        .iter()
        .flat_map(|(colour, _, _)| SHAPES.iter().map(move |(shape, _, _)| format!("{colour} {shape}")))
        .collect()
}

/// Writes `count` held-out scenes of `seed`'s world into `dir/corpus` and the class names into
/// `dir/classes`. Returns the number of classes.
pub fn write_heldout(seed: u64, count: u64, image_size: u32, dir: &Path) -> Result<usize, DemoWebError> {
    let corpus_dir = dir.join("corpus");
    let classes_dir = dir.join("classes");
    for d in [&corpus_dir, &classes_dir] {
        std::fs::create_dir_all(d).at_path(d)?;
    }
    let mut rows = Vec::with_capacity(count as usize);
    for id in HELDOUT_FIRST_ID..HELDOUT_FIRST_ID + count {
        let scene = Scene::generate(seed, id);
        let img = scene.render(image_size);
        let mut png = Cursor::new(Vec::new());
        img.write_to(&mut png, ImageFormat::Png).map_err(|e| PathError::io(&corpus_dir, std::io::Error::other(e)))?;
        let png = png.into_inner();
        let url = format!("demo://heldout/{id}.png");
        let caption = scene.caption();
        rows.push(CorpusImage {
            candidate: Candidate {
                key: pair_key(&url, &caption),
                url,
                caption,
                page_url: None,
                source: "demo_heldout".into(),
                lang: Some("eng".into()),
                lang_conf: Some(1.0),
                provenance: Default::default(),
            },
            query_ids: vec![class_of(&scene)],
            width: image_size,
            height: image_size,
            original_width: image_size,
            original_height: image_size,
            image_xxh3: xxh3_64(&png),
            image: png,
            image_format: "png".into(),
            fetched_at_us: 0,
        });
    }
    let config = serde_json::json!({"stage": "demo_heldout", "seed": seed, "count": count, "image_size": image_size});
    let mut corpus = Manifest::new(RecordKind::Corpus, config.clone(), Some(seed));
    let mut writer =
        ShardWriter::for_records::<CorpusImage>(wit_contract::shard_path(&corpus_dir, 0), &WriterOptions::default())?;
    writer.write_records(&rows)?;
    corpus.add_shard(writer.finish()?);
    corpus.complete = true;
    corpus.save(&corpus_dir)?;

    let names = class_names();
    let entries: Vec<QueryEntry> = names
        .iter()
        .enumerate()
        .map(|(id, name)| QueryEntry {
            id: id as u32,
            query: name.clone(),
            source: QuerySource::Bigram,
            count: 0,
            pmi: None,
        })
        .collect();
    let mut classes = Manifest::new(RecordKind::Queries, config, Some(seed));
    let mut writer =
        ShardWriter::for_records::<QueryEntry>(classes_dir.join("data/queries.parquet"), &WriterOptions::default())?;
    writer.write_records(&entries)?;
    classes.add_shard(writer.finish()?);
    classes.complete = true;
    classes.save(&classes_dir)?;
    Ok(names.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_heldout_set_is_readable_and_labelled_by_its_captions() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(write_heldout(3, 30, 32, dir.path()).unwrap(), 24);
        let manifest = Manifest::load(dir.path().join("corpus")).unwrap();
        assert!(manifest.complete);
        let rows: Vec<CorpusImage> =
            wit_contract::read_records(&manifest.shard_paths(dir.path().join("corpus"))[0]).unwrap();
        assert_eq!(rows.len(), 30);
        let names = class_names();
        for row in &rows {
            let class = &names[row.query_ids[0] as usize];
            let (colour, shape) = class.split_once(' ').unwrap();
            assert!(
                row.candidate.caption.contains(colour) && row.candidate.caption.contains(shape),
                "{class}: {}",
                row.candidate.caption
            );
        }
        let classes: Vec<QueryEntry> =
            wit_contract::read_records(dir.path().join("classes/data/queries.parquet")).unwrap();
        assert_eq!(classes[5].query, "green square");
    }
}
