"""One reel through the whole job: detect damage, fill it, record the diff, encode the master.

``restore_range`` is the unit of work (a chunk of frames, read with temporal context either side,
results written straight to the store); ``restore_reel`` runs every chunk not yet done and encodes.
Orchestrators (the CLI, the Prefect flows) call these; they hold no state of their own, so a run
killed at any point resumes from the store's status array.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

import torch

from restoration.compute import DEVICES, PRECISIONS, Compute
from restoration.consistency import ConsistencyConfig, check_frame
from restoration.detect_diffedit import DiffEditConfig, detect_damage, load_detector
from restoration.detect_temporal import SpikeDetectorConfig, detect_spikes
from restoration.encode import EncodeConfig, check_writable_folder, write_access_copy, write_master
from restoration.errors import OutputExistsError, ReelError, RestorationError, StoreError
from restoration.inpaint_classical import inpaint_temporal_median
from restoration.inpaint_diffusion import PaletteConfig, inpaint_palette, load_inpainter
from restoration.methods import DEFAULT_DETECTOR, DEFAULT_INPAINTER, DETECTORS, INPAINTERS
from restoration.motion import MotionConfig, compensate
from restoration.outputs import is_current, output_record, record_output
from restoration.reel import ReelInfo, iter_frames, probe, read_frames, sha256_file
from restoration.store import SCORE_NAMES, STATUS, FrameResults, ProvenanceStore
from restoration.weights import shipped


# OpenCV's DIS flow refuses frames under 12 px and crashes the process (SIGSEGV) on some under 16.
MIN_FRAME_SIDE = 16


@dataclass(frozen=True)
class RestoreConfig:
    """Everything that decides a restoration's result; written into the store's event log.

    ``detector_weights`` / ``inpainter_weights``: None = the weights shipped with the package.
    ``context_frames``: frames read either side of a chunk (at least 2: the frames next to a chunk
    are detected too, with their own neighbours, so that their damage is not copied into it).
    Every frame's randomness comes from ``seed`` and the frame's number, so a frame restores the
    same whatever chunk or worker it falls in.
    ``device``: "auto" (CUDA when available), "cpu" or "cuda"; ``precision``: the networks'
    precision, "auto" = bfloat16 only where the hardware computes it natively, else float32
    (:mod:`restoration.compute`). Both are resolved once when the models load and recorded.
    """

    detector: str = DEFAULT_DETECTOR
    inpainter: str = DEFAULT_INPAINTER
    detector_weights: str | None = None
    inpainter_weights: str | None = None
    chunk_frames: int = 16
    context_frames: int = 2
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    motion: MotionConfig = field(default_factory=MotionConfig)
    spikes: SpikeDetectorConfig = field(default_factory=SpikeDetectorConfig)
    diffedit: DiffEditConfig = field(default_factory=DiffEditConfig)
    palette: PaletteConfig = field(default_factory=PaletteConfig)
    consistency: ConsistencyConfig = field(default_factory=ConsistencyConfig)
    encode: EncodeConfig = field(default_factory=EncodeConfig)

    def __post_init__(self):
        if self.detector not in DETECTORS:
            raise ValueError(f"unknown detector {self.detector!r}; choose from {tuple(DETECTORS)}")
        if self.inpainter not in INPAINTERS:
            raise ValueError(f"unknown inpainter {self.inpainter!r}; choose from {tuple(INPAINTERS)}")
        if self.device not in DEVICES and not self.device.startswith("cuda:"):
            raise ValueError(f"unknown device {self.device!r}; choose from {DEVICES} (or cuda:N)")
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; choose from {PRECISIONS}")
        if self.chunk_frames < 1:
            raise ValueError("chunk_frames must be at least 1")
        if self.context_frames < 2:
            # The frames next to a chunk are detected too (their damage must not be copied), and
            # need their own neighbours to be detected as their own chunk detects them.
            raise ValueError("context_frames must be at least 2")


@dataclass
class Models:
    """The loaded diffusion models a configuration needs (None where a classical method runs),
    and the device and precision they run in."""

    detector: tuple | None = None
    inpainter: tuple | None = None
    weights: dict[str, dict] = field(default_factory=dict)
    compute: Compute = field(default_factory=lambda: Compute(torch.device("cpu"), torch.float32))


def load_models(config: RestoreConfig) -> Models:
    """Load the weights ``config`` names, recording their SHA-256, on the device and in the
    precision resolved from ``config`` and the machine (:meth:`Compute.resolve`; a CUDA device
    on a machine without one is a :class:`RestorationError`)."""
    models = Models(compute=Compute.resolve(config.device, config.precision))
    for name, wanted, path, loader in (
        ("detector", config.detector == "diffedit", config.detector_weights, load_detector),
        ("inpainter", config.inpainter == "palette", config.inpainter_weights, load_inpainter),
    ):
        if not wanted:
            continue
        path = Path(path) if path else shipped(name)
        if not path.is_file():
            raise RestorationError(f"{path}: {name} weights not found")
        model, scheduler = loader(path)
        setattr(models, name, (model.to(models.compute.device), scheduler))
        models.weights[name] = {"path": str(path), "sha256": sha256_file(path)}
    return models


def frame_generator(config: RestoreConfig, frame_number: int) -> torch.Generator:
    """The frame's own random stream: the same for a frame whichever chunk or worker restores it."""
    return torch.Generator(device="cpu").manual_seed(int(config.seed * 1_000_003 + frame_number))


@dataclass(frozen=True)
class ReelOutputs:
    """Where one reel's results go inside an output folder."""

    store: Path
    master: Path
    access: Path

    @classmethod
    def in_folder(cls, out_dir: Path, info: ReelInfo) -> ReelOutputs:
        stem = Path(info.path).stem
        return cls(out_dir / f"{stem}.zarr", out_dir / f"{stem}.master.mkv", out_dir / f"{stem}.access.mp4")


def chunk_ranges(frame_count: int, chunk_frames: int) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` covering ``[0, frame_count)`` in chunks of ``chunk_frames``."""
    return [(a, min(a + chunk_frames, frame_count)) for a in range(0, frame_count, chunk_frames)]


def method_description(config: RestoreConfig, models: Models | None = None) -> dict:
    """What ran, for the provenance: methods, and the SHA-256 of the weights they used."""
    weights = models.weights if models else {}
    out = {
        "detector": {"name": config.detector, "kind": DETECTORS[config.detector], "weights": weights.get("detector")},
        "inpainter": {"name": config.inpainter, "kind": INPAINTERS[config.inpainter], "weights": weights.get("inpainter")},
    }
    if models:
        out["compute"] = models.compute.describe()
    return out


def detect_frame(
    frames: np.ndarray, index: int, frame_number: int, config: RestoreConfig, models: Models, cache: dict | None = None
) -> np.ndarray:
    """The damage mask of ``frames[index]`` (reel frame ``frame_number``) from it and its neighbours.

    ``frames`` is ``(T, H, W, C)``; ``cache``: the motion cache of :func:`restoration.motion.compensate`.
    Returns bool ``(H, W)``.
    """
    frame = frames[index]
    neighbours = compensate(frames, index, config=config.motion, cache=cache)
    proposals = detect_spikes(frame, neighbours, config.spikes)
    if config.detector != "diffedit":
        return proposals
    model, scheduler = models.detector
    return detect_damage(
        frame, neighbours, model, scheduler, config.diffedit, frame_generator(config, frame_number),
        proposals=proposals, dtype=models.compute.dtype,
    )


def fill_frame(
    frames: np.ndarray,
    masks: np.ndarray,
    index: int,
    frame_number: int,
    config: RestoreConfig,
    models: Models,
    cache: dict | None = None,
) -> tuple[np.ndarray, np.ndarray, str | None]:
    """Fill ``masks[index]`` in ``frames[index]`` and check the result against the neighbours.

    ``frames`` ``(T, H, W, C)``; ``masks`` bool ``(T, H, W)``, the damage found on each frame (all
    False where a frame was not examined). A neighbour's own damage is never copied: its pixels
    are invalid neighbours (``compensate(..., damage=masks)``; ``cache`` as for :func:`detect_frame`,
    so that the frame's motion is not estimated twice). Returns ``(restored (H, W, C) of the
    frames' dtype, scores (S,) float32 named by ``SCORE_NAMES``, reason the frame is flagged or
    None)``; ``restored`` differs from the frame only under ``masks[index]``.
    """
    frame, mask = frames[index], masks[index]
    neighbours = compensate(frames, index, config=config.motion, damage=masks, cache=cache)
    spread = None
    if config.inpainter == "palette":
        model, scheduler = models.inpainter
        restored, spread = inpaint_palette(
            frame, mask, neighbours, model, scheduler, config.palette, frame_generator(config, frame_number), models.compute.dtype
        )
    else:
        restored = inpaint_temporal_median(frame, mask, neighbours)
    checks, flagged, reason = check_frame(restored, mask, neighbours, spread, config.consistency)
    scores = np.array([mask.mean(), checks["warp_ratio"], checks["spread_mean"]], np.float32)
    return restored, scores, reason if flagged else None


def restore_frames(
    frames: np.ndarray, indices: Sequence[int], first_number: int, config: RestoreConfig, models: Models
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, str | None]]:
    """Detect, fill and check ``frames[i]`` for each ``i`` in ``indices``.

    ``frames`` ``(T, H, W, C)`` holds reel frames ``first_number ...``. Damage is detected on the
    frames themselves and on the frames next to them (inside ``frames``), so that the fill knows
    which neighbour pixels are damaged too; a frame's mask depends on the frame and its neighbours
    only, so it is the same whichever chunk detects it. Returns per index ``(mask (H, W) bool,
    restored, scores, reason)`` as :func:`fill_frame`.
    """
    masks = np.zeros(frames.shape[:3], bool)
    detected: set[int] = set()
    cache: dict = {}  # (frame, neighbour) -> motion, kept from a frame's detection to its fill
    out = []
    for i in indices:
        for j in (i - 1, i, i + 1):
            if 0 <= j < len(frames) and j not in detected:
                masks[j] = detect_frame(frames, j, first_number + j, config, models, cache)
                detected.add(j)
        out.append((masks[i], *fill_frame(frames, masks, i, first_number + i, config, models, cache)))
        for key in [k for k in cache if k[0] <= i]:
            del cache[key]  # at 2K a frame's motion is 100 MB: keep only what is still to be used
    return out


def restore_range(
    store: ProvenanceStore, start: int, stop: int, config: RestoreConfig, models: Models | None = None
) -> None:
    """Restore frames ``[start, stop)``, reading context frames either side, and store the results.

    Context crosses chunk borders, so a chunk's result does not depend on how the reel was cut.
    Flagged frames get the status ``flagged`` and a ``frame_flagged`` event with the reason.
    """
    models = models or load_models(config)
    info = store.info
    lo = max(0, start - config.context_frames)
    hi = min(info.frame_count, stop + config.context_frames)
    frames = read_frames(info, lo, hi)
    n = stop - start
    masks = np.zeros((n, info.height, info.width), bool)
    restored = frames[start - lo : stop - lo].copy()
    scores = np.full((n, len(SCORE_NAMES)), np.nan, np.float32)
    status = np.full(n, STATUS["done"], np.uint8)
    reasons = {}
    done = restore_frames(frames, range(start - lo, stop - lo), lo, config, models)
    for k, (masks[k], restored[k], scores[k], reason) in enumerate(done):
        if reason:
            status[k] = STATUS["flagged"]
            reasons[start + k] = reason
    store.write(
        FrameResults(
            start=start,
            mask=masks,
            original=frames[start - lo : stop - lo],
            restored=restored,
            scores=scores,
            status=status,
        )
    )
    for frame_number, reason in reasons.items():
        store.log_event("frame_flagged", frame=frame_number, reason=reason, by="consistency check")


def pending_ranges(store: ProvenanceStore, chunk_frames: int) -> list[tuple[int, int]]:
    """Chunks with at least one frame still to do (:meth:`ProvenanceStore.todo`)."""
    todo = store.todo()
    return [(a, b) for a, b in chunk_ranges(store.frame_count, chunk_frames) if todo[a:b].any()]


def open_or_create_store(info: ReelInfo, out_dir: Path, config: RestoreConfig) -> tuple[ProvenanceStore, ReelOutputs]:
    """Open the reel's store in ``out_dir``, creating it on the first run.

    Refuses when the master already exists (the reel is finished), when the store belongs to a
    different file (another SHA-256), a frame too small to restore, or an output folder that cannot
    be written, before anything is created.
    """
    if min(info.width, info.height) < MIN_FRAME_SIDE:
        raise ReelError(
            f"{info.path}: frames of {info.width}x{info.height} are too small to restore: motion estimation "
            f"needs at least {MIN_FRAME_SIDE} px each way"
        )
    check_writable_folder(Path(out_dir))
    outputs = ReelOutputs.in_folder(Path(out_dir), info)
    store = ProvenanceStore(outputs.store) if outputs.store.exists() else None
    if store is not None and store.info.sha256 != info.sha256:
        raise StoreError(
            f"{outputs.store}: store belongs to another file (SHA-256 {store.info.sha256[:12]}…, "
            f"this reel {info.sha256[:12]}…)"
        )
    if outputs.master.exists() and (store is None or not _resumable(store, outputs, config)):
        raise OutputExistsError(f"{outputs.master}: output already exists; remove it or choose another --out")
    return store or ProvenanceStore.create(outputs.store, info), outputs


def _resumable(store: ProvenanceStore, outputs: ReelOutputs, config: RestoreConfig) -> bool:
    """An existing master is this store's own and its run stopped before every output was made."""
    from restoration.runs import unfinished_run

    if output_record(store, "master", outputs.master) is None:
        return False
    done = is_current(store, "master", outputs.master) and (
        not config.encode.access_copy or is_current(store, "access", outputs.access, outputs.master)
    )
    return not done or unfinished_run(store.events()) is not None


def encode_outputs(
    store: ProvenanceStore,
    outputs: ReelOutputs,
    config: RestoreConfig,
    on_frame: Callable[[], None] | None = None,
) -> list[str]:
    """Encode source ⊕ stored diff as the master (and the access copy), chunk by chunk; returns
    which outputs were made (``"master"``, ``"access"``).

    Each is a stage with its own done mark (:mod:`restoration.outputs`): one already current is
    not made again, so a run killed after the master resumes with the access copy. An output is
    replaced atomically. Every frame's diff is checked against its CRC as it is read (:meth:`ProvenanceStore.apply`).
    """
    info = store.info

    def restored_frames():
        for a, b in chunk_ranges(info.frame_count, config.chunk_frames):
            yield from store.apply(read_frames(info, a, b), a)

    made = []
    if not is_current(store, "master", outputs.master):
        made.append("master")
        write_master(
            outputs.master, info, restored_frames(), config.encode, on_frame=on_frame, replace=True,
            on_complete=lambda tmp: record_output(store, "master", outputs.master, tmp),
        )
    if config.encode.access_copy and not is_current(store, "access", outputs.access, outputs.master):
        made.append("access")
        made_from = output_record(store, "master", outputs.master)["sha256"]
        write_access_copy(
            outputs.access, info, iter_frames(probe(outputs.master)), config.encode, replace=True,
            on_complete=lambda tmp: record_output(store, "access", outputs.access, tmp, made_from),
        )
    return made


def restore_reel(
    info: ReelInfo,
    out_dir: Path,
    config: RestoreConfig = RestoreConfig(),
    on_chunk: Callable[[int, int], None] | None = None,
    on_frame: Callable[[], None] | None = None,
) -> ReelOutputs:
    """Restore a probed reel into ``out_dir``, resuming from the store if a run was interrupted."""
    store, outputs = open_or_create_store(info, out_dir, config)
    models = load_models(config)
    todo = pending_ranges(store, config.chunk_frames)
    store.log_event("run_started", config=asdict(config), chunks_pending=len(todo), methods=method_description(config, models))
    for a, b in todo:
        restore_range(store, a, b, config, models)
        if on_chunk:
            on_chunk(a, b)
    encode_outputs(store, outputs, config, on_frame=on_frame)
    store.log_event("run_finished", master=str(outputs.master), summary=store.summary())
    return outputs


def revert_output(master: Path, store: ProvenanceStore, dest: Path, chunk_frames: int = 16) -> Path:
    """Rebuild the source frames from a restored master and its store, as an FFV1 master at ``dest``.

    The pixels are bit-exact to the source's decoded frames; audio, rate and timecode come along.
    """
    check_writable_folder(Path(dest).parent, "folder for --out")
    store.verify()
    info = probe(master)
    if info.metadata.get("SOURCE_SHA256") != store.info.sha256:
        raise StoreError(f"{master}: was not made from the reel this store records ({store.info.path})")

    def source_frames():
        for a, b in chunk_ranges(info.frame_count, chunk_frames):
            yield from store.revert(read_frames(info, a, b), a)

    write_master(dest, info, source_frames(), EncodeConfig(access_copy=False))
    store.log_event("reverted", master=str(master), dest=str(dest))
    return dest
