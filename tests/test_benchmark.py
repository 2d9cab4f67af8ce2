"""The benchmark harness on a tiny synthetic clip: known answers for the reference methods."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from clips import random_frames, write_clip

from restoration.evaluate.benchmark import BASELINES, BenchConfig, Method, load_clip, run_benchmark, run_false_alarms
from restoration.evaluate.metrics import SIZE_BUCKETS
from restoration.simulate.film_look import add_film_look

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


@pytest.fixture(scope="module")
def result():
    clean = random_frames(6, 96, 128, 1, np.uint8)
    return run_benchmark(clean, BenchConfig(level="high", seed=1))


def by_name(result):
    return {m["method"]: m for m in result["methods"]}


def test_every_baseline_is_scored(result):
    assert [(m["method"], m["aware"], m["neighbours"]) for m in result["methods"]] == [(m.name, m.aware, m.neighbours) for m in BASELINES]
    assert result["damage_coverage"] > 0


def test_untouched_input_finds_nothing_and_changes_nothing(result):
    untouched = by_name(result)["untouched"]
    assert untouched["detection"]["recall"] == 0.0 and untouched["detection"]["tp"] == 0
    assert untouched["changed_outside"] == 0
    assert untouched["psnr_in_mask"] == untouched["psnr_in_mask_damaged"]


def test_oracle_detection_is_perfect_and_touches_only_damage(result):
    for name in [m.name for m in BASELINES if m.detector == "oracle"]:
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


def test_without_neighbours_both_classical_fills_are_telea(result):
    rows = by_name(result)
    telea = rows["oracle + telea"]
    for name in ("oracle + telea, no neighbours", "oracle + temporal median, no neighbours"):
        keys = ("psnr_in_mask", "psnr_in_mask_by_size", "ssim_in_mask", "psnr_frame", "changed_outside")
        assert {k: rows[name][k] for k in keys} == {k: telea[k] for k in keys}
        assert rows[name]["neighbours"] == "none"
    assert rows["oracle + temporal median"]["psnr_in_mask"] != telea["psnr_in_mask"]  # with neighbours it is no Telea


def test_in_mask_psnr_per_size_covers_the_true_mask(result):
    frames, height, width = 6, 96, 128
    for m in result["methods"]:
        sizes = m["psnr_in_mask_by_size"]
        assert list(sizes) == [b for b in SIZE_BUCKETS if b in sizes] and sizes
        assert sum(c["pixels"] for c in sizes.values()) == round(result["damage_coverage"] * frames * height * width)
    untouched = by_name(result)["untouched"]["psnr_in_mask_by_size"]
    assert by_name(result)["oracle + telea"]["psnr_in_mask_by_size"].keys() == untouched.keys()


def test_withheld_neighbours_reach_the_inpainter_black_and_invalid():
    seen = []

    def spy(frame, mask, neighbours, i):
        seen.append([(warped.shape, bool(warped.any()), bool(valid.any())) for warped, valid in neighbours])
        return frame

    clean = random_frames(3, 32, 48, 1, np.uint8)
    method = Method("oracle + spy, no neighbours", "oracle", "spy", neighbours="none")
    run_benchmark(clean, BenchConfig(level="high", seed=1), (method,), inpainters={"spy": spy})
    assert seen == [[((32, 48, 1), False, False)] * 2] * 3
    with pytest.raises(ValueError, match="neighbours"):
        Method("oracle + telea, one neighbour", "oracle", "telea", neighbours="one")


def test_size_table_skips_runs_and_cells_without_the_split():
    from run_all import size_table

    source = {"clip": "a.mp4", "size": "64x48"}
    old = {"config": {"level": "low"}, "source": source, "methods": [{"method": "oracle + telea", "psnr_in_mask": 30.0}]}
    assert size_table([old]) == []
    sized = {"psnr_in_mask_by_size": {"<50": {"psnr": 31.0, "pixels": 40}, ">500": {"psnr": 22.5, "pixels": 600}}}
    new = {
        "config": {"level": "high"},
        "source": source,
        "methods": [{"method": "oracle + telea", "psnr_in_mask": 30.0}, {"method": "oracle + palette", "psnr_in_mask": 25.0, **sized}],
    }
    assert size_table([old, new])[-6:] == [
        "| clip | level | method | all | <50 | 50-500 | >500 |",
        "|---|---|---|---|---|---|---|",
        "| a.mp4 (64x48) | high | pixels | 640 | 40 | - | 600 |",
        "| a.mp4 (64x48) | high | oracle + telea | 30.00 | - | - | - |",
        "| a.mp4 (64x48) | high | oracle + palette | 25.00 | 31.00 | - | 22.50 |",
        "",
    ]


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


def test_ring_profile_reads_back_the_simulators_soft_rim():
    from soft_edges import ring_profile

    from restoration.simulate.damage import soften_edges

    clean = np.full((1, 32, 32, 1), 80, np.uint8)
    damaged = clean.copy()
    damaged[0, 10:16, 12:20] = 180  # +100, its ring of 32 px moves +20
    damaged[0, 24:27, 4:7] = 30  # -50, its ring of 16 px moves -10: towards the damage all the same
    mask = damaged[..., 0] != clean[..., 0]
    soft = soften_edges(damaged, clean, mask, 0.2)
    inside, profile = ring_profile(soft[0], clean[0], mask[0])
    assert inside == pytest.approx((48 * 100 + 9 * 50) / 57)
    assert profile == pytest.approx([(32 * 20 + 16 * 10) / 48, 0.0, 0.0])
