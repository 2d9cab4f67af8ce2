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
import sys  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402

import typer  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

import flows  # noqa: E402,F401
from restoration.commands import (  # noqa: E402
    DEVICE_HELP,
    PRECISION_HELP,
    RUNTIME_HELP,
    THREADS_HELP,
    app,
    clear_errors,
    console,
    progress_display,
    use_threads,
)
from restoration.core.methods import DEFAULT_DETECTOR, DEFAULT_INPAINTER  # noqa: E402
from restoration.errors import RestorationError  # noqa: E402

__all__ = ["app"]


@contextmanager
def _hooks(**callbacks):
    from flows.restore_reel import HOOKS

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
@clear_errors
def restore(
    reel: Path = typer.Argument(..., help="The reel to restore (file or image-sequence folder)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: master, access copy and provenance store."),
    chunk_frames: int = typer.Option(16, help="Frames per unit of work; a killed run resumes by chunk."),
    seed: int = typer.Option(0, help="Seed for every random choice; the same seed gives the same output."),
    access_copy: bool = typer.Option(True, help="Also write an H.264/AAC access copy for viewing."),
    detector: str = typer.Option(
        DEFAULT_DETECTOR,
        help="diffedit (diffusion model, default), temporal (classical, fast) or sd-diffedit "
        "(text DiffEdit with the Stable Diffusion folder of --weights; a GPU path).",
    ),
    inpainter: str = typer.Option(
        DEFAULT_INPAINTER,
        help="palette (diffusion model, default; seconds a frame on a CPU), temporal_median (classical, fast) "
        "or sd-inpaint (Stable Diffusion inpainting with the folder of --weights; a GPU path, minutes a frame on a CPU).",
    ),
    detector_weights: Path = typer.Option(None, help="Detector weights (default: the shipped ones)."),
    inpainter_weights: Path = typer.Option(None, help="Inpainter weights (default: the shipped ones)."),
    weights: Path = typer.Option(
        None,
        "--weights",
        help="Local diffusers Stable Diffusion folder (model_index.json, unet/, vae/, text_encoder/, tokenizer/, "
        "scheduler/) for sd-inpaint / sd-diffedit; read offline, never downloaded. A 9-channel inpainting model "
        "runs Stable Diffusion inpainting, a text-to-image one legacy latent masking; settings under "
        '\'latent\' (e.g. \'{"latent": {"steps": 30, "prompt": "film photo"}, "device": "cuda"}\').',
    ),
    parallel: int = typer.Option(
        0,
        help="Chunks restored at once (threads in this process); 0 = automatic: on a CPU one per core, each on one "
        "thread (1.7x the frames a second of one chunk on two threads, on 2 cores), or one per --threads cores, within the "
        "reel's chunks and half the available memory; on a GPU one.",
    ),
    device: str = typer.Option("auto", help=DEVICE_HELP),
    precision: str = typer.Option("auto", help=PRECISION_HELP),
    runtime: str = typer.Option("auto", help=RUNTIME_HELP),
    threads: int = typer.Option(0, help=THREADS_HELP),
    dask: str = typer.Option(None, help="Run the chunks on a Dask cluster: its scheduler address, or local:N."),
    settings: str = typer.Option(None, help='JSON (or a JSON file) overriding any setting, e.g. \'{"palette": {"steps": 10}}\'.'),
    overwrite: bool = typer.Option(
        False,
        "--overwrite",
        help="Replace a finished earlier restoration of this reel in OUT (its master, access copy and store are deleted first).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result (paths, summary, flagged frames) as JSON on stdout."),
):
    """Restore REEL into OUT: <name>.master.mkv (FFV1, lossless), <name>.access.mp4, <name>.zarr.

    Only pixels found to be damage change; the store records each one's original value, so
    `restoration revert` rebuilds the source exactly. Re-running after an interruption (Ctrl-C,
    SIGTERM, a crash) resumes.
    """
    from restoration.errors import OutputExistsError
    from restoration.io.outputs import ReelOutputs

    for value, hint in ((parallel, "--parallel"), (threads, "--threads")):
        if value < 0:  # before anything is loaded or removed
            raise typer.BadParameter("must be 0 (automatic) or more", param_hint=hint)
    outputs = ReelOutputs.for_reel(out, reel)
    if outputs.master.exists() and not overwrite and not _resumes(outputs, access_copy):  # before models and Prefect load
        raise OutputExistsError(f"{outputs.master}: output already exists; --overwrite replaces it, or choose another --out")
    from restoration.io.reel import probe as probe_reel

    info = probe_reel(reel)
    server_ready = _start_prefect_server()
    with _starting(f"{reel.name}: {info.frame_count} frames, {info.width}x{info.height}; loading the models"):
        dask_address, dask_workers = None, 0
        if dask:
            if dask.startswith("local:"):
                dask_workers = int(dask.split(":", 1)[1])
            else:
                dask_address = dask
        from flows.config import RunSettings, restore_config

        run_settings = RunSettings(
            chunk_frames=chunk_frames,
            seed=seed,
            detector=detector,
            inpainter=inpainter,
            detector_weights=str(detector_weights) if detector_weights else None,
            inpainter_weights=str(inpainter_weights) if inpainter_weights else None,
            latent_weights=str(weights) if weights else None,
            access_copy=access_copy,
            device=device,
            precision=precision,
            runtime=runtime,
            overrides=_settings(settings),
        )
        try:
            config = restore_config(run_settings)
        except ValueError as err:
            raise RestorationError(f"settings: {err}") from None
        from flows.restore_reel import cached_models, restore_reel
        from restoration.pipeline.chunks import chunk_plan, open_or_create_store
        from restoration.store.lock import RunLock

        if overwrite and outputs.master.exists():
            _remove_outputs(outputs)
        parallel, threads = chunk_plan(info, config, -(-info.frame_count // config.chunk_frames), parallel, threads)
        use_threads(threads)
        cached_models(config)  # missing weights or CUDA: one clear error, nothing written (the flow reuses them)
        store, _ = open_or_create_store(info, out, config)  # refuse a finished output before any progress is shown
        RunLock(store.path).check()  # and a reel another run is restoring (the flow takes the lock itself)
        if server_ready:
            server_ready()
    frames = info.frame_count
    with progress_display() as bar:
        restoring = bar.add_task("restoring", total=frames)
        encoding = bar.add_task("encoding master", total=frames)
        # Frames restored in this process's chunk tasks move the bar frame by frame; finished chunks
        # (also those a Dask cluster restores elsewhere) move it at least that far.
        count = {"base": 0, "frames": 0, "chunks": 0}

        def moved(key: str, n: int) -> None:
            count[key] += n
            bar.update(restoring, completed=count["base"] + max(count["frames"], count["chunks"]))

        def started(done: int) -> None:
            count["base"] = done
            moved("frames", 0)

        with _hooks(
            on_start=started,
            on_restored=lambda: moved("frames", 1),
            on_chunk=lambda a, b: moved("chunks", b - a),
            on_frame=lambda: bar.advance(encoding),
        ):
            result = _run_interruptible(
                lambda: restore_reel(
                    reel=str(reel),
                    out_dir=str(out),
                    settings=run_settings,
                    parallel_chunks=parallel,
                    threads=threads,
                    dask_address=dask_address,
                    dask_workers=dask_workers,
                ),
                store.path,
                bar,
            )
        bar.update(restoring, completed=frames)
    if as_json:
        print(json.dumps(result, indent=1))
        return
    console.print(f"master: {result['master']}\nstore:  {result['store']}")
    if result["access"]:
        console.print(f"access: {result['access']}")
    if result["flagged"]:
        console.print(f"flagged for review: {len(result['flagged'])} frames ({_frames_text(result['flagged'])})")


def _starting(text: str):
    """A status line on a terminal while the models load (gone when the bars start, so a refusal
    stays one line); a batch log gets its first line when frames are done."""
    from contextlib import nullcontext

    return console.status(text, spinner="dots") if console.is_terminal else nullcontext()


def _start_prefect_server():
    """Start Prefect's temporary server in the background when no ``PREFECT_API_URL`` names one, so
    that its 3-5 s start-up overlaps the imports and model loading instead of preceding the first
    frame. Returns a function that waits until it answers (raising its error) or None when a server
    is configured. The flow's own client then finds the same running instance (one per process)."""
    import atexit
    import subprocess
    import threading

    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        return None
    from prefect.server.api.server import SubprocessASGIServer

    failure: list[BaseException] = []

    def start() -> None:
        try:
            SubprocessASGIServer().start()
        except BaseException as exc:  # noqa: BLE001 - re-raised by the waiting thread
            failure.append(exc)

    thread = threading.Thread(target=start, name="prefect-server-start", daemon=True)
    thread.start()

    def stop_at_exit() -> None:
        # A command refused before its flow ran must not leave the server's process behind, nor
        # wait for it to come up: Prefect's own exit hook stops it only once it is started.
        server = SubprocessASGIServer()
        while thread.is_alive() and getattr(server, "server_process", None) is None:
            thread.join(0.05)
        process = getattr(server, "server_process", None)
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    atexit.register(stop_at_exit)

    def wait() -> None:
        thread.join()
        if failure:
            raise RestorationError(f"the temporary Prefect server did not start: {failure[0]}") from failure[0]

    return wait


def _resumes(outputs, access_copy: bool) -> bool:
    """The master there is this reel's, from a run stopped before every output was made."""
    from restoration.store.output_marks import resumable
    from restoration.store.provenance import ProvenanceStore

    return outputs.store.is_dir() and resumable(ProvenanceStore(outputs.store, mode="r"), outputs, access_copy)


def _remove_outputs(outputs) -> None:
    """Delete a finished restoration's master, access copy and store (``restore --overwrite``)."""
    import shutil

    from restoration.store.lock import RunLock

    if outputs.store.exists():
        RunLock(outputs.store).check()  # never under a running reprocess
        shutil.rmtree(outputs.store)
    outputs.master.unlink()
    outputs.access.unlink(missing_ok=True)


def _run_interruptible(call, store_path: Path, bar):
    """Run ``call()`` (a flow) so that Ctrl-C and SIGTERM stop the command at once and cleanly.

    In the main thread Prefect's engine answers SIGTERM by unwinding the flow, which waits for the
    running chunks (minutes with the diffusion models), and a Ctrl-C ended in an abort in torch's
    threads at exit. So the flow runs in a worker thread (where Prefect installs no handler) and the
    main thread's handler records the interruption, releases the reel's lock, stops the temporary
    Prefect server and exits at once, before any encode: a chunk's frames are marked done only after
    their results are written, so the next run resumes where this one stopped.
    """
    import signal
    import threading

    from flows.restore_reel import release_locks
    from restoration.store.provenance import ProvenanceStore
    from restoration.store.runs import log_run_interrupted

    def stop(signum, _frame):
        bar.stop()
        name = signal.Signals(signum).name
        console.print(f"interrupted ({name}), run again to resume", highlight=False)
        try:
            log_run_interrupted(ProvenanceStore(store_path), name)
        except OSError:
            pass  # the store stays resumable without the note
        release_locks()
        server = sys.modules.get("prefect.server.api.server")
        for instance in list(server.SubprocessASGIServer._instances.values()) if server else []:
            instance.stop()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(128 + signum)  # no interpreter teardown: torch's threads abort it

    outcome = {}

    def target():
        try:
            outcome["result"] = call()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            outcome["error"] = exc

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        worker = threading.Thread(target=target, name="restoration-flow", daemon=True)
        worker.start()
        while worker.is_alive():
            worker.join(0.2)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


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
@clear_errors
def reprocess(
    store: Path = typer.Argument(..., help="A reel's provenance store (<name>.zarr)."),
    frames: str = typer.Option(None, help="Frames to redo, e.g. 3,7,10-12 (default: every flagged or sent-back frame)."),
    seed: int = typer.Option(None, help="Seed for the new attempt (default: one not used on this reel before)."),
    settings: str = typer.Option(None, help="JSON (or a JSON file) overriding settings of the last run."),
    reencode: bool = typer.Option(True, help="Re-encode the master (replaced atomically) afterwards."),
    device: str = typer.Option(None, help="As for restore (default: the last run's setting). " + DEVICE_HELP),
    precision: str = typer.Option(None, help="As for restore (default: the last run's setting). " + PRECISION_HELP),
    runtime: str = typer.Option(None, help="As for restore (default: the last run's setting). " + RUNTIME_HELP),
    threads: int = typer.Option(0, help=THREADS_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the result (frames, seed, still flagged, master) as JSON on stdout."),
):
    """Restore flagged (or chosen) frames again with a new seed or settings, and re-encode the master."""
    from flows.config import RunSettings, restore_config
    from restoration.pipeline.reprocess import frames_to_reprocess, next_config
    from restoration.store.provenance import ProvenanceStore

    # Everything that can be refused is refused here, before Prefect starts.
    s = ProvenanceStore(store)
    run_settings = RunSettings(seed=seed, device=device, precision=precision, runtime=runtime, overrides=_settings(settings))
    use_threads(threads)
    wanted = _parse_frames(frames)
    if wanted:
        bad = [f for f in wanted if not 0 <= f < s.frame_count]
        if bad:
            raise RestorationError(f"--frames: {_frames_text(bad)} outside the reel's 0..{s.frame_count - 1}")
    s.verify(unfinished_ok=True, redoing=wanted or frames_to_reprocess(s))
    try:
        restore_config(run_settings, next_config(s))
    except ValueError as err:
        raise RestorationError(f"settings: {err}") from None
    from flows.reprocess_flagged import reprocess_flagged

    with progress_display() as bar:
        encoding = bar.add_task("re-encoding master", total=s.frame_count)
        with _hooks(on_frame=lambda: bar.advance(encoding)):
            result = _run_interruptible(
                lambda: reprocess_flagged(store=str(store), frames=wanted, settings=run_settings, reencode=reencode),
                s.path,
                bar,
            )
    if as_json:
        print(json.dumps(result, indent=1))
        return
    if not result["frames"]:
        console.print("nothing to reprocess: no flagged or sent-back frames")
        return
    console.print(f"reprocessed {len(result['frames'])} frames with seed {result['seed']}: {_frames_text(result['frames'])}")
    if result["still_flagged"]:
        console.print(f"still flagged: {_frames_text(result['still_flagged'])}")
    if result["master"]:
        console.print(f"master: {result['master']}")


@app.command()
@clear_errors
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
    from flows.config import RunSettings
    from flows.inbox import restore_inbox

    result = restore_inbox(
        inbox=str(folder),
        out_root=str(out),
        max_concurrent=max_concurrent,
        retry_failed=retry_failed,
        settings=RunSettings(detector=detector, inpainter=inpainter),
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
@clear_errors
def finetune(
    data: list[Path] = typer.Argument(..., help="Clean reels of the collection (path or path@a:b for a part)."),
    models_dir: Path = typer.Option(..., "--models", help="Folder where the new weights are registered."),
    name: str = typer.Option("collection", help="Name for the fine-tuned weights."),
    kind: list[str] = typer.Option(
        ["inpainter", "detector"],
        help="Which models to fine-tune (repeatable): inpainter, detector, or latent (the U-Net of the Stable "
        'Diffusion folder --latent-init; LoRA unless settings say \'{"latent": {"lora_rank": 0}}\'; a GPU job).',
    ),
    steps: int = typer.Option(1000, help="Optimiser steps per model."),
    settings: str = typer.Option(None, help='JSON overriding trainer settings per kind: \'{"inpainter": {"batch": 16}}\'.'),
    latent_init: Path = typer.Option(None, help="The local Stable Diffusion folder the latent kind starts from."),
):
    """Fine-tune the inpainter (and detector) on a collection and register the weights with their SHA-256."""
    from flows.finetune import finetune as finetune_flow

    if "latent" in kind and latent_init is None:
        raise typer.BadParameter("the latent kind needs --latent-init DIR (a Stable Diffusion folder)", param_hint="--kind")
    entries = finetune_flow(
        data=[str(d) for d in data],
        models_dir=str(models_dir),
        name=name,
        kinds=list(kind),
        steps=steps,
        settings=_settings(settings),
        latent_init=str(latent_init) if latent_init else None,
    )
    for e in entries:
        console.print(f"{e['kind']}: {e['path']}  sha256 {e['sha256']}")


if __name__ == "__main__":
    app()


@app.command("worker", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def worker(ctx: typer.Context):
    """Run a Prefect worker (`prefect worker start` and its options, e.g. --pool restoration) that
    stops on SIGTERM or Ctrl-C.

    Prefect's worker answers SIGTERM by sending itself SIGINT, which does nothing where SIGINT is
    ignored (a job started with `&`, some service managers) and otherwise still needs a second
    interrupt. Here the worker runs as a child with SIGINT restored; SIGTERM or SIGINT to this
    command interrupts it (again after 10 s, then terminates it after 20 s) and exits with its status.
    """
    import signal
    import subprocess
    import threading

    child = subprocess.Popen(
        [sys.executable, "-m", "prefect", "worker", "start", *ctx.args],
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    stopping = threading.Event()

    def stop(_signum, _frame):
        if stopping.is_set():
            return
        stopping.set()

        def escalate():
            for sig, wait in ((signal.SIGINT, 10), (signal.SIGINT, 10), (signal.SIGTERM, 0)):
                if child.poll() is not None:
                    return
                child.send_signal(sig)
                try:
                    child.wait(wait)
                except subprocess.TimeoutExpired:
                    continue

        threading.Thread(target=escalate, daemon=True).start()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)
    raise typer.Exit(child.wait())


@app.command()
@clear_errors
def dashboard(
    root: Path = typer.Option(..., "--root", help="Output folder whose provenance stores (*.zarr) operators review."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8765, help="Port to listen on."),
    users: Path = typer.Option(
        None, "--users", help="Users file (default $RESTORATION_DASHBOARD_USERS or ~/.config/restoration/dashboard-users.json)."
    ),
    deployment: str = typer.Option(None, help="Reprocess deployment to start when PREFECT_API_URL is set."),
    reprocess: str = typer.Option("auto", help="auto | deployment | local | mark: how 'send for reprocessing' runs."),
):
    """Serve the review dashboard: reels, per-frame plots, before/after/mask, approve and reprocess."""
    from flows.dashboard import serve

    serve(root, host=host, port=port, users_file=users, deployment=deployment, reprocess=reprocess)


users_app = typer.Typer(help="Dashboard sign-in accounts.", no_args_is_help=True)
app.add_typer(users_app, name="dashboard-user")


@users_app.command("add")
@clear_errors
def dashboard_user_add(
    name: str = typer.Argument(..., help="Operator's sign-in name (letters, digits and . _ - @)."),
    role: str = typer.Option("operator", help="operator (may act) or viewer (may only look)."),
    users: Path = typer.Option(None, "--users", help="Users file (default as for `dashboard`)."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from the first line of stdin (scripts) instead of asking."
    ),
):
    """Add or update a dashboard account; the password (at least 8 characters) is asked for twice and
    stored hashed (scrypt)."""
    from flows.dashboard.app import default_users_file
    from flows.dashboard.auth import MIN_PASSWORD_LENGTH, add_user, check_account

    try:
        check_account(name, role)  # before the password is asked for
    except ValueError as err:
        raise RestorationError(str(err)) from None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise RestorationError(f"password too short: at least {MIN_PASSWORD_LENGTH} characters; nothing saved")
    add_user(users or default_users_file(), name, password, role)
    console.print(f"user {name} ({role}) saved")


@users_app.command("list")
@clear_errors
def dashboard_user_list(
    users: Path = typer.Option(None, "--users", help="Users file (default as for `dashboard`)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON ({name: role}) instead of a table."),
):
    """List the dashboard accounts and their roles (never the password hashes)."""
    from flows.dashboard.app import default_users_file
    from flows.dashboard.auth import load_users

    path = users or default_users_file()
    try:
        accounts = {name: entry.get("role") for name, entry in sorted(load_users(path).items())}
    except ValueError as err:  # JSONDecodeError too
        raise RestorationError(f"{path}: not a users file ({err})") from None
    if as_json:
        print(json.dumps(accounts, indent=1))
        return
    table = Table(title=str(path))
    table.add_column("user")
    table.add_column("role")
    for name, role in accounts.items():
        table.add_row(name, role)
    Console().print(table)


@users_app.command("remove")
@clear_errors
def dashboard_user_remove(
    name: str = typer.Argument(..., help="The account to remove; its sessions end with it."),
    users: Path = typer.Option(None, "--users", help="Users file (default as for `dashboard`)."),
):
    """Remove a dashboard account; a signed-in session of that user ends at its next request."""
    from flows.dashboard.app import default_users_file
    from flows.dashboard.auth import remove_user

    path = users or default_users_file()
    if not remove_user(path, name):
        raise RestorationError(f"{path}: no user {name!r}")
    console.print(f"user {name} removed")
