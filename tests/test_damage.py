"""Damage simulator and film look: exact masks, determinism, coverage per level, transience."""

import numpy as np
import pytest

from restoration.damage import DAMAGE_CLASSES, LEVEL_COVERAGE, DamageConfig, simulate_damage
from restoration.film_look import add_film_look, to_gray


def clip(t=12, h=96, w=128, c=1, dtype=np.uint8, seed=0):
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max
    base = rng.uniform(0.3, 0.7, (1, h, w, c))
    return np.clip((base + rng.normal(0, 0.02, (t, h, w, c))) * top, 0, top).astype(dtype)


@pytest.mark.parametrize("c,dtype", [(1, np.uint8), (3, np.uint8), (1, np.uint16)])
def test_mask_is_exactly_the_changed_pixels(c, dtype):
    clean = clip(c=c, dtype=dtype)
    damaged = simulate_damage(clean, DamageConfig(level="high", seed=1))
    assert damaged.frames.dtype == dtype and damaged.frames.shape == clean.shape
    assert np.array_equal(damaged.mask, (damaged.frames != clean).any(-1))
    assert np.array_equal(damaged.class_map > 0, damaged.mask)
    assert damaged.class_map.max() <= len(DAMAGE_CLASSES)


def test_seed_reproduces_bit_exactly_and_another_seed_differs():
    clean = clip()
    a = simulate_damage(clean, DamageConfig(seed=4))
    b = simulate_damage(clean, DamageConfig(seed=4))
    c = simulate_damage(clean, DamageConfig(seed=5))
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.class_map, b.class_map)
    assert not np.array_equal(a.frames, c.frames)


@pytest.mark.parametrize("level", list(LEVEL_COVERAGE))
@pytest.mark.parametrize("size", [(216, 384), (288, 512)])
def test_each_level_covers_what_it_states(level, size):
    damaged = simulate_damage(clip(t=24, h=size[0], w=size[1]), DamageConfig(level=level, seed=2))
    assert damaged.mask.mean() == pytest.approx(LEVEL_COVERAGE[level], rel=0.25)


def test_transient_damage_moves_and_line_scratch_persists():
    damaged = simulate_damage(clip(t=12, h=128, w=160), DamageConfig(level="medium", seed=3))
    line = DAMAGE_CLASSES.index("line_scratch") + 1
    transient = (damaged.class_map > 0) & (damaged.class_map != line)
    overlap = (transient[1:] & transient[:-1]).sum() / transient[1:].sum()
    assert overlap < 0.05
    columns = [np.flatnonzero((damaged.class_map[i] == line).any(axis=0)) for i in range(12)]
    with_scratch = [cols for cols in columns if len(cols)]
    assert len(with_scratch) >= 4
    centres = [cols.mean() for cols in with_scratch[:4]]
    assert max(centres) - min(centres) < 6


def test_low_level_has_no_line_scratch_and_can_be_switched_off():
    line = DAMAGE_CLASSES.index("line_scratch") + 1
    assert not (simulate_damage(clip(), DamageConfig(level="low")).class_map == line).any()
    assert not (simulate_damage(clip(), DamageConfig(level="high", line_scratch=False)).class_map == line).any()


def test_sprites_from_the_library(shared_data):
    damaged = simulate_damage(clip(t=4), DamageConfig(seed=1, sprites_dir=str(shared_data / "damage_overlays")))
    assert np.array_equal(damaged.mask, (damaged.frames != clip(t=4)).any(-1))
    assert damaged.mask.mean() == pytest.approx(LEVEL_COVERAGE["medium"], rel=0.4)


def test_film_look_keeps_shape_dtype_and_is_deterministic():
    clean = clip(c=3, dtype=np.uint16)
    a, b = add_film_look(clean, seed=1), add_film_look(clean, seed=1)
    assert a.shape == clean.shape and a.dtype == np.uint16 and np.array_equal(a, b)
    # Grain changes most pixels by a little; flicker moves each frame's mean by a few percent at most.
    assert (a != clean).mean() > 0.9
    assert np.abs(a.mean(axis=(1, 2, 3)) / clean.mean(axis=(1, 2, 3)) - 1).max() < 0.06


def test_to_gray_uses_bt709_luma():
    rgb = np.array([[[[255, 0, 0], [0, 255, 0], [0, 0, 255]]]], np.uint8)
    assert to_gray(rgb)[0, 0, :, 0].tolist() == [54, 182, 18]
