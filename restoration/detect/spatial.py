"""A single-frame damage detector: pixels that stand out from their spatial median.

The baseline for stills and for frames without usable neighbours (after a cut). It knows nothing
of motion, so fine bright or dark picture detail (highlights, text) can trigger it; large regions
are dropped as picture, not dust.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from restoration.motion.flow import to_8bit_luma


@dataclass(frozen=True)
class OutlierDetectorConfig:
    """``threshold`` is a fraction of the full range; ``window`` the median's side in pixels."""

    window: int = 7
    threshold: float = 0.15
    max_area: int = 400
    dilate: int = 1

    def __post_init__(self):
        if self.window % 2 == 0 or self.window < 3:
            raise ValueError(f"window must be odd and at least 3, got {self.window}")


def detect_outliers(frame: np.ndarray, config: OutlierDetectorConfig = OutlierDetectorConfig()) -> np.ndarray:
    """Bool ``(H, W)`` mask of pixels of ``frame`` ``(H, W, C)`` far from their local median."""
    luma = to_8bit_luma(frame)
    residual = luma.astype(np.int16) - cv2.medianBlur(luma, config.window).astype(np.int16)
    candidate = (np.abs(residual) > config.threshold * 255).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(candidate, connectivity=8)
    small = np.zeros(count, bool)
    small[1:] = stats[1:, cv2.CC_STAT_AREA] <= config.max_area
    mask = small[labels]
    if config.dilate:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * config.dilate + 1,) * 2)
        mask = cv2.dilate(mask.astype(np.uint8), kernel) > 0
    return mask
