#!/usr/bin/env python3
"""Side-by-side timing: librosa's frame features versus mmprompt's whole audio path.

Generates a mixed folder in a temporary directory (16 kHz and 44.1 kHz, WAV and FLAC:
tones, noise, clicks and, if `espeak-ng` is installed, synthetic speech; a few minutes in
total), then times per file

  (a) librosa: load at 16 kHz (soundfile decode + resample, as librosa.load does), then
      rms, zero-crossing rate, spectral centroid, bandwidth, flatness, roll-off, onset
      strength and YIN over the same frames as ours (n_fft=400, hop=160, center=False);
  (b) mmprompt: decode -> analyzer (features, pitch, neural VAD, labels, segments) -> JSON-LD,
      via `examples/time_audio.rs`, and `mmprompt extract` on the same files when the CLI
      takes audio.

and prints medians and the ratio librosa / ours. Run from the crate root:

    pip install librosa soundfile      # not needed by `make test`
    python3 benches/vs_librosa.py [--repeat 5] [--keep DIR]

librosa is timed in-process after a warm-up (its first call pays for imports and numba
compilation, which would flatter us); ours is timed inside the example binary, so process
start-up is excluded from both. The CLI figure includes process start-up.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import warnings

import numpy as np

try:
    import librosa
    import soundfile as sf
except ImportError:  # pragma: no cover - a usage error, not a test
    sys.exit("needs: pip install librosa soundfile")

SR = 16_000
N_FFT = 400
HOP = 160


def noise(rng, n, amp):
    return (amp * rng.standard_normal(n)).astype(np.float32)


def tone(sr, seconds, hz, amp):
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def harmonic(sr, seconds, f0, amp):
    t = np.arange(int(seconds * sr)) / sr
    glide = f0 * (1 + 0.1 * np.sin(2 * np.pi * 0.5 * t))
    phase = 2 * np.pi * np.cumsum(glide) / sr
    env = (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)) ** 2
    x = sum(np.sin(k * phase) / k for k in range(1, 9))
    return (amp * env * x).astype(np.float32)


def speech(sr, text, workdir, index):
    """Synthetic speech from espeak-ng at `sr`, or None when espeak-ng is missing."""
    if shutil.which("espeak-ng") is None:
        return None
    path = os.path.join(workdir, f"espeak_{index}.wav")
    subprocess.run(["espeak-ng", "-s", "150", "-w", path, text], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    y, _ = librosa.load(path, sr=sr)
    os.remove(path)
    return y.astype(np.float32)


def mix_into(dst, src, at):
    end = min(len(dst), at + len(src))
    dst[at:end] += src[: end - at]


TEXTS = [
    "The quick brown fox jumps over the lazy dog, and then it rests for a while.",
    "Please keep this recording short; we only need a few sentences for the test.",
    "Numbers like four hundred and sixteen kilohertz are read out slowly and clearly.",
]


def make_folder(root, rng):
    """Writes the mixed test files; returns their paths (about four minutes in total)."""
    files = []
    plans = [
        (16_000, "wav", 40.0), (16_000, "flac", 30.0),
        (44_100, "wav", 40.0), (44_100, "flac", 30.0),
        (16_000, "wav", 60.0), (44_100, "flac", 45.0),
    ]
    for i, (sr, ext, seconds) in enumerate(plans):
        n = int(seconds * sr)
        x = noise(rng, n, 0.003)
        t = 0.5
        k = 0
        while t < seconds - 4:
            kind = k % 5
            at = int(t * sr)
            if kind == 0:
                s = speech(sr, TEXTS[(i + k) % len(TEXTS)], root, k)
                seg = s if s is not None else harmonic(sr, 3.0, 150 + 10 * i, 0.3)
            elif kind == 1:
                seg = tone(sr, 0.6, 440 * (1 + k % 3), 0.3)
            elif kind == 2:
                seg = harmonic(sr, 2.0, 110 + 20 * k % 200, 0.3)
            elif kind == 3:
                seg = np.zeros(int(1.5 * sr), np.float32)
                for c in range(6):
                    seg[int(c * 0.25 * sr)] = 0.8
            else:
                seg = noise(rng, int(1.5 * sr), 0.05)
            mix_into(x, seg, at)
            t += len(seg) / sr + 0.7
            k += 1
        x = np.clip(x, -1, 1)
        path = os.path.join(root, f"mix_{i}_{sr // 1000}k.{ext}")
        sf.write(path, x, sr, subtype="PCM_16")
        files.append(path)
    return files


def librosa_features(path):
    # librosa warns that 80 Hz needs 401 samples for two periods; we match its call anyway.
    warnings.filterwarnings("ignore", message=".*periods of fmin.*")
    y, _ = librosa.load(path, sr=SR, mono=True)
    kw = dict(n_fft=N_FFT, hop_length=HOP, center=False)
    out = [
        librosa.feature.rms(y=y, frame_length=N_FFT, hop_length=HOP, center=False),
        librosa.feature.zero_crossing_rate(y, frame_length=N_FFT, hop_length=HOP, center=False),
        librosa.feature.spectral_centroid(y=y, sr=SR, **kw),
        librosa.feature.spectral_bandwidth(y=y, sr=SR, **kw),
        librosa.feature.spectral_flatness(y=y, **kw),
        librosa.feature.spectral_rolloff(y=y, sr=SR, **kw),
        librosa.onset.onset_strength(y=y, sr=SR, **kw),
        librosa.yin(y, fmin=80, fmax=1000, sr=SR, frame_length=N_FFT, hop_length=HOP,
                    center=False),
    ]
    return sum(a.size for a in out)


def time_librosa(path, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        librosa_features(path)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def time_ours(binary, files, repeat, *extra):
    out = subprocess.run([binary, "--repeat", str(repeat), *extra, *files], check=True,
                         capture_output=True, text=True).stdout
    times = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 4:
            times[parts[0]] = float(parts[1])
    return times


def time_cli(cli, path, repeat):
    """Median wall time of `mmprompt extract` on one file, or None if it refuses audio."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        r = subprocess.run([cli, "extract", path], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        if r.returncode != 0:
            return None
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--keep", help="write the test files here and keep them")
    args = ap.parse_args()

    crate = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.run(["cargo", "build", "--release", "--quiet", "--example", "time_audio",
                    "--bin", "mmprompt"], cwd=crate, check=True)
    binary = os.path.join(crate, "target", "release", "examples", "time_audio")
    cli = os.path.join(crate, "target", "release", "mmprompt")

    root = args.keep or tempfile.mkdtemp(prefix="vs_librosa_")
    os.makedirs(root, exist_ok=True)
    try:
        files = make_folder(root, np.random.default_rng(7))
        librosa_features(files[0])  # warm-up: imports, numba compilation, FFT plans
        ours = time_ours(binary, files, args.repeat)
        # The same path without the neural VAD, a stage librosa has no counterpart for.
        no_vad = time_ours(binary, files, args.repeat, "--no-vad")
        # As `mmprompt extract` runs a file: analysis on a second thread beside the decoding.
        two = time_ours(binary, files, args.repeat, "--pipelined")
        total_audio = total_lib = total_ours = 0.0
        total_cli = 0.0
        cli_ok = True
        print(f"{'file':28} {'audio s':>8} {'librosa s':>10} {'ours s':>9} {'ratio':>7}"
              f" {'CLI s':>8}")
        for path in files:
            dur = sf.info(path).duration
            lib = time_librosa(path, args.repeat)
            mine = ours[path]
            cli_t = time_cli(cli, path, args.repeat) if cli_ok else None
            if cli_t is None:
                cli_ok = False
            else:
                total_cli += cli_t
            total_audio += dur
            total_lib += lib
            total_ours += mine
            cli_s = f"{cli_t:8.4f}" if cli_t is not None else "       -"
            print(f"{os.path.basename(path):28} {dur:8.1f} {lib:10.4f} {mine:9.4f}"
                  f" {lib / mine:6.1f}x {cli_s}")
        print(f"{'total':28} {total_audio:8.1f} {total_lib:10.4f} {total_ours:9.4f}"
              f" {total_lib / total_ours:6.1f}x")
        print(f"librosa {total_audio / total_lib:.0f}x realtime, ours (decode -> JSON-LD)"
              f" {total_audio / total_ours:.0f}x realtime; ours is"
              f" {total_lib / total_ours:.1f}x faster than librosa (medians of {args.repeat})")
        total_no_vad = sum(no_vad[p] for p in files)
        print(f"without the neural VAD (librosa has none): ours {total_audio / total_no_vad:.0f}x"
              f" realtime, {total_lib / total_no_vad:.1f}x faster than librosa; the VAD is"
              f" {(total_ours - total_no_vad) / total_ours * 100:.0f}% of our time")
        total_two = sum(two[p] for p in files)
        print(f"with the analysis on a second thread beside the decoding, as `extract` does"
              f" (librosa uses one): ours {total_audio / total_two:.0f}x realtime,"
              f" {total_lib / total_two:.1f}x faster than librosa")
        if cli_ok:
            print(f"CLI (mmprompt extract, per-process): {total_audio / total_cli:.0f}x realtime,"
                  f" {total_lib / total_cli:.1f}x faster than librosa")
        else:
            print("CLI: `mmprompt extract` did not accept these files; not timed")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
