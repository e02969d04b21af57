#!/usr/bin/env python3
"""Side-by-side speed of the whole audio path: mmprompt extract versus the Python peer.

    python3 benches/audio_vs_peer.py --corpus CORPUS [--split holdout] [--mmprompt PATH]
        [--runs 5] [--core 0] [--no-flac] [--json OUT.json]
    python3 benches/audio_vs_peer.py --folder DIR [...]

The folder timed is, by default, every wav of the corpus split (copied, since mmprompt
skips symbolic links) plus FLAC copies of each made with sox at 16 kHz and at 44.1 kHz,
all in one temporary directory; --folder DIR times DIR as it is instead. Each system runs
over the whole folder on one core (`taskset -c CORE`), from process start to its written
outputs, into a fresh output folder each run:

  mmprompt: taskset -c CORE mmprompt extract --jobs 1 --quiet --out TMP FOLDER
            (decode, analysis, JSON-LD documents and index.ndjson written);
  peer:     taskset -c CORE python3 benches/audio_peer.py FOLDER TMP
            (one thread; Python start-up, imports and the Silero model load included;
            the peer's own figure without them is reported beside it).

One untimed warm-up run of each (page cache, numba's on-disk cache), then N timed rounds
run interleaved, mmprompt then peer, so machine noise hits both; best and median are
reported with audio seconds, x realtime (audio seconds / wall seconds) and the wall-time
ratio mmprompt / peer (below 1: mmprompt is faster).
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
PEER = ROOT / "benches" / "audio_peer.py"
EXTS = {".wav", ".flac", ".ogg", ".mp3"}


def build_folder(corpus: Path, split: str, dest: Path, flac: bool) -> None:
    manifest = json.loads((corpus / "manifest.json").read_text())
    wavs = [corpus / f["path"] for f in manifest["files"] if f["split"] == split]
    if not wavs:
        raise SystemExit(f"{corpus}/manifest.json: no file in split {split!r}")
    for sub in ("wav",) + (("flac16k", "flac44k") if flac else ()):
        (dest / sub).mkdir(parents=True)
    for wav in wavs:
        shutil.copyfile(wav, dest / "wav" / wav.name)
        if flac:
            for sub, rate in (("flac16k", "16000"), ("flac44k", "44100")):
                subprocess.run(["sox", "-D", str(wav), "-r", rate,
                                str(dest / sub / (wav.stem + ".flac"))], check=True)


def timed(cmd, env=None) -> tuple[float, str]:
    start = time.perf_counter()
    res = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)}: exit {res.returncode}\n{res.stderr}")
    return wall, res.stderr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--corpus", type=Path, help="time CORPUS/SPLIT's wavs (+ FLAC copies)")
    src.add_argument("--folder", type=Path, help="time this folder as it is")
    ap.add_argument("--split", default="holdout")
    ap.add_argument("--mmprompt", default=str(ROOT / "target" / "release" / "mmprompt"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--core", default="0", help="the CPU both systems are pinned to")
    ap.add_argument("--no-flac", action="store_true", help="wavs only, no FLAC copies")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="audio-vs-peer-") as tmp:
        tmp = Path(tmp)
        if args.folder:
            folder = args.folder.resolve()
        else:
            folder = tmp / "in"
            build_folder(args.corpus, args.split, folder, not args.no_flac)
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in EXTS and p.is_file())
        if not files:
            raise SystemExit(f"{folder}: no audio files")
        audio_s = sum(sf.info(str(p)).duration for p in files)
        by_kind = {}
        for p in files:
            by_kind[p.parent.name] = by_kind.get(p.parent.name, 0) + 1

        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
                   MKL_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
        pin = ["taskset", "-c", args.core]

        def run_mmprompt():
            out = Path(tempfile.mkdtemp(dir=tmp))
            wall, _ = timed(pin + [args.mmprompt, "extract", "--jobs", "1", "--quiet",
                                   "--out", str(out), str(folder)])
            rows = [json.loads(x) for x in (out / "index.ndjson").read_text().splitlines()]
            ok = sum(1 for r in rows if r.get("status") == "ok")
            if ok != len(files):
                raise SystemExit(f"mmprompt wrote {ok} outputs for {len(files)} files")
            shutil.rmtree(out)
            return wall, None

        def run_peer():
            out = Path(tempfile.mkdtemp(dir=tmp))
            wall, err = timed(pin + [sys.executable, str(PEER), str(folder), str(out)], env)
            n = len(list(out.rglob("*.tsv")))
            if n != len(files):
                raise SystemExit(f"peer wrote {n} outputs for {len(files)} files")
            shutil.rmtree(out)
            m = re.search(r"([\d.]+) s processing", err)
            return wall, float(m.group(1)) if m else None

        systems = {"mmprompt": run_mmprompt, "peer": run_peer}
        walls = {k: [] for k in systems}
        inner = []
        for name, fn in systems.items():
            fn()  # warm-up
        for i in range(args.runs):
            for name, fn in systems.items():
                wall, proc = fn()
                walls[name].append(wall)
                if proc is not None:
                    inner.append(proc)
                print(f"round {i + 1}/{args.runs} {name}: {wall:.3f} s", file=sys.stderr)

    res = {k: {"best_s": min(v), "median_s": statistics.median(v), "runs_s": v,
               "x_realtime_median": audio_s / statistics.median(v),
               "x_realtime_best": audio_s / min(v)} for k, v in walls.items()}
    res["peer"]["processing_median_s"] = statistics.median(inner) if inner else None
    ratio_med = res["mmprompt"]["median_s"] / res["peer"]["median_s"]
    ratio_best = res["mmprompt"]["best_s"] / res["peer"]["best_s"]
    src_desc = str(args.folder) if args.folder else (
        f"{args.corpus}/{args.split}" + ("" if args.no_flac else " + FLAC 16 kHz + FLAC 44.1 kHz"))
    print(f"# Whole path on one core (taskset -c {args.core}), {args.runs} interleaved rounds\n")
    print(f"Folder: {src_desc}: {len(files)} files "
          f"({', '.join(f'{k}: {v}' for k, v in sorted(by_kind.items()))}), "
          f"{audio_s:.1f} s of audio.\n")
    print("| system | audio s | best wall s | median wall s | x realtime (median) | x realtime (best) |")
    print("|---|---|---|---|---|---|")
    for k in systems:
        r = res[k]
        print(f"| {k} | {audio_s:.1f} | {r['best_s']:.3f} | {r['median_s']:.3f} | "
              f"{r['x_realtime_median']:.0f} | {r['x_realtime_best']:.0f} |")
    if res["peer"]["processing_median_s"]:
        p = res["peer"]["processing_median_s"]
        print(f"| peer, processing only (no start-up, imports, model load) | {audio_s:.1f} | - | "
              f"{p:.3f} | {audio_s / p:.0f} | - |")
    print(f"\nWall-time ratio mmprompt / peer: median {ratio_med:.3f}, best {ratio_best:.3f} "
          f"(mmprompt {1 / ratio_med:.1f}x faster at the median).")
    if args.json:
        args.json.write_text(json.dumps({
            "folder": src_desc, "files": len(files), "by_folder": by_kind, "audio_s": audio_s,
            "core": args.core, "runs": args.runs, "mmprompt": args.mmprompt, **res,
            "ratio_mmprompt_over_peer": {"median": ratio_med, "best": ratio_best}}, indent=1) + "\n")


if __name__ == "__main__":
    main()
