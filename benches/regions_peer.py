#!/usr/bin/env python3
"""Classical region peers for the region benchmark (issue #15), each a few lines of
OpenCV or scikit-image, writing output that tests/regions/score.py reads with --system DIR.

    benches/regions_peer.py run   --bench target/regions-bench --out target/regions-peers [--peers fh,kmeans,canny,union]
    benches/regions_peer.py tune  --bench target/regions-bench --peer fh|kmeans|canny [--every 3]
    benches/regions_peer.py report --bench target/regions-bench --out target/regions-peers [--mmprompt BIN]

Peers (parameters tuned on the `tune` split only, with `tune`; the chosen values are
TUNED below):
  fh      skimage.segmentation.felzenszwalb on the RGB image (scale, sigma, min_size)
  kmeans  Gaussian blur, k-means (cv2.kmeans, k-means++ seeding, fixed RNG seed) on Lab
          colours of a pixel subsample, every pixel to its nearest centre
  canny   gray, Gaussian blur, cv2.Canny, morphological closing, ndi.binary_fill_holes
  union   the regions of fh, kmeans and canny together; a region whose mask has IoU > 0.9
          with an earlier one is dropped (near-duplicate)
Regions are the 4-connected components of the label map (for canny: of the filled
foreground), at least 0.02 % of the image (mmprompt's default --min-area), ranked by area
(largest first: the naive ranking), at most 64 per peer (mmprompt's default --max-regions;
the union keeps up to 3 x 64). Polygon: the component's outer border (cv2.findContours,
CHAIN_APPROX_SIMPLE), simplified with approxPolyDP at 1 px.

Output: OUT/<peer>/<split>/<scene>.json and OUT/<peer>/coins.json, each
{"regions": [{"bbox": [x, y, w, h], "polygon": [[x, y], ...]}, ...]} in rank order.
"""
from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import glob
import itertools
import json
import subprocess
import sys
import time
from multiprocessing import Pool

import cv2
import numpy as np
from scipy import ndimage as ndi
from skimage import measure
from skimage.segmentation import felzenszwalb

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "regions"))
import score as scorer  # noqa: E402

cv2.setNumThreads(1)
MAX_REGIONS = 64
MIN_AREA_FRAC = 0.0002
PEERS = ("fh", "kmeans", "canny", "union")

# chosen with `regions_peer.py tune` on the tune split (see README "Peers")
TUNED = {
    "fh": {"scale": 1000, "sigma": 0.8, "min_size": 400},
    "kmeans": {"k": 8, "blur": 2.0},
    "canny": {"blur": 1.5, "low": 60, "high": 150, "close": 7},
}
GRIDS = {
    # fh was searched in two stages (FH is slow): scale x min_size at sigma 0.8, then sigma
    # 0.5 and 1.5 at the best of those (scale 1000, min_size 400)
    "fh": {"scale": [300, 1000, 3000], "sigma": [0.8], "min_size": [100, 400]},
    "kmeans": {"k": [3, 4, 6, 8, 12], "blur": [0.0, 2.0, 4.0]},
    "canny": {"blur": [1.0, 1.5, 2.5], "low": [30, 60], "high": [90, 150], "close": [3, 7, 11]},
}


# --------------------------------------------------------------------------- label maps

def labels_fh(rgb: np.ndarray, p: dict) -> np.ndarray:
    return felzenszwalb(rgb, scale=p["scale"], sigma=p["sigma"], min_size=p["min_size"], channel_axis=-1)


def labels_kmeans(rgb: np.ndarray, p: dict) -> np.ndarray:
    img = rgb
    if p["blur"] > 0:
        img = cv2.GaussianBlur(rgb, (0, 0), p["blur"])
    lab = cv2.cvtColor(img, cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float32)
    step = max(1, lab.shape[0] // 60000)
    sample = np.ascontiguousarray(lab[::step])
    cv2.setRNGSeed(12345)
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 30, 0.5)
    _, _, centres = cv2.kmeans(sample, p["k"], None, crit, 1, cv2.KMEANS_PP_CENTERS)
    d = ((lab[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    return d.argmin(axis=1).reshape(rgb.shape[:2]).astype(np.int32)


def labels_canny(rgb: np.ndarray, p: dict) -> np.ndarray:
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if p["blur"] > 0:
        gray = cv2.GaussianBlur(gray, (0, 0), p["blur"])
    edges = cv2.Canny(gray, p["low"], p["high"])
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (p["close"], p["close"]))
    closed = cv2.morphologyEx(edges, cv2.MORPH_CLOSE, k)
    filled = ndi.binary_fill_holes(closed > 0)
    return np.where(filled, 1, 0).astype(np.int32)   # 0 = background, not a region


LABELLERS = {"fh": labels_fh, "kmeans": labels_kmeans, "canny": labels_canny}


# --------------------------------------------------------------------------- regions

def components(labels: np.ndarray, background: int | None = None):
    """4-connected components of equal labels, largest first: [(area, bbox, mask_crop, (x0, y0))]."""
    H, W = labels.shape
    lab = labels.astype(np.int64) + 1
    if background is not None:
        lab[labels == background] = 0
    cc = measure.label(lab, background=0, connectivity=1)
    areas = np.bincount(cc.ravel())
    min_area = max(1, int(np.ceil(MIN_AREA_FRAC * H * W)))
    slices = ndi.find_objects(cc)
    out = []
    for i, sl in enumerate(slices, 1):
        if sl is None or areas[i] < min_area:
            continue
        out.append((int(areas[i]), i, sl))
    out.sort(key=lambda t: (-t[0], t[1]))
    res = []
    for area, i, sl in out:
        crop = cc[sl] == i
        res.append((area, crop, (sl[1].start, sl[0].start)))
    return res


def region_of(crop: np.ndarray, off) -> dict | None:
    ys, xs = np.nonzero(crop)
    x0, y0 = off
    bbox = [int(x0 + xs.min()), int(y0 + ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]
    cs, _ = cv2.findContours(crop.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not cs:
        return None
    c = max(cs, key=cv2.contourArea)
    c = cv2.approxPolyDP(c, 1.0, True)
    poly = [[int(p[0][0] + x0), int(p[0][1] + y0)] for p in c]
    return {"bbox": bbox, "polygon": poly}


def peer_regions(rgb: np.ndarray, peer: str, params: dict, keep_masks: bool = False):
    labels = LABELLERS[peer](rgb, params)
    comps = components(labels, background=0 if peer == "canny" else None)[:MAX_REGIONS]
    regs, masks = [], []
    for area, crop, off in comps:
        r = region_of(crop, off)
        if r is None:
            continue
        regs.append(r)
        if keep_masks:
            masks.append((crop, off, area))
    return regs, masks


def union_regions(rgb: np.ndarray, tuned: dict) -> list[dict]:
    H, W = rgb.shape[:2]
    cand = []
    for peer in ("fh", "kmeans", "canny"):
        regs, masks = peer_regions(rgb, peer, tuned[peer], keep_masks=True)
        cand += list(zip(regs, masks))
    cand.sort(key=lambda t: -t[1][2])          # naive ranking: by area
    kept: list = []
    for r, (crop, off, area) in cand:
        dup = False
        for r2, (crop2, off2, area2) in kept:
            if min(area, area2) < 0.9 * max(area, area2):
                continue                        # IoU <= min/max < 0.9
            if scorer.box_iou(r["bbox"], r2["bbox"]) < 0.8:
                continue
            x0, y0 = min(off[0], off2[0]), min(off[1], off2[1])
            x1 = max(off[0] + crop.shape[1], off2[0] + crop2.shape[1])
            y1 = max(off[1] + crop.shape[0], off2[1] + crop2.shape[0])
            a = np.zeros((y1 - y0, x1 - x0), bool)
            b = np.zeros_like(a)
            a[off[1] - y0: off[1] - y0 + crop.shape[0], off[0] - x0: off[0] - x0 + crop.shape[1]] = crop
            b[off2[1] - y0: off2[1] - y0 + crop2.shape[0], off2[0] - x0: off2[0] - x0 + crop2.shape[1]] = crop2
            inter = int((a & b).sum())
            if inter / float(area + area2 - inter) > 0.9:
                dup = True
                break
        if not dup:
            kept.append((r, (crop, off, area)))
    return [r for r, _ in kept]


def read_rgb(path: str) -> np.ndarray:
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise SystemExit(f"cannot read {path}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


# --------------------------------------------------------------------------- jobs

def _job(args):
    path, peer, params = args
    rgb = read_rgb(path)
    if peer == "union":
        return union_regions(rgb, params)
    return peer_regions(rgb, peer, params)[0]


def scene_list(bench: str, split: str) -> list[str]:
    return sorted(os.path.basename(p)[:-4] for p in glob.glob(os.path.join(bench, split, "images", "*.png")))


def run_peer(pool, bench: str, out: str, peer: str, params: dict, splits=("tune", "holdout")) -> None:
    for split in splits:
        scenes = scene_list(bench, split)
        d = os.path.join(out, peer, split)
        os.makedirs(d, exist_ok=True)
        jobs = [(os.path.join(bench, split, "images", s + ".png"), peer, params) for s in scenes]
        for s, regs in zip(scenes, pool.map(_job, jobs, chunksize=1)):
            with open(os.path.join(d, s + ".json"), "w") as f:
                json.dump({"regions": regs}, f)
    regs = _job((scorer.COINS_IMAGE, peer, params))
    with open(os.path.join(out, peer, "coins.json"), "w") as f:
        json.dump({"regions": regs}, f)


def score_outputs(bench: str, split: str, scenes: list[str], outputs: dict) -> dict:
    rows = []
    for s in scenes:
        t = json.load(open(os.path.join(bench, split, "truth", s + ".json")))
        masks = [cv2.imread(os.path.join(bench, split, o["mask"]), cv2.IMREAD_GRAYSCALE) > 0 for o in t["objects"]]
        rows.append(scorer.score_scene(t, masks, outputs[s]))
    return scorer.aggregate(rows)


def cmd_tune(a) -> None:
    grid = GRIDS[a.peer]
    # every Nth block of three consecutive scenes: difficulty cycles easy, normal, hard, so a
    # plain [::3] would take only the easy ones
    scenes = [s for i, s in enumerate(scene_list(a.bench, "tune")) if (i // 3) % a.every == 0]
    keys = sorted(grid)
    results = []
    with Pool(a.jobs) as pool:
        for combo in itertools.product(*(grid[k] for k in keys)):
            p = dict(zip(keys, combo))
            t0 = time.time()
            jobs = [(os.path.join(a.bench, "tune", "images", s + ".png"), a.peer, p) for s in scenes]
            outs = dict(zip(scenes, pool.map(_job, jobs, chunksize=1)))
            m = score_outputs(a.bench, "tune", scenes, outs)
            obj = m["box_recall"] + m["miou"]
            results.append((obj, p, m))
            print(f"{json.dumps(p, sort_keys=True):55} box {m['box_recall']:.3f} mask {m['mask_recall']:.3f} "
                  f"mIoU {m['miou']:.3f} topK {m['topk_precision']:.3f}  ({time.time() - t0:.0f} s)", flush=True)
    best = max(results, key=lambda r: r[0])
    print(f"best (box_recall + mIoU on {len(scenes)} tune scenes): {json.dumps(best[1], sort_keys=True)}")


def cmd_run(a) -> None:
    tuned = json.loads(a.params) if a.params else TUNED
    with Pool(a.jobs) as pool:
        for peer in a.peers.split(","):
            t0 = time.time()
            run_peer(pool, a.bench, a.out, peer, tuned if peer == "union" else tuned[peer])
            print(f"{peer}: written to {os.path.join(a.out, peer)} ({time.time() - t0:.0f} s)", flush=True)


def cmd_report(a) -> None:
    """Score the baseline binary and every peer on both splits; one table."""
    py = sys.executable
    sc = os.path.join(ROOT, "tests", "regions", "score.py")
    systems = ([("mmprompt", ["--system", "mmprompt", "--mmprompt", a.mmprompt])] if a.mmprompt else []) + \
              [(p, ["--system", os.path.join(a.out, p)]) for p in PEERS if os.path.isdir(os.path.join(a.out, p))]
    rows = []
    for split in ("tune", "holdout"):
        for name, sargs in systems:
            jf = os.path.join(a.out, f"score-{name}-{split}.json")
            subprocess.run([py, sc, "--bench", a.bench, "--split", split, *sargs, "--json", jf],
                           check=True, stdout=subprocess.DEVNULL)
            r = json.load(open(jf))
            rows.append((split, name, r["overall"], r["coins"]))
    print(f"{'split':8} {'system':9} {'box_rec':>7} {'mask_rec':>8} {'mIoU':>6} {'topK_P':>6} {'topK_max':>8} "
          f"{'invalid':>7} {'verts':>6} {'regs/sc':>7} {'coins':>6}")
    for split, name, o, c in rows:
        coins = f"{c['coins_matched']}/{c['coins_total']}" if c else "n/a"
        print(f"{split:8} {name:9} {o['box_recall']:7.3f} {o['mask_recall']:8.3f} {o['miou']:6.3f} "
              f"{o['topk_precision']:6.3f} {o['topk_max']:8.3f} {o['invalid_polygons']:7.3f} "
              f"{o['mean_vertices']:6.1f} {o['regions_per_scene']:7.1f} {coins:>6}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("tune")
    t.add_argument("--bench", default="target/regions-bench")
    t.add_argument("--peer", required=True, choices=sorted(GRIDS))
    t.add_argument("--every", type=int, default=3, help="use every Nth block of 3 tune scenes")
    t.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    r = sub.add_parser("run")
    r.add_argument("--bench", default="target/regions-bench")
    r.add_argument("--out", default="target/regions-peers")
    r.add_argument("--peers", default=",".join(PEERS))
    r.add_argument("--params", default=None, help="JSON like TUNED, instead of TUNED")
    r.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    p = sub.add_parser("report")
    p.add_argument("--bench", default="target/regions-bench")
    p.add_argument("--out", default="target/regions-peers")
    p.add_argument("--mmprompt", default=None, help="also score this binary")
    a = ap.parse_args()
    {"tune": cmd_tune, "run": cmd_run, "report": cmd_report}[a.cmd](a)


if __name__ == "__main__":
    main()
