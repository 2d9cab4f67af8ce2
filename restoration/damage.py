"""Film damage simulator: composite realistic damage onto clean frames, with the exact truth mask.

Transient damage (dust, dots, sprinkles, spots, dirt, smut, lint, short and long hair, short
scratches, stains) is drawn anew in every frame, never twice in the same place; a vertical line
scratch persists over many frames at a slowly drifting column (the hard case for temporal methods).
Shapes are procedural by default, so the package works alone; given ``sprites_dir`` (the
FilmDamageSimulator sprite library: one folder of 400x400 RGBA PNGs per class) real-looking sprites
are used instead. Sizes follow the real outlines measured on FILM-AA scans
(``restoration/data/damage_sizes.json``), scaled to the frame, with a floor of a few pixels so a
speck stays visible at SD.

The truth mask is computed from the result, ``(damaged != clean).any(-1)``: it covers exactly the
pixels the simulator changed, and every drawn pixel changes by at least ``min_contrast`` of the range
unless the clean value already sits at the artefact's extreme.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

DAMAGE_CLASSES = (
    "dust", "dots", "sprinkles", "spots", "dirt", "smut", "lint",
    "hair_short", "hair_long", "scratch_short", "stain", "line_scratch",
)
# Target mean fraction of each frame's pixels damaged; real scans range from 0.25 % to 2.6 %.
# The achieved mean over a clip of SD size or larger is within 25 % of these (tests check it); on
# frames much smaller than SD a line scratch alone can exceed the budget.
LEVEL_COVERAGE = {"low": 0.0025, "medium": 0.01, "high": 0.026}
# Share of the transient coverage each class gets.
CLASS_SHARE = {
    "dust": 0.16, "dots": 0.06, "sprinkles": 0.06, "spots": 0.08, "dirt": 0.16, "smut": 0.06,
    "lint": 0.07, "hair_short": 0.08, "hair_long": 0.08, "scratch_short": 0.07, "stain": 0.08,
}
# Which measured real class gives each simulated class its size distribution.
SIZE_CLASS = {
    "dust": "Dust", "dots": "Dust", "sprinkles": "Dust", "spots": "Dirt", "dirt": "Dirt", "smut": "Dirt",
    "stain": "Dirt", "lint": "Short hair", "hair_short": "Short hair", "hair_long": "Long hair",
    "scratch_short": "Scratch",
}
# Folder of the sprite library for each class.
SPRITE_FOLDER = {
    "dust": "dots", "dots": "dots", "sprinkles": "sprinkles", "spots": "spots", "dirt": "dirt",
    "smut": "smut", "lint": "lint", "hair_short": "hair-short", "hair_long": "hair",
    "scratch_short": "scratches", "stain": "stain",
}
SIZES_FILE = Path(__file__).parent / "data" / "damage_sizes.json"
# Fallback when the fitted file is absent: FILM-AA median areas (px at ~4968x3400) and spread.
_DEFAULT_SIZES = {
    "scan_area": 4968 * 3400,
    "classes": {
        "Dust": {"log_area_mean": np.log(53), "log_area_std": 0.8},
        "Dirt": {"log_area_mean": np.log(106), "log_area_std": 0.9},
        "Short hair": {"log_area_mean": np.log(262), "log_area_std": 0.7},
        "Long hair": {"log_area_mean": np.log(912), "log_area_std": 0.7},
        "Scratch": {"log_area_mean": np.log(1078), "log_area_std": 0.8},
    },
}
MIN_AREA = {"dust": 2, "dots": 2, "sprinkles": 1, "spots": 6, "dirt": 8, "smut": 8, "stain": 40,
            "lint": 12, "hair_short": 16, "hair_long": 40, "scratch_short": 12}


@dataclass(frozen=True)
class DamageConfig:
    """What damage to draw. ``bright_fraction``: share of bright artefacts (dust on a negative scan
    prints bright, on a positive dark). ``scale``: multiplies every artefact's area."""

    level: str = "medium"
    seed: int = 0
    sprites_dir: str | None = None
    line_scratch: bool = True
    bright_fraction: float = 0.5
    min_contrast: float = 0.12
    scale: float = 1.0

    def __post_init__(self):
        if self.level not in LEVEL_COVERAGE:
            raise ValueError(f"level must be one of {tuple(LEVEL_COVERAGE)}, got {self.level!r}")


@dataclass
class DamagedClip:
    """``frames`` ``(T, H, W, C)`` like the input; ``mask`` ``(T, H, W)`` bool, exactly the changed
    pixels; ``class_map`` ``(T, H, W)`` uint8, 0 = undamaged, k = ``DAMAGE_CLASSES[k - 1]``."""

    frames: np.ndarray
    mask: np.ndarray
    class_map: np.ndarray


def coverage(mask: np.ndarray) -> float:
    """Mean fraction of pixels damaged."""
    return float(np.mean(mask))


@lru_cache(maxsize=1)
def _sizes() -> dict:
    if SIZES_FILE.is_file():
        return json.loads(SIZES_FILE.read_text())
    return _DEFAULT_SIZES


def simulate_damage(frames: np.ndarray, config: DamageConfig = DamageConfig()) -> DamagedClip:
    """Composite damage onto ``frames`` ``(T, H, W, C)`` uint8/uint16; deterministic for ``config.seed``."""
    if frames.ndim != 4 or frames.shape[-1] not in (1, 3) or frames.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"expected (T, H, W, 1|3) uint8/uint16 frames, got {frames.shape} {frames.dtype}")
    rng = np.random.default_rng(config.seed)
    t, h, w, _ = frames.shape
    target = LEVEL_COVERAGE[config.level] * h * w
    drawn = np.zeros((t, h, w), np.uint8)  # class index of the last artefact drawn at each pixel
    out = frames.copy()
    scratches = _line_scratches(t, h, w, rng, config) if config.line_scratch and config.level != "low" else {}
    classes = list(CLASS_SHARE)
    shares = np.array([CLASS_SHARE[c] for c in classes])
    for i in range(t):
        covered = np.zeros((h, w), bool)
        for alpha, y0, x0, bright in scratches.get(i, []):
            _composite(out[i], drawn[i], covered, alpha, y0, x0, bright, DAMAGE_CLASSES.index("line_scratch") + 1, rng, config)
        budget = target * rng.uniform(0.8, 1.2)
        while True:
            name = classes[rng.choice(len(classes), p=shares / shares.sum())]
            alpha = _artefact(name, h * w, rng, config)
            # Stop where the next artefact would overshoot by more than it undershoots.
            if covered.sum() + (alpha >= 0.3).sum() / 2 > budget:
                break
            ah, aw = alpha.shape
            y0, x0 = int(rng.integers(-ah // 2, h - ah // 2)), int(rng.integers(-aw // 2, w - aw // 2))
            bright = rng.random() < config.bright_fraction
            _composite(out[i], drawn[i], covered, alpha, y0, x0, bright, DAMAGE_CLASSES.index(name) + 1, rng, config)
    mask = (out != frames).any(-1)
    return DamagedClip(frames=out, mask=mask, class_map=np.where(mask, drawn, 0).astype(np.uint8))


def _composite(frame, drawn, covered, alpha, y0, x0, bright, label, rng, config) -> None:
    """Blend one artefact (``alpha`` (h, w) in [0, 1]) into ``frame`` (H, W, C) in place at (y0, x0)."""
    h, w = frame.shape[:2]
    ah, aw = alpha.shape
    ys, xs = slice(max(y0, 0), min(y0 + ah, h)), slice(max(x0, 0), min(x0 + aw, w))
    a = alpha[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0]
    if a.size == 0:
        return
    # Sub-threshold alpha is not drawn, so every drawn pixel changes visibly.
    a = np.where(a < 0.3, 0.0, a)[..., None]
    top = float(np.iinfo(frame.dtype).max)
    region = frame[ys, xs].astype(np.float32)
    level = rng.uniform(0.8, 1.0) if bright else rng.uniform(0.0, 0.15)
    blended = (1 - a) * region + a * level * top
    step = config.min_contrast * top
    pushed = np.maximum(blended, region + step) if bright else np.minimum(blended, region - step)
    new = np.where(a > 0, pushed, region)
    frame[ys, xs] = np.clip(np.rint(new), 0, top).astype(frame.dtype)
    hit = a[..., 0] > 0
    drawn[ys, xs][hit] = label
    covered[ys, xs] |= hit


def _area(name: str, frame_area: int, rng, config) -> float:
    stats = _sizes()["classes"][SIZE_CLASS[name]]
    area = np.exp(rng.normal(stats["log_area_mean"], stats["log_area_std"])) * frame_area / _sizes()["scan_area"]
    if name == "stain":
        area *= 8  # blotches and stains are larger than the dirt they are measured with
    return max(area * config.scale, MIN_AREA[name])


def _artefact(name: str, frame_area: int, rng, config) -> np.ndarray:
    """Alpha map ``(h, w)`` float32 in [0, 1] of one artefact of class ``name``."""
    area = _area(name, frame_area, rng, config)
    if config.sprites_dir:
        return _sprite(Path(config.sprites_dir) / SPRITE_FOLDER[name], area, rng)
    if name in ("dust", "dots", "spots"):
        return _blob(area, rng, roughness=0.2 if name != "spots" else 0.05)
    if name == "sprinkles":
        return _sprinkles(area, rng)
    if name in ("dirt", "smut", "stain"):
        alpha = _blob(area, rng, roughness=0.6)
        return alpha * (rng.uniform(0.5, 0.8) if name == "stain" else 1.0)
    width = 1 if name in ("lint", "scratch_short") or rng.random() < 0.6 else 2
    curl = {"lint": 0.5, "hair_short": 0.25, "hair_long": 0.12, "scratch_short": 0.01}[name]
    return _curve(max(area / width, 4), width, curl, rng)


def _blob(area: float, rng, roughness: float) -> np.ndarray:
    """An irregular filled blob of about ``area`` pixels."""
    r = max(np.sqrt(area / np.pi), 0.8)
    size = int(np.ceil(2 * r * (1 + roughness) + 3))
    yy, xx = np.mgrid[0:size, 0:size] - (size - 1) / 2
    angle = np.arctan2(yy, xx)
    harmonics = sum(rng.normal(0, roughness / k) * np.cos(k * angle + rng.uniform(0, 2 * np.pi)) for k in range(2, 6))
    radius = r * (1 + harmonics) * rng.uniform(0.8, 1.2)
    dist = np.hypot(yy * rng.uniform(0.7, 1.3), xx)
    return np.clip(radius - dist + 0.5, 0, 1).astype(np.float32)


def _sprinkles(area: float, rng) -> np.ndarray:
    """A cluster of tiny dots."""
    size = int(np.ceil(np.sqrt(area) * 4 + 4))
    alpha = np.zeros((size, size), np.float32)
    for _ in range(max(int(area / 2), 2)):
        y, x = rng.integers(0, size, 2)
        alpha[y, x] = 1
        if rng.random() < 0.5:
            alpha[y, min(x + 1, size - 1)] = 1
    return alpha


def _curve(length: float, width: int, curl: float, rng) -> np.ndarray:
    """A hair, lint fibre or short scratch: a smooth random walk ``length`` px long, ``width`` px wide."""
    n = max(int(length), 4)
    heading = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0, curl, n)) * 0.3
    points = np.cumsum(np.stack([np.cos(heading), np.sin(heading)], axis=1), axis=0)
    points -= points.min(axis=0) - width - 1
    size = np.ceil(points.max(axis=0) + width + 2).astype(int)
    canvas = np.zeros((size[1], size[0]), np.uint8)
    cv2.polylines(canvas, [np.round(points).astype(np.int32)], False, 255, thickness=width, lineType=cv2.LINE_8)
    return canvas.astype(np.float32) / 255


def _line_scratches(t: int, h: int, w: int, rng, config) -> dict[int, list]:
    """Persistent vertical scratches: ``{frame: [(alpha, y0, x0, bright), ...]}``."""
    out: dict[int, list] = {}
    start = 0
    while start < t:
        length = int(rng.integers(max(t // 3, 1), t + 1))
        x = rng.uniform(0.1, 0.9) * w
        drift = rng.normal(0, 0.3)
        width = int(rng.integers(1, 3))
        top = int(rng.integers(0, h // 5 + 1))
        bottom = h - int(rng.integers(0, h // 5 + 1))
        bright = rng.random() < 0.7  # line scratches on a print are mostly bright
        for i in range(start, min(start + length, t)):
            alpha = np.ones((bottom - top, width), np.float32)
            out.setdefault(i, []).append((alpha, top, int(round(x + drift * (i - start))), bright))
        start += length + int(rng.integers(0, max(t // 4, 1) + 1))
    return out


@lru_cache(maxsize=16)
def _sprite_files(folder: Path) -> tuple[Path, ...]:
    files = tuple(sorted(folder.glob("*.png")))
    if not files:
        raise FileNotFoundError(f"{folder}: no damage sprites (*.png)")
    return files


@lru_cache(maxsize=512)
def _sprite_alpha(path: Path) -> np.ndarray:
    rgba = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if rgba is None or rgba.ndim != 3 or rgba.shape[2] != 4:
        raise ValueError(f"{path}: not an RGBA sprite")
    alpha = rgba[..., 3].astype(np.float32) / 255
    ys, xs = np.nonzero(alpha > 0.3)
    if len(ys) == 0:
        return np.ones((1, 1), np.float32)
    return alpha[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def _sprite(folder: Path, area: float, rng) -> np.ndarray:
    """A random sprite of the class, rotated/flipped, scaled so its drawn area is about ``area``."""
    files = _sprite_files(folder)
    alpha = _sprite_alpha(files[int(rng.integers(len(files)))])
    alpha = np.rot90(alpha, int(rng.integers(4)))
    if rng.random() < 0.5:
        alpha = alpha[:, ::-1]
    drawn = max(float((alpha > 0.3).sum()), 1.0)
    factor = np.sqrt(area / drawn)
    h, w = (max(int(round(s * factor)), 1) for s in alpha.shape)
    return cv2.resize(np.ascontiguousarray(alpha), (w, h), interpolation=cv2.INTER_AREA)
