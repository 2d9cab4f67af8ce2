"""A run's life in the store's event log: its events, written here only, and what they say.

A run logs ``run_started`` (its ``run_id``, configuration, methods, chunks pending, what ran it),
then ``run_resumed`` when an earlier run never finished, and ends with ``run_finished`` (the master
and the store's summary) or ``run_failed`` (the error). A run killed before its end logs nothing
more (``run_interrupted`` when a command is stopped by a signal): it stays open, and the next run
resumes it. The library's ``restore_reel`` and the Prefect flow both log through these functions,
so both write the same events with the same fields.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from restoration.store.provenance import ProvenanceStore


def chunk_ranges(frame_count: int, chunk_frames: int) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` covering ``[0, frame_count)`` in chunks of ``chunk_frames``."""
    return [(a, min(a + chunk_frames, frame_count)) for a in range(0, frame_count, chunk_frames)]


def unfinished_run(events: list[dict]) -> dict | None:
    """The last ``run_started`` event with no ``run_finished`` after it, or None.

    A ``run_finished`` carrying a ``run_id`` closes the run of that id; one without closes the
    latest open run. A run that failed (``run_failed``) or was killed stays open: the next run
    resumes it.
    """
    open_runs: list[dict] = []
    for event in events:
        kind = event.get("kind")
        if kind == "run_started":
            open_runs.append(event)
        elif kind == "run_finished" and open_runs:
            run_id = event.get("run_id")
            match = [e for e in open_runs if run_id is not None and e.get("run_id") == run_id]
            open_runs.remove(match[-1] if match else open_runs[-1])
    return open_runs[-1] if open_runs else None


def active_run(events: list[dict]) -> dict | None:
    """The last ``run_started`` event with no ``run_finished`` or ``run_failed`` after it, or None.

    Answers "is a run going on now?" (the dashboard's "running"), where :func:`unfinished_run`
    answers "what must the next run resume?": a failed run is over, so not active, yet unfinished.
    A killed run logs no closing event and counts as both. Closing events pair with runs as in
    :func:`unfinished_run`.
    """
    # A failure closes the run as a finish does; only the resume rule keeps it open.
    closed = [{**e, "kind": "run_finished"} if e.get("kind") == "run_failed" else e for e in events]
    return unfinished_run(closed)


def log_run_started(
    store: ProvenanceStore,
    run_id: str,
    config: dict,
    methods: dict,
    pending: list[tuple[int, int]],
    orchestrator: dict | None = None,
) -> dict | None:
    """Log ``run_started`` and, when an earlier run never finished (:func:`unfinished_run`), ``run_resumed``.

    ``config`` is the run's ``RestoreConfig`` as ``dataclasses.asdict`` gives it, ``methods`` the
    description of its detector and inpainter, ``pending`` the chunks still to do; ``orchestrator``
    says what runs the chunks (e.g. the Prefect flow run and task runner), recorded with this host
    and process id. ``run_resumed`` names the earlier run and lists the chunks found done and those
    still to do. Returns the earlier run's ``run_started`` event, or None.
    """
    interrupted = unfinished_run(store.events())
    store.log_event(
        "run_started",
        run_id=run_id,
        config=config,
        chunks_pending=len(pending),
        methods=methods,
        orchestrator={"host": socket.gethostname(), "pid": os.getpid(), **(orchestrator or {})},
    )
    if interrupted is not None:
        store.log_event(
            "run_resumed",
            run_id=run_id,
            interrupted_run=interrupted.get("run_id"),
            interrupted_started=interrupted.get("time"),
            chunks_done=[list(r) for r in done_ranges(store, config["chunk_frames"])],
            chunks_pending=[list(r) for r in pending],
        )
    return interrupted


def log_run_finished(store: ProvenanceStore, run_id: str, master: Path, chunks: int, seconds: float) -> dict:
    """Log ``run_finished`` with the master's path, the store's summary, the chunks restored by this
    run and its time in seconds; returns the summary (:meth:`ProvenanceStore.summary`)."""
    summary = store.summary()
    store.log_event("run_finished", run_id=run_id, master=str(master), summary=summary, chunks=chunks, seconds=round(seconds, 3))
    return summary


def log_run_failed(store: ProvenanceStore, run_id: str, error: BaseException) -> None:
    """Log ``run_failed`` with the error (``"TypeName: message"``); the run stays open for the next one."""
    store.log_event("run_failed", run_id=run_id, error=f"{type(error).__name__}: {error}")


def log_run_interrupted(store: ProvenanceStore, signal_name: str) -> None:
    """Log ``run_interrupted`` with the signal that stopped the command (``"SIGINT"``); the run stays open."""
    store.log_event("run_interrupted", signal=signal_name)


def done_ranges(store: ProvenanceStore, chunk_frames: int) -> list[tuple[int, int]]:
    """Chunks whose frames are all finished (none in :meth:`ProvenanceStore.todo`)."""
    todo = store.todo()
    return [(a, b) for a, b in chunk_ranges(store.frame_count, chunk_frames) if not todo[a:b].any()]


def pending_subranges(store: ProvenanceStore, start: int, stop: int) -> list[tuple[int, int]]:
    """Maximal runs of frames still to do inside ``[start, stop)`` (a chunk cut short by a kill)."""
    pending = store.todo()[start:stop]
    ranges, a = [], None
    for i, p in enumerate(pending):
        if p and a is None:
            a = start + i
        elif not p and a is not None:
            ranges.append((a, start + i))
            a = None
    if a is not None:
        ranges.append((a, stop))
    return ranges
