"""The Python package against the command line it wraps (make test-python).

MMPROMPT_BIN is the CLI binary the documents are compared with.
"""

import json
import os
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
import soundfile

import mmprompt

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
BIN = os.environ.get("MMPROMPT_BIN", str(ROOT / "target" / "debug" / "mmprompt"))
IMAGES = sorted(p for p in SAMPLES.iterdir() if p.suffix in (".png", ".jpg"))
AUDIO = sorted((SAMPLES / "audio").glob("*.wav"))


def cli(*args, check=True):
    r = subprocess.run([BIN, *map(str, args)], capture_output=True, text=True, timeout=300)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def cli_doc(path, *flags):
    rel = os.path.relpath(path, ROOT)
    return json.loads(cli("extract", rel, *flags).stdout)


def without_source(doc):
    """The document minus what names its bytes (an array has no file, so its bytes, hash
    and the ids made from the hash differ), and the source block apart."""
    text = json.dumps(doc)
    text = text.replace(doc["about"]["sha256"][:16], "HASH")
    doc = json.loads(text)
    about = doc.pop("about")
    for item in doc["items"]:
        item["target"].pop("source", None)
    return doc, about


@pytest.fixture(autouse=True)
def at_root(monkeypatch):
    monkeypatch.chdir(ROOT)


@pytest.mark.parametrize("path", IMAGES + AUDIO, ids=lambda p: p.name)
def test_every_sample_gives_the_cli_document(path):
    rel = os.path.relpath(path, ROOT)
    assert mmprompt.extract(rel) == cli_doc(path)
    # pathlib paths and bytes too; bytes are named as asked.
    assert mmprompt.extract(Path(rel)) == cli_doc(path)
    from_bytes = mmprompt.extract(path.read_bytes(), name=rel)
    assert from_bytes == cli_doc(path)


def test_options_are_the_flags_in_snake_case():
    path = SAMPLES / "coins.png"
    rel = os.path.relpath(path, ROOT)
    got = mmprompt.extract(rel, max_regions=5, min_area="1%", segment="threshold", invert="yes")
    want = cli_doc(path, "--max-regions", "5", "--min-area", "1%", "--segment", "threshold",
                   "--invert", "yes")
    assert got == want
    assert 1 <= len(got["items"]) <= 5
    audio = os.path.relpath(AUDIO[0], ROOT)
    got = mmprompt.extract(audio, analysis_sample_rate=8000, hop_ms=20)
    assert got == cli_doc(AUDIO[0], "--sample-rate", "8000", "--hop-ms", "20")
    assert got["generator"]["parameters"]["sampleRate"] == 8000


# PNG only: OpenCV's JPEG decoder rounds differently from the image crate's.
@pytest.mark.parametrize("path", [p for p in IMAGES if p.suffix == ".png"], ids=lambda p: p.name)
def test_an_opencv_frame_gives_the_files_document(path):
    rel = os.path.relpath(path, ROOT)
    frame = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    got, about = without_source(mmprompt.extract(frame, bgr=frame.ndim == 3, name=rel))
    want, file_about = without_source(cli_doc(path))
    assert got == want
    assert (about["width"], about["height"]) == (file_about["width"], file_about["height"])
    assert about["encodingFormat"] == "image/x-raw"
    assert about["contentSize"] == frame.nbytes
    # RGB in numpy's own order gives the same document as BGR with bgr=True.
    if frame.ndim == 3 and frame.shape[2] == 3:
        rgb = np.ascontiguousarray(frame[:, :, ::-1])
        assert without_source(mmprompt.extract(rgb, name=rel))[0] == want


def test_alpha_and_gray_arrays_are_flattened_as_files_are(tmp_path):
    rgba = np.zeros((60, 80, 4), np.uint8)
    rgba[10:40, 20:60] = (200, 30, 30, 255)
    rgba[45:55, 5:15] = (0, 0, 255, 128)
    png = tmp_path / "a.png"
    cv2.imwrite(str(png), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    file_doc = without_source(mmprompt.extract(str(png)))[0]
    assert without_source(mmprompt.extract(rgba, name=str(png)))[0] == file_doc
    gray = np.full((50, 50), 255, np.uint8)
    gray[10:30, 10:30] = 0
    cv2.imwrite(str(tmp_path / "g.png"), gray)
    assert (without_source(mmprompt.extract(gray, name=str(tmp_path / "g.png")))[0]
            == without_source(mmprompt.extract(str(tmp_path / "g.png")))[0])


@pytest.mark.parametrize("path", AUDIO[:4], ids=lambda p: p.name)
def test_a_librosa_style_array_gives_the_files_document(path):
    rel = os.path.relpath(path, ROOT)
    want, _ = without_source(cli_doc(path))
    want_params = want["generator"]["parameters"]
    for dtype in ("float32", "int16"):
        samples, rate = soundfile.read(str(path), dtype=dtype, always_2d=False)
        got, about = without_source(mmprompt.extract(samples, sample_rate=rate, name=rel))
        assert got["generator"]["parameters"] == want_params
        assert got == want, dtype
        assert about["encodingFormat"] == "audio/x-raw"


def test_channels_last_audio_is_downmixed_as_a_file_is(tmp_path):
    t = np.arange(44100 * 2) / 44100
    left = 0.3 * np.sin(2 * np.pi * 440 * t)
    right = 0.2 * np.sin(2 * np.pi * 660 * t)
    stereo = np.stack([left, right], axis=1).astype(np.float32)
    wav = tmp_path / "s.wav"
    soundfile.write(str(wav), stereo, 44100, subtype="FLOAT")
    got = without_source(mmprompt.extract(stereo, sample_rate=44100, name=str(wav)))[0]
    assert got == without_source(mmprompt.extract(str(wav)))[0]


def test_errors_carry_the_cli_code_and_message(tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"plain words, no media")
    r = cli("extract", bad, check=False)
    with pytest.raises(mmprompt.MmpromptError) as e:
        mmprompt.extract(str(bad))
    assert e.value.code == "unknown_format"
    assert e.value.path == str(bad)
    assert f"mmprompt: error: {e.value}" in r.stderr
    with pytest.raises(mmprompt.MmpromptError) as e:
        mmprompt.extract(str(tmp_path / "missing.png"))
    assert e.value.code == "io"
    with pytest.raises(mmprompt.MmpromptError) as e:
        mmprompt.extract(b"", name="empty.wav")
    assert (e.value.code, e.value.path) == ("empty", "empty.wav")
    assert str(e.value).startswith("empty.wav: ")
    # Options: the flag's own checks and words, and unknown names refused.
    r = cli("extract", "samples/shapes.png", "--blur", "500", check=False)
    with pytest.raises(mmprompt.MmpromptError) as e:
        mmprompt.extract("samples/shapes.png", blur=500)
    assert e.value.code == "usage" and e.value.path is None
    assert "'500' must be between 0 and 100" in str(e.value)
    assert "'500' must be between 0 and 100" in r.stderr
    with pytest.raises(mmprompt.MmpromptError, match="unknown field `max_region`"):
        mmprompt.extract("samples/shapes.png", max_region=3)
    with pytest.raises(mmprompt.MmpromptError, match="segment color"):
        mmprompt.extract("samples/shapes.png", segment="color", invert="yes")
    with pytest.raises(mmprompt.MmpromptError) as e:
        mmprompt.extract(np.zeros((1, 4), np.float32), sample_rate=16000, max_channels=2)
    assert e.value.code == "bad_channels" or "channels" in str(e.value)
    with pytest.raises(mmprompt.MmpromptError, match="uint8"):
        mmprompt.extract(np.zeros((4, 4), np.float64))
    with pytest.raises(mmprompt.MmpromptError) as e:
        mmprompt.extract(np.zeros((0, 4, 3), np.uint8))
    assert e.value.code == "zero_size"
    with pytest.raises(mmprompt.MmpromptError) as e:
        mmprompt.extract(np.zeros(0, np.float32), sample_rate=16000)
    assert e.value.code == "no_audio"
    with pytest.raises(TypeError):
        mmprompt.extract(42)
    with pytest.raises(TypeError, match="analysis_sample_rate"):
        mmprompt.extract("samples/shapes.png", **{"sample_rate": 8000})


def test_the_analyzer_gives_what_live_gives():
    path = next(p for p in AUDIO if "speech" in p.name)
    live = cli("live", "--input", os.path.relpath(path, ROOT), "--realtime").stdout.splitlines()
    want = [json.loads(line) for line in live]
    samples, rate = soundfile.read(str(path), dtype="float32")
    got = []
    for chunk_len in (160, 4410, 100_000):
        a = mmprompt.Analyzer(rate)
        got = []
        for i in range(0, len(samples), chunk_len):
            got += a.push(samples[i:i + chunk_len])
        got += a.finish()
        # Same segments, same t= anchors and bodies; ids name the session and clock
        # times the wall clock.
        strip = lambda xs: [(x["target"]["selector"][0], x["body"]) for x in xs]
        assert strip(got) == strip(want), chunk_len
    assert got and all(x["type"] == "Annotation" for x in got)
    with pytest.raises(mmprompt.MmpromptError):
        mmprompt.Analyzer(rate, channels=2).push(samples[:100])


def test_prompt_is_the_dry_run_the_cli_prints(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-never-shown")
    flags = ["--provider", "openai", "--model", "gpt-4o-mini", "--endpoint",
             "http://127.0.0.1:9", "--max-prompt-tokens", "400", "--attach", "image"]
    want = json.loads(cli("prompt", "samples/shapes.png", "samples/audio/chime_complete.wav",
                          *flags).stdout)
    got = mmprompt.prompt(["samples/shapes.png", "samples/audio/chime_complete.wav"],
                          provider="openai", model="gpt-4o-mini", endpoint="http://127.0.0.1:9",
                          max_prompt_tokens=400, attach="image")
    assert got == want
    assert "sk-test-secret" not in json.dumps(got)
    with pytest.raises(mmprompt.MmpromptError) as e:
        mmprompt.prompt("samples/shapes.png", provider="openai", model="m", temperature=5)
    assert e.value.code == "usage"


def test_threads_run_in_parallel_and_agree():
    path = "samples/coins.png"
    want = mmprompt.extract(path)

    def work(_):
        return mmprompt.extract(path)

    t0 = time.perf_counter()
    for _ in range(4):
        work(0)
    one = time.perf_counter() - t0
    with ThreadPoolExecutor(2) as pool:
        t0 = time.perf_counter()
        results = list(pool.map(work, range(4)))
        two = time.perf_counter() - t0
    assert all(r == want for r in results)
    # The figure, not a timing assertion: the GIL is released (checked below).
    print(f"4 extracts: 1 thread {one:.3f} s, 2 threads {two:.3f} s")
    # While one thread is inside Rust, another runs Python.
    ticks = 0
    done = threading.Event()

    def extract_big():
        for _ in range(3):
            mmprompt.extract(path)
        done.set()

    t = threading.Thread(target=extract_big)
    t.start()
    while not done.is_set():
        ticks += 1
    t.join()
    assert ticks > 10_000


def test_resources_and_version():
    assert mmprompt.context()["@context"]
    assert mmprompt.schema()["$schema"].startswith("https://json-schema.org/")
    assert mmprompt.__version__ == cli("--version").stdout.split()[1]
