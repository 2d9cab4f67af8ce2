"""Telea and temporal-median filling: exact where they must be, untouched outside the mask."""

import numpy as np
import pytest

from restoration.inpaint.classical import inpaint_telea, inpaint_temporal_median

H, W = 24, 32


def smooth_frame(dtype, channels: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max
    yy, xx = np.mgrid[0:H, 0:W]
    base = 0.5 + 0.3 * np.sin(xx / 5.0) * np.cos(yy / 7.0)
    img = base[..., None] + rng.normal(0, 0.02, (H, W, channels))
    return np.clip(img * top, 0, top).astype(dtype)


def speck_mask() -> np.ndarray:
    mask = np.zeros((H, W), bool)
    mask[10:13, 14:17] = True
    return mask


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [1, 3])
def test_telea_fills_and_keeps_outside_bit_exact(dtype, channels):
    clean = smooth_frame(dtype, channels)
    mask = speck_mask()
    damaged = clean.copy()
    damaged[mask] = np.iinfo(dtype).max
    out = inpaint_telea(damaged, mask)
    assert out.dtype == dtype and out.shape == clean.shape
    assert np.array_equal(out[~mask], damaged[~mask])
    top = float(np.iinfo(dtype).max)
    assert np.abs(out[mask] / top - clean[mask] / top).mean() < 0.1


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [1, 3])
def test_temporal_median_restores_static_sequence_exactly(dtype, channels):
    clean = smooth_frame(dtype, channels)
    mask = speck_mask()
    damaged = clean.copy()
    damaged[mask] = 0
    ones = np.ones((H, W), bool)
    neighbours = [(clean.astype(np.float32), ones), (clean.astype(np.float32), ones)]
    out = inpaint_temporal_median(damaged, mask, neighbours)
    assert out.dtype == dtype
    assert np.array_equal(out, clean)


def test_temporal_median_uses_only_valid_neighbours_and_falls_back():
    clean = smooth_frame(np.uint8, 1)
    mask = speck_mask()
    damaged = clean.copy()
    damaged[mask] = 255
    ones, none = np.ones((H, W), bool), np.zeros((H, W), bool)
    wrong = np.zeros_like(clean, dtype=np.float32)
    three = [(clean.astype(np.float32), ones), (wrong, none), (clean.astype(np.float32) + 2, ones)]
    out = inpaint_temporal_median(damaged, mask, three)
    assert np.array_equal(out[mask], clean[mask].astype(int) + 1)  # median of two = their mean
    partial = ones.copy()
    partial[11, 15] = False  # no neighbour valid at the speck's centre: Telea fills it
    out = inpaint_temporal_median(damaged, mask, [(clean.astype(np.float32), partial)] * 2)
    assert np.array_equal(out[~mask], damaged[~mask])
    assert abs(int(out[11, 15, 0]) - int(clean[11, 15, 0])) < 40
    assert np.array_equal(inpaint_temporal_median(damaged, mask, []), inpaint_telea(damaged, mask))


def test_rounds_and_clips_to_dtype():
    frame = np.full((H, W, 1), 100, np.uint8)
    mask = speck_mask()
    ones = np.ones((H, W), bool)
    hi = np.full((H, W, 1), 300.0, np.float32)
    half = np.full((H, W, 1), 10.6, np.float32)
    assert (inpaint_temporal_median(frame, mask, [(hi, ones)])[mask] == 255).all()
    assert (inpaint_temporal_median(frame, mask, [(half, ones)])[mask] == 11).all()


def test_validates_mask():
    frame = smooth_frame(np.uint8, 1)
    with pytest.raises(ValueError):
        inpaint_telea(frame, speck_mask().astype(np.uint8))
    with pytest.raises(ValueError):
        inpaint_temporal_median(frame, speck_mask()[:-1], [])
