"""Reads every stage folder of a wit build with the readers people use, and checks each returns
exactly the rows and columns the folder's `_manifest.json` lists — no failures, no rank copies.

usage: read_folders.py BUILD_DIR   (prints one JSON object: per stage, per reader, rows and columns)
"""
import json
import os
import sys
import tempfile
import warnings

warnings.filterwarnings("ignore")
import duckdb
import polars as pl
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import datasets

datasets.disable_progress_bars()
datasets.logging.set_verbosity_error()

build = sys.argv[1]
cache = tempfile.mkdtemp(prefix="hf-cache-")
out = {}
# The stage folders, and the two tables inside them that have the same shape (their own
# _manifest.json and data/): the per-query counts and the failures.
for stage in ["queries", "candidates", "curated", "corpus", "curated/_query_counts", "corpus/_failures"]:
    folder = os.path.join(build, stage)
    data = os.path.join(folder, "data")
    manifest = json.load(open(os.path.join(folder, "_manifest.json")))
    listed = [os.path.normpath(os.path.join(folder, s["file"])) for s in manifest["shards"]]
    expected_rows = sum(s["rows"] for s in manifest["shards"])
    expected_columns = pq.read_schema(listed[0]).names
    # Every Parquet file under data/ is listed, once: nothing else is read as the stage's rows.
    on_disk = sorted(os.path.join(data, name) for name in os.listdir(data))
    assert on_disk == sorted(listed), (stage, on_disk, listed)
    # ... and no other copy of them anywhere under the stage folder (rank folders hold manifests only).
    tables = ("_failures", "_query_counts", "_counts")
    everywhere = sorted(
        os.path.join(d, f)
        for d, _, files in os.walk(folder)
        for f in files
        if f.endswith(".parquet") and not os.path.relpath(d, folder).startswith(tables)
    )
    assert everywhere == sorted(listed), (stage, everywhere, listed)
    readers = {
        "pyarrow.read_table(stage)": lambda: pq.read_table(folder),
        "pyarrow.read_table(data)": lambda: pq.read_table(data),
        "pyarrow.dataset(stage)": lambda: ds.dataset(folder).to_table(),
        "pyarrow.dataset(data)": lambda: ds.dataset(data).to_table(),
        "duckdb data/*.parquet": lambda: duckdb.sql(f"SELECT * FROM '{data}/*.parquet'").arrow(),
        "polars.scan_parquet(data)": lambda: pl.scan_parquet(data).collect(),
        "datasets.load_dataset(data_dir=data)": lambda: datasets.load_dataset(
            "parquet", data_dir=data, split="train", cache_dir=cache
        ),
    }
    seen = {}
    for name, read in readers.items():
        table = read()
        if isinstance(table, datasets.Dataset):
            rows, columns = table.num_rows, list(table.column_names)
        elif isinstance(table, pl.DataFrame):
            rows, columns = table.height, table.columns
        else:
            if hasattr(table, "read_all"):
                table = table.read_all()
            rows, columns = table.num_rows, table.schema.names
        seen[name] = {"rows": rows, "columns": columns}
        assert rows == expected_rows, (stage, name, rows, expected_rows)
        assert columns == expected_columns, (stage, name, columns, expected_columns)
    keys = pq.read_table(data, columns=["key"] if "key" in expected_columns else ["id"]).column(0).to_pylist()
    assert len(keys) == len(set(keys)), (stage, "duplicate keys")
    out[stage] = {"rows": expected_rows, "columns": expected_columns, "readers": seen}

# The image column: encoded bytes every reader returns as written.
corpus = os.path.join(build, "corpus", "data")
first = pq.read_table(corpus).slice(0, 1).to_pylist()[0]
hf = datasets.load_dataset("parquet", data_dir=corpus, split="train", cache_dir=cache)
out["image_feature"] = type(hf.features["image"]).__name__
assert hf[0]["image"] == first["image"] or hasattr(hf[0]["image"], "size")
print(json.dumps(out))
