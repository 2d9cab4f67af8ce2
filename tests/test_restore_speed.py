"""benchmarks/restore_speed.py: the reels it writes, the commands it runs, the rows it keeps."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from clips import random_frames, write_clip

from restoration.io.reel import probe, read_frames

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from restore_speed import DEFAULT, FLOOR, make_reel, parse_size, restore_command, run_rows, section, slow_path  # noqa: E402

CLASSICAL = "temporal/temporal_median"


@pytest.fixture
def clip(tmp_path) -> Path:
    return write_clip(tmp_path / "clip.mkv", random_frames(6, 48, 64, 1, np.uint8), "gray", audio=False)


def test_sizes_name_their_bit_depth_or_are_8_bit():
    assert parse_size("2048x1556:16") == (2048, 1556, 16)
    assert parse_size("720x576") == (720, 576, 8)
    with pytest.raises(ValueError, match="bits must be 8 or 16"):
        parse_size("720x576:10")


def test_the_default_restore_names_no_methods(tmp_path):
    reel, out = tmp_path / "reel.mkv", tmp_path / "out"
    assert restore_command(reel, out, 2, DEFAULT)[1:] == ["restore", str(reel), "--out", str(out), "--no-access-copy", "--threads", "2"]
    assert restore_command(reel, out, 1, CLASSICAL)[-4:] == ["--detector", "temporal", "--inpainter", "temporal_median"]


def test_the_slow_path_is_the_default_restore_with_the_teachers_weights_and_steps(tmp_path):
    weights = tmp_path / "teacher.safetensors"
    weights.write_bytes(b"teacher")
    name, options = slow_path(weights, 5)
    assert name.startswith(f"{DEFAULT} slow path (5 steps, ")
    command = restore_command(tmp_path / "reel.mkv", tmp_path / "out", 1, name, options)
    settings = '{"palette": {"steps": 5, "speck_tile": 0}}'
    assert command[-6:] == ["--threads", "1", "--inpainter-weights", str(weights), "--settings", settings]


def test_a_16_bit_reel_is_the_clip_resized_and_damaged(clip, tmp_path):
    clean, truth = make_reel(clip, "40x30:16", "high", 4, 0, tmp_path / "reel.mkv")
    info = probe(tmp_path / "reel.mkv")
    assert (info.width, info.height, info.bit_depth, info.frame_count, info.codec) == (40, 30, 16, 4, "ffv1")
    damaged = read_frames(info)
    assert damaged.dtype == clean.dtype == np.uint16 and clean.shape == damaged.shape and truth.shape == damaged.shape[:3]
    assert 0 < truth.mean() < 1 and np.array_equal(damaged[~truth], clean[~truth])


@pytest.mark.slow
def test_rows_for_the_floor_and_a_restore_through_the_command_line(clip, tmp_path):
    rows = dict(run_rows(clip, ["64x48:8"], ["high"], [1], [CLASSICAL], frames=4, seed=0, work=tmp_path))
    assert list(rows) == [f"64x48:8 high 1 {FLOOR}", f"64x48:8 high 1 {CLASSICAL}"]
    floor, restore = rows.values()
    for row in (floor, restore):
        assert (row["size"], row["level"], row["threads"], row["frames"]) == ("64x48:8", "high", 1, 4)
        assert row["fps"] > 0 and row["fps_run"] >= row["fps"] and row["reels_per_day"] > 0
    assert floor["startup_s"] == 0 and floor["fps"] == floor["fps_run"]
    # The command's wall holds its run and the start-up around it (the temporary Prefect server).
    assert 0 < restore["run_s"] < restore["wall_s"] and restore["startup_s"] > 0
    assert restore["compute"]["threads"] == 1
    # Quality from the run's store: its masks against the truth, its fill inside the true mask.
    assert 0 < restore["f1"] <= 1 and 0 <= restore["precision"] <= 1 and restore["psnr_in_damage"] > 0
    table = section(json.loads(json.dumps(rows))).splitlines()
    assert table[0] == "## Restore speed at scale"
    assert [line.split(" | ")[5] for line in table if line.startswith("| 64x48 ")] == [FLOOR, CLASSICAL]
