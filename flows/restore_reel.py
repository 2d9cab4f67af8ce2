"""The ``restore-reel`` flow: one reel, one task per chunk of frames, resumable, then encode.

Each chunk task opens the store itself, reads its frames (with context either side) from the
source reel and writes its results to the store; only the store path and the frame range pass
through Prefect. A chunk whose frames are all done in the store is skipped, so a run killed at any
point (kill -9, reboot) resumes where it stopped. Chunk tasks run on a thread pool by default, on a
Dask cluster with ``dask_workers`` (a local cluster of that many processes) or ``dask_address``.
The run's events are logged by :mod:`restoration.store.runs`, as the library's own ``restore_reel`` logs them.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.events import emit_event
from prefect.futures import as_completed
from prefect.task_runners import ThreadPoolTaskRunner

import flows  # noqa: F401 - offline Prefect defaults, before Prefect is imported
from flows.config import RunSettings, reel_artifact_key, restore_config
from restoration.core.compute import set_threads
from restoration.core.restore import RestoreConfig, load_models, method_description
from restoration.errors import RestorationError
from restoration.io.outputs import ReelOutputs
from restoration.io.reel import probe
from restoration.pipeline.chunks import chunk_plan, encode_outputs, open_or_create_store, pending_ranges, restore_range
from restoration.pipeline.reprocess import config_from_dict
from restoration.store.lock import DEFAULT_MAX_AGE_S, RunLock
from restoration.store.provenance import SCORE_NAMES, STATUS, ProvenanceStore
from restoration.store.runs import log_run_failed, log_run_finished, log_run_started, pending_subranges


@dataclass
class Hooks:
    """Progress callbacks for an in-process caller (the CLI's progress bars); flows take no callables."""

    on_chunk: Callable[[int, int], None] | None = None
    on_restored: Callable[[], None] | None = None  # a frame restored (in this process's chunk tasks)
    on_frame: Callable[[], None] | None = None
    on_start: Callable[[int], None] | None = None  # frames already done when the run starts

    def __reduce__(self):
        # A chunk task sent to a Dask worker is pickled by value with the globals it reads, this
        # object among them; the callbacks belong to the caller's process (its progress bars,
        # which hold locks) and mean nothing in another, so a copy carries none.
        return (Hooks, ())


HOOKS = Hooks()

# Loaded models per process and configuration: a worker restoring many chunks loads the weights once.
_MODELS: dict[tuple, object] = {}
_MODELS_LOCK = threading.Lock()


def cached_models(config: RestoreConfig):
    key = (
        config.detector,
        config.inpainter,
        config.detector_weights,
        config.inpainter_weights,
        config.latent_weights,
        config.device,
        config.precision,
        config.runtime,
    )
    with _MODELS_LOCK:
        if key not in _MODELS:
            _MODELS[key] = load_models(config)
        return _MODELS[key]


def _flow_run_id() -> str | None:
    ctx = FlowRunContext.get()
    return str(ctx.flow_run.id) if ctx and ctx.flow_run else None


@task(
    name="restore-chunk",
    task_run_name="frames-{start}-{stop}",
    retries=2,
    retry_delay_seconds=5,
    cache_policy=NO_CACHE,
    persist_result=False,
)
def restore_chunk(store_path: str, start: int, stop: int, config: dict, run_id: str) -> dict:
    """Restore the still-pending frames of ``[start, stop)`` into the store; returns a small record.

    Idempotent: frames already done are not touched again, and rewriting a range gives the same
    store, so a retry or a Dask worker recomputing a finished task changes nothing.
    """
    store = ProvenanceStore(store_path)
    cfg = config_from_dict(RestoreConfig, config)
    began = time.perf_counter()
    todo = pending_subranges(store, start, stop)
    if todo:
        models = cached_models(cfg)
        for a, b in todo:
            restore_range(store, a, b, cfg, models, on_frame=HOOKS.on_restored)
    status = store.status(start, stop)
    record = {
        "run_id": run_id,
        "start": start,
        "stop": stop,
        "frames_restored": sum(b - a for a, b in todo),
        "flagged": [start + int(i) for i, s in enumerate(status) if s == STATUS["flagged"]],
        "seconds": round(time.perf_counter() - began, 3),
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }
    store.write_run_record(f"chunk-{start:08d}-{stop:08d}", record)
    return record


@flow(name="restore-chunks", log_prints=False)
def restore_chunks(
    store_path: str,
    ranges: list[list[int]],
    config: dict,
    run_id: str,
    progress_artifact_id: str | None = None,
    frames_done: int = 0,
) -> list[dict]:
    """Fan the chunks out on this flow's task runner; collect their records as they finish."""
    total = ProvenanceStore(store_path, mode="r").frame_count
    futures = [restore_chunk.submit(store_path, a, b, config, run_id) for a, b in ranges]
    records, failures = [], []
    for future in as_completed(futures):
        try:
            record = future.result()
        except Exception as exc:  # noqa: BLE001 - every chunk gets its chance; failures reported together
            failures.append(f"{type(exc).__name__}: {exc}")
            continue
        records.append(record)
        frames_done += record["stop"] - record["start"]
        if progress_artifact_id:
            update_progress_artifact(progress_artifact_id, 100.0 * frames_done / total)
        if HOOKS.on_chunk:
            HOOKS.on_chunk(record["start"], record["stop"])
        _refresh_lock(store_path)
    if failures:
        raise RestorationError(f"{len(failures)} of {len(ranges)} chunks failed (rerun to resume): {failures[0]}")
    return sorted(records, key=lambda r: r["start"])


# The locks this process holds, by store path: the chunk loop renews their heartbeat.
_LOCKS: dict[str, RunLock] = {}


def _refresh_lock(store_path: str) -> None:
    lock = _LOCKS.get(str(Path(store_path).resolve()))
    if lock is not None:
        lock.refresh()


def release_locks() -> None:
    """Release every reel lock this process holds (an interrupted command, on its way out)."""
    for lock in list(_LOCKS.values()):
        lock.release()


def task_runner(parallel_chunks: int = 1, dask_address: str | None = None, dask_workers: int = 0):
    """The runner for the chunk tasks: threads, a Dask cluster at an address, or a local Dask cluster."""
    if dask_address or dask_workers:
        from prefect_dask import DaskTaskRunner

        if dask_address:
            return DaskTaskRunner(address=dask_address)
        return DaskTaskRunner(
            cluster_class="distributed.LocalCluster",
            cluster_kwargs={"n_workers": dask_workers, "threads_per_worker": 1, "processes": True, "dashboard_address": None},
        )
    return ThreadPoolTaskRunner(max_workers=max(1, parallel_chunks))


def flagged_table(store: ProvenanceStore) -> list[dict]:
    """One row per flagged frame: frame, reason (latest), scores."""
    status, scores = store.status(), store.scores()
    reasons = {}
    for event in store.events():
        if event.get("kind") == "frame_flagged":
            reasons[event.get("frame")] = event.get("reason")
        elif event.get("kind") == "frame_reprocessed":
            reasons[event.get("frame")] = event.get("reason")
    rows = []
    for f in [int(i) for i, s in enumerate(status) if s == STATUS["flagged"]]:
        row = {"frame": f, "reason": reasons.get(f) or ""}
        row.update({name: round(float(v), 5) for name, v in zip(SCORE_NAMES, scores[f])})
        rows.append(row)
    return rows


def summary_markdown(store: ProvenanceStore, outputs: ReelOutputs, seconds: float, chunks: int, resumed: bool) -> str:
    s = store.summary()
    info = store.info
    lines = [
        f"# {Path(info.path).name}",
        "",
        f"- frames: {s['frames']} ({info.width}x{info.height}, {info.bit_depth}-bit, {info.fps} fps)",
        f"- source SHA-256: `{info.sha256}`",
        f"- mean damage fraction: {s['mean_damage_fraction']:.4%}",
        f"- chunks restored this run: {chunks}{' (resumed after an interruption)' if resumed else ''}",
        f"- time: {seconds:.1f} s ({seconds / max(1, s['frames']):.3f} s/frame)",
        f"- master: `{outputs.master}`",
        f"- store: `{outputs.store}`",
        "",
        "| status | frames |",
        "|---|---:|",
        *[f"| {name} | {count} |" for name, count in s["status"].items()],
    ]
    return "\n".join(lines)


@flow(name="restore-reel", log_prints=False)
def restore_reel(
    reel: str,
    out_dir: str,
    settings: RunSettings = RunSettings(),
    parallel_chunks: int = 0,
    dask_address: str | None = None,
    dask_workers: int = 0,
    lock_max_age_s: float = DEFAULT_MAX_AGE_S,
    threads: int = 0,
    reels_at_once: int = 1,
) -> dict:
    """Restore ``reel`` into ``out_dir`` (master, access copy, provenance store), resuming if interrupted.

    ``settings``: what the run runs with (:class:`flows.config.RunSettings`, over the library's defaults).
    ``parallel_chunks``: chunk tasks at once on the thread pool and ``threads`` the intra-op threads of
    this process (torch, OpenCV); 0 = chosen from the machine as the command line chooses them
    (:func:`restoration.pipeline.chunks.chunk_plan`: on a CPU one chunk per core on one thread each),
    with the cores shared among ``reels_at_once`` reels restored at once in this process (an inbox
    run's). ``dask_workers`` / ``dask_address``: run the chunks on a local Dask cluster of that many
    processes / on an existing cluster instead (their workers keep their own threads).
    Returns the output paths and the store's summary.
    """
    log = get_run_logger()
    began = time.perf_counter()
    config = restore_config(settings)
    info = probe(reel)
    store, outputs = open_or_create_store(info, Path(out_dir), config)
    run_id = _flow_run_id() or uuid.uuid4().hex
    lock = RunLock(store.path, "restore", max_age_s=lock_max_age_s, run_id=run_id, reel=str(reel))
    lock.acquire()
    _LOCKS[str(store.path.resolve())] = lock
    try:
        if lock.recovered:
            store.log_event("lock_recovered", run_id=run_id, stale_lock=lock.recovered)
            log.warning("recovered a stale lock: %s", lock.recovered.get("stale_reason"))
        todo = pending_ranges(store, config.chunk_frames)
        orchestrator: dict = {"prefect_flow_run": _flow_run_id()}
        if not (dask_address or dask_workers):
            parallel_chunks, threads = chunk_plan(info, config, len(todo), parallel_chunks, threads, reels_at_once)
            set_threads(threads)
            orchestrator.update(parallel_chunks=parallel_chunks, threads=threads)
        runner = task_runner(parallel_chunks, dask_address, dask_workers)
        orchestrator["task_runner"] = type(runner).__name__
        methods = method_description(config, cached_models(config))
        interrupted = log_run_started(store, run_id, asdict(config), methods, todo, orchestrator)
        if interrupted is not None:
            log.info("resuming run %s: %d chunks to go", interrupted.get("run_id"), len(todo))
        try:
            records = restore_and_encode(store, outputs, config, todo, runner, run_id)
        except BaseException as exc:
            log_run_failed(store, run_id, exc)
            raise
        seconds = time.perf_counter() - began
        summary = log_run_finished(store, run_id, outputs.master, len(records), seconds)
        flagged = report_run(store, outputs, seconds, len(records), interrupted is not None)
    finally:
        _LOCKS.pop(str(store.path.resolve()), None)
        lock.release()
    return {
        "master": str(outputs.master),
        "access": str(outputs.access) if config.encode.access_copy else None,
        "store": str(outputs.store),
        "summary": summary,
        "flagged": flagged,
    }


def restore_and_encode(
    store: ProvenanceStore, outputs: ReelOutputs, config: RestoreConfig, todo: list[tuple[int, int]], runner, run_id: str
) -> list[dict]:
    """The pending chunks as tasks on ``runner`` (a progress artifact follows them), then the
    outputs (:func:`restoration.pipeline.chunks.encode_outputs`); returns the chunks' records."""
    info = store.info
    frames_done = info.frame_count - sum(b - a for a, b in todo)
    if HOOKS.on_start:
        HOOKS.on_start(frames_done)
    progress_id = create_progress_artifact(
        100.0 * frames_done / max(1, info.frame_count),
        key=f"{reel_artifact_key(info)}-progress",
        description=f"{Path(info.path).name}: frames restored",
    )
    records = []
    if todo:
        records = restore_chunks.with_options(task_runner=runner)(
            str(store.path), [list(r) for r in todo], asdict(config), run_id, str(progress_id), frames_done
        )
    update_progress_artifact(progress_id, 100.0)
    encode_outputs(store, outputs, config, on_frame=HOOKS.on_frame)
    _refresh_lock(str(store.path))
    return records


def report_run(store: ProvenanceStore, outputs: ReelOutputs, seconds: float, chunks: int, resumed: bool) -> list[int]:
    """A finished run's artifacts (flagged frames, summary) and, when frames were flagged, the event
    ``film.frames.flagged``; returns the flagged frames."""
    info = store.info
    key = reel_artifact_key(info)
    flagged = flagged_table(store)
    if flagged:
        # An automation on a server can start the reprocess-flagged deployment from this event.
        emit_event(
            event="film.frames.flagged",
            resource={"prefect.resource.id": f"film.reel.{info.sha256}", "store": str(outputs.store), "reel": str(info.path)},
            payload={"frames": [row["frame"] for row in flagged]},
        )
    create_table_artifact(
        flagged or [{"frame": "", "reason": "no flagged frames"}],
        key=f"{key}-flagged",
        description=f"{Path(info.path).name}: frames flagged by the checks",
    )
    create_markdown_artifact(
        summary_markdown(store, outputs, seconds, chunks, resumed),
        key=f"{key}-summary",
        description=f"{Path(info.path).name}: restoration summary",
    )
    return [row["frame"] for row in flagged]
