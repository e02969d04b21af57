#!/usr/bin/env python3
"""Side by side: mmprompt's whole per-image path against the OpenCV pipeline, in one run.

OpenCV pipeline (per image): cv2.imread -> gray -> GaussianBlur(sigma 1) -> Otsu ->
findContours(RETR_TREE, CHAIN_APPROX_NONE) -> boundingRect / contourArea / arcLength.
mmprompt: `mmprompt extract FILES... --out DIR` (decode to written JSON-LD, one process for
all files so start-up is amortised), twice: with `--jobs 1` (one thread, beside OpenCV with
cv2.setNumThreads(1)) and with the default `--jobs` (every core: files in parallel, and an
idle core helping with a file's bands; beside OpenCV's loop with its own threads). Both
sides report time per image. Border following alone: examples/time_contours against
cv2.findContours on the same binary images.

Usage: python3 benches/vs_opencv.py [--repeats N] [--files K]
Needs a release build (`cargo build --release --examples`). Prints medians and ratios
(ours / OpenCV; below 1 means mmprompt is faster).
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZES = [(640, 480), (1920, 1080), (3840, 2160)]
SOURCES = ["rocket.jpg", "chelsea.png", "coins.png", "shapes.png"]


def make_images(tmp, w, h, k):
    files = []
    for i in range(k):
        src = cv2.imread(os.path.join(ROOT, "samples", SOURCES[i % len(SOURCES)]))
        img = cv2.resize(src, (w, h), interpolation=cv2.INTER_LINEAR)
        if i >= len(SOURCES):  # distinct content per file: mirror and shift the colours
            img = cv2.flip(img, i % 2)
            img = cv2.add(img, np.full_like(img, 7 * i))
        path = os.path.join(tmp, f"img{i}_{w}x{h}.png")
        cv2.imwrite(path, img)
        files.append(path)
    return files


def opencv_pipeline(files):
    t0 = time.perf_counter()
    for f in files:
        img = cv2.imread(f)
        gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        blur = cv2.GaussianBlur(gray, (0, 0), 1.0)
        _, bw = cv2.threshold(blur, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
        contours, _ = cv2.findContours(bw, cv2.RETR_TREE, cv2.CHAIN_APPROX_NONE)
        for c in contours:
            cv2.boundingRect(c)
            cv2.contourArea(c)
            cv2.arcLength(c, True)
    return (time.perf_counter() - t0) / len(files)


def ours_pipeline(binary, files, out_dir, extra):
    shutil.rmtree(out_dir, ignore_errors=True)
    t0 = time.perf_counter()
    subprocess.run([binary, "extract", *files, "--out", out_dir, *extra],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return (time.perf_counter() - t0) / len(files)


def opencv_contours(files, iters):
    times = []
    for f in files:
        bw = cv2.imread(f, cv2.IMREAD_GRAYSCALE)
        per = []
        for _ in range(iters):
            t0 = time.perf_counter()
            cv2.findContours(bw, cv2.RETR_TREE, cv2.CHAIN_APPROX_NONE)
            per.append(time.perf_counter() - t0)
        times.append(statistics.median(per))
    return statistics.median(times)


def ours_contours(example, files, iters):
    out = subprocess.run([example, "time", "--min-iters", str(iters), *files], check=True,
                         capture_output=True, text=True).stdout
    # one line per file: path width height contours median_ms_reused median_ms_oneshot iters;
    # the one-shot figure is what the pipeline pays.
    return statistics.median(float(line.split()[5]) / 1e3 for line in out.splitlines() if line.strip())


def binary_images(tmp, files):
    out = []
    for f in files:
        g = cv2.GaussianBlur(cv2.cvtColor(cv2.imread(f), cv2.COLOR_BGR2GRAY), (0, 0), 1.0)
        _, bw = cv2.threshold(g, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
        p = f.replace(".png", ".bin.png")
        cv2.imwrite(p, bw)
        out.append(p)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--contour-iters", type=int, default=30)
    args = ap.parse_args()
    binary = os.path.join(ROOT, "target/release/mmprompt")
    example = os.path.join(ROOT, "target/release/examples/time_contours")
    for b in (binary, example):
        if not os.path.exists(b):
            sys.exit(f"{b} missing: run `cargo build --release --examples` first")
    print(f"opencv {cv2.__version__}, numpy {np.__version__}, cv2 threads {cv2.getNumThreads()}")
    print(f"{'size':>10} {'stage':>18} {'ours ms':>9} {'ours 1t':>9} {'cv2 ms':>9} {'cv2 1t ms':>10} {'ratio':>6} {'ratio 1t':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for (w, h) in SIZES:
            files = make_images(tmp, w, h, args.files)
            out_dir = os.path.join(tmp, "out")
            ours, ours_single, cv_multi, cv_single = [], [], [], []
            for _ in range(args.repeats):
                ours.append(ours_pipeline(binary, files, out_dir, []))
                ours_single.append(ours_pipeline(binary, files, out_dir, ["--jobs", "1"]))
                cv2.setNumThreads(-1)
                cv_multi.append(opencv_pipeline(files))
                cv2.setNumThreads(1)
                cv_single.append(opencv_pipeline(files))
            cv2.setNumThreads(-1)
            o, o1, m, s = (statistics.median(x) * 1e3 for x in (ours, ours_single, cv_multi, cv_single))
            print(f"{w}x{h:<5} {'whole pipeline':>18} {o:9.2f} {o1:9.2f} {m:9.2f} {s:10.2f} {o / m:6.2f} {o1 / s:8.2f}")

            bins = binary_images(tmp, files)
            oc = ours_contours(example, bins, args.contour_iters) * 1e3
            cv2.setNumThreads(-1)
            cm = opencv_contours(bins, args.contour_iters) * 1e3
            cv2.setNumThreads(1)
            cs = opencv_contours(bins, args.contour_iters) * 1e3
            cv2.setNumThreads(-1)
            print(f"{w}x{h:<5} {'findContours':>18} {oc:9.3f} {oc:9.3f} {cm:9.3f} {cs:10.3f} {oc / cm:6.2f} {oc / cs:8.2f}")


if __name__ == "__main__":
    main()
