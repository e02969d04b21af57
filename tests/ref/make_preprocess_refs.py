#!/usr/bin/env python3
"""Writes OpenCV reference outputs for src/vision/preprocess.rs.

Run from the crate root:  python3 tests/ref/make_preprocess_refs.py
Needs opencv-python-headless and numpy. Outputs go to tests/data/preprocess/ and are
committed, so the Rust unit tests in src/vision/preprocess.rs do not need Python.
"""
import json
import math
import os

import cv2
import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "data", "preprocess")


def save(name, img):
    path = os.path.join(OUT, name)
    if img.ndim == 3:
        img = img[:, :, ::-1]  # PNG files hold RGB; cv2 writes BGR
    assert cv2.imwrite(path, img), path
    return name


def inputs():
    rng = np.random.default_rng(20240611)
    imgs = {}
    imgs["noise_97x61"] = rng.integers(0, 256, (61, 97), dtype=np.uint8)
    # A smooth scene: gradient background, a few shapes, mild noise.
    yy, xx = np.mgrid[0:120, 0:160]
    scene = (40 + 0.6 * xx + 0.3 * yy).astype(np.float64)
    scene[(xx - 50) ** 2 + (yy - 60) ** 2 < 25 ** 2] = 210
    scene[20:50, 100:150] = 15
    scene += rng.normal(0, 6, scene.shape)
    imgs["scene_160x120"] = np.clip(scene, 0, 255).astype(np.uint8)
    imgs["tiny_5x3"] = rng.integers(0, 256, (3, 5), dtype=np.uint8)
    imgs["row_40x1"] = rng.integers(0, 256, (1, 40), dtype=np.uint8)
    imgs["col_1x23"] = rng.integers(0, 256, (23, 1), dtype=np.uint8)
    bimodal = np.where(rng.random((50, 70)) < 0.3, 200, 60).astype(np.int16)
    bimodal += rng.integers(-25, 26, bimodal.shape, dtype=np.int16)
    imgs["bimodal_70x50"] = np.clip(bimodal, 0, 255).astype(np.uint8)
    imgs["constant_9x9"] = np.full((9, 9), 128, np.uint8)
    return imgs


def main():
    os.makedirs(OUT, exist_ok=True)
    manifest = {"opencv": cv2.__version__, "gray": [], "blur": [], "otsu": [], "adaptive": []}

    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    manifest["gray"].append({"input": save("rgb_64x48.png", rgb), "output": save("rgb_64x48.gray.png", gray)})

    imgs = inputs()
    for name, img in imgs.items():
        save(name + ".png", img)

    # Sigmas are float32 values, as the Rust API takes f32.
    sigmas = [0.5, 0.8, 1.0, float(np.float32(1.4)), 2.0, float(np.float32(3.3)), 7.0]
    for name in ["noise_97x61", "scene_160x120", "tiny_5x3", "row_40x1", "col_1x23"]:
        for s in sigmas:
            out = cv2.GaussianBlur(imgs[name], (0, 0), sigmaX=s, sigmaY=s, borderType=cv2.BORDER_REFLECT_101)
            fname = "%s.blur_%g.png" % (name, s)
            manifest["blur"].append({"input": name + ".png", "sigma": s, "output": save(fname, out)})

    for name, img in imgs.items():
        t, _ = cv2.threshold(img, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        manifest["otsu"].append({"input": name + ".png", "threshold": int(t)})
    # Otsu after blur, as the pipeline uses it.
    for s in [1.0, 2.0]:
        b = cv2.GaussianBlur(imgs["scene_160x120"], (0, 0), s)
        fname = "scene_160x120.blur_%g.png" % s
        t, _ = cv2.threshold(b, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        manifest["otsu"].append({"input": fname, "threshold": int(t)})

    for name in ["scene_160x120", "noise_97x61", "tiny_5x3"]:
        for block, c in [(3, 0.0), (5, 2.0), (11, 2.5), (15, -3.5), (31, 5.0)]:
            out = cv2.adaptiveThreshold(imgs[name], 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, block, c)
            fname = "%s.adaptive_%d_%g.png" % (name, block, c)
            manifest["adaptive"].append({"input": name + ".png", "block": block, "c": c, "output": save(fname, out)})

    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
