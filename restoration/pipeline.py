"""One reel through the whole job: detect damage, fill it, record the diff, encode the master.

``restore_range`` is the unit of work (a chunk of frames, read with temporal context either side,
results written straight to the store); ``restore_reel`` runs every chunk not yet done and encodes.
Orchestrators (the CLI, the Prefect flows) call these; they hold no state of their own, so a run
killed at any point resumes from the store's status array.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from restoration.detect_temporal import SpikeDetectorConfig, detect_spikes
from restoration.encode import EncodeConfig, write_access_copy, write_master
from restoration.errors import OutputExistsError, StoreError
from restoration.inpaint_classical import inpaint_temporal_median
from restoration.motion import MotionConfig, compensate
from restoration.reel import ReelInfo, iter_frames, probe, read_frames
from restoration.store import SCORE_NAMES, STATUS, FrameResults, ProvenanceStore

DETECTORS = ("temporal",)
INPAINTERS = ("temporal_median",)


@dataclass(frozen=True)
class RestoreConfig:
    """Everything that decides a restoration's result; written into the store's event log."""

    detector: str = "temporal"
    inpainter: str = "temporal_median"
    chunk_frames: int = 16
    context_frames: int = 2
    seed: int = 0
    motion: MotionConfig = field(default_factory=MotionConfig)
    spikes: SpikeDetectorConfig = field(default_factory=SpikeDetectorConfig)
    encode: EncodeConfig = field(default_factory=EncodeConfig)

    def __post_init__(self):
        if self.detector not in DETECTORS:
            raise ValueError(f"unknown detector {self.detector!r}; choose from {DETECTORS}")
        if self.inpainter not in INPAINTERS:
            raise ValueError(f"unknown inpainter {self.inpainter!r}; choose from {INPAINTERS}")
        if self.chunk_frames < 1 or self.context_frames < 1:
            raise ValueError("chunk_frames and context_frames must be at least 1")


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


def method_description(config: RestoreConfig) -> dict:
    """What ran, for the provenance: the classical methods stand in until the diffusion models ship."""
    return {
        "detector": {
            "name": config.detector,
            "kind": "classical: motion-compensated spike detector (Kokaram SDIp)",
        },
        "inpainter": {
            "name": config.inpainter,
            "kind": "classical: motion-compensated temporal median, Telea where no neighbour is valid",
        },
    }


def restore_frame(frames: np.ndarray, index: int, config: RestoreConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Detect and fill ``frames[index]`` using its neighbours in ``frames`` ``(T, H, W, C)``.

    Returns ``(mask (H, W) bool, restored (H, W, C) of the frames' dtype, scores (S,) float32)``;
    ``restored`` differs from the frame only under ``mask``.
    """
    frame = frames[index]
    neighbours = compensate(frames, index, config=config.motion)
    mask = detect_spikes(frame, neighbours, config.spikes)
    restored = inpaint_temporal_median(frame, mask, neighbours)
    scores = np.array([mask.mean(), np.nan, np.nan], np.float32)
    return mask, restored, scores


def restore_range(store: ProvenanceStore, start: int, stop: int, config: RestoreConfig) -> None:
    """Restore frames ``[start, stop)``, reading context frames either side, and store the results.

    Context crosses chunk borders, so a chunk's result does not depend on how the reel was cut.
    """
    info = store.info
    lo = max(0, start - config.context_frames)
    hi = min(info.frame_count, stop + config.context_frames)
    frames = read_frames(info, lo, hi)
    n = stop - start
    masks = np.zeros((n, info.height, info.width), bool)
    restored = frames[start - lo : stop - lo].copy()
    scores = np.full((n, len(SCORE_NAMES)), np.nan, np.float32)
    for k in range(n):
        masks[k], restored[k], scores[k] = restore_frame(frames, start - lo + k, config)
    store.write(
        FrameResults(
            start=start,
            mask=masks,
            original=frames[start - lo : stop - lo],
            restored=restored,
            scores=scores,
            status=np.full(n, STATUS["done"], np.uint8),
        )
    )


def pending_ranges(store: ProvenanceStore, chunk_frames: int) -> list[tuple[int, int]]:
    """Chunks with at least one frame still pending."""
    status = store.status()
    return [(a, b) for a, b in chunk_ranges(store.frame_count, chunk_frames) if (status[a:b] == STATUS["pending"]).any()]


def open_or_create_store(info: ReelInfo, out_dir: Path, config: RestoreConfig) -> tuple[ProvenanceStore, ReelOutputs]:
    """Open the reel's store in ``out_dir``, creating it on the first run.

    Refuses when the master already exists (the reel is finished) or when the store belongs to a
    different file (another SHA-256).
    """
    outputs = ReelOutputs.in_folder(Path(out_dir), info)
    if outputs.master.exists():
        raise OutputExistsError(f"{outputs.master}: output already exists; remove it or choose another --out")
    if outputs.store.exists():
        store = ProvenanceStore(outputs.store)
        if store.info.sha256 != info.sha256:
            raise StoreError(
                f"{outputs.store}: store belongs to another file (SHA-256 {store.info.sha256[:12]}…, "
                f"this reel {info.sha256[:12]}…)"
            )
    else:
        store = ProvenanceStore.create(outputs.store, info, {"methods": method_description(config)})
    return store, outputs


def encode_outputs(
    store: ProvenanceStore,
    outputs: ReelOutputs,
    config: RestoreConfig,
    on_frame: Callable[[], None] | None = None,
) -> None:
    """Encode source ⊕ stored diff as the master (and the access copy), chunk by chunk."""
    info = store.info

    def restored_frames():
        for a, b in chunk_ranges(info.frame_count, config.chunk_frames):
            yield from store.apply(read_frames(info, a, b), a)

    write_master(outputs.master, info, restored_frames(), config.encode, on_frame=on_frame)
    if config.encode.access_copy:
        write_access_copy(outputs.access, info, iter_frames(probe(outputs.master)), config.encode)


def restore_reel(
    info: ReelInfo,
    out_dir: Path,
    config: RestoreConfig = RestoreConfig(),
    on_chunk: Callable[[int, int], None] | None = None,
    on_frame: Callable[[], None] | None = None,
) -> ReelOutputs:
    """Restore a probed reel into ``out_dir``, resuming from the store if a run was interrupted."""
    store, outputs = open_or_create_store(info, out_dir, config)
    todo = pending_ranges(store, config.chunk_frames)
    store.log_event("run_started", config=asdict(config), chunks_pending=len(todo), methods=method_description(config))
    for a, b in todo:
        restore_range(store, a, b, config)
        if on_chunk:
            on_chunk(a, b)
    encode_outputs(store, outputs, config, on_frame=on_frame)
    store.log_event("run_finished", master=str(outputs.master), summary=store.summary())
    return outputs


def revert_output(master: Path, store: ProvenanceStore, dest: Path, chunk_frames: int = 16) -> Path:
    """Rebuild the source frames from a restored master and its store, as an FFV1 master at ``dest``.

    The pixels are bit-exact to the source's decoded frames; audio, rate and timecode come along.
    """
    info = probe(master)
    if info.metadata.get("SOURCE_SHA256") != store.info.sha256:
        raise StoreError(f"{master}: was not made from the reel this store records ({store.info.path})")

    def source_frames():
        for a, b in chunk_ranges(info.frame_count, chunk_frames):
            yield from store.revert(read_frames(info, a, b), a)

    write_master(dest, info, source_frames(), EncodeConfig(access_copy=False))
    store.log_event("reverted", master=str(master), dest=str(dest))
    return dest
