"""Masks an operator corrected (a missed speck added, a false one removed), kept beside the detected ones.

A store keeps, per corrected frame, two PNG files (8-bit gray, 255 = damage) in its folder:
``detected_masks/<frame>.png``, the mask detection gave (written at the first correction, never
replaced), and ``operator_masks/<frame>.png``, the operator's latest mask; a ``mask_corrected``
event names the operator and counts the pixels added and removed. Reprocessing fills a corrected
frame from the operator's mask instead of detecting it again (:func:`restoration.pipeline.reprocess.reprocess_frames`).
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import cv2
import numpy as np

from restoration.core.restore import Models, RestoreConfig, fill_frame
from restoration.errors import RestorationError
from restoration.io.atomic import atomic_path
from restoration.io.reel import read_frames
from restoration.store.provenance import ProvenanceStore

OPERATOR_DIR = "operator_masks"
DETECTED_DIR = "detected_masks"


def read_mask_png(path: str | Path, shape: tuple[int, int] | None = None) -> np.ndarray:
    """A mask image -> bool ``(H, W)``: with an alpha channel, damage where alpha > 0 (a painted
    layer), otherwise where any channel > 0. ``shape`` ``(H, W)``: refused when it differs."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise RestorationError(f"{path}: not an image file (PNG, TIFF, ...)")
    return mask_from_image(image, shape, str(path))


def mask_from_image(image: np.ndarray, shape: tuple[int, int] | None = None, name: str = "mask") -> np.ndarray:
    """A decoded mask image ``(H, W)`` or ``(H, W, C)`` (OpenCV's BGR/BGRA order) -> bool ``(H, W)``."""
    if image.ndim == 3 and image.shape[2] == 4:
        mask = image[..., 3] > 0
    else:
        # numpy's stubs allow a scalar for any(axis=...); reducing axis 2 of a 3-D array is an array
        mask = cast(np.ndarray, (image.reshape(image.shape[0], image.shape[1], -1) > 0).any(axis=2))
    if shape is not None and mask.shape != tuple(shape):
        raise RestorationError(f"{name}: mask is {mask.shape[1]}x{mask.shape[0]}, the frame {shape[1]}x{shape[0]}")
    return mask


def write_mask_png(path: Path, mask: np.ndarray) -> None:
    """Write bool ``(H, W)`` ``mask`` as an 8-bit gray PNG (255 = damage), through a temporary name."""
    with atomic_path(path, unique=True, keep_suffix=True) as tmp:
        if not cv2.imwrite(str(tmp), mask.astype(np.uint8) * 255):
            raise OSError(f"{tmp}: could not write the mask")


def _name(frame: int) -> str:
    return f"{frame:08d}.png"


def operator_mask(store: ProvenanceStore, frame: int) -> np.ndarray | None:
    """The operator's mask of ``frame`` (bool ``(H, W)``), or None when it was never corrected."""
    path = store.path / OPERATOR_DIR / _name(frame)
    return read_mask_png(path, (store.info.height, store.info.width)) if path.is_file() else None


def detected_mask(store: ProvenanceStore, frame: int) -> np.ndarray:
    """The mask detection gave ``frame``: kept at its first correction, else the store's mask."""
    path = store.path / DETECTED_DIR / _name(frame)
    if path.is_file():
        return read_mask_png(path, (store.info.height, store.info.width))
    return store.read_diff(frame, frame + 1)[0][0]


def save_operator_mask(store: ProvenanceStore, frame: int, mask: np.ndarray, user: str | None = None) -> dict:
    """Keep ``mask`` (bool ``(H, W)``) as the operator's mask of ``frame`` and log ``mask_corrected``.

    The detected mask is kept first (once). Returns the event. The frame is filled from this mask
    at its next reprocessing.
    """
    if not 0 <= frame < store.frame_count:
        raise RestorationError(f"frame {frame} is outside the reel (0..{store.frame_count - 1})")
    shape = (store.info.height, store.info.width)
    if mask.shape != shape or mask.dtype != bool:
        raise ValueError(f"mask must be bool {shape}, got {mask.dtype} {mask.shape}")
    current = store.read_diff(frame, frame + 1)[0][0]
    detected_path = store.path / DETECTED_DIR / _name(frame)
    if not detected_path.is_file():
        write_mask_png(detected_path, current)
    write_mask_png(store.path / OPERATOR_DIR / _name(frame), mask)
    return store.log_event(
        "mask_corrected",
        user=user,
        frame=frame,
        pixels=int(mask.sum()),
        added=int((mask & ~current).sum()),
        removed=int((current & ~mask).sum()),
        mask=f"{OPERATOR_DIR}/{_name(frame)}",
        detected=f"{DETECTED_DIR}/{_name(frame)}",
    )


def refill_frame(
    store: ProvenanceStore, frame: int, mask: np.ndarray, config: RestoreConfig, models: Models
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str | None]:
    """Fill ``frame`` of the store's reel under ``mask`` (bool ``(H, W)``) from the source.

    The neighbours' damage is their stored mask (never copied into the fill). Returns ``(source
    frame (H, W, C), restored (H, W, C), scores (S,), reason flagged or None)``; ``restored``
    differs from the source only under ``mask``.
    """
    info = store.info
    lo = max(0, frame - config.context_frames)
    hi = min(info.frame_count, frame + 1 + config.context_frames)
    frames = read_frames(info, lo, hi)
    masks = store.read_diff(lo, hi)[0].copy()
    masks[frame - lo] = mask
    restored, scores, reason = fill_frame(frames, masks, frame - lo, frame, config, models)
    return frames[frame - lo], restored, scores, reason
