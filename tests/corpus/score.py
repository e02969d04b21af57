#!/usr/bin/env python3
"""Scores a sound-event tagger on a labelled corpus split with sed_eval, DCASE-style.

    python3 tests/corpus/score.py --corpus CORPUS --split holdout \
        --system mmprompt|peer|DIR_OF_TSV [--mmprompt PATH] [--json OUT.json] [--keep DIR]

Corpus layout: CORPUS/manifest.json ({"version": 1, "files": [{"path": "tune/x.wav",
"split", "kind": "soundscape"|"recording", "classes", "sources", "duration_s"}]}) and, per
file, SPLIT/NAME.wav (16 kHz mono 16-bit) with its reference SPLIT/NAME.tsv
("onset<TAB>offset<TAB>label", labels speech, music, impact, tone; background unlabelled).

Systems:
  * mmprompt: one `mmprompt extract --out TMP --include '*.wav' CORPUS/SPLIT` call; each
    document's Annotations are read back (body.value, target selector startOffset and
    endOffset): voice:speech -> speech, music:harmonic -> music, event:impact -> impact,
    event:tone -> tone; the ambient:* labels are background and dropped;
  * peer: benches/audio_peer.py over CORPUS/SPLIT;
  * a directory: DIR/NAME.tsv per file, in the reference format (a missing file is an error).

Estimated events of one class in one file that overlap or touch (gap <= 1 ms) are merged
into one before scoring, so a system may emit same-class segments either way; references
are scored as given.

Metrics (sed_eval 0.2.1, over the four classes, per class and micro-averaged, i.e. sed_eval's
"overall"), for soundscapes, recordings and both:
  * event-based: EventBasedMetrics(t_collar=0.200, percentage_of_length=0.5,
    evaluate_onset=True, evaluate_offset=True, event_matching_type='optimal');
  * segment-based: SegmentBasedMetrics(time_resolution=1.0), each file evaluated over its
    whole duration (evaluated_length_seconds).
Frame checks:
  * music called speech: files whose manifest classes hold music but not speech; share of
    the 10 ms frames (centres) inside reference music events that the system calls speech;
  * speech agreement with Silero: recordings whose classes are exactly ["speech"]; over all
    32 ms Silero chunks of the file, agreement of "system says speech at the chunk's centre"
    with "Silero probability >= 0.5" (tests/corpus/silero.py).
"""

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

import dcase_util
import sed_eval

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
import silero  # noqa: E402

CLASSES = ["speech", "music", "impact", "tone"]
MMPROMPT_LABELS = {"voice:speech": "speech", "music:harmonic": "music",
                   "event:impact": "impact", "event:tone": "tone"}
FRAME_S = 0.010
MERGE_GAP_S = 0.001
SUBSETS = ("all", "soundscape", "recording")


# ---------------------------------------------------------------- events in and out

def read_tsv(path: Path) -> list[tuple[float, float, str]]:
    events = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            raise SystemExit(f"{path}:{n}: want onset<TAB>offset<TAB>label, got {line!r}")
        events.append((float(parts[0]), float(parts[1]), parts[2].strip()))
    return events


def write_tsv(path: Path, events) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{a:.3f}\t{b:.3f}\t{c}\n" for a, b, c in events))


def merge(events) -> tuple[list, int]:
    """Union of the events of each class (overlapping or touching ones joined); also the
    number of events that disappeared into another."""
    out, merged = [], 0
    for c in CLASSES:
        spans = sorted((a, b) for a, b, lab in events if lab == c and b > a)
        cur = None
        for a, b in spans:
            if cur and a <= cur[1] + MERGE_GAP_S:
                cur[1] = max(cur[1], b)
                merged += 1
            else:
                if cur:
                    out.append((cur[0], cur[1], c))
                cur = [a, b]
        if cur:
            out.append((cur[0], cur[1], c))
    return sorted(out), merged


def mmprompt_events(doc: dict) -> list[tuple[float, float, str]]:
    events = []
    for item in doc.get("items", []):
        label = MMPROMPT_LABELS.get(item.get("body", {}).get("value"))
        if label is None:
            continue
        selectors = item["target"]["selector"]
        selectors = selectors if isinstance(selectors, list) else [selectors]
        sel = next(s for s in selectors if "startOffset" in s)
        events.append((float(sel["startOffset"]), float(sel["endOffset"]), label))
    return events


def run_mmprompt(binary: str, split_dir: Path, wavs: list[Path]) -> dict:
    if not Path(binary).is_file() and not shutil.which(binary):
        raise SystemExit(f"no mmprompt binary at {binary} (build it, or pass --mmprompt PATH)")
    with tempfile.TemporaryDirectory(prefix="score-mmprompt-") as tmp:
        cmd = [binary, "extract", "--quiet", "--out", tmp, "--include", "*.wav", str(split_dir)]
        print("$ " + " ".join(cmd), file=sys.stderr)
        res = subprocess.run(cmd)
        index = {}
        for line in (Path(tmp) / "index.ndjson").read_text().splitlines():
            row = json.loads(line)
            index[Path(row["path"]).resolve()] = row
        out = {}
        for wav in wavs:
            row = index.get(wav.resolve())
            if row is None or row.get("status") != "ok":
                raise SystemExit(f"mmprompt (exit {res.returncode}) has no output for {wav}: {row}")
            out[wav] = mmprompt_events(json.loads(Path(row["output"]).read_text()))
        return out


def run_peer(split_dir: Path, wavs: list[Path]) -> dict:
    with tempfile.TemporaryDirectory(prefix="score-peer-") as tmp:
        cmd = [sys.executable, str(ROOT / "benches" / "audio_peer.py"), str(split_dir), tmp]
        print("$ " + " ".join(cmd), file=sys.stderr)
        subprocess.run(cmd, check=True)
        return read_dir(Path(tmp), split_dir, wavs)


def read_dir(est_dir: Path, split_dir: Path, wavs: list[Path]) -> dict:
    out = {}
    for wav in wavs:
        tsv = est_dir / wav.relative_to(split_dir).with_suffix(".tsv")
        if not tsv.exists():
            raise SystemExit(f"no estimate {tsv} for {wav}")
        out[wav] = read_tsv(tsv)
    return out


# ---------------------------------------------------------------- metrics

def new_metrics():
    return {
        "event": sed_eval.sound_event.EventBasedMetrics(
            event_label_list=CLASSES, t_collar=0.200, percentage_of_length=0.5,
            evaluate_onset=True, evaluate_offset=True, event_matching_type="optimal"),
        "segment": sed_eval.sound_event.SegmentBasedMetrics(
            event_label_list=CLASSES, time_resolution=1.0),
    }


def container(key: str, events) -> dcase_util.containers.MetaDataContainer:
    return dcase_util.containers.MetaDataContainer(
        [{"filename": key, "event_label": c, "onset": a, "offset": b} for a, b, c in events])


def evaluate(metrics: dict, ref, est, duration: float) -> None:
    metrics["event"].evaluate(reference_event_list=ref, estimated_event_list=est)
    metrics["segment"].evaluate(reference_event_list=ref, estimated_event_list=est,
                                evaluated_length_seconds=duration)


def num(x):
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def summary(metric) -> dict:
    r = metric.results()

    def pick(block):
        f = block["f_measure"]
        out = {"f1": num(f["f_measure"]), "precision": num(f["precision"]),
               "recall": num(f["recall"]), "error_rate": num(block["error_rate"]["error_rate"])}
        if "count" in block:
            out["n_ref"] = int(block["count"]["Nref"])
            out["n_sys"] = int(block["count"]["Nsys"])
        return out

    micro = pick(r["overall"])
    if "Nref" not in micro:
        micro["n_ref"] = int(metric.overall["Nref"])
        micro["n_sys"] = int(metric.overall["Nsys"])
    return {"micro": micro,
            "macro": pick(r["class_wise_average"]),
            "classes": {c: pick(r["class_wise"][c]) for c in CLASSES}}


def file_f1(metric) -> float:
    """Micro F1 of one file; 1 when it has no reference and no estimate, 0 when only one side
    is empty (sed_eval gives NaN for both)."""
    f = metric.results_overall_metrics()["f_measure"]["f_measure"]
    if math.isnan(f):
        return 1.0 if metric.overall["Nref"] == 0 and metric.overall["Nsys"] == 0 else 0.0
    return float(f)


# ---------------------------------------------------------------- frame checks

def covered(times: np.ndarray, spans) -> np.ndarray:
    mask = np.zeros(len(times), dtype=bool)
    for a, b in spans:
        mask |= (times >= a) & (times < b)
    return mask


def music_called_speech(ref, est, duration: float) -> dict:
    t = (np.arange(int(duration / FRAME_S + 1e-9)) + 0.5) * FRAME_S
    music = covered(t, [(a, b) for a, b, c in ref if c == "music"])
    speech = covered(t, [(a, b) for a, b, c in est if c == "speech"])
    n = int(music.sum())
    hit = int((music & speech).sum())
    return {"music_frames": n, "called_speech": hit, "fraction": hit / n if n else None}


def silero_agreement(wav: Path, ref, est) -> dict:
    """The system's chunk-by-chunk agreement with Silero, beside the reference labels' own:
    the labelled truth marks whole words and phrases (pauses, breaths and Silero's onset lag
    included), so its agreement is the most a system that matched the truth would score."""
    p = silero.probs_file(wav)
    centres = silero.chunk_centres(len(p))
    says = covered(centres, [(a, b) for a, b, c in est if c == "speech"])
    truth = covered(centres, [(a, b) for a, b, c in ref if c == "speech"])
    vad = p >= silero.THRESHOLD
    return {"chunks": len(p), "silero_speech": int(vad.sum()), "system_speech": int(says.sum()),
            "agreement": float(np.mean(says == vad)) if len(p) else None,
            "reference_agreement": float(np.mean(truth == vad)) if len(p) else None}


# ---------------------------------------------------------------- report

def fmt(x, pct=False):
    if x is None:
        return "-"
    return f"{100 * x:.1f}%" if pct else f"{x:.3f}"


def table(head, rows) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def metrics_table(m: dict) -> str:
    rows = []
    for name in CLASSES + ["micro", "macro"]:
        ev = m["event"]["classes"][name] if name in CLASSES else m["event"][name]
        sg = m["segment"]["classes"][name] if name in CLASSES else m["segment"][name]
        rows.append([f"**{name}**" if name == "micro" else name,
                     fmt(ev["f1"]), fmt(ev["precision"]), fmt(ev["recall"]), fmt(ev["error_rate"]),
                     fmt(sg["f1"]), fmt(sg["precision"]), fmt(sg["recall"]), fmt(sg["error_rate"]),
                     ev.get("n_ref", "-"), ev.get("n_sys", "-")])
    return table(["class", "event F1", "P", "R", "ER", "segment F1", "P", "R", "ER",
                  "ref events", "est events"], rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", required=True, type=Path)
    ap.add_argument("--split", default="holdout")
    ap.add_argument("--system", required=True, help="mmprompt, peer, or a folder of NAME.tsv")
    ap.add_argument("--mmprompt", default=str(ROOT / "target" / "release" / "mmprompt"),
                    help="the mmprompt binary (default: target/release/mmprompt)")
    ap.add_argument("--json", type=Path, help="write every number here")
    ap.add_argument("--keep", type=Path, help="also write the merged estimates here as NAME.tsv")
    ap.add_argument("--require", action="append", default=[], metavar="NAME>=X|NAME<=X",
                    help="fail (exit 1) unless the figure holds; NAME is one of "
                         + ", ".join(sorted(REQUIRABLE)) + " (repeatable)")
    args = ap.parse_args()

    manifest = json.loads((args.corpus / "manifest.json").read_text())
    entries = [f for f in manifest["files"] if f["split"] == args.split]
    if not entries:
        raise SystemExit(f"{args.corpus}/manifest.json: no file in split {args.split!r}")
    split_dir = args.corpus / args.split
    wavs = [args.corpus / f["path"] for f in entries]
    unlisted = sorted(set(split_dir.rglob("*.wav")) - set(wavs))
    if unlisted:
        print(f"note: {len(unlisted)} wav files in {split_dir} are not in the manifest and are "
              f"not scored", file=sys.stderr)

    if args.system == "mmprompt":
        raw = run_mmprompt(args.mmprompt, split_dir, wavs)
    elif args.system == "peer":
        raw = run_peer(split_dir, wavs)
    else:
        raw = read_dir(Path(args.system), split_dir, wavs)

    metrics = {s: new_metrics() for s in SUBSETS}
    per_file, mcs, sil = [], [], []
    merged_total, dropped = 0, 0
    for entry, wav in zip(entries, wavs):
        key = entry["path"]
        ref = read_tsv(wav.with_suffix(".tsv"))
        bad = [e for e in ref if e[2] not in CLASSES]
        if bad:
            raise SystemExit(f"{wav.with_suffix('.tsv')}: unknown reference label {bad[0][2]!r}")
        est_in = [e for e in raw[wav] if e[2] in CLASSES]
        dropped += len(raw[wav]) - len(est_in)
        est, merged = merge(est_in)
        merged_total += merged
        if args.keep:
            write_tsv(args.keep / wav.relative_to(split_dir).with_suffix(".tsv"), est)
        duration = sf.info(str(wav)).frames / sf.info(str(wav)).samplerate
        ref_c, est_c = container(key, ref), container(key, est)
        for s in ("all", entry["kind"]):
            evaluate(metrics[s], ref_c, est_c, duration)
        own = new_metrics()
        evaluate(own, ref_c, est_c, duration)
        per_file.append({"file": key, "kind": entry["kind"], "classes": entry["classes"],
                         "segment_f1": file_f1(own["segment"]), "event_f1": file_f1(own["event"]),
                         "ref_events": len(ref), "est_events": len(est)})
        classes = set(entry["classes"])
        if "music" in classes and "speech" not in classes:
            mcs.append({"file": key, **music_called_speech(ref, est, duration)})
        if entry["kind"] == "recording" and list(entry["classes"]) == ["speech"]:
            sil.append({"file": key, **silero_agreement(wav, ref, est)})

    kinds = {s: sum(1 for e in entries if s == "all" or e["kind"] == s) for s in SUBSETS}
    results = {s: {k: summary(m) for k, m in metrics[s].items()} for s in SUBSETS if kinds[s]}
    n_music = sum(r["music_frames"] for r in mcs)
    n_called = sum(r["called_speech"] for r in mcs)
    agree = [r["agreement"] for r in sil if r["agreement"] is not None]
    ref_agree = [r["reference_agreement"] for r in sil if r["reference_agreement"] is not None]
    worst = sorted(per_file, key=lambda r: (r["segment_f1"], r["event_f1"], r["file"]))[:5]
    out = {
        "system": args.system,
        "mmprompt": args.mmprompt if args.system == "mmprompt" else None,
        "corpus": str(args.corpus), "split": args.split, "files": kinds,
        "parameters": {"classes": CLASSES, "event": {"t_collar": 0.200, "percentage_of_length": 0.5,
                                                     "evaluate_onset": True, "evaluate_offset": True,
                                                     "event_matching_type": "optimal"},
                       "segment": {"time_resolution": 1.0}, "frame_s": FRAME_S,
                       "merge_gap_s": MERGE_GAP_S, "silero_threshold": silero.THRESHOLD},
        "merged_estimates": merged_total, "ignored_estimates": dropped,
        "metrics": results,
        "music_called_speech": {"files": mcs, "music_frames": n_music, "called_speech": n_called,
                                "fraction": n_called / n_music if n_music else None},
        "speech_vs_silero": {"files": sil, "min": min(agree) if agree else None,
                             "mean": float(np.mean(agree)) if agree else None,
                             "at_least_90": sum(a >= 0.9 for a in agree),
                             "reference_mean": float(np.mean(ref_agree)) if ref_agree else None,
                             "reference_at_least_90": sum(a >= 0.9 for a in ref_agree)},
        "per_file": per_file,
        "worst_by_segment_f1": [r["file"] for r in worst],
    }

    print(f"# {args.system} on {args.corpus} / {args.split}: {kinds['all']} files "
          f"({kinds['soundscape']} soundscapes, {kinds['recording']} recordings)\n")
    print(f"Estimated events merged into another of the same class: {merged_total}; "
          f"estimates with other labels ignored: {dropped}.\n")
    for s in SUBSETS:
        if s in results:
            print(f"## {s} ({kinds[s]} files): event-based (collar 200 ms, 50% length) "
                  f"and segment-based (1 s)\n")
            print(metrics_table(results[s]) + "\n")
    print("## Music called speech (files with music and no speech; 10 ms frames in "
          "reference music)\n")
    rows = [[r["file"], r["music_frames"], r["called_speech"], fmt(r["fraction"], True)] for r in mcs]
    rows.append(["**total**", n_music, n_called, fmt(out["music_called_speech"]["fraction"], True)])
    print(table(["file", "music frames", "called speech", "share"], rows) + "\n")
    print("## Speech agreement with Silero (recordings of speech only; 32 ms chunks, p >= 0.5)\n")
    rows = [[r["file"], r["chunks"], r["silero_speech"], r["system_speech"],
             fmt(r["agreement"], True), fmt(r["reference_agreement"], True)] for r in sil]
    sv = out["speech_vs_silero"]
    rows.append(["**min / mean**", "", "", "", f"{fmt(sv['min'], True)} / {fmt(sv['mean'], True)}",
                 f"{fmt(min(ref_agree) if ref_agree else None, True)} / "
                 f"{fmt(sv['reference_mean'], True)}"])
    rows.append(["**files >= 90%**", "", "", "", f"{sv['at_least_90']} of {len(agree)}",
                 f"{sv['reference_at_least_90']} of {len(ref_agree)}"])
    print(table(["file", "chunks", "Silero speech", "system speech", "agreement",
                 "reference labels' agreement"], rows) + "\n")
    print("## 5 worst files by segment F1\n")
    print(table(["file", "kind", "classes", "segment F1", "event F1", "ref events", "est events"],
                [[r["file"], r["kind"], ",".join(r["classes"]), fmt(r["segment_f1"]),
                  fmt(r["event_f1"]), r["ref_events"], r["est_events"]] for r in worst]))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    failed = check_requirements(out, args.require)
    for line in failed:
        print(f"score.py: {args.system} on {args.split}: {line}", file=sys.stderr)
    if failed:
        sys.exit(1)


# Figures a regression gate may ask for, read from the JSON written above.
REQUIRABLE = {
    "event_f1": lambda o: o["metrics"]["all"]["event"]["micro"]["f1"],
    "segment_f1": lambda o: o["metrics"]["all"]["segment"]["micro"]["f1"],
    "music_called_speech": lambda o: o["music_called_speech"]["fraction"],
    "silero_mean": lambda o: o["speech_vs_silero"]["mean"],
}


def check_requirements(out: dict, requirements: list) -> list:
    """The requirements (`NAME>=X` or `NAME<=X`) that do not hold, as messages."""
    failed = []
    for req in requirements:
        op = ">=" if ">=" in req else "<=" if "<=" in req else None
        name, _, bound = req.partition(op) if op else (req, "", "")
        if op is None or name not in REQUIRABLE:
            failed.append(f"cannot read requirement {req!r}: expected NAME>=X or NAME<=X "
                          f"with NAME in {sorted(REQUIRABLE)}")
            continue
        try:
            limit = float(bound)
        except ValueError:
            failed.append(f"cannot read requirement {req!r}: {bound!r} is not a number")
            continue
        value = REQUIRABLE[name](out)
        ok = value is not None and (value >= limit if op == ">=" else value <= limit)
        if not ok:
            failed.append(f"{name} is {value if value is None else round(value, 4)}, "
                          f"required {op} {limit}")
    return failed


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
