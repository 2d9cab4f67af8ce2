"""Classical hole filling: spatial (Telea) and motion-compensated temporal median.

Both leave every pixel outside the mask bit-exact and return the frame's dtype, so they can be
applied to a master without touching undamaged picture.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from restoration.motion.flow import validate_frame


def _check_mask(frame: np.ndarray, mask: np.ndarray) -> None:
    validate_frame(frame)
    if mask.shape != frame.shape[:2] or mask.dtype != bool:
        raise ValueError(f"mask must be bool {frame.shape[:2]}, got {mask.dtype} {mask.shape}")


def _to_dtype(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    top = np.iinfo(dtype).max
    return np.clip(np.rint(values), 0, top).astype(dtype)


def inpaint_telea(frame: np.ndarray, mask: np.ndarray, radius: float = 3) -> np.ndarray:
    """Fill ``mask`` from its surroundings with Telea's fast marching method (cv2.inpaint).

    frame: ``(H, W, C)`` uint8/uint16, C in {1, 3}; mask: bool ``(H, W)``, True = hole;
    radius: neighbourhood radius in pixels. Returns an array of the frame's shape and dtype, equal
    to ``frame`` outside the mask.
    """
    _check_mask(frame, mask)
    if not mask.any():
        return frame.copy()
    m8 = mask.astype(np.uint8)
    if frame.dtype == np.uint8:
        # OpenCV takes 8-bit 1- and 3-channel images directly.
        src = frame[..., 0] if frame.shape[2] == 1 else np.ascontiguousarray(frame)
        out = cv2.inpaint(src, m8, radius, cv2.INPAINT_TELEA).reshape(frame.shape)
    else:
        # 16-bit is accepted only as one channel: fill each channel on its own.
        planes = [np.ascontiguousarray(frame[..., c]) for c in range(frame.shape[2])]
        out = np.stack([cv2.inpaint(p, m8, radius, cv2.INPAINT_TELEA) for p in planes], axis=-1)
    return np.where(mask[..., None], out, frame)


def inpaint_temporal_median(
    frame: np.ndarray,
    mask: np.ndarray,
    neighbours: Sequence[tuple[np.ndarray, np.ndarray]],
    radius: float = 3,
) -> np.ndarray:
    """Fill ``mask`` with the median of the motion-compensated neighbours.

    frame: ``(H, W, C)`` uint8/uint16; mask: bool ``(H, W)``, True = hole; neighbours:
    ``(warped, valid)`` pairs from :func:`restoration.motion.flow.compensate` (warped float32
    ``(H, W, C)`` in native units, valid bool ``(H, W)``). Per masked pixel and channel, the median
    over the neighbours valid there (the frame's own, damaged value is not a candidate; with two
    neighbours the median is their mean). Masked pixels with no valid neighbour fall back to
    :func:`inpaint_telea` with ``radius``, which then also sees the temporally filled pixels.
    Returns the frame's shape and dtype, equal to ``frame`` outside the mask.
    """
    _check_mask(frame, mask)
    for warped, valid in neighbours:
        if warped.shape != frame.shape or valid.shape != mask.shape:
            raise ValueError(f"neighbour shapes {warped.shape}, {valid.shape} do not match frame {frame.shape}")
    if not mask.any():
        return frame.copy()
    out = frame.copy()
    rest = mask
    if neighbours:
        stack = np.stack([w for w, _ in neighbours])  # (K, H, W, C)
        valid = np.stack([v for _, v in neighbours])  # (K, H, W)
        ys, xs = np.nonzero(mask)
        vals = np.where(valid[:, ys, xs, None], stack[:, ys, xs], np.nan)  # (K, N, C)
        has = valid[:, ys, xs].any(axis=0)
        if has.any():
            med = np.nanmedian(vals[:, has], axis=0)
            out[ys[has], xs[has]] = _to_dtype(med, frame.dtype)
        rest = np.zeros_like(mask)
        rest[ys[~has], xs[~has]] = True
    if rest.any():
        out = inpaint_telea(out, rest, radius)
    return np.where(mask[..., None], out, frame)
