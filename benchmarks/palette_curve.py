"""The Palette inpainter's quality against its cost: DDIM steps, draws, the cheap path, RePaint.

Usage: ``python benchmarks/palette_curve.py [--data ../shared/data] [--clip imageio_realshort.mp4] [--frames 6]
[--only NAME ...]``

One held-out clip window (its last ``--frames`` frames, as in the quality benchmark), gray with the
film look, simulated damage at ``--level``, filled inside the true mask (the inpainter alone) with
each setting in turn. Reported per setting: PSNR inside the mask against the clean frames, grain
ratio (high-pass energy of the fill over the truth's: 1 = as grainy as the film, below 1 = smooth),
flicker (warping error of the restored window over the clean window's), network evaluations per tile
and seconds per frame; Telea and the temporal median on the same frames for reference. The
defaults of ``PaletteConfig`` are chosen from this table.

Writes ``benchmarks/results/curve-palette.json`` and ``section-1-palette-curve.md``, then rebuilds
RESULTS.md. With ``--only``, the rows of an earlier run on the same window, damage and machine are
kept and the named ones replaced (every row run again: drop ``--only``).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from run_all import machine, write_results_md

from restoration.core.restore import RestoreConfig, fill, load_models
from restoration.evaluate.benchmark import BenchConfig, load_clip
from restoration.evaluate.metrics import consecutive_flows, grain_ratio, psnr, warping_error
from restoration.inpaint.palette import PaletteConfig
from restoration.motion.flow import compensate
from restoration.simulate.damage import DamageConfig, simulate_damage

HERE = Path(__file__).parent
BASE = PaletteConfig(samples=4, agree_tol=0.0)  # k is set here: the "k 4" rows must not follow the default
SETTINGS = {
    "steps 1, k 1": replace(BASE, steps=1, samples=1),
    "steps 2, k 1": replace(BASE, steps=2, samples=1),
    "steps 2, k 2": replace(BASE, steps=2, samples=2),
    "steps 2, k 4": replace(BASE, steps=2),
    "steps 3, k 2": replace(BASE, steps=3, samples=2),
    "steps 3, k 3": replace(BASE, steps=3, samples=3),
    "steps 3, k 2, cheap path 0.02": replace(BASE, steps=3, samples=2, agree_tol=0.02),
    "steps 2, k 4, cheap path 0.02": replace(BASE, steps=2, agree_tol=0.02),
    "steps 5, k 4": replace(BASE, steps=5),
    "steps 10, k 4": replace(BASE, steps=10),
    "steps 20, k 4": replace(BASE, steps=20),
    "steps 5, k 1": replace(BASE, steps=5, samples=1),
    "steps 5, k 2": replace(BASE, steps=5, samples=2),
    "steps 10, k 1": replace(BASE, steps=10, samples=1),
    "steps 5, k 4, first draw": replace(BASE, steps=5, combine="first"),
    "steps 10, k 4, RePaint jump 2 x2": replace(BASE, steps=10, repaint_jump=2, repaint_resample=2),
    "steps 5, k 2, cheap path 0.02": replace(BASE, steps=5, samples=2, agree_tol=0.02),
    "steps 5, k 2, cheap path 0.04": replace(BASE, steps=5, samples=2, agree_tol=0.04),
}


def section(result: dict) -> str:
    """The section's markdown from a stored run."""
    source, config, rows = result["source"], result["config"], result["rows"]
    weights = (result.get("weights") or {}).get("sha256", "?")[:12]
    lines = [
        "## The Palette inpainter: quality against cost",
        "",
        f"`benchmarks/palette_curve.py`: {source['clip']} ({source['size']}), last {source['frames']} frames, gray + film "
        f"look, {config['level']} damage ({result['damage_coverage']:.2%} of pixels), filled inside the true mask, the neighbours' "
        "own damage left out (as the pipeline fills). "
        "Grain: high-pass energy of the fill over the clean frame's (1 = as grainy as the film). Flicker: warping "
        "error over the clean window's. Evaluations: network calls per tile, all draws: (steps - 1) x draws, "
        "RePaint's extra steps included (the step from the top of the schedule, where x0 is taken as 0, needs no call; "
        "one step is the baseline itself). The cheap path fills a component from the neighbours' mean without the model when both are "
        "valid there and agree within the tolerance (fraction of the range). "
        f"One thread of {result['machine']}; bf16 autocast where native. Weights: `{weights}`.",
        "",
        "| fill | PSNR in mask | grain | flicker / clean | evaluations per tile | s/frame |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        evals = "-" if r["evaluations"] is None else str(r["evaluations"])
        lines.append(
            f"| {name} | {r['psnr_in_mask']:.2f} | {r['grain_ratio']:.3f} | {r['flicker']:.3f} | {evals} | {r['seconds_per_frame']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--clip", default="imageio_realshort.mp4")
    parser.add_argument("--level", default="medium")
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="*", default=None, help="Run only these settings (names as in the table).")
    parser.add_argument("--tables-only", action="store_true", help="Only rebuild the section from curve-palette.json.")
    args = parser.parse_args()
    stored = HERE / "results" / "curve-palette.json"
    if args.tables_only:
        result = json.loads(stored.read_text())
        (HERE / "results" / "section-1-palette-curve.md").write_text(section(result))
        print(write_results_md())
        return
    torch.set_num_threads(1)  # as in run_all.py

    sprites = args.data / "damage_overlays"
    config = BenchConfig(level=args.level, seed=args.seed, frames=args.frames, sprites_dir=str(sprites) if sprites.is_dir() else None)
    clean, source = load_clip(args.data / "clean_video" / args.clip, config)
    damage = simulate_damage(clean, DamageConfig(level=config.level, seed=config.seed, sprites_dir=config.sprites_dir))
    damaged, mask = damage.frames, damage.mask
    neighbours = [compensate(damaged, i, damage=mask) for i in range(len(clean))]  # as the pipeline fills
    flows = consecutive_flows(clean)
    clean_flicker = warping_error(clean, flows=flows)
    restore = RestoreConfig(detector="temporal", inpainter="palette")
    models = load_models(restore)

    def score(restored: np.ndarray, seconds: float, evaluations: int | None) -> dict:
        return {
            "psnr_in_mask": psnr(restored, clean, mask=mask),
            "grain_ratio": grain_ratio(restored, clean, mask),
            "flicker": warping_error(restored, clean, flows=flows) / clean_flicker,
            "evaluations": evaluations,
            "seconds_per_frame": seconds / len(clean),
        }

    earlier = json.loads(stored.read_text()) if stored.exists() else {}
    now = json.loads(
        json.dumps({"source": source, "config": asdict(config), "machine": machine(), "weights": models.weights.get("inpainter")})
    )
    same = all(earlier.get(k) == v for k, v in now.items())
    rows = earlier["rows"] if args.only and same else {}
    for name, inpainter in (("telea", "telea"), ("temporal median", "temporal_median")):
        cfg = replace(restore, inpainter=inpainter)
        t0 = time.perf_counter()
        restored = np.stack([fill(damaged[i], mask[i], neighbours[i], i, cfg, models)[0] for i in range(len(clean))])
        rows[name] = score(restored, time.perf_counter() - t0, None)
    for name, setting in SETTINGS.items():
        if args.only and name not in args.only:
            continue
        t0 = time.perf_counter()
        cfg = replace(restore, palette=setting)
        restored = np.stack([fill(damaged[i], mask[i], neighbours[i], i, cfg, models)[0] for i in range(len(clean))])
        rows[name] = score(restored, time.perf_counter() - t0, setting.evaluations() * setting.samples)
        rows[name]["config"] = asdict(setting)
        print(name, json.dumps({k: v for k, v in rows[name].items() if k != "config"}), flush=True)

    result = {**now, "damage_coverage": float(mask.mean()), "rows": rows}
    (HERE / "results").mkdir(exist_ok=True)
    stored.write_text(json.dumps(result, indent=1))
    (HERE / "results" / "section-1-palette-curve.md").write_text(section(result))

    print(write_results_md())


if __name__ == "__main__":
    main()
