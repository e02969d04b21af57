#!/usr/bin/env python3
"""Speed, side by side on ONE core, over the region benchmark's real photos (issue #15):
decode to written output, per image.

  mmprompt  `BIN extract FILES... --out DIR --jobs 1 --force` (decode to written JSON-LD; one
            process per size and format, so start-up is shared by its files)
  opencv    cv2.imread -> gray -> GaussianBlur(sigma 1) -> Otsu -> findContours(RETR_TREE,
            CHAIN_APPROX_NONE) -> for contours of >= 0.02 % of the image: moments,
            boundingRect, approxPolyDP(1 px) -> json.dump to a file
  skimage-fh  cv2.imread -> skimage felzenszwalb (the tuned peer of benches/regions_peer.py)
            -> connected components -> boundingRect / contour / approxPolyDP -> json.dump

The whole script runs under `taskset -c 0` (it re-executes itself so) with
OMP/OpenBLAS/MKL threads 1 and cv2.setNumThreads(1). Python times exclude interpreter
start-up and imports; mmprompt's include its process start-up (shared by the files of
one run). Reports best-of-N and median per size and format, and the ratios
mmprompt / opencv and mmprompt / skimage-fh (below 1: mmprompt is faster).

Usage: benches/regions_vs_opencv.py [--bench target/regions-bench] [--mmprompt BIN]
                                    [--repeats 5] [--fh-repeats 1] [--no-fh] [--args '...'] [--json F]
skimage's felzenszwalb takes about a minute per 4K image: the whole run takes ~7 minutes
with it and under a minute with --no-fh.
"""
from __future__ import annotations

import os
import sys

if os.environ.get("REGIONS_BENCH_PINNED") != "1":
    env = dict(os.environ, REGIONS_BENCH_PINNED="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1", OPENCV_FOR_THREADS_NUM="1")
    os.execvpe("taskset", ["taskset", "-c", "0", sys.executable, os.path.abspath(__file__), *sys.argv[1:]], env)

import argparse
import glob
import json
import shlex
import shutil
import statistics
import subprocess
import tempfile
import time

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benches"))
import regions_peer as peer  # noqa: E402

cv2.setNumThreads(1)


def opencv_one(path: str, out_path: str) -> None:
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    blur = cv2.GaussianBlur(gray, (0, 0), 1.0)
    _, bw = cv2.threshold(blur, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    contours, _ = cv2.findContours(bw, cv2.RETR_TREE, cv2.CHAIN_APPROX_NONE)
    min_area = 0.0002 * gray.shape[0] * gray.shape[1]
    regions = []
    for c in contours:
        m = cv2.moments(c)
        if m["m00"] < min_area:
            continue
        x, y, w, h = cv2.boundingRect(c)
        poly = cv2.approxPolyDP(c, 1.0, True)
        regions.append({"bbox": [x, y, w, h], "area": m["m00"],
                        "centroid": [m["m10"] / m["m00"], m["m01"] / m["m00"]],
                        "polygon": poly.reshape(-1, 2).tolist()})
    with open(out_path, "w") as f:
        json.dump({"image": path, "regions": regions}, f)


def fh_one(path: str, out_path: str) -> None:
    rgb = peer.read_rgb(path)
    regs, _ = peer.peer_regions(rgb, "fh", peer.TUNED["fh"])
    with open(out_path, "w") as f:
        json.dump({"image": path, "regions": regs}, f)


def time_python(fn, files: list[str], tmp: str, repeats: int) -> list[float]:
    per = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for i, f in enumerate(files):
            fn(f, os.path.join(tmp, f"{i}.json"))
        per.append((time.perf_counter() - t0) / len(files))
    return per


def time_mmprompt(binary: str, files: list[str], tmp: str, repeats: int, extra: list[str]) -> list[float]:
    per = []
    for _ in range(repeats):
        out = os.path.join(tmp, "mm")
        shutil.rmtree(out, ignore_errors=True)
        cmd = [binary, "extract", *files, "--out", out, "--jobs", "1", "--force", "--quiet", *extra]
        t0 = time.perf_counter()
        r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        dt = time.perf_counter() - t0
        if r.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed: {r.stderr.decode(errors='replace')[-1000:]}")
        per.append(dt / len(files))
    return per


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--bench", default="target/regions-bench")
    ap.add_argument("--mmprompt", default=os.path.join(ROOT, "target", "release", "mmprompt"))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--fh-repeats", type=int, default=1)
    ap.add_argument("--no-fh", action="store_true")
    ap.add_argument("--args", default="", help="extra arguments for `mmprompt extract`")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    man = json.load(open(os.path.join(a.bench, "manifest.json")))
    groups: dict[tuple, list[str]] = {}
    for p in man["photos"]:
        ext = p["file"].rsplit(".", 1)[1]
        groups.setdefault((tuple(p["size"]), ext), []).append(os.path.join(a.bench, p["file"]))
    print(f"one core (taskset -c 0, affinity {sorted(os.sched_getaffinity(0))}); mmprompt {a.mmprompt} --jobs 1; "
          f"best / median ms per image over {a.repeats} runs (skimage-fh: {a.fh_repeats})")
    hdr = (f"{'size':>10} {'fmt':>4} {'n':>2} | {'mmprompt':>15} | {'opencv':>15} | {'skimage-fh':>17} | "
           f"{'mm/opencv':>9} {'mm/fh':>7}")
    print(hdr)
    results = []
    with tempfile.TemporaryDirectory(prefix="regions-speed-") as tmp:
        for (size, ext), files in sorted(groups.items()):
            files = sorted(files)
            mm = time_mmprompt(a.mmprompt, files, tmp, a.repeats, shlex.split(a.args))
            cv = time_python(opencv_one, files, tmp, a.repeats)
            fh = None if a.no_fh else time_python(fh_one, files, tmp, a.fh_repeats)
            row = {"size": list(size), "format": ext, "files": len(files),
                   "mmprompt_best": min(mm), "mmprompt_median": statistics.median(mm),
                   "opencv_best": min(cv), "opencv_median": statistics.median(cv)}
            if fh:
                row.update({"fh_best": min(fh), "fh_median": statistics.median(fh)})
            results.append(row)
            fhs = f"{min(fh) * 1e3:8.1f} {statistics.median(fh) * 1e3:8.1f}" if fh else f"{'-':>17}"
            ratio_fh = f"{min(mm) / min(fh):7.4f}" if fh else f"{'-':>7}"
            print(f"{size[0]:>5}x{size[1]:<4} {ext:>4} {len(files):2d} | {min(mm) * 1e3:7.1f} "
                  f"{statistics.median(mm) * 1e3:7.1f} | {min(cv) * 1e3:7.1f} {statistics.median(cv) * 1e3:7.1f} | "
                  f"{fhs} | {min(mm) / min(cv):9.2f} {ratio_fh}", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
