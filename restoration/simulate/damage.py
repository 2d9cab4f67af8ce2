"""Film damage simulator: composite realistic damage onto clean frames, with the exact truth mask.

Transient damage (dust, dots, sprinkles, spots, dirt, smut, lint, short and long hair, short
scratches, stains) is drawn anew in every frame at random places, so it never persists; a vertical
line scratch persists over many frames at a slowly drifting column (the hard case for temporal
methods). Shapes are procedural by default, so the package works alone; given ``sprites_dir`` (the
FilmDamageSimulator sprite library: one folder of 400x400 RGBA PNGs per class, white artefact on
alpha) sprites of the class are used instead, scaled, rotated and flipped at random.

Sizes and elongations follow the real outlines measured on FILM-AA scans
(``restoration/data/damage_sizes.json``, made by ``benchmarks/fit_damage_sizes.py``) as a fraction
of the frame area, with a floor of a few pixels so that a speck stays visible at SD, where real
dust is smaller than a pixel.

The truth mask is computed from the result, ``(damaged != clean).any(-1)``: it is exactly the set
of pixels the simulator changed. Alpha below 0.3 is not drawn, and every drawn pixel moves by at
least ``min_contrast`` of the dtype range towards the artefact's polarity (less only where the clean
value is within that distance of the extreme).

Optionally (``DamageConfig.rim``) the damage gets the soft edge of a real scan: the ring of pixels
just outside it moves a fraction of the way its damaged neighbours moved, below any visible-damage
threshold, so those pixels are changed but stay outside the truth mask (as the FILM-R masks, a
thresholded difference, leave them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

DAMAGE_CLASSES = (
    "dust",
    "dots",
    "sprinkles",
    "spots",
    "dirt",
    "smut",
    "lint",
    "hair_short",
    "hair_long",
    "scratch_short",
    "stain",
    "line_scratch",
)
# Target mean fraction of each frame's pixels damaged (real scans: 0.25 % to 2.6 %). The mean over a
# clip of 20 frames or more is within ±35 % of the target for frames of 128x128 and larger.
LEVEL_COVERAGE = {"low": 0.0025, "medium": 0.01, "high": 0.026}
COVERAGE_TOLERANCE = 0.35
# Share of the transient coverage each class gets.
CLASS_SHARE = {
    "dust": 0.16,
    "dots": 0.06,
    "sprinkles": 0.06,
    "spots": 0.08,
    "dirt": 0.16,
    "smut": 0.06,
    "lint": 0.07,
    "hair_short": 0.08,
    "hair_long": 0.08,
    "scratch_short": 0.07,
    "stain": 0.08,
}
# Which measured real class gives each simulated class its size and elongation.
SIZE_CLASS = {
    "dust": "Dust",
    "dots": "Dust",
    "sprinkles": "Dust",
    "spots": "Dirt",
    "dirt": "Dirt",
    "smut": "Dirt",
    "stain": "Dirt",
    "lint": "Short hair",
    "hair_short": "Short hair",
    "hair_long": "Long hair",
    "scratch_short": "Scratch",
}
# Floor on an artefact's area in pixels: real dust at SD is sub-pixel and would vanish.
MIN_AREA = {
    "dust": 2,
    "dots": 2,
    "sprinkles": 1,
    "spots": 6,
    "dirt": 8,
    "smut": 8,
    "stain": 40,
    "lint": 12,
    "hair_short": 16,
    "hair_long": 40,
    "scratch_short": 12,
}
# Folder of the sprite library for each class.
SPRITE_FOLDER = {
    "dust": "dots",
    "dots": "dots",
    "sprinkles": "sprinkles",
    "spots": "spots",
    "dirt": "dirt",
    "smut": "smut",
    "lint": "lint",
    "hair_short": "hair-short",
    "hair_long": "hair",
    "scratch_short": "scratches",
    "stain": "stain",
}
SIZES_FILE = Path(__file__).parents[1] / "data" / "damage_sizes.json"
ALPHA_MIN = 0.3
# Share of a level's coverage a line scratch may take; the transient artefacts fill the rest.
LINE_SHARE = 0.4


@dataclass(frozen=True)
class DamageConfig:
    """What damage to draw.

    ``level``: a key of ``LEVEL_COVERAGE``. ``bright_fraction``: share of bright artefacts (dust on a
    negative scan prints bright, on a positive dark). ``min_contrast``: least change of a drawn pixel,
    as a fraction of the dtype range. ``scale``: multiplies every artefact's area. ``rim``: the soft
    edge, the share of the mean change of its damaged 8-neighbours that each pixel of the ring just
    outside the damage takes (0 = hard edges, the simulator's original damage; on the FILM-R scans the
    ring next to the thresholded mask moves 0.12-0.15 of the damage's mean change towards it, 7.6-8.5
    of 50-70 code values, and the ring beyond it does not: ``benchmarks/soft_edges.py``, where rim
    0.2 measures 0.18).
    """

    level: str = "medium"
    seed: int = 0
    sprites_dir: str | None = None
    line_scratch: bool = True
    bright_fraction: float = 0.5
    min_contrast: float = 0.12
    scale: float = 1.0
    rim: float = 0.0

    def __post_init__(self):
        if self.level not in LEVEL_COVERAGE:
            raise ValueError(f"level must be one of {tuple(LEVEL_COVERAGE)}, got {self.level!r}")
        if not 0 <= self.bright_fraction <= 1 or not 0 < self.min_contrast < 1 or self.scale <= 0 or not 0 <= self.rim < 1:
            raise ValueError(f"bad DamageConfig values: {self}")


@dataclass
class DamagedClip:
    """``frames`` ``(T, H, W, C)`` like the input; ``mask`` ``(T, H, W)`` bool, exactly the changed
    pixels (the soft rims of ``DamageConfig.rim`` excepted); ``class_map`` ``(T, H, W)`` uint8,
    0 = undamaged, k = ``DAMAGE_CLASSES[k - 1]``."""

    frames: np.ndarray
    mask: np.ndarray
    class_map: np.ndarray


def coverage(mask: np.ndarray) -> float:
    """Mean fraction of pixels damaged in a bool ``mask`` of any shape."""
    return float(np.mean(mask))


def simulate_damage(frames: np.ndarray, config: DamageConfig = DamageConfig()) -> DamagedClip:
    """Composite damage onto ``frames`` ``(T, H, W, C)`` uint8/uint16, C in {1, 3}.

    Each frame gets about ``LEVEL_COVERAGE[config.level]`` of its pixels damaged (line scratch
    included). Deterministic: the same frames and config give bit-identical output.
    """
    if frames.ndim != 4 or frames.shape[-1] not in (1, 3) or frames.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"expected (T, H, W, 1|3) uint8/uint16 frames, got {frames.shape} {frames.dtype}")
    rng = np.random.default_rng(config.seed)
    t, h, w, _ = frames.shape
    target = LEVEL_COVERAGE[config.level] * h * w
    out = frames.copy()
    drawn = np.zeros((t, h, w), np.uint8)  # class index of the last artefact drawn at each pixel
    covered = np.zeros((t, h, w), bool)
    line = DAMAGE_CLASSES.index("line_scratch") + 1
    if config.line_scratch and config.level != "low":
        for i, x, top, bottom, width, bright in _line_scratches(t, h, w, target, rng, config):
            # Opacity varies along the scratch, as its depth in the emulsion does.
            alpha = np.clip(0.75 + 0.25 * _smooth_profile(bottom - top, rng), ALPHA_MIN, 1)
            alpha = np.repeat(alpha[:, None], width, axis=1)
            _composite(out[i], frames[i], drawn[i], covered[i], alpha, top, x, bright, line, rng, config)
    # The transient artefacts fill what the line scratch left of the clip's budget.
    per_frame = max(t * target - covered.sum(), 0) / t
    classes = list(CLASS_SHARE)
    cumulative = np.cumsum([CLASS_SHARE[c] for c in classes])
    for i in range(t):
        budget, filled = per_frame * rng.uniform(0.8, 1.2), 0
        while True:
            name = classes[int(np.searchsorted(cumulative, rng.random() * cumulative[-1]))]
            alpha = _artefact(name, h * w, rng, config)
            # Stop where the next artefact would overshoot by more than it undershoots.
            if filled + (alpha >= ALPHA_MIN).sum() / 2 > budget:
                break
            ah, aw = alpha.shape
            y0, x0 = int(rng.integers(-ah // 2, h - ah // 2)), int(rng.integers(-aw // 2, w - aw // 2))
            bright = rng.random() < config.bright_fraction
            filled += _composite(
                out[i], frames[i], drawn[i], covered[i], alpha, y0, x0, bright, DAMAGE_CLASSES.index(name) + 1, rng, config
            )
    mask = (out != frames).any(-1)
    if config.rim:
        out = soften_edges(out, frames, mask, config.rim)
    return DamagedClip(frames=out, mask=mask, class_map=np.where(mask, drawn, 0).astype(np.uint8))


def soften_edges(damaged: np.ndarray, clean: np.ndarray, mask: np.ndarray, rim: float) -> np.ndarray:
    """``damaged`` ``(T, H, W, C)`` with the ring of pixels just outside ``mask`` ``(T, H, W)`` moved
    by ``rim`` times the mean change (damaged - clean) of their masked 8-neighbours; a new array, the
    masked pixels and all others unchanged.
    """
    top = float(np.iinfo(damaged.dtype).max)
    out = damaged.copy()
    kernel = np.ones((3, 3), np.float32)
    for i in range(len(damaged)):
        inside = mask[i].astype(np.float32)
        ring = (cv2.dilate(inside, kernel) > 0) & ~mask[i]
        if not ring.any():
            continue
        count = cv2.filter2D(inside, -1, kernel, borderType=cv2.BORDER_CONSTANT)
        change = (damaged[i].astype(np.float32) - clean[i].astype(np.float32)) * inside[..., None]
        for c in range(damaged.shape[-1]):
            total = cv2.filter2D(change[..., c], -1, kernel, borderType=cv2.BORDER_CONSTANT)
            moved = clean[i, ..., c][ring] + rim * total[ring] / count[ring]
            out[i, ..., c][ring] = np.clip(np.rint(moved), 0, top).astype(damaged.dtype)
    return out


def _composite(frame, clean, drawn, covered, alpha, y0, x0, bright, label, rng, config) -> int:
    """Blend one artefact (``alpha`` (h, w) float in [0, 1]) into ``frame`` (H, W, C) in place with
    its top-left corner at (y0, x0); returns how many pixels it newly covered.

    The contrast floor is measured from ``clean`` (the input frame), so that an artefact drawn over
    another never brings a pixel back close to its clean value."""
    h, w = frame.shape[:2]
    ah, aw = alpha.shape
    ys, xs = slice(max(y0, 0), min(y0 + ah, h)), slice(max(x0, 0), min(x0 + aw, w))
    a = alpha[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0]
    hit = a >= ALPHA_MIN  # fainter alpha is not drawn, so every drawn pixel changes visibly
    if not hit.any():
        return 0
    top = float(np.iinfo(frame.dtype).max)
    step = config.min_contrast * top
    patch = frame[ys, xs]  # a view: writing it draws into the frame
    values = patch[hit].astype(np.float32)  # (n, C)
    base = clean[ys, xs][hit].astype(np.float32)
    # On a region already near the artefact's extreme, flip polarity so that it still shows.
    mean = base.mean()
    bright = (bright and mean < top - step) or (not bright and mean < step)
    ink = top * (rng.uniform(0.8, 1.0) if bright else rng.uniform(0.0, 0.15))
    opacity = a[hit][:, None]
    blended = (1 - opacity) * values + opacity * ink
    pushed = np.maximum(blended, base + step) if bright else np.minimum(blended, base - step)
    patch[hit] = np.clip(np.rint(pushed), 0, top).astype(frame.dtype)
    drawn[ys, xs][hit] = label
    new = int((hit & ~covered[ys, xs]).sum())
    covered[ys, xs] |= hit
    return new


@lru_cache(maxsize=1)
def _sizes() -> dict:
    return json.loads(SIZES_FILE.read_text())["classes"]


def _area(name: str, frame_area: int, rng, config) -> float:
    """Area in pixels of one artefact: the real class's log-normal area fraction times the frame."""
    stats = _sizes()[SIZE_CLASS[name]]
    area = np.exp(rng.normal(stats["log_area_fraction_mean"], stats["log_area_fraction_std"])) * frame_area
    if name == "stain":
        area *= 8  # blotches and stains are larger than the dirt they are measured with
    return max(area * config.scale, MIN_AREA[name])


def _elongation(name: str, rng) -> float:
    stats = _sizes()[SIZE_CLASS[name]]
    return float(np.clip(np.exp(rng.normal(stats["log_elongation_mean"], stats["log_elongation_std"])), 1, 4))


def _artefact(name: str, frame_area: int, rng, config) -> np.ndarray:
    """Alpha map ``(h, w)`` float32 in [0, 1] of one artefact of class ``name``."""
    area = _area(name, frame_area, rng, config)
    if config.sprites_dir:
        return _sprite(Path(config.sprites_dir) / SPRITE_FOLDER[name], area, rng)
    if name in ("dust", "dots", "spots"):
        elong = 1.0 if name == "spots" else _elongation(name, rng)
        return _blob(area, elong, rng, roughness=0.05 if name == "spots" else 0.15)
    if name == "sprinkles":
        return _sprinkles(area, rng)
    if name in ("dirt", "smut", "stain"):
        alpha = _blob(area, _elongation(name, rng), rng, roughness=0.35 if name == "dirt" else 0.5)
        return alpha * (rng.uniform(0.5, 0.8) if name == "stain" else 1.0)  # stains are translucent
    width = 2 if name == "hair_long" and rng.random() < 0.3 else 1
    curl = {"lint": 1.0, "hair_short": 0.5, "hair_long": 0.35, "scratch_short": 0.02}[name]
    return _curve(max(area / width, 4), width, curl, rng)


def _blob(area: float, elong: float, rng, roughness: float) -> np.ndarray:
    """A filled blob of about ``area`` px, axis ratio ``elong``, random angle, ragged edge; soft rim."""
    r = max(np.sqrt(area / np.pi), 0.8)
    major, minor = r * np.sqrt(elong), r / np.sqrt(elong)
    size = int(np.ceil(2 * major * (1 + 2 * roughness) + 3))
    yy, xx = np.ogrid[0:size, 0:size]
    yy, xx = yy - (size - 1) / 2, xx - (size - 1) / 2
    theta = rng.uniform(0, np.pi)
    u, v = xx * np.cos(theta) + yy * np.sin(theta), yy * np.cos(theta) - xx * np.sin(theta)
    dist = np.hypot(u / major, v / minor)  # 1 on the ellipse
    angle = np.arctan2(v, u)
    k = np.arange(2, 7)[:, None, None]
    amplitude, phase = rng.normal(0, roughness / k), rng.uniform(0, 2 * np.pi, k.shape)
    edge = 1 + (amplitude * np.cos(k * angle + phase)).sum(axis=0)
    # Smoothed noise frays the edge, as dirt clumps are ragged rather than star-shaped.
    fray = cv2.GaussianBlur(rng.normal(0, 1, (size, size)).astype(np.float32), (0, 0), max(minor / 2, 0.7))
    edge = edge + roughness * fray / (fray.std() + 1e-6) * 0.5
    return np.clip((edge - dist) * minor + 0.5, 0, 1).astype(np.float32)


def _sprinkles(area: float, rng) -> np.ndarray:
    """A loose cluster of one- and two-pixel dots totalling about ``area`` px."""
    size = int(np.ceil(np.sqrt(area) * 4 + 4))
    alpha = np.zeros((size, size), np.float32)
    for _ in range(max(int(area / 1.5), 1)):
        y, x = rng.integers(0, size - 1, 2)
        alpha[y, x] = 1
        if rng.random() < 0.5:
            alpha[y + rng.integers(0, 2), x + rng.integers(0, 2)] = 1
    return alpha


def _curve(length: float, width: int, curl: float, rng) -> np.ndarray:
    """A hair, lint fibre or short scratch: a smooth random walk ``length`` px long, ``width`` px wide."""
    n = max(int(length), 4)
    heading = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0, curl, n)) * 0.3
    points = np.cumsum(np.stack([np.cos(heading), np.sin(heading)], axis=1), axis=0)
    points -= points.min(axis=0) - width - 1
    size = np.ceil(points.max(axis=0) + width + 2).astype(int)
    canvas = np.zeros((size[1], size[0]), np.uint8)
    cv2.polylines(canvas, [np.round(points).astype(np.int32)], False, 255, thickness=1, lineType=cv2.LINE_8)
    if width > 1:  # cv2's own thick lines come out near width + 2 px
        canvas = cv2.dilate(canvas, np.ones((width, width), np.uint8))
    return canvas.astype(np.float32) / 255


def _line_scratches(t: int, h: int, w: int, target: float, rng, config) -> list[tuple]:
    """Persistent vertical scratches as ``[(frame, x, top, bottom, width, bright), ...]``.

    Each spans 80-100 % of the height and lasts a third of the clip or more at a column drifting
    by a fraction of a pixel per frame. Width and the share of frames with a scratch are chosen so
    that the scratch takes at most ``LINE_SHARE`` of the level's coverage ``target`` (pixels).
    """
    width_max = 2 if 2 * 0.9 * h <= LINE_SHARE * target else 1
    duty = min(1.0, LINE_SHARE * target / (width_max * 0.9 * h))  # share of frames with a scratch
    out, start = [], int(rng.integers(0, max(int(t * (1 - duty)), 0) + 1))
    while start < t:
        length = int(rng.integers(max(t // 3, 1), t + 1))
        x, drift = rng.uniform(0.1, 0.9) * w, rng.normal(0, 0.15)
        width = int(rng.integers(1, width_max + 1))
        top, bottom = int(rng.integers(0, h // 10 + 1)), h - int(rng.integers(0, h // 10 + 1))
        bright = rng.random() < config.bright_fraction
        for k in range(min(length, t - start)):
            out.append((start + k, int(round(x + drift * k)), top, bottom, width, bright))
        start += length + int(round(length * (1 / duty - 1) * rng.uniform(0.5, 1.5)))
    return out


def _smooth_profile(n: int, rng) -> np.ndarray:
    """``(n,)`` float32 noise smoothed over about 1/20 of its length, scaled to peak at ±1."""
    noise = cv2.GaussianBlur(rng.normal(0, 1, (n, 1)).astype(np.float32), (0, 0), max(n / 20, 1))[:, 0]
    return noise / max(float(np.abs(noise).max()), 1e-6)


@lru_cache(maxsize=16)
def _sprite_files(folder: Path) -> tuple[Path, ...]:
    files = tuple(sorted(folder.glob("*.png")))
    if not files:
        raise FileNotFoundError(f"{folder}: no damage sprites (*.png)")
    return files


@lru_cache(maxsize=512)
def _sprite_alpha(path: Path) -> np.ndarray:
    """The sprite's alpha channel, float32 in [0, 1], cropped to its drawn part."""
    rgba = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if rgba is None or rgba.ndim != 3 or rgba.shape[2] != 4:
        raise ValueError(f"{path}: not an RGBA sprite")
    alpha = rgba[..., 3].astype(np.float32) / 255
    ys, xs = np.nonzero(alpha >= ALPHA_MIN)
    if len(ys) == 0:
        return np.ones((1, 1), np.float32)
    return alpha[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def _sprite(folder: Path, area: float, rng) -> np.ndarray:
    """A random sprite of the class, rotated/flipped, scaled so that its drawn area is about ``area``."""
    files = _sprite_files(folder)
    alpha = _sprite_alpha(files[int(rng.integers(len(files)))])
    alpha = np.rot90(alpha, int(rng.integers(4)))
    if rng.random() < 0.5:
        alpha = alpha[:, ::-1]
    factor = np.sqrt(area / max(float((alpha >= ALPHA_MIN).sum()), 1.0))
    h, w = (max(int(round(s * factor)), 1) for s in alpha.shape)
    return cv2.resize(np.ascontiguousarray(alpha), (w, h), interpolation=cv2.INTER_AREA)
