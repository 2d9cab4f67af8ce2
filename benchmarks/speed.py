"""Speed: seconds per frame by frame size and by damaged area, for every method.

Usage: ``python benchmarks/speed.py [--data ../shared/data] [--frames 4] [--methods NAME ...] [--levels ...] [--sizes ...]``

A clean clip is resized to each frame size (720x576 SD PAL, 2048x1556 2K full aperture), made
film-like and damaged at each level; each method restores ``--frames`` frames and the mean time per
frame is reported, with motion estimation (shared by all temporal methods) timed on its own. Cost
that tracks the damaged area rather than the frame area is what lets patch-based models scale to 2K
and 4K scans. Each measurement is kept in ``benchmarks/results/speed.json`` (keyed by size, level and
method; a rerun times only what is missing or named with ``--methods``); the section
``section-3-speed.md`` is rebuilt from all of it, then RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from restoration.evaluate.benchmark import available_methods
from restoration.io.atomic import write_json_atomic
from restoration.io.reel import probe, read_frames
from restoration.motion.flow import MotionCache, compensate
from restoration.simulate.damage import DamageConfig, simulate_damage
from restoration.simulate.film_look import add_film_look, to_gray

HERE = Path(__file__).parent
SIZES = ((720, 576), (2048, 1556))
LEVELS = ("low", "medium", "high")


def timed_methods(clean: np.ndarray, level: str, seed: int, wanted: set[str]) -> tuple[float, float, dict[str, float]]:
    """``(coverage, motion s/frame, {method: s/frame})`` on the middle frames of ``clean``."""
    methods, detectors, inpainters = available_methods(palette=any("palette" in name for name in wanted))
    methods = [m for m in methods if m.name in wanted]
    damaged = simulate_damage(clean, DamageConfig(level=level, seed=seed))
    inner = range(1, len(clean) - 1)
    t0 = time.perf_counter()
    cache = MotionCache()  # as the pipeline does: a frame's motion serves its detection and its fill
    neighbours = {i: compensate(damaged.frames, i, cache=cache) for i in inner}
    motion = (time.perf_counter() - t0) / len(inner)
    timings = {}
    for method in methods:
        t0 = time.perf_counter()
        # As the pipeline does: detect, then fill with neighbours that leave out their own damage.
        masks = np.zeros(damaged.mask.shape, bool)
        for i in inner:
            masks[i] = detectors[method.detector](damaged.frames[i], neighbours[i], i)
        for i in inner:
            aware = compensate(damaged.frames, i, damage=masks, cache=cache)
            inpainters[method.inpainter](damaged.frames[i], masks[i], aware, i)
        timings[method.name] = (time.perf_counter() - t0) / len(inner)
    return float(damaged.mask[1:-1].mean()), motion, timings


def time_missing(args: argparse.Namespace, stored: dict, path: Path) -> None:
    """Time the methods ``args`` asks for (default: those ``stored`` lacks) and save to ``path``."""
    info = probe(args.data / "clean_video" / args.clip)
    source = to_gray(read_frames(info, info.frame_count - args.frames, info.frame_count))
    every = [m.name for m in available_methods(palette=True)[0] if m.detector not in ("oracle", "none")]
    for size in args.sizes:
        width, height = (int(v) for v in size.split("x"))
        frames = np.stack([cv2.resize(f, (width, height), interpolation=cv2.INTER_CUBIC)[..., None] for f in source])
        clean = add_film_look(frames, seed=args.seed)
        for level in args.levels:
            key = f"{width}x{height} {level}"
            row = stored.get(key, {"methods": {}})
            wanted = set(args.methods) if args.methods else {m for m in every if m not in row["methods"]}
            if not wanted:
                continue
            coverage, motion, timings = timed_methods(clean, level, args.seed, wanted)
            row.update(coverage=coverage, motion=motion, frames=args.frames - 2)
            row["methods"].update(timings)
            stored[key] = row
            path.parent.mkdir(exist_ok=True)
            write_json_atomic(path, stored)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--clip", default="intel_car-detection.mp4")
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sizes", nargs="*", default=[f"{w}x{h}" for w, h in SIZES], help="WIDTHxHEIGHT, e.g. 720x576.")
    parser.add_argument("--levels", nargs="*", default=list(LEVELS), choices=LEVELS)
    parser.add_argument("--methods", nargs="*", default=None, help="Time these methods again (default: those not yet stored).")
    parser.add_argument("--tables-only", action="store_true", help="Rebuild the section from speed.json without timing anything.")
    args = parser.parse_args()
    torch.set_num_threads(1)  # as in run_all.py: one thread, comparable timings
    path = HERE / "results" / "speed.json"
    stored = json.loads(path.read_text()) if path.exists() else {}
    if not args.tables_only:
        time_missing(args, stored, path)
    from run_all import machine, write_results_md

    rows = []
    for key, row in sorted(stored.items(), key=lambda kv: (int(kv[0].split("x")[0]), LEVELS.index(kv[0].split()[1]))):
        size, level = key.split()
        width, height = (int(v) for v in size.split("x"))
        damaged_kpx = row["coverage"] * width * height / 1000
        for name, seconds in row["methods"].items():
            rows.append(
                f"| {size} | {level} | {row['coverage']:.2%} | {name} | {row['motion']:.3f} | {seconds:.3f} "
                f"| {row['motion'] + seconds:.3f} | {seconds / damaged_kpx:.3f} |"
            )
    lines = [
        "## Speed",
        "",
        f"Machine: {machine()}. Clip `{args.clip}` (last {args.frames} frames, the inner {args.frames - 2} timed) resized "
        "to each size, gray, film look, simulated damage. Motion: DIS flow to both neighbours with the forward-backward "
        "check, shared by the temporal methods. Method: detection, then inpainting with the neighbours' own damage "
        "left out (the motion reused, as the pipeline does). One thread. The last column divides "
        "the method's time by the damaged pixels: where it stays level across sizes and levels, cost follows the "
        "damaged area, not the frame area. Rows are timed as `--methods` asked, at different times on a shared "
        "machine.",
        "",
        "| size | level | damage | method | motion s/frame | method s/frame | total s/frame | method s per 1,000 damaged px |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
    ]
    (HERE / "results" / "section-3-speed.md").write_text("\n".join(lines) + "\n")
    print(write_results_md())


if __name__ == "__main__":
    main()
