"""PySpark in local mode, both ways of docs/recipes.md: RDD.pipe through the CLI, and
mapInPandas calling the package in process. Each must give, for every input, the document
one local `mmprompt extract` gives."""

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("MMPROMPT_BIN", str(ROOT / "target" / "debug" / "mmprompt"))


@pytest.fixture(scope="module")
def spark():
    import sys

    from pyspark.sql import SparkSession

    # The workers run this interpreter, which has the package, pandas and Arrow.
    os.environ["PYSPARK_PYTHON"] = sys.executable

    s = (SparkSession.builder.master("local[2]").appName("mmprompt-test")
         .config("spark.ui.enabled", "false")
         .config("spark.sql.execution.arrow.pyspark.enabled", "true")
         .config("spark.driver.bindAddress", "127.0.0.1")
         .config("spark.driver.host", "127.0.0.1")
         .getOrCreate())
    yield s
    s.stop()


def inputs():
    files = sorted(p for p in (ROOT / "samples").rglob("*")
                   if p.suffix in (".png", ".jpg", ".wav"))
    return [os.path.relpath(p, ROOT) for p in files]


def local_documents(paths):
    """One local run over the same inputs: the reference."""
    t0 = time.perf_counter()
    r = subprocess.run([BIN, "extract", "--files-from", "-", "--format", "ndjson", "--quiet"],
                       input="\n".join(paths) + "\n", capture_output=True, text=True,
                       cwd=ROOT, timeout=600)
    elapsed = time.perf_counter() - t0
    assert r.returncode == 0, r.stderr
    docs = [json.loads(line) for line in r.stdout.splitlines()]
    return {d["about"]["contentUrl"]: d for d in docs}, elapsed


def test_rdd_pipe_through_the_cli(spark, monkeypatch):
    monkeypatch.chdir(ROOT)
    paths = inputs()
    want, local_s = local_documents(paths)
    t0 = time.perf_counter()
    lines = (spark.sparkContext.parallelize(paths, 2)
             .pipe(f"{BIN} extract --files-from - --format ndjson --quiet",
                   env={"PATH": os.environ.get("PATH", "")})
             .collect())
    spark_s = time.perf_counter() - t0
    got = {}
    for line in lines:
        d = json.loads(line)
        got[d["about"]["contentUrl"]] = d
    assert got == want
    assert len(got) == len(paths)
    print(f"RDD.pipe: {len(paths)} inputs in {spark_s:.2f} s; one local extract {local_s:.2f} s")


def test_map_in_pandas_calls_the_package(spark, monkeypatch):
    import pandas as pd

    monkeypatch.chdir(ROOT)
    paths = inputs()
    want, local_s = local_documents(paths)
    root = str(ROOT)

    def extract_batches(batches):
        import mmprompt
        os.chdir(root)
        for batch in batches:
            docs = [json.dumps(mmprompt.extract(p)) for p in batch["path"]]
            yield pd.DataFrame({"path": batch["path"], "document": docs})

    df = spark.createDataFrame(pd.DataFrame({"path": paths})).repartition(2)
    t0 = time.perf_counter()
    out = df.mapInPandas(extract_batches, schema="path string, document string").collect()
    spark_s = time.perf_counter() - t0
    got = {row["path"]: json.loads(row["document"]) for row in out}
    assert set(got) == set(paths)
    for p in paths:
        assert got[p] == want[p], p
    print(f"mapInPandas: {len(paths)} inputs in {spark_s:.2f} s; one local extract {local_s:.2f} s")
