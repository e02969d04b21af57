#!/usr/bin/env python3
"""Writes deterministic audio test signals and librosa reference features for them.

Run from the repository root:  python3 tests/ref/make_audio_refs.py
Needs numpy, scipy and librosa (only to regenerate; the Rust tests read the committed files).

Every signal is written as 32-bit float mono WAV at 16 kHz to tests/data/audio/ref_<name>.wav,
and tests/data/audio/librosa_refs.json holds, per signal, the librosa features computed on
exactly the samples in that file (read back as float64, so librosa works in double precision)
with the analyzer's framing:

    n_fft = frame_length = 400 (25 ms), hop_length = 160 (10 ms), center=False,
    window='hann' (scipy's periodic Hann), magnitude spectrogram (power=1).

What each librosa call computes, and so what the Rust side must match:
  rms       time-domain sqrt(mean(x**2)) of the raw (unwindowed) frame
  zcr       sign changes between consecutive raw samples / frame_length, |x| <= 1e-10 is +0
  centroid  sum(f * S) / sum(S) over the magnitude spectrum S of the windowed frame
  bandwidth sqrt(sum(S * (f - centroid)**2) / sum(S))
  flatness  gmean(P) / amean(P) with P = max(S**2, 1e-10)  (power spectrum, amin 1e-10)
  rolloff   lowest bin frequency where cumsum(S) >= 0.85 * sum(S)  (magnitude, not power)
"""
import json
import os

import librosa
import numpy as np
from scipy.io import wavfile

SR = 16000
N_FFT = 400
HOP = 160
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "audio")


def signals():
    rng = np.random.RandomState(20240611)
    t = np.arange(SR) / SR
    out = {}
    out["white"] = np.clip(0.25 * rng.randn(SR), -1, 1)
    # Pink noise: white noise shaped by 1/sqrt(f) in the frequency domain.
    spec = np.fft.rfft(rng.randn(SR))
    f = np.fft.rfftfreq(SR, 1 / SR)
    spec[1:] /= np.sqrt(f[1:])
    spec[0] = 0
    pink = np.fft.irfft(spec, SR)
    out["pink"] = 0.3 * pink / np.max(np.abs(pink))
    # Linear chirp 100 Hz -> 4 kHz with a little noise so no bin is exactly empty.
    phase = 2 * np.pi * (100 * t + 0.5 * (4000 - 100) * t**2)
    out["chirp"] = 0.5 * np.sin(phase) + 0.001 * rng.randn(SR)
    # Harmonic tone, f0 150 Hz, 12 harmonics at 1/k, slow tremolo.
    harm = sum(np.sin(2 * np.pi * 150 * k * t + k) / k for k in range(1, 13))
    out["harmonic"] = 0.3 * harm / np.max(np.abs(harm)) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    # Digital silence, then a 1 kHz tone, then clicks in low noise: exercises all-zero
    # frames (centroid 0, flatness 1) and single-sample impulses.
    mixed = np.zeros(SR)
    mixed[3200:9600] = 0.5 * np.sin(2 * np.pi * 1000 * t[3200:9600])
    mixed[9600:] = 0.002 * rng.randn(SR - 9600)
    for pos in (11000, 12345, 14000):
        mixed[pos] = 0.9
    out["mixed"] = mixed
    return {k: v.astype(np.float32) for k, v in out.items()}


def features(y):
    kw = dict(n_fft=N_FFT, hop_length=HOP, center=False, window="hann")
    return {
        "rms": librosa.feature.rms(y=y, frame_length=N_FFT, hop_length=HOP, center=False)[0],
        "zcr": librosa.feature.zero_crossing_rate(y, frame_length=N_FFT, hop_length=HOP, center=False)[0],
        "centroid": librosa.feature.spectral_centroid(y=y, sr=SR, **kw)[0],
        "bandwidth": librosa.feature.spectral_bandwidth(y=y, sr=SR, **kw)[0],
        "flatness": librosa.feature.spectral_flatness(y=y, **kw)[0],
        "rolloff": librosa.feature.spectral_rolloff(y=y, sr=SR, roll_percent=0.85, **kw)[0],
    }


def codec_fixtures():
    """Small encoded files for the decoder tests: 0.5 s, stereo 44.1 kHz, left 440 Hz and
    right 660 Hz sines at 0.4, so the mono downmix and the resampled pitch can be checked."""
    import soundfile as sf

    sr = 44100
    t = np.arange(sr // 2) / sr
    stereo = np.stack([0.4 * np.sin(2 * np.pi * 440 * t), 0.4 * np.sin(2 * np.pi * 660 * t)], axis=1)
    for name, fmt, subtype in [
        ("codec_flac.flac", "FLAC", "PCM_16"),
        ("codec_vorbis.ogg", "OGG", "VORBIS"),
        ("codec_mp3.mp3", "MP3", "MPEG_LAYER_III"),
        ("codec_aiff.aiff", "AIFF", "PCM_24"),
    ]:
        sf.write(os.path.join(OUT, name), stereo, sr, format=fmt, subtype=subtype)


def main():
    os.makedirs(OUT, exist_ok=True)
    codec_fixtures()
    refs = {
        "librosa": librosa.__version__,
        "sample_rate": SR,
        "n_fft": N_FFT,
        "hop_length": HOP,
        "signals": {},
    }
    for name, y32 in signals().items():
        path = os.path.join(OUT, f"ref_{name}.wav")
        wavfile.write(path, SR, y32)
        sr, back = wavfile.read(path)
        assert sr == SR and back.dtype == np.float32
        y = back.astype(np.float64)
        refs["signals"][name] = {
            "wav": f"ref_{name}.wav",
            **{k: [float(x) for x in v] for k, v in features(y).items()},
        }
    with open(os.path.join(OUT, "librosa_refs.json"), "w") as fh:
        json.dump(refs, fh, indent=1)
        fh.write("\n")


if __name__ == "__main__":
    main()
