//! The input pipeline on a real (generated) corpus folder: every row once per epoch, rank splits,
//! skips counted by reason, determinism whatever the thread count, and exact resume mid-epoch.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use wit_trainer::data::{DataPosition, HostBatch, Loader, LoaderOptions, Split};
use wit_trainer::tokenizer::{default_bpe_path, Tokenizer};

fn tokenizer() -> Arc<Tokenizer> {
    Arc::new(Tokenizer::from_file(default_bpe_path()).expect("run `make fixtures` for the BPE merges"))
}

fn options(data: &std::path::Path) -> LoaderOptions {
    LoaderOptions {
        data: data.to_owned(),
        split: Split::Train,
        holdout_shards: 1,
        batch_size: 5,
        image_size: 16,
        context_length: 77,
        workers: 3,
        prefetch: 2,
        shuffle_window: 7,
        shuffle: true,
        seed: 4,
        rank: 0,
        world_size: 1,
        epochs: Some(2),
        start: DataPosition::default(),
        keep_partial_batch: true,
    }
}

fn all_batches(options: LoaderOptions) -> Vec<HostBatch> {
    let mut loader = Loader::start(options, tokenizer()).unwrap();
    let mut batches = Vec::new();
    while let Some(batch) = loader.next_batch().unwrap() {
        batches.push(batch);
    }
    batches
}

fn keys(batches: &[HostBatch]) -> Vec<String> {
    batches.iter().flat_map(|b| b.keys.clone()).collect()
}

#[test]
fn each_epoch_yields_every_decodable_training_row_once_in_a_new_order() {
    let dir = tempfile::tempdir().unwrap();
    // 3 shards of 12 (one held out); 2 rows of shard 0 are not images.
    let (corpus, _) = common::shapes_corpus(dir.path(), 3, 12, 24, 2);
    let batches = all_batches(options(&corpus));
    let skipped: u64 = batches.iter().flat_map(|b| b.skipped.values()).sum();
    assert_eq!(skipped, 4, "2 broken rows in each of 2 epochs");
    assert!(batches.iter().all(|b| b.skipped.keys().all(|r| r == "unsupported image format")));
    let epoch = |e: u64| -> Vec<String> {
        batches.iter().filter(|b| b.position.epoch == e).flat_map(|b| b.keys.clone()).collect()
    };
    let all = keys(&batches);
    assert_eq!(all.len(), 2 * 22);
    let first: Vec<String> = all[..22].to_vec();
    let second: Vec<String> = all[22..].to_vec();
    assert_eq!(first.iter().collect::<BTreeSet<_>>().len(), 22);
    assert_eq!(first.iter().collect::<BTreeSet<_>>(), second.iter().collect::<BTreeSet<_>>());
    assert_ne!(first, second, "the second epoch is reshuffled");
    assert!(!epoch(1).is_empty());
    // Images are CHW bytes of the asked size; tokens start with the start-of-text id.
    let b = &batches[0];
    assert_eq!(b.images.len(), b.len * 3 * 16 * 16);
    assert_eq!(b.tokens.len(), b.len * 77);
    assert_eq!(b.tokens[0], wit_trainer::tokenizer::START_OF_TEXT);
}

#[test]
fn thread_count_does_not_change_the_batches_and_ranks_split_the_shards() {
    let dir = tempfile::tempdir().unwrap();
    let (corpus, _) = common::shapes_corpus(dir.path(), 5, 6, 20, 0);
    let one = all_batches(LoaderOptions { workers: 1, ..options(&corpus) });
    let four = all_batches(LoaderOptions { workers: 4, ..options(&corpus) });
    assert_eq!(keys(&one), keys(&four));
    assert_eq!(
        one.iter().map(|b| b.images.clone()).collect::<Vec<_>>(),
        four.iter().map(|b| b.images.clone()).collect::<Vec<_>>()
    );

    let rank = |rank| {
        let batches = all_batches(LoaderOptions { rank, world_size: 2, epochs: Some(1), ..options(&corpus) });
        keys(&batches).into_iter().collect::<BTreeSet<_>>()
    };
    let (r0, r1) = (rank(0), rank(1));
    assert!(r0.is_disjoint(&r1));
    assert_eq!(r0.len() + r1.len(), 24, "4 training shards of 6 rows");
    assert_eq!(r0.len() % 6, 0);
}

#[test]
fn a_loader_started_at_a_batchs_position_continues_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (corpus, _) = common::shapes_corpus(dir.path(), 3, 11, 20, 1);
    let straight = all_batches(LoaderOptions { epochs: Some(3), keep_partial_batch: false, ..options(&corpus) });
    for cut in [1, 3, 4, 7] {
        let position = straight[cut - 1].position.clone();
        let resumed = all_batches(LoaderOptions {
            epochs: Some(3),
            keep_partial_batch: false,
            start: position,
            ..options(&corpus)
        });
        assert_eq!(keys(&resumed), keys(&straight[cut..]), "resumed after batch {cut}");
        let images = |b: &[HostBatch]| b.iter().map(|b| b.images.clone()).collect::<Vec<_>>();
        assert_eq!(images(&resumed), images(&straight[cut..]), "crops after batch {cut}");
    }
}

#[test]
fn the_held_out_split_reads_the_last_shards_in_file_order_and_bad_folders_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let (corpus, queries) = common::shapes_corpus(dir.path(), 2, 6, 20, 0);
    let held =
        all_batches(LoaderOptions { split: Split::Holdout, shuffle: false, epochs: Some(1), ..options(&corpus) });
    let captions: Vec<String> = held.iter().flat_map(|b| b.captions.clone()).collect();
    assert_eq!(captions.len(), 6);
    assert_eq!(captions[0], "a blue square", "row 6 of the cycle");

    let err = Loader::start(LoaderOptions { holdout_shards: 2, ..options(&corpus) }, tokenizer()).err().unwrap();
    assert!(err.to_string().contains("2 shards, 3 needed"), "{err}");
    let err = Loader::start(options(&queries), tokenizer()).err().unwrap();
    assert!(err.to_string().contains("kind is queries"), "{err}");
}

/// Resuming with another world size: the shards every old rank had finished are left out of the
/// resumed epoch, the others (a half-read one included) are read by the new ranks, each once.
#[test]
fn resharding_skips_the_shards_every_old_rank_finished() {
    let dir = tempfile::tempdir().unwrap();
    // 5 shards of 6 rows, one held out: 4 training shards, 2 per old rank.
    let (corpus, _) = common::shapes_corpus(dir.path(), 5, 6, 16, 0);
    let old_rank = |rank: usize| LoaderOptions { rank, world_size: 2, epochs: Some(1), ..options(&corpus) };
    // Rank 0 finished its first shard and is inside its second; rank 1 is inside its first.
    let rank0 = all_batches(LoaderOptions { shuffle_window: 1, ..old_rank(0) });
    let rank1 = all_batches(LoaderOptions { shuffle_window: 1, ..old_rank(1) });
    let position_after = |batches: &[HostBatch], rows: usize| {
        let mut seen = 0;
        batches
            .iter()
            .find(|b| {
                seen += b.len;
                seen >= rows
            })
            .unwrap()
            .position
            .clone()
    };
    let (p0, p1) = (position_after(&rank0, 10), position_after(&rank1, 5));
    assert_eq!((p0.shard_cursor, p1.shard_cursor), (1, 0), "{p0:?} {p1:?}");
    let finished: BTreeSet<String> = keys(&rank0).into_iter().take(6).collect();

    let new = LoaderOptions { world_size: 1, epochs: Some(1), ..options(&corpus) };
    let start = wit_trainer::data::reshard(&[p0.clone(), p1.clone()], &new).unwrap();
    assert_eq!((start.epoch, start.done.len()), (0, 1), "{start:?}");
    let resumed = keys(&all_batches(LoaderOptions { start: start.clone(), ..new.clone() }));
    let resumed_set: BTreeSet<String> = resumed.iter().cloned().collect();
    assert_eq!(resumed.len(), 18, "the 3 shards not finished by every old rank, once each");
    assert_eq!(resumed_set.len(), 18);
    assert!(resumed_set.is_disjoint(&finished));
    // With 3 new ranks, the same 18 rows are dealt out, each to one rank.
    let three: Vec<String> = (0..3)
        .flat_map(|rank| keys(&all_batches(LoaderOptions { rank, world_size: 3, start: start.clone(), ..new.clone() })))
        .collect();
    assert_eq!(three.iter().cloned().collect::<BTreeSet<_>>(), resumed_set);
    assert_eq!(three.len(), 18);
    // A rank already in the next epoch finished all its shards of this one.
    let ahead = DataPosition { epoch: 1, ..Default::default() };
    let start = wit_trainer::data::reshard(&[p0, ahead], &new).unwrap();
    assert_eq!((start.epoch, start.done.len()), (0, 3), "{start:?}");
}
