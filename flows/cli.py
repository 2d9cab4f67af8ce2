"""The ``restoration`` command: the library's commands plus the orchestrated ones (Prefect flows).

``restore``, ``inbox``, ``reprocess`` and ``finetune`` run their flows in this process: against the
Prefect server named by ``PREFECT_API_URL`` when it is set, otherwise against a temporary local one
(nothing to set up). Prefect's own console logging is off by default, so a plain run shows only the
progress bars; set ``PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL=INFO`` to see it.
"""

from __future__ import annotations

import os

# Before Prefect is imported (flows/__init__ adds the offline defaults).
os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")

import json  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402

import typer  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

import flows  # noqa: E402,F401
from restoration.cli import _clear_errors, _progress, app, console  # noqa: E402
from restoration.errors import RestorationError  # noqa: E402
from restoration.methods import DEFAULT_DETECTOR, DEFAULT_INPAINTER  # noqa: E402

__all__ = ["app"]


@contextmanager
def _hooks(**callbacks):
    from flows.reel import HOOKS

    saved = dict(vars(HOOKS))
    for name, fn in callbacks.items():
        setattr(HOOKS, name, fn)
    try:
        yield
    finally:
        for name, fn in saved.items():
            setattr(HOOKS, name, fn)


def _settings(value: str | None) -> dict | None:
    if not value:
        return None
    try:
        text = Path(value).read_text() if not value.lstrip().startswith("{") else value
        data = json.loads(text)
    except (OSError, ValueError) as err:
        raise RestorationError(f"--settings: not JSON or a JSON file: {err}") from None
    if not isinstance(data, dict):
        raise RestorationError("--settings: must be a JSON object")
    return data


@app.command()
@_clear_errors
def restore(
    reel: Path = typer.Argument(..., help="The reel to restore (file or image-sequence folder)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: master, access copy and provenance store."),
    chunk_frames: int = typer.Option(16, help="Frames per unit of work; a killed run resumes by chunk."),
    seed: int = typer.Option(0, help="Seed for every random choice; the same seed gives the same output."),
    access_copy: bool = typer.Option(True, help="Also write an H.264 access copy for viewing."),
    detector: str = typer.Option(DEFAULT_DETECTOR, help="diffedit (diffusion model, default) or temporal (classical, fast)."),
    inpainter: str = typer.Option(DEFAULT_INPAINTER, help="palette (diffusion model, default; seconds a frame on a CPU) or temporal_median (classical, fast)."),
    detector_weights: Path = typer.Option(None, help="Detector weights (default: the shipped ones)."),
    inpainter_weights: Path = typer.Option(None, help="Inpainter weights (default: the shipped ones)."),
    parallel: int = typer.Option(1, help="Chunks restored at once (threads)."),
    dask: str = typer.Option(None, help="Run the chunks on a Dask cluster: its scheduler address, or local:N."),
    settings: str = typer.Option(None, help="JSON (or a JSON file) overriding any setting, e.g. '{\"palette\": {\"steps\": 10}}'."),
):
    """Restore REEL into OUT: <name>.master.mkv (FFV1, lossless), <name>.access.mp4, <name>.zarr.

    Only pixels found to be damage change; the store records each one's original value, so
    `restoration revert` rebuilds the source exactly. Re-running after an interruption resumes.
    """
    from flows.config import build_config
    from restoration.pipeline import ReelOutputs, open_or_create_store
    from restoration.reel import probe as probe_reel

    dask_address, dask_workers = None, 0
    if dask:
        if dask.startswith("local:"):
            dask_workers = int(dask.split(":", 1)[1])
        else:
            dask_address = dask
    params = dict(
        chunk_frames=chunk_frames, seed=seed, detector=detector, inpainter=inpainter,
        detector_weights=str(detector_weights) if detector_weights else None,
        inpainter_weights=str(inpainter_weights) if inpainter_weights else None,
        access_copy=access_copy, settings=_settings(settings),
    )
    try:
        config = build_config(**params)
    except ValueError as err:
        raise RestorationError(f"settings: {err}") from None
    from flows.reel import cached_models, restore_reel
    from restoration.lock import RunLock

    info = probe_reel(reel)
    if ReelOutputs.in_folder(out, info).master.exists():
        open_or_create_store(info, out, config)  # refuses a finished output with the library's message
    cached_models(config)  # missing weights: one clear error, nothing written (the flow reuses them)
    store, _ = open_or_create_store(info, out, config)  # refuse a finished output before any progress is shown
    RunLock(store.path).check()  # and a reel another run is restoring (the flow takes the lock itself)

    frames = info.frame_count
    with _progress() as bar:
        restoring = bar.add_task("restoring", total=frames)
        encoding = bar.add_task("encoding master", total=frames)
        with _hooks(
            on_start=lambda done: bar.update(restoring, completed=done),
            on_chunk=lambda a, b: bar.advance(restoring, b - a),
            on_frame=lambda: bar.advance(encoding),
        ):
            result = restore_reel(
                reel=str(reel), out_dir=str(out), parallel_chunks=parallel,
                dask_address=dask_address, dask_workers=dask_workers, **params,
            )
        bar.update(restoring, completed=frames)
    console.print(f"master: {result['master']}\nstore:  {result['store']}")
    if result["access"]:
        console.print(f"access: {result['access']}")
    if result["flagged"]:
        console.print(f"flagged for review: {len(result['flagged'])} frames ({_frames_text(result['flagged'])})")


def _frames_text(frames: list[int], limit: int = 12) -> str:
    text = ", ".join(str(f) for f in frames[:limit])
    return text + (", ..." if len(frames) > limit else "")


def _parse_frames(value: str | None) -> list[int] | None:
    """``"3,7,10-12"`` -> ``[3, 7, 10, 11, 12]``; a reversed range (``5-3``) or a part that is not a
    frame number is refused (:class:`RestorationError`), never read as "no frames"."""
    if value is None:
        return None
    frames = []
    for part in value.split(","):
        a, dash, b = part.strip().partition("-")
        if not (a.isdigit() and (b.isdigit() if dash else True)):
            raise RestorationError(f"--frames {value!r}: {part.strip()!r} is not a frame number or range like 3,7,10-12")
        first, last = int(a), int(b) if dash else int(a)
        if last < first:
            raise RestorationError(f"--frames {value!r}: range {part.strip()} runs backwards; write {last}-{first}")
        frames.extend(range(first, last + 1))
    return frames


@app.command()
@_clear_errors
def reprocess(
    store: Path = typer.Argument(..., help="A reel's provenance store (<name>.zarr)."),
    frames: str = typer.Option(None, help="Frames to redo, e.g. 3,7,10-12 (default: every flagged or sent-back frame)."),
    seed: int = typer.Option(None, help="Seed for the new attempt (default: one not used on this reel before)."),
    settings: str = typer.Option(None, help="JSON (or a JSON file) overriding settings of the last run."),
    reencode: bool = typer.Option(True, help="Re-encode the master (replaced atomically) afterwards."),
):
    """Restore flagged (or chosen) frames again with a new seed or settings, and re-encode the master."""
    from restoration.reprocess import frames_to_reprocess, reprocess_config
    from restoration.store import ProvenanceStore

    # Everything that can be refused is refused here, before Prefect starts.
    s = ProvenanceStore(store)
    wanted = _parse_frames(frames)
    if wanted:
        bad = [f for f in wanted if not 0 <= f < s.frame_count]
        if bad:
            raise RestorationError(f"--frames: {_frames_text(bad)} outside the reel's 0..{s.frame_count - 1}")
    s.verify(unfinished_ok=True, redoing=wanted or frames_to_reprocess(s))
    try:
        reprocess_config(s, seed, _settings(settings))
    except ValueError as err:
        raise RestorationError(f"settings: {err}") from None
    from flows.reprocess import reprocess_flagged

    with _progress() as bar:
        encoding = bar.add_task("re-encoding master", total=s.frame_count)
        with _hooks(on_frame=lambda: bar.advance(encoding)):
            result = reprocess_flagged(store=str(store), frames=wanted, seed=seed, settings=_settings(settings), reencode=reencode)
    if not result["frames"]:
        console.print("nothing to reprocess: no flagged or sent-back frames")
        return
    console.print(f"reprocessed {len(result['frames'])} frames with seed {result['seed']}: {_frames_text(result['frames'])}")
    if result["still_flagged"]:
        console.print(f"still flagged: {_frames_text(result['still_flagged'])}")
    if result["master"]:
        console.print(f"master: {result['master']}")


@app.command()
@_clear_errors
def inbox(
    folder: Path = typer.Argument(..., help="Inbox folder: reel files and image-sequence folders."),
    out: Path = typer.Option(..., "--out", "-o", help="Output root: one folder per reel and the ledger."),
    max_concurrent: int = typer.Option(1, help="Reels restored at once."),
    retry_failed: bool = typer.Option(False, help="Try reels that failed before again."),
    detector: str = typer.Option(DEFAULT_DETECTOR, help="diffedit or temporal."),
    inpainter: str = typer.Option(DEFAULT_INPAINTER, help="palette or temporal_median."),
):
    """Restore every new reel in FOLDER once (identified by SHA-256); the ledger records each outcome."""
    if not folder.is_dir():
        raise RestorationError(f"{folder}: no such inbox folder")
    from flows.inbox import restore_inbox

    result = restore_inbox(
        inbox=str(folder), out_root=str(out), max_concurrent=max_concurrent, retry_failed=retry_failed,
        detector=detector, inpainter=inpainter,
    )
    if result.get("skipped"):
        console.print(f"skipped: {result['skipped']}")
        return
    table = Table(title=f"inbox {folder}")
    for col in ("reel", "sha256", "status", "reason"):
        table.add_column(col)
    for sha, entry in result["reels"].items():
        table.add_row(Path(entry["reel"]).name, sha[:12], entry["status"], entry.get("reason", ""))
    Console().print(table)


@app.command()
@_clear_errors
def finetune(
    data: list[Path] = typer.Argument(..., help="Clean reels of the collection (path or path@a:b for a part)."),
    models_dir: Path = typer.Option(..., "--models", help="Folder where the new weights are registered."),
    name: str = typer.Option("collection", help="Name for the fine-tuned weights."),
    kind: list[str] = typer.Option(["inpainter", "detector"], help="Which models to fine-tune (repeatable)."),
    steps: int = typer.Option(1000, help="Optimiser steps per model."),
    settings: str = typer.Option(None, help="JSON overriding trainer settings per kind: '{\"inpainter\": {\"batch\": 16}}'."),
):
    """Fine-tune the inpainter (and detector) on a collection and register the weights with their SHA-256."""
    from flows.finetune import finetune as finetune_flow

    entries = finetune_flow(
        data=[str(d) for d in data], models_dir=str(models_dir), name=name, kinds=list(kind), steps=steps,
        settings=_settings(settings),
    )
    for e in entries:
        console.print(f"{e['kind']}: {e['path']}  sha256 {e['sha256']}")


if __name__ == "__main__":
    app()


@app.command()
@_clear_errors
def dashboard(
    root: Path = typer.Option(..., "--root", help="Output folder whose provenance stores (*.zarr) operators review."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8765, help="Port to listen on."),
    users: Path = typer.Option(None, "--users", help="Users file (default $RESTORATION_DASHBOARD_USERS or ~/.config/restoration/dashboard-users.json)."),
    deployment: str = typer.Option(None, help="Reprocess deployment to start when PREFECT_API_URL is set."),
    reprocess: str = typer.Option("auto", help="auto | deployment | local | mark: how 'send for reprocessing' runs."),
):
    """Serve the review dashboard: reels, per-frame plots, before/after/mask, approve and reprocess."""
    from flows.dashboard import serve

    serve(root, host=host, port=port, users_file=users, deployment=deployment, reprocess=reprocess)


users_app = typer.Typer(help="Dashboard sign-in accounts.", no_args_is_help=True)
app.add_typer(users_app, name="dashboard-user")


@users_app.command("add")
@_clear_errors
def dashboard_user_add(
    name: str = typer.Argument(..., help="Operator's sign-in name."),
    role: str = typer.Option("operator", help="operator (may act) or viewer (may only look)."),
    users: Path = typer.Option(None, "--users", help="Users file (default as for `dashboard`)."),
):
    """Add or update a dashboard account; the password is asked for and stored hashed (scrypt)."""
    from flows.dashboard.app import default_users_file
    from flows.dashboard.auth import add_user

    password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    add_user(users or default_users_file(), name, password, role)
    console.print(f"user {name} ({role}) saved")
