"""Inference runtime: the default restore with its U-Nets run by eager torch, ONNX Runtime and OpenVINO.

Usage: ``python benchmarks/runtime.py [--data ../shared/data] [--size 720x576] [--frames 6] [--threads 1 2]``

A clean clip (the last ``--frames`` frames of ``intel_car-detection.mp4``) is resized, made gray
and film-like and damaged at the medium level; the default restore (DiffEdit detector, Palette
inpainter, through :func:`restoration.core.restore.restore_frames`, as ``restore`` runs it)
restores its inner frames once per runtime, precision (bfloat16 only where the CPU computes it
natively) and thread count. Reported per row: seconds a frame
(detect + fill + check, motion included), the time to prepare the networks (the ONNX export and
compilation happen once per run), detection F1 against the true damage, PSNR inside the true
damage, pixels changed outside the mask (must be 0), and against the eager-torch row of the same
thread count in float32: mask IoU and the largest difference of the fills inside both masks. Results go to
``benchmarks/results/runtime.json`` and the section ``section-6-runtime.md``, then RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch

from restoration.core.compute import native_bf16, runtime_installed, set_threads
from restoration.core.restore import RestoreConfig, load_models, restore_frames
from restoration.evaluate.metrics import changed_outside, detection_scores, psnr
from restoration.io.atomic import write_json_atomic
from restoration.io.reel import probe, read_frames
from restoration.simulate.damage import DamageConfig, simulate_damage
from restoration.simulate.film_look import add_film_look, to_gray

HERE = Path(__file__).parent
COMBINATIONS = (("torch", "float32"), ("torch", "bfloat16"), ("onnxruntime", "float32"), ("openvino", "float32"), ("openvino", "bfloat16"))


def runnable(runtime: str, precision: str) -> bool:
    """Installed, and bf16 only where this CPU computes it natively (emulated bf16 is 25x slower)."""
    return runtime_installed(runtime) and (precision == "float32" or native_bf16(torch.device("cpu")))


def damaged_clip(path: Path, size: tuple[int, int], frames: int, seed: int, level: str = "medium", bits: int = 8):
    """``(clean (T, H, W, 1), damaged clip)``: the last ``frames`` frames of ``path``, gray, resized to
    ``size`` (width, height), ``bits`` 8 (uint8) or 16 (uint16), film look, damage at ``level``."""
    info = probe(path)
    source = to_gray(read_frames(info, info.frame_count - frames, info.frame_count))
    if bits == 16:  # as a 16-bit scan would hold it: code v becomes 257 v, the cubic resize fills in between
        source = source.astype(np.uint16) * 257
    resized = np.stack([cv2.resize(f, size, interpolation=cv2.INTER_CUBIC)[..., None] for f in source])
    clean = add_film_look(resized, seed=seed)
    return clean, simulate_damage(clean, DamageConfig(level=level, seed=seed))


def measure(args: argparse.Namespace) -> dict:
    width, height = (int(v) for v in args.size.split("x"))
    clean, damaged = damaged_clip(args.data / "clean_video" / args.clip, (width, height), args.frames, args.seed)
    inner = list(range(1, args.frames - 1))
    rows = []
    for threads in args.threads:
        set_threads(threads)
        reference = None
        for runtime, precision in [c for c in COMBINATIONS if runnable(*c)]:
            config = replace(RestoreConfig(), runtime=runtime, precision=precision, seed=args.seed)
            t0 = time.perf_counter()
            models = load_models(config)
            prepare = time.perf_counter() - t0
            t0 = time.perf_counter()
            out = restore_frames(damaged.frames, inner, 0, config, models)
            seconds = (time.perf_counter() - t0) / len(inner)
            masks = np.stack([o[0] for o in out])
            restored = np.stack([o[1] for o in out])
            truth = damaged.mask[inner]
            row = {
                "runtime": runtime,
                "precision": precision,
                "threads": threads,
                "s_per_frame": seconds,
                "prepare_s": prepare,
                "f1": detection_scores(masks, truth)["f1"],
                "psnr_in_damage": psnr(restored, clean[inner], truth),
                "load_average": os.getloadavg()[0],
                "changed_outside": int(sum(changed_outside(damaged.frames[i], r, m) for i, r, m in zip(inner, restored, masks))),
            }
            if reference is None:
                reference = (masks, restored)
            both = masks & reference[0]
            row["mask_iou_vs_torch"] = float(both.sum() / max(1, (masks | reference[0]).sum()))
            row["max_fill_diff_vs_torch"] = int(np.abs(restored.astype(int) - reference[1].astype(int))[both].max(initial=0))
            rows.append(row)
            print(json.dumps(row), flush=True)
    from run_all import machine

    return {
        "machine": machine(),
        "clip": args.clip,
        "size": args.size,
        "frames": len(inner),
        "damage": float(damaged.mask[inner].mean()),
        "rows": rows,
    }


def section(result: dict) -> str:
    lines = [
        "## Inference runtime",
        "",
        f"`benchmarks/runtime.py`. Machine: {result['machine']}. Clip `{result['clip']}` (last frames), {result['size']}, "
        f"gray, film look, medium damage ({result['damage']:.2%} of pixels); the default restore (DiffEdit + Palette, "
        f"`restore_frames`, motion included) on {result['frames']} frames, once per runtime and thread count, in one run. "
        "Prepare: loading the weights plus the ONNX export and compilation, once per run. Against torch: the eager-torch "
        "float32 row of the same thread count (mask IoU; largest fill difference inside both masks, in code values).",
        "",
        *([result["note"], ""] if result.get("note") else []),
        "| runtime | precision | threads | s/frame | prepare s | F1 | PSNR in damage dB | changed outside mask | mask IoU vs torch | max fill diff vs torch |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['runtime']} | {r['precision']} | {r['threads']} | {r['s_per_frame']:.2f} | {r['prepare_s']:.1f} | {r['f1']:.3f} | "
            f"{r['psnr_in_damage']:.2f} | {r['changed_outside']} | {r['mask_iou_vs_torch']:.3f} | {r['max_fill_diff_vs_torch']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--clip", default="intel_car-detection.mp4")
    parser.add_argument("--size", default="720x576", help="WIDTHxHEIGHT")
    parser.add_argument("--frames", type=int, default=6, help="Frames read; the inner ones (all but the first and last) are timed.")
    parser.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "runtime.json")
    parser.add_argument("--tables-only", action="store_true", help="Only rebuild the section from --out.")
    args = parser.parse_args()
    if not args.tables_only:
        write_json_atomic(args.out, measure(args))
    (HERE / "results" / "section-6-runtime.md").write_text(section(json.loads(args.out.read_text())))
    from run_all import write_results_md

    print(write_results_md())


if __name__ == "__main__":
    main()
