#!/usr/bin/env python3
"""Writes OpenCV reference measures for src/vision/measure.rs.

Run from the crate root:  python3 tests/ref/make_measure_refs.py
Draws shapes, traces them with cv2.findContours(RETR_TREE, CHAIN_APPROX_NONE) and
records, per contour, the points and what OpenCV measures on them. The Rust unit
tests in src/vision/measure.rs read tests/data/measure/contours.json.
"""
import json
import math
import os

import cv2
import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "data", "measure")


def star(cx, cy, r_out, r_in, n=5, rot=0.0):
    pts = []
    for i in range(2 * n):
        r = r_out if i % 2 == 0 else r_in
        a = rot + math.pi * i / n
        pts.append((cx + r * math.sin(a), cy - r * math.cos(a)))
    return np.array(pts, np.int32)


def regular(cx, cy, r, n, rot=0.0):
    return np.array(
        [(cx + r * math.cos(rot + 2 * math.pi * i / n), cy + r * math.sin(rot + 2 * math.pi * i / n)) for i in range(n)],
        np.int32,
    )


def canvases():
    c = []
    img = np.zeros((200, 300), np.uint8)
    cv2.circle(img, (60, 60), 40, 255, -1)
    cv2.ellipse(img, (190, 60), (70, 30), 25, 0, 360, 255, -1)
    cv2.fillPoly(img, [np.array([(20, 190), (80, 120), (120, 185)], np.int32)], 255)
    box = cv2.boxPoints(((200, 150), (90, 40), 17)).astype(np.int32)
    cv2.fillPoly(img, [box], 255)
    c.append(("shapes", img))

    img = np.zeros((200, 300), np.uint8)
    cv2.fillPoly(img, [regular(60, 60, 45, 6, 0.2)], 255)
    cv2.fillPoly(img, [star(190, 70, 60, 25)], 255)
    cv2.rectangle(img, (20, 130), (120, 190), 255, -1)
    cv2.rectangle(img, (45, 145), (95, 175), 0, -1)  # a hole
    cv2.circle(img, (70, 160), 6, 255, -1)  # an island in the hole
    cv2.line(img, (150, 180), (290, 140), 255, 1)  # a 1-px line
    img[5, 290] = 255  # a single pixel
    c.append(("polys_holes_lines", img))

    rng = np.random.default_rng(11)
    noise = rng.random((120, 160)).astype(np.float32)
    blobs = cv2.GaussianBlur(noise, (0, 0), 6)
    img = np.where(blobs > np.percentile(blobs, 60), 255, 0).astype(np.uint8)
    c.append(("blobs", img))
    return c


def calipers_unique(hull):
    """Whether only one rectangle reaches the minimum area (ties would let an
    implementation legitimately pick another)."""
    h = hull.reshape(-1, 2).astype(np.float64)
    if len(h) < 3:
        return True
    rects = []
    for i in range(len(h)):
        e = h[(i + 1) % len(h)] - h[i]
        L = np.hypot(*e)
        if L == 0:
            continue
        u = e / L
        n = np.array([-u[1], u[0]])
        pu, pn = h @ u, h @ n
        area = (pu.max() - pu.min()) * (pn.max() - pn.min())
        centre = u * (pu.max() + pu.min()) / 2 + n * (pn.max() + pn.min()) / 2
        rects.append((area, centre, math.degrees(math.atan2(e[1], e[0])) % 90.0))
    m = min(r[0] for r in rects)
    tied = [r for r in rects if r[0] <= m * (1 + 1e-9) + 1e-9]
    c0, a0 = tied[0][1], tied[0][2]
    same = lambda r: np.allclose(r[1], c0, atol=1e-6) and min(abs(r[2] - a0), 90 - abs(r[2] - a0)) < 1e-6
    return all(same(r) for r in tied)


def depth(hier, i):
    """Number of enclosing contours; odd depths are hole borders under RETR_TREE."""
    d = 0
    while hier[i][3] >= 0:
        i = hier[i][3]
        d += 1
    return d


def main():
    os.makedirs(OUT, exist_ok=True)
    records = []
    for name, img in canvases():
        contours, hierarchy = cv2.findContours(img, cv2.RETR_TREE, cv2.CHAIN_APPROX_NONE)
        for i, c in enumerate(contours):
            pts = c.reshape(-1, 2)
            peri = cv2.arcLength(c, True)
            m = cv2.moments(c)
            poly = cv2.approxPolyDP(c, 0.02 * peri, True).reshape(-1, 2)
            hull = cv2.convexHull(c)
            (cx, cy), (w, h), ang = cv2.minAreaRect(c)
            records.append(
                {
                    "canvas": name,
                    "index": i,
                    "hole": depth(hierarchy[0], i) % 2 == 1,
                    "points": pts.tolist(),
                    "area": cv2.contourArea(c),
                    "perimeter": peri,
                    "m00": m["m00"],
                    "m10": m["m10"],
                    "m01": m["m01"],
                    "polygon": poly.tolist(),
                    "hull": hull.reshape(-1, 2).tolist(),
                    "hull_area": cv2.contourArea(hull),
                    "rect": [cx, cy, w, h, ang],
                    "rect_unique": calipers_unique(hull),
                }
            )
    with open(os.path.join(OUT, "contours.json"), "w") as f:
        json.dump({"opencv": cv2.__version__, "contours": records}, f, separators=(",", ":"))
        f.write("\n")
    print(len(records), "contours")


if __name__ == "__main__":
    main()
