"""Manual check of the Spark recipe in docs/recipes.md: RDD.pipe through mmprompt.

Not part of `make test`: PySpark is ~300 MB and starts a JVM, while the contract it relies on
(paths in on stdin, one JSON-LD document per line out, in order) is already tested without
Spark by tests/recipe.rs. Run this once when changing that contract or the recipe:

    python3 -m venv /tmp/spark && /tmp/spark/bin/pip install pyspark   # needs Java 17+
    cargo build --release
    /tmp/spark/bin/python docs/spark_pipe.py [DIR]                      # default: samples/

It lists the media files under DIR, spreads them over 3 partitions, pipes every partition
through `mmprompt extract --files-from - --format ndjson`, and checks that each input came back
exactly once as a document whose about.contentUrl names it. Exit status 0 means the recipe works.
"""

import json
import os
import shlex
import sys

from pyspark.sql import SparkSession

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "mmprompt")
MEDIA = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff",
         ".wav", ".flac", ".ogg", ".mp3", ".m4a", ".aif", ".aiff")


def main() -> int:
    folder = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "samples"))
    paths = sorted(
        os.path.join(d, f)
        for d, _, files in os.walk(folder)
        for f in files
        if f.lower().endswith(MEDIA)
    )
    if not os.access(BIN, os.X_OK):
        print(f"{BIN} missing: run `cargo build --release` first", file=sys.stderr)
        return 1
    spark = (SparkSession.builder.master("local[2]").appName("mmprompt-pipe")
             .config("spark.ui.enabled", "false").getOrCreate())
    try:
        rdd = spark.sparkContext.parallelize(paths, 3)
        # One process per partition, one worker thread each: Spark already runs one task per
        # core, so mmprompt's own pool would only oversubscribe the executor.
        cmd = f"{shlex.quote(BIN)} extract --files-from - --format ndjson --jobs 1"
        # checkCode=True: a failed input (exit 2) fails the task, as Scala's RDD.pipe always
        # does; PySpark's default would silently drop its document.
        docs = rdd.pipe(cmd, checkCode=True).map(json.loads)
        urls = docs.map(lambda d: d["about"]["contentUrl"]).collect()
    finally:
        spark.stop()
    missing = sorted(set(paths) - set(urls))
    dupes = sorted({u for u in urls if urls.count(u) > 1})
    print(f"{len(paths)} paths in, {len(urls)} documents out; "
          f"missing {missing or 'none'}, duplicated {dupes or 'none'}")
    # collect() keeps partition order and mmprompt keeps line order inside a partition,
    # so the whole output is in input order too.
    in_order = urls == paths
    print("in input order:", in_order)
    return 0 if not missing and not dupes and in_order else 1


if __name__ == "__main__":
    sys.exit(main())
