"""The benchmark harness on a tiny synthetic clip: known answers for the reference methods."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from clips import random_frames, write_clip

from restoration.evaluate.benchmark import BASELINES, BenchConfig, load_clip, run_benchmark, run_false_alarms
from restoration.simulate.film_look import add_film_look


@pytest.fixture(scope="module")
def result():
    clean = random_frames(6, 96, 128, 1, np.uint8)
    return run_benchmark(clean, BenchConfig(level="high", seed=1))


def by_name(result):
    return {m["method"]: m for m in result["methods"]}


def test_every_baseline_is_scored(result):
    assert [(m["method"], m["aware"]) for m in result["methods"]] == [(m.name, m.aware) for m in BASELINES]
    assert result["damage_coverage"] > 0


def test_untouched_input_finds_nothing_and_changes_nothing(result):
    untouched = by_name(result)["untouched"]
    assert untouched["detection"]["recall"] == 0.0 and untouched["detection"]["tp"] == 0
    assert untouched["changed_outside"] == 0
    assert untouched["psnr_in_mask"] == untouched["psnr_in_mask_damaged"]


def test_oracle_detection_is_perfect_and_touches_only_damage(result):
    for name in ("oracle + telea", "oracle + temporal median", "oracle + temporal median, plain neighbours"):
        oracle = by_name(result)[name]
        assert oracle["detection"]["precision"] == 1.0 and oracle["detection"]["recall"] == 1.0
        assert oracle["changed_outside"] == 0
        assert oracle["psnr_in_mask"] > oracle["psnr_in_mask_damaged"]


def test_per_class_recall_adds_up_to_overall(result):
    for method in result["methods"]:
        per_class = method["recall_per_class"]
        found = sum(c["pixels"] * c["recall"] for c in per_class.values())
        total = sum(c["pixels"] for c in per_class.values())
        assert found / total == pytest.approx(method["detection"]["recall"])


def test_load_clip_takes_the_last_frames_as_film(tmp_path):
    path = write_clip(tmp_path / "clip.mkv", random_frames(10, 32, 48, 3, np.uint8), "rgb24", audio=False)
    clean, source = load_clip(path, BenchConfig(frames=4))
    assert clean.shape == (4, 32, 48, 1) and source["start"] == 6


def test_bench_command_writes_json(tmp_path):
    path = write_clip(tmp_path / "clip.mkv", random_frames(5, 64, 80, 1, np.uint8), "gray", audio=False)
    out = tmp_path / "bench.json"
    cli = str(Path(sys.executable).with_name("restoration"))
    run = subprocess.run([cli, "bench", "--clean", str(path), "--level", "low", "--json", str(out)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert {m["method"] for m in json.loads(out.read_text())["methods"]} >= {"untouched", "temporal + telea"}


def test_false_alarms_count_every_flagged_pixel_of_an_undamaged_clip():
    clean = add_film_look(random_frames(5, 48, 64, 1, np.uint8), grain=1.0, flicker=1.0, seed=2)
    everything = {"all": lambda frame, neighbours, i: np.ones(frame.shape[:2], bool)}
    result = run_false_alarms(clean, ("none", "all"), everything)
    assert (result["frames"], result["frame_shape"]) == (5, [48, 64, 1])
    assert result["detectors"]["none"]["flagged_pixels"] == 0
    assert result["detectors"]["all"]["flagged_pixels"] == 5 * 48 * 64
    assert result["detectors"]["all"]["flagged_fraction"] == 1.0 == result["detectors"]["all"]["max_frame_fraction"]
