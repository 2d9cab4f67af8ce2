"""Metrics against values worked out by hand on tiny arrays."""

import math

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from restoration.evaluate.metrics import (
    changed_outside,
    detection_scores,
    grain_ratio,
    psnr,
    psnr_by_size,
    size_buckets,
    ssim_in_mask,
    vertical_structure,
    warping_error,
)


def test_detection_scores_hand_values():
    pred = np.array([[1, 1, 0], [1, 0, 0]], bool)
    truth = np.array([[1, 0, 0], [1, 1, 1]], bool)
    s = detection_scores(pred, truth)
    # tp 2, fp 1, fn 2: precision 2/3, recall 1/2, f1 4/7, iou 2/5.
    assert (s["tp"], s["fp"], s["fn"]) == (2, 1, 2)
    assert s["precision"] == pytest.approx(2 / 3) and s["recall"] == pytest.approx(0.5)
    assert s["f1"] == pytest.approx(4 / 7) and s["iou"] == pytest.approx(0.4)


def test_detection_scores_empty_conventions():
    empty, some = np.zeros((2, 2), bool), np.eye(2, dtype=bool)
    both = detection_scores(empty, empty)
    assert all(both[k] == 1.0 for k in ("precision", "recall", "f1", "iou"))
    missed = detection_scores(empty, some)
    assert (missed["precision"], missed["recall"], missed["f1"], missed["iou"]) == (0.0, 0.0, 0.0, 0.0)
    false_alarm = detection_scores(some, empty)
    assert (false_alarm["precision"], false_alarm["recall"], false_alarm["fp"]) == (0.0, 0.0, 2)
    with pytest.raises(ValueError):
        detection_scores(some.astype(np.uint8), some)


def test_psnr_hand_values():
    a = np.zeros((2, 2, 1), np.uint8)
    b = a.copy()
    assert psnr(a, b) == math.inf
    b[0, 0, 0] = 255
    # mse = 255^2 / 4 -> 10 log10(4) dB.
    assert psnr(a, b) == pytest.approx(10 * math.log10(4))
    mask = np.array([[True, True], [False, False]])
    assert psnr(a, b, mask) == pytest.approx(10 * math.log10(2))
    assert psnr(a, b, ~mask) == math.inf
    assert psnr(a, b, peak=1.0) == pytest.approx(10 * math.log10(4 / 255**2))
    c = np.zeros((1, 2, 3), np.uint16)
    d = c.copy()
    d[0, 0] = (65535, 0, 0)  # one channel of six differs by the peak: mse = peak^2 / 6
    assert psnr(c, d) == pytest.approx(10 * math.log10(6))
    with pytest.raises(ValueError):
        psnr(a, b, np.zeros((2, 2), bool))


def test_size_buckets_split_components_by_area_at_the_bounds():
    mask = np.zeros((2, 40, 60), bool)
    small = np.zeros_like(mask)
    small[0, 0, 0] = True  # 1 px
    small[0, 5, 5] = small[0, 6, 6] = True  # 2 px touching at a corner: one 8-connected component
    small[0, 10:17, 0:7] = True  # 49 px
    middle = np.zeros_like(mask)
    middle[0, 20:25, 20:30] = True  # 50 px
    middle[1, 0:20, 0:25] = True  # 500 px
    large = np.zeros_like(mask)
    large[1, 0:20, 30:55] = True
    large[1, 20, 30] = True  # 501 px
    mask = small | middle | large
    buckets = size_buckets(mask)
    assert list(buckets) == ["<50", "50-500", ">500"]
    for got, expected in zip(buckets.values(), (small, middle, large)):
        assert np.array_equal(got, expected)
    # A single frame the same; the 500 px block of frame 1 alone is "50-500", not joined across frames.
    assert np.array_equal(size_buckets(mask[1])["50-500"], middle[1])
    assert not size_buckets(np.zeros((4, 4), bool))[">500"].any()
    with pytest.raises(ValueError):
        size_buckets(mask.astype(np.uint8))


def test_psnr_by_size_hand_values():
    clean = np.zeros((1, 20, 30, 1), np.uint8)
    restored = clean.copy()
    mask = np.zeros((1, 20, 30), bool)
    mask[0, 0, 0] = True  # a 1 px speck, wrong by the peak: 0 dB
    restored[0, 0, 0] = 255
    mask[0, 10:16, 10:20] = True  # a 60 px blotch, 6 px wrong by the peak: mse = peak^2 / 10, 10 dB
    restored[0, 10, 10:16] = 255
    assert psnr_by_size(restored, clean, mask) == {
        "<50": {"psnr": 0.0, "pixels": 1},
        "50-500": {"psnr": pytest.approx(10.0), "pixels": 60},
    }
    assert psnr_by_size(restored, clean, np.zeros_like(mask)) == {}


def test_ssim_in_mask():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
    mask = np.zeros((12, 12), bool)
    mask[4:8, 4:8] = True
    assert ssim_in_mask(a, a.copy(), mask) == pytest.approx(1.0)
    b = np.clip(a.astype(int) + rng.integers(-20, 21, a.shape), 0, 255).astype(np.uint8)
    _, smap = structural_similarity(a, b, data_range=255, channel_axis=-1, full=True)
    assert ssim_in_mask(a, b, mask) == pytest.approx(smap[4:8, 4:8].mean())
    assert ssim_in_mask(a, b, mask) < 1.0


def test_changed_outside_counts_pixels_not_channels():
    a = np.zeros((2, 3, 3), np.uint16)
    b = a.copy()
    b[0, 0] = (1, 1, 1)  # outside the mask: one pixel
    b[1, 2, 0] = 5  # outside: one pixel
    b[0, 1, 2] = 9  # inside: not counted
    mask = np.zeros((2, 3), bool)
    mask[0, 1] = True
    assert changed_outside(a, b, mask) == 2
    assert changed_outside(a[None], b[None], mask[None]) == 2


def test_warping_error_hand_values():
    frames = np.zeros((3, 8, 8, 3), np.uint8)
    frames[1] = 10  # pair (0, 1) differs by 10 in each of three channels, pair (1, 2) by 10 too
    zero = np.zeros((8, 8, 2), np.float32)
    flows = [(zero, zero), (zero, zero)]
    assert warping_error(frames, flows=flows) == pytest.approx(3 * (10 / 255) ** 2)
    assert warping_error(frames[:1].repeat(2, axis=0), flows=flows[:1]) == 0.0
    # A one-pixel shift, with the flow from the reference: exact alignment except the occluded column.
    ramp = np.tile(np.arange(8, dtype=np.uint8) * 30, (8, 1))[..., None]
    seq = np.stack([ramp, np.roll(ramp, 1, axis=1)])
    fw = np.zeros((8, 8, 2), np.float32)
    fw[..., 0] = 1
    assert warping_error(seq, flows=[(fw, -fw)]) == pytest.approx(0.0)
    rng = np.random.default_rng(0)
    tex = rng.integers(0, 256, (24, 33), dtype=np.uint8)
    tex = ((tex.astype(int) + np.roll(tex, 1, 0) + np.roll(tex, 1, 1)) // 3).astype(np.uint8)[..., None]
    moving = np.stack([tex[:, 1:], tex[:, :-1]])  # content moves one pixel right
    assert warping_error(moving) < 2e-3  # flow estimated with DIS on the sequence itself
    noisy = moving.copy()
    noisy[1] = np.clip(noisy[1].astype(int) + rng.integers(-40, 41, noisy[1].shape), 0, 255)
    assert warping_error(noisy, reference_frames=moving) > warping_error(moving)
    with pytest.raises(ValueError):
        warping_error(frames[:1])


def test_grain_ratio_is_one_for_the_truth_zero_for_a_flat_fill_and_two_for_doubled_grain():
    rng = np.random.default_rng(0)
    grain = rng.normal(0, 8, (2, 40, 40, 1))
    clean = np.clip(np.rint(128 + grain), 0, 255).astype(np.uint8)
    mask = np.zeros((2, 40, 40), bool)
    mask[:, 10:30, 10:30] = True
    assert grain_ratio(clean, clean, mask) == 1.0
    flat = clean.copy()
    flat[mask] = 128
    assert grain_ratio(flat, clean, mask) < 0.2  # only the blur of the border leaks in
    doubled = np.clip(np.rint(128 + 2 * grain), 0, 255).astype(np.uint8)
    assert grain_ratio(doubled, clean, mask) == pytest.approx(2.0, rel=0.02)
    with pytest.raises(ValueError, match="empty"):
        grain_ratio(clean, clean, np.zeros_like(mask))


def test_vertical_structure_finds_a_pole_not_a_horizon_nor_grain():
    rng = np.random.default_rng(0)
    frame = np.full((80, 100, 1), 100.0)
    frame[:, 40:43] = 180  # a pole, frame high, 3 px wide
    frame[60:, :] += 40  # a horizon: a long horizontal edge
    frame[10:20, 70:73] = 180  # a 10 px vertical stroke: shorter than the run asked for
    frame = np.clip(frame + rng.normal(0, 3, frame.shape), 0, 255).astype(np.uint8)  # grain
    v = vertical_structure(frame)
    assert v.dtype == bool and v.shape == (80, 100)
    assert v[5:55, 40:43].all()  # the pole, along its length (where the horizon crosses it, the edge is not vertical)
    assert not v[:, :30].any() and not v[:, 55:].any()  # the horizon, the grain, the short stroke
    assert not vertical_structure(np.zeros((40, 40, 3), np.uint16)).any()
    with pytest.raises(ValueError):
        vertical_structure(np.zeros((40, 40)))
