"""Frame images for the dashboard: before (source), after (source ⊕ diff) and the mask overlay, as PNG.

Frames are read from the source reel the store records and the store's diff, exactly as the master
is made, then shown as 8 bits: 16-bit frames keep their high byte (a display copy, never written
back). Decoded source frames are cached (a few, keyed by the reel's SHA-256 and frame index) so that
the three images of one frame and A/B flipping cost one decode; the diff is read fresh each time, so
a reprocessed frame shows its new values.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import cv2
import numpy as np

from restoration.io.reel import read_frames
from restoration.store.provenance import ProvenanceStore

KINDS = ("before", "after", "mask", "overlay")
MASK_COLOUR = (255, 40, 40)  # RGB


class FrameCache:
    """A small LRU of decoded source frames ``(H, W, C)``, thread-safe."""

    def __init__(self, size: int = 24):
        self.size = size
        self._frames: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def source(self, store: ProvenanceStore, index: int) -> np.ndarray:
        key = (store.info.sha256, index)
        with self._lock:
            if key in self._frames:
                self._frames.move_to_end(key)
                return self._frames[key]
        frame = read_frames(store.info, index, index + 1)[0]
        with self._lock:
            self._frames[key] = frame
            while len(self._frames) > self.size:
                self._frames.popitem(last=False)
        return frame


def to_8bit(frame: np.ndarray) -> np.ndarray:
    """``(H, W, C)`` uint8/uint16 -> uint8 for display (16 bits keep the high byte)."""
    if frame.dtype == np.uint8:
        return frame
    if frame.dtype == np.uint16:
        return (frame >> 8).astype(np.uint8)
    raise ValueError(f"unsupported frame dtype {frame.dtype}")


def render(kind: str, source: np.ndarray, mask: np.ndarray, restored: np.ndarray) -> np.ndarray:
    """The ``kind`` image, ``(H, W, C)`` uint8, C in {1, 3}.

    ``source`` ``(H, W, C)`` is the decoded frame, ``mask`` ``(H, W)`` bool and ``restored``
    ``(H, W, C)`` the store's diff for it. The mask image is the source dimmed to half with the
    replaced pixels in red; the overlay is ``(H, W, 4)`` RGBA, red where replaced and transparent
    elsewhere, to lay over the before or after picture.
    """
    if kind == "before":
        return to_8bit(source)
    if kind == "after":
        return to_8bit(np.where(mask[..., None], restored, source))
    if kind == "mask":
        base = to_8bit(source)
        rgb = np.repeat(base, 3, axis=2) if base.shape[2] == 1 else base
        out = (rgb // 2).astype(np.uint8)
        out[mask] = MASK_COLOUR
        return out
    if kind == "overlay":
        out = np.zeros((*mask.shape, 4), np.uint8)
        out[mask] = (*MASK_COLOUR, 255)
        return out
    raise ValueError(f"unknown image kind {kind!r}; choose from {KINDS}")


def encode_png(image: np.ndarray) -> bytes:
    """``(H, W, C)`` uint8 RGB, RGBA or gray -> PNG bytes (fast compression: these are display copies)."""
    if image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA)
    ok, buf = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def frame_png(store: ProvenanceStore, index: int, kind: str, cache: FrameCache | None = None) -> bytes:
    """PNG bytes of frame ``index``'s ``kind`` image (see :func:`render`)."""
    if kind not in KINDS:
        raise ValueError(f"unknown image kind {kind!r}; choose from {KINDS}")
    source = cache.source(store, index) if cache else read_frames(store.info, index, index + 1)[0]
    mask, _, restored = store.read_diff(index, index + 1)
    return encode_png(render(kind, source, mask[0], restored[0]))
