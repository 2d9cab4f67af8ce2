"""The quality and speed benchmark: damage a clean clip, run every method, measure against the truth.

A clean clip becomes a film-like reference (gray, grain, flicker: not damage), the simulator
composites damage on it with an exact per-class mask, and every method restores the damaged clip.
Detection is scored per pixel against the true mask; restoration inside the true mask, over the whole
frame, by the pixels it changed outside the damage, and by flicker (warping error against the clean
sequence's). Methods are a detector and an inpainter of the registry (:mod:`restoration.core.methods`),
run through the same per-frame core as ``restoration restore`` (:func:`restoration.core.restore.detect`,
:func:`restoration.core.restore.fill`: same settings, same per-frame seeds), plus two the benchmark alone
knows: ``oracle`` detection (the true mask: isolates the inpainter's quality from the detector's)
and ``none`` (nothing detected, nothing filled). A method can also be run with its inpainter's
neighbours withheld (``Method.neighbours = "none"``), the case of a reel's first and last frames
without mirroring, a scene cut, a still, or damage on the same place in consecutive frames.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from restoration.core.methods import DETECTORS, INPAINTERS
from restoration.core.restore import Models, RestoreConfig, detect, fill, load_models
from restoration.evaluate.metrics import (
    changed_outside,
    consecutive_flows,
    detection_scores,
    object_recall,
    psnr,
    psnr_by_size,
    ssim_in_mask,
    vertical_structure,
    warping_error,
)
from restoration.io.reel import probe, read_frames
from restoration.models.weights import shipped
from restoration.motion.flow import MotionCache, MotionConfig, compensate, no_neighbour
from restoration.simulate.damage import DAMAGE_CLASSES, DamageConfig, simulate_damage
from restoration.simulate.film_look import add_film_look, to_gray

# A detector maps (frame (H,W,C), neighbours from ``compensate``, frame index) to a bool (H, W)
# mask; an inpainter maps (frame, mask, neighbours, frame index) to the restored frame. The index
# is the frame number the diffusion methods' seeds come from.
BenchDetector = Callable[[np.ndarray, list, int], np.ndarray]
BenchInpainter = Callable[[np.ndarray, np.ndarray, list, int], np.ndarray]


@dataclass(frozen=True)
class BenchConfig:
    """Which clip window, damage and film look the benchmark uses."""

    level: str = "medium"
    seed: int = 0
    frames: int = 48
    # Where the window starts; None takes the clip's last ``frames`` frames (held out from training).
    start: int | None = None
    gray: bool = True
    grain: float = 1.0
    flicker: float = 1.0
    sprites_dir: str | None = None


NEIGHBOURS = ("both", "none")


@dataclass(frozen=True)
class Method:
    """A detector and an inpainter. ``aware``: the inpainter's neighbours exclude each neighbour's
    own detected damage, as the pipeline gives them; False = the plain motion-compensated
    neighbours (the classical temporal median as DESIGN first defined it). ``neighbours``: "both"
    = the inpainter gets the motion-compensated previous and next frames; "none" = it gets them
    withheld, each as :func:`restoration.motion.flow.compensate` gives a neighbour past the clip's
    end (black, no valid pixel), so every fill must come from the frame itself. Only the inpainter's
    neighbours are withheld: the detector sees the clip as ever (use ``oracle`` to judge the fill)."""

    name: str
    detector: str
    inpainter: str
    aware: bool = True
    neighbours: str = "both"

    def __post_init__(self) -> None:
        if self.neighbours not in NEIGHBOURS:
            raise ValueError(f"neighbours must be one of {NEIGHBOURS}, got {self.neighbours!r}")


BASELINES = (
    Method("untouched", "none", "none"),
    Method("temporal + telea", "temporal", "telea"),
    Method("temporal + temporal median", "temporal", "temporal_median"),
    Method("oracle + telea", "oracle", "telea"),
    Method("oracle + temporal median", "oracle", "temporal_median"),
    Method("oracle + temporal median, plain neighbours", "oracle", "temporal_median", aware=False),
    # Without neighbours Telea is the same fill (it never reads them), and the temporal median falls
    # back to Telea (radius 3) on every masked pixel: both rows equal "oracle + telea", the spatial
    # baseline a no-neighbour fill has to beat, listed so the no-neighbour rows stand on their own.
    Method("oracle + telea, no neighbours", "oracle", "telea", neighbours="none"),
    Method("oracle + temporal median, no neighbours", "oracle", "temporal_median", neighbours="none"),
)


def method_runners(config: RestoreConfig, models: Models) -> tuple[dict[str, BenchDetector], dict[str, BenchInpainter]]:
    """The benchmark's callables for every registered method ``models`` can run (those without
    weights, and those whose network is loaded), plus ``none``; each runs through the core with
    ``config``'s settings."""

    def detector(name: str) -> BenchDetector:
        cfg = replace(config, detector=name)
        return lambda frame, neighbours, i: detect(frame, neighbours, i, cfg, models)

    def inpainter(name: str) -> BenchInpainter:
        cfg = replace(config, inpainter=name)
        return lambda frame, mask, neighbours, i: fill(frame, mask, neighbours, i, cfg, models)[0]

    def runnable(weights: str | None) -> bool:
        return weights is None or getattr(models, weights) is not None

    detectors: dict[str, BenchDetector] = {"none": lambda frame, neighbours, i: np.zeros(frame.shape[:2], bool)}
    detectors.update({name: detector(name) for name, m in DETECTORS.items() if runnable(m.weights)})
    inpainters: dict[str, BenchInpainter] = {"none": lambda frame, mask, neighbours, i: frame}
    inpainters.update({name: inpainter(name) for name, m in INPAINTERS.items() if runnable(m.weights)})
    return detectors, inpainters


CLASSICAL = method_runners(RestoreConfig(detector="temporal", inpainter="temporal_median"), Models())


def load_clip(path: str | Path, config: BenchConfig) -> tuple[np.ndarray, dict]:
    """The film-like clean reference ``(T, H, W, C)`` of a clip window, and where it came from."""
    info = probe(path)
    count = min(config.frames, info.frame_count)
    start = info.frame_count - count if config.start is None else config.start
    frames = read_frames(info, start, start + count)
    if config.gray and frames.shape[-1] == 3:
        frames = to_gray(frames)
    clean = add_film_look(frames, grain=config.grain, flicker=config.flicker, seed=config.seed)
    return clean, {"clip": Path(path).name, "start": start, "frames": count, "size": f"{info.width}x{info.height}"}


def withheld(neighbours: list) -> list:
    """One frame's ``(warped, valid)`` neighbours from :func:`compensate` as if none were there:
    as many, each black with no valid pixel (:func:`restoration.motion.flow.no_neighbour`)."""
    return [no_neighbour(warped.shape) for warped, _ in neighbours]


def run_benchmark(
    clean: np.ndarray,
    config: BenchConfig,
    methods: tuple[Method, ...] = BASELINES,
    detectors: dict[str, BenchDetector] | None = None,
    inpainters: dict[str, BenchInpainter] | None = None,
    motion: MotionConfig = MotionConfig(),
    on_frame: Callable[[], None] | None = None,
) -> dict:
    """Damage ``clean`` ``(T, H, W, C)`` and score every method. Returns a JSON-ready dict.

    ``detectors`` / ``inpainters``: from :func:`method_runners` (default: the classical methods).
    """
    detectors = {**CLASSICAL[0], **(detectors or {})}
    inpainters = {**CLASSICAL[1], **(inpainters or {})}
    damaged = simulate_damage(clean, DamageConfig(level=config.level, seed=config.seed, sprites_dir=config.sprites_dir))
    truth = damaged.mask
    # Every frame's motion is kept for the damage-aware neighbours each detector's masks call for.
    motion_cache = MotionCache()
    neighbours = [compensate(damaged.frames, i, config=motion, cache=motion_cache) for i in range(len(clean))]
    flows = consecutive_flows(clean)
    clean_flicker = warping_error(clean, flows=flows)
    # A reel has two end frames (steady with one side only) in thousands; a short window two in a few.
    # Flicker over the frames that have both neighbours is what the body of a reel gets.
    interior = len(clean) >= 4
    clean_interior = warping_error(clean[1:-1], flows=flows[1:-1]) if interior else None
    results = []
    # Methods sharing a detector share its masks (and its measured time): detection is deterministic.
    detected: dict[str, tuple[np.ndarray, float]] = {"oracle": (truth, 0.0)}
    aware_neighbours: dict[str, list] = {}  # detector -> neighbours without their own frames' damage
    for method in methods:
        if method.detector not in detected:
            t0 = time.perf_counter()
            found = np.stack([detectors[method.detector](f, neighbours[i], i) for i, f in enumerate(damaged.frames)])
            detected[method.detector] = (found, time.perf_counter() - t0)
        masks, t_detect = detected[method.detector]
        if method.neighbours == "none":
            given = [withheld(nb) for nb in neighbours]
        else:
            if method.aware and method.detector not in aware_neighbours:
                aware_neighbours[method.detector] = [
                    compensate(damaged.frames, i, config=motion, damage=masks, cache=motion_cache) for i in range(len(clean))
                ]
            given = aware_neighbours[method.detector] if method.aware else neighbours
        restored = np.empty_like(damaged.frames)
        t0 = time.perf_counter()
        for i, frame in enumerate(damaged.frames):
            restored[i] = inpainters[method.inpainter](frame, masks[i], given[i], i)
            if on_frame:
                on_frame()
        t_inpaint = time.perf_counter() - t0
        results.append(
            {
                "method": method.name,
                "detector": method.detector,
                "inpainter": method.inpainter,
                "aware": method.aware,
                "neighbours": method.neighbours,
                **score_restoration(clean, damaged.frames, restored, truth, masks, damaged.class_map),
                "flicker": warping_error(restored, clean, flows=flows),
                "flicker_clean": clean_flicker,
                "flicker_interior": warping_error(restored[1:-1], clean[1:-1], flows=flows[1:-1]) if interior else None,
                "flicker_clean_interior": clean_interior,
                "seconds_per_frame_detect": t_detect / len(clean),
                "seconds_per_frame_inpaint": t_inpaint / len(clean),
            }
        )
    return {
        "config": asdict(config),
        "damage_coverage": float(truth.mean()),
        "frame_shape": list(clean.shape[1:]),
        "methods": results,
    }


def run_false_alarms(
    clean: np.ndarray,
    detector_names: tuple[str, ...],
    detectors: dict[str, BenchDetector] | None = None,
    motion: MotionConfig = MotionConfig(),
) -> dict:
    """Run detectors on an undamaged film-like clip ``(T, H, W, C)`` (grain and flicker only).

    Every flagged pixel is a false alarm. Returns a JSON-ready dict: per detector the flagged
    fraction over the clip, the largest fraction on one frame, the flagged fraction of the picture's
    long vertical structure (:func:`restoration.evaluate.metrics.vertical_structure`: poles, door
    frames, text, which a line-scratch detector may take for damage), and seconds per frame.
    """
    detectors = {**CLASSICAL[0], **(detectors or {})}
    neighbours = [compensate(clean, i, config=motion) for i in range(len(clean))]
    vertical = np.stack([vertical_structure(f) for f in clean])
    out = {}
    for name in detector_names:
        t0 = time.perf_counter()
        flagged = np.stack([detectors[name](f, neighbours[i], i) for i, f in enumerate(clean)])
        per_frame = flagged.reshape(len(clean), -1).mean(axis=1)
        out[name] = {
            "flagged_fraction": float(flagged.mean()),
            "max_frame_fraction": float(per_frame.max()),
            "flagged_pixels": int(flagged.sum()),
            "flagged_vertical_fraction": float(flagged[vertical].mean()) if vertical.any() else None,
            "seconds_per_frame": (time.perf_counter() - t0) / len(clean),
        }
    return {
        "frame_shape": list(clean.shape[1:]),
        "frames": len(clean),
        "vertical_structure_fraction": float(vertical.mean()),
        "detectors": out,
    }


def score_restoration(
    clean: np.ndarray,
    damaged: np.ndarray,
    restored: np.ndarray,
    truth: np.ndarray,
    predicted: np.ndarray,
    class_map: np.ndarray,
) -> dict:
    """Detection and restoration scores of one method on one clip. All arrays ``(T, H, W[, C])``.

    ``psnr_in_mask_by_size``: the in-mask PSNR per damage size (true mask components, 8-connected,
    per frame; :func:`restoration.evaluate.metrics.psnr_by_size`), each ``{"psnr", "pixels"}``,
    only the sizes present.
    """
    detection = detection_scores(predicted, truth)
    per_class = {}
    for k, name in enumerate(DAMAGE_CLASSES, start=1):
        in_class = class_map == k
        if in_class.any():
            per_class[name] = {"pixels": int(in_class.sum()), "recall": float(predicted[in_class].mean())}
    return {
        "detection": {k: float(v) for k, v in detection.items()},
        "recall_per_class": per_class,
        "recall_per_object": object_recall(predicted, truth),
        "psnr_in_mask": psnr(restored, clean, mask=truth),
        "psnr_in_mask_by_size": psnr_by_size(restored, clean, truth),
        "psnr_in_mask_damaged": psnr(damaged, clean, mask=truth),
        "ssim_in_mask": float(np.mean([ssim_in_mask(r, c, m) for r, c, m in zip(restored, clean, truth) if m.any()])),
        "psnr_frame": psnr(restored, clean),
        "changed_outside": int(changed_outside(damaged, restored, truth)),
        "changed_outside_fraction": float(changed_outside(damaged, restored, truth) / truth.size),
    }


def available_methods(
    config: RestoreConfig = RestoreConfig(), palette: bool = False
) -> tuple[tuple[Method, ...], dict[str, BenchDetector], dict[str, BenchInpainter]]:
    """Every method this installation can run: the baselines, plus the trained models when shipped.

    The diffusion methods run as ``restoration restore`` runs them (``config``'s settings, device
    and precision, each frame seeded by its index). The Palette inpainter costs seconds a frame on
    a CPU, so it is included only when ``palette`` is asked for.
    """
    have_detector, have_inpainter = shipped("detector").is_file(), palette and shipped("inpainter").is_file()
    wanted = replace(
        config,
        detector="diffedit" if have_detector else "temporal",
        inpainter="palette" if have_inpainter else "temporal_median",
    )
    detectors, inpainters = method_runners(config, load_models(wanted))
    methods = list(BASELINES)
    if have_detector:
        methods += [Method("diffedit + temporal median", "diffedit", "temporal_median")]
    if have_inpainter:
        methods += [
            Method("temporal + palette", "temporal", "palette"),
            Method("oracle + palette", "oracle", "palette"),
            Method("oracle + palette, no neighbours", "oracle", "palette", neighbours="none"),
        ]
    if have_detector and have_inpainter:
        methods += [Method("diffedit + palette", "diffedit", "palette")]
    return tuple(methods), detectors, inpainters
