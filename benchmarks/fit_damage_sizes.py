"""Fit the simulator's damage sizes and shapes to real hand-drawn outlines (FILM-AA annotations).

Usage: ``python benchmarks/fit_damage_sizes.py [--data ../shared/data]``

Rasterises every outline in ``<data>/damage_annotations/scan_0N.json`` (7 real 35 mm scans, about
4968x3400) with ``cv2.fillPoly`` and fits per class two log-normals: the area as a fraction of the
frame area, and the elongation (major / minor axis ratio of the second moments, >= 1). Writes
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
SOURCE = (
    "FILM-AA hand-drawn damage outlines on 7 real 35 mm scans: daniela997/FilmDamageSimulator @ 2da9712, scans/Scan (N).json, MIT licence"
)


def rasterise(points: np.ndarray) -> np.ndarray:
    """Filled outline ``points`` ``(N, 2)`` int32 (x, y) -> bool canvas cropped to its bounding box."""
    origin = points.min(axis=0)
    canvas = np.zeros(tuple((points.max(axis=0) - origin + 3)[::-1]), np.uint8)
    cv2.fillPoly(canvas, [points - origin + 1], 1)
    cv2.polylines(canvas, [points - origin + 1], True, 1)  # a thin outline still covers its pixels
    return canvas.astype(bool)


def elongation(region: np.ndarray) -> float:
    """Major / minor axis ratio (>= 1) of a bool region from its second central moments."""
    m = cv2.moments(region.astype(np.uint8), binaryImage=True)
    cov = np.array([[m["mu20"], m["mu11"]], [m["mu11"], m["mu02"]]]) / max(m["m00"], 1)
    small, large = np.linalg.eigvalsh(cov)
    # A one-pixel-wide line has zero minor variance; a pixel's own extent (1/12) keeps it finite.
    return float(np.sqrt((large + 1 / 12) / (small + 1 / 12)))


def measure(files: list[Path]) -> dict[str, tuple[list[int], list[float]]]:
    """Area in pixels and elongation of every outline, by class name."""
    out = defaultdict(lambda: ([], []))
    for file in files:
        for shape in json.loads(file.read_text()).values():
            points = np.array([[p["x"], p["y"]] for p in shape["points"]], np.int32)
            if len(points) < 2:
                continue
            region = rasterise(points)
            areas, elongations = out[shape["label"]["name"]]
            areas.append(int(region.sum()))
            elongations.append(elongation(region))
    return out


def lognormal(values, name: str) -> dict:
    logs = np.log(np.asarray(values, float))
    return {f"log_{name}_mean": float(logs.mean()), f"log_{name}_std": float(logs.std()), f"median_{name}": float(np.median(values))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    args = parser.parse_args()
    measured = measure(sorted((args.data / "damage_annotations").glob("scan_*.json")))
    classes = {}
    for name, (areas, elongations) in sorted(measured.items()):
        fractions = np.asarray(areas, float) / SCAN_AREA
        classes[name] = {
            "count": len(areas),
            "median_area_px": float(np.median(areas)),
            **lognormal(fractions, "area_fraction"),
            **lognormal(elongations, "elongation"),
        }
        print(
            f"{name:11s} n={len(areas):5d} median area {np.median(areas):6.0f} px "
            f"({np.median(fractions):.2e} of frame), log-std {np.log(fractions).std():.2f}, "
            f"median elongation {np.median(elongations):.2f}"
        )
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps({"source": SOURCE, "scan_size": [4968, 3400], "classes": classes}, indent=1) + "\n")
    print(OUT)


if __name__ == "__main__":
    main()
