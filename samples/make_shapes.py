#!/usr/bin/env python3
"""Writes the synthetic samples whose regions the tests assert exactly.

Shapes are rasterised here with exact integer geometry (no anti-aliasing), so the truth
in tests/samples_truth.rs follows from the numbers below. Run from the project root:
    python3 samples/make_shapes.py
"""
import cv2
import numpy as np

WHITE = (255, 255, 255)


def canvas(w, h, color=WHITE):
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = color
    return img


def paint(img, mask, rgb):
    img[mask] = rgb


def grid(img):
    h, w = img.shape[:2]
    return np.mgrid[0:h, 0:w]


def circle(img, cx, cy, r, rgb):
    yy, xx = grid(img)
    paint(img, (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r, rgb)


def rect(img, x, y, w, h, rgb):
    img[y:y + h, x:x + w] = rgb


def triangle(img, pts, rgb):
    yy, xx = grid(img)
    (x0, y0), (x1, y1), (x2, y2) = pts

    def side(ax, ay, bx, by):
        return (bx - ax) * (yy - ay) - (by - ay) * (xx - ax)

    s0, s1, s2 = side(x0, y0, x1, y1), side(x1, y1, x2, y2), side(x2, y2, x0, y0)
    inside = ((s0 >= 0) & (s1 >= 0) & (s2 >= 0)) | ((s0 <= 0) & (s1 <= 0) & (s2 <= 0))
    paint(img, inside, rgb)


def save(name, rgb_img):
    cv2.imwrite(f"samples/{name}", cv2.cvtColor(rgb_img, cv2.COLOR_RGB2BGR))


def main():
    img = canvas(640, 480)
    circle(img, 140, 130, 70, (200, 30, 30))          # red circle: bbox 70,60,141,141
    rect(img, 360, 60, 120, 120, (30, 60, 200))        # blue square: bbox 360,60,120,120
    triangle(img, [(100, 420), (260, 420), (180, 280)], (30, 150, 50))  # green triangle
    rect(img, 380, 300, 220, 100, (120, 40, 160))      # purple rectangle: bbox 380,300,220,100
    save("shapes.png", img)

    img = canvas(400, 300)
    rect(img, 50, 40, 300, 220, (20, 20, 20))          # dark frame
    rect(img, 90, 80, 220, 140, WHITE)                 # its hole
    circle(img, 200, 150, 40, (20, 20, 20))            # island in the hole: bbox 160,110,81,81
    save("nested.png", img)


if __name__ == "__main__":
    main()
