//! The data contract read back by real Arrow clients: Rust writes shards with every column type,
//! and pyarrow and DuckDB (from the project venv) must see the same values.

use serde_json::Value;
use wit_contract::{
    pair_key, shard_file_name, AuditedImage, Candidate, CorpusImage, ImageAudit, ImageHashes, Manifest, Provenance,
    Record, RecordKind, ShardWriter, WriterOptions,
};
use wit_tests::run_python;

fn corpus_rows(shard: usize) -> Vec<AuditedImage> {
    let captions = ["a red cube on a blue floor", "ein Hund im Schnee 🐕", "\"quoted\", tab\tand newline\n", ""];
    (0..8)
        .map(|i| {
            let n = shard * 8 + i;
            let url = format!("http://127.0.0.1:8080/images/{n}.jpg");
            let caption = captions[i % captions.len()].to_owned();
            let image = CorpusImage {
                candidate: Candidate {
                    key: pair_key(&url, &caption),
                    url,
                    caption,
                    page_url: (i % 2 == 0).then(|| format!("http://127.0.0.1:8080/page{n}.html")),
                    source: ["warc", "wat", "list"][i % 3].to_owned(),
                    lang: (i % 3 != 2).then(|| "eng".to_owned()),
                    lang_conf: (i % 3 != 2).then_some(0.25 + i as f32 / 7.0),
                    provenance: Provenance {
                        file: (i % 3 != 2).then(|| format!("s3://commoncrawl/crawl-data/CC-MAIN-{shard}.warc.wat.gz")),
                        offset: (i % 3 != 2).then_some((1u64 << 40) + n as u64 * 12_345),
                        record_id: (i % 3 == 0).then(|| format!("<urn:uuid:{n:08x}-1111-2222-3333-444455556666>")),
                        row: (i % 3 == 2).then_some(n as u64 + 1),
                        page_opt_out: (i % 3 != 2).then(|| ["", "noindex,nofollow"][i % 2].to_owned()),
                    },
                },
                query_ids: (0..(i as u32 % 4)).map(|q| q * 1000 + n as u32).collect(),
                width: 256,
                height: 128 + i as u32,
                original_width: 4000 + i as u32,
                original_height: 3000,
                image: (0..(64 + n * 13)).map(|b| (b * 31 + n) as u8).collect(),
                image_format: ["jpeg", "png", "webp"][i % 3].to_owned(),
                image_xxh3: if i == 0 { u64::MAX } else { xxhash(n) },
                fetched_at_us: 1_795_000_000_123_456 + n as i64,
                image_phash: (i % 2 == 1).then_some(u64::MAX - n as u64),
            };
            let audit = ImageAudit {
                robots_txt: Some(["allowed", "not_checked", "allowed"][i % 3].to_owned()),
                robots_txt_rule: (i % 3 == 2).then(|| "Allow: /images/".to_owned()),
                robots_txt_fetched_at_us: (i % 3 != 1).then_some(1_794_000_000_000_001 + n as i64),
                robots_txt_xxh3: (i % 3 == 0).then_some(u64::MAX - n as u64),
                x_robots_tag: (i % 4 == 1).then(|| "noarchive, googlebot: noindex".to_owned()),
            };
            let hashes = ImageHashes {
                sha256: (i != 3).then(|| format!("{:064x}", n * 7919)),
                md5: (i != 5).then(|| format!("{:032x}", n * 104_729)),
            };
            AuditedImage { image, audit, hashes }
        })
        .collect()
}

fn xxhash(n: usize) -> u64 {
    u64::from_str_radix(&wit_contract::xxh3_hex(&n.to_le_bytes()), 16).unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The row as both Python clients are asked to print it.
fn expected_json(audited: &AuditedImage) -> Value {
    let row = &audited.image;
    let (audit, hashes) = (&audited.audit, &audited.hashes);
    let c = &row.candidate;
    serde_json::json!({
        "key": c.key, "url": c.url, "caption": c.caption, "page_url": c.page_url, "source": c.source,
        "lang": c.lang, "lang_conf": c.lang_conf.map(f64::from),
        "source_file": c.provenance.file, "source_offset": c.provenance.offset,
        "source_record_id": c.provenance.record_id, "source_row": c.provenance.row, "query_ids": row.query_ids,
        "width": row.width, "height": row.height,
        "original_width": row.original_width, "original_height": row.original_height,
        "image": hex(&row.image), "image_format": row.image_format, "image_xxh3": row.image_xxh3,
        "fetched_at_us": row.fetched_at_us, "image_phash": row.image_phash,
        "page_opt_out": c.provenance.page_opt_out, "robots_txt": audit.robots_txt,
        "robots_txt_rule": audit.robots_txt_rule, "robots_txt_fetched_at_us": audit.robots_txt_fetched_at_us,
        "robots_txt_xxh3": audit.robots_txt_xxh3, "x_robots_tag": audit.x_robots_tag,
        "sha256": hashes.sha256, "md5": hashes.md5,
    })
}

/// Writes two corpus shards and their manifest; returns the folder and the rows in order.
fn write_corpus() -> (tempfile::TempDir, Vec<AuditedImage>) {
    let dir = tempfile::tempdir().unwrap();
    let mut manifest = Manifest::new(RecordKind::Corpus, serde_json::json!({"test": true}), Some(1));
    let mut all = Vec::new();
    for shard in 0..2 {
        let rows = corpus_rows(shard);
        // Small row groups so the readers cross row-group boundaries.
        let options = WriterOptions { row_group_rows: 3, ..WriterOptions::default() };
        let mut writer =
            ShardWriter::for_records::<AuditedImage>(dir.path().join(shard_file_name(shard)), &options).unwrap();
        writer.write_records(&rows[..5]).unwrap();
        writer.write_records(&rows[5..]).unwrap();
        manifest.add_shard(writer.finish().unwrap());
        all.extend(rows);
    }
    manifest.complete = true;
    manifest.save(dir.path()).unwrap();
    (dir, all)
}

const PYARROW_DUMP: &str = r#"
import json, sys, pyarrow as pa, pyarrow.parquet as pq
table = pq.read_table(sys.argv[1:])
rows = []
for r in table.to_pylist():
    r["image"] = r["image"].hex()
    # as_py() gives a timezone-aware datetime; print the exact integer the file holds instead.
    del r["fetched_at"]
    del r["robots_txt_fetched_at"]
    rows.append(r)
micros = table.column("fetched_at").cast(pa.int64()).to_pylist()
robots_micros = table.column("robots_txt_fetched_at").cast(pa.int64()).to_pylist()
for r, us, robots_us in zip(rows, micros, robots_micros):
    r["fetched_at_us"] = us
    r["robots_txt_fetched_at_us"] = robots_us
types = {f.name: str(f.type) for f in table.schema}
nullable = {f.name: f.nullable for f in table.schema}
meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items() if k.startswith(b"wit.")}
print(json.dumps({"rows": rows, "types": types, "nullable": nullable, "meta": meta}))
"#;

const DUCKDB_DUMP: &str = r#"
import json, sys, duckdb
con = duckdb.connect()
glob = sys.argv[1] + "/shard-*.parquet"
cur = con.execute(f"""
  SELECT key, url, caption, page_url, source, lang, lang_conf, source_file, source_offset, source_record_id,
         source_row, query_ids, width, height,
         original_width, original_height, lower(hex(image)) AS image, image_format, image_xxh3,
         epoch_us(fetched_at) AS fetched_at_us, image_phash, page_opt_out, robots_txt, robots_txt_rule,
         epoch_us(robots_txt_fetched_at) AS robots_txt_fetched_at_us, robots_txt_xxh3, x_robots_tag, sha256, md5
  FROM read_parquet('{glob}', filename = true, file_row_number = true) ORDER BY filename, file_row_number
""")
names = [d[0] for d in cur.description]
rows = [dict(zip(names, r)) for r in cur.fetchall()]
types = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet('{glob}'))").fetchall())
print(json.dumps({"rows": rows, "types": types}))
"#;

#[test]
fn pyarrow_reads_every_column_as_written() {
    let (dir, rows) = write_corpus();
    let manifest = Manifest::load(dir.path()).unwrap();
    let paths: Vec<String> = manifest.shard_paths(dir.path()).iter().map(|p| p.display().to_string()).collect();
    let args: Vec<&str> = paths.iter().map(String::as_str).collect();
    let out: Value = serde_json::from_str(&run_python(PYARROW_DUMP, &args)).unwrap();

    let expected: Vec<Value> = rows.iter().map(expected_json).collect();
    assert_eq!(out["rows"].as_array().unwrap(), &expected);
    let types = &out["types"];
    assert_eq!(types["query_ids"], "list<item: uint32 not null>");
    assert_eq!(types["image"], "binary");
    assert_eq!(types["image_xxh3"], "uint64");
    assert_eq!(types["lang_conf"], "float");
    assert_eq!(types["source_offset"], "uint64");
    assert_eq!(types["source_row"], "uint64");
    assert_eq!(types["fetched_at"], "timestamp[us, tz=UTC]");
    assert_eq!(types["robots_txt_fetched_at"], "timestamp[us, tz=UTC]");
    assert_eq!(types["robots_txt_xxh3"], "uint64");
    assert_eq!(types["sha256"], "string");
    assert_eq!(out["nullable"]["page_url"], true);
    assert_eq!(out["nullable"]["url"], false);
    assert_eq!(out["meta"]["wit.kind"], "corpus");
}

#[test]
fn duckdb_reads_every_column_as_written() {
    let (dir, rows) = write_corpus();
    let out: Value = serde_json::from_str(&run_python(DUCKDB_DUMP, &[&dir.path().display().to_string()])).unwrap();
    let expected: Vec<Value> = rows.iter().map(expected_json).collect();
    assert_eq!(out["rows"].as_array().unwrap(), &expected);
    let types = &out["types"];
    assert_eq!(types["query_ids"], "UINTEGER[]");
    assert_eq!(types["image"], "BLOB");
    assert_eq!(types["image_xxh3"], "UBIGINT");
    assert_eq!(types["source_offset"], "UBIGINT");
    assert_eq!(types["fetched_at"], "TIMESTAMP WITH TIME ZONE");
}

#[test]
fn a_pyarrow_written_candidate_file_reads_back_in_rust() {
    // The other direction: a file another tool wrote (large strings, its own extra column).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("from_pyarrow.parquet");
    let script = r#"
import sys, pyarrow as pa, pyarrow.parquet as pq
t = pa.table({
  "key": pa.array(["k1", "k2"], pa.large_string()),
  "url": ["http://a/1.jpg", "http://a/2.jpg"],
  "caption": ["a dog", "ein Hund"],
  "page_url": [None, "http://a/"],
  "source": ["list", "list"],
  "lang": ["eng", None],
  "lang_conf": pa.array([0.5, None], pa.float32()),
  "extra": [1, 2],
})
pq.write_table(t, sys.argv[1])
"#;
    run_python(script, &[&path.display().to_string()]);
    let rows = wit_contract::read_records::<Candidate>(&path).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].key, "k1");
    assert_eq!(rows[0].page_url, None);
    assert_eq!(rows[1].caption, "ein Hund");
    assert_eq!(rows[1].lang, None);
    assert_eq!(rows[0].lang_conf, Some(0.5));
    // And it round-trips through our writer unchanged.
    assert_eq!(Candidate::from_batch(&Candidate::to_batch(&rows).unwrap()).unwrap(), rows);
}
