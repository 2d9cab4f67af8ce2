"""The library's commands: probe, status and revert reels, and run the benchmark.

The ``restoration`` console script is ``flows.cli:app``, which adds the orchestrated commands
(restore, inbox, reprocess, finetune) to this app; the library itself knows nothing of Prefect.
"""

from __future__ import annotations

import datetime
import json
import time
from functools import wraps
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text
from typer.core import TyperArgument, TyperOption

from restoration import __version__
from restoration.errors import RestorationError
from restoration.io.atomic import atomic_path


class _Argument(TyperArgument):
    """A positional argument shown as ``REEL`` in usage lines (typer writes ``{reel}``)."""

    def _usage_display_name(self) -> str:
        name = self.name.upper()
        return (name if self.required else f"[{name}]") + ("..." if self.nargs != 1 else "")

    def _rich_display_name(self) -> str:
        return self.name.upper() + ("..." if self.nargs != 1 else "")


class _Option(TyperOption):
    """An option whose help shows no ``<bool>`` beside a plain flag (it takes no value)."""

    def display_type_rich(self, ctx):
        return None if self.is_flag else super().display_type_rich(ctx)


def _plain_help(command) -> None:
    """Give every parameter of ``command`` and its subcommands the plainer help display."""
    help_option = command.get_help_option(typer.Context(command))  # made once, then cached
    for param in [*command.params, *([help_option] if help_option else [])]:
        if type(param) is TyperArgument:
            param.__class__ = _Argument
        elif type(param) is TyperOption:
            param.__class__ = _Option
    for sub in getattr(command, "commands", {}).values():
        _plain_help(sub)


class _App(typer.Typer):
    def __call__(self, *args, **kwargs):
        command = typer.main.get_command(self)
        _plain_help(command)
        return command(*args, **kwargs)


def _version(value: bool) -> None:
    if value:
        print(f"restoration {__version__}")
        raise typer.Exit()


app = _App(
    help="Restore scanned film reels: remove dust, dirt, hair and scratches, touch nothing else, "
    "and record every change so it can be reviewed and undone.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console(stderr=True)


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
):
    pass


def clear_errors(command):
    """Turn a user-facing error into one line on stderr and exit status 1, with no traceback."""

    @wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except RestorationError as err:
            console.print(f"[red]error:[/red] {err}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except OSError as err:
            # The file system refused (full disk, permissions, a vanished file): say which file.
            where = f"{err.filename}: " if err.filename else ""
            console.print(f"[red]error:[/red] {where}{err.strerror or err}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper


DEVICE_HELP = "auto (a CUDA GPU when torch sees one, else the CPU), cpu, or cuda[:N] (an error where there is none)."
PRECISION_HELP = "Network precision: auto (bfloat16 only where the CPU or GPU computes it natively, else float32), float32 or bfloat16."
RUNTIME_HELP = (
    "What runs the U-Nets: auto (on a CPU ONNX Runtime for float32 and OpenVINO for bfloat16; torch on a GPU), torch, "
    "onnxruntime (float32, CPU) or openvino (CPU)."
)
THREADS_HELP = "Intra-op threads for torch and OpenCV (0 = this machine's cores shared out among the chunks run at once)."


def use_threads(threads: int, workers: int = 1) -> int:
    """Set the intra-op threads a command computes with (:func:`restoration.core.compute.set_threads`):
    ``threads``, or with 0 the cores shared out among ``workers``; returns the number set."""
    from restoration.core.compute import default_threads, set_threads

    if threads < 0:
        raise typer.BadParameter("must be 0 (automatic) or more", param_hint="--threads")
    n = threads or default_threads(workers)
    set_threads(n)
    return n


class _FramesPerSecond(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(f"{task.speed:.2f} frames/s" if task.speed else "")


class LineProgress:
    """The progress bars' API for an output that is not a terminal (a batch log, a scheduler):
    one line per task every ``every_s`` seconds while it moves, and one when the run ends, e.g.
    ``restoring: 17/48 frames, 0.82 frames/s, ETA 0:00:38``."""

    def __init__(self, out: Console, every_s: float = 10.0):
        self.out, self.every_s = out, every_s
        self.tasks: list[dict] = []

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def add_task(self, description: str, total: float | None = None) -> TaskID:
        now = time.monotonic()
        self.tasks.append(
            {"description": description, "total": total, "completed": 0, "start": now, "said": now, "moved": False, "rated": False}
        )
        return TaskID(len(self.tasks) - 1)

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        self.update(task_id, completed=self.tasks[task_id]["completed"] + advance)

    def update(self, task_id: TaskID, completed: float | None = None, total: float | None = None) -> None:
        task = self.tasks[task_id]
        if total is not None:
            task["total"] = total
        if completed is not None and completed != task["completed"]:
            if not task["moved"]:
                # The rate counts from the first unit done: the wait before it is start-up (models, decoding).
                task["start"], task["base"], task["moved"] = time.monotonic(), completed, True
            task["completed"] = completed
        # The first line with a rate comes as soon as there is one, then one every every_s.
        if task["moved"] and (time.monotonic() - task["said"] >= self.every_s or not task["rated"] and task["completed"] > task["base"]):
            self._say(task)

    def stop(self) -> None:
        for task in self.tasks:
            if task["moved"] and task["said"] < time.monotonic():
                self._say(task)
                task["said"] = float("inf")

    def _say(self, task: dict) -> None:
        task["said"] = time.monotonic()
        done, total = task["completed"], task["total"]
        line = f"{task['description']}: {done:g}" + (f"/{total:g}" if total else "") + " frames"
        if done > task["base"]:
            rate = (done - task["base"]) / (task["said"] - task["start"])
            line += f", {rate:.2f} frames/s"
            task["rated"] = True
            if total:
                line += f", ETA {datetime.timedelta(seconds=round((total - done) / rate))}"
        self.out.print(line, highlight=False)


def progress_display() -> Progress | LineProgress:
    """Progress bars with frames a second and the time left on a terminal; periodic lines otherwise."""
    if not console.is_terminal:
        return LineProgress(console)
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _FramesPerSecond(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


@app.command()
@clear_errors
def probe(
    reel: Path = typer.Argument(..., help="Video file (MKV, MOV, MP4, ...) or folder of PNG/TIFF/DPX frames."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
):
    """Describe a reel: codec, size, bit depth, exact frame rate, frames, audio, timecode, SHA-256."""
    from restoration.io.reel import probe as probe_reel

    info = probe_reel(reel)
    data = info.to_dict()
    if as_json:
        print(json.dumps(data, indent=1))
        return
    table = Table(show_header=False)
    for key, value in data.items():
        table.add_row(key, str(value))
    Console().print(table)


@app.command()
@clear_errors
def status(
    store: Path = typer.Argument(..., help="A reel's provenance store (<name>.zarr)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (the summary and the last events) instead of a table."),
):
    """Show a store's progress: frames per status, mean damage, event count, last events.

    A store that fails its check (a chunk of a finished frame missing, a damaged event log) is
    refused, naming what is missing; while a run holds the store, its half-written frames are
    expected and the check waits for the run to end.
    """
    from restoration.store.lock import ReelLockedError, RunLock
    from restoration.store.provenance import ProvenanceStore

    s = ProvenanceStore(store, mode="r")
    try:
        RunLock(s.path).check()
        s.verify()
        note = None
    except ReelLockedError:
        note = "a run is in progress: figures change as it goes (checked when it ends)"
    summary = s.summary()
    if as_json:
        print(json.dumps({**summary, "last_events": s.events()[-5:], "note": note}, indent=1, default=str))
        return
    table = Table(title=f"{Path(summary['reel']).name}: {summary['frames']} frames")
    table.add_column("status")
    table.add_column("frames", justify="right")
    for name, count in summary["status"].items():
        table.add_row(name, str(count))
    out = Console()
    out.print(table)
    out.print(f"mean damage fraction: {summary['mean_damage_fraction']:.4%}")
    for event in s.events()[-5:]:
        out.print(f"{event['time']}  {event['kind']}  by {event['user']}", highlight=False)
    if note:
        out.print(note)


@app.command()
@clear_errors
def verify(
    store: Path = typer.Argument(..., help="A reel's provenance store (<name>.zarr)."),
    master: Path = typer.Option(None, "--master", "-m", help="Also check this master against the store (and the source, if present)."),
):
    """Fixity check: every finished frame's chunks present and matching the CRC-32 recorded when it
    was written; with --master, the master's SHA-256 as recorded and every frame equal to source ⊕ diff.

    Prints one line per problem and exits 1 if there is any; exits 0 with a summary otherwise.
    """
    from restoration.store.provenance import ProvenanceStore
    from restoration.store.verify import master_problems, source_available

    s = ProvenanceStore(store, mode="r")
    out = Console()
    found = s.problems(full=True)
    if master is not None and not found:
        found = master_problems(s, master)
    for line in found:
        out.print(f"[red]fail:[/red] {line}", highlight=False, soft_wrap=True)
    if found:
        raise typer.Exit(1)
    finished = int((~s.todo()).sum())
    checked = "without CRCs (store made before they were recorded)" if not s.has_fixity else "CRC-32 of every diff matches"
    out.print(f"ok: {s.path}: {finished} of {s.frame_count} frames finished, {checked}", highlight=False, soft_wrap=True)
    if master is not None:
        against = "source ⊕ diff" if source_available(s) else "the stored restored pixels (source absent or changed)"
        out.print(f"ok: {master}: every frame matches {against}", highlight=False, soft_wrap=True)


@app.command()
@clear_errors
def revert(
    master: Path = typer.Argument(..., help="A restored master (<name>.master.mkv)."),
    store: Path = typer.Option(..., "--store", "-s", help="Its provenance store (<name>.zarr)."),
    out: Path = typer.Option(..., "--out", "-o", help="Where to write the reverted FFV1 master."),
):
    """Undo a restoration: rebuild the source frames bit-exactly from MASTER and its STORE."""
    from restoration.pipeline.chunks import revert_output
    from restoration.store.provenance import ProvenanceStore

    revert_output(master, ProvenanceStore(store), out)
    console.print(f"reverted: {out}")


@app.command()
@clear_errors
def bench(
    clean: Path = typer.Option(..., "--clean", help="A clean clip (any video PyAV reads) to damage and restore."),
    level: str = typer.Option("medium", help="Damage level: low, medium or high."),
    seed: int = typer.Option(0, help="Seed for the film look and the damage."),
    frames: int = typer.Option(48, help="Frames to use, taken from the end of the clip unless --start is given."),
    start: int = typer.Option(None, help="First frame of the window (default: the last FRAMES frames)."),
    sprites: Path = typer.Option(None, help="Damage sprite library (folders of RGBA PNGs); default: procedural."),
    json_out: Path = typer.Option(None, "--json", help="Also write the full results as JSON here."),
    palette: bool = typer.Option(False, help="Also run the Palette inpainter (tens of seconds a frame on a CPU)."),
    device: str = typer.Option("auto", help=DEVICE_HELP),
    precision: str = typer.Option("auto", help=PRECISION_HELP),
    runtime: str = typer.Option("auto", help=RUNTIME_HELP),
    threads: int = typer.Option(0, help=THREADS_HELP),
):
    """Damage a clean clip with known masks, run every method, print precision/recall, PSNR, flicker, speed."""
    from restoration.core.restore import RestoreConfig
    from restoration.evaluate.benchmark import BenchConfig, available_methods, load_clip, run_benchmark

    try:
        restore_config = RestoreConfig(device=device, precision=precision, runtime=runtime)
    except ValueError as err:
        raise RestorationError(str(err)) from None
    use_threads(threads)

    if level not in ("low", "medium", "high"):
        raise typer.BadParameter("level must be low, medium or high", param_hint="--level")
    config = BenchConfig(level=level, seed=seed, frames=frames, start=start, sprites_dir=str(sprites) if sprites else None)
    reference, source = load_clip(clean, config)
    with progress_display() as bar:
        task = bar.add_task("benchmark", total=None)
        result = run_benchmark(reference, config, *available_methods(restore_config, palette=palette), on_frame=lambda: bar.advance(task))
    result["source"] = source
    table = Table(title=f"{source['clip']} [{source['start']}, +{source['frames']}) {level}: damage {result['damage_coverage']:.2%}")
    for col in ("method", "precision", "recall", "F1", "PSNR in mask", "changed outside", "flicker / clean", "s/frame"):
        table.add_column(col, justify="right")
    for m in result["methods"]:
        d = m["detection"]
        table.add_row(
            m["method"],
            f"{d['precision']:.3f}",
            f"{d['recall']:.3f}",
            f"{d['f1']:.3f}",
            f"{m['psnr_in_mask']:.2f}",
            str(m["changed_outside"]),
            f"{m['flicker'] / m['flicker_clean']:.3f}",
            f"{m['seconds_per_frame_detect'] + m['seconds_per_frame_inpaint']:.3f}",
        )
    Console().print(table)
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result, indent=1))


@app.command()
@clear_errors
def fill(
    source: Path = typer.Argument(
        ..., help="A still image (PNG, TIFF, ...), or a reel (video file or image-sequence folder) with --frame."
    ),
    mask: Path = typer.Option(..., "--mask", help="Mask image of the same size: damage where non-zero (where alpha > 0 if it has alpha)."),
    out: Path = typer.Option(..., "--out", "-o", help="The filled frame (PNG or TIFF, bit depth kept); never overwritten."),
    frame: int = typer.Option(None, help="Which frame of a reel to fill; its neighbours fill it where they agree."),
    inpainter: str = typer.Option(
        "temporal_median", help="temporal_median (classical; on a still: from the surroundings) or palette (diffusion model)."
    ),
    seed: int = typer.Option(0, help="Seed for the diffusion model."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
):
    """Fill a still or one reel frame under a given mask; every pixel outside the mask stays as it was.

    The way to try a fill on a still, or to redo one frame with a hand-made mask.
    """
    import cv2
    import numpy as np

    from restoration.core.restore import RestoreConfig, fill_frame, load_models
    from restoration.errors import OutputExistsError, ReelError
    from restoration.pipeline.operator_masks import read_mask_png

    if out.exists():
        raise OutputExistsError(f"{out}: output already exists; remove it or choose another --out")
    if frame is None:
        image = cv2.imread(str(source), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise ReelError(f"{source}: not an image file (a reel needs --frame N)")
        if image.ndim == 2:
            image = image[..., None]
        elif image.shape[2] == 3:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        else:
            raise ReelError(f"{source}: {image.shape[2]} channels; gray or RGB only")
        frames, index, number = image[None], 0, 0
    else:
        from restoration.io.reel import probe as probe_reel
        from restoration.io.reel import read_frames

        info = probe_reel(source)
        if not 0 <= frame < info.frame_count:
            raise typer.BadParameter(f"frame {frame} outside 0..{info.frame_count - 1}", param_hint="--frame")
        lo, hi = max(0, frame - 2), min(info.frame_count, frame + 3)
        frames, index, number = read_frames(info, lo, hi), frame - lo, frame
    masks = np.zeros(frames.shape[:3], bool)
    masks[index] = read_mask_png(mask, frames.shape[1:3])
    config = RestoreConfig(detector="temporal", inpainter=inpainter, seed=seed)
    restored, scores, reason = fill_frame(frames, masks, index, number, config, load_models(config))
    written = restored if restored.shape[2] == 1 else cv2.cvtColor(restored, cv2.COLOR_RGB2BGR)
    with atomic_path(out, keep_suffix=True) as tmp:
        if not cv2.imwrite(str(tmp), written):
            raise ReelError(f"{out}: cannot write this image format (use .png or .tif)")
    result = {
        "out": str(out),
        "pixels_filled": int(masks[index].sum()),
        "consistency": None if np.isnan(scores[1]) else float(scores[1]),
        "flagged": reason,
    }
    if as_json:
        print(json.dumps(result, indent=1))
    else:
        console.print(f"filled {result['pixels_filled']} pixels: {out}" + (f" (check: {reason})" if reason else ""))


train_app = typer.Typer(help="Train or fine-tune the shipped models (CPU; checkpoints and resume).", no_args_is_help=True)
app.add_typer(train_app, name="train")
_FORWARD = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


@train_app.command("detector", context_settings=_FORWARD)
def train_detector(ctx: typer.Context):
    """Train the DiffEdit damage detector; options as `python -m restoration.train.detector --help`."""
    from restoration.train.detector import main as train_main

    train_main(ctx.args)


@train_app.command("inpainter", context_settings=_FORWARD)
def train_inpainter(ctx: typer.Context):
    """Train or fine-tune (--init WEIGHTS --data REEL) the Palette inpainter; options as
    `python -m restoration.train.inpainter --help`."""
    from restoration.train.inpainter import main as train_main

    train_main(ctx.args)


@train_app.command("distill", context_settings=_FORWARD)
def train_distill(ctx: typer.Context):
    """Distil the Palette inpainter into a student that samples in half the network calls
    (progressive distillation); options as `python -m restoration.train.distill --help`."""
    from restoration.train.distill import main as train_main

    train_main(ctx.args)
