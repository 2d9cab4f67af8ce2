"""Speed of the default pair (DiffEdit + Palette) on an accelerator, against the same frames on the CPU.

Usage: ``python benchmarks/speed_device.py --device cuda [--clip PATH] [--frames 4] [--out FILE]``
on a machine with the accelerator, then ``python benchmarks/speed_device.py --tables-only --out FILE``
here to add the section to RESULTS.md.

As ``speed.py`` does: the clip is resized to each size, made gray and film-like, damaged at the medium
level (procedural shapes, seed 0); the inner frames are timed. Per frame: spike proposals and DiffEdit
on the tiles around them, then the Palette fill with neighbours that leave out their own damage,
exactly as ``restoration restore`` runs them (:mod:`restoration.core.restore`). Motion (DIS flow on the CPU) is timed on its own. One
frame first warms the device up (kernels, allocator) and is not counted.

Check of the device path: one frame of the first size is also restored on the CPU with the same seed (the
noise is drawn on the CPU for every device); the masks' IoU and the in-mask PSNR between the two
fills say how far the device's precision (bf16 where native) moves the result.

This script imports only the library's per-frame core (no Prefect, no zarr), so that it runs on a
bare accelerator machine with PyAV and diffusers added.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from restoration.core.restore import Models, RestoreConfig, detect_frame, fill_frame, load_models
from restoration.evaluate.metrics import psnr
from restoration.io.atomic import write_json_atomic
from restoration.io.reel import probe, read_frames, sha256_file
from restoration.models.weights import shipped
from restoration.motion.flow import MotionCache, compensate
from restoration.simulate.damage import DamageConfig, simulate_damage
from restoration.simulate.film_look import add_film_look, to_gray

HERE = Path(__file__).parent
SIZES = ("720x576", "2048x1556")


def restore(
    frames: np.ndarray, i: int, masks: np.ndarray, config: RestoreConfig, models: Models
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Detect frame ``i`` of ``frames`` and fill it through the library's core, as ``restore`` does;
    ``masks`` ``(T, H, W)`` holds the neighbours' damage. The frame's motion is estimated first and
    not counted (it is timed on its own).

    Returns ``(mask, restored, detect seconds, fill seconds)``; the fill includes the consistency check.
    """
    cache = MotionCache()  # as the pipeline does: the detection's motion serves the fill
    compensate(frames, i, config=config.motion, cache=cache)
    t0 = time.perf_counter()
    mask = detect_frame(frames, i, i, config, models, cache)
    t1 = time.perf_counter()
    masks = masks.copy()
    masks[i] = mask
    restored, _, _ = fill_frame(frames, masks, i, i, config, models, cache)
    return mask, restored, t1 - t0, time.perf_counter() - t1


def measure(args: argparse.Namespace) -> dict:
    info = probe(args.clip)
    source = to_gray(read_frames(info, info.frame_count - args.frames, info.frame_count))
    device_config, cpu_config = RestoreConfig(device=args.device), RestoreConfig(device="cpu")
    device_models, cpu_models = load_models(device_config), load_models(cpu_config)
    result = {
        "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else args.device,
        "torch": torch.__version__,
        "cpu_threads": torch.get_num_threads(),
        "host": platform.node(),
        "clip": Path(args.clip).name,
        "frames_timed": args.frames - 2,
        "weights": {name: sha256_file(shipped(name)) for name in ("detector", "inpainter")},
        "sizes": {},
        "flows_reused": True,
        "compute": device_models.compute.describe(),
    }
    for size in args.sizes:
        width, height = (int(v) for v in size.split("x"))
        frames = np.stack([cv2.resize(f, (width, height), interpolation=cv2.INTER_CUBIC)[..., None] for f in source])
        damaged = simulate_damage(add_film_look(frames, seed=0), DamageConfig(level="medium", seed=0))
        inner = range(1, len(frames) - 1)
        t0 = time.perf_counter()
        for i in inner:
            compensate(damaged.frames, i)
        motion = (time.perf_counter() - t0) / len(inner)
        none = np.zeros(damaged.mask.shape, bool)
        restore(damaged.frames, 1, none, device_config, device_models)  # warm-up, not counted
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        masks, detect, fill = none.copy(), [], []
        for i in inner:
            masks[i], _, d, f = restore(damaged.frames, i, masks, device_config, device_models)
            detect.append(d)
            fill.append(f)
        row = {
            "coverage": float(damaged.mask[1:-1].mean()),
            "motion": motion,
            "detect": float(np.mean(detect)),
            "fill": float(np.mean(fill)),
            "found": float(masks[1:-1].mean()),
        }
        if size == args.sizes[0]:
            i = 1
            m_dev, r_dev, _, _ = restore(damaged.frames, i, none, device_config, device_models)
            m_cpu, r_cpu, d_cpu, f_cpu = restore(damaged.frames, i, none, cpu_config, cpu_models)
            both = m_dev & m_cpu
            row["check"] = {
                "mask_iou": float(both.sum() / max((m_dev | m_cpu).sum(), 1)),
                "fill_psnr_device_vs_cpu": psnr(r_dev, r_cpu, mask=both) if both.any() else None,
                "outside_mask_equal": bool(np.array_equal(r_dev[~m_dev], damaged.frames[i][~m_dev])),
                "cpu_detect": d_cpu,
                "cpu_fill": f_cpu,
            }
        result["sizes"][size] = row
        print(size, json.dumps(row), flush=True)
    return result


def section(result: dict) -> str:
    lines = [
        "## Speed on an accelerator",
        "",
        f"`benchmarks/speed_device.py` on {result['device']} (torch {result['torch']}, {result.get('compute', {}).get('precision', 'bfloat16')} networks, "
        f"{result['cpu_threads']} CPU threads for motion and the classical steps): clip `{result['clip']}` resized, gray, "
        f"film look, medium damage, {result['frames_timed']} frames timed after one warm-up frame. Detect: spike proposals "
        "+ DiffEdit; fill: the neighbours' validity again without their own damage, then Palette with the "
        "default settings (5 DDIM steps, k = 2). Weights: detector "
        f"`{result['weights']['detector'][:12]}`, inpainter `{result['weights']['inpainter'][:12]}`.",
        *[
            f"The {name} measured is not the one shipped now (`{sha256_file(shipped(name))[:12]}`): same network, "
            "so the same cost per tile; only the share of tiles the cheap path fills can differ."
            for name, sha in result["weights"].items()
            if sha != sha256_file(shipped(name))
        ],
        *(
            []
            if result.get("flows_reused")
            else [
                "Measured before the fill reused the detection's flows: its fill column includes a second flow "
                "estimation on the CPU, about the motion column, which the pipeline no longer spends."
            ]
        ),
        "",
        "| size | damage | found | motion s/frame (CPU) | detect s/frame | fill s/frame | total s/frame |",
        "|---|---|---|---|---|---|---|",
    ]
    for size, r in result["sizes"].items():
        lines.append(
            f"| {size} | {r['coverage']:.2%} | {r['found']:.2%} | {r['motion']:.3f} | {r['detect']:.3f} | {r['fill']:.3f} "
            f"| {r['motion'] + r['detect'] + r['fill']:.3f} |"
        )
    check = next((r["check"] for r in result["sizes"].values() if "check" in r), None)
    if check:
        psnr_text = "-" if check["fill_psnr_device_vs_cpu"] is None else f"{check['fill_psnr_device_vs_cpu']:.1f} dB"
        lines += [
            "",
            f"Same frame, same seed, device against that machine's CPU ({check['cpu_detect']:.1f} s detect, "
            f"{check['cpu_fill']:.1f} s fill there): mask IoU {check['mask_iou']:.3f}, fills {psnr_text} apart inside "
            f"both masks (bf16 rounding), pixels outside the mask unchanged: {check['outside_mask_equal']}.",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--clip", default=str(HERE.parent.parent / "shared" / "data" / "clean_video" / "intel_car-detection.mp4"))
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--sizes", nargs="*", default=list(SIZES))
    parser.add_argument("--out", type=Path, default=HERE / "results" / "speed-device.json")
    parser.add_argument("--tables-only", action="store_true", help="Only rebuild the section from --out.")
    args = parser.parse_args()
    if not args.tables_only:
        result = measure(args)
        write_json_atomic(args.out, result)
        return
    (HERE / "results" / "section-4-speed-device.md").write_text(section(json.loads(args.out.read_text())))
    from run_all import write_results_md

    print(write_results_md())


if __name__ == "__main__":
    main()
