"""Real damage: FILM-R scans with an expert's restoration, and contact sheets of real early films.

Usage: ``python benchmarks/real_damage.py [--data ../shared/data]``

1. ``<data>/film_r_pairs``: two real damaged 35 mm scans, an expert's manual restoration, and a
   thresholded difference (an approximate true mask, resized here to the scan). Stills have no
   neighbours, so temporal detectors find nothing by design; the table says what each method finds
   against the thresholded difference and its PSNR inside that mask against the expert's target.
2. ``<data>/real_film``: how much each detector flags on every frame of the two frame folders and
   around the three cuts of the long clip, with cut and repeated frames singled out; before / after
   / mask contact sheets written to ``benchmarks/work/`` (git-ignored: the films are not ours to
   redistribute, not even as crops).

Writes ``benchmarks/results/section-2-real-damage.md``, then rebuilds RESULTS.md.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch
from scipy import ndimage as ndi

from restoration.core.restore import Models, RestoreConfig, detect, fill, load_models, restore_frames
from restoration.detect.diffedit import PROPOSAL_TILES
from restoration.detect.spatial import detect_outliers
from restoration.evaluate.benchmark import method_runners
from restoration.evaluate.metrics import detection_scores, grain_ratio, psnr
from restoration.io.reel import probe, read_frames
from restoration.motion.flow import compensate

HERE = Path(__file__).parent
# PaletteConfig's settings that turn off the halo tests and the shrinkage (the default until 2026-12-07, evening).
WITHOUT_HALO_TESTS = {"rim_beyond": 0.0, "rim_halo_cap": 0.0, "shrink_alone": 0.0}
CUT_AT = 4  # a cut window's frame before the cut (the window starts this many frames before it)
PAIRS = {"cinestill50d_half_1": "thresholded_cinestill50d_1.jpg", "cinestill800t_half_1": "thresholded_cinestill800_half_1.jpg"}


def load_pair(folder: Path, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(input (H,W,3) uint8 RGB, target (H,W,3), mask (H,W) bool)`` of one FILM-R pair."""
    scan = cv2.cvtColor(cv2.imread(str(folder / f"input_{name}.jpg")), cv2.COLOR_BGR2RGB)
    target = cv2.cvtColor(cv2.imread(str(folder / f"target_{name}.jpg")), cv2.COLOR_BGR2RGB)
    thresholded = cv2.imread(str(folder / PAIRS[name]), cv2.IMREAD_GRAYSCALE)
    mask = cv2.resize(thresholded, scan.shape[1::-1], interpolation=cv2.INTER_LINEAR) > 127
    return scan, target, mask


def still_detectors(config: RestoreConfig, models: Models, previous: tuple[RestoreConfig, Models] | None = None) -> dict:
    """Detectors that work on a single still: no neighbours, so no temporal evidence. ``previous``:
    the first detector's weights and models, run over every tile (``thorough``) beside the default."""
    detectors = {
        "spatial outlier": detect_outliers,
        "diffedit": lambda scan: detect(scan, no_neighbours(scan), 0, config, models),
    }
    if previous:
        old_config, old_models = previous
        thorough = replace(old_config, diffedit=replace(old_config.diffedit, thorough=True))
        detectors["first detector (thorough)"] = lambda scan: detect(scan, no_neighbours(scan), 0, thorough, old_models)
    return detectors


def no_neighbours(scan: np.ndarray) -> list:
    """A still's neighbours as the pipeline sees a one-frame reel's: both invalid everywhere."""
    return compensate(scan[None], 0)


def film_r_table(folder: Path, config: RestoreConfig, models: Models, previous: tuple[RestoreConfig, Models] | None = None) -> list[str]:
    rows = [
        "| scan | mask | method | precision | recall | F1 | PSNR in mask vs expert (input) | grain vs expert |",
        "|---|---|---|---|---|---|---|---|",
    ]
    detectors = still_detectors(config, models, previous)
    telea = replace(config, inpainter="telea")
    hard = replace(config, palette=replace(config.palette, margin=0, rim_tol=0.0))
    soft = replace(config, palette=replace(config.palette, rim_follow=0.0))
    before = replace(config, palette=replace(config.palette, **WITHOUT_HALO_TESTS))
    ring = replace(config, palette=replace(config.palette, margin=1, rim_tol=0.0))
    fills = {
        "telea": lambda scan, mask: fill(scan, mask, no_neighbours(scan), 0, telea, models)[0],
        # No neighbours: the baseline is Telea and the model adds the texture. The thresholded mask
        # leaves the damage's soft rims outside; by default the fill does not start from the ring
        # pixels that depart towards the damage (PaletteConfig.margin, rim_tol; only the mask is written).
        "palette": lambda scan, mask: fill(scan, mask, no_neighbours(scan), 0, config, models)[0],
        "palette, without the halo tests and shrinkage": lambda scan, mask: fill(scan, mask, no_neighbours(scan), 0, before, models)[0],
        "palette, every piece soft": lambda scan, mask: fill(scan, mask, no_neighbours(scan), 0, soft, models)[0],
        "palette, margin 0": lambda scan, mask: fill(scan, mask, no_neighbours(scan), 0, hard, models)[0],
        "palette, margin 1, the whole ring": lambda scan, mask: fill(scan, mask, no_neighbours(scan), 0, ring, models)[0],
        # Telea given the whole ring as unknown, for a fair pair.
        "telea, margin 1": lambda scan, mask: np.where(
            mask[..., None], fill(scan, ndi.binary_dilation(mask, np.ones((3, 3), bool)), no_neighbours(scan), 0, telea, models)[0], scan
        ),
    }
    for name in PAIRS:
        scan, target, truth = load_pair(folder, name)
        baseline = psnr(scan, target, mask=truth)
        for detector, find in [*detectors.items(), ("oracle", lambda scan, truth=truth: truth)]:
            mask = find(scan)
            scores = detection_scores(mask, truth)
            for fill_name, inpaint in fills.items():
                if fill_name != "telea" and detector != "oracle":
                    continue  # the diffusion fill is compared on the expert's mask only (minutes a scan on a CPU)
                restored = inpaint(scan, mask)
                rows.append(
                    f"| {name} | {truth.mean():.2%} | {detector} + {fill_name} | {scores['precision']:.3f} "
                    f"| {scores['recall']:.3f} | {scores['f1']:.3f} | {psnr(restored, target, mask=truth):.2f} ({baseline:.2f}) "
                    f"| {grain_ratio(restored, target, truth):.3f} |"
                )
    return rows


def film_windows(data: Path) -> dict[str, tuple]:
    """Real films to look at: ``{name: (ReelInfo, start, stop)}``; for the long clip, windows
    around its cuts (where temporal detection is most at risk)."""
    windows = {}
    for film in sorted((data / "real_film" / "frames").iterdir()):
        if film.is_dir():
            info = probe(film)
            windows[film.name] = (info, 0, info.frame_count)
    clip = data / "real_film" / "a-bomb_blast_effects_part.mp4"
    if clip.is_file():
        info = probe(clip)
        for cut in (43, 133, 298):  # last frame before each cut (frame differences 10-20x the median)
            windows[f"{clip.stem} cut after {cut}"] = (info, cut - CUT_AT, min(cut + 6, info.frame_count))
    return windows


def frame_events(frames: np.ndarray) -> tuple[set[int], set[int]]:
    """``(frames next to a cut, duplicated frames)`` from consecutive mean absolute differences:
    over 4x the median difference is a cut, under 5 % of it a repeat."""
    diff = np.abs(np.diff(frames.astype(np.float32), axis=0)).mean(axis=(1, 2, 3))
    med = float(np.median(diff))
    cuts = {int(i) + k for i in np.flatnonzero(diff > 4 * med) for k in (0, 1)}
    dups = {int(i) + k for i in np.flatnonzero(diff < 0.05 * med) for k in (0, 1)}
    return cuts, dups


def real_film_rows(windows: dict[str, tuple], detectors: dict) -> list[str]:
    """Per film and detector: % of pixels flagged over all frames, at cuts, on duplicated frames."""
    rows = [
        "| film | frames | detector | flagged % (mean) | worst frame % | worst frame next to a cut % (frames) | worst repeated frame % (frames) | s/frame |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, (info, start, stop) in windows.items():
        frames = read_frames(info, start, stop)
        cuts, dups = frame_events(frames)
        neighbours = {i: compensate(frames, i) for i in range(1, len(frames) - 1)}
        for detector, find in detectors.items():
            t0 = time.perf_counter()
            flagged = {i: float(find(frames[i], nb, i).mean()) for i, nb in neighbours.items()}
            spf = (time.perf_counter() - t0) / len(neighbours)
            values = np.array(list(flagged.values()))

            def at(which: set[int], flagged: dict[int, float] = flagged) -> str:
                picked = [flagged[i] for i in sorted(which) if i in flagged]
                return f"{100 * max(picked):.3f} ({len(picked)})" if picked else "- (0)"

            rows.append(
                f"| {name} | {len(neighbours)} | {detector} | {100 * values.mean():.3f} | {100 * values.max():.3f} "
                f"| {at(cuts)} | {at(dups)} | {spf:.2f} |"
            )
    return rows


def contact_sheet(frames: np.ndarray, out: Path, config: RestoreConfig, models, picks: Sequence[int]) -> Path:
    """Rows of before | after | mask (red) for the frames ``picks`` of ``frames`` ``(T, H, W, C)``, each
    restored as the window's frame (the first and last have one neighbour, as at a reel's ends)."""
    rows = []
    for i in picks:
        [(mask, after, _, _)] = restore_frames(frames, [i], 0, config, models)
        before = np.repeat(frames[i], 3 // frames.shape[-1], axis=-1)
        shown = before.copy()
        shown[mask] = (255, 0, 0)
        rows.append(np.concatenate([before, np.repeat(after, 3 // frames.shape[-1], axis=-1), shown], axis=1))
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(np.concatenate(rows, axis=0), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument(
        "--previous-weights",
        type=Path,
        help="the first detector's weights (e.g. from git history) to run beside the default, with its own settings",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)  # as in run_all.py
    config = RestoreConfig()
    models = load_models(config)
    runners = method_runners(config, models)[0]
    detectors = {"temporal": runners["temporal"], "diffedit": runners["diffedit"]}
    previous = None
    if args.previous_weights:
        old_config = replace(config, detector_weights=str(args.previous_weights), diffedit=PROPOSAL_TILES)
        previous = (old_config, load_models(old_config))
        detectors["first detector (fused)"] = method_runners(*previous)[0]["diffedit"]
    windows = film_windows(args.data)
    lines = [
        "## Real damage",
        "",
        "### FILM-R scans with an expert's restoration",
        "",
        "Detection against the thresholded difference (approximate truth); PSNR inside it against the expert's "
        "target, the untouched input's in brackets; grain: high-pass energy of the fill over the expert's there. "
        "Single stills have no neighbours, so only still-image detectors run: a spatial-median outlier test, the "
        "default DiffEdit (whole frame, from the still's own picture) and, with `--previous-weights`, the first "
        "detector over every tile (`thorough`); `oracle` uses the thresholded mask itself. Fills: Telea, and the "
        "Palette inpainter on the oracle mask (without neighbours its baseline is Telea) as `restoration restore` runs it: "
        f"the pixels next to the mask (`PaletteConfig.margin` {config.palette.margin}) that depart from the picture around them "
        f"towards the damage by more than {config.palette.rim_tol} of the range (`rim_tol`) around damage whose ring follows it "
        f"on average by more than {config.palette.rim_follow} of its change (`rim_follow`; a soft-edged piece), by more than "
        f"{config.palette.rim_tol_hard} (`rim_tol_hard`) around the others where the picture up to 2 px past the ring does "
        f"not depart {config.palette.rim_beyond} as much (`rim_beyond`: a line of the picture, not a halo) and that depart by "
        f"less than {config.palette.rim_halo_cap}x the piece's own mean departure (`rim_halo_cap`), are treated as unknown, so that the "
        "fill does not start from the damage's soft rims, which the thresholded mask leaves outside, while only the mask is "
        "written; the mean of the draws is pulled towards the baseline where it is not sure beyond its own Monte Carlo noise "
        f"(`shrink_alone` {config.palette.shrink_alone}); `without the halo tests and shrinkage`: those three off (the default until "
        "2026-12-07, evening); "
        "`every piece soft`: `rim_tol` around every piece (`rim_follow` 0, as the default from 2026-12-03 to "
        "2026-12-07 had it); `margin 0`: without (the default until 2026-12-03); `the whole ring`: every pixel next to the mask unknown "
        '(Telea given the same beside it). Soft rims: RESULTS.md, "Soft edges".',
        "",
        *film_r_table(args.data / "film_r_pairs", config, models, previous),
        "",
        "### Real films: what the detectors flag",
        "",
        "No truth exists for these films, so the table shows how much each detector flags, and whether scene cuts "
        "or repeated frames (frame-rate conversion) make it flag more: a cut or a repeat is where a temporal "
        "detector is most likely to call picture damage. Cuts: consecutive difference over 4x the median; repeats: "
        "under 5 % of it. The first and last frame of a window have one neighbour and are skipped.",
        "",
        *real_film_rows(windows, detectors),
        "",
        "### Real films: contact sheets",
        "",
        f"Before | after | mask (red), as `restoration restore` does it ({config.detector} + {config.inpainter}); "
        "written to `benchmarks/work/` by this script (not committed: the films are not the project's to "
        "redistribute). Rows: the window's first frame (one neighbour, as at a reel's start), the frames on both "
        "sides of the cut (the frame before a cut has no good next neighbour, the one after no good previous), "
        "and the window's last frame; for the frame folders (no cut), first, two inside, last. The sample reel's "
        "two first and two last frames (`sample_reels/bbb_damaged.mkv`, CC BY 3.0, so committed): "
        "`contact-sample-reel-ends.png`.",
        "",
    ]
    for name, (info, start, stop) in windows.items():
        out = HERE / "work" / f"contact-{name.replace(' ', '_')}.png"
        n = stop - start
        picks = (0, CUT_AT, CUT_AT + 1, n - 1) if "cut after" in name else (0, n // 3, 2 * n // 3, n - 1)
        sheet = contact_sheet(read_frames(info, start, stop), out, config, models, picks)
        lines.append(f"- `{sheet.relative_to(HERE)}`")
    sample = probe(HERE.parent / "sample_reels" / "bbb_damaged.mkv")
    ends = contact_sheet(
        read_frames(sample), HERE / "contact-sample-reel-ends.png", config, models, (0, 1, sample.frame_count - 2, sample.frame_count - 1)
    )
    lines.append(f"- `{ends.relative_to(HERE)}` (committed)")
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "section-2-real-damage.md").write_text("\n".join(lines) + "\n")
    from run_all import write_results_md

    print(write_results_md())


if __name__ == "__main__":
    main()
