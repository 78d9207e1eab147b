"""The peer side of the export benchmark: a wit corpus folder to WebDataset tars the way a user
would write it in Python without wit — pyarrow reads the corpus shards batch by batch and
webdataset's own ShardWriter (the library open_clip reads them with) writes `.jpg` + `.txt` +
`.json` per sample, the same samples per tar as `wit export webdataset`.

    python scripts/webdataset_peer.py CORPUS OUT SAMPLES_PER_TAR   ->  samples written on stdout

Used by scripts/bench.py (stage export).
"""
import json
import os
import sys

import pyarrow.parquet as pq
import webdataset as wds

COLUMNS = ["key", "url", "caption", "page_url", "width", "height", "original_width", "original_height",
           "image_format", "image"]


def main():
    corpus, out, per_tar = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(os.path.join(corpus, "_manifest.json")) as f:
        manifest = json.load(f)
    os.makedirs(out, exist_ok=True)
    written = 0
    with wds.ShardWriter(os.path.join(out, "%05d.tar"), maxcount=per_tar, verbose=0) as sink:
        for shard in manifest["shards"]:
            for batch in pq.ParquetFile(os.path.join(corpus, shard["file"])).iter_batches(batch_size=64,
                                                                                       columns=COLUMNS):
                columns = {name: batch.column(name).to_pylist() for name in COLUMNS}
                for i, image in enumerate(columns["image"]):
                    meta = {name: columns[name][i] for name in COLUMNS if name != "image"}
                    ext = "jpg" if meta["image_format"] in ("jpeg", "jpg") else meta["image_format"]
                    sink.write({"__key__": f"{written:09d}", ext: image, "txt": meta["caption"], "json": meta})
                    written += 1
    print(written)


if __name__ == "__main__":
    main()
