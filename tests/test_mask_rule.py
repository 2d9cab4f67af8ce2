"""benchmarks/mask_rule.py: the grid it sweeps and what it refuses."""

import sys
from dataclasses import replace
from pathlib import Path

import pytest

from restoration.core.restore import RestoreConfig
from restoration.detect.diffedit import DiffEditConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from mask_rule import grid_points, maps_key, settings_text  # noqa: E402


def test_the_grid_is_the_product_of_its_values_over_the_defaults():
    points = grid_points({"picture_threshold": [0.12, 0.13], "confirm": [0.0, 0.03, 0.05]})
    assert len(points) == 6
    assert {(p.picture_threshold, p.confirm) for p in points} == {(a, b) for a in (0.12, 0.13) for b in (0.0, 0.03, 0.05)}
    assert all(p.spike_level == DiffEditConfig().spike_level for p in points)
    assert grid_points({}) == [DiffEditConfig()]


def test_settings_that_change_the_score_map_or_are_unknown_are_refused():
    with pytest.raises(SystemExit, match="strength"):
        grid_points({"strength": [0.05]})
    with pytest.raises(SystemExit, match="not DiffEditConfig fields"):
        grid_points({"levle": [0.1]})
    with pytest.raises(ValueError, match="needs picture_threshold > 0"):  # the cascade reads the absolute rule
        grid_points({"picture_threshold": [0.0]})


def test_settings_name_the_level_and_growth_and_what_differs_from_the_defaults():
    default = DiffEditConfig()
    assert settings_text(default) == f"grow_relief {default.grow_relief}, picture_threshold {default.picture_threshold}"
    text = settings_text(grid_points({"picture_threshold": [0.11], "confirm": [0.05]})[0])
    assert text == f"confirm 0.05, grow_relief {default.grow_relief}, picture_threshold 0.11"


def test_stored_maps_are_keyed_by_the_settings_they_depend_on():
    config = RestoreConfig(detector="diffedit", inpainter="temporal_median")
    assert maps_key(config) == maps_key(replace(config, diffedit=replace(config.diffedit, picture_threshold=0.2)))
    assert maps_key(config) != maps_key(replace(config, diffedit=replace(config.diffedit, strength=0.05)))
    assert maps_key(config) != maps_key(replace(config, motion=replace(config.motion, flow_max_side=512)))
