//! Stats read back from manifests and markers. A stats value that does not parse as the stage's
//! stats type is an error naming the file: merging it as zeros would silently lose counts.

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::error::Result;
use wit_contract::PathError;

/// `value` (read from `source`) as the stats type `T`.
pub fn read_stats<T: DeserializeOwned>(value: &serde_json::Value, source: &Path) -> Result<T> {
    let stats = serde_json::from_value(value.clone())
        .map_err(|e| PathError::input(source, format!("stats do not parse ({e}); written by another wit version?")))?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    struct Stats {
        #[allow(dead_code)]
        rows: u64,
    }

    #[test]
    fn unparsable_stats_name_the_file() {
        let err = read_stats::<Stats>(&serde_json::json!({"rows": "many"}), Path::new("x/manifest.json")).unwrap_err();
        assert!(err.to_string().starts_with("x/manifest.json: stats do not parse"), "{err}");
        assert_eq!(read_stats::<Stats>(&serde_json::json!({"rows": 2}), Path::new("m")).unwrap().rows, 2);
    }
}
