"""Fit the simulator's damage sizes to real hand-drawn outlines (FILM-AA annotations).

Usage: ``python benchmarks/fit_damage_sizes.py [--data ../shared/data]``

Rasterises every outline in ``<data>/damage_annotations/scan_0N.json`` (7 real 35 mm scans, about
4968x3400), and fits per class a log-normal to the areas in pixels of the scan. Writes
``restoration/data/damage_sizes.json``, which the simulator scales to any frame size.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).parent
OUT = HERE.parent / "restoration" / "data" / "damage_sizes.json"
SCAN_AREA = 4968 * 3400


def outline_areas(files: list[Path]) -> dict[str, list[int]]:
    """Rasterised area in pixels of every outline, by class name."""
    areas = defaultdict(list)
    for file in files:
        for shape in json.loads(file.read_text()).values():
            points = np.array([[p["x"], p["y"]] for p in shape["points"]], np.int32)
            if len(points) < 2:
                continue
            origin = points.min(axis=0)
            canvas = np.zeros(tuple((points.max(axis=0) - origin + 3)[::-1]), np.uint8)
            cv2.fillPoly(canvas, [points - origin + 1], 1)
            cv2.polylines(canvas, [points - origin + 1], True, 1)
            areas[shape["label"]["name"]].append(int(canvas.sum()))
    return areas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    args = parser.parse_args()
    areas = outline_areas(sorted((args.data / "damage_annotations").glob("scan_*.json")))
    classes = {}
    for name, values in sorted(areas.items()):
        logs = np.log(np.array(values, float))
        classes[name] = {
            "count": len(values),
            "median_area": float(np.median(values)),
            "log_area_mean": float(logs.mean()),
            "log_area_std": float(logs.std()),
        }
        print(f"{name:12s} n={len(values):4d} median {np.median(values):7.0f} px  log-std {logs.std():.2f}")
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps({
        "source": "FILM-AA hand-drawn damage outlines, daniela997/FilmDamageSimulator @ 2da9712, scans/Scan (N).json, MIT licence",
        "scan_area": SCAN_AREA,
        "classes": classes,
    }, indent=1) + "\n")
    print(OUT)


if __name__ == "__main__":
    main()
