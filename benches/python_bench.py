"""Figures for the Python package (issue #18), medians of N runs in one process:

- extract on a numpy array against the same image from its file;
- throughput of extract with 1 and 2 Python threads;
- a PySpark local[2] job (RDD.pipe and mapInPandas) against one local `mmprompt extract`
  process on the same folder.

Run with a release build of the package and the binary:
    make py-package PY_PROFILE=release && cargo build --release
    target/venv-py/bin/python benches/python_bench.py [--runs 7] [--bin target/release/mmprompt]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2

import mmprompt

ROOT = Path(__file__).resolve().parents[1]


def median_time(f, runs):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--bin", default=str(ROOT / "target" / "release" / "mmprompt"))
    ap.add_argument("--no-spark", action="store_true")
    args = ap.parse_args()
    os.chdir(ROOT)
    images = [p for p in sorted((ROOT / "samples").glob("*.png"))]
    print("array vs file (median ms per extract):")
    for p in images:
        frame = cv2.imread(str(p), cv2.IMREAD_COLOR)
        rel = os.path.relpath(p, ROOT)
        f = median_time(lambda: mmprompt.extract(rel), args.runs)
        a = median_time(lambda: mmprompt.extract(frame, bgr=True, name=rel), args.runs)
        print(f"  {p.name:12s} {frame.shape[1]}x{frame.shape[0]}: file {f*1e3:7.1f}  "
              f"array {a*1e3:7.1f}  array/file {a/f:.2f}")

    work = [os.path.relpath(p, ROOT) for p in images] * 4
    def run(threads):
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(mmprompt.extract, work))
    one = median_time(lambda: run(1), args.runs)
    two = median_time(lambda: run(2), args.runs)
    print(f"threads: {len(work)} extracts, 1 thread {one:.3f} s ({len(work)/one:.1f}/s), "
          f"2 threads {two:.3f} s ({len(work)/two:.1f}/s), speed-up {one/two:.2f}x "
          f"on {os.cpu_count()} cores")

    if args.no_spark:
        return
    paths = sorted(os.path.relpath(p, ROOT) for p in (ROOT / "samples").rglob("*")
                   if p.suffix in (".png", ".jpg", ".wav"))
    def local():
        r = subprocess.run([args.bin, "extract", "--files-from", "-", "--format", "ndjson",
                            "--quiet"], input="\n".join(paths) + "\n", capture_output=True,
                           text=True, check=True)
        return r.stdout
    local_s = median_time(local, args.runs)

    os.environ["PYSPARK_PYTHON"] = sys.executable
    import pandas as pd
    from pyspark.sql import SparkSession
    spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
             .config("spark.driver.host", "127.0.0.1")
             .config("spark.driver.bindAddress", "127.0.0.1").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    sc = spark.sparkContext
    cmd = f"{args.bin} extract --files-from - --format ndjson --quiet --jobs 1"
    pipe_s = median_time(lambda: sc.parallelize(paths, 2).pipe(cmd).collect(), args.runs)
    root = str(ROOT)

    def batches(it):
        import mmprompt as m
        os.chdir(root)
        for b in it:
            yield pd.DataFrame({"path": b["path"],
                                "document": [json.dumps(m.extract(p)) for p in b["path"]]})
    df = spark.createDataFrame(pd.DataFrame({"path": paths})).repartition(2).cache()
    df.count()
    mip_s = median_time(
        lambda: df.mapInPandas(batches, schema="path string, document string").collect(),
        args.runs)
    spark.stop()
    print(f"spark local[2], {len(paths)} inputs: one local extract {local_s:.2f} s, "
          f"RDD.pipe {pipe_s:.2f} s ({pipe_s/local_s:.2f}x), "
          f"mapInPandas {mip_s:.2f} s ({mip_s/local_s:.2f}x)")


if __name__ == "__main__":
    main()
