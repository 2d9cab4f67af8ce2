"""The `restoration` command on bad input: one clear line, a non-zero exit, nothing at the output."""

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
