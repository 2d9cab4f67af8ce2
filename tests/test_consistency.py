"""Temporal consistency check: flags fills that disagree with the motion-compensated neighbours."""

import numpy as np
import pytest

from restoration.check.consistency import ConsistencyConfig, check_frame


def _static(seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:48, :64]
    clean = (100 + 40 * np.sin(xx / 6.0) + 20 * np.cos(yy / 5.0)).astype(np.float32)
    frames = [np.clip(clean + rng.normal(0, 2, clean.shape), 0, 255).astype(np.uint8)[..., None] for _ in range(3)]
    mask = np.zeros((48, 64), bool)
    mask[20:26, 30:37] = True
    nb = [(frames[0].astype(np.float32), np.ones((48, 64), bool)), (frames[2].astype(np.float32), np.ones((48, 64), bool))]
    return frames[1], mask, nb


def test_agreeing_fill_not_flagged():
    frame, mask, nb = _static()
    scores, flagged, reason = check_frame(frame, mask, nb, np.zeros(mask.shape, np.float32))
    assert not flagged and reason is None
    assert scores["warp_ratio"] < 2 and scores["checked_px"] == mask.sum()


def test_disagreeing_fill_flagged():
    frame, mask, nb = _static()
    bad = frame.copy()
    bad[mask] = 250
    scores, flagged, reason = check_frame(bad, mask, nb)
    assert flagged and "warping" in reason
    assert scores["warp_ratio"] > ConsistencyConfig().threshold


def test_uncertain_fill_flagged_and_empty_mask():
    frame, mask, nb = _static()
    spread = np.where(mask, 0.2, 0).astype(np.float32)
    _, flagged, reason = check_frame(frame, mask, nb, spread)
    assert flagged and "spread" in reason
    scores, flagged, reason = check_frame(frame, np.zeros_like(mask), nb)
    assert not flagged and scores["masked_px"] == 0


def test_no_valid_neighbour_skips_warping_test():
    frame, mask, nb = _static()
    nb = [(w, np.zeros_like(v)) for w, v in nb]
    scores, flagged, _ = check_frame(frame, mask, nb)
    assert not flagged and np.isnan(scores["warp_ratio"])


def test_bad_input():
    frame, mask, nb = _static()
    with pytest.raises(ValueError):
        check_frame(frame, mask[:10], nb)
