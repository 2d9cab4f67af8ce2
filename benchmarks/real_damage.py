"""Real damage: FILM-R scans with an expert's restoration, and contact sheets of real early films.

Usage: ``python benchmarks/real_damage.py [--data ../shared/data]``

1. ``<data>/film_r_pairs``: two real damaged 35 mm scans, an expert's manual restoration, and a
   thresholded difference (an approximate true mask, resized here to the scan). Stills have no
   neighbours, so temporal detectors find nothing by design; the table says what each method finds
   against the thresholded difference and its PSNR inside that mask against the expert's target.
2. ``<data>/real_film/frames/*``: before / after / mask contact sheets written to
   ``benchmarks/work/`` (git-ignored: the films are not ours to redistribute, not even as crops).

Writes ``benchmarks/results/section-2-real-damage.md``, then rebuilds RESULTS.md.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from restoration.detect_diffedit import DiffEditConfig, detect_damage, load_detector
from restoration.detect_spatial import detect_outliers
from restoration.inpaint_classical import inpaint_telea
from restoration.metrics import detection_scores, psnr
from restoration.pipeline import RestoreConfig, load_models, restore_frame
from restoration.reel import probe, read_frames
from restoration.weights import shipped

HERE = Path(__file__).parent
PAIRS = {"cinestill50d_half_1": "thresholded_cinestill50d_1.jpg", "cinestill800t_half_1": "thresholded_cinestill800_half_1.jpg"}


def load_pair(folder: Path, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(input (H,W,3) uint8 RGB, target (H,W,3), mask (H,W) bool)`` of one FILM-R pair."""
    scan = cv2.cvtColor(cv2.imread(str(folder / f"input_{name}.jpg")), cv2.COLOR_BGR2RGB)
    target = cv2.cvtColor(cv2.imread(str(folder / f"target_{name}.jpg")), cv2.COLOR_BGR2RGB)
    thresholded = cv2.imread(str(folder / PAIRS[name]), cv2.IMREAD_GRAYSCALE)
    mask = cv2.resize(thresholded, scan.shape[1::-1], interpolation=cv2.INTER_LINEAR) > 127
    return scan, target, mask


def still_detectors() -> dict:
    """Detectors that work on a single still: no neighbours, so no temporal evidence."""
    detectors = {"spatial outlier": detect_outliers}
    if shipped("detector").is_file():
        model, scheduler = load_detector()
        thorough = replace(DiffEditConfig(), thorough=True)
        detectors["diffedit (thorough)"] = lambda scan: detect_damage(scan, [], model, scheduler, thorough, 0)
    return detectors


def film_r_table(folder: Path) -> list[str]:
    rows = [
        "| scan | mask | method | precision | recall | F1 | PSNR in mask vs expert (input) |",
        "|---|---|---|---|---|---|---|",
    ]
    detectors = still_detectors()
    for name in PAIRS:
        scan, target, truth = load_pair(folder, name)
        baseline = psnr(scan, target, mask=truth)
        for detector, detect in [*detectors.items(), ("oracle", lambda scan: truth)]:
            mask = detect(scan)
            scores = detection_scores(mask, truth)
            restored = inpaint_telea(scan, mask)
            rows.append(
                f"| {name} | {truth.mean():.2%} | {detector} + telea | {scores['precision']:.3f} "
                f"| {scores['recall']:.3f} | {scores['f1']:.3f} | {psnr(restored, target, mask=truth):.2f} ({baseline:.2f}) |"
            )
    return rows


def contact_sheet(folder: Path, out: Path, picks: int = 4) -> Path:
    """Rows of before | after | mask (red) for ``picks`` frames of a real film's frame folder."""
    frames = read_frames(probe(folder))
    config = RestoreConfig()
    models = load_models(config)
    rows = []
    for i in np.linspace(2, len(frames) - 3, picks).astype(int):
        mask, after, _, _ = restore_frame(frames, i, i, config, models)
        before = np.repeat(frames[i], 3 // frames.shape[-1], axis=-1)
        shown = before.copy()
        shown[mask] = (255, 0, 0)
        rows.append(np.concatenate([before, np.repeat(after, 3 // frames.shape[-1], axis=-1), shown], axis=1))
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(np.concatenate(rows, axis=0), cv2.COLOR_RGB2BGR))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    args = parser.parse_args()
    lines = [
        "## Real damage",
        "",
        "### FILM-R scans with an expert's restoration",
        "",
        "Detection against the thresholded difference (approximate truth); PSNR inside it against the expert's "
        "target, the untouched input's in brackets. Single stills have no neighbours, so only still-image "
        "detectors run: a spatial-median outlier test and DiffEdit over every tile (`thorough`); `oracle` uses "
        "the thresholded mask itself. All fill with Telea (the temporal fills need neighbours).",
        "",
        *film_r_table(args.data / "film_r_pairs"),
        "",
        "### Real films: contact sheets",
        "",
        f"Before | after | mask (red), as `restoration restore` does it ({RestoreConfig().detector} + "
        f"{RestoreConfig().inpainter}); written to `benchmarks/work/` by this script "
        "(not committed: the films are not the project's to redistribute).",
        "",
    ]
    for film in sorted((args.data / "real_film" / "frames").iterdir()):
        if film.is_dir():
            sheet = contact_sheet(film, HERE / "work" / f"contact-{film.name}.png")
            lines.append(f"- `{sheet.relative_to(HERE)}`")
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "section-2-real-damage.md").write_text("\n".join(lines) + "\n")
    from run_all import write_results_md

    print(write_results_md())


if __name__ == "__main__":
    main()
