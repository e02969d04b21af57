#!/usr/bin/env python3
"""Generate reference data for tests/contours_opencv.rs.

Every case is a deterministic binary image (fixed seeds, no input files). For each case
this writes, under tests/data/contours/:

  NAME.png   the image, 8-bit grayscale (0/255 except the `gray_levels` case, whose
             non-zero values vary to check that any non-zero byte is foreground)
  NAME.json  cv2.findContours(img, RETR_TREE, CHAIN_APPROX_NONE) as
             {"opencv_version", "width", "height",
              "contours": [{"points": [[x, y], ...], "is_hole": bool, "parent": int|null}]}

`is_hole` is the parity of the depth in the tree: with RETR_TREE an outer border's parent
is always a hole (or none) and a hole's parent always an outer border.

Usage: python3 tests/ref/make_contour_refs.py [OUT_DIR] [--stress N]
Needs opencv-python(-headless) and numpy. Re-running with the same OpenCV version
rewrites identical files.

--stress N writes N extra, larger random cases instead (not committed: too big); check
them with `MMPROMPT_CONTOUR_REFS=OUT_DIR cargo test --test contours_opencv`.
"""

import json
import os
import sys

import cv2
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "..", "data", "contours")


def canvas(h, w):
    return np.zeros((h, w), np.uint8)


def noise(seed, h, w, density):
    rng = np.random.default_rng(seed)
    return np.where(rng.random((h, w)) < density, 255, 0).astype(np.uint8)


def blobs(seed, h, w, sigma, level):
    """Smooth random field thresholded: organic shapes with holes and islands."""
    rng = np.random.default_rng(seed)
    field = rng.random((h, w)).astype(np.float32)
    field = cv2.GaussianBlur(field, (0, 0), sigma)
    cut = np.quantile(field, level)
    return np.where(field > cut, 255, 0).astype(np.uint8)


def edge_case(side):
    img = canvas(24, 32)
    if side == "top":
        cv2.rectangle(img, (5, 0), (12, 6), 255, -1)
        cv2.circle(img, (24, 2), 4, 255, -1)
    elif side == "bottom":
        cv2.rectangle(img, (5, 17), (12, 23), 255, -1)
        cv2.circle(img, (24, 22), 4, 255, -1)
    elif side == "left":
        cv2.rectangle(img, (0, 4), (6, 10), 255, -1)
        cv2.circle(img, (1, 18), 4, 255, -1)
        # A ring cut by the left edge: its hole is open to the outside on one row.
        cv2.rectangle(img, (0, 13), (9, 15), 255, 1)
    elif side == "right":
        cv2.rectangle(img, (25, 4), (31, 10), 255, -1)
        cv2.circle(img, (30, 18), 4, 255, -1)
    return img


def edges_all():
    img = canvas(30, 40)
    cv2.rectangle(img, (10, 0), (15, 4), 255, -1)  # top
    cv2.rectangle(img, (22, 25), (28, 29), 255, -1)  # bottom
    cv2.rectangle(img, (0, 12), (3, 18), 255, -1)  # left
    cv2.rectangle(img, (36, 8), (39, 14), 255, -1)  # right
    cv2.rectangle(img, (0, 0), (2, 2), 255, -1)  # top-left corner
    cv2.rectangle(img, (37, 27), (39, 29), 255, -1)  # bottom-right corner
    img[0, 39] = 255  # single pixels in the other corners
    img[29, 0] = 255
    # A frame-sized ring: one outer border on the image edge, one hole inside.
    ring = canvas(30, 40)
    cv2.rectangle(ring, (0, 0), (39, 29), 255, 1)
    return img, ring


def nested():
    """Ring in ring in ring, with islands at every level and a hole inside an island."""
    img = canvas(80, 90)
    cv2.rectangle(img, (2, 2), (87, 77), 255, -1)
    cv2.rectangle(img, (6, 6), (83, 73), 0, -1)
    cv2.rectangle(img, (10, 10), (79, 69), 255, -1)
    cv2.rectangle(img, (14, 14), (75, 65), 0, -1)
    cv2.circle(img, (45, 40), 24, 255, -1)
    cv2.circle(img, (45, 40), 20, 0, -1)
    cv2.circle(img, (45, 40), 5, 255, -1)  # island inside the innermost hole
    img[40, 45] = 0  # a one-pixel hole inside that island
    cv2.rectangle(img, (16, 16), (19, 19), 255, -1)  # island in the second hole
    img[8, 40] = 255  # single-pixel island in the first hole
    img[4, 4] = 0  # single-pixel hole in the outer ring
    cv2.circle(img, (70, 58), 3, 255, -1)  # another island, level two
    return img


def single_pixels():
    img = canvas(16, 20)
    for y, x in [(0, 0), (0, 19), (15, 0), (15, 19), (3, 4), (3, 6), (7, 10), (9, 10), (12, 15)]:
        img[y, x] = 255
    return img


def lines():
    h = canvas(20, 30)
    h[3, 2:25] = 255
    h[9, 0:30] = 255  # touches both sides
    h[15, 5] = 255
    h[15, 7:9] = 255
    v = h.T.copy()
    d = canvas(24, 24)
    for i in range(20):
        d[i + 2, i + 1] = 255  # main diagonal
        d[21 - i, i + 3] = 255  # anti-diagonal crossing it
    for i in range(6):
        d[i, 17 + i] = 255  # diagonal touching the top edge
    return h, v, d


def diagonal_only():
    """Pixels meeting only at corners. They are 8-connected, so the checkerboard is one
    component, and every background cell it closes off only diagonally is a hole."""
    yy, xx = np.mgrid[0:21, 0:23]
    checker = np.where((yy + xx) % 2 == 0, 255, 0).astype(np.uint8)
    diamond = canvas(11, 11)
    for (y, x) in [(1, 5), (2, 4), (2, 6), (3, 3), (3, 7), (4, 4), (4, 6), (5, 5), (8, 2), (9, 3), (8, 8), (9, 7)]:
        diamond[y, x] = 255
    return checker, diamond


def random_shapes(seed, h, w, n):
    rng = np.random.default_rng(seed)
    img = canvas(h, w)
    for _ in range(n):
        kind = rng.integers(0, 4)
        colour = 255 if rng.random() < 0.75 else 0
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        if kind == 0:
            ax = (int(rng.integers(2, w // 4)), int(rng.integers(2, h // 4)))
            cv2.ellipse(img, (cx, cy), ax, float(rng.integers(0, 180)), 0, 360, colour, -1)
        elif kind == 1:
            x2, y2 = cx + int(rng.integers(1, w // 3)), cy + int(rng.integers(1, h // 3))
            cv2.rectangle(img, (cx, cy), (x2, y2), colour, int(rng.choice([-1, 1, 2])))
        elif kind == 2:
            pts = rng.integers(0, [w, h], size=(int(rng.integers(3, 7)), 2)).astype(np.int32)
            cv2.fillPoly(img, [pts], colour)
        else:
            cv2.circle(img, (cx, cy), int(rng.integers(3, h // 5)), colour, int(rng.integers(1, 4)))
    return img


def cases():
    yield "edge_top", edge_case("top")
    yield "edge_bottom", edge_case("bottom")
    yield "edge_left", edge_case("left")
    yield "edge_right", edge_case("right")
    allsides, ring = edges_all()
    yield "edges_all", allsides
    yield "edges_frame_ring", ring
    yield "nested_three_levels", nested()
    yield "single_pixels", single_pixels()
    h, v, d = lines()
    yield "lines_horizontal", h
    yield "lines_vertical", v
    yield "lines_diagonal", d
    checker, diamond = diagonal_only()
    yield "diagonal_checkerboard", checker
    yield "diagonal_diamond", diamond
    yield "all_white", np.full((9, 17), 255, np.uint8)
    yield "all_black", canvas(9, 17)
    yield "one_by_one_white", np.full((1, 1), 255, np.uint8)
    yield "one_by_one_black", canvas(1, 1)
    yield "one_row", noise(11, 1, 40, 0.5)
    yield "one_column", noise(12, 40, 1, 0.5)
    yield "two_rows", noise(13, 2, 33, 0.6)
    yield "gray_levels", (np.random.default_rng(14).integers(0, 4, (30, 30)) * 60).astype(np.uint8)
    for i, density in enumerate([0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95]):
        yield "noise_small_d%02d" % round(density * 100), noise(100 + i, 24, 31, density)
    for i, density in enumerate([0.3, 0.7]):
        yield "noise_128_d%02d" % round(density * 100), noise(200 + i, 128, 128, density)
    # Thousands of borders: OpenCV's one-byte border numbers wrap many times here.
    yield "noise_256_d50", noise(300, 256, 256, 0.5)
    for i in range(3):
        yield "blobs_%d" % i, blobs(400 + i, 96, 128, 2.0 + i, 0.4 + 0.1 * i)
    for i in range(4):
        yield "shapes_%d" % i, random_shapes(500 + i, 90 + 10 * i, 120, 12 + 4 * i)


def stress_cases(n):
    for i in range(n):
        rng = np.random.default_rng(1000 + i)
        h, w = int(rng.integers(200, 700)), int(rng.integers(200, 900))
        kind = i % 3
        if kind == 0:
            yield "stress_%03d_noise" % i, noise(2000 + i, h, w, float(rng.uniform(0.05, 0.95)))
        elif kind == 1:
            yield "stress_%03d_blobs" % i, blobs(2000 + i, h, w, float(rng.uniform(1.0, 6.0)), float(rng.uniform(0.2, 0.8)))
        else:
            img = blobs(2000 + i, h, w, float(rng.uniform(2.0, 8.0)), 0.5)
            img ^= noise(3000 + i, h, w, float(rng.uniform(0.01, 0.3)))
            yield "stress_%03d_mixed" % i, img


def reference(img):
    contours, hierarchy = cv2.findContours(img, cv2.RETR_TREE, cv2.CHAIN_APPROX_NONE)
    parents = [] if hierarchy is None else [int(p) for p in hierarchy[0][:, 3]]

    def depth(i):
        d = 0
        while parents[i] >= 0:
            i = parents[i]
            d += 1
        return d

    out = []
    for i, c in enumerate(contours):
        out.append(
            {
                "points": c.reshape(-1, 2).tolist(),
                "is_hole": depth(i) % 2 == 1,
                "parent": parents[i] if parents[i] >= 0 else None,
            }
        )
    return out


def main():
    args = sys.argv[1:]
    stress = 0
    if "--stress" in args:
        k = args.index("--stress")
        stress = int(args[k + 1])
        del args[k : k + 2]
    out_dir = args[0] if args else DEFAULT_OUT
    os.makedirs(out_dir, exist_ok=True)
    names = set()
    for name, img in stress_cases(stress) if stress else cases():
        assert name not in names, name
        names.add(name)
        assert img.dtype == np.uint8 and img.ndim == 2, name
        if not cv2.imwrite(os.path.join(out_dir, name + ".png"), img):
            raise SystemExit("could not write %s.png" % name)
        doc = {
            "opencv_version": cv2.__version__,
            "width": int(img.shape[1]),
            "height": int(img.shape[0]),
            "contours": reference(img),
        }
        with open(os.path.join(out_dir, name + ".json"), "w") as f:
            json.dump(doc, f, separators=(",", ":"))
            f.write("\n")
        print("%-24s %4dx%-4d %5d contours" % (name, img.shape[1], img.shape[0], len(doc["contours"])))


if __name__ == "__main__":
    main()
