"""Regenerate benchmarks/RESULTS.md: every method at every damage level on every clean clip.

Usage: ``python benchmarks/run_all.py [--data ../shared/data] [--frames 48]``

Clips are the real footage in ``<data>/clean_video``; each is used through its last ``--frames``
frames, which the shipped models never saw in training. JSON for every run goes to
``benchmarks/results/``; the markdown tables are rebuilt from all JSON files there, so the real-damage
and speed scripts add their own sections to the same page.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path

import torch
from rich.progress import Progress

from restoration.benchmark import BASELINES, BenchConfig, available_methods, load_clip, run_benchmark

HERE = Path(__file__).parent
RESULTS = HERE / "results"
LEVELS = ("low", "medium", "high")


def machine() -> str:
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, torch {torch.__version__}, no GPU"
    )


def run_palette(data: Path, frames: int, seed: int, clip: str = "imageio_realshort.mp4") -> None:
    """The Palette inpainter on one clip at the medium level: it is too slow on a CPU for them all."""
    methods, detectors, inpainters = available_methods(palette=True)
    methods = tuple(m for m in methods if m.detector == "oracle" or m.inpainter == "palette")
    config = BenchConfig(level="medium", seed=seed, frames=frames)
    clean, source = load_clip(data / "clean_video" / clip, config)
    result = run_benchmark(clean, config, methods, detectors, inpainters)
    result.update(source=source, machine=machine(), date=datetime.now(timezone.utc).date().isoformat())
    (RESULTS / f"palette-{Path(clip).stem}-medium.json").write_text(json.dumps(result, indent=1))


def run(data: Path, frames: int, seed: int, diffusion: bool = True) -> None:
    RESULTS.mkdir(exist_ok=True)
    clips = sorted((data / "clean_video").glob("*.mp4"))
    if not clips:
        raise SystemExit(f"no clips in {data / 'clean_video'}")
    methods, detectors, inpainters = available_methods() if diffusion else (BASELINES, None, None)
    sprites = data / "damage_overlays"
    with Progress() as bar:
        task = bar.add_task("clips x levels", total=len(clips) * len(LEVELS))
        for clip in clips:
            for level in LEVELS:
                out = RESULTS / f"quality-{clip.stem}-{level}.json"
                if out.exists():  # resume an interrupted run; delete the JSON files to redo them
                    bar.advance(task)
                    continue
                config = BenchConfig(level=level, seed=seed, frames=frames, sprites_dir=str(sprites) if sprites.is_dir() else None)
                clean, source = load_clip(clip, config)
                result = run_benchmark(clean, config, methods, detectors, inpainters)
                result["source"] = source
                result["machine"] = machine()
                result["date"] = datetime.now(timezone.utc).date().isoformat()
                out.write_text(json.dumps(result, indent=1))
                bar.advance(task)


def quality_tables(pattern: str = "quality-*.json", levels: tuple[str, ...] = LEVELS) -> list[str]:
    lines = []
    runs = [json.loads(p.read_text()) for p in sorted(RESULTS.glob(pattern))]
    if not runs:
        return lines
    lines += [
        "## Quality on simulated damage",
        "",
        f"Machine: {runs[0]['machine']}. Date: {runs[0]['date']}. Seed {runs[0]['config']['seed']}; "
        f"clips converted to gray with film grain and flicker (not damage); sprites: "
        f"{'damage_overlays library' if runs[0]['config']['sprites_dir'] else 'procedural'}.",
        "",
        "Detection is per pixel against the true mask. PSNR/SSIM in mask: inside the true damage mask, "
        "against the clean frame (dB; `damaged` = the untouched input there). Changed outside: pixels "
        "altered outside the true damage (0 is the archival ideal). Flicker: warping error of the "
        "restored sequence divided by the clean sequence's (1.000 = as steady as the clean film). "
        "`oracle` methods get the true mask and measure the inpainter alone. Rows of the DiffEdit detector "
        "appear where it was run: it costs minutes per clip on this CPU, so a run may use `--baselines-only` "
        "for the rest. s/frame is wall time on a shared machine: compare it within one table row set only.",
        "",
    ]
    for level in levels:
        lines += [
            f"### Level: {level}",
            "",
            "| clip | damage | method | precision | recall | F1 | IoU | PSNR in mask (damaged) | SSIM in mask | PSNR frame | changed outside | flicker / clean | s/frame |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in runs:
            if r["config"]["level"] != level:
                continue
            for m in r["methods"]:
                d = m["detection"]
                lines.append(
                    f"| {r['source']['clip']} ({r['source']['size']}) | {r['damage_coverage']:.2%} | {m['method']} "
                    f"| {d['precision']:.3f} | {d['recall']:.3f} | {d['f1']:.3f} | {d['iou']:.3f} "
                    f"| {m['psnr_in_mask']:.2f} ({m['psnr_in_mask_damaged']:.2f}) | {m['ssim_in_mask']:.3f} "
                    f"| {m['psnr_frame']:.2f} | {m['changed_outside']} | {m['flicker'] / m['flicker_clean']:.3f} "
                    f"| {m['seconds_per_frame_detect'] + m['seconds_per_frame_inpaint']:.3f} |"
                )
        lines.append("")
    return lines


def write_results_md() -> Path:
    sections = []
    for name in sorted(RESULTS.glob("section-*.md")):
        sections += [name.read_text().rstrip(), ""]
    text = "\n".join(
        [
            "# Benchmark results",
            "",
            "Regenerate with `python benchmarks/run_all.py` (quality), `python benchmarks/real_damage.py` "
            "(real damage) and `python benchmarks/speed.py` (speed); each rewrites its part of this page.",
            "",
            *quality_tables(),
            *[line.replace("## Quality on simulated damage", "## The Palette inpainter (one clip, medium)")
              for line in quality_tables("palette-*.json", ("medium",))],
            *sections,
        ]
    )
    path = HERE / "RESULTS.md"
    path.write_text(text + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--palette-frames", type=int, default=8, help="Frames for the (slow) Palette run; 0 skips it.")
    parser.add_argument("--baselines-only", action="store_true", help="Skip the diffusion detector (minutes a clip on a CPU).")
    parser.add_argument("--tables-only", action="store_true", help="Rebuild RESULTS.md from existing JSON.")
    args = parser.parse_args()
    # One thread: the diffusion models' small convolutions gain nothing from more on a CPU, and
    # the benchmark's timings stay comparable whatever else the machine is doing.
    torch.set_num_threads(1)
    if not args.tables_only:
        run(args.data, args.frames, args.seed, diffusion=not args.baselines_only)
        if args.palette_frames:
            run_palette(args.data, args.palette_frames, args.seed)
    print(write_results_md())


if __name__ == "__main__":
    main()
