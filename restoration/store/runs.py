"""A store's run history, read from its event log: was the last run interrupted, what is done."""

from __future__ import annotations

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
