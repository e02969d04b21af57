#!/usr/bin/env python3
"""Prints the medians of `cargo bench --features opencv --bench backends`.

Reads Criterion's estimates under $CARGO_TARGET_DIR/criterion (default target/criterion)
and prints, per stage and image, the median time of each backend and opencv/rust.
"""
import json
import os
import sys
from pathlib import Path

STAGES = ["decode", "gray", "blur", "threshold", "contours", "pipeline"]


def median_ms(path: Path) -> float | None:
    est = path / "new" / "estimates.json"
    if not est.exists():
        return None
    return json.loads(est.read_text())["median"]["point_estimate"] / 1e6


def main() -> int:
    root = Path(os.environ.get("CARGO_TARGET_DIR", "target")) / "criterion"
    if not root.is_dir():
        print(f"no Criterion results under {root}", file=sys.stderr)
        return 1
    print(f"{'stage':<10} {'image':<16} {'rust ms':>9} {'opencv ms':>10} {'opencv/rust':>12}")
    for stage in STAGES:
        for group in sorted(root.glob(f"{stage}_*")):
            rust, cv = median_ms(group / "rust"), median_ms(group / "opencv")
            if rust is None or cv is None:
                continue
            image = group.name[len(stage) + 1 :]
            print(f"{stage:<10} {image:<16} {rust:>9.3f} {cv:>10.3f} {cv / rust:>12.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
