"""Motion-compensated spike detection of dust and dirt (Kokaram's SDIp and a rank-order variant).

Dust sits on one frame only, so after motion compensation a dust pixel differs from its previous
and its next neighbour in the same direction, while picture content (moved correctly) matches at
least one of them. SDIp flags a pixel when ``|e_b| > E`` and ``|e_f| > E`` with the same sign
(``e_b``, ``e_f``: differences to the compensated previous and next frames). With four neighbours
(a 5-frame window, for pathological motion) the rank-order form flags a pixel lying outside the
``[min, max]`` of all its neighbours by more than ``E``; for two neighbours that is SDIp exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from restoration.motion.flow import luma_float, validate_frame

_MAD_TO_SIGMA = 1.4826  # median absolute deviation -> standard deviation of a Gaussian


@dataclass(frozen=True)
class SpikeDetectorConfig:
    """Settings for :func:`detect_spikes`.

    threshold: minimum spike amplitude E, as a fraction of the dtype range (0.08 = 20 of 255).
    noise_k: E is raised to ``noise_k`` robust standard deviations of each residual (MAD over the
        valid pixels), so that grain and warp noise do not trigger.
    min_valid: number of valid neighbours a pixel needs to be judged at all; the default demands
        all of them (two for SDIp), since with one neighbour a moving edge the occlusion check
        missed looks like a spike. Pixels below it are never flagged (precision first).
    use_rank_order: with more than two neighbours, compare against all of them (rank order); if
        False, use only the nearest previous and next neighbour (the middle two of the list).
    window: compare against the max/min of each warped neighbour over a ``window`` x ``window``
        neighbourhood rather than its single pixel (1 = plain SDIp). Sub-pixel flow errors on fine,
        high-contrast detail (foliage against sky) otherwise look like spikes; dust is absent from
        the whole neighbourhood in the neighbour, so it still stands out.
    min_area: connected components (8-connectivity) smaller than this many pixels are dropped:
        isolated single pixels are grain outliers far more often than dust.
    dilate: grow the mask by this many pixels (a 3x3 square per step) to cover the soft rim of a
        speck, whose edge pixels fall under E.
    """

    threshold: float = 0.08
    noise_k: float = 4.0
    min_valid: int | None = None
    use_rank_order: bool = True
    window: int = 3
    min_area: int = 3
    dilate: int = 0


def _robust_sigma(residual: np.ndarray) -> float:
    return _MAD_TO_SIGMA * float(np.median(np.abs(residual - np.median(residual))))


def detect_spikes(
    frame: np.ndarray,
    neighbours: Sequence[tuple[np.ndarray, np.ndarray]],
    config: SpikeDetectorConfig = SpikeDetectorConfig(),
) -> np.ndarray:
    """Dust and dirt mask of ``frame``.

    frame: ``(H, W, C)`` uint8/uint16. neighbours: ``(warped, valid)`` pairs from
    :func:`restoration.motion.flow.compensate`, in offset order (e.g. offsets ``(-1, 1)`` or
    ``(-2, -1, 1, 2)``): warped float32 ``(H, W, C)`` in the frame's native units, valid bool
    ``(H, W)``. Detection runs on luma.
    Returns bool ``(H, W)``, True = damage. No valid neighbour anywhere (a cut, a one-frame clip)
    gives an empty mask.
    """
    validate_frame(frame)
    if len(neighbours) < 2:
        raise ValueError(f"detect_spikes needs at least two neighbours, got {len(neighbours)}")
    h, w = frame.shape[:2]
    for warped, valid in neighbours:
        if warped.shape != frame.shape or valid.shape != (h, w) or valid.dtype != bool:
            raise ValueError(f"neighbour shapes {warped.shape}, {valid.shape} do not match frame {frame.shape}")
    if not config.use_rank_order and len(neighbours) > 2:
        mid = len(neighbours) // 2
        neighbours = neighbours[mid - 1 : mid + 1]
    min_valid = len(neighbours) if config.min_valid is None else config.min_valid

    peak = np.iinfo(frame.dtype).max
    y = luma_float(frame, peak)
    above = np.full((h, w), np.inf, np.float32)  # how far y rises above every valid neighbour
    below = np.full((h, w), np.inf, np.float32)  # how far y falls below every valid neighbour
    count = np.zeros((h, w), np.int32)
    for warped, valid in neighbours:
        if not valid.any():
            continue
        n = luma_float(warped, peak)
        e = y - n
        # Each residual gets its own E: a neighbour further out or across a soft focus pull has
        # larger warp noise, and the MAD ignores the few dust pixels themselves.
        big = max(config.threshold, config.noise_k * _robust_sigma(e[valid]))
        if config.window > 1:
            hi = ndi.maximum_filter(n, size=config.window, mode="nearest")
            lo = ndi.minimum_filter(n, size=config.window, mode="nearest")
        else:
            hi = lo = n
        above = np.where(valid, np.minimum(above, y - hi - big), above)
        below = np.where(valid, np.minimum(below, lo - y - big), below)
        count += valid
    mask = (count >= max(min_valid, 1)) & ((above > 0) | (below > 0))

    if config.min_area > 1 and mask.any():
        labels, n = ndi.label(mask, structure=np.ones((3, 3), bool))
        sizes = np.bincount(labels.ravel(), minlength=n + 1)
        keep = sizes >= config.min_area
        keep[0] = False
        mask = keep[labels]
    if config.dilate > 0 and mask.any():
        mask = ndi.binary_dilation(mask, structure=np.ones((3, 3), bool), iterations=config.dilate)
    return mask
