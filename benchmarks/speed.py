"""Speed: seconds per frame by frame size and by damaged area, for every method.

Usage: ``python benchmarks/speed.py [--data ../shared/data] [--frames 6]``

A clean clip is resized to each frame size (720x576 SD PAL, 2048x1556 2K full aperture), made
film-like and damaged at each level; each method restores ``--frames`` frames and the mean time per
frame is reported, with motion estimation (shared by all temporal methods) timed on its own. Cost
that tracks the damaged area rather than the frame area is what lets patch-based models scale to 2K
and 4K scans. Writes ``benchmarks/results/section-3-speed.md``, then rebuilds RESULTS.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from restoration.benchmark import available_methods
from restoration.damage import DamageConfig, simulate_damage
from restoration.film_look import add_film_look, to_gray
from restoration.motion import compensate
from restoration.reel import probe, read_frames

HERE = Path(__file__).parent
SIZES = ((720, 576), (2048, 1556))
LEVELS = ("low", "medium", "high")


def timed_methods(clean: np.ndarray, level: str, seed: int) -> tuple[float, float, dict[str, float]]:
    """``(coverage, motion s/frame, {method: s/frame})`` on the middle frames of ``clean``."""
    methods, detectors, inpainters = available_methods()
    damaged = simulate_damage(clean, DamageConfig(level=level, seed=seed))
    inner = range(1, len(clean) - 1)
    t0 = time.perf_counter()
    neighbours = {i: compensate(damaged.frames, i) for i in inner}
    motion = (time.perf_counter() - t0) / len(inner)
    timings = {}
    for method in methods:
        if method.detector == "oracle" or method.detector == "none":
            continue
        t0 = time.perf_counter()
        for i in inner:
            mask = detectors[method.detector](damaged.frames[i], neighbours[i], i)
            inpainters[method.inpainter](damaged.frames[i], mask, neighbours[i], i)
        timings[method.name] = (time.perf_counter() - t0) / len(inner)
    return float(damaged.mask[1:-1].mean()), motion, timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--clip", default="intel_car-detection.mp4")
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)  # as in run_all.py: one thread, comparable timings
    info = probe(args.data / "clean_video" / args.clip)
    source = to_gray(read_frames(info, info.frame_count - args.frames, info.frame_count))
    rows = []
    for width, height in SIZES:
        frames = np.stack([cv2.resize(f, (width, height), interpolation=cv2.INTER_CUBIC)[..., None] for f in source])
        clean = add_film_look(frames, seed=args.seed)
        for level in LEVELS:
            coverage, motion, timings = timed_methods(clean, level, args.seed)
            for name, seconds in timings.items():
                rows.append(f"| {width}x{height} | {level} | {coverage:.2%} | {name} | {motion:.3f} | {seconds:.3f} | {motion + seconds:.3f} |")
    from run_all import machine, write_results_md

    lines = [
        "## Speed",
        "",
        f"Machine: {machine()}. Clip `{args.clip}` (last {args.frames} frames) resized to each size, gray, film look, "
        "simulated damage. Motion: DIS flow to both neighbours with the forward-backward check, shared by the "
        "temporal methods. Method: detection plus inpainting.",
        "",
        "| size | level | damage | method | motion s/frame | method s/frame | total s/frame |",
        "|---|---|---|---|---|---|---|",
        *rows,
    ]
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "section-3-speed.md").write_text("\n".join(lines) + "\n")
    print(write_results_md())


if __name__ == "__main__":
    main()
