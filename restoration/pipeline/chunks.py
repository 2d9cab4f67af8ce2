"""One reel through the whole job: detect damage, fill it, record the diff, encode the master.

``restore_range`` is the unit of work (a chunk of frames restored by :mod:`restoration.core.restore`,
results written straight to the store); ``restore_reel`` runs every chunk not yet done and encodes.
Orchestrators (the CLI, the Prefect flows) call these; they hold no state of their own, so a run
killed at any point resumes from the store's status array.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np

from restoration.core.compute import default_parallel, default_threads, resolve_device
from restoration.core.restore import NOT_EXAMINED, Models, RestoreConfig, load_models, method_description, restore_window
from restoration.errors import OutputExistsError, ReelError, StoreError
from restoration.io.encode import EncodeConfig, check_writable_folder, write_access_copy, write_master
from restoration.io.outputs import ReelOutputs
from restoration.io.reel import ReelInfo, iter_frames, probe, read_frames
from restoration.store.output_marks import is_current, output_record, record_output, resumable
from restoration.store.provenance import STATUS, FrameResults, ProvenanceStore
from restoration.store.runs import chunk_ranges, log_run_failed, log_run_finished, log_run_started

# OpenCV's DIS flow refuses frames under 12 px and crashes the process (SIGSEGV) on some under 16.
MIN_FRAME_SIDE = 16


def restore_range(
    store: ProvenanceStore,
    start: int,
    stop: int,
    config: RestoreConfig,
    models: Models | None = None,
    on_frame: Callable[[], None] | None = None,
) -> None:
    """Restore frames ``[start, stop)`` (:func:`restoration.core.restore.restore_window`) into the store.

    Flagged frames get the status ``flagged`` and a ``frame_flagged`` event with the reason, ``by``
    the consistency check or, for a frame it could not examine, the detector;
    ``on_frame`` is called as each frame is restored (before the chunk is written).
    """
    window = restore_window(store.info, start, stop, config, models or load_models(config), on_frame)
    status = np.full(stop - start, STATUS["done"], np.uint8)
    for frame_number in window.reasons:
        status[frame_number - start] = STATUS["flagged"]
    store.write(
        FrameResults(
            start=start,
            mask=window.mask,
            original=window.original,
            restored=window.restored,
            scores=window.scores,
            status=status,
        )
    )
    for frame_number, reason in window.reasons.items():
        by = "detector" if reason == NOT_EXAMINED else "consistency check"
        store.log_event("frame_flagged", frame=frame_number, reason=reason, by=by)


def pending_ranges(store: ProvenanceStore, chunk_frames: int) -> list[tuple[int, int]]:
    """Chunks with at least one frame still to do (:meth:`ProvenanceStore.todo`)."""
    todo = store.todo()
    return [(a, b) for a, b in chunk_ranges(store.frame_count, chunk_frames) if todo[a:b].any()]


def chunk_plan(info: ReelInfo, config: RestoreConfig, chunks: int, parallel: int = 0, threads: int = 0, reels: int = 1) -> tuple[int, int]:
    """``(chunks at once, intra-op threads)`` to restore ``chunks`` chunks of ``info`` with: ``parallel``
    and ``threads`` where given (> 0), else chosen from the machine
    (:func:`restoration.core.compute.default_parallel`, :func:`~restoration.core.compute.default_threads`)
    for ``reels`` reels restored at once in this process. One rule for the command line and the flows.
    """
    samples = (config.chunk_frames + 2 * config.context_frames) * info.width * info.height * info.channels
    parallel = parallel or default_parallel(resolve_device(config.device), chunks, samples, threads, reels)
    return parallel, threads or default_threads(parallel * max(1, reels))


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
            f"{outputs.store}: store belongs to another file (SHA-256 {store.info.sha256[:12]}…, this reel {info.sha256[:12]}…)"
        )
    if outputs.master.exists() and (store is None or not resumable(store, outputs, config.encode.access_copy)):
        raise OutputExistsError(f"{outputs.master}: output already exists; remove it or choose another --out")
    return store or ProvenanceStore.create(outputs.store, info), outputs


def encode_outputs(
    store: ProvenanceStore,
    outputs: ReelOutputs,
    config: RestoreConfig,
    on_frame: Callable[[], None] | None = None,
) -> list[str]:
    """Encode source ⊕ stored diff as the master (and the access copy), chunk by chunk; returns
    which outputs were made (``"master"``, ``"access"``).

    Each is a stage with its own done mark (:mod:`restoration.store.output_marks`): one already current is
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
            outputs.master,
            info,
            restored_frames(),
            config.encode,
            on_frame=on_frame,
            replace=True,
            on_complete=lambda tmp: record_output(store, "master", outputs.master, tmp),
        )
    if config.encode.access_copy and not is_current(store, "access", outputs.access, outputs.master):
        made.append("access")
        master = output_record(store, "master", outputs.master)
        assert master is not None  # current, or written and recorded just above
        made_from = master["sha256"]
        write_access_copy(
            outputs.access,
            info,
            iter_frames(probe(outputs.master)),
            config.encode,
            replace=True,
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
    """Restore a probed reel into ``out_dir``, resuming from the store if a run was interrupted.

    The run's events are those of :mod:`restoration.store.runs`, as the Prefect flow logs them.
    """
    began = time.perf_counter()
    store, outputs = open_or_create_store(info, out_dir, config)
    models = load_models(config)
    todo = pending_ranges(store, config.chunk_frames)
    run_id = uuid.uuid4().hex
    log_run_started(store, run_id, asdict(config), method_description(config, models), todo)
    try:
        for a, b in todo:
            restore_range(store, a, b, config, models)
            if on_chunk:
                on_chunk(a, b)
        encode_outputs(store, outputs, config, on_frame=on_frame)
    except BaseException as exc:
        log_run_failed(store, run_id, exc)
        raise
    log_run_finished(store, run_id, outputs.master, len(todo), time.perf_counter() - began)
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
