#!/usr/bin/env python3
"""Silero VAD's per-chunk speech decisions for the real recordings, as test references.

Writes tests/data/silero/silero_refs.json, read by tests/audio_silero.rs. Not part of
`make test`: it needs onnxruntime and the Silero model, and its output is committed.

What it runs: the ONNX model alone (no torch), exactly as silero_vad.utils_vad.OnnxWrapper
does at 16 kHz. Each 512-sample chunk (32 ms) is fed with the previous chunk's last 64
samples prepended (zeros before the first chunk); the recurrent state [2, 1, 128] starts at
zero and is carried from chunk to chunk; `sr` is int64 16000. The output is the speech
probability of the chunk; a chunk is speech when it is >= 0.5 (Silero's default threshold).
A tail shorter than a chunk is not scored. No smoothing or min-duration post-processing
(get_speech_timestamps) is applied: these are the raw per-chunk decisions.

Inputs:
  * every samples/audio/*.wav (16 kHz mono 16-bit, see samples/PROVENANCE.md), with the
    kind ("speech" or "nonspeech") read from the name: files named speech_* are speech;
  * a few short sentences rendered by espeak-ng 1.51 (Debian 12), resampled to 16 kHz mono
    16-bit by sox without dither and padded with 0.4 s of digital silence on both sides,
    saved as tests/data/silero/espeak_*.wav (re-rendered only with --render).

Setup (outside `make test`):
  apt-get install -y espeak-ng sox          # only for --render
  pip download --no-deps silero-vad==6.2.3  # the wheel holds silero_vad/data/silero_vad.onnx
  pip install onnxruntime numpy scipy
  python3 tests/ref/make_silero_refs.py --model path/to/silero_vad.onnx [--render]
"""

import argparse
import hashlib
import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import scipy.io.wavfile as wavfile

ROOT = Path(__file__).resolve().parents[2]
OUT_DIR = ROOT / "tests" / "data" / "silero"
RATE = 16000
CHUNK = 512
CONTEXT = 64
THRESHOLD = 0.5

# Short, varied sentences so the espeak files stay a few tens of kB each.
SENTENCES = {
    "espeak_fox": "The quick brown fox jumps over the lazy dog.",
    "espeak_weather": "Tomorrow will be cloudy, with rain in the afternoon.",
    "espeak_numbers": "Please call me back at five, or maybe half past six.",
}


def render(name: str, text: str) -> Path:
    """Renders one sentence with espeak-ng and converts it the same way as the samples."""
    out = OUT_DIR / f"{name}.wav"
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        subprocess.run(["espeak-ng", "-w", str(raw), text], check=True)
        subprocess.run(
            ["sox", "-D", str(raw), "-r", str(RATE), "-c", "1", "-b", "16",
             "-e", "signed-integer", str(out), "pad", "0.4", "0.4"],
            check=True,
        )
    return out


def read_wav(path: Path) -> np.ndarray:
    rate, x = wavfile.read(path)
    if rate != RATE or x.dtype != np.int16 or x.ndim != 1:
        raise SystemExit(f"{path}: need 16 kHz mono int16, got {rate} Hz {x.dtype} {x.shape}")
    # The same scaling symphonia applies to 16-bit PCM, so both sides see the same samples.
    return x.astype(np.float32) / 32768.0


def silero_probs(session: ort.InferenceSession, x: np.ndarray) -> list[float]:
    state = np.zeros((2, 1, 128), dtype=np.float32)
    context = np.zeros(CONTEXT, dtype=np.float32)
    sr = np.array(RATE, dtype=np.int64)
    probs = []
    for start in range(0, len(x) - CHUNK + 1, CHUNK):
        inp = np.concatenate([context, x[start:start + CHUNK]])[None, :]
        out, state = session.run(None, {"input": inp, "state": state, "sr": sr})
        probs.append(float(out[0, 0]))
        context = inp[0, -CONTEXT:]
    return probs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="silero_vad.onnx from the silero-vad wheel")
    ap.add_argument("--render", action="store_true", help="re-render the espeak-ng sentences")
    args = ap.parse_args()

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    if args.render:
        for name, text in SENTENCES.items():
            render(name, text)

    opts = ort.SessionOptions()
    opts.inter_op_num_threads = 1
    opts.intra_op_num_threads = 1
    session = ort.InferenceSession(args.model, sess_options=opts,
                                   providers=["CPUExecutionProvider"])

    files = sorted((ROOT / "samples" / "audio").glob("*.wav"))
    files += [OUT_DIR / f"{name}.wav" for name in SENTENCES]
    entries = []
    for path in files:
        x = read_wav(path)
        probs = silero_probs(session, x)
        name = path.stem
        kind = "speech" if name.startswith(("speech_", "espeak_")) else "nonspeech"
        entries.append({
            "file": str(path.relative_to(ROOT)),
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "kind": kind,
            "text": SENTENCES.get(name),
            "samples": int(len(x)),
            "prob": [round(p, 4) for p in probs],
            "speech": [p >= THRESHOLD for p in probs],
        })
        share = np.mean([p >= THRESHOLD for p in probs]) if probs else 0.0
        print(f"{name:28s} {kind:9s} {len(probs):4d} chunks, {share:5.1%} speech")

    doc = {
        "model": "silero_vad.onnx from the PyPI wheel silero-vad 6.2.3 (MIT)",
        "model_sha256": hashlib.sha256(Path(args.model).read_bytes()).hexdigest(),
        "onnxruntime": ort.__version__,
        "sample_rate": RATE,
        "chunk": CHUNK,
        "context": CONTEXT,
        "threshold": THRESHOLD,
        "files": entries,
    }
    # One line per file keeps the JSON diffable without a line per chunk.
    head = {k: v for k, v in doc.items() if k != "files"}
    lines = [json.dumps(head)[:-1] + ', "files": [']
    lines += [" " + json.dumps(e) + "," for e in entries]
    lines[-1] = lines[-1].rstrip(",")
    lines.append("]}")
    (OUT_DIR / "silero_refs.json").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
