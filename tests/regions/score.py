#!/usr/bin/env python3
"""Score image regions against the region benchmark's ground truth (issue #15).

Usage:
    score.py --bench target/regions-bench --split tune|holdout --system mmprompt|DIR
             [--mmprompt BIN] [--args '...extra extract args'] [--json F]
             [--require 'box_recall>=0.9' ...] [--no-coins]

--system mmprompt runs `BIN extract <bench>/<split>/images --out <tmp>` (and
`BIN extract samples/coins.png`) and reads the JSON-LD: every annotation's
`xywh=` FragmentSelector and SVG polygon; document order is rank order (checked
against body.rank). --system DIR reads a peer's output: DIR/<split>/<scene>.json
and DIR/coins.json, each {"regions": [{"bbox": [x, y, w, h], "polygon": [[x, y], ...]}, ...]}
in rank order (see benches/regions_peer.py).

Metrics (per split, and per background difficulty):
  box_recall   objects with some region of box IoU >= 0.5
  mask_recall  objects with some region whose polygon mask has IoU >= 0.5 with the
               object's visible mask (polygon rasterised with cv2.fillPoly, boundary
               pixels included)
  miou         mean over objects of the best mask IoU
  topk_precision  over all scenes: matched / K summed, K = objects + 2 per scene; a
               region in the top K counts if its box IoU >= 0.5 with an object that no
               higher-ranked region has claimed (so at most `topk_max`)
  invalid_polygons  fraction of all regions whose polygon is not valid (shapely
               is_valid; fewer than 3 vertices is invalid)
  mean_vertices  mean vertex count of all regions' polygons
  coins        coins of samples/coins.png (tests/regions/coins_truth.json) matched at box
               IoU >= 0.5 by DISTINCT regions among the top 30 (one-to-one assignment)
Exit status: 0, or 3 when a --require fails, 1 on a usage or run error.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment
from shapely.geometry import Polygon

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
COINS_TRUTH = os.path.join(HERE, "coins_truth.json")
COINS_IMAGE = os.path.join(ROOT, "samples", "coins.png")
DIFFICULTIES = ("easy", "normal", "hard")
IOU_T = 0.5
COINS_TOP = 30

cv2.setNumThreads(1)


def die(msg: str) -> None:
    print("score: error: " + msg, file=sys.stderr)
    sys.exit(1)


# --------------------------------------------------------------------------- reading systems

XYWH = re.compile(r"xywh=(?:pixel:)?(-?\d+),(-?\d+),(-?\d+),(-?\d+)")
POINTS = re.compile(r'<polygon points="([^"]*)"')


def parse_jsonld(path: str) -> list[dict]:
    doc = json.load(open(path, encoding="utf-8"))
    regions, last_rank = [], 0
    for it in doc.get("items", []):
        body, target = it.get("body", {}), it.get("target", {})
        rank = body.get("rank")
        if rank is not None:
            if rank <= last_rank:
                die(f"{path}: regions are not in rank order ({rank} after {last_rank})")
            last_rank = rank
        bbox, poly = None, []
        sels = target.get("selector", [])
        if isinstance(sels, dict):
            sels = [sels]
        for s in sels:
            v = s.get("value", "")
            if s.get("type") == "FragmentSelector":
                m = XYWH.search(v)
                if m:
                    bbox = [int(g) for g in m.groups()]
            elif s.get("type") == "SvgSelector":
                m = POINTS.search(v)
                if m:
                    nums = [float(t) for t in re.split(r"[ ,]+", m.group(1).strip()) if t]
                    poly = [[nums[i], nums[i + 1]] for i in range(0, len(nums) - 1, 2)]
        if bbox is None:
            continue   # not a region (no box)
        regions.append({"bbox": bbox, "polygon": poly})
    return regions


def run_mmprompt(binary: str, inputs: list[str], extra: list[str], tmp: str) -> None:
    cmd = [binary, "extract", *inputs, "--out", tmp, "--quiet", "--force", *extra]
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if r.returncode != 0:
        die(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr.decode(errors='replace')[-2000:]}")


def load_mmprompt(binary: str, split_dir: str, extra: list[str], scenes: list[str], coins: bool):
    out = {}
    with tempfile.TemporaryDirectory(prefix="regions-score-") as tmp:
        img_dir = os.path.join(split_dir, "images")
        run_mmprompt(binary, [img_dir], extra, os.path.join(tmp, "s"))
        hits = glob.glob(os.path.join(tmp, "s", "**", "*.png.jsonld"), recursive=True)
        by_name = {os.path.basename(h)[: -len(".png.jsonld")]: h for h in hits}
        for s in scenes:
            if s not in by_name:
                die(f"mmprompt wrote no output for {s}")
            out[s] = parse_jsonld(by_name[s])
        coin_regions = None
        if coins:
            run_mmprompt(binary, [COINS_IMAGE], extra, os.path.join(tmp, "c"))
            h = glob.glob(os.path.join(tmp, "c", "**", "coins.png.jsonld"), recursive=True)
            if not h:
                die("mmprompt wrote no output for coins.png")
            coin_regions = parse_jsonld(h[0])
    return out, coin_regions


def load_dir(d: str, split: str, scenes: list[str], coins: bool):
    out = {}
    for s in scenes:
        p = os.path.join(d, split, s + ".json")
        if not os.path.exists(p):
            die(f"{p}: missing")
        out[s] = json.load(open(p))["regions"]
    coin_regions = None
    p = os.path.join(d, "coins.json")
    if coins and os.path.exists(p):
        coin_regions = json.load(open(p))["regions"]
    return out, coin_regions


# --------------------------------------------------------------------------- geometry

def box_iou(a, b) -> float:
    ax1, ay1, ax2, ay2 = a[0], a[1], a[0] + a[2], a[1] + a[3]
    bx1, by1, bx2, by2 = b[0], b[1], b[0] + b[2], b[1] + b[3]
    iw, ih = min(ax2, bx2) - max(ax1, bx1), min(ay2, by2) - max(ay1, by1)
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / float(a[2] * a[3] + b[2] * b[3] - inter)


def poly_valid(poly) -> bool:
    if len(poly) < 3:
        return False
    try:
        return bool(Polygon(poly).is_valid)
    except Exception:
        return False


def rasterise(poly, W: int, H: int) -> np.ndarray:
    m = np.zeros((H, W), np.uint8)
    if len(poly) >= 1:
        pts = np.round(np.asarray(poly, dtype=np.float64)).astype(np.int32).reshape(-1, 1, 2)
        cv2.fillPoly(m, [pts], 1)
    return m.astype(bool)


# --------------------------------------------------------------------------- scoring

def score_scene(truth: dict, masks: list[np.ndarray], regions: list[dict]) -> dict:
    W, H = truth["width"], truth["height"]
    objs = truth["objects"]
    n = len(objs)
    boxes = [o["bbox"] for o in objs]
    areas = [int(m.sum()) for m in masks]
    # box IoU matrix (regions x objects)
    R = len(regions)
    biou = np.zeros((R, n))
    for i, r in enumerate(regions):
        for j, b in enumerate(boxes):
            biou[i, j] = box_iou(r["bbox"], b)
    # mask IoU: only for regions whose box touches an object's box
    miou = np.zeros((R, n))
    for i, r in enumerate(regions):
        if not (biou[i] > 0).any():
            continue
        pm = rasterise(r["polygon"], W, H)
        pa = int(pm.sum())
        for j in range(n):
            if biou[i, j] <= 0:
                continue
            inter = int((pm & masks[j]).sum())
            union = pa + areas[j] - inter
            miou[i, j] = inter / union if union else 0.0
    best_box = biou.max(axis=0) if R else np.zeros(n)
    best_mask = miou.max(axis=0) if R else np.zeros(n)
    K = n + 2
    claimed, topk_hits = set(), 0
    for i in range(min(K, R)):
        cand = [j for j in range(n) if biou[i, j] >= IOU_T and j not in claimed]
        if cand:
            j = max(cand, key=lambda j: biou[i, j])
            claimed.add(j)
            topk_hits += 1
    valid = [poly_valid(r["polygon"]) for r in regions]
    return {
        "n": n, "K": K, "regions": R,
        "box_found": int((best_box >= IOU_T).sum()), "mask_found": int((best_mask >= IOU_T).sum()),
        "best_mask": [round(float(v), 4) for v in best_mask],
        "best_box": [round(float(v), 4) for v in best_box],
        "topk_hits": topk_hits, "invalid": int(len(valid) - sum(valid)),
        "vertices": int(sum(len(r["polygon"]) for r in regions)),
    }


def aggregate(rows: list[dict]) -> dict:
    n = sum(r["n"] for r in rows)
    R = sum(r["regions"] for r in rows)
    K = sum(r["K"] for r in rows)
    bm = [v for r in rows for v in r["best_mask"]]
    return {
        "scenes": len(rows), "objects": n, "regions": R,
        "box_recall": sum(r["box_found"] for r in rows) / n if n else 0.0,
        "mask_recall": sum(r["mask_found"] for r in rows) / n if n else 0.0,
        "miou": float(np.mean(bm)) if bm else 0.0,
        "topk_precision": sum(r["topk_hits"] for r in rows) / K if K else 0.0,
        "topk_max": n / K if K else 0.0,
        "invalid_polygons": sum(r["invalid"] for r in rows) / R if R else 0.0,
        "mean_vertices": sum(r["vertices"] for r in rows) / R if R else 0.0,
        "regions_per_scene": R / len(rows) if rows else 0.0,
    }


def score_coins(regions: list[dict] | None) -> dict | None:
    if regions is None:
        return None
    truth = json.load(open(COINS_TRUTH))
    top = regions[:COINS_TOP]
    C = len(truth["coins"])
    if not top:
        return {"coins_matched": 0, "coins_total": C}
    M = np.array([[box_iou(r["bbox"], c["bbox"]) for c in truth["coins"]] for r in top])
    rows, cols = linear_sum_assignment(-M)
    matched = int(sum(1 for i, j in zip(rows, cols) if M[i, j] >= IOU_T))
    return {"coins_matched": matched, "coins_total": C, "coins_regions": len(regions)}


REQ = re.compile(r"^\s*([a-z_]+)\s*(>=|<=|>|<|==)\s*([0-9.eE+-]+)\s*$")


def check_requires(reqs: list[str], flat: dict) -> list[str]:
    failed = []
    for q in reqs:
        m = REQ.match(q)
        if not m:
            die(f"bad --require {q!r} (use e.g. 'box_recall>=0.9')")
        key, op, val = m.group(1), m.group(2), float(m.group(3))
        if key not in flat or flat[key] is None:
            die(f"--require {q!r}: unknown or unavailable metric {key}")
        x = flat[key]
        ok = {">=": x >= val, "<=": x <= val, ">": x > val, "<": x < val, "==": x == val}[op]
        if not ok:
            failed.append(f"{key} = {x:.4f}, required {op} {val}")
    return failed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--bench", default="target/regions-bench")
    ap.add_argument("--split", required=True, choices=("tune", "holdout"))
    ap.add_argument("--system", required=True, help="mmprompt, or a directory of peer output")
    ap.add_argument("--mmprompt", default="target/release/mmprompt")
    ap.add_argument("--args", default="", help="extra arguments for `mmprompt extract`")
    ap.add_argument("--json", default=None, help="write all figures to this file")
    ap.add_argument("--require", action="append", default=[])
    ap.add_argument("--no-coins", action="store_true")
    ap.add_argument("--worst", type=int, default=10)
    args = ap.parse_args()

    split_dir = os.path.join(args.bench, args.split)
    tfiles = sorted(glob.glob(os.path.join(split_dir, "truth", "*.json")))
    if not tfiles:
        die(f"no truth files in {split_dir}/truth (build the bench first)")
    truths = {os.path.basename(f)[:-5]: json.load(open(f)) for f in tfiles}
    scenes = list(truths)
    if args.system == "mmprompt":
        if not os.access(args.mmprompt, os.X_OK):
            die(f"{args.mmprompt}: not an executable")
        outputs, coin_regions = load_mmprompt(args.mmprompt, split_dir, shlex.split(args.args),
                                              scenes, not args.no_coins)
        label = f"mmprompt ({args.mmprompt}{' ' + args.args if args.args else ''})"
    else:
        if not os.path.isdir(args.system):
            die(f"{args.system}: not a directory (and not 'mmprompt')")
        outputs, coin_regions = load_dir(args.system, args.split, scenes, not args.no_coins)
        label = args.system

    rows = {}
    for s in scenes:
        t = truths[s]
        masks = [cv2.imread(os.path.join(split_dir, o["mask"]), cv2.IMREAD_GRAYSCALE) > 0 for o in t["objects"]]
        r = score_scene(t, masks, outputs[s])
        r["difficulty"] = t["difficulty"]
        rows[s] = r
    overall = aggregate(list(rows.values()))
    by_diff = {d: aggregate([r for r in rows.values() if r["difficulty"] == d]) for d in DIFFICULTIES}
    coins = None if args.no_coins else score_coins(coin_regions)

    # worst scenes: lowest mean best mask IoU, then fewest found
    worst = sorted(rows.items(), key=lambda kv: (float(np.mean(kv[1]["best_mask"])), kv[1]["box_found"] / kv[1]["n"], kv[0]))
    worst = worst[: args.worst]

    print(f"region benchmark, split {args.split}: {label}")
    cols = ["box_recall", "mask_recall", "miou", "topk_precision", "invalid_polygons", "mean_vertices"]
    hdr = f"{'':8} {'scenes':>6} {'objs':>5} {'regs/sc':>7} " + " ".join(f"{c:>16}" for c in cols) + f" {'topk_max':>8}"
    print(hdr)
    for name, a in [("all", overall)] + list(by_diff.items()):
        if not a["scenes"]:
            continue
        print(f"{name:8} {a['scenes']:6d} {a['objects']:5d} {a['regions_per_scene']:7.1f} "
              + " ".join(f"{a[c]:16.3f}" if c != "mean_vertices" else f"{a[c]:16.1f}" for c in cols)
              + f" {a['topk_max']:8.3f}")
    if coins is not None:
        print(f"coins: {coins['coins_matched']}/{coins['coins_total']} matched by distinct regions "
              f"in the top {COINS_TOP} ({coins.get('coins_regions', 0)} regions)")
    else:
        print("coins: n/a")
    print(f"worst {len(worst)} scenes (mean best mask IoU):")
    for s, r in worst:
        print(f"  {args.split}/{s} {r['difficulty']:6} objects {r['n']} box-found {r['box_found']} "
              f"mask-found {r['mask_found']} mIoU {np.mean(r['best_mask']):.3f} regions {r['regions']}")

    flat = dict(overall)
    for d, a in by_diff.items():
        for k, v in a.items():
            flat[f"{d}_{k}"] = v
    if coins is not None:
        flat["coins"] = coins["coins_matched"]
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"system": label, "split": args.split, "overall": overall, "by_difficulty": by_diff,
                       "coins": coins, "worst": [s for s, _ in worst], "scenes": rows}, f, indent=1)
            f.write("\n")
    failed = check_requires(args.require, flat)
    if failed:
        for f_ in failed:
            print("REQUIRE FAILED: " + f_, file=sys.stderr)
        sys.exit(3)


if __name__ == "__main__":
    main()
