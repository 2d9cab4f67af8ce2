"""The `restoration` command on bad input: one clear line, a non-zero exit, nothing at the output."""

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from clips import random_frames, write_clip

CLI = [str(Path(sys.executable).with_name("restoration"))]


def run(*args, cwd=None):
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(CLI + [str(a) for a in args], capture_output=True, text=True, cwd=cwd, env=env)


def assert_one_line_error(result, message):
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and message in lines[0]


def processes_with(marker: str) -> list[int]:
    """Pids of the processes whose environment holds ``marker`` (Linux /proc)."""
    pids = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker.encode() in environ.read_bytes():
                pids.append(int(environ.parent.name))
        except OSError:
            continue  # gone, or not ours to read
    return pids


def truncated(path: Path) -> Path:
    write_clip(path, random_frames(12, 48, 64, 1, np.uint8), "gray")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


BAD_INPUTS = {
    "missing": (lambda p: p, "no such file"),
    "empty": (lambda p: (p.write_bytes(b""), p)[1], "file is empty"),
    "not video": (lambda p: (p.write_text("WEBVTT\n\n00:01.000 --> 00:04.000\nhello\n"), p)[1], "not a video file"),
    "truncated": (truncated, "truncated stream"),
    "unsupported": (
        lambda p: write_clip(p, random_frames(2, 16, 16, 1, np.uint8), "gray", pix_fmt="ya8", audio=False),
        "unsupported pixel format",
    ),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_restore_refuses_bad_input_and_writes_nothing(tmp_path, case):
    make, message = BAD_INPUTS[case]
    reel = make(tmp_path / "reel.mkv")
    out = tmp_path / "out"
    result = run("restore", reel, "--out", out)
    assert_one_line_error(result, message)
    assert not out.exists()


@pytest.mark.parametrize("case", ["missing", "not video"])
def test_probe_refuses_bad_input(tmp_path, case):
    make, message = BAD_INPUTS[case]
    assert_one_line_error(run("probe", make(tmp_path / "reel.mkv")), message)


def test_restore_refuses_existing_output_and_leaves_it_untouched(tmp_path):
    reel = write_clip(tmp_path / "reel.mkv", random_frames(4, 32, 32, 1, np.uint8), "gray")
    out = tmp_path / "out"
    out.mkdir()
    master = out / "reel.master.mkv"
    master.write_bytes(b"an earlier restoration")
    result = run("restore", reel, "--out", out)
    assert_one_line_error(result, "already exists")
    assert master.read_bytes() == b"an earlier restoration"
    assert sorted(p.name for p in out.iterdir()) == ["reel.master.mkv"]


def test_probe_prints_exact_rate_as_json(tmp_path):
    import json

    reel = write_clip(tmp_path / "reel.mkv", random_frames(3, 16, 16, 3, np.uint16), "rgb48le")
    result = run("probe", reel, "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert (info["fps"], info["bit_depth"], info["frame_count"], info["timecode"]) == ("24000/1001", 16, 3, "01:00:00:00")


def test_help_explains_every_command():
    result = run("--help")
    assert result.returncode == 0
    for command in ("probe", "restore", "status", "revert"):
        assert command in result.stdout


# --------------------------------------------------------------------------- inputs refused before Prefect starts


def read_only_folder(tmp_path: Path) -> Path:
    """A folder this process cannot write in: permission bits, or for root a read-only mount."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return folder
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)], capture_output=True, check=False).returncode:
        pytest.skip("running as root without a way to mount a read-only folder")
    return folder


@pytest.fixture
def ro_folder(tmp_path):
    folder = read_only_folder(tmp_path)
    yield folder
    if os.geteuid() == 0:
        subprocess.run(["umount", str(folder)], check=True)


def small_reel(tmp_path, size=(32, 32)):
    return write_clip(tmp_path / "reel.mkv", random_frames(4, *size, 1, np.uint8), "gray", audio=False)


def test_restore_refuses_an_output_path_that_is_a_file(tmp_path):
    out = tmp_path / "out"
    out.write_text("not a folder")
    for target in (out, out / "sub"):
        result = run("restore", small_reel(tmp_path), "--out", target, "--detector", "temporal", "--inpainter", "temporal_median")
        assert_one_line_error(result, f"{out}: is a file, not a folder")
    assert out.read_text() == "not a folder"


def test_restore_refuses_an_output_folder_it_cannot_write(tmp_path, ro_folder):
    result = run("restore", small_reel(tmp_path), "--out", ro_folder / "out", "--detector", "temporal", "--inpainter", "temporal_median")
    assert_one_line_error(result, f"{ro_folder}: cannot write here")
    assert list(ro_folder.iterdir()) == []


@pytest.mark.parametrize(
    "settings,message",
    [
        ('{"chunk_frames": "x"}', "settings: chunk_frames: expected int, got 'x'"),
        ('{"palette": {"steps": 2.5}}', "settings: palette.steps: expected int, got 2.5"),
        ('{"palette": {"bogus": 1}}', "settings: unknown settings ['palette.bogus']"),
        ('{"motion": {"preset": "slowest"}}', "settings: motion: motion preset must be one of"),
        ('{"motion": 3}', "settings: motion: expected a JSON object of settings, got 3"),
        ('{"seed": true}', "settings: seed: expected int, got True"),
    ],
)
def test_restore_refuses_bad_settings_in_one_line_and_writes_nothing(tmp_path, settings, message):
    out = tmp_path / "out"
    result = run("restore", small_reel(tmp_path), "--out", out, "--settings", settings)
    assert_one_line_error(result, message)
    assert not out.exists()


def test_restore_refuses_frames_too_small_before_making_a_store(tmp_path):
    out = tmp_path / "out"
    result = run("restore", small_reel(tmp_path, (8, 10)), "--out", out, "--detector", "temporal", "--inpainter", "temporal_median")
    assert_one_line_error(result, "frames of 10x8 are too small to restore: motion estimation needs at least 16 px")
    assert not out.exists()


@pytest.fixture
def store_path(tmp_path):
    from restoration.io.reel import probe
    from restoration.store.provenance import ProvenanceStore

    return ProvenanceStore.create(tmp_path / "reel.zarr", probe(small_reel(tmp_path))).path


@pytest.mark.parametrize(
    "args,message",
    [
        (["--frames", "5-3"], "--frames '5-3': range 5-3 runs backwards; write 3-5"),
        (["--frames", "1,x"], "--frames '1,x': 'x' is not a frame number"),
        (["--frames", "-2"], "--frames '-2': '-2' is not a frame number"),
        (["--frames", "2-9"], "--frames: 4, 5, 6, 7, 8, 9 outside the reel's 0..3"),
        (["--settings", '{"foo": 1}'], "settings: unknown settings ['foo']"),
        (["--settings", '{"chunk_frames": "x"}'], "settings: chunk_frames: expected int, got 'x'"),
    ],
)
def test_reprocess_refuses_bad_frames_and_settings(store_path, args, message):
    events = sorted(p.name for p in (store_path / "events").iterdir())
    result = run("reprocess", store_path, *args)
    assert_one_line_error(result, message)
    assert sorted(p.name for p in (store_path / "events").iterdir()) == events


def test_revert_refuses_an_output_folder_it_cannot_write(tmp_path, store_path, ro_folder):
    master = tmp_path / "master.mkv"
    master.write_bytes(b"x")
    result = run("revert", master, "--store", store_path, "--out", ro_folder / "source.mkv")
    assert_one_line_error(result, f"{ro_folder}: cannot write here")


# --------------------------------------------------------------------------- a damaged store


@pytest.fixture
def finished_store(tmp_path):
    """A restored reel (library run, classical pair): its store and master."""
    from restoration.core.restore import RestoreConfig
    from restoration.io.reel import probe
    from restoration.pipeline.chunks import restore_reel

    frames = random_frames(8, 32, 32, 1, np.uint8)
    frames[:, 10:13, 10:13] = 0
    frames[3, 10:13, 10:13] = 255  # one speck on frame 3
    reel = write_clip(tmp_path / "reel.mkv", frames, "gray")
    outputs = restore_reel(probe(reel), tmp_path / "out", RestoreConfig(detector="temporal", inpainter="temporal_median", chunk_frames=4))
    return outputs


@pytest.mark.parametrize(
    "damage,message",
    [
        (
            lambda s: (s / "status" / "c" / "3").unlink(),
            "frame 3 was written in full but reads as pending: its status chunk is missing (status/c/3)",
        ),
        (
            lambda s: (s / "mask" / "c" / "3" / "0" / "0").unlink(),
            "frame 3 has damage recorded but its mask chunk is missing (mask/c/3/0/0)",
        ),
        (lambda s: (s / "zarr.json").write_text((s / "zarr.json").read_text()[:40]), "zarr.json: damaged, cannot be read"),
        (lambda s: min((s / "events").glob("*.json")).write_text("{"), "event file is damaged and cannot be read"),
    ],
)
def test_status_revert_and_reprocess_refuse_a_damaged_store_in_one_line(finished_store, damage, message):
    store, master = finished_store.store, finished_store.master
    assert run("verify", store, "--master", master).returncode == 0
    damage(store)
    for args in (
        ["status", store],
        ["revert", master, "--store", store, "--out", master.with_name("source.mkv")],
        ["reprocess", store, "--frames", "0"],
    ):
        assert_one_line_error(run(*args), message)
    assert not master.with_name("source.mkv").exists()
    report = run("verify", store)  # a fail: line per problem, or one error: line for a store it cannot open
    assert report.returncode == 1 and message in report.stdout + report.stderr


def test_verify_reports_a_master_that_is_not_source_plus_diff(finished_store):
    from dataclasses import replace

    from restoration.io.encode import write_master
    from restoration.io.reel import probe, read_frames
    from restoration.store.provenance import ProvenanceStore

    store, master = finished_store.store, finished_store.master
    ok = run("verify", store, "--master", master)
    assert ok.returncode == 0 and "every frame matches source ⊕ diff" in ok.stdout
    info = probe(master)
    frames = read_frames(info)
    frames[5, 0, 0] ^= 1
    source_sha = ProvenanceStore(store).info.sha256
    other = write_master(master.with_name("other.mkv"), replace(info, sha256=source_sha), iter(frames))
    report = run("verify", store, "--master", other)
    assert report.returncode == 1
    assert "other.mkv: 1 frames differ from source ⊕ diff (5)" in report.stdout


@pytest.mark.slow
def test_a_restore_killed_after_the_master_resumes_with_the_access_copy(tmp_path):
    """The issue's case through the command line and Prefect: the master is in place, the access
    copy half-written, run.lock left behind; the next run finishes instead of "output already exists"."""
    import signal
    import time

    reel = small_reel(tmp_path, (48, 64))
    out = tmp_path / "out"
    args = ["restore", reel, "--out", out, "--detector", "temporal", "--inpainter", "temporal_median"]
    marker = f"RESTORATION_TEST_RUN={tmp_path.name}"
    env = {**os.environ, "COLUMNS": "200", marker.split("=")[0]: tmp_path.name}
    proc = subprocess.Popen(CLI + [str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    master, access = out / "reel.master.mkv", out / "reel.access.mp4"
    deadline = time.monotonic() + 300
    while not master.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    for pid in processes_with(marker):  # a killed command cannot stop its temporary Prefect server
        os.kill(pid, signal.SIGKILL)
    if access.exists():
        pytest.skip("the access copy was finished before the kill could land")
    assert master.exists() and (out / "reel.zarr" / "run.lock").exists()
    result = run(*args)
    assert result.returncode == 0, result.stderr
    assert access.exists() and not (out / ".reel.access.mp4.partial").exists()
    assert run("verify", out / "reel.zarr", "--master", out / "reel.master.mkv").returncode == 0


def test_progress_lines_when_the_output_is_not_a_terminal():
    """A batch log gets periodic lines with frames a second and the time left, and a last line."""
    from rich.console import Console

    from restoration.commands import LineProgress

    console = Console(file=io.StringIO(), force_terminal=False, width=200)
    with LineProgress(console, every_s=0) as bar:
        task = bar.add_task("restoring", total=48)
        bar.update(task, completed=0)  # not moving yet: nothing said
        bar.advance(task, 16)
        bar.advance(task, 16)
    lines = console.file.getvalue().splitlines()
    # The first line has no rate yet: the rate counts from the first frames done, not from start-up.
    assert lines[0] == "restoring: 16/48 frames"
    assert [line.split(",")[0] for line in lines[1:]] == ["restoring: 32/48 frames", "restoring: 32/48 frames"]
    assert all(" frames/s" in line and "ETA " in line for line in lines[1:])


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_is_one_line_before_anything_is_written(tmp_path, monkeypatch):
    """Also: the temporary Prefect server, started while the models load, does not outlive the refusal."""
    marker = f"RESTORATION_TEST_RUN={tmp_path.name}"
    monkeypatch.setenv(*marker.split("="))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    reel = write_clip(tmp_path / "reel.mkv", random_frames(4, 48, 64, 1, np.uint8), "gray")
    result = run("restore", reel, "--out", tmp_path / "out", "--device", "cuda", "--detector", "temporal", "--inpainter", "temporal_median")
    assert_one_line_error(result, "sees no CUDA GPU")
    assert not (tmp_path / "out").exists()
    assert processes_with(marker) == []
