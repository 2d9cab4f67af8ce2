"""The per-frame restore: detect a frame's damage, fill it, check the fill. One copy, used by all.

The pipeline (chunks of a reel into the store), reprocessing, the benchmark and the speed scripts
all restore a frame through these functions, so every figure the benchmark reports describes what
``restoration restore`` does. Nothing here touches the provenance store or Prefect.

- :class:`RestoreConfig`: everything that decides a result (written into the provenance).
- :func:`load_models`: the weights the configured methods need, on the resolved device/precision.
- :func:`frame_generator`: a frame's own random stream (the same in whichever chunk or worker).
- :func:`detect` / :func:`fill`: one frame with its neighbours already motion-compensated;
  :func:`detect_frame` / :func:`fill_frame`: the same from a window of frames (motion estimated
  here, and cached between a frame's detection and its fill); :func:`restore_frames`: both over
  a window, the neighbours' damage known before a frame is filled; :func:`restore_window`: reel
  frames ``[start, stop)`` read with their context and restored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from restoration.check.consistency import SCORE_NAMES, ConsistencyConfig, check_frame
from restoration.core.compute import DEVICES, PRECISIONS, RUNTIMES, Compute
from restoration.core.methods import DEFAULT_DETECTOR, DEFAULT_INPAINTER, DETECTORS, INPAINTERS, LATENT_METHODS
from restoration.detect.diffedit import DiffEditConfig, load_detector
from restoration.detect.temporal import SpikeDetectorConfig
from restoration.errors import RestorationError
from restoration.inpaint.palette import PaletteConfig, load_inpainter
from restoration.io.encode import EncodeConfig
from restoration.io.reel import ReelInfo, read_frames, sha256_file
from restoration.models.latent import LatentConfig, LatentModel, load_latent
from restoration.models.runtime import prepare_unet
from restoration.models.weights import shipped
from restoration.motion.flow import MotionCache, MotionConfig, compensate

# Why a frame is flagged when its detector could not look at it.
NOT_EXAMINED = "not examined: the detector needs two valid neighbours (a scene cut, or a reel under three frames)"


@dataclass(frozen=True)
class RestoreConfig:
    """Everything that decides a restoration's result; written into the store's event log.

    ``detector`` / ``inpainter``: method names of :mod:`restoration.core.methods`.
    ``detector_weights`` / ``inpainter_weights``: None = the weights shipped with the package.
    ``context_frames``: frames read either side of a chunk (at least 2: the frames next to a chunk
    are detected too, with their own neighbours, so that their damage is not copied into it).
    Every frame's randomness comes from ``seed`` and the frame's number, so a frame restores the
    same whatever chunk or worker it falls in.
    ``device``: "auto" (CUDA when available), "cpu" or "cuda"; ``precision``: the networks'
    precision, "auto" = bfloat16 only where the hardware computes it natively, else float32
    (:mod:`restoration.core.compute`). Both are resolved once when the models load and recorded.
    ``latent_weights``: the local Stable Diffusion folder the ``sd-inpaint`` inpainter and the
    ``sd-diffedit`` detector run (:mod:`restoration.models.latent`); ``latent`` their settings.
    """

    detector: str = DEFAULT_DETECTOR
    inpainter: str = DEFAULT_INPAINTER
    detector_weights: str | None = None
    inpainter_weights: str | None = None
    latent_weights: str | None = None
    chunk_frames: int = 16
    context_frames: int = 2
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    runtime: str = "auto"
    motion: MotionConfig = field(default_factory=MotionConfig)
    spikes: SpikeDetectorConfig = field(default_factory=SpikeDetectorConfig)
    diffedit: DiffEditConfig = field(default_factory=DiffEditConfig)
    palette: PaletteConfig = field(default_factory=PaletteConfig)
    latent: LatentConfig = field(default_factory=LatentConfig)
    consistency: ConsistencyConfig = field(default_factory=ConsistencyConfig)
    encode: EncodeConfig = field(default_factory=EncodeConfig)

    def __post_init__(self):
        if self.detector not in DETECTORS:
            raise ValueError(f"unknown detector {self.detector!r}; choose from {tuple(DETECTORS)}")
        if self.inpainter not in INPAINTERS:
            raise ValueError(f"unknown inpainter {self.inpainter!r}; choose from {tuple(INPAINTERS)}")
        if self.latent_weights is None and {self.detector, self.inpainter} & set(LATENT_METHODS):
            raise ValueError("sd-inpaint and sd-diffedit need a local Stable Diffusion folder (--weights DIR)")
        if self.device not in DEVICES and not self.device.startswith("cuda:"):
            raise ValueError(f"unknown device {self.device!r}; choose from {DEVICES} (or cuda:N)")
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; choose from {PRECISIONS}")
        if self.runtime not in RUNTIMES:
            raise ValueError(f"unknown runtime {self.runtime!r}; choose from {RUNTIMES}")
        if self.chunk_frames < 1:
            raise ValueError("chunk_frames must be at least 1")
        if self.context_frames < 2:
            # The frames next to a chunk are detected too (their damage must not be copied), and
            # need their own neighbours to be detected as their own chunk detects them.
            raise ValueError("context_frames must be at least 2")


@dataclass
class Models:
    """The loaded networks the configured methods need (None where a classical method runs), the
    weights they came from, and the device and precision they run in."""

    detector: tuple | None = None
    inpainter: tuple | None = None
    latent: LatentModel | None = None
    weights: dict[str, dict] = field(default_factory=dict)
    compute: Compute = field(default_factory=lambda: Compute(torch.device("cpu"), torch.float32))


_LOADERS = {"detector": load_detector, "inpainter": load_inpainter}


def load_models(config: RestoreConfig) -> Models:
    """Load the weights ``config``'s methods need, recording their SHA-256, on the device and in
    the precision and runtime resolved from ``config`` and the machine (:meth:`Compute.resolve`; a
    CUDA device on a machine without one is a :class:`RestorationError`). A network run by ONNX
    Runtime or OpenVINO is exported here, with the run's torch thread count."""
    models = Models(compute=Compute.resolve(config.device, config.precision, config.runtime))
    if {config.detector, config.inpainter} & set(LATENT_METHODS):
        assert config.latent_weights is not None  # RestoreConfig requires it for the latent methods
        models.latent = load_latent(config.latent_weights, models.compute.device)
        for role in ("detector", "inpainter"):
            if getattr(config, role) in LATENT_METHODS:
                models.weights[role] = models.latent.describe()
    for method, given in ((DETECTORS[config.detector], config.detector_weights), (INPAINTERS[config.inpainter], config.inpainter_weights)):
        name = method.weights
        if name not in _LOADERS:
            continue
        path = Path(given) if given else shipped(name)
        if not path.is_file():
            raise RestorationError(f"{path}: {name} weights not found")
        model, scheduler = _LOADERS[name](path)
        net = prepare_unet(model.to(models.compute.device), models.compute.runtime, torch.get_num_threads(), models.compute.dtype)
        setattr(models, name, (net, scheduler))
        models.weights[name] = {"path": str(path), "sha256": sha256_file(path)}
    return models


def frame_generator(config: RestoreConfig, frame_number: int) -> torch.Generator:
    """The frame's own random stream: the same for a frame whichever chunk or worker restores it."""
    return torch.Generator(device="cpu").manual_seed(int(config.seed * 1_000_003 + frame_number))


def method_description(config: RestoreConfig, models: Models | None = None) -> dict:
    """What ran, for the provenance: methods, the SHA-256 of their weights, device and precision."""
    weights = models.weights if models else {}
    out: dict = {
        "detector": {"name": config.detector, "kind": DETECTORS[config.detector].description, "weights": weights.get("detector")},
        "inpainter": {"name": config.inpainter, "kind": INPAINTERS[config.inpainter].description, "weights": weights.get("inpainter")},
    }
    if models:
        out["compute"] = models.compute.describe()
    return out


def detect(frame: np.ndarray, neighbours: list, frame_number: int, config: RestoreConfig, models: Models) -> np.ndarray:
    """The damage mask bool ``(H, W)`` of ``frame`` ``(H, W, C)`` (reel frame ``frame_number``)
    given its motion-compensated ``neighbours`` (:func:`restoration.motion.flow.compensate`)."""
    method = DETECTORS[config.detector]
    model = getattr(models, method.weights) if method.weights else None
    return method.run(frame, neighbours, config, model, frame_generator(config, frame_number), models.compute.dtype)


def fill(
    frame: np.ndarray, mask: np.ndarray, neighbours: list, frame_number: int, config: RestoreConfig, models: Models
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(restored, spread)``: ``frame`` with ``mask`` filled by the configured inpainter.

    ``neighbours`` should leave out each neighbour's own damage (``compensate(..., damage=)``).
    ``restored`` equals ``frame`` bit-exactly outside ``mask``; ``spread`` float32 ``(H, W)``
    (the spread of the inpainter's samples) or None for a method without samples.
    """
    method = INPAINTERS[config.inpainter]
    model = getattr(models, method.weights) if method.weights else None
    return method.run(frame, mask, neighbours, config, model, frame_generator(config, frame_number), models.compute.dtype)


def detect_frame(
    frames: np.ndarray, index: int, frame_number: int, config: RestoreConfig, models: Models, cache: MotionCache | None = None
) -> np.ndarray:
    """The damage mask of ``frames[index]`` (reel frame ``frame_number``) from it and its neighbours.

    ``frames`` is ``(T, H, W, C)``; ``cache``: the motion cache of :func:`restoration.motion.flow.compensate`.
    Returns bool ``(H, W)``.
    """
    neighbours = compensate(frames, index, config=config.motion, cache=cache)
    return detect(frames[index], neighbours, frame_number, config, models)


def fill_frame(
    frames: np.ndarray,
    masks: np.ndarray,
    index: int,
    frame_number: int,
    config: RestoreConfig,
    models: Models,
    cache: MotionCache | None = None,
) -> tuple[np.ndarray, np.ndarray, str | None]:
    """Fill ``masks[index]`` in ``frames[index]`` and check the result against the neighbours.

    ``frames`` ``(T, H, W, C)``; ``masks`` bool ``(T, H, W)``, the damage found on each frame (all
    False where a frame was not examined). A neighbour's own damage is never copied: its pixels
    are invalid neighbours (``compensate(..., damage=masks)``; ``cache`` as for :func:`detect_frame`,
    so that the frame's motion is not estimated twice). Returns ``(restored (H, W, C) of the
    frames' dtype, scores (S,) float32 named by ``SCORE_NAMES``, reason the frame is flagged or
    None)``; ``restored`` differs from the frame only under ``masks[index]``. A frame whose detector
    needs two neighbours and has fewer valid ones is flagged :data:`NOT_EXAMINED`.
    """
    mask = masks[index]
    neighbours = compensate(frames, index, config=config.motion, damage=masks, cache=cache)
    restored, spread = fill(frames[index], mask, neighbours, frame_number, config, models)
    checks, flagged, reason = check_frame(restored, mask, neighbours, spread, config.consistency)
    scores = np.array([mask.mean(), checks["warp_ratio"], checks["spread_mean"]], np.float32)
    if DETECTORS[config.detector].needs_neighbours(config) and sum(bool(valid.any()) for _, valid in neighbours) < 2:
        # Never marked done silently: the detector looks only where two neighbours disagree.
        return restored, scores, NOT_EXAMINED
    return restored, scores, reason if flagged else None


def restore_frames(
    frames: np.ndarray,
    indices: Sequence[int],
    first_number: int,
    config: RestoreConfig,
    models: Models,
    on_frame: Callable[[], None] | None = None,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, str | None]]:
    """Detect, fill and check ``frames[i]`` for each ``i`` in ``indices``.

    ``frames`` ``(T, H, W, C)`` holds reel frames ``first_number ...``. Damage is detected on the
    frames themselves and on the frames next to them (inside ``frames``), so that the fill knows
    which neighbour pixels are damaged too; a frame's mask depends on the frame and its neighbours
    only, so it is the same whichever chunk detects it. Returns per index ``(mask (H, W) bool,
    restored, scores, reason)`` as :func:`fill_frame`; ``on_frame`` is called after each frame.
    """
    masks = np.zeros(frames.shape[:3], bool)
    detected: set[int] = set()
    cache = MotionCache()  # kept from a frame's detection to its fill and its neighbours' calls
    out = []
    last = len(frames) - 1
    for i in indices:
        # With mirror_ends the clip's end frames take their neighbours from one side: 1 and 2 (and
        # last-1, last-2), whose damage the fill must know too.
        ends = {0: (2,), last: (last - 2,)} if config.motion.mirror_ends else {}
        for j in (i - 1, i, i + 1, *ends.get(i, ())):
            if 0 <= j < len(frames) and j not in detected:
                masks[j] = detect_frame(frames, j, first_number + j, config, models, cache)
                detected.add(j)
        out.append((masks[i], *fill_frame(frames, masks, i, first_number + i, config, models, cache)))
        cache.forget(i)  # at 2K a frame's motion is about 130 MB: keep only what is still to be used
        if on_frame:
            on_frame()
    return out


@dataclass
class RestoredWindow:
    """Reel frames ``[start, stop)`` restored: ``original`` and ``restored`` ``(n, H, W, C)`` of the
    reel's dtype, ``mask`` bool ``(n, H, W)``, ``scores`` float32 ``(n, S)``, ``reasons``: frame
    number -> why it is flagged."""

    start: int
    original: np.ndarray
    restored: np.ndarray
    mask: np.ndarray
    scores: np.ndarray
    reasons: dict[int, str]


def restore_window(
    info: ReelInfo,
    start: int,
    stop: int,
    config: RestoreConfig,
    models: Models,
    on_frame: Callable[[], None] | None = None,
) -> RestoredWindow:
    """Restore reel frames ``[start, stop)``, read with ``config.context_frames`` either side.

    Context crosses chunk borders, so a frame's result does not depend on how the reel was cut.
    ``on_frame`` is called after each frame (progress).
    """
    if not 0 <= start < stop <= info.frame_count:
        raise ValueError(f"frames [{start}, {stop}) outside the reel's [0, {info.frame_count})")
    lo = max(0, start - config.context_frames)
    hi = min(info.frame_count, stop + config.context_frames)
    if config.motion.mirror_ends:
        # The reel's end frames use the second frame inward as a neighbour (mirror_ends), which is
        # detected with its own two neighbours: the window must reach the fourth frame in.
        if start == 0:
            hi = min(info.frame_count, max(hi, 4))
        if stop == info.frame_count:
            lo = max(0, min(lo, info.frame_count - 4))
    frames = read_frames(info, lo, hi)
    n = stop - start
    original = frames[start - lo : stop - lo]
    window = RestoredWindow(
        start,
        original,
        original.copy(),
        np.zeros((n, info.height, info.width), bool),
        np.full((n, len(SCORE_NAMES)), np.nan, np.float32),
        {},
    )
    done = restore_frames(frames, range(start - lo, stop - lo), lo, config, models, on_frame)
    for k, (window.mask[k], window.restored[k], window.scores[k], reason) in enumerate(done):
        if reason:
            window.reasons[start + k] = reason
    return window
