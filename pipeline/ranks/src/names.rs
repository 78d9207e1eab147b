//! Names of everything per rank: one place, read by the stages, the planner and `wit status`.

use std::path::{Path, PathBuf};

/// The folder of rank outputs inside a stage's output folder.
pub const RANKS_DIR: &str = wit_contract::layout::RANKS_DIR;
/// The folder of shuffle entries, per bucket rank that reads them.
pub const BUCKETS_DIR: &str = "_buckets";
/// The folder of drop lists, per rank that applies them.
pub const DROPS_DIR: &str = "_drops";
/// The folder of completion markers.
pub const STEPS_DIR: &str = "_steps";

/// `RRRRR-of-NNNNN`, the suffix of every per-rank file and folder.
pub fn rank_suffix(rank: usize, world_size: usize) -> String {
    format!("{rank:05}-of-{world_size:05}")
}

/// Rank `rank` of `world_size` (a rank of a wave, or bucket `rank` of a bucket wave).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RankOf {
    pub rank: usize,
    pub world_size: usize,
}

impl RankOf {
    pub fn new(rank: usize, world_size: usize) -> Self {
        RankOf { rank, world_size }
    }

    pub fn suffix(&self) -> String {
        rank_suffix(self.rank, self.world_size)
    }

    /// `OUT/_ranks/rank-RRRRR-of-NNNNN`: where the rank keeps its manifest (its shards go to `OUT/data`).
    pub fn dir(&self, out: &Path) -> PathBuf {
        out.join(RANKS_DIR).join(self.dir_name())
    }

    /// `rank-RRRRR-of-NNNNN`.
    pub fn dir_name(&self) -> String {
        format!("rank-{}", self.suffix())
    }

    /// A rank manifest's entry as the merged manifest lists it: `data/rank-…-shard-….parquet` for
    /// a shard in the stage's `data/` folder, `_ranks/rank-RRRRR-of-NNNNN/FILE` otherwise.
    pub fn listed(&self, file: &str) -> String {
        wit_contract::layout::listed_from_stage(&format!("{RANKS_DIR}/{}", self.dir_name()), file)
    }

    /// `OUT/_steps/STEP-RRRRR-of-NNNNN.json`: the marker that this rank of `step` is done.
    pub fn marker(&self, out: &Path, step: &str) -> PathBuf {
        out.join(marker_relative(step, Some(*self)))
    }

    /// `OUT/_buckets/to-bucket-BBBBB-of-NNNNN/from-rank-RRRRR.bin`: what this rank sends to `bucket`.
    pub fn bucket_file(&self, out: &Path, bucket: usize) -> PathBuf {
        bucket_dir(out, RankOf::new(bucket, self.world_size)).join(format!("from-rank-{:05}.bin", self.rank))
    }

    /// `OUT/_drops/to-rank-RRRRR-of-NNNNN/from-bucket-BBBBB.bin`: what bucket rank `self` tells `rank`.
    pub fn drops_file(&self, out: &Path, rank: usize) -> PathBuf {
        drops_dir(out, RankOf::new(rank, self.world_size)).join(format!("from-bucket-{:05}.bin", self.rank))
    }
}

/// The folder bucket rank `bucket` reads its entries from.
pub fn bucket_dir(out: &Path, bucket: RankOf) -> PathBuf {
    out.join(BUCKETS_DIR).join(format!("to-bucket-{}", bucket.suffix()))
}

/// The folder rank `rank` reads its drop lists from.
pub fn drops_dir(out: &Path, rank: RankOf) -> PathBuf {
    out.join(DROPS_DIR).join(format!("to-rank-{}", rank.suffix()))
}

/// The marker of `step` relative to the stage's output folder: `_steps/STEP-RRRRR-of-NNNNN.json`
/// for a rank of a wave, `_steps/STEP.json` for a one-process step. `{rank}` in a planner template.
pub fn marker_relative(step: &str, rank: Option<RankOf>) -> String {
    match rank {
        Some(rank) => format!("{STEPS_DIR}/{step}-{}.json", rank.suffix()),
        None => format!("{STEPS_DIR}/{step}.json"),
    }
}

/// The marker template the planner fills per rank (`{rank}` becomes `RRRRR-of-NNNNN`).
pub fn marker_template(step: &str) -> String {
    format!("{STEPS_DIR}/{step}-{{rank}}.json")
}

/// The rank folder template the planner fills per rank: `_ranks/rank-{rank}`.
pub fn rank_template() -> String {
    format!("{RANKS_DIR}/rank-{{rank}}")
}

/// The largest `NNNNN` of `…-of-NNNNN…` in `name`, if any (world-size detection from names).
pub fn world_size_in(name: &str) -> Option<usize> {
    name.split("-of-").skip(1).filter_map(|rest| rest.get(..5)?.parse().ok()).max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_reading_rank() {
        let out = Path::new("/b/corpus");
        let r = RankOf::new(1, 4);
        assert_eq!(r.dir(out), Path::new("/b/corpus/_ranks/rank-00001-of-00004"));
        assert_eq!(r.listed("shard-00002.parquet"), "_ranks/rank-00001-of-00004/shard-00002.parquet");
        assert_eq!(
            r.listed("../../data/rank-00001-of-00004-shard-00002.parquet"),
            "data/rank-00001-of-00004-shard-00002.parquet"
        );
        assert_eq!(r.marker(out, "fetch"), Path::new("/b/corpus/_steps/fetch-00001-of-00004.json"));
        assert_eq!(r.bucket_file(out, 3), Path::new("/b/corpus/_buckets/to-bucket-00003-of-00004/from-rank-00001.bin"));
        assert_eq!(r.drops_file(out, 0), Path::new("/b/corpus/_drops/to-rank-00000-of-00004/from-bucket-00001.bin"));
        assert_eq!(marker_template("fetch-dedup"), "_steps/fetch-dedup-{rank}.json");
        assert_eq!(world_size_in("rank-00001-of-00004"), Some(4));
        assert_eq!(world_size_in("shard-00001.parquet"), None);
    }
}
