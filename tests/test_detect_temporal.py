"""Spike detection on a moving, grainy synthetic sequence."""

import numpy as np
import pytest
from scipy import ndimage as ndi

from restoration.detect.temporal import SpikeDetectorConfig, detect_spikes
from restoration.motion.flow import MotionConfig, compensate

H, W = 64, 80


def grainy_sequence(count: int = 5, grain: float = 3.0, seed: int = 0, dtype=np.uint8) -> np.ndarray:
    """``(T, H, W, 1)`` smooth texture panning 2 px right and 1 px down a frame, with Gaussian grain
    (``grain`` in 8-bit levels) drawn independently per frame."""
    rng = np.random.default_rng(seed)
    tex = ndi.gaussian_filter(rng.random((H + 40, W + 40)), 2.0)
    tex = (tex - tex.min()) / (tex.max() - tex.min())
    top = np.iinfo(dtype).max
    frames = []
    for t in range(count):
        win = 0.15 + 0.7 * tex[20 - t : 20 - t + H, 20 - 2 * t : 20 - 2 * t + W]
        noisy = win + rng.normal(0, grain / 255, (H, W))
        frames.append(np.clip(np.rint(noisy * top), 0, top).astype(dtype)[..., None])
    return np.stack(frames)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_detects_speck_in_one_frame_only(dtype):
    frames = grainy_sequence(dtype=dtype)
    top = np.iinfo(dtype).max
    frames[2, 30:33, 40:43] = top  # a bright 3x3 speck on the middle frame
    mask = detect_spikes(frames[2], compensate(frames, 2))
    assert mask.dtype == bool and mask.shape == (H, W)
    assert mask[30:33, 40:43].all()
    assert not mask[:25].any() and not mask[38:].any()  # nothing far from the speck
    assert mask.sum() <= 25  # the speck, dilated by 1 px
    for t in (1, 3):  # grain-only frames
        assert detect_spikes(frames[t], compensate(frames, t)).sum() == 0


def test_dark_speck_and_four_neighbours():
    frames = grainy_sequence(count=5)
    frames[2, 10:13, 50:53] = 0
    neighbours = compensate(frames, 2, offsets=(-2, -1, 1, 2))
    assert detect_spikes(frames[2], neighbours)[10:13, 50:53].all()
    nearest = detect_spikes(frames[2], neighbours, SpikeDetectorConfig(use_rank_order=False))
    assert nearest[10:13, 50:53].all()


def test_speck_below_threshold_and_single_pixels_are_ignored():
    frames = grainy_sequence()
    frames[2, 30, 40] = 255  # one pixel: grain outliers look like this, dropped by min_area
    frames[2, 10:13, 10:13] = np.clip(frames[2, 10:13, 10:13].astype(int) + 8, 0, 255)  # faint
    assert not detect_spikes(frames[2], compensate(frames, 2)).any()


def test_cut_and_missing_neighbours_flag_nothing():
    frames = grainy_sequence()
    other = grainy_sequence(seed=9)
    frames[2, 30:33, 40:43] = 255
    cut = np.stack([other[1], frames[2], other[3]])  # unrelated shots on both sides
    assert not detect_spikes(cut[1], compensate(cut, 1)).any()
    # First frame of a two-frame clip (or of any clip without mirror_ends): one neighbour, nothing is judged.
    assert not detect_spikes(frames[2], compensate(frames[2:4], 0)).any()
    assert not detect_spikes(frames[2], compensate(frames[2:], 0, config=MotionConfig(mirror_ends=False))).any()


def test_a_clips_first_frame_is_judged_against_the_next_two():
    frames = grainy_sequence()
    frames[2, 30:33, 40:43] = 255
    mask = detect_spikes(frames[2], compensate(frames[2:], 0))
    assert mask[30:33, 40:43].all() and mask.sum() == 9


def test_validates_input():
    frames = grainy_sequence(count=3)
    with pytest.raises(ValueError):
        detect_spikes(frames[1], compensate(frames, 1)[:1])
    with pytest.raises(ValueError):
        detect_spikes(frames[1, :10], compensate(frames, 1))
