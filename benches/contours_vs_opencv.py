#!/usr/bin/env python3
"""Side-by-side timing of our border following and cv2.findContours on the same PNGs.

    python3 benches/contours_vs_opencv.py [--clean] [--dir DIR] [--min-iters N]
                                          [--min-secs S] [--no-build] [PNG ...]

Without PNG arguments it renders the synthetic masks of benches/contours.rs
(640x480, 1920x1080, 3840x2160) with `cargo run --release --example time_contours --
write DIR` (a temporary directory unless --dir is given); --clean renders them without
speckle and noise, so that only the raster scan is compared. Each image is timed with
cv2.findContours(img, RETR_TREE, CHAIN_APPROX_NONE) here and with our ContourFinder by
the example binary; both report the median over many runs because the machine may be
shared. OpenCV's time includes building the Python lists of numpy arrays, ours building
the Vec<Contour>; neither includes PNG decoding.
"""

import argparse
import glob
import os
import statistics
import subprocess
import sys
import tempfile
import time

import cv2

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def time_opencv(img, min_iters, min_secs):
    cv2.findContours(img, cv2.RETR_TREE, cv2.CHAIN_APPROX_NONE)
    times = []
    start = time.perf_counter()
    while len(times) < min_iters or time.perf_counter() - start < min_secs:
        t = time.perf_counter()
        contours, _ = cv2.findContours(img, cv2.RETR_TREE, cv2.CHAIN_APPROX_NONE)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3, len(contours), len(times)


def run_example(args, build):
    cmd = ["cargo", "run", "--quiet", "--release", "--example", "time_contours", "--"] + args
    if not build:
        exe = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "examples", "time_contours")
        cmd = [exe] + args
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        sys.exit("%s failed with status %d" % (" ".join(cmd), done.returncode))
    return done.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pngs", nargs="*")
    ap.add_argument("--dir", help="where to write the synthetic masks")
    ap.add_argument("--clean", action="store_true", help="masks without speckle and noise")
    ap.add_argument("--min-iters", type=int, default=30)
    ap.add_argument("--min-secs", type=float, default=3.0)
    ap.add_argument("--no-build", action="store_true", help="use target/release/examples/time_contours as is")
    opts = ap.parse_args()

    tmp = None
    pngs = opts.pngs
    if not pngs:
        out_dir = opts.dir
        if out_dir is None:
            tmp = tempfile.TemporaryDirectory(prefix="contours-bench-")
            out_dir = tmp.name
        write = ["write", "--clean", out_dir] if opts.clean else ["write", out_dir]
        pngs = run_example(write, not opts.no_build).split()
    # Largest images last, each timed in one process while the other side waits.
    pngs = sorted(pngs, key=lambda p: os.path.getsize(p))

    theirs = {}
    for p in pngs:
        img = cv2.imread(p, cv2.IMREAD_GRAYSCALE)
        if img is None:
            sys.exit("cannot read %s" % p)
        theirs[p] = time_opencv(img, opts.min_iters, opts.min_secs)

    ours = {}
    args = ["time", "--min-iters", str(opts.min_iters), "--min-secs", str(opts.min_secs)] + pngs
    for line in run_example(args, not opts.no_build).splitlines():
        path, w, h, count, reused, oneshot, iters = line.split()
        ours[path] = (int(w), int(h), int(count), float(reused), float(oneshot), int(iters))

    print("OpenCV %s, median ms per image (iterations in brackets)" % cv2.__version__)
    print("%-12s %9s %14s %14s %14s %8s %8s" % ("size", "contours", "cv2", "ours(reused)", "ours(oneshot)", "reused/cv2", "oneshot/cv2"))
    ok = True
    for p in pngs:
        cv_ms, cv_count, cv_iters = theirs[p]
        w, h, count, reused, oneshot, iters = ours[p]
        if count != cv_count:
            ok = False
        print(
            "%-12s %9s %9.3f (%3d) %9.3f (%3d) %14.3f %8.2f %8.2f"
            % ("%dx%d" % (w, h), count if count == cv_count else "%d!=%d" % (count, cv_count),
               cv_ms, cv_iters, reused, iters, oneshot, reused / cv_ms, oneshot / cv_ms)
        )
    if tmp is not None:
        tmp.cleanup()
    if not ok:
        sys.exit("contour counts differ from OpenCV")


if __name__ == "__main__":
    main()
