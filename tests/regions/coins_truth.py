#!/usr/bin/env python3
"""Reference segmentation of samples/coins.png -> tests/regions/coins_truth.json.

Method: scikit-image's own tutorial "Comparing edge-based and region-based
segmentation" (the coins example): Sobel elevation map, markers (background
where gray < 30, coins where gray > 150), watershed, fill holes, then the
tutorial's small-object removal (components < 21 px dropped). It must give
exactly 24 components, one per coin; the script stops otherwise.

Usage: target/venv-regions/bin/python tests/regions/coins_truth.py [--check]
"""
import argparse
import json
import os
import sys

import numpy as np
import skimage
from scipy import ndimage as ndi
from skimage import filters, io, segmentation

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(HERE, "coins_truth.json")


def reference() -> dict:
    coins = io.imread(os.path.join(ROOT, "samples", "coins.png"))
    elevation = filters.sobel(coins)
    markers = np.zeros_like(coins)
    markers[coins < 30] = 1
    markers[coins > 150] = 2
    seg = segmentation.watershed(elevation, markers)
    filled = ndi.binary_fill_holes(seg - 1)
    lab, n = ndi.label(filled)
    areas = np.bincount(lab.ravel())
    keep = [i for i in range(1, n + 1) if areas[i] >= 21]
    if len(keep) != 24:
        sys.exit(f"coins_truth: expected 24 coins, the reference method gives {len(keep)}")
    coins_out = []
    for i in keep:
        ys, xs = np.nonzero(lab == i)
        coins_out.append({"bbox": [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1),
                                   int(ys.max() - ys.min() + 1)], "area": int(areas[i])})
    coins_out.sort(key=lambda c: ((c["bbox"][1] + c["bbox"][3] // 2) // 70, c["bbox"][0]))  # rows, left to right
    return {
        "image": "samples/coins.png", "width": int(coins.shape[1]), "height": int(coins.shape[0]),
        "count": len(coins_out),
        "method": ("scikit-image tutorial 'Comparing edge-based and region-based segmentation': "
                   "elevation = filters.sobel(coins); markers 1 where gray < 30, 2 where gray > 150; "
                   "segmentation.watershed(elevation, markers); ndi.binary_fill_holes(seg - 1); "
                   "ndi.label; components smaller than 21 px removed (the tutorial's "
                   "remove_small_objects size); exactly 24 components. bbox = [x, y, w, h] of each "
                   "component, pixels inclusive."),
        "generated_with": f"scikit-image {skimage.__version__}, numpy {np.__version__}",
        "coins": coins_out,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true", help="only compare with the committed file")
    args = ap.parse_args()
    ref = reference()
    if args.check:
        old = json.load(open(OUT))
        same = [c["bbox"] for c in old["coins"]] == [c["bbox"] for c in ref["coins"]]
        print("coins_truth.json is up to date" if same else "coins_truth.json differs from the method")
        sys.exit(0 if same else 1)
    with open(OUT, "w") as f:
        json.dump(ref, f, indent=1)
        f.write("\n")
    print(f"wrote {OUT}: {ref['count']} coins")


if __name__ == "__main__":
    main()
