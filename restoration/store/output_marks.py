"""Done marks of the stages after the chunks: the master and the access copy.

Each output is written under a temporary name; when it is complete, and before it is renamed into
place, an ``output_written`` event records its kind, final path, SHA-256, size and modification
time (a rename keeps both), and for the access copy the SHA-256 of the master it was made from. An
output is *current* when its file is the one last recorded and nothing it depends on changed since
(the diff, for the master: a ``reprocessed`` event; the master, for the access copy). A run killed
at any point therefore finds out exactly which outputs are still to make, and a file at an output
path that this store did not record is never taken for one of its own.
"""

from __future__ import annotations

import os
from pathlib import Path

from restoration.io.outputs import ReelOutputs
from restoration.io.reel import sha256_file
from restoration.store.provenance import ProvenanceStore


def record_output(store: ProvenanceStore, kind: str, final: Path, written: Path, made_from: str | None = None) -> dict:
    """Log that ``written`` (complete, about to be renamed to ``final``) is the ``kind`` output."""
    stat = os.stat(written)
    return store.log_event(
        "output_written",
        output=kind,
        path=recorded_path(store, final),
        sha256=sha256_file(written),
        size=stat.st_size,
        mtime_ns=stat.st_mtime_ns,
        made_from=made_from,
    )


def recorded_path(store: ProvenanceStore, path: Path) -> str:
    """How an output's path is recorded: relative to the store's folder, so that moving the folder
    with its outputs keeps them recognised."""
    return os.path.relpath(Path(path).resolve(), store.path.parent.resolve())


def output_record(store: ProvenanceStore, kind: str, path: Path, events: list[dict] | None = None) -> dict | None:
    """The last ``output_written`` event for ``kind`` at ``path`` if the file there is still that one."""
    path = Path(path)
    if not path.is_file():
        return None
    where = recorded_path(store, path)
    records = [
        e
        for e in (events if events is not None else store.events())
        if e.get("kind") == "output_written" and e.get("output") == kind and e.get("path") == where
    ]
    if not records:
        return None
    stat = path.stat()
    last = records[-1]
    return last if (last.get("size"), last.get("mtime_ns")) == (stat.st_size, stat.st_mtime_ns) else None


def is_current(store: ProvenanceStore, kind: str, path: Path, master: Path | None = None) -> bool:
    """Whether the ``kind`` output at ``path`` is the last one written and still up to date.

    The master is out of date once frames were reprocessed after it; the access copy once the
    master at ``master`` is not the one it was made from.
    """
    events = store.events()
    record = output_record(store, kind, path, events)
    if record is None:
        return False
    if kind == "master":
        later = events[events.index(record) + 1 :]
        return not any(e.get("kind") == "reprocessed" for e in later)
    master_now = output_record(store, "master", master, events) if master else None
    return master_now is not None and record.get("made_from") == master_now["sha256"]


def resumable(store: ProvenanceStore, outputs: ReelOutputs, access_copy: bool = True) -> bool:
    """An existing master is this store's own and its run stopped before every output was made
    (so ``restore`` resumes instead of refusing the output). Light: no model, no Prefect."""
    from restoration.store.runs import unfinished_run

    if output_record(store, "master", outputs.master) is None:
        return False
    done = is_current(store, "master", outputs.master) and (not access_copy or is_current(store, "access", outputs.access, outputs.master))
    return not done or unfinished_run(store.events()) is not None
