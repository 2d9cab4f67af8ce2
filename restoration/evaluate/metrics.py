"""Evaluation metrics: detection scores, PSNR/SSIM inside a mask, untouched pixels, flicker.

Scores are plain Python floats/ints, NaN-free wherever the quantity is defined by convention (see
:func:`detection_scores`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage as ndi
from skimage.metrics import structural_similarity

from restoration.motion import flow as motion


def _peak(dtype: np.dtype, peak: float | None) -> float:
    if peak is not None:
        return float(peak)
    if not np.issubdtype(dtype, np.integer):
        raise ValueError(f"peak must be given for dtype {dtype}")
    return float(np.iinfo(dtype).max)


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape or a.dtype != b.dtype:
        raise ValueError(f"arrays differ: {a.dtype} {a.shape} vs {b.dtype} {b.shape}")


def object_recall(pred: np.ndarray, truth: np.ndarray, coverage: float = 0.8) -> dict[str, float | int]:
    """Per-object recall: an artefact (a connected component of ``truth``, 8-connected, per frame)
    counts as found when at least ``coverage`` of its pixels are in ``pred``.

    pred, truth: bool ``(H, W)`` or ``(T, H, W)``. Returns ``objects``, ``found`` (counts) and
    ``recall`` (found / objects; 1.0 when there is no object).
    """
    if pred.shape != truth.shape or pred.dtype != bool or truth.dtype != bool:
        raise ValueError(f"pred and truth must be bool arrays of one shape: {pred.dtype} {pred.shape}, {truth.dtype} {truth.shape}")
    objects = found = 0
    for p, t in zip(pred.reshape(-1, *truth.shape[-2:]), truth.reshape(-1, *truth.shape[-2:])):
        labels, area = _components(t)
        k = len(area) - 1
        if not k:
            continue
        hit = np.bincount(labels[p], minlength=k + 1)[1:]
        objects += k
        found += int(np.count_nonzero(hit >= coverage * area[1:]))
    return {"objects": objects, "found": found, "recall": found / objects if objects else 1.0}


def _components(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 8-connected components of a bool ``(H, W)`` mask: ``(labels int (H, W), 0 = background;
    area int (K + 1,), pixels per label, area[0] = 0)``."""
    labels, k = ndi.label(mask, structure=np.ones((3, 3), bool))
    area = np.bincount(labels.ravel(), minlength=k + 1)
    area[0] = 0  # the background is no component
    return labels, area


# Damage size buckets: a component's area in pixels, both bounds inclusive. Under 50 px is dust and
# specks (a neighbour or a 32 px tile's context covers them), over 500 px the stains and tears larger
# than a tile; the cut-offs are issue 15's.
SIZE_BUCKETS = {"<50": (1, 49), "50-500": (50, 500), ">500": (501, np.inf)}


def size_buckets(mask: np.ndarray) -> dict[str, np.ndarray]:
    """``mask`` split by the size of its damage: per :data:`SIZE_BUCKETS` name, the pixels of the
    connected components (8-connected, per frame) whose area falls in that bucket.

    mask: bool ``(H, W)`` or ``(T, H, W)``. Returns every bucket, in :data:`SIZE_BUCKETS` order, as a
    bool array of ``mask``'s shape (all False where no component is that size); together they are
    ``mask``, and no pixel is in two.
    """
    if mask.dtype != bool or mask.ndim not in (2, 3):
        raise ValueError(f"mask must be bool (H, W) or (T, H, W), got {mask.dtype} {mask.shape}")
    frames = mask.reshape(-1, *mask.shape[-2:])
    out = {name: np.zeros(frames.shape, bool) for name in SIZE_BUCKETS}
    for t, frame in enumerate(frames):
        labels, area = _components(frame)
        for name, (low, high) in SIZE_BUCKETS.items():
            out[name][t] = ((area >= low) & (area <= high))[labels]
    return {name: bucket.reshape(mask.shape) for name, bucket in out.items()}


def vertical_structure(frame: np.ndarray, strength: float = 0.02, length: int = 15, ratio: float = 9.0) -> np.ndarray:
    """The picture's long vertical edges and thin vertical lines (poles, door frames, text strokes):
    where a detector of persistent line scratches is most likely to take picture for damage.

    frame: ``(H, W, C)`` uint8/uint16 (channels averaged). A pixel belongs when, in the structure
    tensor (Sobel gradients of the frame blurred by 1 px, averaged over 3 px), the horizontal
    gradient's RMS is at least ``strength`` of the range per pixel and ``ratio`` times the vertical
    one's, along a vertical run of at least ``length`` px; then widened by 2 px each side (both
    sides of the edge). Returns bool ``(H, W)``.
    """
    if frame.ndim != 3 or not np.issubdtype(frame.dtype, np.unsignedinteger):
        raise ValueError(f"frame must be (H, W, C) unsigned integers, got {frame.dtype} {frame.shape}")
    g = ndi.gaussian_filter(frame.mean(axis=-1) / float(np.iinfo(frame.dtype).max), 1.0)
    gx, gy = ndi.sobel(g, axis=1) / 8, ndi.sobel(g, axis=0) / 8  # per pixel of the blurred frame
    jxx, jyy = ndi.gaussian_filter(gx * gx, 3.0), ndi.gaussian_filter(gy * gy, 3.0)
    edge = (jxx >= strength**2) & (jxx >= ratio * jyy)
    edge = ndi.binary_opening(edge, structure=np.ones((length, 1), bool))
    return ndi.binary_dilation(edge, structure=np.ones((1, 5), bool))


def detection_scores(pred: np.ndarray, truth: np.ndarray) -> dict[str, float | int]:
    """Per-pixel detection scores of a predicted damage mask.

    pred, truth: bool arrays of one shape (``(H, W)`` or ``(T, H, W)``), True = damage.
    Returns ``precision, recall, f1, iou`` (floats in [0, 1]) and ``tp, fp, fn`` (pixel counts;
    sum these over frames to pool, rather than averaging per-frame ratios).
    Empty sets, NaN-free: a ratio whose denominator is empty is 1.0 when both masks are empty and
    0.0 otherwise. So nothing predicted on damaged truth: precision 0, recall 0; something predicted
    on clean truth: precision 0, recall 0; both empty: every score 1.
    """
    if pred.shape != truth.shape or pred.dtype != bool or truth.dtype != bool:
        raise ValueError(f"pred and truth must be bool arrays of one shape: {pred.dtype} {pred.shape}, {truth.dtype} {truth.shape}")
    tp = int(np.count_nonzero(pred & truth))
    fp = int(np.count_nonzero(pred & ~truth))
    fn = int(np.count_nonzero(~pred & truth))
    both_empty = tp + fp + fn == 0

    def ratio(num: int, den: int) -> float:
        return num / den if den else float(both_empty)

    precision, recall = ratio(tp, tp + fp), ratio(tp, tp + fn)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    iou = ratio(tp, tp + fp + fn)
    return {"precision": precision, "recall": recall, "f1": f1, "iou": iou, "tp": tp, "fp": fp, "fn": fn}


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None, peak: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB.

    a, b: arrays of one shape and dtype, ``(H, W, C)`` or ``(T, H, W, C)``. mask: bool over all axes
    but the channel axis (``(H, W)`` / ``(T, H, W)``): only those pixels count, all channels each.
    peak: defaults to the dtype's maximum (required for float input). Returns ``inf`` when the
    compared pixels are equal. An empty mask is a ValueError (no pixels, no score).
    """
    _check_pair(a, b)
    top = _peak(a.dtype, peak)
    diff = a.astype(np.float64) - b.astype(np.float64)
    if mask is not None:
        if mask.shape != a.shape[:-1] or mask.dtype != bool:
            raise ValueError(f"mask must be bool {a.shape[:-1]}, got {mask.dtype} {mask.shape}")
        if not mask.any():
            raise ValueError("mask is empty")
        diff = diff[mask]
    mse = float(np.mean(diff**2))
    return float("inf") if mse == 0 else float(10 * np.log10(top**2 / mse))


def psnr_by_size(a: np.ndarray, b: np.ndarray, mask: np.ndarray, peak: float | None = None) -> dict[str, dict[str, float | int]]:
    """:func:`psnr` inside ``mask``, per damage size (:func:`size_buckets`).

    a, b, mask, peak: as for :func:`psnr` (mask ``(H, W)`` / ``(T, H, W)``, required). Returns, for
    each bucket with any pixel (in :data:`SIZE_BUCKETS` order), ``{"psnr": dB, "pixels": count}``;
    an empty mask gives ``{}``.
    """
    return {
        name: {"psnr": psnr(a, b, mask=bucket, peak=peak), "pixels": int(np.count_nonzero(bucket))}
        for name, bucket in size_buckets(mask).items()
        if bucket.any()
    }


def ssim_in_mask(a: np.ndarray, b: np.ndarray, mask: np.ndarray, peak: float | None = None) -> float:
    """Mean SSIM inside ``mask``.

    a, b: ``(H, W, C)`` of one dtype, H and W at least 7 (skimage's 7x7 window); mask: bool
    ``(H, W)``, non-empty. The full SSIM map (skimage ``structural_similarity``, data range =
    ``peak``, default the dtype's maximum) is averaged over the masked pixels and all channels;
    the window reaches 3 px past the mask, so the score also sees the seam around a fill.
    """
    _check_pair(a, b)
    if a.ndim != 3 or mask.shape != a.shape[:2] or mask.dtype != bool or not mask.any():
        raise ValueError(f"need (H, W, C) arrays and a non-empty bool (H, W) mask, got {a.shape}, {mask.shape}")
    _, smap = structural_similarity(a, b, data_range=_peak(a.dtype, peak), channel_axis=-1, full=True)
    return float(np.mean(smap[mask]))


def grain_ratio(restored: np.ndarray, clean: np.ndarray, mask: np.ndarray, sigma: float = 1.5) -> float:
    """Texture left in a fill: high-pass energy inside ``mask``, restored over clean.

    restored, clean: one shape and dtype, ``(H, W, C)`` or ``(T, H, W, C)``; mask: bool over all axes
    but the channel axis. High-pass = the frame minus its Gaussian blur (``sigma`` px, per frame and
    channel). Returns ``std(high-pass of restored in mask) / std(high-pass of clean in mask)``:
    1.0 = as much grain and fine detail as the truth, below 1 = smoother (a smeared fill), above 1 =
    noisier. An empty mask is a ValueError.
    """
    from scipy.ndimage import gaussian_filter

    _check_pair(restored, clean)
    if mask.shape != restored.shape[:-1] or mask.dtype != bool:
        raise ValueError(f"mask must be bool {restored.shape[:-1]}, got {mask.dtype} {mask.shape}")
    if not mask.any():
        raise ValueError("mask is empty")
    blur = [0.0] * (restored.ndim - 3) + [sigma, sigma, 0.0]

    def high_pass(a: np.ndarray) -> np.ndarray:
        a = a.astype(np.float64)
        return (a - gaussian_filter(a, blur))[mask]

    return float(high_pass(restored).std() / max(high_pass(clean).std(), 1e-12))


def changed_outside(original: np.ndarray, restored: np.ndarray, mask: np.ndarray) -> int:
    """Number of pixels outside ``mask`` where any channel changed (0 for a faithful restoration).

    original, restored: ``(..., H, W, C)`` of one shape and dtype; mask: bool ``(..., H, W)``.
    """
    _check_pair(original, restored)
    if mask.shape != original.shape[:-1] or mask.dtype != bool:
        raise ValueError(f"mask must be bool {original.shape[:-1]}, got {mask.dtype} {mask.shape}")
    changed = np.any(original != restored, axis=-1)
    return int(np.count_nonzero(changed & ~mask))


def consecutive_flows(frames: np.ndarray, preset: str = "medium") -> list[tuple[np.ndarray, np.ndarray]]:
    """``(forward, backward)`` DIS flows, float32 ``(H, W, 2)``, for each pair ``(t, t + 1)`` of
    ``frames`` ``(T, H, W, C)``: computed once, they let several sequences be judged on one motion."""
    lumas = [motion.to_8bit_luma(f) for f in frames]
    return [(motion.estimate_flow(a, b, preset), motion.estimate_flow(b, a, preset)) for a, b in zip(lumas, lumas[1:])]


def warping_error(
    frames: np.ndarray,
    reference_frames: np.ndarray | None = None,
    flows: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
    preset: str = "medium",
) -> float:
    """Temporal flicker: the mean warping error over consecutive frame pairs.

    frames: ``(T, H, W, C)`` uint8/uint16, T >= 2, the sequence judged (e.g. restored).
    reference_frames: the clean sequence the flow is estimated on (default: ``frames``), so that
        every method is judged against the same motion.
    flows: optional ``(forward, backward)`` pairs, float32 ``(H, W, 2)`` each, one per pair
        ``(t, t + 1)``: forward from t to t+1, backward from t+1 to t; computed with DIS otherwise.
    For each pair, ``E_t = sum_M ||V_t - warp(V_t+1)||^2 / sum M`` with M the non-occluded pixels
    (forward-backward check) and the norm over channels, values scaled to [0, 1] by the dtype's
    maximum. Returns the mean of ``E_t`` over pairs with any non-occluded pixel (squared units of
    the dtype range); ValueError if none has one.
    """
    if frames.ndim != 4 or len(frames) < 2:
        raise ValueError(f"frames must be (T, H, W, C) with T >= 2, got {frames.shape}")
    ref = frames if reference_frames is None else reference_frames
    if ref.shape[:3] != frames.shape[:3]:
        raise ValueError(f"reference_frames {ref.shape} do not match frames {frames.shape}")
    if flows is not None and len(flows) != len(frames) - 1:
        raise ValueError(f"need {len(frames) - 1} flow pairs, got {len(flows)}")
    top = _peak(frames.dtype, None)
    errors = []
    for t, (fw, bw) in enumerate(flows if flows is not None else consecutive_flows(ref, preset)):
        keep = ~motion.occlusion_mask(fw, bw)
        if not keep.any():
            continue
        warped = motion.warp_to(frames[t + 1], fw)
        sq = np.sum(((frames[t].astype(np.float32) - warped) / top) ** 2, axis=-1)
        errors.append(float(np.sum(sq[keep], dtype=np.float64) / np.count_nonzero(keep)))
    if not errors:
        raise ValueError("every pixel of every pair is occluded")
    return float(np.mean(errors))
