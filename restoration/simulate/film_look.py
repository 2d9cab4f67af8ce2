"""Make clean footage look like an archival scan: gray, grain and flicker. None of these is damage.

Grain and flicker are what a restoration must keep; the benchmark applies them to the clean
reference so that a method that smooths grain or chases flicker pays for it.
"""

from __future__ import annotations

import cv2
import numpy as np

LUMA_709 = np.array([0.2126, 0.7152, 0.0722])


def to_gray(frames: np.ndarray) -> np.ndarray:
    """``(T, H, W, 3)`` RGB -> ``(T, H, W, 1)`` BT.709 luma, same dtype, rounded. Gray input passes."""
    if frames.shape[-1] == 1:
        return frames
    if frames.shape[-1] != 3:
        raise ValueError(f"expected 1 or 3 channels, got {frames.shape[-1]}")
    luma = frames.astype(np.float32) @ LUMA_709.astype(np.float32)
    return np.rint(luma)[..., None].astype(frames.dtype)


def add_film_look(frames: np.ndarray, grain: float = 1.0, flicker: float = 1.0, seed: int = 0) -> np.ndarray:
    """Add film grain and frame-to-frame flicker to ``frames`` ``(T, H, W, C)`` uint8/uint16.

    ``grain`` scales a signal-dependent gaussian noise, blurred with sigma 0.7 px so that it is
    slightly correlated like real grain (standard deviation 1.5 % of the range in mid-tones, 0.4 %
    at black and white, at 1.0). ``flicker`` scales a smooth per-frame gain (at most ±3 % at 1.0)
    and offset (about ±1 % of the range). Deterministic for ``seed``; same shape and dtype, clipped
    to the dtype's range. Neither is damage: a restoration must keep grain and may remove flicker.
    """
    if frames.ndim != 4 or frames.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"expected (T, H, W, C) uint8/uint16 frames, got {frames.shape} {frames.dtype}")
    rng = np.random.default_rng(seed)
    top = float(np.iinfo(frames.dtype).max)
    gains = 1 + 0.03 * flicker * _smooth_noise(len(frames), rng)
    offsets = 0.01 * flicker * _smooth_noise(len(frames), rng)
    out = np.empty_like(frames)
    for i, frame in enumerate(frames):
        x = frame.astype(np.float32) / top
        noise = cv2.GaussianBlur(rng.normal(0, 1, frame.shape).astype(np.float32), (0, 0), 0.7)
        noise = noise.reshape(frame.shape) / (noise.std() + 1e-6)
        sigma = grain * (0.004 + 0.011 * np.sqrt(x * (1 - x) * 4))
        y = (x + sigma * noise) * gains[i] + offsets[i]
        out[i] = np.clip(np.rint(y * top), 0, top).astype(frames.dtype)
    return out


def _smooth_noise(t: int, rng: np.random.Generator) -> np.ndarray:
    """``(t,)`` noise averaged over 5 frames, as lamp and exposure drift are, scaled to peak at ±1."""
    walk = np.convolve(rng.normal(0, 1, t + 4), np.ones(5) / 5, mode="valid")
    return walk / max(np.abs(walk).max(), 1e-6)
