"""Restore speed at scale: frames a second of ``restoration restore`` end to end, by frame size, damage
level and threads, beside the decode + encode floor, and how many 1,000-ft reels a day that makes.

Usage: ``python benchmarks/restore_speed.py [--data ../shared/data] [--sizes 384x216:8 720x576:8 2048x1556:16]
[--levels low medium high] [--threads 1 2] [--frames 8] [--methods diffedit/palette temporal/temporal_median]``

For each size (``WIDTHxHEIGHT:BITS``) and level, the last ``--frames`` frames of the clean clip are
resized, made gray and film-like and damaged (as ``runtime.py`` makes its clip), and written as an
FFV1/Matroska reel by the project's own master writer. Then, for each thread count:

- the floor: the same reel decoded chunk by chunk (``read_frames``) and encoded as an FFV1 master
  (``write_master``) in this process, with no detection or fill: the least any restore spends;
- each method (``DETECTOR/INPAINTER``; the first default is the default restore, run without
  method options) as a user runs it: ``restoration restore REEL --out DIR --no-access-copy
  --threads T`` in a subprocess with ``PREFECT_API_URL`` unset, so the temporary Prefect server
  starts as it does for a user. Wall clock runs from start to exit; the run's own seconds (its
  ``run_finished`` event: the flow from probe to master) split off the start-up (everything else:
  imports, the server, the models, which the command loads while the server starts, shut-down).
  Its quality comes from its provenance store: detection F1 of the recorded masks against the true
  mask, and PSNR inside the true mask of the restored frames (the master's pixels) against the clean
  frames, so that a faster setting is judged against the slow one in the same run. ``--slow-path
  WEIGHTS --slow-steps N`` adds that slow one: the default restore with other inpainter weights (the
  teacher of the distilled default) sampled with N DDIM steps, a full tile around every speck.

Each row is kept in ``benchmarks/results/restore-speed.json`` keyed by size, level, threads and
method (a rerun replaces the keys it measures); the section ``section-7-restore-speed.md`` is
rebuilt from all of it, then RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from fractions import Fraction
from functools import partial
from pathlib import Path

import numpy as np
from run_all import machine, write_results_md
from runtime import damaged_clip

from restoration.core.restore import RestoreConfig
from restoration.evaluate.metrics import detection_scores, psnr
from restoration.io.atomic import write_json_atomic
from restoration.io.encode import write_master
from restoration.io.reel import ReelInfo, probe, read_frames, sha256_file
from restoration.store.provenance import ProvenanceStore
from restoration.store.runs import chunk_ranges

HERE = Path(__file__).parent
SIZES = ("384x216:8", "720x576:8", "2048x1556:16")
LEVELS = ("low", "medium", "high")
DEFAULT = f"{RestoreConfig().detector}/{RestoreConfig().inpainter}"
METHODS = (DEFAULT, "temporal/temporal_median")
FLOOR = "floor: decode + encode"
# A 1,000 ft reel of 35 mm film at 16 frames a foot.
REEL_FRAMES = 16_000
DAY_S = 86_400
FPS = Fraction(24)  # sound speed; the rate only labels the reel, nothing is timed by it


def parse_size(text: str) -> tuple[int, int, int]:
    """``"720x576:8"`` -> ``(width, height, bits)``; bits 8 or 16, 8 when left out."""
    dims, _, bits = text.partition(":")
    width, height = (int(v) for v in dims.split("x"))
    if bits not in ("", "8", "16"):
        raise ValueError(f"{text}: bits must be 8 or 16")
    return width, height, int(bits or 8)


def reel_info(path: Path, frames: np.ndarray) -> ReelInfo:
    """What :func:`write_master` needs to write gray ``frames`` ``(T, H, W, 1)`` uint8/uint16 as a reel."""
    count, height, width, _ = frames.shape
    fmt = "gray" if frames.dtype == np.uint8 else "gray16le"
    return ReelInfo(
        path=str(path),
        kind="container",
        container="matroska",
        codec="ffv1",
        width=width,
        height=height,
        pix_fmt=fmt,
        channels=1,
        bit_depth=8 * frames.dtype.itemsize,
        fps=FPS,
        time_base=1 / FPS,
        frame_count=count,
        duration_s=float(count / FPS),
        sha256="",
        decode_format=fmt,
    )


def make_reel(clip: Path, size: str, level: str, frames: int, seed: int, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Write the damaged reel of ``clip`` at ``size`` and ``level`` to ``path``; returns the truth:
    ``(clean frames (T, H, W, 1), damage mask (T, H, W) bool)``."""
    width, height, bits = parse_size(size)
    clean, damaged = damaged_clip(clip, (width, height), frames, seed, level=level, bits=bits)
    write_master(path, reel_info(path, damaged.frames), iter(damaged.frames))
    return clean, damaged.mask


def quality(store: Path, clean: np.ndarray, truth: np.ndarray) -> dict:
    """Detection scores of the masks a run recorded in ``store`` and PSNR (dB) inside the true mask of
    its restored frames (its master's pixels) against ``clean``."""
    mask, original, restored = ProvenanceStore(store).read_diff(0, len(clean))
    full = np.where(mask[..., None], restored, original)
    scores = detection_scores(mask, truth)
    return {
        "precision": scores["precision"],
        "recall": scores["recall"],
        "f1": scores["f1"],
        "psnr_in_damage": psnr(full, clean, mask=truth),
    }


def floor_row(reel: Path, out: Path) -> dict:
    """Decode ``reel`` chunk by chunk as the restore does and encode it as an FFV1 master in ``out``: seconds."""
    t0 = time.perf_counter()
    info = probe(reel)  # the restore probes too (with the SHA-256 of the file)
    chunks = chunk_ranges(info.frame_count, RestoreConfig().chunk_frames)
    write_master(out / f"{reel.stem}.master.mkv", info, (frame for a, b in chunks for frame in read_frames(info, a, b)))
    seconds = time.perf_counter() - t0
    return {"wall_s": seconds, "run_s": seconds}


def restore_command(reel: Path, out: Path, threads: int, method: str, options: Sequence[str] = ()) -> list[str]:
    """The user's command line: the default restore names no methods; ``options`` follow (the slow
    path's weights and settings)."""
    pair = method.split(" ")[0]  # a slow path's name carries its description after the pair
    detector, inpainter = pair.split("/")
    methods = [] if pair == DEFAULT else ["--detector", detector, "--inpainter", inpainter]
    cli = Path(sys.executable).with_name("restoration")
    return [str(cli), "restore", str(reel), "--out", str(out), "--no-access-copy", "--threads", str(threads), *methods, *options]


def slow_path(weights: Path, steps: int) -> tuple[str, list[str]]:
    """The default restore with other inpainter weights sampled with ``steps`` DDIM steps (the
    teacher a distilled inpainter is judged against) and a full tile around every speck (no
    ``speck_tile``): its method name and options."""
    name = f"{DEFAULT} slow path ({steps} steps, full speck tiles, {sha256_file(weights)[:12]})"
    return name, ["--inpainter-weights", str(weights), "--settings", json.dumps({"palette": {"steps": steps, "speck_tile": 0}})]


def restore_row(
    reel: Path, out: Path, threads: int, method: str, clean: np.ndarray, truth: np.ndarray, options: Sequence[str] = ()
) -> dict:
    """Run the restore command; wall seconds, the run's own seconds, what it computed with and its
    :func:`quality` against the truth ``clean``, ``truth``."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    # The checkout this script is in, not whichever one the environment was installed from.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE.parent), env.get("PYTHONPATH")]))
    command = restore_command(reel, out, threads, method, options)
    t0 = time.perf_counter()
    run = subprocess.run(command, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if run.returncode != 0:
        raise SystemExit(f"{' '.join(command)}: exit {run.returncode}\n{run.stderr[-3000:]}")
    store = out / f"{reel.stem}.zarr"
    events = ProvenanceStore(store).events()
    started = next(e for e in events if e["kind"] == "run_started")
    finished = next(e for e in reversed(events) if e["kind"] == "run_finished")
    return {"wall_s": wall, "run_s": finished["seconds"], "compute": started["methods"]["compute"], **quality(store, clean, truth)}


def timed(measure: Callable[[], dict], frames: int) -> dict:
    """``measure()``'s seconds as rates, with the load average (1 min) before and after."""
    before = os.getloadavg()[0]
    row = measure()
    startup = row["wall_s"] - row["run_s"]
    return {
        **row,
        "frames": frames,
        "startup_s": startup,
        "fps": frames / row["wall_s"],
        "fps_run": frames / row["run_s"],
        "reels_per_day": DAY_S / (startup + REEL_FRAMES * row["run_s"] / frames),
        "load_before": before,
        "load_after": os.getloadavg()[0],
    }


def key(size: str, level: str, threads: int, method: str) -> str:
    return f"{size} {level} {threads} {method}"


def run_rows(
    clip: Path,
    sizes: list[str],
    levels: list[str],
    threads: list[int],
    methods: list[str],
    frames: int,
    seed: int,
    work: Path | None,
    options: dict[str, list[str]] | None = None,
    chunk_frames: int = 0,
) -> Iterator[tuple[str, dict]]:
    """``(key, row)`` for the floor and every method at every size, level and thread count, as measured;
    ``options``: a method's extra command-line options, by method name; ``chunk_frames``: the
    restores' ``--chunk-frames`` (0 = the command's default), named in the method's row."""
    chunking = ["--chunk-frames", str(chunk_frames)] if chunk_frames else []
    for size in sizes:
        for level in levels:
            with tempfile.TemporaryDirectory(dir=work) as tmp:
                reel = Path(tmp) / "reel.mkv"
                clean, truth = make_reel(clip, size, level, frames, seed, reel)
                coverage = float(truth.mean())
                for t in threads:
                    for method in [FLOOR, *methods]:
                        out = Path(tempfile.mkdtemp(dir=tmp))
                        measure = (
                            partial(floor_row, reel, out)
                            if method == FLOOR
                            else partial(restore_row, reel, out, t, method, clean, truth, [*(options or {}).get(method, ()), *chunking])
                        )
                        row = timed(measure, frames)
                        when = datetime.now(UTC).date().isoformat()
                        name = f"{method}, chunks of {chunk_frames}" if chunk_frames and method != FLOOR else method
                        row.update(size=size, level=level, threads=t, method=name, coverage=coverage, clip=clip.name, date=when)
                        row["machine"] = machine()
                        yield key(size, level, t, name), row


def _order(row: dict) -> tuple:
    width, height, bits = parse_size(row["size"])
    return (width * height, bits, LEVELS.index(row["level"]), row["threads"], row["method"] != FLOOR, row["method"])


def section(stored: dict) -> str:
    rows = sorted(stored.values(), key=_order)
    floors = {(r["size"], r["level"], r["threads"]): r for r in rows if r["method"] == FLOOR}
    lines = []
    for r in rows:
        floor = floors.get((r["size"], r["level"], r["threads"]))
        compute = r.get("compute")
        how = f"{compute['precision']}, {compute['runtime']}" if compute else "-"
        times_floor = f"{r['run_s'] / floor['run_s']:.1f}" if floor else "-"
        startup = "-" if r["method"] == FLOOR else f"{r['startup_s']:.1f}"
        width, height, bits = parse_size(r["size"])
        f1 = f"{r['f1']:.3f}" if "f1" in r else "-"
        in_damage = f"{r['psnr_in_damage']:.2f}" if "psnr_in_damage" in r else "-"
        lines.append(
            f"| {width}x{height} | {bits} | {r['level']} | {r['coverage']:.2%} | {r['threads']} | {r['method']} | {how} | {r['frames']} "
            f"| {r['wall_s']:.2f} | {startup} | {r['fps']:.3f} | {r['fps_run']:.3f} | {times_floor} "
            f"| {r['reels_per_day']:.2f} | {f1} | {in_damage} | {r['load_before']:.1f} / {r['load_after']:.1f} |"
        )
    machines = sorted({r["machine"] for r in rows})
    dates = sorted({r["date"] for r in rows})
    return "\n".join(
        [
            "## Restore speed at scale",
            "",
            f"`benchmarks/restore_speed.py`. Machine: {'; '.join(machines)}. Date: {dates[0]} to {dates[-1]}. "
            f"Each reel: the last frames of `{rows[0]['clip']}`, resized, "
            "gray (8 or 16 bit), film look, simulated damage at the level, written as FFV1/Matroska. Each method row is "
            "`restoration restore REEL --out DIR --no-access-copy --threads T` (plus `--detector D --inpainter I` for "
            f"other than the default `{DEFAULT}`; a `slow path` row adds `--inpainter-weights W --settings "
            '\'{"palette": {"steps": N, "speck_tile": 0}}\'`: the teacher a distilled inpainter is judged against, a full tile '
            "around every speck, on the same reel in the same run; a `runtime R` row adds `--runtime R` (the default "
            "rows: `--runtime auto`, which chooses by precision, see the `precision, runtime` column; since 2026-12-07 "
            "OpenVINO for bfloat16 on a CPU, before that torch); `, chunks of N`: `--chunk-frames N` on a reel of "
            "several chunks, which the command restores as many at once as it chooses (`--parallel` automatic: one chunk "
            "per core on one thread each, or one per `--threads` cores, so a 1-thread row runs two chunks at once on 2 "
            "cores and a 2-thread row one)) run as a user runs it, with `PREFECT_API_URL` unset, so the temporary "
            "Prefect server starts as it does for a user. Wall: from start to exit. Start-up: wall less the run's own "
            "seconds (its `run_finished` event: the flow from probe to master: detection, fill, encoding), i.e. imports, the "
            "server, the models (loaded while the server starts) and shut-down. Frames/s end to end: frames / wall; "
            "excluding start-up: frames / the run's seconds. The floor: the same reel decoded chunk by chunk and encoded as an FFV1 master by "
            "the project's reader and writer in the benchmark's process, no detection or fill; x floor: the run's "
            "seconds over the floor's. Reels a day: a 1,000 ft reel of 35 mm film is 16,000 frames (16 frames a foot), "
            "restored one at a time: 86,400 s / (start-up + 16,000 x the run's seconds a frame). F1: the run's recorded "
            "masks against the true mask, every frame pooled; PSNR in damage: the restored frames inside the true mask "
            "against the clean frames, dB (- : rows measured before the script recorded quality). Load: the 1-minute load "
            "average before / after the row; the machine is shared, and other work slows rows. Motion: the 2048x1556 "
            "default row of 2026-12-07 afternoon estimates the flow on views shrunk to 1024 px (`MotionConfig.flow_max_side`, "
            "the default since), the other 2K rows at full size; x floor divides by the latest floor row.",
            "",
            "| size | bits | level | damage | threads | method | precision, runtime | frames | wall s | start-up s "
            "| frames/s end to end | frames/s excl. start-up | x floor | 1,000-ft reels a day | F1 | PSNR in damage dB | load |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
            *lines,
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--clip", default="intel_car-detection.mp4")
    parser.add_argument("--sizes", nargs="*", default=list(SIZES), help="WIDTHxHEIGHT:BITS, e.g. 720x576:8 or 2048x1556:16.")
    parser.add_argument("--levels", nargs="*", default=list(LEVELS), choices=LEVELS)
    parser.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--frames", type=int, default=8, help="Frames in each reel; every one is restored.")
    parser.add_argument("--methods", nargs="*", default=list(METHODS), help="DETECTOR/INPAINTER, e.g. temporal/temporal_median.")
    parser.add_argument("--slow-path", type=Path, default=None, help="Also run the default restore with these inpainter weights ...")
    parser.add_argument(
        "--slow-steps", type=int, default=5, help="... sampled with this many DDIM steps (the teacher of a distilled inpainter)."
    )
    parser.add_argument(
        "--runtimes",
        nargs="*",
        default=[],
        choices=["torch", "onnxruntime", "openvino"],
        help="Also run the default restore with --runtime R for each (beside the default's automatic choice).",
    )
    parser.add_argument(
        "--chunk-frames",
        type=int,
        default=0,
        help="Frames per chunk of each restore (0: the command's default, 16). A reel of several chunks shows how many "
        "the command restores at once (--parallel automatic: one per core on one thread each, or one per --threads cores).",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=None, help="Folder for the reels and outputs (default: the system's temporary one).")
    parser.add_argument("--tables-only", action="store_true", help="Only rebuild the section from restore-speed.json.")
    args = parser.parse_args()
    path = HERE / "results" / "restore-speed.json"
    stored = json.loads(path.read_text()) if path.exists() else {}
    if not args.tables_only:
        clip = args.data / "clean_video" / args.clip
        methods, options = list(args.methods), {}
        if args.slow_path:
            name, extra = slow_path(args.slow_path, args.slow_steps)
            methods.insert(1, name)
            options[name] = extra
        for runtime in args.runtimes:
            name = f"{DEFAULT} runtime {runtime}"
            methods.insert(1, name)
            options[name] = ["--runtime", runtime]
        rows = run_rows(clip, args.sizes, args.levels, args.threads, methods, args.frames, args.seed, args.work, options, args.chunk_frames)
        for name, row in rows:
            print(
                name,
                json.dumps(
                    {k: row[k] for k in ("wall_s", "startup_s", "fps", "fps_run", "reels_per_day", "f1", "psnr_in_damage") if k in row}
                ),
                flush=True,
            )
            stored[name] = row
            write_json_atomic(path, stored)  # after every row: a long run that stops keeps what it measured
    if not stored:
        raise SystemExit(f"{path}: nothing measured yet")
    (HERE / "results" / "section-7-restore-speed.md").write_text(section(stored) + "\n")
    print(write_results_md())


if __name__ == "__main__":
    main()
