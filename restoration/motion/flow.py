"""Motion compensation: DIS optical flow, warping, occlusion and cut checks.

Flow is estimated on an 8-bit luma view (OpenCV's DIS takes 8-bit input only) and applied to the
native frame, so warped neighbours keep the source's values and bit depth.

Flow convention (docs/CONVENTIONS.md): ``flow[y, x] = (dx, dy)`` in pixels points from pixel
``(x, y)`` of the reference frame to where it lies in the neighbour, i.e.
``neighbour[y + dy, x + dx] ~ frame[y, x]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np
from scipy import ndimage as ndi

_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
_BT709 = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)


def validate_frame(frame: np.ndarray, name: str = "frame") -> None:
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] not in (1, 3):
        raise ValueError(f"{name} must be an (H, W, C) array with C in {{1, 3}}, got {getattr(frame, 'shape', None)}")
    if frame.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"{name} must be uint8 or uint16, got {frame.dtype}")


def _check_flow(flow: np.ndarray, shape: tuple[int, int], name: str = "flow") -> None:
    if flow.shape != (*shape, 2):
        raise ValueError(f"{name} must have shape {(*shape, 2)}, got {flow.shape}")


def luma_float(frame: np.ndarray, peak: float) -> np.ndarray:
    """Luma of ``frame`` scaled to [0, 1].

    frame: ``(H, W, C)``, C in {1, 3}, any numeric dtype in native units (a warped float32 frame
    too); peak: the value that maps to 1 (the source dtype's maximum). Returns float32 ``(H, W)``;
    RGB uses BT.709 weights.
    """
    x = frame.astype(np.float32, copy=False)
    y = x[..., 0] if x.shape[2] == 1 else x @ _BT709
    return y * np.float32(1.0 / peak)


def to_8bit_luma(frame: np.ndarray) -> np.ndarray:
    """8-bit luma view for flow estimation.

    frame: ``(H, W, C)`` uint8 or uint16, C in {1, 3}. Returns ``(H, W)`` uint8 (uint16 is
    rescaled by 255/65535, RGB is reduced with BT.709 weights). A gray uint8 frame is returned as
    a contiguous copy of its only channel.
    """
    validate_frame(frame)
    if frame.dtype == np.uint8 and frame.shape[2] == 1:
        return np.ascontiguousarray(frame[..., 0])
    y = luma_float(frame, np.iinfo(frame.dtype).max)
    return np.clip(np.rint(y * 255.0), 0, 255).astype(np.uint8)


def estimate_flow(frame: np.ndarray, neighbour: np.ndarray, preset: str = "medium", max_side: int = 0) -> np.ndarray:
    """DIS optical flow from ``frame`` to ``neighbour``.

    frame, neighbour: ``(H, W, C)`` uint8/uint16 frames or ``(H, W)`` uint8 luma views (as from
    :func:`to_8bit_luma`; pass those to avoid converting the same frame twice).
    preset: "ultrafast", "fast" or "medium". max_side: > 0 = on frames whose longer side exceeds
    it, DIS runs on views shrunk (area average) to that longer side, and the flow is resized back
    (bilinear) and scaled to full-size pixels; 0 = always full size.
    Returns float32 ``(H, W, 2)`` (dx, dy) in pixels with ``neighbour[y + dy, x + dx] ~ frame[y, x]``.
    """
    if preset not in _PRESETS:
        raise ValueError(f"preset must be one of {sorted(_PRESETS)}, got {preset!r}")
    a = frame if frame.ndim == 2 else to_8bit_luma(frame)
    b = neighbour if neighbour.ndim == 2 else to_8bit_luma(neighbour)
    if a.dtype != np.uint8 or b.dtype != np.uint8 or a.shape != b.shape:
        raise ValueError(f"frames must match in shape and be 8-bit luma or (H, W, C): {a.shape} vs {b.shape}")
    if max_side < 0:
        raise ValueError(f"max_side must be >= 0, got {max_side}")
    dis = cv2.DISOpticalFlow.create(_PRESETS[preset])
    h, w = a.shape
    if not max_side or max(h, w) <= max_side:
        return dis.calc(a, b, None).astype(np.float32, copy=False)
    scale = max_side / max(h, w)
    size = (max(round(w * scale), 1), max(round(h * scale), 1))
    small = dis.calc(cv2.resize(a, size, interpolation=cv2.INTER_AREA), cv2.resize(b, size, interpolation=cv2.INTER_AREA), None)
    flow = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32, copy=False)
    flow[..., 0] *= w / size[0]
    flow[..., 1] *= h / size[1]
    return flow


def warp_to(neighbour: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Sample ``neighbour`` at ``x + flow`` so that it lines up with the reference frame.

    neighbour: ``(H, W, C)`` (any dtype; also ``(H, W, 2)`` flows) in native units.
    flow: float32 ``(H, W, 2)`` from :func:`estimate_flow` (reference -> neighbour).
    Returns float32 ``(H, W, C)`` in the neighbour's native scale (not normalised). Bilinear
    interpolation; samples outside the frame replicate the border (see :func:`occlusion_mask` for
    which pixels that makes meaningless).
    """
    if neighbour.ndim != 3:
        raise ValueError(f"neighbour must be (H, W, C), got {neighbour.shape}")
    h, w, c = neighbour.shape
    _check_flow(flow, (h, w))
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    src = neighbour.astype(np.float32, copy=False)
    # cv2.remap handles at most 4 channels per call; frames have 1 or 3, flows 2.
    out = cv2.remap(src, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(h, w, c)


def occlusion_mask(flow_fw: np.ndarray, flow_bw: np.ndarray) -> np.ndarray:
    """Pixels of the reference frame with no trustworthy match in the neighbour.

    flow_fw: reference -> neighbour, flow_bw: neighbour -> reference, both float32 ``(H, W, 2)``.
    Returns bool ``(H, W)``, True = occluded: the forward-backward check
    ``|w + w_b(x + w)|^2 > 0.01 (|w|^2 + |w_b(x + w)|^2) + 0.5`` fails, or ``x + w`` lies outside
    the frame (no real sample there).
    """
    h, w = flow_fw.shape[:2]
    _check_flow(flow_fw, (h, w), "flow_fw")
    _check_flow(flow_bw, (h, w), "flow_bw")
    back = warp_to(flow_bw, flow_fw)
    total = np.sum((flow_fw + back) ** 2, axis=2)
    bound = 0.01 * (np.sum(flow_fw**2, axis=2) + np.sum(back**2, axis=2)) + 0.5
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    x, y = gx + flow_fw[..., 0], gy + flow_fw[..., 1]
    outside = (x < 0) | (x > w - 1) | (y < 0) | (y > h - 1)
    return (total > bound) | outside


@dataclass(frozen=True)
class MotionConfig:
    """Settings for :func:`compensate`.

    preset: DIS preset ("ultrafast", "fast", "medium").
    prefilter: median filter size (odd; 1 = off) applied to the 8-bit luma views before flow
        estimation. In flat areas a speck drags DIS flow by pixels over hundreds of pixels around
        it, which then fail the forward-backward check and hide the speck; the median removes
        specks up to about half its window from what the flow sees.
    duplicate_tol, duplicate_fraction: a neighbour is a near-duplicate of the frame when at least
        ``duplicate_fraction`` of its 8-bit luma pixels differ by at most ``duplicate_tol`` levels
        (a fraction, not a mean, so that a speck on one of the two does not hide the repeat).
    max_duplicate_skip: how many further frames to try past a duplicate, per neighbour.
    cut_ratio: a neighbour is a scene cut when the median absolute residual after warping exceeds
        ``cut_ratio`` times the frame's own contrast (median absolute deviation of its luma) ...
    cut_floor: ... and exceeds this absolute level (fraction of the dtype range), so that flat
        frames (fades, black leader) whose contrast is grain are not taken for cuts.
    min_valid_fraction: a neighbour with fewer non-occluded pixels than this is treated as a cut.
    max_hole_area: occluded blobs of at most this many pixels, enclosed by valid pixels, count as
        valid. A speck on the reference frame fails the forward-backward check by itself (the
        neighbour has nothing to match it with), which would hide exactly the pixels the spike
        detector and the temporal median need. Real occlusions are bands along moving edges and
        show in one temporal direction only, which the spike test rejects. 0 disables.
    flow_max_side: > 0 = on frames larger than this (longer side, pixels) the flow is estimated on
        views shrunk to it (:func:`estimate_flow`) and the full frames are warped with it; 0 = the
        flow is always estimated at full size. Measured (2026-12-07, one thread, intel_car resized
        to 2048x1556 16-bit, medium damage, 4 frames, the default restore): 1024 against full size,
        F1 0.8886 / 0.8878, PSNR in the damage 18.61 / 18.59 dB, one frame's motion 1.68 / 2.66 s,
        the restore 27.0 / 28.2 s a frame. Not lower: on the benchmark's clips (320-1280 px wide)
        flow on views at half their size raised the undamaged false alarms of imageio and intel_car
        from 0.0082 / 0.0093 % to 0.0105 / 0.0148 % (0.7 of their size: 0.0122 / 0.0115 %), over
        issue 13's 0.01 %: small details moving apart from the picture are tracked less well,
        although the fills gained (Palette on the true masks, half size: +0.02 to +2.33 dB).
    mirror_ends: an offset whose frame falls outside the clip (a reel's first or last frames) takes
        the nearest unused frame on the other side instead (frame 0 gets +1 and +2), so that the
        detectors, which look where two neighbours disagree with the frame, still see two: a
        transient speck differs from both. False leaves such an offset without a neighbour.
    """

    preset: str = "medium"
    prefilter: int = 7
    duplicate_tol: int = 1
    duplicate_fraction: float = 0.98
    max_duplicate_skip: int = 2
    cut_ratio: float = 0.5
    cut_floor: float = 0.03
    flat_gradient: float = 0.02
    min_valid_fraction: float = 0.3
    max_hole_area: int = 400
    flow_max_side: int = 1024
    mirror_ends: bool = True

    def __post_init__(self) -> None:
        if self.preset not in _PRESETS:
            raise ValueError(f"motion preset must be one of {sorted(_PRESETS)}, got {self.preset!r}")
        if self.prefilter < 1 or self.prefilter % 2 == 0:
            raise ValueError(f"motion prefilter must be an odd size >= 1, got {self.prefilter}")
        if self.flow_max_side < 0:
            raise ValueError(f"motion flow_max_side must be >= 0, got {self.flow_max_side}")


def is_duplicate(luma: np.ndarray, other: np.ndarray, config: MotionConfig = MotionConfig()) -> bool:
    """Whether two uint8 ``(H, W)`` luma views are the same picture repeated (see MotionConfig)."""
    diff = np.abs(luma.astype(np.int16) - other.astype(np.int16))
    return bool(np.mean(diff <= config.duplicate_tol) >= config.duplicate_fraction)


def fill_small_holes(valid: np.ndarray, max_area: int) -> np.ndarray:
    """``valid`` (bool ``(H, W)``) with enclosed False blobs of at most ``max_area`` px set True."""
    if max_area <= 0:
        return valid
    holes = ndi.binary_fill_holes(valid) & ~valid
    labels, n = ndi.label(holes, structure=np.ones((3, 3), bool))
    if n == 0:
        return valid
    small = np.bincount(labels.ravel(), minlength=n + 1) <= max_area
    small[0] = False
    return valid | small[labels]


def is_scene_cut(frame: np.ndarray, neighbour_warped: np.ndarray, valid: np.ndarray, config: MotionConfig = MotionConfig()) -> bool:
    """Whether a warped neighbour shows a different shot, so it must not be used.

    frame: ``(H, W, C)`` uint8/uint16; neighbour_warped: float32 ``(H, W, C)`` in the frame's native
    scale (from :func:`warp_to`); valid: bool ``(H, W)``, non-occluded pixels.
    A cut: too few valid pixels, or a median residual over the valid pixels that is large both
    relative to the frame's contrast and in absolute terms (see :class:`MotionConfig`).
    """
    validate_frame(frame)
    if valid.mean() < config.min_valid_fraction:
        return True
    peak = np.iinfo(frame.dtype).max
    a = luma_float(frame, peak)
    b = luma_float(neighbour_warped, peak)
    residual = float(np.median(np.abs(a - b)[valid]))
    contrast = float(np.median(np.abs(a - np.median(a))))
    return residual > config.cut_floor and residual > config.cut_ratio * contrast


class Lumas(Protocol):
    """What :func:`select_neighbours` reads: ``len`` and integer indexing (a list, or a lazy view)."""

    def __len__(self) -> int: ...

    def __getitem__(self, j: int, /) -> np.ndarray: ...


def select_neighbours(lumas: Lumas, index: int, offsets: Sequence[int], config: MotionConfig = MotionConfig()) -> list[int | None]:
    """Frame indices to use for each offset, skipping near-duplicates of frame ``index``.

    lumas: uint8 ``(H, W)`` luma views (or anything indexable with ``len``; entries are only read
    for the candidates). For each direction the offsets are taken in order of distance; a candidate
    that repeats the reference is passed over for the next frame further out (up to
    ``max_duplicate_skip`` times), and the offsets further out shift by as much, so no two offsets
    share a frame. If only duplicates are in reach, the nominal ``index + offset`` frame is used
    (still valid: a repeated frame is aligned, it only cannot reveal a speck both copies carry).
    With ``config.mirror_ends``, an offset outside the clip takes the next frames further out on
    the other side. ``None`` = out of range.
    """
    n = len(lumas)

    def pick(direction: int, distances: list[int]) -> list[int | None]:
        found: list[int | None] = []
        shift = 0
        for distance in distances:
            nominal = j = index + direction * (distance + shift)
            skipped = 0
            while 0 <= j < n and skipped < config.max_duplicate_skip and is_duplicate(lumas[index], lumas[j], config):
                j += direction
                skipped += 1
            if not (0 <= j < n) or is_duplicate(lumas[index], lumas[j], config):
                j = nominal  # nothing independent in reach: fall back to the nominal frame
            else:
                shift += skipped
            found.append(j if 0 <= j < n else None)
        return found

    picks: dict[int, int | None] = {}
    sides = {direction: sorted((o for o in offsets if o * direction > 0), key=abs) for direction in (-1, 1)}
    for direction, side in sides.items():
        picks.update(zip(side, pick(direction, [abs(o) for o in side])))
    if config.mirror_ends:
        for direction, side in sides.items():
            outside = [o for o in sides[-direction] if picks[o] is None]
            if outside:
                # Further out than this side's own offsets, so that no two offsets share a frame.
                reach = max((abs(o) for o in side), default=0)
                distances = [abs(o) for o in side] + [reach + k + 1 for k in range(len(outside))]
                picks.update(zip(outside, pick(direction, distances)[len(side) :]))
    return [picks[o] for o in offsets]


def flat_regions(luma: np.ndarray, threshold: float) -> np.ndarray:
    """Bool ``(H, W)``: pixels of an 8-bit ``luma`` with no edge within 2 px (gradient magnitude
    below ``threshold`` of the range). There a wrong flow vector cannot move picture detail, so a
    failed forward-backward check (grain makes flow noisy on flat film) is no reason to distrust
    the warped neighbour."""
    gx = cv2.Sobel(luma, cv2.CV_32F, 1, 0, ksize=3) / 8
    gy = cv2.Sobel(luma, cv2.CV_32F, 0, 1, ksize=3) / 8
    near_edge = cv2.dilate(np.hypot(gx, gy), np.ones((5, 5), np.uint8))
    return near_edge < threshold * 255


def no_neighbour(shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The ``(warped, valid)`` pair of :func:`compensate` for a neighbour that is not there (past a
    clip's end): warped float32 zeros of the frame's ``(H, W, C)`` shape, valid bool ``(H, W)``, all
    False. Black carries no picture, so nothing that reads the warped values can copy the truth."""
    return np.zeros(shape, np.float32), np.zeros(shape[:2], bool)


@dataclass
class MotionCache:
    """What :func:`compensate` computed over one clip with one :class:`MotionConfig`, kept between
    its calls (the caller owns it and forgets what is no longer needed).

    pairs: per ``(index, j)`` pair: forward and backward flow float32 ``(H, W, 2)``, the warped
        neighbour float32 ``(H, W, C)`` and its validity bool ``(H, W)`` before ``damage``.
    lumas: per frame: its prefiltered 8-bit luma view uint8 ``(H, W)``, which the flow, the repeat
        test and the flat-region test read (at 2K the median prefilter alone takes 0.18 s a view, and
        a frame is viewed in about six calls).
    """

    pairs: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)
    lumas: dict[int, np.ndarray] = field(default_factory=dict)

    def forget(self, done: int) -> None:
        """Drop what the frames after ``done`` no longer need when frames are handled in order:
        the pairs of frames up to ``done`` and the views of frames before it (frame ``done`` is
        still the next frame's neighbour)."""
        for key in [k for k in self.pairs if k[0] <= done]:
            del self.pairs[key]
        for j in [j for j in self.lumas if j < done]:
            del self.lumas[j]


def compensate(
    frames: np.ndarray | Sequence[np.ndarray],
    index: int,
    offsets: Sequence[int] = (-1, 1),
    config: MotionConfig = MotionConfig(),
    damage: np.ndarray | Sequence[np.ndarray] | None = None,
    cache: MotionCache | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Motion-compensated neighbours of frame ``index``.

    frames: ``(T, H, W, C)`` uint8/uint16 clip (or a sequence of ``(H, W, C)`` frames).
    offsets: non-zero frame offsets, e.g. ``(-1, 1)`` or ``(-2, -1, 1, 2)``; the result follows
        their order. Near-duplicates of the frame are skipped (see :func:`select_neighbours`).
    damage: optional bool ``(T, H, W)`` masks of the damage found on each frame; a neighbour pixel
        whose sample touches its own frame's damage is invalid (a persistent scratch or a blotch
        on the neighbour is not the truth for this frame).
    cache: optional :class:`MotionCache`, read and filled: a second call for the same frame (again
        with ``damage`` once the neighbours' damage is known) skips the flow estimation and the
        warp, nearly all of this function's cost, and frame ``j``'s own call takes the pair's two
        flows from it, swapped, instead of estimating them again (the same flows, bit for bit: half
        the estimations over a clip); each frame's luma view is made once. The warped arrays
        returned are the cached ones (read them, do not write).
    Returns one ``(warped, valid)`` per offset: warped float32 ``(H, W, C)`` in native units, aligned
    to frame ``index``; valid bool ``(H, W)``, False where occluded, out of frame, or everywhere when
    the neighbour is out of range or across a scene cut.
    """
    if not 0 <= index < len(frames):
        raise ValueError(f"index {index} outside a clip of {len(frames)} frames")
    if any(o == 0 for o in offsets):
        raise ValueError(f"offsets must be non-zero, got {tuple(offsets)}")
    frame = frames[index]
    validate_frame(frame)

    converted: dict[int, np.ndarray] = cache.lumas if cache is not None else {}

    class _Lumas:  # lazy: only the candidates select_neighbours looks at get converted
        def __len__(self) -> int:
            return len(frames)

        def __getitem__(self, j: int) -> np.ndarray:
            if j not in converted:
                luma = to_8bit_luma(frames[j])
                converted[j] = cv2.medianBlur(luma, config.prefilter) if config.prefilter > 1 else luma
            return converted[j]

    lumas = _Lumas()
    out = []
    h, w, c = frame.shape
    for j in select_neighbours(lumas, index, offsets, config):
        if j is None:
            out.append(no_neighbour((h, w, c)))
            continue
        if cache is not None and (index, j) in cache.pairs:
            fw, _, warped, matched = cache.pairs[(index, j)]
        else:
            if cache is not None and (j, index) in cache.pairs:
                bw, fw = cache.pairs[(j, index)][:2]
            else:
                fw = estimate_flow(lumas[index], lumas[j], config.preset, config.flow_max_side)
                bw = estimate_flow(lumas[j], lumas[index], config.preset, config.flow_max_side)
            warped = warp_to(frames[j], fw)
            matched = fill_small_holes(~occlusion_mask(fw, bw), config.max_hole_area)
            matched |= flat_regions(lumas[index], config.flat_gradient)
            if cache is not None:
                cache.pairs[(index, j)] = (fw, bw, warped, matched)
        valid = matched.copy()
        if damage is not None and damage[j].any():
            valid &= warp_to(damage[j][..., None].astype(np.float32), fw)[..., 0] == 0
        if is_scene_cut(frame, warped, valid, config):
            valid = np.zeros((h, w), bool)
        out.append((warped, valid))
    return out
