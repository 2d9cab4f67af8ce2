"""Held-out evaluation of the Palette inpainter against Telea and the temporal median.

Held-out data (never trained on): the last 48 frames of intel_car-detection.mp4 and
imageio_realshort.mp4, gray + film look + simulated damage (medium, seed 0), ground-truth masks.
Reports in-mask PSNR (pooled over the clip), the warping error (flicker) of each restored sequence
against the clean one's (flow from the clean clip), seconds per frame, and a PSNR-vs-steps curve.

    .venv/bin/python benchmarks/eval_inpainter.py [--weights PATH] [--steps 5 10 20 50] [--frames N]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from restoration import metrics, motion
from restoration.inpaint_classical import inpaint_telea, inpaint_temporal_median
from restoration.inpaint_diffusion import PaletteConfig, inpaint_palette, load_inpainter
from restoration.reel import probe, read_frames
from restoration.train_inpainter import damage_masks, film_look, to_gray

CLEAN = Path(__file__).resolve().parents[2] / "shared" / "data" / "clean_video"


def held_out(name: str, frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    info = probe(CLEAN / name)
    n = info.frame_count
    start = max(0, n - 48)
    clip = to_gray(read_frames(info, start, n))[:frames]
    clean = film_look(clip, grain=0.5, flicker=0.5, seed=0)
    damaged, mask = damage_masks(clean, "medium", 0)
    return clean, damaged, mask


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", default=None)
    ap.add_argument("--steps", type=int, nargs="*", default=[5, 10, 20, 50])
    ap.add_argument("--curve-frames", type=int, default=8)
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--default-steps", type=int, default=10)
    ap.add_argument("--repaint", action="store_true", help="also measure RePaint resampling (jump 2, resample 2)")
    ap.add_argument("--out", default="benchmarks/results/inpainter_eval.json")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model, sched = load_inpainter(a.weights)
    results = {}
    for name in ("intel_car-detection.mp4", "imageio_realshort.mp4"):
        clean, damaged, mask = held_out(name, a.frames)
        T = len(clean)
        nbs = [motion.compensate(damaged, t) for t in range(T)]
        r = {"frames": T, "masked_px": int(mask.sum()), "shape": list(clean.shape)}
        outs = {"telea": np.stack([inpaint_telea(damaged[t], mask[t]) for t in range(T)]),
                "temporal_median": np.stack([inpaint_temporal_median(damaged[t], mask[t], nbs[t]) for t in range(T)])}

        def run(cfg, frames):
            g = torch.Generator().manual_seed(0)
            t0 = time.time()
            out = np.stack([inpaint_palette(damaged[t], mask[t], nbs[t], model, sched, cfg, g)[0] for t in frames])
            return out, (time.time() - t0) / len(frames)

        for combine in ("mean", "first"):
            cfg = PaletteConfig(steps=a.default_steps, samples=a.samples if combine == "mean" else 1, combine=combine)
            out, spf = run(cfg, range(T))
            outs[f"palette_{combine}"] = out
            r[f"palette_{combine}_s_per_frame"] = round(spf, 3)
        for k, out in outs.items():
            r[f"psnr_{k}"] = round(metrics.psnr(out, clean, mask=mask), 3)
            r[f"flicker_{k}"] = metrics.warping_error(out, clean)
        r["flicker_clean"] = metrics.warping_error(clean, clean)
        r["flicker_damaged"] = metrics.warping_error(damaged, clean)
        sub = list(range(1, min(T, a.curve_frames + 1)))
        curve = {}
        for s in a.steps:
            out, spf = run(PaletteConfig(steps=s, samples=a.samples), sub)
            curve[s] = {"psnr": round(metrics.psnr(out, clean[sub], mask=mask[sub]), 3), "s_per_frame": round(spf, 3)}
        if a.repaint:
            cfg = PaletteConfig(steps=a.default_steps, samples=a.samples, repaint_jump=2, repaint_resample=2)
            out, spf = run(cfg, sub)
            curve[f"repaint_{a.default_steps}_j2_r2"] = {"psnr": round(metrics.psnr(out, clean[sub], mask=mask[sub]), 3), "s_per_frame": round(spf, 3), "evals": cfg.evaluations()}
        r["curve_frames"] = len(sub)
        r["psnr_temporal_median_curve_frames"] = round(metrics.psnr(outs["temporal_median"][sub], clean[sub], mask=mask[sub]), 3)
        r["steps_curve"] = curve
        results[name] = r
        print(name, json.dumps(r, indent=1), flush=True)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
