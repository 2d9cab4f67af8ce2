"""Temporal consistency check of a restored frame: does the fill agree with the neighbours?

For a restored frame, the warping error of its restored pixels against the motion-compensated
previous / next frames (occluded pixels excluded) is compared with the same statistic on untouched
pixels nearby (a ring around the mask): a fill that invents picture the neighbours do not show has a
much larger error than the untouched picture around it, whose error is grain, noise and registration.
The spread of the k diffusion samples (``inpaint_palette``'s second output) is the model's own
uncertainty. A frame over either threshold is *flagged* for review or reprocessing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from restoration.motion.flow import validate_frame

# The per-frame scores a restore records (the store's ``scores`` array), in this order: the masked
# fraction, the warping-error ratio and the samples' mean spread of :func:`check_frame`.
SCORE_NAMES = ("damage_fraction", "consistency", "uncertainty")


@dataclass(frozen=True)
class ConsistencyConfig:
    """Thresholds of :func:`check_frame`.

    threshold: flag when the in-mask warping error exceeds this multiple of the ring's.
    uncertainty_threshold: flag when the mean sample spread inside the mask (std over k samples, in
        fractions of the dtype range) exceeds this.
    ring: width in pixels of the untouched ring around the mask that gives the reference error.
    floor: lower bound of the reference error (squared fraction of the range), so that a perfectly
        static, noiseless surround does not turn a tiny in-mask error into a huge ratio.
    min_checked: fewer in-mask pixels with a valid neighbour than this: the warping test is not
        applied (score NaN; nothing to compare with), only the uncertainty test.
    """

    threshold: float = 4.0
    uncertainty_threshold: float = 0.08
    ring: int = 6
    floor: float = 1e-4
    min_checked: int = 4


def _per_pixel_error(frame: np.ndarray, neighbours: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel, the smallest squared error (channel sum, [0, 1] units) over the valid neighbours.

    The minimum rather than the mean: damage on one neighbour (its own speck) should not count
    against the fill. Returns ``(error float32 (H, W), any_valid bool (H, W))``.
    """
    peak = float(np.iinfo(frame.dtype).max)
    f = frame.astype(np.float32) / peak
    err = np.full(frame.shape[:2], np.inf, np.float32)
    anyv = np.zeros(frame.shape[:2], bool)
    for warped, valid in neighbours:
        e = np.sum((f - warped.astype(np.float32) / peak) ** 2, axis=-1)
        err = np.where(valid, np.minimum(err, e), err)
        anyv |= valid
    return np.where(anyv, err, 0).astype(np.float32), anyv


def check_frame(
    restored: np.ndarray,
    mask: np.ndarray,
    neighbours: Sequence[tuple[np.ndarray, np.ndarray]],
    spread: np.ndarray | None = None,
    config: ConsistencyConfig = ConsistencyConfig(),
) -> tuple[dict[str, float], bool, str | None]:
    """Score one restored frame.

    restored: ``(H, W, C)`` uint8/uint16, the frame after inpainting; mask: bool ``(H, W)``, the
    restored pixels; neighbours: ``(warped, valid)`` pairs from :func:`restoration.motion.flow.compensate`
    (warped float32 ``(H, W, C)`` native units, valid bool ``(H, W)``); spread: float32 ``(H, W)``
    per-pixel std over samples in fractions of the range (from ``inpaint_palette``), or None.
    Returns ``(scores, flagged, reason)``; scores: ``warp_in``, ``warp_out`` (mean squared error in
    squared fractions of the range), ``warp_ratio`` (in / max(out, floor)), ``spread_mean``,
    ``spread_max``, ``masked_px``, ``checked_px`` (NaN where undefined); reason names the failed
    test(s) or is None. An empty mask scores 0 and is never flagged.
    """
    validate_frame(restored, "restored")
    if mask.shape != restored.shape[:2] or mask.dtype != bool:
        raise ValueError(f"mask must be bool {restored.shape[:2]}, got {mask.dtype} {mask.shape}")
    for warped, valid in neighbours:
        if warped.shape != restored.shape or valid.shape != mask.shape:
            raise ValueError(f"neighbour shapes {warped.shape}, {valid.shape} do not match {restored.shape}")
    if spread is not None and spread.shape != mask.shape:
        raise ValueError(f"spread must be {mask.shape}, got {spread.shape}")
    nan = float("nan")
    masked = int(mask.sum())
    scores = {
        "warp_in": nan,
        "warp_out": nan,
        "warp_ratio": nan,
        "spread_mean": 0.0,
        "spread_max": 0.0,
        "masked_px": masked,
        "checked_px": 0,
    }
    if masked == 0:
        scores.update(warp_in=0.0, warp_out=0.0, warp_ratio=0.0)
        return scores, False, None

    reasons = []
    err, anyv = _per_pixel_error(restored, neighbours)
    inside = mask & anyv
    ring = ndi.binary_dilation(mask, iterations=config.ring) & ~mask & anyv
    if ring.sum() < config.min_checked:
        ring = ~mask & anyv
    scores["checked_px"] = int(inside.sum())
    if inside.sum() >= config.min_checked and ring.any():
        w_in, w_out = float(err[inside].mean()), float(err[ring].mean())
        ratio = w_in / max(w_out, config.floor)
        scores.update(warp_in=w_in, warp_out=w_out, warp_ratio=ratio)
        if ratio > config.threshold:
            reasons.append(f"warping error in the fill {ratio:.1f}x the surround's (> {config.threshold})")
    if spread is not None:
        s = spread[mask]
        scores.update(spread_mean=float(s.mean()), spread_max=float(s.max()))
        if s.mean() > config.uncertainty_threshold:
            reasons.append(f"sample spread {s.mean():.3f} (> {config.uncertainty_threshold})")
    return scores, bool(reasons), "; ".join(reasons) if reasons else None
