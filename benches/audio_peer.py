#!/usr/bin/env python3
"""The Python peer: a short classical sound-event tagger to compare mmprompt against.

    python3 benches/audio_peer.py IN_DIR OUT_DIR

Tags every audio file under IN_DIR (wav, flac, ogg, mp3; loaded with librosa at 16 kHz
mono) and writes OUT_DIR/<same relative path>.tsv, "onset<TAB>offset<TAB>label" per line,
labels speech, music, impact, tone (the corpus reference format; background is not written).

  * speech: Silero VAD (tests/corpus/silero.py: the ONNX model, one onnxruntime thread),
    chunks with p >= 0.5, then Silero's own default post-processing in spirit: gaps under
    100 ms filled, runs under 250 ms dropped, 30 ms padding;
  * STFT (512-sample window, 10 ms hop) and librosa.decompose.hpss into harmonic H and
    percussive P magnitudes; level in dBFS and an adaptive noise floor (the 10th
    percentile of the 110 ms level over a sliding 3 s, capped by the file's own 5th
    percentile, so a sound lasting seconds does not become the floor); active frames are
    10 dB above the floor;
  * impact: an onset of the percussive part (librosa onset detection on P) whose peak is
    percussive-dominated, 12 dB above the floor, and decays by 10 dB within 300 ms; the
    event ends when the level is 20 dB under the peak or back near the floor;
  * tone: active, harmonic-dominated frames whose harmonic spectrum is one peak (>= 80 % of
    its energy within +-2 bins of the maximum) at a stable frequency (within 1 bin of the
    median over 90 ms), not speech; runs of 100 ms or more;
  * music: active, harmonic-dominated, tonal (low spectral flatness) frames that are
    neither speech nor tone; gaps under 300 ms filled, runs of 500 ms or more.

Single-threaded: the thread counts of OpenMP, BLAS and numba are set to 1 before numpy is
imported. Prints one summary line on stderr: files, audio seconds and processing seconds
(after imports and model load), which benches/audio_vs_peer.py reads.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import librosa  # noqa: E402
import numpy as np  # noqa: E402
import scipy.ndimage as ndi  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "corpus"))
import silero  # noqa: E402

SR = 16000
N_FFT = 512
HOP = 160
FRAME_S = HOP / SR
EXTS = {".wav", ".flac", ".ogg", ".mp3"}


def runs(mask, fill=0, min_len=1):
    """[start, end) index runs of a boolean mask, gaps of at most `fill` joined, runs shorter
    than `min_len` dropped."""
    d = np.diff(np.concatenate([[0], np.asarray(mask, dtype=np.int8), [0]]))
    out = []
    for s, e in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)):
        if out and s - out[-1][1] <= fill:
            out[-1][1] = e
        else:
            out.append([s, e])
    return [(s, e) for s, e in out if e - s >= min_len]


def speech_runs(x):
    """Speech as (onset, offset) seconds from Silero's per-chunk decisions."""
    p = silero.probs(x)
    fill = int(round(0.100 / silero.CHUNK_S))
    min_len = int(round(0.250 / silero.CHUNK_S))
    dur = len(x) / SR
    return [(max(0.0, s * silero.CHUNK_S - 0.03), min(dur, e * silero.CHUNK_S + 0.03))
            for s, e in runs(p >= silero.THRESHOLD, fill, min_len)]


def tag(x):
    events = []
    speech = speech_runs(x)
    events += [(a, b, "speech") for a, b in speech]

    S = np.abs(librosa.stft(x, n_fft=N_FFT, hop_length=HOP))
    H, P = librosa.decompose.hpss(S)
    n = S.shape[1]
    t = np.arange(n) * FRAME_S
    e, eh, ep = (S ** 2).sum(0), (H ** 2).sum(0), (P ** 2).sum(0)
    # dBFS: a full-scale sine has energy (sum of the Hann window / 2)^2 * 2 in its two bins.
    ref = (np.hanning(N_FFT + 1)[:-1].sum() / 2) ** 2 * 2
    db = 10 * np.log10(e / ref + 1e-12)
    level = 10 * np.log10(ndi.uniform_filter1d(e, 11, mode="nearest") / ref + 1e-12)  # 110 ms
    floor = np.minimum(ndi.percentile_filter(level, 10, size=301, mode="nearest"),
                       np.percentile(level, 5))
    active = (level > floor + 10) & (level > -70)
    in_speech = np.zeros(n, dtype=bool)
    for a, b in speech:
        in_speech |= (t >= a) & (t < b)

    # Impacts: percussive onsets that peak and decay.
    env = librosa.onset.onset_strength(S=librosa.power_to_db(P ** 2), sr=SR, hop_length=HOP)
    for o in librosa.onset.onset_detect(onset_envelope=env, sr=SR, hop_length=HOP):
        o = max(0, o - 1)
        pk = o + int(np.argmax(db[o:o + 6]))
        if in_speech[pk] or ep[pk] < eh[pk] or db[pk] < floor[pk] + 12:
            continue
        after = db[pk:pk + 31]
        if after.min() > db[pk] - 10:
            continue  # no decay: a sustained sound, not an impact
        quiet = np.flatnonzero(db[pk:pk + 51] < max(db[pk] - 20, floor[pk] + 3))
        end = pk + (quiet[0] if len(quiet) else min(50, n - pk - 1))
        if events and events[-1][2] == "impact" and t[o] < events[-1][1]:
            continue  # still inside the previous impact's decay
        events.append((t[o], t[end], "impact"))

    # Tone and music from the harmonic part.
    harmonic = active & (eh > 2 * ep) & ~in_speech
    peak = np.argmax(H, axis=0)
    hp = H ** 2
    around = sum(hp[np.clip(peak + k, 0, hp.shape[0] - 1), np.arange(n)] for k in range(-2, 3))
    one_peak = around >= 0.8 * hp.sum(0)
    stable = np.abs(peak - ndi.median_filter(peak, size=9, mode="nearest")) <= 1
    tone = harmonic & one_peak & stable
    tone_runs = runs(tone, fill=5, min_len=10)
    is_tone = np.zeros(n, dtype=bool)
    for s, en in tone_runs:
        is_tone[s:en] = True
        events.append((t[s], t[en - 1] + FRAME_S, "tone"))
    flat = librosa.feature.spectral_flatness(S=H)[0]
    music = harmonic & (flat < 0.1) & ~is_tone
    for s, en in runs(music, fill=30, min_len=50):
        events.append((t[s], t[en - 1] + FRAME_S, "music"))
    return sorted(events)


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit("usage: audio_peer.py IN_DIR OUT_DIR")
    src, dst = Path(sys.argv[1]), Path(sys.argv[2])
    files = sorted(p for p in src.rglob("*") if p.suffix.lower() in EXTS and p.is_file())
    silero.session()  # the model is loaded (and checked) before the clock starts
    start, audio_s = time.perf_counter(), 0.0
    for path in files:
        x, _ = librosa.load(path, sr=SR, mono=True)
        audio_s += len(x) / SR
        out = dst / path.relative_to(src).with_suffix(".tsv")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("".join(f"{a:.3f}\t{b:.3f}\t{c}\n" for a, b, c in tag(x)))
    print(f"audio_peer: {len(files)} files, {audio_s:.3f} s audio, "
          f"{time.perf_counter() - start:.3f} s processing", file=sys.stderr)


if __name__ == "__main__":
    main()
