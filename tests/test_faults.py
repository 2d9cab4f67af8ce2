"""Fault injection: a restore killed with SIGKILL at every stage boundary resumes bit-identically,
and a write that fails (a full disk) leaves nothing half-made and resumes as well.

Each faulty run is a child process that runs the library's ``restore_reel`` (classical methods, a
small synthetic reel) with one library function wrapped to kill the process at the chosen point;
the resume is the same command without the fault. The matrix is in ``docs/faults.md``.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from clips import damaged_frames, write_clip

from restoration.io.reel import probe, read_frames
from restoration.store.provenance import ARRAYS, STATUS, ProvenanceStore
from restoration.store.verify import master_problems

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import os, signal, sys
from pathlib import Path

import zarr

import restoration.pipeline.chunks as pipeline
from restoration.core.restore import RestoreConfig
from restoration.pipeline.chunks import restore_reel
from restoration.io.reel import probe

reel, out, point = sys.argv[1:4]
kind, _, arg = point.partition(":")


def die():
    os.kill(os.getpid(), signal.SIGKILL)


def wrap(owner, name, before=None, after=None):
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        if before:
            before(*args, **kwargs)
        result = original(*args, **kwargs)
        if after:
            after(*args, **kwargs)
        return result

    setattr(owner, name, wrapper)


def die_after_frames(owner, name, n):
    original = getattr(owner, name)

    def wrapper(path, info, frames, *args, **kwargs):
        def cut():
            for i, frame in enumerate(frames):
                if i == n:
                    die()
                yield frame

        return original(path, info, cut(), *args, **kwargs)

    setattr(owner, name, wrapper)


calls = []
if kind == "chunks":  # after N chunk tasks have written their frames
    wrap(pipeline, "restore_range", after=lambda *a, **k: calls.append(1) or (len(calls) == int(arg) and die()))
elif kind == "write":  # before the Nth array write (a chunk writes fixity, 5 arrays, fixity)
    wrap(zarr.Array, "__setitem__", before=lambda *a, **k: calls.append(1) or (len(calls) == int(arg) and die()))
elif kind in ("master", "access"):  # after N frames of the encode
    die_after_frames(pipeline, {"master": "write_master", "access": "write_access_copy"}[kind], int(arg))
elif kind == "recorded":  # the output's done mark written, the file not yet renamed into place
    wrap(pipeline, "record_output", after=lambda store, what, *a: what == arg and die())
elif kind == "renamed":  # the master in place, the access copy not begun
    wrap(pipeline, "write_access_copy", before=lambda *a, **k: die())
elif kind == "finalise":  # every output made, run_finished not yet logged
    wrap(pipeline, "encode_outputs", after=lambda *a, **k: die())
elif kind == "disk":  # the file system refuses writes past N bytes (a full disk)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    import resource
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(arg), int(arg)))
restore_reel(probe(reel), Path(out), RestoreConfig(detector="temporal", inpainter="temporal_median", chunk_frames=4))
"""

KILL_POINTS = [
    "chunks:1",
    "chunks:2",
    "write:9",
    "write:10",
    "write:12",
    "write:13",
    "write:14",
    "master:0",
    "master:5",
    "recorded:master",
    "renamed",
    "access:3",
    "recorded:access",
    "finalise",
]


def restore(reel: Path, out: Path, point: str = "none") -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", CHILD, str(reel), str(out), point], capture_output=True, text=True, env=env, check=False)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The reel and an uninterrupted restore of it."""
    folder = tmp_path_factory.mktemp("faults")
    reel = write_clip(folder / "reel.mkv", damaged_frames(), "gray")
    out = folder / "reference"
    result = restore(reel, out)
    assert result.returncode == 0, result.stderr
    return reel, out


def assert_same_as_reference(out: Path, reference: Path, outputs_written: int = 2):
    store, ref = ProvenanceStore(out / "reel.zarr"), ProvenanceStore(reference / "reel.zarr")
    for name in (*ARRAYS, "fixity"):
        assert np.array_equal(store.group[name][:], ref.group[name][:], equal_nan=name == "scores"), name
    assert store.problems(full=True) == []
    master, access = out / "reel.master.mkv", out / "reel.access.mp4"
    assert master_problems(store, master) == []
    assert np.array_equal(read_frames(probe(master)), read_frames(probe(reference / "reel.master.mkv")))
    assert probe(access).frame_count == 12
    assert sorted(p.name for p in out.iterdir()) == ["reel.access.mp4", "reel.master.mkv", "reel.zarr"]
    kinds = [e["kind"] for e in store.events() if e["kind"] in ("run_started", "run_finished", "output_written")]
    # A finished stage is never redone: each output is made once, or twice where the kill fell
    # between its done mark and its rename (the mark then names no file, so it is made again).
    assert kinds.count("output_written") == outputs_written and kinds[-1] == "run_finished"


@pytest.mark.slow
@pytest.mark.parametrize("point", KILL_POINTS)
def test_a_restore_killed_at_any_stage_boundary_resumes_bit_identically(reference, tmp_path, point):
    reel, ref = reference
    out = tmp_path / "out"
    killed = restore(reel, out, point)
    assert killed.returncode == -signal.SIGKILL, (point, killed.stderr[-2000:])
    resumed = restore(reel, out)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert_same_as_reference(out, ref, 3 if point.startswith("recorded:") else 2)


@pytest.mark.slow
def test_a_full_disk_during_the_encode_leaves_no_master_and_resumes(reference, tmp_path):
    reel, ref = reference
    out = tmp_path / "out"
    failed = restore(reel, out, f"disk:{20_000}")
    assert failed.returncode == 1
    assert "File too large" in failed.stderr.strip().splitlines()[-1]
    assert sorted(p.name for p in out.iterdir()) == ["reel.zarr"]  # no master, no partial file
    assert ProvenanceStore(out / "reel.zarr").problems(unfinished_ok=True) == []
    resumed = restore(reel, out)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert_same_as_reference(out, ref)


# --------------------------------------------------------------------------- races


@pytest.fixture
def restored(tmp_path):
    """A reel restored in-process with the classical pair, chunks of 4, no access copy."""
    from restoration.core.restore import RestoreConfig
    from restoration.pipeline.chunks import restore_reel

    reel = write_clip(tmp_path / "reel.mkv", damaged_frames(), "gray")
    config = RestoreConfig(detector="temporal", inpainter="temporal_median", chunk_frames=4)
    from dataclasses import replace

    from restoration.io.encode import EncodeConfig

    outputs = restore_reel(probe(reel), tmp_path / "out", replace(config, encode=EncodeConfig(access_copy=False)))
    return ProvenanceStore(outputs.store)


def test_an_operator_decision_made_during_a_reprocessing_stands(restored):
    """The operator approves frame 7 while a reprocessing (holding no lock: the library call) is
    restoring frames 3 and 7; frame 7 keeps the approval instead of being reset."""
    from restoration.pipeline.reprocess import reprocess_frames
    from restoration.store.provenance import STATUS

    restored.set_status([3, 7], "reprocess")
    results = reprocess_frames(restored, [3, 7], on_frame=lambda f, record: f == 3 and restored.set_status([7], "approved"))
    assert [r["frame"] for r in results] == [3]
    assert restored.status()[[3, 7]].tolist() == [STATUS["done"], STATUS["approved"]]
    skipped = [e for e in restored.events() if e["kind"] == "frame_reprocess_skipped"]
    assert [(e["frame"], e["reason"]) for e in skipped] == [(7, "status changed to approved during reprocessing")]
    assert restored.problems(full=True) == []


def test_a_reprocessing_killed_mid_write_is_finished_by_the_next(restored):
    """A frame whose rewrite was cut short (fixity cleared, status already done) is picked up again."""
    from restoration.pipeline.reprocess import frames_to_reprocess

    restored.group["fixity"][5] = -1
    assert np.flatnonzero(restored.status() == STATUS["flagged"]).tolist() == []  # the ends examined too
    assert frames_to_reprocess(restored) == [5]
    assert restored.problems() != [] and restored.problems(unfinished_ok=True) == []


def test_reprocessing_the_frames_named_by_the_check_repairs_the_store(restored):
    """A lost mask chunk blocks every other use of the store; reprocessing that frame rebuilds it
    from the source, and the re-encoded master is source ⊕ diff again."""
    from restoration.core.restore import RestoreConfig
    from restoration.errors import StoreError
    from restoration.pipeline.reprocess import reencode_outputs, reprocess_frames

    frame = int(np.flatnonzero(restored.scores()[:, 0] > 0)[0])
    restored.chunk_file("mask", frame).unlink()
    with pytest.raises(StoreError, match=f"frame {frame} has damage recorded but its mask chunk is missing"):
        reprocess_frames(restored, [frame + 1])
    reprocess_frames(restored, [frame])
    assert restored.problems(full=True) == []
    outputs = reencode_outputs(restored, RestoreConfig(detector="temporal", inpainter="temporal_median"))
    assert master_problems(restored, outputs.master) == []
