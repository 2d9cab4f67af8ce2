"""The ``restore-inbox`` flow: restore every new reel in an inbox folder, once, identified by SHA-256.

A small JSON ledger in the output root (``inbox-ledger.json``, written atomically) records each reel
by its digest: ``done`` (with its outputs) or ``failed`` (with the reason). A reel already done is
never restored again, whatever its file is called; a failed one is retried only with
``retry_failed``; one whose run was interrupted (still ``running``) resumes from its store. Each reel
goes to ``<out_root>/<name>-<sha256[:12]>/``. Only one inbox run works on an output root at a time.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.task_runners import ThreadPoolTaskRunner

import flows  # noqa: F401 - offline Prefect defaults
from flows.config import RunSettings
from flows.restore_reel import restore_reel
from restoration.errors import RestorationError
from restoration.io.atomic import write_json_atomic
from restoration.io.reel import IMAGE_SUFFIXES, probe, sha256_file
from restoration.store.lock import ReelLockedError, RunLock

LEDGER = "inbox-ledger.json"
VIDEO_SUFFIXES = (".mkv", ".mov", ".mp4", ".mxf", ".avi", ".m4v")
MAX_CONCURRENT = 8


def find_reels(inbox: Path) -> list[Path]:
    """Video files and image-sequence folders directly inside ``inbox`` (hidden and partial files skipped)."""
    reels = []
    for p in sorted(Path(inbox).iterdir()):
        if p.name.startswith(".") or p.name.endswith((".partial", ".part", ".tmp")):
            continue
        if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES:
            reels.append(p)
        elif p.is_dir() and any(f.suffix.lower() in IMAGE_SUFFIXES for f in p.iterdir()):
            reels.append(p)
    return reels


def reel_digest(path: Path) -> str:
    """The reel's SHA-256: of the file, or of an image sequence's manifest (as ``probe`` computes it)."""
    return sha256_file(path) if path.is_file() else probe(path).sha256


def read_ledger(out_root: Path) -> dict:
    path = Path(out_root) / LEDGER
    return json.loads(path.read_text()) if path.is_file() else {"reels": {}}


def write_ledger(out_root: Path, ledger: dict) -> None:
    write_json_atomic(Path(out_root) / LEDGER, ledger)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@task(name="restore-inbox-reel", task_run_name="{name}", cache_policy=NO_CACHE, persist_result=False)
def restore_one(name: str, reel: str, out_dir: str, settings: RunSettings, runner: dict) -> dict:
    """Restore one reel (the ``restore-reel`` flow as a subflow, ``runner`` its chunk runner's
    parameters); the outcome, never an exception."""
    began = time.perf_counter()
    try:
        result = restore_reel(reel=reel, out_dir=out_dir, settings=settings, **runner)
    except ReelLockedError as err:
        return {"status": "busy", "reason": str(err)}
    except Exception as err:  # noqa: BLE001 - recorded in the ledger for the operators
        reason = str(err) if isinstance(err, RestorationError) else f"{type(err).__name__}: {err}"
        return {"status": "failed", "reason": reason, "seconds": round(time.perf_counter() - began, 1)}
    return {
        "status": "done",
        "master": result["master"],
        "store": result["store"],
        "flagged": len(result["flagged"]),
        "seconds": round(time.perf_counter() - began, 1),
    }


@flow(name="restore-inbox", task_runner=ThreadPoolTaskRunner(max_workers=MAX_CONCURRENT), log_prints=False)
def restore_inbox(
    inbox: str,
    out_root: str,
    max_concurrent: int = 1,
    retry_failed: bool = False,
    settings: RunSettings = RunSettings(),
    parallel_chunks: int = 0,
    dask_address: str | None = None,
) -> dict:
    """Restore each reel in ``inbox`` not yet done, at most ``max_concurrent`` (<= 8) at once, each
    with ``settings`` (:class:`flows.config.RunSettings`). ``parallel_chunks``: each reel's chunks at
    once (0 = chosen from the machine, its cores shared among the reels at once; see ``restore-reel``).

    Returns ``{sha256: ledger entry}`` for the reels this run worked on, and the skipped ones.
    """
    log = get_run_logger()
    out = Path(out_root)
    out.mkdir(parents=True, exist_ok=True)
    try:
        lock = RunLock(out, "inbox")
        lock.acquire()
    except ReelLockedError as err:
        log.warning("another inbox run is working: %s", err)
        return {"skipped": str(err), "reels": {}}
    worked: dict[str, dict] = {}
    try:
        ledger = read_ledger(out)
        todo = []
        for reel in find_reels(Path(inbox)):
            try:
                sha = reel_digest(reel)
            except RestorationError as err:
                log.warning("%s: %s", reel.name, err)
                continue
            entry = ledger["reels"].get(sha)
            if entry and (entry["status"] == "done" or (entry["status"] == "failed" and not retry_failed)):
                continue
            if any(sha == s for s, _ in todo):
                continue  # the same reel twice in the inbox (a copy): once is enough
            todo.append((sha, reel))
        log.info("%d new reels in %s", len(todo), inbox)
        limit = max(1, min(max_concurrent, MAX_CONCURRENT))
        # The reels at once share the machine: with parallel_chunks 0 each takes its share of the cores.
        runner = {"parallel_chunks": parallel_chunks, "dask_address": dask_address, "reels_at_once": min(limit, len(todo))}
        pending = list(todo)
        running = {}

        def start(sha: str, reel: Path):
            name = f"{reel.stem}-{sha[:12]}"
            ledger["reels"][sha] = {"reel": str(reel), "status": "running", "out_dir": str(out / name), "started": _now()}
            write_ledger(out, ledger)
            running[restore_one.submit(reel.name, str(reel), str(out / name), settings, runner)] = sha

        while pending or running:
            while pending and len(running) < limit:
                start(*pending.pop(0))
            future = next(as_completed(list(running)))
            sha = running.pop(future)
            outcome = future.result()
            entry = {**ledger["reels"][sha], **outcome, "finished": _now()}
            if outcome["status"] == "busy":
                entry["status"] = "running"  # another run holds it: leave it to that run
            ledger["reels"][sha] = entry
            write_ledger(out, ledger)
            worked[sha] = entry
            lock.refresh()
    finally:
        lock.release()
    if worked:
        create_table_artifact(
            [
                {"reel": Path(e["reel"]).name, "sha256": s[:12], "status": e["status"], "reason": e.get("reason", "")}
                for s, e in worked.items()
            ],
            key="inbox-run",
            description=f"reels restored from {inbox}",
        )
    return {"reels": worked}
