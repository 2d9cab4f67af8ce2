"""Damage simulator and film look: exact masks, determinism, coverage per level, transience."""

import cv2
import numpy as np
import pytest

from restoration.simulate.damage import (
    COVERAGE_TOLERANCE,
    DAMAGE_CLASSES,
    LEVEL_COVERAGE,
    DamageConfig,
    coverage,
    simulate_damage,
    soften_edges,
)
from restoration.simulate.film_look import add_film_look, to_gray

LINE = DAMAGE_CLASSES.index("line_scratch") + 1


def clip(t=12, h=96, w=128, c=1, dtype=np.uint8, seed=0):
    """A textured mid-grey clip ``(t, h, w, c)``."""
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max
    base = rng.uniform(0.3, 0.7, (1, h, w, c))
    return np.clip((base + rng.normal(0, 0.02, (t, h, w, c))) * top, 0, top).astype(dtype)


@pytest.mark.parametrize("c,dtype", [(1, np.uint8), (3, np.uint8), (1, np.uint16)])
def test_mask_is_exactly_the_changed_pixels(c, dtype):
    clean = clip(c=c, dtype=dtype)
    config = DamageConfig(level="high", seed=1)
    damaged = simulate_damage(clean, config)
    assert damaged.frames.dtype == dtype and damaged.frames.shape == clean.shape
    assert damaged.mask.dtype == bool and damaged.class_map.dtype == np.uint8
    assert np.array_equal(damaged.mask, (damaged.frames != clean).any(-1))
    assert np.array_equal(damaged.class_map > 0, damaged.mask)
    assert damaged.class_map.max() <= len(DAMAGE_CLASSES)
    # Every drawn pixel changes noticeably (the clip is mid-grey, so nothing saturates).
    change = np.abs(damaged.frames.astype(float) - clean).max(-1)[damaged.mask]
    assert change.min() >= config.min_contrast * np.iinfo(dtype).max - 1


def test_seed_reproduces_bit_exactly_and_another_seed_differs():
    clean = clip()
    a = simulate_damage(clean, DamageConfig(seed=4))
    b = simulate_damage(clean, DamageConfig(seed=4))
    c = simulate_damage(clean, DamageConfig(seed=5))
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.class_map, b.class_map)
    assert not np.array_equal(a.frames, c.frames)


@pytest.mark.parametrize("level", list(LEVEL_COVERAGE))
@pytest.mark.parametrize("t,h,w", [(24, 128, 128), (20, 270, 480)])
def test_each_level_covers_what_it_states(level, t, h, w):
    damaged = simulate_damage(clip(t=t, h=h, w=w), DamageConfig(level=level, seed=2))
    assert coverage(damaged.mask) == pytest.approx(LEVEL_COVERAGE[level], rel=COVERAGE_TOLERANCE)


def test_dark_artefacts_on_black_still_show():
    black = np.zeros((20, 128, 128, 1), np.uint8)
    damaged = simulate_damage(black, DamageConfig(level="medium", bright_fraction=0.0))
    assert coverage(damaged.mask) == pytest.approx(LEVEL_COVERAGE["medium"], rel=COVERAGE_TOLERANCE)


def test_transient_damage_moves_and_line_scratch_persists():
    damaged = simulate_damage(clip(t=12, h=128, w=160), DamageConfig(level="medium", seed=3))
    transient = (damaged.class_map > 0) & (damaged.class_map != LINE)
    overlap = (transient[1:] & transient[:-1]).sum() / transient[1:].sum()
    assert overlap < 0.05
    assert len(np.unique(damaged.class_map)) >= 8  # most classes appear
    columns = [np.flatnonzero((damaged.class_map[i] == LINE).sum(axis=0) > 64) for i in range(12)]
    with_scratch = [i for i, cols in enumerate(columns) if len(cols)]
    assert len(with_scratch) >= 4
    run = with_scratch[:4]
    assert run == list(range(run[0], run[0] + 4))  # consecutive frames
    centres = [columns[i].mean() for i in run]
    assert max(centres) - min(centres) < 3


def test_low_level_has_no_line_scratch_and_can_be_switched_off():
    assert not (simulate_damage(clip(), DamageConfig(level="low")).class_map == LINE).any()
    assert not (simulate_damage(clip(), DamageConfig(level="high", line_scratch=False)).class_map == LINE).any()


def test_soft_rims_move_only_the_ring_outside_the_mask():
    clean = np.full((1, 7, 7, 1), 100, np.uint8)
    damaged = clean.copy()
    damaged[0, 3, 2] = 200  # +100
    damaged[0, 3, 3] = 150  # +50
    mask = damaged[..., 0] != clean[..., 0]
    out = soften_edges(damaged, clean, mask, 0.2)
    expected = clean.astype(float)[0, ..., 0]
    # Each ring pixel: 0.2 x the mean change of its masked 8-neighbours.
    for y, x in zip(*np.nonzero(np.ones((7, 7)))):
        near = [(v, u) for v, u in ((3, 2), (3, 3)) if abs(v - y) <= 1 and abs(u - x) <= 1]
        if near and (y, x) not in ((3, 2), (3, 3)):
            expected[y, x] += 0.2 * np.mean([100 if u == 2 else 50 for _, u in near])
    expected[3, 2], expected[3, 3] = 200, 150
    assert np.array_equal(out[0, ..., 0], np.rint(expected).astype(np.uint8))
    # In the simulator: the same damage and mask as without rims, and the ring alone moves.
    clean = clip()
    hard = simulate_damage(clean, DamageConfig(seed=2))
    soft = simulate_damage(clean, DamageConfig(seed=2, rim=0.2))
    assert np.array_equal(hard.mask, soft.mask) and np.array_equal(hard.class_map, soft.class_map)
    assert np.array_equal(hard.frames[hard.mask], soft.frames[soft.mask])
    moved = (soft.frames != hard.frames).any(-1)
    ring = np.stack([cv2.dilate(m.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0 for m in hard.mask]) & ~hard.mask
    assert moved.any() and not (moved & ~ring).any()


def test_bad_config_is_refused():
    with pytest.raises(ValueError):
        DamageConfig(level="extreme")
    with pytest.raises(ValueError):
        DamageConfig(rim=1.0)
    with pytest.raises(ValueError):
        simulate_damage(np.zeros((2, 8, 8), np.uint8))


def test_sprites_from_the_library(shared_data):
    clean = clip(t=8, h=128, w=128)
    damaged = simulate_damage(clean, DamageConfig(seed=1, sprites_dir=str(shared_data / "damage_overlays")))
    assert np.array_equal(damaged.mask, (damaged.frames != clean).any(-1))
    assert np.array_equal(damaged.class_map > 0, damaged.mask)
    assert coverage(damaged.mask) == pytest.approx(LEVEL_COVERAGE["medium"], rel=COVERAGE_TOLERANCE)


def test_film_look_keeps_shape_dtype_and_is_not_damage():
    clean = clip(c=3, dtype=np.uint16)
    a, b = add_film_look(clean, seed=1), add_film_look(clean, seed=1)
    assert a.shape == clean.shape and a.dtype == np.uint16 and np.array_equal(a, b)
    assert not np.array_equal(a, add_film_look(clean, seed=2))
    # Grain changes most pixels by a little; flicker moves each frame's mean by a few percent at most.
    assert (a != clean).mean() > 0.9
    assert np.abs(a.mean(axis=(1, 2, 3)) / clean.mean(axis=(1, 2, 3)) - 1).max() < 0.06
    # Nothing moves as far as a damaged pixel must.
    big = np.abs(a.astype(float) - clean) > DamageConfig().min_contrast * 65535
    assert big.mean() < 1e-4


def test_to_gray_uses_bt709_luma():
    rgb = np.array([[[[255, 0, 0], [0, 255, 0], [0, 0, 255]]]], np.uint8)
    gray = to_gray(rgb)
    assert gray.shape == (1, 1, 3, 1) and gray.dtype == np.uint8
    assert gray[0, 0, :, 0].tolist() == [54, 182, 18]
